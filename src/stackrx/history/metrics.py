"""The naming contract for `HostSummary.metrics`, shared by facts summaries, Prometheus output and trends.

A metric key is `family` or `family:resource`, e.g. `nf_conntrack_count`, `fs_used_bytes:/var`,
`db_deleted_rows:nova.instances`. The family fixes the unit and the Prometheus name; the resource becomes
that family's label. Families not listed here are still stored and trended, and exported under one
generic gauge, so a facts module can add a reading before it is registered here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str
    prom_name: str
    help: str
    label: str
    unit: str


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("nf_conntrack_count", "stackrx_conntrack_entries",
           "Connection-tracking entries in use (nf_conntrack_count), per network namespace.", "netns",
           "entries"),
    Family("nf_conntrack_max", "stackrx_conntrack_entries_limit",
           "Connection-tracking table limit (nf_conntrack_max).", "netns", "entries"),
    Family("nf_conntrack_ratio", "stackrx_conntrack_usage_ratio",
           "nf_conntrack_count / nf_conntrack_max, per network namespace.", "netns", ""),
    Family("fs_used_bytes", "stackrx_filesystem_used_bytes", "Bytes used on a mounted filesystem.",
           "mountpoint", "bytes"),
    Family("fs_size_bytes", "stackrx_filesystem_size_bytes", "Size of a mounted filesystem in bytes.",
           "mountpoint", "bytes"),
    Family("fs_inodes_used", "stackrx_filesystem_inodes_used", "Inodes used on a mounted filesystem.",
           "mountpoint", "inodes"),
    Family("fs_inodes_total", "stackrx_filesystem_inodes", "Total inodes of a mounted filesystem.",
           "mountpoint", "inodes"),
    Family("console_log_bytes", "stackrx_console_log_bytes", "Bytes of instance console logs.", "path",
           "bytes"),
    Family("log_dir_bytes", "stackrx_log_dir_bytes", "Bytes under a log directory.", "path", "bytes"),
    Family("db_deleted_rows", "stackrx_db_deleted_rows", "Soft-deleted rows still in a service table.",
           "table", "rows"),
)}

GENERIC_PROM_NAME = "stackrx_host_metric"


def split_key(key: str) -> tuple[str, str]:
    family, _, resource = key.partition(":")
    return family, resource


def make_key(family: str, resource: str = "") -> str:
    return f"{family}:{resource}" if resource else family


def unit_of(key: str) -> str:
    family = FAMILIES.get(split_key(key)[0])
    return family.unit if family else ""


@dataclass(frozen=True)
class Limit:
    """A usage family that grows towards the value of a limit family with the same resource."""

    check_id: str
    usage: str
    limit: str
    what: str  # how a message names the thing filling up, e.g. "the conntrack table"


LIMITS: tuple[Limit, ...] = (
    Limit("NET-T01", "nf_conntrack_count", "nf_conntrack_max", "the conntrack table"),
    Limit("STO-T01", "fs_used_bytes", "fs_size_bytes", "the filesystem"),
    Limit("STO-T02", "fs_inodes_used", "fs_inodes_total", "the inode table"),
)


def human(value: float, unit: str) -> str:
    if unit == "bytes":
        size = float(value)
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
            if abs(size) < 1024 or suffix == "PiB":
                return f"{size:.0f} {suffix}" if suffix == "B" else f"{size:.1f} {suffix}"
            size /= 1024
    if float(value).is_integer():
        return f"{int(value):,}" + (f" {unit}" if unit else "")
    return f"{value:,.2f}" + (f" {unit}" if unit else "")
