"""A sosreport tarball, unpacked into a private temp dir and then read exactly like the directory.

The archive comes from someone else's machine, so nothing in it is trusted: every member name, link
target, type and size is checked before anything is written, and only inside a fresh 0700 temp dir.
A member that is unsafe refuses the whole archive (one `UsageError` line naming it) rather than being
skipped, so an operator never reads half a report without knowing. Bombs are bounded three ways: the
sizes the headers declare, the bytes actually written, and the decompressed bytes the tar reader is
allowed to consume (so a header that lies, or a huge pax header, cannot make it read without limit).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import weakref
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import IO

from stackrx.errors import UsageError
from stackrx.sources.kolla import KollaView
from stackrx.sources.sosreport import SosReportView, looks_like_sosreport

DEFAULT_MAX_BYTES = 4 * 1024**3
DEFAULT_MAX_MEMBERS = 250_000
# What the tar reader may consume beyond the current member's data: its next headers (pax records,
# GNU long names) plus read-ahead. Real headers are a few KiB; more means a crafted archive.
HEADER_ALLOWANCE = 1024 * 1024
_CHUNK = 1024 * 1024
_SOS_ROOT_DEPTH = 3
_BLOCK = tarfile.BLOCKSIZE


class _Unpacked:
    """Owns the private temp dir a tarball was unpacked into; `target` and evidence name the tarball."""

    tarball: Path
    workdir: Path

    def _own(self, tarball: Path, workdir: Path) -> None:
        self.tarball = tarball
        self.workdir = workdir
        # Runs on close(), on garbage collection, or at interpreter exit, whichever comes first.
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(workdir), ignore_errors=True)

    def close(self) -> None:
        self._cleanup()


class TarballView(_Unpacked, SosReportView):
    """The sos root inside an extracted tarball."""

    def __init__(self, root: Path, tarball: Path, workdir: Path) -> None:
        super().__init__(root, target=str(tarball))
        self._own(tarball, workdir)


class KollaTarballView(_Unpacked, KollaView):
    """A Kolla side bundle (`stackrx collect --kolla`): sos-named outputs plus etc/kolla, read through the Kolla
    mapping so etc/kolla/nova-compute/nova.conf is seen as etc/nova/nova.conf."""

    def __init__(self, root: Path, tarball: Path, workdir: Path) -> None:
        super().__init__(root, target=str(tarball))
        self._own(tarball, workdir)


def open_tarball(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_members: int = DEFAULT_MAX_MEMBERS) -> TarballView | KollaTarballView:
    """Extract a sosreport tarball (.tar, .tar.gz/.tgz, .tar.xz, .tar.bz2) safely and open its sos root."""
    workdir = Path(tempfile.mkdtemp(prefix="stackrx-sos-"))
    try:
        _Extractor(path, workdir, max_bytes, max_members).run()
        root = find_sos_root(workdir, path)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if (root / "etc" / "kolla").is_dir():
        return KollaTarballView(root, path, workdir)
    return TarballView(root, path, workdir)


def find_sos_root(workdir: Path, tarball: Path) -> Path:
    """The shallowest directory holding sos_commands/ (normally the archive's single top directory)."""
    level = [workdir]
    for _depth in range(_SOS_ROOT_DEPTH + 1):
        found = [d for d in level if looks_like_sosreport(d)]
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(sorted(d.relative_to(workdir).as_posix() for d in found))
            raise UsageError(f"{tarball}: several sosreports in one archive ({names}); unpack it, pick one")
        level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir() and not c.is_symlink()]
    raise UsageError(f"{tarball}: no sos_commands/ directory inside: not a sosreport tarball")


class _Refused(Exception):
    pass


class _BoundedStream(io.RawIOBase):
    """Decompressed archive bytes; delivering more than `limit` in total raises instead."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed = 0
        self.limit = HEADER_ALLOWANCE

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        room = self.limit - self.consumed
        if room <= 0:
            raise _Refused("is followed by oversized headers or holds more data than it declares")
        data = self._raw.read(min(len(buffer), room))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


def _decompressed(raw: IO[bytes], path: Path) -> IO[bytes]:
    magic = raw.read(6)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)
    if magic[:3] == b"BZh":
        return bz2.BZ2File(raw)
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        raise UsageError(f"{path}: zstd-compressed; unpack it (`zstd -d {path.name}`) and scan the .tar")
    return raw


def _parts(name: str, subject: str = "") -> tuple[str, ...]:
    """Path components of an archive name; refuses absolute names and any `..`."""
    if name.startswith("/"):
        raise _Refused(f"{subject}is an absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise _Refused(f"{subject}contains a '..' component")
    return parts


class _Extractor:
    def __init__(self, tarball: Path, workdir: Path, max_bytes: int, max_members: int) -> None:
        self.tarball = tarball
        self.root = workdir
        self.max_bytes = max_bytes
        self.max_members = max_members
        self.declared = 0
        self.written = 0
        self.members = 0
        self.safe_dirs: set[tuple[str, ...]] = {()}
        self.regular: set[tuple[str, ...]] = set()
        self.symlinks: list[tuple[str, Path]] = []

    def run(self) -> None:
        name = "?"
        try:
            with ExitStack() as stack:
                raw = stack.enter_context(self.tarball.open("rb"))
                stream = _BoundedStream(stack.enter_context(_decompressed(raw, self.tarball)))
                tf = stack.enter_context(tarfile.open(fileobj=stream, mode="r|"))
                for member in _members(tf, stream):
                    name = member.name
                    self._extract(tf, member, stream)
            for name, link in self.symlinks:
                self._check_link_lands_inside(name, link)
        except _Refused as exc:
            raise UsageError(f"{self.tarball}: unsafe archive refused: member {name!r} {exc}") from None
        except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
            # OSError also covers gzip.BadGzipFile and bz2's "Invalid data stream".
            raise UsageError(f"{self.tarball}: corrupt or truncated archive (at {name!r}): {exc}") from None

    def _extract(self, tf: tarfile.TarFile, member: tarfile.TarInfo, stream: _BoundedStream) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise _Refused(f"exceeds the cap of {self.max_members} members")
        parts = _parts(member.name)
        if member.isdev():
            raise _Refused("is a device node or FIFO")
        if not parts:
            if member.isdir():
                return
            raise _Refused("has an empty name")
        if member.isdir():
            self._ensure_dir(parts)
        elif member.isreg():
            self._write_file(tf, member, parts, stream)
        elif member.issym():
            self._make_symlink(member, parts)
        elif member.islnk():
            self._make_hardlink(member, parts)
        else:
            raise _Refused(f"has an unsupported type {member.type!r}")

    # -- writing ---------------------------------------------------------------
    def _ensure_dir(self, parts: tuple[str, ...]) -> Path:
        """Create (or accept) a directory, never through a symlink and never over a non-directory."""
        for i in range(1, len(parts) + 1):
            sub = parts[:i]
            if sub in self.safe_dirs:
                continue
            real = self.root.joinpath(*sub)
            try:
                st = os.lstat(real)
            except FileNotFoundError:
                os.mkdir(real, 0o700)
            else:
                if stat.S_ISLNK(st.st_mode):
                    raise _Refused(f"would be written through the symlink {'/'.join(sub)!r}")
                if not stat.S_ISDIR(st.st_mode):
                    raise _Refused(f"needs {'/'.join(sub)!r} to be a directory, but it is a file")
            self.safe_dirs.add(sub)
        return self.root.joinpath(*parts)

    def _free_slot(self, parts: tuple[str, ...]) -> Path:
        """Parent made safe; an earlier member at the same path (tar's "last one wins") removed."""
        self._ensure_dir(parts[:-1])
        dest = self.root.joinpath(*parts)
        try:
            st = os.lstat(dest)
        except FileNotFoundError:
            return dest
        if stat.S_ISDIR(st.st_mode):
            raise _Refused("would replace a directory extracted earlier")
        os.unlink(dest)
        self.regular.discard(parts)
        return dest

    def _write_file(self, tf: tarfile.TarFile, member: tarfile.TarInfo, parts: tuple[str, ...],
                    stream: _BoundedStream) -> None:
        self.declared += member.size
        if self.declared > self.max_bytes:
            cap = _human(self.max_bytes)
            raise _Refused(f"declares {member.size} bytes, taking the archive past the {cap} cap")
        dest = self._free_slot(parts)
        # The tar reader may now consume this member's data, padded to whole blocks, and the next headers.
        stream.limit = member.offset_data + -(-member.size // _BLOCK) * _BLOCK + HEADER_ALLOWANCE
        src = tf.extractfile(member)
        if src is None:
            raise _Refused("has no readable data")
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out, src:
            got = 0
            while chunk := src.read(_CHUNK):
                got += len(chunk)
                self.written += len(chunk)
                if got > member.size:
                    raise _Refused(f"holds more data than the {member.size} bytes its header declares")
                if self.written > self.max_bytes:
                    raise _Refused(f"takes the archive past the {_human(self.max_bytes)} cap")
                out.write(chunk)
        self.regular.add(parts)
        _set_mtime(dest, member.mtime)

    def _make_symlink(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        target = member.linkname
        if target.startswith("/"):
            raise _Refused(f"is a symlink to the absolute path {target!r}")
        depth = len(parts) - 1
        for comp in target.split("/"):
            if comp == "..":
                depth -= 1
                if depth < 0:
                    raise _Refused(f"is a symlink to {target!r}, which leaves the archive")
            elif comp not in ("", "."):
                depth += 1
        dest = self._free_slot(parts)
        os.symlink(target, dest)
        _set_mtime(dest, member.mtime)
        self.symlinks.append((member.name, dest))

    def _make_hardlink(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        target = _parts(member.linkname, f"is a hard link to {member.linkname!r}, which ")
        if target not in self.regular:
            raise _Refused(f"is a hard link to {member.linkname!r}, which is not a file extracted before it")
        dest = self._free_slot(parts)
        os.link(self.root.joinpath(*target), dest, follow_symlinks=False)
        self.regular.add(parts)

    def _check_link_lands_inside(self, name: str, link: Path) -> None:
        """Links may chain (a -> b/.., b -> ../..): only the fully resolved path tells where one lands."""
        landed = Path(os.path.realpath(link))
        if landed != self.root and self.root not in landed.parents:
            raise _Refused(f"is a symlink that resolves outside the archive (via {os.readlink(link)!r})")


def _members(tf: tarfile.TarFile, stream: _BoundedStream) -> Iterator[tarfile.TarInfo]:
    while True:
        # Headers of the next member must fit in the allowance after everything consumed so far.
        stream.limit = max(stream.limit, tf.offset + HEADER_ALLOWANCE)
        member = tf.next()
        if member is None:
            return
        stream.limit = member.offset_data + HEADER_ALLOWANCE
        yield member


def _set_mtime(path: Path, mtime: float) -> None:
    # Kept because a report without a `date` file dates its collection by the newest mtime.
    with suppress(OSError, OverflowError, ValueError):
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
