"""A small synthetic fleet report with every status, severity, muting and metrics, for the format tests."""

from __future__ import annotations

from stackrx.models import (
    Evidence,
    HostSummary,
    RemediationStep,
    Result,
    ScanReport,
    Severity,
    Status,
    StepKind,
)

FIX = [RemediationStep(kind=StepKind.safe, text="Raise the limit.", commands=["sysctl -w a.b=1"]),
       RemediationStep(kind=StepKind.destructive, text="Flush <all> & restart.", commands=["conntrack -F"])]


def result(check: str, host: str, status: Status, severity: Severity, message: str, *, resource: str = "",
           evidence: list[Evidence] | None = None, muted: bool = False, area: str = "net") -> Result:
    return Result(check_id=check, title=f"{check} title", severity=severity, status=status, host=host,
                  message=message, resource=resource, evidence=evidence or [], area=area, muted=muted,
                  mute_reason="accepted until the maintenance window" if muted else "",
                  remediation=FIX if status in (Status.fail, Status.warn) else [])


def fleet_report() -> ScanReport:
    ct = Evidence(source="sos_commands/kernel/sysctl_-a", line=812, excerpt="net.netfilter.nf_conntrack_count = 64000")
    log = Evidence(source="var/log/kern.log", line=3, excerpt="nf_conntrack: table full, dropping packet")
    cmd = Evidence(source="cmd:conntrack -S", line=1, excerpt="cpu=0 found=0 drop=12")
    results = [
        result("NET-001", "network-1", Status.fail, Severity.critical, "conntrack 64000/65536 (97.7 %) in init netns",
               evidence=[ct, log]),
        result("NET-001", "network-1", Status.fail, Severity.high, "conntrack -S: drop=12", resource="qrouter-1",
               evidence=[cmd]),
        result("NET-001", "network-2", Status.passed, Severity.info, "no problem found"),
        result("NET-001", "compute-1", Status.passed, Severity.info, "no problem found"),
        result("NET-003", "compute-1", Status.fail, Severity.high, "VLAN 101 stacked on VLAN 100 <eth0.100.101>",
               resource="eth0.100.101", evidence=[Evidence(source="sos_commands/networking/ip_-d_address",
                                                           line=40, excerpt="eth0.100.101@eth0.100: mtu 1500")]),
        result("NET-003", "network-1", Status.passed, Severity.info, "no problem found"),
        result("NET-003", "network-2", Status.warn, Severity.medium, "=HYPERLINK(\"x\") odd name", resource="-x"),
        result("STO-003", "compute-1", Status.warn, Severity.low, "console.log 5.5 GiB", resource="inst-1",
               area="storage", muted=True),
        result("STO-003", "network-1", Status.skipped, Severity.info, "input missing: sos_commands/filesys/df_-al",
               area="storage"),
        result("TEL-001", "network-2", Status.error, Severity.high, "could not parse etc/ceilometer/ceilometer.conf",
               area="telemetry"),
        result("SEC-001", "network-2", Status.warn, Severity.low, "bad\x01byte in excerpt",
               evidence=[Evidence(source="etc/x.conf", line=2, excerpt="k = v\x01")], area="sec"),
    ]
    hosts = [
        HostSummary(name="network-1", kind="sosreport", target="/tmp/network-1",
                    collected_at="2026-12-01T09:00:00+00:00",
                    metrics={"nf_conntrack_count": 64000, "nf_conntrack_max": 65536,
                             "nf_conntrack_count:qrouter-1": 120, "fs_used_bytes:/var": 40 * 2**30,
                             "fs_size_bytes:/var": 50 * 2**30, "fs_inodes_used:/var": 1000,
                             "fs_inodes_total:/var": 3_000_000, "log_dir_bytes:/var/log/nova": 123456,
                             "custom_reading:x y": 7.5}),
        HostSummary(name="network-2", kind="sosreport", target="/tmp/network-2",
                    collected_at="2026-12-01T09:00:00+00:00",
                    metrics={"nf_conntrack_count": 100, "nf_conntrack_max": 65536}),
        HostSummary(name="compute-1", kind="sosreport", target="/tmp/compute-1", collected_at=None,
                    metrics={"console_log_bytes:inst-1": 5.5 * 2**30, "db_deleted_rows:nova.instances": 10}),
    ]
    return ScanReport(version="0.1.0", target="synthetic fleet", hosts=hosts, results=results)


def open_counts(report: ScanReport) -> dict[str, int]:
    counts = {s.value: 0 for s in Severity}
    for r in report.results:
        if r.status in (Status.fail, Status.warn) and not r.muted:
            counts[r.severity.value] += 1
    return counts
