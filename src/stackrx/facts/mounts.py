"""Mounts, disk usage and file listings: which filesystem holds a path, how full it is, what fills it.

Inputs, in the forms sos and a live host give them:
- `mount -l` (`/dev/vda1 on / type ext4 (rw,relatime) [cloudimg-rootfs]`) and `/proc/mounts`
  (`/dev/vda1 / ext4 rw,relatime 0 0`, with octal escapes such as `\\040` for a space);
- `df -al -x autofs` as the sos filesys plugin stores it, plus the `-T` (type column), `-P` (POSIX, never
  wraps, `1024-blocks`/`Capacity`) and `-h` variants, and `df -ali` (inodes). Without `-P`, df puts the
  numbers of a long device name on the next line; those two lines are joined back;
- the recursive `/var/log` listing of the sos logs plugin (`ls -alRh /var/log/`), or the live filesystem.

`mount_for(path)` is a longest-prefix match on whole path components; when a mount point appears twice the
later line wins, because that is the mount stacked on top and the one a process sees.

Public API:

    Mount(device, target, fstype, options: tuple[str, ...], source, line, excerpt, label)
        .shared (fstype in SHARED_FSTYPES), .evidence()
    MountTable(source, mounts)  .mount_for(path) -> Mount | None, .at(target) -> Mount | None (top of stack)
    DfRow(filesystem, fstype | None, total, used, avail, pct, target, source, line, excerpt)
        bytes for block tables, counts for inode tables; None where df printed `-`;
        .usage -> int | None (df's Use%, else ceil(used / (used + avail))), .evidence()
    DfTable(source, rows, inodes: bool, typed: bool)  .mount_for(path), .at(target)
    parse_mount_l(text), parse_proc_mounts(text) -> MountTable;  parse_df(text) -> DfTable
    load_mounts(view)      # cmd:mount -l, else proc/mounts, proc/self/mounts, etc/mtab
    load_df(view), load_df_inodes(view)   # cmd:df -al / cmd:df -ali (ParseError if the kind is wrong)
    mount_for(entries, path), normpath(path), is_shared(fstype | None, device) -> bool | None
    locate(facts, path) -> Located(path, target, device, fstype, evidence)  .shared
        # the mount table when collected, else df (without -T: `server:/export` devices count as shared)
    FileEntry(path, size, is_dir, source, line, approximate)  .evidence()
    Listing(source, roots, entries)  .covers(dir), .under(dir), .largest_files(dir, n=10)
    parse_ls_recursive(text) -> Listing;  load_log_listing(view)   # sos `ls -alRh /var/log/`
    list_files(view, directory) -> Listing   # sos listing when it covers dir; live: glob + stat walk
    human_size(n) -> str;  summary(facts) -> {"filesystems": [...], "shared_mounts": [...]}
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Cited, Evidence
from stackrx.sources.base import HostView, Text

if TYPE_CHECKING:
    from stackrx.facts import Facts

# CATALOGUE CMP-001: filesystems several computes can mount at once. `fuse.ceph-fuse` is what ceph-fuse
# mounts report in /proc/mounts; the catalogue's `fuse.ceph` is kept for other builds.
SHARED_FSTYPES = frozenset({
    "nfs", "nfs4", "glusterfs", "fuse.glusterfs", "ceph", "fuse.ceph", "fuse.ceph-fuse", "gpfs", "lustre",
    "ocfs2", "gfs2", "beegfs",
})

# Lines longer than this are not mount/df/ls lines; skipping them keeps parsing linear on junk input.
_MAX_LINE = 1 << 20


class _HasTarget(Protocol):
    @property
    def target(self) -> str: ...


T = TypeVar("T", bound=_HasTarget)


def normpath(path: str) -> str:
    """An absolute, normalised path: `/var/lib/nova/instances/` and `var/lib//nova/instances` are equal."""
    norm = posixpath.normpath("/" + path.strip())
    # posixpath keeps a leading `//` (POSIX allows it to mean something else); mount points never do.
    return "/" + norm.lstrip("/")


def _contains(mount_point: str, path: str) -> bool:
    return mount_point == "/" or path == mount_point or path.startswith(mount_point + "/")


def mount_for(entries: Sequence[T], path: str) -> T | None:
    """The entry whose mount point is the longest whole-component prefix of `path` (later ones win ties)."""
    want = normpath(path)
    best: T | None = None
    best_len = -1
    for entry in entries:
        point = normpath(entry.target)
        if _contains(point, want) and len(point) >= best_len:
            best, best_len = entry, len(point)
    return best


def is_shared(fstype: str | None, device: str) -> bool | None:
    """Whether a filesystem can be mounted by several hosts; None when neither type nor device tells."""
    if fstype:
        return fstype.lower() in SHARED_FSTYPES
    if re.match(r"^[^/\s:]+(?::\d+)*:/", device):
        return True  # `server:/export` (NFS, GlusterFS) or `mon:6789:/` (CephFS)
    if device.startswith("/dev/"):
        return False
    return None


def _lines(text: Text) -> Iterator[tuple[int, str]]:
    for lineno, line in enumerate(text.content.splitlines(), 1):
        if len(line) <= _MAX_LINE:
            yield lineno, line


# -- mount tables ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mount(Cited):
    device: str
    target: str
    fstype: str
    options: tuple[str, ...]
    source: str
    line: int
    excerpt: str
    label: str = ""

    @property
    def shared(self) -> bool:
        return self.fstype.lower() in SHARED_FSTYPES


@dataclass(frozen=True)
class MountTable:
    source: str
    mounts: tuple[Mount, ...]

    def mount_for(self, path: str) -> Mount | None:
        return mount_for(self.mounts, path)

    def at(self, target: str) -> Mount | None:
        """The mount on top of exactly this mount point."""
        want = normpath(target)
        found = [m for m in self.mounts if normpath(m.target) == want]
        return found[-1] if found else None


# `... type ext4 (rw,relatime) [label]` anchored at the end, so a " on " or " type " inside a device or
# mount point name does not confuse the split and the match stays linear.
_MOUNT_TAIL = re.compile(r" type (?P<type>\S+) \((?P<opts>[^()]*)\)(?: \[(?P<label>[^\]]*)\])?\s*$")


def parse_mount_l(text: Text) -> MountTable:
    """`mount -l` output; lines that are not mount lines are skipped."""
    mounts: list[Mount] = []
    for lineno, line in _lines(text):
        tail = _MOUNT_TAIL.search(line)
        if tail is None:
            continue
        device, sep, target = line[: tail.start()].partition(" on ")
        if not sep or not device.strip() or not target.strip():
            continue
        opts = tuple(o for o in tail.group("opts").split(",") if o)
        mounts.append(Mount(device.strip(), target.strip(), tail.group("type"), opts, text.source, lineno,
                            line.strip(), tail.group("label") or ""))
    return MountTable(text.source, tuple(mounts))


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_proc_mounts(text: Text) -> MountTable:
    """`/proc/mounts` (same format as `/proc/self/mounts` and `/etc/mtab`)."""
    mounts: list[Mount] = []
    for lineno, line in _lines(text):
        fields = line.split()
        if len(fields) < 4 or not fields[1].startswith("/"):
            continue
        opts = tuple(o for o in fields[3].split(",") if o)
        mounts.append(Mount(_unescape(fields[0]), _unescape(fields[1]), _unescape(fields[2]), opts,
                            text.source, lineno, line.strip()))
    return MountTable(text.source, tuple(mounts))


_MOUNT_FILES = ("proc/mounts", "proc/self/mounts", "etc/mtab")


def load_mounts(view: HostView) -> MountTable:
    text = view.command("mount -l")
    if text is not None and text.content.strip():
        return parse_mount_l(text)
    for path in _MOUNT_FILES:
        text = view.read_text(path)
        if text is not None and text.content.strip():
            return parse_proc_mounts(text)
    raise MissingEvidence("cmd:mount -l or " + ", ".join(_MOUNT_FILES))


# -- df --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DfRow(Cited):
    filesystem: str
    fstype: str | None
    total: int | None
    """Bytes for a block table, a count for an inode table; None when df printed `-`."""
    used: int | None
    avail: int | None
    pct: int | None
    """Use% as df printed it (df rounds up); None for `-` (pseudo filesystems)."""
    target: str
    source: str
    line: int
    excerpt: str

    @property
    def usage(self) -> int | None:
        """Percent used of what an unprivileged writer can use (df's own formula: used / (used + avail))."""
        if self.pct is not None:
            return self.pct
        if self.used is None or self.avail is None or self.used + self.avail <= 0:
            return None
        return math.ceil(self.used * 100 / (self.used + self.avail))


@dataclass(frozen=True)
class DfTable:
    source: str
    rows: tuple[DfRow, ...]
    inodes: bool
    typed: bool
    """The table has a Type column (`df -T`)."""

    def mount_for(self, path: str) -> DfRow | None:
        return mount_for(self.rows, path)

    def at(self, target: str) -> DfRow | None:
        want = normpath(target)
        found = [r for r in self.rows if normpath(r.target) == want]
        return found[-1] if found else None


_SUFFIX = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6, "Z": 7, "Y": 8}
_NUMBER = re.compile(r"^(?P<n>\d+(?:[.,]\d+)?)(?P<s>[KMGTPEZY]?)$")
_BLOCKS = re.compile(r"^(?P<n>\d+)(?P<s>[KMGTPEZY]?)(?:B)?-blocks$", re.IGNORECASE)


def _value(token: str, unit: int) -> int | None:
    """A df number: plain digits times the block unit, or a human size (`1.5G`, 1024-based)."""
    if token == "-":
        return None
    m = _NUMBER.match(token)
    if m is None:
        raise ValueError(token)
    if m.group("s"):
        return int(float(m.group("n").replace(",", ".")) * 1024 ** _SUFFIX[m.group("s")])
    if not m.group("n").isdigit():
        raise ValueError(token)
    return int(m.group("n")) * unit


def _df_layout(tokens: list[str]) -> tuple[bool, bool, int] | None:
    """(typed, inodes, unit) from a df header line, or None when it is not one."""
    if not tokens or tokens[0].lower() != "filesystem" or len(tokens) < 5:
        return None
    typed = tokens[1].lower() == "type"
    size = tokens[2 if typed else 1]
    if size.lower() == "inodes":
        return typed, True, 1
    if size.lower() == "size":
        return typed, False, 1
    m = _BLOCKS.match(size)
    if m is None:
        return None
    return typed, False, int(m.group("n")) * 1024 ** _SUFFIX[m.group("s").upper()]


def _df_row_pattern(typed: bool) -> re.Pattern[str]:
    type_col = r"(?P<type>\S+)\s+" if typed else ""
    return re.compile(r"^(?P<fs>\S+)\s+" + type_col +
                      r"(?P<total>\S+)\s+(?P<used>\S+)\s+(?P<avail>\S+)\s+(?P<pct>\d{1,3}%|-)\s+(?P<target>\S.*?)\s*$")


def parse_df(text: Text) -> DfTable:
    """`df` output with a header line (blocks or inodes, with or without -T/-P/-h)."""
    lines = list(_lines(text))
    layout: tuple[bool, bool, int] | None = None
    start = 0
    for idx, (_lineno, line) in enumerate(lines):
        layout = _df_layout(line.split())
        if layout is not None:
            start = idx + 1
            break
    if layout is None:
        raise ParseError(text.source, "no df header line (Filesystem ... Mounted on)")
    typed, inodes, unit = layout
    pattern = _df_row_pattern(typed)
    rows: list[DfRow] = []
    idx = start
    while idx < len(lines):
        lineno, line = lines[idx]
        idx += 1
        joined = line
        if len(line.split()) == 1 and idx < len(lines) and lines[idx][1][:1] in (" ", "\t"):
            # A device name too long for its column: df prints the numbers on the next line.
            joined = line.strip() + " " + lines[idx][1].strip()
            idx += 1
        m = pattern.match(joined.strip())
        if m is None:
            continue
        try:
            total, used, avail = (_value(m.group(k), unit) for k in ("total", "used", "avail"))
        except ValueError:
            continue
        pct = None if m.group("pct") == "-" else int(m.group("pct")[:-1])
        fstype = m.group("type") if typed else None
        excerpt = " ".join(joined.split())
        rows.append(DfRow(m.group("fs"), fstype, total, used, avail, pct, m.group("target"), text.source,
                          lineno, excerpt))
    return DfTable(text.source, tuple(rows), inodes, typed)


def _load_df(view: HostView, key: str, *, inodes: bool) -> DfTable:
    text = view.command(key)
    if text is None:
        raise MissingEvidence(f"cmd:{key}")
    if not text.content.strip():
        raise MissingEvidence(f"{text.source} (empty)")
    table = parse_df(text)
    if table.inodes != inodes:
        want, found = ("inode", "block") if inodes else ("block", "inode")
        raise ParseError(text.source, f"expected {want} usage, found a {found} table")
    return table


def load_df(view: HostView) -> DfTable:
    return _load_df(view, "df -al", inodes=False)


def load_df_inodes(view: HostView) -> DfTable:
    return _load_df(view, "df -ali", inodes=True)


# -- which filesystem holds a path -----------------------------------------------------------------------
@dataclass(frozen=True)
class Located:
    """The filesystem holding a path, from the mount table when collected, else from df."""

    path: str
    target: str
    device: str
    fstype: str | None
    evidence: Evidence

    @property
    def shared(self) -> bool | None:
        return is_shared(self.fstype, self.device)


def locate(facts: Facts, path: str) -> Located:
    """Longest-prefix mount of `path`; MissingEvidence when neither a mount table nor df was collected."""
    mounts = facts.maybe(load_mounts)
    if mounts is not None:
        mount = mounts.mount_for(path)
        if mount is not None:
            return Located(normpath(path), mount.target, mount.device, mount.fstype, mount.evidence())
    df = facts.maybe(load_df)
    if df is not None:
        row = df.mount_for(path)
        if row is not None:
            return Located(normpath(path), row.target, row.filesystem, row.fstype, row.evidence())
    raise MissingEvidence("cmd:mount -l, " + ", ".join(_MOUNT_FILES) + " or cmd:df -al")


# -- file listings ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    is_dir: bool
    source: str
    line: int | None
    approximate: bool
    """The size came from a human-readable listing (`4.0K`): rounded, not exact."""

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"{self.path} {human_size(self.size)}")


@dataclass(frozen=True)
class Listing:
    source: str
    roots: tuple[str, ...]
    entries: tuple[FileEntry, ...]

    def covers(self, directory: str) -> bool:
        want = normpath(directory)
        return any(_contains(normpath(root), want) for root in self.roots)

    def under(self, directory: str) -> list[FileEntry]:
        want = normpath(directory)
        return [e for e in self.entries if _contains(want, e.path) and e.path != want]

    def largest_files(self, directory: str, n: int = 10) -> list[FileEntry]:
        files = [e for e in self.under(directory) if not e.is_dir]
        return sorted(files, key=lambda e: (-e.size, e.path))[:n]


_PERMS = re.compile(
    r"^(?:(?P<blocks>\S+)\s+)?(?P<perms>[-dlcbpsD][-rwxsStTlL]{9}[.+@]?)\s+\d+\s+(?P<rest>.*)$")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_SIZE_DATE = re.compile(
    r"(?:^|\s)(?:\d+,\s*)?(?P<size>\d+(?:[.,]\d+)?[KMGTPEZY]?)\s+"
    r"(?P<date>" + _MONTH + r"\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4})"
    r"|\d{4}-\d{2}-\d{2}(?:\s+\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s+[+-]\d{4})?)?)\s(?P<name>.+)$"
)


def _ls_size(token: str) -> tuple[int, bool]:
    m = _NUMBER.match(token)
    if m is None:
        return 0, False
    if m.group("s"):
        return math.ceil(float(m.group("n").replace(",", ".")) * 1024 ** _SUFFIX[m.group("s")]), True
    return (int(m.group("n")), False) if m.group("n").isdigit() else (0, False)


def parse_ls_recursive(text: Text) -> Listing:
    """`ls -alR` / `ls -alRh` / `ls -alRs` style recursive listings (directory headers end with `:`)."""
    roots: list[str] = []
    entries: list[FileEntry] = []
    current: str | None = None
    for lineno, line in _lines(text):
        stripped = line.rstrip()
        if stripped.startswith("/") and stripped.endswith(":"):
            current = normpath(stripped[:-1])
            if not any(_contains(normpath(r), current) for r in roots):
                roots.append(current)
            continue
        if current is None:
            continue
        m = _PERMS.match(stripped.lstrip())
        if m is None:
            continue
        rest = _SIZE_DATE.search(m.group("rest"))
        if rest is None:
            continue
        name = rest.group("name")
        perms = m.group("perms")
        if perms[0] == "l":
            name = name.split(" -> ", 1)[0]
        if name in (".", "..") or not name:
            continue
        size, approx = (0, False) if perms[0] in "cb" else _ls_size(rest.group("size"))
        entries.append(FileEntry(normpath(posixpath.join(current, name)), size, perms[0] == "d", text.source,
                                 lineno, approx))
    return Listing(text.source, tuple(roots), tuple(entries))


# Older sos: `ls -alRh /var/log/`; newer ones list with sizes in blocks as well (`-s`), with or without -Z.
_LOG_LISTINGS = ("sos_commands/logs/ls_-alRh_.var.log", "sos_commands/logs/ls_-al*R*_.var.log*")


def load_log_listing(view: HostView) -> Listing:
    """The recursive `/var/log` listing of the sos logs plugin."""
    for pattern in _LOG_LISTINGS:
        for path in [pattern] if "*" not in pattern else view.glob(pattern):
            text = view.read_text(path)
            if text is not None and text.content.strip():
                return parse_ls_recursive(text)
    raise MissingEvidence(_LOG_LISTINGS[0])


# A walk of a live directory stops here: the top offenders are found long before, and a runaway tree
# (millions of lock files) must not stall a scan.
MAX_WALK_ENTRIES = 200_000


def list_files(view: HostView, directory: str) -> Listing:
    """Files and sizes under `directory`: the sos listing when it covers it, else the filesystem itself.

    A sosreport's copies of files are truncated, so their sizes are not the host's: without a listing the
    answer there is MissingEvidence.
    """
    if view.kind == "sosreport":
        listing = load_log_listing(view)
        if not listing.covers(directory):
            raise MissingEvidence(f"a listing of {normpath(directory)} (sos lists only /var/log)")
        return listing
    logical = normpath(directory).lstrip("/")
    if not view.is_dir(logical):
        raise MissingEvidence(normpath(directory))
    entries: list[FileEntry] = []
    for path in view.glob(f"{logical}/**/*")[:MAX_WALK_ENTRIES]:
        info = view.stat(path)
        if info is None:
            continue
        entries.append(FileEntry(normpath(path), info.size, view.is_dir(path), view.source_name(path), None,
                                 False))
    return Listing(view.source_name(logical), (normpath(directory),), tuple(entries))


def human_size(size: int) -> str:
    value = float(size)
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or suffix == "TiB":
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    return f"{size} B"


FUZZ_TARGETS = [parse_mount_l, parse_proc_mounts, parse_df, parse_ls_recursive]

_PSEUDO_DEVICES = ("tmpfs", "devtmpfs", "udev", "none", "overlay", "shm")


def summary(facts: Facts) -> dict[str, Any]:
    """Real (non-pseudo) filesystems with usage, for cross-node views (shared exports, full disks)."""
    out: dict[str, Any] = {}
    try:
        df = facts.maybe(load_df)
        mounts = facts.maybe(load_mounts)
    except ParseError:
        return {}
    if df is not None:
        out["filesystems"] = [
            {"target": r.target, "device": r.filesystem, "size_bytes": r.total, "use_pct": r.usage}
            for r in df.rows
            if r.total and not r.filesystem.startswith("/dev/loop") and r.filesystem not in _PSEUDO_DEVICES
        ]
    if mounts is not None:
        out["shared_mounts"] = [
            {"target": m.target, "device": m.device, "fstype": m.fstype} for m in mounts.mounts if m.shared
        ]
    return out
