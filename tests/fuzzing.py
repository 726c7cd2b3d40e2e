"""Seeded input generator shared by the quick fuzz test and `bench/fuzz.py`.

Cases: random bytes, invalid UTF-8, huge lines, and real files from ../shared/realdata truncated at a random
point, line-shuffled, or with random lines duplicated or corrupted. Every parser must either return facts or
raise ParseError on each of them.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stackrx.sources.base import Text

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def fuzz_targets() -> list[Callable[[Text], Any]]:
    import stackrx.facts as pkg

    targets: list[Callable[[Text], Any]] = []
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pkg.__name__}.{mod.name}")
        targets.extend(getattr(module, "FUZZ_TARGETS", []))
    return targets


def corpus(limit_bytes: int = 400_000) -> list[str]:
    files: list[str] = []
    if REALDATA.is_dir():
        for path in sorted(REALDATA.rglob("*")):
            if path.is_file() and not path.name.endswith((".gz", ".csv")) and path.stat().st_size <= limit_bytes:
                files.append(path.read_bytes().decode("utf-8", errors="replace"))
    return files or ["key = value\n[section]\nnet.ipv4.ip_forward = 1\n"]


def cases(seed: int, count: int, real: list[str]) -> Iterator[str]:
    rng = random.Random(seed)
    for i in range(count):
        kind = i % 7
        if kind == 0:
            yield rng.randbytes(rng.randint(0, 4096)).decode("utf-8", errors="replace")
        elif kind == 1:
            yield (b"\xff\xfe\xc3\x28" * rng.randint(1, 200)).decode("utf-8", errors="replace")
        elif kind == 2:
            yield "x" * rng.randint(10_000, 300_000) + "\n" + rng.choice(real)[:2000]
        else:
            text = rng.choice(real)
            lines = text.splitlines(keepends=True)
            if kind == 3:
                yield text[: rng.randint(0, len(text))]
            elif kind == 4:
                rng.shuffle(lines)
                yield "".join(lines)
            elif kind == 5 and lines:
                for _ in range(rng.randint(1, 10)):
                    j = rng.randrange(len(lines))
                    lines[j] = "".join(rng.choice(" =:{}[]\"'\t,@-x9") for _ in range(rng.randint(0, 80))) + "\n"
                yield "".join(lines)
            else:
                yield "".join(rng.choice(lines) for _ in range(rng.randint(0, 200))) if lines else ""
