"""One entry point for every output format, so `scan`, `fleet`, `report` and `trend` render alike."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from stackrx.errors import UsageError
from stackrx.models import HostSummary, Result, ScanReport

if TYPE_CHECKING:
    from stackrx.history.trend import TrendData

FORMATS = ("table", "json", "html", "sarif", "junit", "csv", "prometheus")


def render(report: ScanReport, fmt: str, *, min_severity: str = "low", show_all: bool = False,
           trend: TrendData | None = None) -> str:
    """The report as text in `fmt`. `min_severity`/`show_all` shape the table; `min_severity` is also the
    JUnit failure threshold; `trend` adds the history charts to HTML."""
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "table":
        from stackrx.report.table import render_table

        out = io.StringIO()
        render_table(report, out, min_severity=min_severity, show_all=show_all, color=False)
        return out.getvalue()
    if fmt == "html":
        from stackrx.report.html import render_html

        return render_html(report, trend=trend)
    if fmt == "sarif":
        from stackrx.report.sarif import render_sarif

        return render_sarif(report)
    if fmt == "junit":
        from stackrx.report.junit import render_junit

        return render_junit(report, min_severity=min_severity)
    if fmt == "csv":
        from stackrx.report.csvout import render_csv

        return render_csv(report)
    if fmt == "prometheus":
        from stackrx.report.prometheus import render_prometheus

        return render_prometheus(report)
    raise UsageError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def merge_reports(reports: list[ScanReport]) -> ScanReport:
    """Several reports (per-node scans) as one fleet view; later hosts of the same name replace earlier."""
    if len(reports) == 1:
        return reports[0]
    hosts: dict[str, HostSummary] = {}
    for rep in reports:
        for h in rep.hosts:
            hosts[h.name] = h
    results: list[Result] = []
    for i, rep in enumerate(reports):
        later = {h.name for r2 in reports[i + 1:] for h in r2.hosts}
        results.extend(r for r in rep.results if r.host not in later)
    return ScanReport(version=reports[-1].version, target=", ".join(dict.fromkeys(r.target for r in reports)),
                      hosts=list(hosts.values()), results=results)
