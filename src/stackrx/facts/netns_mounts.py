"""Mount-table size and network-namespace mounts: how close a mount namespace is to `fs.mount-max`.

`ip netns add` bind-mounts an nsfs file per namespace under /run/netns and makes /run/netns a shared mount,
so each namespace normally shows up once or twice in the host table (compute4: 3 namespaces, 6 nsfs
mounts). A propagation loop (a container bind-mounting /run/netns without the right propagation, then
namespaces being created on both sides) multiplies them until mount(2) fails with ENOSPC.

Inputs, best first: `proc/self/mountinfo` (filesys plugin), the mount table (`mount -l`, `proc/mounts`;
`stackrx.facts.mounts`), else `df -al` (one row per mount point, pseudo filesystems included). In a
sosreport the per-process `proc/<pid>/mountinfo` files are also collected: the largest one shows the
fullest mount namespace (a container's), which can be far bigger than the host's.

Public API:

    MountEntry(fstype: str, device: str, target: str, propagation: tuple[str, ...], source: str, line: int)
        .evidence()
    parse_mountinfo(text) -> tuple[MountEntry, ...]       # /proc/<pid>/mountinfo
    MountCensus(entries: tuple[MountEntry, ...], source: str)
        .total, .netns_nsfs() (nsfs mounts under /run/netns or /var/run/netns), .benign() (overlay,
        kubelet pod volumes, autofs and network filesystems: many of them are normal), .by_type()
    load_mount_census(view) -> MountCensus                # the host's table
    load_largest_namespace(view) -> MountCensus | None     # biggest proc/<pid>/mountinfo in a sosreport
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.facts.mounts import load_df, load_mounts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

NETNS_DIRS = ("/run/netns/", "/var/run/netns/")
BENIGN_TYPES = frozenset({"overlay", "autofs", "nfs", "nfs4", "cifs", "smb3", "fuse.sshfs", "glusterfs",
                          "ceph", "fuse.ceph-fuse", "squashfs"})
_KUBELET = "/var/lib/kubelet/"
_MAX_LINE = 64 * 1024
_OCTAL = re.compile(r"\\([0-7]{3})")
_PROC_MOUNTINFO = re.compile(r"^proc/\d+/mountinfo$")


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True)
class MountEntry:
    fstype: str
    device: str
    target: str
    propagation: tuple[str, ...]
    source: str
    line: int

    def evidence(self) -> Evidence:
        tags = f" [{' '.join(self.propagation)}]" if self.propagation else ""
        return Evidence(source=self.source, line=self.line,
                        excerpt=f"{self.device} {self.target} {self.fstype}{tags}"[:300])


def parse_mountinfo(text: Text) -> tuple[MountEntry, ...]:
    """`36 35 98:0 /root /mnt rw,noatime shared:1 master:2 - ext3 /dev/root rw` per line."""
    out: list[MountEntry] = []
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        fields = raw.split()
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        if len(fields) <= sep + 2 or not fields[0].isdigit():
            continue
        optional = tuple(f for f in fields[6:sep] if ":" in f or f == "unbindable")
        out.append(MountEntry(fields[sep + 1], _unescape(fields[sep + 2]), _unescape(fields[4]), optional,
                              text.source, lineno))
    if not out and text.content.strip():
        raise ParseError(text.source, "no `id parent major:minor root mountpoint ... - fstype` line")
    return tuple(out)


@dataclass(frozen=True)
class MountCensus:
    entries: tuple[MountEntry, ...]
    source: str

    @property
    def total(self) -> int:
        return len(self.entries)

    def netns_nsfs(self) -> list[MountEntry]:
        return [e for e in self.entries if e.fstype == "nsfs" and e.target.startswith(NETNS_DIRS)]

    def benign(self) -> list[MountEntry]:
        return [e for e in self.entries if e.fstype in BENIGN_TYPES or e.target.startswith(_KUBELET)]

    def by_type(self) -> Counter[str]:
        return Counter(e.fstype for e in self.entries)


def load_mount_census(view: HostView) -> MountCensus:
    for path in ("proc/self/mountinfo", "proc/1/mountinfo"):
        text = view.read_text(path)
        if text is not None and text.content.strip():
            return MountCensus(parse_mountinfo(text), text.source)
    try:
        table = load_mounts(view)
        return MountCensus(tuple(MountEntry(m.fstype, m.device, m.target, (), m.source, m.line)
                                 for m in table.mounts), table.source)
    except MissingEvidence:
        pass
    try:
        df = load_df(view)
    except MissingEvidence:
        raise MissingEvidence("proc/self/mountinfo, cmd:mount -l, proc/mounts or cmd:df -al") from None
    # df prints pseudo filesystems with their name as the device and no type column (without -T).
    return MountCensus(tuple(MountEntry(r.fstype or r.filesystem, r.filesystem, r.target, (), r.source, r.line)
                             for r in df.rows), df.source)


def load_largest_namespace(view: HostView) -> MountCensus | None:
    best: tuple[int, str] | None = None
    for path in view.glob("proc/[0-9]*/mountinfo"):
        if not _PROC_MOUNTINFO.match(path):
            continue
        info = view.stat(path)
        # procfs reports size 0 on a live host: only copied files (a sosreport) can be ranked this way.
        if info is not None and info.size > 0 and (best is None or info.size > best[0]):
            best = (info.size, path)
    if best is None:
        return None
    text = view.read_text(best[1])
    if text is None or not text.content.strip():
        return None
    return MountCensus(parse_mountinfo(text), text.source)


def summary(facts: Facts) -> dict[str, Any]:
    try:
        census = facts.get(load_mount_census)
    except (MissingEvidence, ParseError):
        return {}
    return {"mounts": {"total": census.total, "netns_nsfs": len(census.netns_nsfs())},
            "metrics": {"mounts_total": float(census.total)}}


FUZZ_TARGETS = [parse_mountinfo]
