"""Forecast checks (mode "history"): a reading growing towards its limit across stored runs.

They run from `stackrx trend` (and from `scan --store` when forecasts are asked for) over the history
store, not on a single node view; `stackrx.history.forecast` does the fitting and these are the stories,
risks and remedies an operator reads.
"""

from __future__ import annotations

from stackrx.engine import CheckContext, check
from stackrx.errors import NotApplicable
from stackrx.models import CheckMeta, RemediationStep, Severity, StepKind

_READS = {"history": ["stored runs: HostSummary.metrics of every scan saved with --store"]}
_REFERENCES = [
    "Theil 1950 / Sen 1968: median of pairwise slopes; Sen's rank interval for the slope (95 %, normal "
    "approximation of Kendall's S)",
]

CONNTRACK_FORECAST = CheckMeta(
    id="NET-T01",
    title="Conntrack table forecast to fill",
    severity=Severity.high,
    area="net",
    tale=(
        "The hypervisors in the conntrack story did not fail on day one: the table filled as more guests "
        "with more sockets landed on them, until new flows were dropped. A count that climbs run after run "
        "gives that warning days ahead, while raising the limit is still a quiet change."
    ),
    description=(
        "Fits a robust line (Theil–Sen) through nf_conntrack_count over the stored runs of each host "
        "(init namespace and each namespace measured) and reports when it meets nf_conntrack_max, with the "
        "95 % range from the slope's confidence interval."
    ),
    risk=(
        "When the count reaches the limit the kernel drops the first packet of every new connection (see "
        "NET-001): instances and routers lose new connections while old ones keep working."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="See what grows: which namespaces and which flows.", commands=[
            "sysctl net.netfilter.nf_conntrack_count net.netfilter.nf_conntrack_max",
            "conntrack -L -o extended 2>/dev/null | awk '{print $1, $3}' | sort | uniq -c | sort -rn | head",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Raise the limit before it is reached, persistently and with both keys in step "
            "(`stackrx fix NET-001 --plan` prints the exact change)."), commands=[
            "stackrx fix NET-001 --plan",
        ]),
    ],
    references=[*_REFERENCES, "NET-001 (saturation now), NET-002 (persistence)"],
    modes=["history"],
    reads=_READS,
)

FILESYSTEM_FORECAST = CheckMeta(
    id="STO-T01",
    title="Filesystem forecast to fill",
    severity=Severity.high,
    area="storage",
    tale=(
        "A telemetry database that kept every sample forever grew steadily for nine months until the "
        "controller's disk was 99 % full and the node fell over; by then even the database's own "
        "space-reclaiming command needed room it no longer had. The growth was linear and visible long "
        "before."
    ),
    description=(
        "Fits a robust line (Theil–Sen) through each filesystem's used bytes over the stored runs and "
        "reports when it reaches the filesystem size, with the 95 % range from the slope's confidence "
        "interval. Sawtooth patterns (rotation, cleanups) lower the confidence rather than the median slope."
    ),
    risk=(
        "A full /var stops databases, message queues and logging; a full instances path stops new disks "
        "and can pause running guests on write. Reclaiming space often needs free space itself."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Find what grows on that filesystem.", commands=[
            "du -xh --max-depth=2 <mountpoint> 2>/dev/null | sort -h | tail -20",
            "find <mountpoint> -xdev -type f -size +1G -printf '%s %p\\n' 2>/dev/null | sort -n | tail",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Cap the source of growth: retention for telemetry (TEL-001), console log limits (CON-003), "
            "log rotation; then grow the filesystem if the rate is genuine."), commands=[
            "stackrx checks show TEL-001",
            "stackrx checks show CON-003",
        ]),
    ],
    references=[*_REFERENCES, "TEL-001, TEL-002 (telemetry retention), CON-003 (console logs)"],
    modes=["history"],
    reads=_READS,
)

INODE_FORECAST = CheckMeta(
    id="STO-T02",
    title="Filesystem inodes forecast to run out",
    severity=Severity.high,
    area="storage",
    tale=(
        "Disks can stop taking files with gigabytes still free: caches and spool directories that create "
        "millions of small files use up the inode table first. The inode count climbs as steadily as bytes "
        "do, and is as easy to extrapolate."
    ),
    description=(
        "Fits a robust line (Theil–Sen) through each filesystem's used inodes over the stored runs and "
        "reports when it reaches the inode total, with the 95 % range from the slope's confidence interval."
    ),
    risk="With no free inode, every file creation fails with ENOSPC although `df -h` shows free space.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Find the directories with the most files.", commands=[
            "df -i <mountpoint>",
            "find <mountpoint> -xdev -type d -printf '%h\\n' 2>/dev/null | sort | uniq -c | sort -rn | head",
        ]),
    ],
    references=_REFERENCES,
    modes=["history"],
    reads=_READS,
)

FORECAST_CHECKS = {meta.id: meta for meta in (CONNTRACK_FORECAST, FILESYSTEM_FORECAST, INODE_FORECAST)}


def _history_only(ctx: CheckContext) -> None:
    raise NotApplicable("a forecast over stored runs: run `stackrx trend`")


for _meta in FORECAST_CHECKS.values():
    check(_meta)(_history_only)
