"""Disk space and inodes on the paths OpenStack services write to (STO-003)."""

from __future__ import annotations

from dataclasses import dataclass, field

from stackrx.checks.compute import instances_path
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence
from stackrx.facts.ini import load_config
from stackrx.facts.mounts import (
    DfRow,
    DfTable,
    FileEntry,
    MountTable,
    human_size,
    is_shared,
    list_files,
    load_df,
    load_df_inodes,
    load_mounts,
    normpath,
)
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

PATHS_OF_INTEREST = (
    "/", "/var", "/var/log", "/var/lib/mysql", "/var/lib/mongodb", "/var/lib/rabbitmq",
    "/var/lib/nova/instances", "/var/lib/nova/instances/_base", "/var/lib/glance/images", "/var/lib/gnocchi",
    "/var/lib/docker", "/var/lib/containers",
)
# Every filesystem mounted below these is of interest (swift devices, ceph mons, Kolla named volumes).
MOUNT_PREFIXES = ("/srv/node/", "/var/lib/ceph/mon/", "/var/lib/docker/volumes/",
                  "/var/lib/containers/storage/volumes/")
# Never "full" in a way that matters: read-only images (snap squashfs, ISOs) are 100% by construction.
SKIP_FSTYPES = frozenset({"squashfs", "iso9660"})
_TMPFS = frozenset({"tmpfs", "devtmpfs", "ramfs"})
SMALL_TMPFS = 64 * 1024**2
CRITICAL_PCT = 95
HIGH_PCT = 85
# Directories too large to walk on a live host; their top offenders come from the narrower paths.
_NO_WALK = frozenset({"/", "/var"})


@dataclass
class Filesystem:
    row: DfRow
    fstype: str | None
    paths: list[str] = field(default_factory=list)
    also_mounted_at: list[str] = field(default_factory=list)

    @property
    def shared(self) -> bool:
        return bool(is_shared(self.fstype, self.row.filesystem))


def _fstype(row: DfRow, mounts: MountTable | None) -> str | None:
    if row.fstype:
        return row.fstype
    if mounts is not None:
        mount = mounts.at(row.target)
        if mount is not None:
            return mount.fstype
    return row.filesystem if row.filesystem in _TMPFS else None


def _skipped(row: DfRow, fstype: str | None) -> bool:
    if not row.total or row.usage is None:
        return True  # pseudo filesystems (proc, cgroup, nsfs) have no size
    if fstype in SKIP_FSTYPES:
        return True
    if fstype is None and row.filesystem.startswith("/dev/loop"):
        return True  # without a type column these are the snap squashfs images
    return fstype in _TMPFS and row.total < SMALL_TMPFS


def interesting_paths(ctx: CheckContext) -> list[str]:
    paths = list(PATHS_OF_INTEREST)
    try:
        nova = ctx.facts.get(load_config, "nova")
    except MissingEvidence:
        return paths
    path, _ = instances_path(nova)
    return [*paths, path, f"{path}/_base"] if path not in paths else paths


def filesystems_of_interest(ctx: CheckContext, df: DfTable, mounts: MountTable | None) -> list[Filesystem]:
    chosen: dict[DfRow, Filesystem] = {}

    def add(row: DfRow, path: str) -> None:
        fs = chosen.get(row)
        if fs is None:
            fs = chosen[row] = Filesystem(row, _fstype(row, mounts))
        if path not in fs.paths:
            fs.paths.append(path)

    for path in interesting_paths(ctx):
        row = df.mount_for(path)
        if row is not None:
            add(row, normpath(path))
    for row in df.rows:
        target = normpath(row.target)
        if any(target.startswith(prefix) for prefix in MOUNT_PREFIXES) and df.at(row.target) is row:
            add(row, target)

    out: list[Filesystem] = []
    for fs in chosen.values():
        if _skipped(fs.row, fs.fstype):
            continue
        same = next((seen for seen in out if _same_filesystem(seen, fs)), None)
        if same is None:
            out.append(fs)
            continue
        same.paths.extend(p for p in fs.paths if p not in same.paths)
        same.also_mounted_at.append(fs.row.target)
    return out


def _same_filesystem(a: Filesystem, b: Filesystem) -> bool:
    """One filesystem seen twice: a shared export under two mount points, a bind mount, or an overlay whose
    numbers are those of the filesystem below it."""
    if a.shared and b.shared:
        return a.row.filesystem == b.row.filesystem
    numbers = (a.row.total, a.row.used, a.row.avail) == (b.row.total, b.row.used, b.row.avail)
    return numbers and (a.row.filesystem == b.row.filesystem or "overlay" in (a.fstype, b.fstype))


def _severity(pct: int) -> Severity | None:
    if pct >= CRITICAL_PCT:
        return Severity.critical
    if pct >= HIGH_PCT:
        return Severity.high
    return None


def _largest(ctx: CheckContext, df: DfTable, fs: Filesystem) -> list[FileEntry]:
    """The ten largest files this filesystem holds under its paths of interest, when a listing exists."""
    found: dict[str, FileEntry] = {}
    for path in [*fs.paths, "/var/log"]:
        if path in _NO_WALK or df.mount_for(path) is not fs.row:
            continue
        try:
            listing = ctx.facts.get(list_files, path)
        except MissingEvidence:
            continue
        for entry in listing.largest_files(path):
            if df.mount_for(entry.path) is fs.row:
                found[entry.path] = entry
    return sorted(found.values(), key=lambda e: (-e.size, e.path))[:10]


@check(CheckMeta(
    id="STO-003",
    title="Filesystem space / inodes on OpenStack state & log paths",
    severity=Severity.critical,
    area="storage",
    tale=(
        "Operators of one cloud found that overflowing logs were their most common incident; in another, "
        "Ceilometer's MongoDB reached 99% of the controller's disk and the control node went down with it. A "
        "single runaway guest console log of several gigabytes did the same on a compute."
    ),
    description=(
        "Maps each OpenStack state and log path (/, /var, /var/log, MySQL, MongoDB, RabbitMQ, nova instances "
        "and _base, Glance, Gnocchi, swift /srv/node/*, ceph mons, container volumes) to the filesystem "
        "holding it (longest mount prefix in df) and applies usage thresholds to blocks and inodes. "
        "Read-only images (squashfs, iso9660), small tmpfs and duplicate bind/overlay mounts are ignored; a "
        "shared export is reported once."
    ),
    risk=(
        "A full filesystem stops MySQL/Galera, RabbitMQ and every service logging to it, often at once; a "
        "full instances filesystem pauses guests on write (I/O errors) and blocks new builds."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Find the consumers and verify log rotation.", commands=[
            "df -PT; df -PTi",
            "du -xsh /var/log/* /var/lib/* 2>/dev/null | sort -h | tail -20",
            "logrotate -d /etc/logrotate.conf",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "On Kolla hosts the cron container rotates logs: check cron_logrotate_rotation_interval "
            "(weekly), cron_logrotate_rotation_count (6) and cron_logrotate_log_maxsize (100M) in "
            "globals.yml."),
            commands=["docker exec cron cat /etc/logrotate.conf"]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Freeing space deletes data: old logs, MySQL binary logs (PURGE BINARY LOGS BEFORE ...), "
            "telemetry "
            "data (TEL-002) or soft-deleted rows (DB-001). Back up first."), commands=[
            "mysql -e \"PURGE BINARY LOGS BEFORE NOW() - INTERVAL 3 DAY\"",
            "find /var/log -name '*.gz' -mtime +30 -delete",
        ]),
    ],
    references=[
        "sos filesys.py (df -al -x autofs, df -ali -x autofs, mount -l), logs.py (ls -alRh /var/log), "
        "mysql.py, mongodb.py",
        "kolla-ansible ansible/roles/cron/defaults/main.yml (logrotate defaults)",
        "'≥ 75 % and growing' (medium) needs usage history: not evaluated on a single snapshot",
    ],
    reads={
        "live": ["cmd:df -al", "cmd:df -ali", "cmd:mount -l", "var/log (walk)", "etc/nova/nova.conf"],
        "sosreport": ["sos_commands/filesys/df_-al_-x_autofs", "sos_commands/filesys/df_-ali_-x_autofs",
                      "sos_commands/filesys/mount_-l", "sos_commands/logs/ls_-alRh_.var.log"],
        "kolla": ["cmd:df -al", "cmd:df -ali", "var/lib/docker/volumes/*"],
    },
))
def filesystem_usage(ctx: CheckContext) -> None:
    df = ctx.facts.get(load_df)
    inodes = ctx.facts.maybe(load_df_inodes)
    mounts = ctx.facts.maybe(load_mounts)
    healthy: list[str] = []
    for fs in filesystems_of_interest(ctx, df, mounts):
        row = fs.row
        block_pct = row.usage or 0
        inode_row = inodes.at(row.target) if inodes is not None else None
        inode_pct = inode_row.usage if inode_row is not None and inode_row.total else None
        findings: list[tuple[Severity, str, Evidence]] = []
        sev = _severity(block_pct)
        if sev is not None:
            findings.append((sev, f"{block_pct}% of its space used ({human_size(row.used or 0)} of "
                                  f"{human_size(row.total or 0)})", row.evidence()))
        if inode_pct is not None and inode_row is not None:
            isev = _severity(inode_pct)
            if isev is not None:
                findings.append((isev, f"{inode_pct}% of its inodes used", inode_row.evidence()))
        if not findings:
            inode_note = f", inodes {inode_pct}%" if inode_pct is not None else ""
            healthy.append(f"{row.target} {block_pct}%{inode_note}")
            continue
        severity = max((f[0] for f in findings), key=lambda s: s.rank)
        holds = ", ".join(fs.paths)
        where = f" (also mounted at {', '.join(fs.also_mounted_at)})" if fs.also_mounted_at else ""
        kind = fs.fstype or "network"
        shared = f"; shared {kind} filesystem: every client reports it, attribute it to the fleet"
        shared = shared if fs.shared else ""
        evidence = [f[2] for f in findings]
        top = _largest(ctx, df, fs)
        if top:
            evidence.extend(e.evidence() for e in top)
        biggest = f"; largest: {', '.join(f'{e.path} {human_size(e.size)}' for e in top[:3])}" if top else ""
        ctx.report(severity, f"{row.target} ({row.filesystem}{', ' + fs.fstype if fs.fstype else ''}) has "
                             f"{' and '.join(f[1] for f in findings)}; it holds "
                             f"{holds}{where}{shared}{biggest}",
                   resource=row.filesystem if fs.shared else row.target, evidence=evidence)
    if healthy:
        inode_note = "" if inodes is not None else " (inode usage not collected)"
        ctx.ok(f"filesystems holding OpenStack paths are below {HIGH_PCT}%: {', '.join(healthy)}{inode_note}")
