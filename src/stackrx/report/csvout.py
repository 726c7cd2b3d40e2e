"""CSV: one row per result (first evidence inline), for spreadsheets and ad-hoc grep."""

from __future__ import annotations

import csv
import io

from stackrx.models import ScanReport

COLUMNS = ("host", "check_id", "title", "area", "severity", "status", "resource", "message", "muted",
           "mute_reason", "evidence_source", "evidence_line", "evidence_excerpt", "evidence_count", "key")

# A cell starting like a formula is executed by spreadsheet programs (CSV injection); log excerpts and
# resource names come from the scanned host, so they are not trusted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(report: ScanReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in report.results:
        ev = r.evidence[0] if r.evidence else None
        writer.writerow([_cell(v) for v in (
            r.host, r.check_id, r.title, r.area, r.severity.value, r.status.value, r.resource, r.message,
            "yes" if r.muted else "", r.mute_reason, ev.source if ev else "",
            ev.line if ev and ev.line is not None else "", ev.excerpt if ev else "", len(r.evidence), r.key)])
    return out.getvalue()
