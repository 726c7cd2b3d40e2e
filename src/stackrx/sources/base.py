"""The host view: one read-only interface over every place a node's state can come from.

Paths are *logical*: relative to the node's root, without a leading slash (`etc/nova/nova.conf`).
Commands are *logical keys* from `stackrx.sources.commands.COMMANDS` (`sysctl -a`). Missing evidence
is a value (`None`), never an exception: checks turn it into a `skipped` result naming what was missing.
"""

from __future__ import annotations

import gzip
import io
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from stackrx.errors import MissingEvidence


@dataclass(frozen=True)
class Text:
    """Content of one piece of evidence and where it came from (shown to the operator as-is)."""

    source: str
    content: str

    def lines(self) -> list[str]:
        return self.content.splitlines()


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float


# A single config or command output larger than this is not read whole (logs are streamed instead).
MAX_TEXT_BYTES = 64 * 1024 * 1024


class HostView(ABC):
    kind: str = "?"

    def __init__(self, target: str) -> None:
        self.target = target

    # -- files -----------------------------------------------------------------
    @abstractmethod
    def resolve(self, path: str) -> Path | None:
        """Real filesystem path of a logical path, or None when it is not there."""

    @abstractmethod
    def glob(self, pattern: str) -> list[str]:
        """Logical paths matching a glob pattern (sorted)."""

    def exists(self, path: str) -> bool:
        return self.resolve(path) is not None

    def is_dir(self, path: str) -> bool:
        real = self.resolve(path)
        return real is not None and real.is_dir()

    def listdir(self, path: str) -> list[str]:
        real = self.resolve(path)
        if real is None or not real.is_dir():
            return []
        try:
            return sorted(p.name for p in real.iterdir())
        except OSError:
            return []

    def stat(self, path: str) -> FileInfo | None:
        real = self.resolve(path)
        if real is None:
            return None
        try:
            st = real.stat()
        except OSError:
            return None
        return FileInfo(path, st.st_size, st.st_mtime)

    def read_text(self, path: str) -> Text | None:
        real = self.resolve(path)
        if real is None or not real.is_file():
            return None
        try:
            with real.open("rb") as fh:
                data = fh.read(MAX_TEXT_BYTES)
        except OSError:
            return None
        return Text(self.source_name(path), data.decode("utf-8", errors="replace"))

    def read_files(self, patterns: Iterable[str]) -> Iterator[Text]:
        """Every readable file matching the globs, pattern by pattern; directories are passed over."""
        for pattern in patterns:
            for path in self.glob(pattern):
                if self.is_dir(path):
                    continue
                text = self.read_text(path)
                if text is not None:
                    yield text

    def open_lines(self, path: str) -> Iterator[str]:
        """Stream a (possibly gzip-compressed) text file line by line; memory stays flat."""
        real = self.resolve(path)
        if real is None or not real.is_file():
            return iter(())
        return _iter_lines(real)

    def open_binary(self, path: str) -> IO[bytes] | None:
        real = self.resolve(path)
        if real is None or not real.is_file():
            return None
        try:
            raw: IO[bytes] = real.open("rb")
        except OSError:
            return None
        if path.endswith(".gz"):
            return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
        return raw

    def source_name(self, path: str) -> str:
        return path

    # -- commands --------------------------------------------------------------
    @abstractmethod
    def command(self, key: str) -> Text | None:
        """Output of a logical command, or None when it was not collected / could not run."""

    def required_command(self, key: str, where: str) -> Text:
        """The command's output; MissingEvidence naming `where` (its sos file) when absent or empty."""
        text = self.command(key)
        if text is None or not text.content.strip():
            raise MissingEvidence(f"{where} (cmd: {key})")
        return text

    def netns_command(self, namespace: str, key: str) -> Text | None:
        """Output of a logical command inside a network namespace (`ip netns exec NS ...`)."""
        return None

    def namespaces(self) -> list[str]:
        return []

    # -- identity --------------------------------------------------------------
    @abstractmethod
    def hostname(self) -> str: ...

    def collected_at(self) -> datetime | None:
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most views hold nothing to release
        """Release temporary resources (an extracted tarball)."""


class NoFilesView(HostView):
    """A source that is not a node (the OpenStack API, a database, a fleet): no files and no commands."""

    def resolve(self, path: str) -> Path | None:
        return None

    def glob(self, pattern: str) -> list[str]:
        return []

    def command(self, key: str) -> Text | None:
        return None


def _iter_lines(real: Path) -> Iterator[str]:
    try:
        raw = real.open("rb")
    except OSError:
        return
    with raw:
        stream: IO[bytes] = raw
        if real.name.endswith(".gz"):
            stream = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        try:
            yield from text
        except (OSError, EOFError, gzip.BadGzipFile):
            # A truncated rotation (sos tails big logs) ends the stream; what was read stays valid.
            return
