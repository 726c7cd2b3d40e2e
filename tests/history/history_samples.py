"""Synthetic daily runs of one host whose /var fills linearly and whose conntrack count grows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stackrx.models import HostSummary, Result, ScanReport, Severity, Status

GIB = 2**30
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
VAR_SIZE = 50 * GIB
CT_MAX = 262144
# /var: 10 GiB + 1 GiB/day → full on day 40; conntrack: 60000 + 5000/day → full on day 40.4.
VAR_FULL_AT = START + timedelta(days=40)
CT_FULL_AT = START + timedelta(days=(CT_MAX - 60000) / 5000)
# Deterministic jitter, and one cleanup dip, so the fit has to be robust rather than lucky.
JITTER = (0.0, 0.15, -0.1, 0.05, -0.2, 0.1, 0.0, -0.05, 0.2, -0.15)


def daily_report(day: int, host: str = "compute-9") -> ScanReport:
    when = START + timedelta(days=day)
    used = (10 + day + JITTER[day % len(JITTER)]) * GIB
    if day == 17:
        used -= 6 * GIB  # a log cleanup, grown back the next day
    metrics = {
        "fs_used_bytes:/var": used, "fs_size_bytes:/var": float(VAR_SIZE),
        "fs_used_bytes:/": 4.0 * GIB, "fs_size_bytes:/": 20.0 * GIB,
        "fs_inodes_used:/var": 100_000.0 + day * 50, "fs_inodes_total:/var": 3_276_800.0,
        "nf_conntrack_count": 60000.0 + 5000 * day + (700 if day % 3 == 0 else -300),
        "nf_conntrack_max": float(CT_MAX),
    }
    return ScanReport(version="0.1.0", target=f"/srv/sos/{host}-{day}", hosts=[
        HostSummary(name=host, kind="sosreport", target=f"/srv/sos/{host}-{day}", collected_at=when.isoformat(),
                    metrics=metrics)],
        results=[Result(check_id="NET-001", title="nf_conntrack table saturation / drops", severity=Severity.info,
                        status=Status.passed, host=host, message="no problem found")])
