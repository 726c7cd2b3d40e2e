"""Quick fuzz pass: every registered parser survives junk with facts or a ParseError (bench/fuzz.py runs ≥10k)."""

from __future__ import annotations

import contextlib

import pytest

from fuzzing import cases, corpus, fuzz_targets
from stackrx.errors import ParseError
from stackrx.sources.base import Text

REAL = corpus()
TARGETS = fuzz_targets()


def test_parsers_are_registered() -> None:
    assert len(TARGETS) >= 5, "facts modules must list their parsers in FUZZ_TARGETS"


@pytest.mark.parametrize("parser", TARGETS, ids=lambda p: f"{p.__module__}.{p.__name__}")
def test_parser_never_raises_past_parse_error(parser) -> None:  # type: ignore[no-untyped-def]
    for n, content in enumerate(cases(seed=1234, count=150, real=REAL)):
        with contextlib.suppress(ParseError):
            parser(Text(f"fuzz/{n}", content))
