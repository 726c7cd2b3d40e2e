"""JUnit XML: one test suite per host, one test case per check × host, so CI dashboards chart findings.

A case fails when the check has an unmuted finding at or above the threshold, errors when the check
itself broke, is skipped when its input was missing; findings below the threshold and muted ones are kept
in `system-out` so nothing disappears silently.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

from stackrx.models import Result, ScanReport, Severity, Status

_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MAX_MESSAGE = 500


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _describe(r: Result) -> str:
    where = f" ({r.resource})" if r.resource else ""
    lines = [f"[{r.status.value} {r.severity.value}] {r.message}{where}"]
    if r.muted:
        lines[0] += f" — muted: {r.mute_reason}"
    for ev in r.evidence:
        where = f"{ev.source}:{ev.line}" if ev.line else ev.source
        lines.append(f"    evidence {where}: {ev.excerpt}")
    for step in r.remediation:
        lines.append(f"    fix [{step.kind.value}] {step.text}")
        lines.extend(f"        $ {cmd}" for cmd in step.commands)
    return "\n".join(lines)


def _case(host: str, results: list[Result], min_rank: int) -> tuple[ET.Element, str]:
    first = results[0]
    case = ET.Element("testcase", classname=f"stackrx.{host}", name=f"{first.check_id} {first.title}",
                      time="0")
    failing = [r for r in results if r.status in (Status.fail, Status.warn) and not r.muted
               and r.severity.rank >= min_rank]
    errors = [r for r in results if r.status is Status.error]
    outcome = "passed"
    if errors:
        outcome = "error"
        el = ET.SubElement(case, "error", type="check-error",
                           message=_clean(errors[0].message[:_MAX_MESSAGE]))
        el.text = _clean("\n".join(_describe(r) for r in errors))
    elif failing:
        outcome = "failure"
        worst = max(failing, key=lambda r: r.severity.rank)
        el = ET.SubElement(case, "failure", type=worst.severity.value,
                           message=_clean(f"{len(failing)} finding(s): {worst.message}"[:_MAX_MESSAGE]))
        el.text = _clean("\n\n".join(_describe(r) for r in failing))
    elif all(r.status is Status.skipped for r in results):
        outcome = "skipped"
        ET.SubElement(case, "skipped", message=_clean(first.message[:_MAX_MESSAGE]))
    rest = [r for r in results if r not in failing and r not in errors and r.status is not Status.skipped]
    if rest:
        ET.SubElement(case, "system-out").text = _clean("\n".join(_describe(r) for r in rest))
    return case, outcome


def render_junit(report: ScanReport, *, min_severity: str = "low") -> str:
    min_rank = Severity(min_severity).rank
    root = ET.Element("testsuites", name=f"stackrx {report.target}")
    totals: Counter[str] = Counter()
    host_names = [h.name for h in report.hosts]
    host_names += sorted({r.host for r in report.results} - set(host_names))
    for host in host_names:
        summary = next((h for h in report.hosts if h.name == host), None)
        grouped: dict[str, list[Result]] = {}
        for r in report.results:
            if r.host == host:
                grouped.setdefault(r.check_id, []).append(r)
        suite = ET.SubElement(root, "testsuite", name=host, hostname=host)
        if summary is not None:
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", name="target", value=_clean(summary.target))
            ET.SubElement(props, "property", name="kind", value=summary.kind)
            if summary.collected_at:
                suite.set("timestamp", summary.collected_at)
        counts: Counter[str] = Counter()
        for check_id in sorted(grouped):
            case, outcome = _case(host, grouped[check_id], min_rank)
            suite.append(case)
            counts[outcome] += 1
        suite.set("tests", str(sum(counts.values())))
        suite.set("failures", str(counts["failure"]))
        suite.set("errors", str(counts["error"]))
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", "0")
        totals.update(counts)
    root.set("tests", str(sum(totals.values())))
    root.set("failures", str(totals["failure"]))
    root.set("errors", str(totals["error"]))
    root.set("skipped", str(totals["skipped"]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
