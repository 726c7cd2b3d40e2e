"""Run history: every scan stored (SQLite by default, PostgreSQL by URL), metric trends and forecasts.

Only standard-library imports here, so the CLI can compute default paths without loading SQLAlchemy.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """`$XDG_DATA_HOME/stackrx`, falling back to `~/.local/share/stackrx` (XDG base directory spec)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "stackrx"


def default_store_url() -> str:
    return f"sqlite:///{data_dir() / 'history.sqlite'}"
