"""The change log: one JSON line per modification `fix --apply` made, and the undo that reads it back.

`$XDG_DATA_HOME/stackrx/changes.jsonl` (default `~/.local/share/stackrx/`). Each line keeps the file's
previous content (or that it did not exist), so `stackrx fix --undo APPLY_ID` can put it back; an undo
refuses to touch a file that changed again since, and is logged the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackrx.errors import UsageError
from stackrx.history import data_dir
from stackrx.remedy.actions import Change


def log_path() -> Path:
    return data_dir() / "changes.jsonl"


def backup_root() -> Path:
    return data_dir() / "backups"


def new_apply_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{os.getpid()}-{os.urandom(2).hex()}"


def record(change: Change, *, apply_id: str, check_id: str, host: str, step: int, kind: str, root: Path,
           undo_of: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "apply_id": apply_id, "time": datetime.now(UTC).isoformat(timespec="seconds"), "check": check_id,
        "host": host, "step": step, "kind": kind, "root": str(root), "path": change.path,
        "real_path": change.real_path, "before": change.before, "after": change.after,
        "value_like": change.value_like,
        "undo": f"stackrx fix --undo {apply_id}",
    }
    if undo_of:
        entry["undo_of"] = undo_of
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def entries() -> list[dict[str, Any]]:
    path = log_path()
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash; the others are still valid
    return out


@dataclass(frozen=True)
class UndoOutcome:
    restored: list[str]
    unchanged: list[str]
    conflicts: list[str]


def _current(entry: dict[str, Any]) -> str | None:
    try:
        text = Path(entry["real_path"]).read_text()
    except FileNotFoundError:
        return None
    return text.strip() if entry.get("value_like") else text


def undo(apply_id: str, *, undo_id: str) -> UndoOutcome:
    """Revert every change of one apply run, newest first."""
    mine = [e for e in entries() if e.get("apply_id") == apply_id and not e.get("undo_of")]
    if not mine:
        raise UsageError(f"no change recorded under {apply_id!r} in {log_path()} (see `stackrx fix --log`)")
    restored: list[str] = []
    unchanged: list[str] = []
    conflicts: list[str] = []
    for e in reversed(mine):
        current = _current(e)
        before = e["before"]
        if current == before:
            unchanged.append(e["path"])
            continue
        if current != e["after"]:
            conflicts.append(f"{e['path']} changed since stackrx wrote it; left as it is")
            continue
        real = Path(e["real_path"])
        if before is None:
            real.unlink()
        else:
            with open(real, "w") as fh:
                fh.write(before + "\n" if e.get("value_like") else before)
        change = Change(e["path"], e["real_path"], current, before, bool(e.get("value_like")))
        record(change, apply_id=undo_id, check_id=e["check"], host=e["host"], step=e["step"], kind="UNDO",
               root=Path(e["root"]), undo_of=apply_id)
        restored.append(e["path"])
    return UndoOutcome(restored, unchanged, conflicts)
