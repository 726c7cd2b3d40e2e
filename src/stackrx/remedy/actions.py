"""What a plan step does to a host: write a file, set a sysctl, set a module parameter, back values up.

Every path is a path on the target host ("/etc/sysctl.d/x.conf", "/proc/sys/net/..."), resolved under a
root directory: "/" on the live host, a temp tree in tests (`--root DIR`). Setting a sysctl writes
`<root>/proc/sys/<key with dots as slashes>`, which is exactly what `sysctl -w` does on a live host and,
under a test root, a plain file standing in for the kernel. Each action is idempotent: it reports what
it would change, and changes nothing when the host is already in the wanted state.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ApplyContext:
    root: Path
    apply_id: str
    backup_dir: Path
    # Called right after each write, so a later failure in the same step cannot lose the undo record.
    record: Callable[[Change], None]


@dataclass(frozen=True)
class Change:
    """One modification, with what was there before so it can be undone."""

    path: str  # the target-host path, e.g. /proc/sys/net/netfilter/nf_conntrack_max
    real_path: str  # where it was written (under the root)
    before: str | None  # None: the file did not exist
    after: str | None  # None: the file was removed (an undo of a creation)
    value_like: bool  # a /proc or /sys value: compare stripped, never create or delete


def resolve(root: Path, path: str) -> Path:
    """`path` under `root`, refusing `..` so a plan can never climb out of a test root."""
    relative = Path(path.lstrip("/"))
    if ".." in relative.parts:
        raise ValueError(f"{path}: '..' is not allowed in a plan path")
    return root / relative


def read_value(root: Path, path: str) -> str | None:
    try:
        return resolve(root, path).read_text()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def read_sysctl(root: Path, key: str) -> str | None:
    value = read_value(root, sysctl_path(key))
    return value.strip() if value is not None else None


def _atomic_write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Action(ABC):
    @abstractmethod
    def commands(self) -> list[str]:
        """The exact shell commands an operator would type for this on the live host."""

    @abstractmethod
    def preview(self, root: Path) -> str:
        """What applying would change now, or that nothing needs to."""

    @abstractmethod
    def pending(self, root: Path) -> bool: ...

    @abstractmethod
    def apply(self, ctx: ApplyContext) -> list[Change]: ...


@dataclass(frozen=True)
class WriteFile(Action):
    """Create or replace a whole configuration file (written atomically)."""

    path: str
    content: str
    mode: int = 0o644

    def commands(self) -> list[str]:
        lines = self.content.rstrip("\n").split("\n")
        return [f"printf '%s\\n' {' '.join(shlex.quote(line) for line in lines)} > {shlex.quote(self.path)}"]

    def pending(self, root: Path) -> bool:
        return read_value(root, self.path) != self.content

    def preview(self, root: Path) -> str:
        current = read_value(root, self.path)
        if current == self.content:
            return f"{self.path} already has this content"
        return f"{'replace' if current is not None else 'create'} {self.path}"

    def apply(self, ctx: ApplyContext) -> list[Change]:
        real = resolve(ctx.root, self.path)
        before = read_value(ctx.root, self.path)
        if before == self.content:
            return []
        _atomic_write(real, self.content, self.mode)
        change = Change(self.path, str(real), before, self.content, value_like=False)
        ctx.record(change)
        return [change]


@dataclass(frozen=True)
class SetValue(Action):
    """Write one value into an existing kernel file (/proc/sys, /sys/module/.../parameters)."""

    path: str
    value: str
    command: str

    def commands(self) -> list[str]:
        return [self.command]

    def current(self, root: Path) -> str | None:
        value = read_value(root, self.path)
        return value.strip() if value is not None else None

    def pending(self, root: Path) -> bool:
        return self.current(root) != self.value

    def preview(self, root: Path) -> str:
        current = self.current(root)
        if current is None:
            return f"{self.path} does not exist (module not loaded?)"
        if current == self.value:
            return f"{self.path} is already {self.value}"
        return f"{self.path}: {current} → {self.value}"

    def apply(self, ctx: ApplyContext) -> list[Change]:
        real = resolve(ctx.root, self.path)
        before = self.current(ctx.root)
        if before is None:
            raise FileNotFoundError(f"{self.path} does not exist on the host (is the module loaded?)")
        if before == self.value:
            return []
        # Kernel files are written in place, never replaced: a rename would not reach the kernel.
        with open(real, "w") as fh:
            fh.write(self.value + "\n")
        change = Change(self.path, str(real), before, self.value, value_like=True)
        ctx.record(change)
        after = self.current(ctx.root)
        if after != self.value:
            raise OSError(f"{self.path} reads {after!r} after writing {self.value!r}: the kernel refused it")
        return [change]


def set_sysctl(key: str, value: int | str) -> SetValue:
    return SetValue(sysctl_path(key), str(value), f"sysctl -w {key}={value}")


def set_sysfs(path: str, value: int | str) -> SetValue:
    return SetValue(path, str(value), f"echo {value} > {path}")


@dataclass(frozen=True)
class Backup(Action):
    """Copy the current content of some host files into the backup directory of this apply run."""

    paths: tuple[str, ...]

    def commands(self) -> list[str]:
        return [f"mkdir -p {self._dest_hint()}",
                *(f"cp -a {shlex.quote(p)} {self._dest_hint()}/ 2>/dev/null || true" for p in self.paths)]

    @staticmethod
    def _dest_hint() -> str:
        return "~/.local/share/stackrx/backups/<apply-id>"

    def pending(self, root: Path) -> bool:
        return True

    def preview(self, root: Path) -> str:
        return "save " + ", ".join(self.paths)

    def apply(self, ctx: ApplyContext) -> list[Change]:
        for path in self.paths:
            current = read_value(ctx.root, path)
            if current is None:
                continue
            dest = ctx.backup_dir / path.lstrip("/")
            _atomic_write(dest, current, 0o600)
        # A backup adds files of its own only; nothing on the host changes, so nothing to undo.
        return []


@dataclass(frozen=True)
class Together(Action):
    """Several actions that make one step (e.g. both names of one sysctl), applied in order."""

    parts: tuple[Action, ...]

    def commands(self) -> list[str]:
        return [cmd for part in self.parts for cmd in part.commands()]

    def pending(self, root: Path) -> bool:
        return any(part.pending(root) for part in self.parts)

    def preview(self, root: Path) -> str:
        return "; ".join(part.preview(root) for part in self.parts)

    def apply(self, ctx: ApplyContext) -> list[Change]:
        return [change for part in self.parts for change in part.apply(ctx)]
