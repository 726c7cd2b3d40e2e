"""Prometheus text format for node_exporter's textfile collector (`--collector.textfile.directory`).

Per check × host a one-hot status gauge and the worst open severity, per host the open findings by
severity, and every reading the checks used (HostSummary.metrics) under the names fixed in
`stackrx.history.metrics`. Muted findings count separately so a muted risk does not page anyone.
Write the output to a temp file and rename it into the textfile directory, so the collector never
reads half a file.
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from stackrx.history.metrics import FAMILIES, GENERIC_PROM_NAME, split_key
from stackrx.models import Result, ScanReport, Severity, Status

_STATUSES = ("fail", "warn", "pass", "skipped", "error")
_STATUS_ORDER = {Status.error: 4, Status.fail: 3, Status.warn: 2, Status.skipped: 1, Status.passed: 0}


def _check_status(results: list[Result]) -> Status:
    """Worst status among the results, a muted finding counting as passed."""
    worst = Status.passed
    for r in results:
        status = Status.passed if r.muted and r.status in (Status.fail, Status.warn) else r.status
        if _STATUS_ORDER[status] > _STATUS_ORDER[worst]:
            worst = status
    # A check with some resources skipped and others passed did run: report it as passed.
    if worst is Status.skipped and any(r.status is Status.passed for r in results):
        worst = Status.passed
    return worst


def render_prometheus(report: ScanReport) -> str:
    registry = CollectorRegistry(auto_describe=True)
    status = Gauge("stackrx_check_status", "Check outcome per host: 1 for the current status, 0 otherwise.",
                   ["host", "check", "status"], registry=registry)
    severity = Gauge("stackrx_check_severity",
                     "Worst severity of the open findings of a check (0 none or info, 1 low, 2 medium, "
                     "3 high, 4 critical).", ["host", "check"], registry=registry)
    findings = Gauge("stackrx_findings", "Open (unmuted) findings per host and severity.",
                     ["host", "severity"], registry=registry)
    muted = Gauge("stackrx_findings_muted", "Findings muted by the mute list, per host.", ["host"],
                  registry=registry)
    collected = Gauge("stackrx_host_collected_timestamp_seconds",
                      "When the host's evidence was collected (Unix time).", ["host"], registry=registry)
    families = {name: Gauge(f.prom_name, f.help, ["host", f.label], registry=registry)
                for name, f in FAMILIES.items()}
    generic = Gauge(GENERIC_PROM_NAME, "Other readings the checks used, by stackrx metric key.",
                    ["host", "metric", "resource"], registry=registry)

    hosts = [h.name for h in report.hosts]
    hosts += sorted({r.host for r in report.results} - set(hosts))
    for host in hosts:
        mine = [r for r in report.results if r.host == host]
        by_check: dict[str, list[Result]] = {}
        for r in mine:
            by_check.setdefault(r.check_id, []).append(r)
        for check_id, results in sorted(by_check.items()):
            current = _check_status(results).value
            for s in _STATUSES:
                status.labels(host=host, check=check_id, status=s).set(1 if s == current else 0)
            open_ranks = [r.severity.rank for r in results
                          if r.status in (Status.fail, Status.warn) and not r.muted]
            severity.labels(host=host, check=check_id).set(max(open_ranks, default=0))
        open_findings = [r for r in mine if r.status in (Status.fail, Status.warn) and not r.muted]
        for sev in Severity:
            findings.labels(host=host, severity=sev.value).set(sum(1 for r in open_findings if r.severity is sev))
        muted.labels(host=host).set(sum(1 for r in mine if r.muted))

    for summary in report.hosts:
        if summary.collected_at:
            with contextlib.suppress(ValueError):
                collected.labels(host=summary.name).set(datetime.fromisoformat(summary.collected_at).timestamp())
        for key, value in sorted(summary.metrics.items()):
            if not math.isfinite(value):
                continue
            family, resource = split_key(key)
            known = FAMILIES.get(family)
            if known is not None:
                families[family].labels(**{"host": summary.name, known.label: resource}).set(value)
            else:
                generic.labels(host=summary.name, metric=family, resource=resource).set(value)
    return generate_latest(registry).decode()
