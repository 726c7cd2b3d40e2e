"""Fixtures shared by every test folder; the helpers themselves live in testkit.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import COMPUTE4


@pytest.fixture
def compute4() -> Path:
    if not COMPUTE4.is_dir():
        pytest.skip(f"real data not present: {COMPUTE4}")
    return COMPUTE4
