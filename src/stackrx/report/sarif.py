"""SARIF 2.1.0: one run, one rule per check, one result per open or muted finding.

Evidence paths are relative to each host's target, so every host gets its own `uriBaseId` (described in
`originalUriBaseIds`); a command's output (`cmd:sysctl -a`) is not a file and becomes a logical location.
Muted findings stay in the log as suppressed results, which is how SARIF viewers hide accepted risks.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from stackrx.models import CheckMeta, Evidence, Result, ScanReport, Severity, Status

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {Severity.critical: "error", Severity.high: "error", Severity.medium: "warning",
          Severity.low: "note", Severity.info: "note"}
# GitHub code scanning ranks by this 0-10 property; the values follow CVSS bands.
_SECURITY_SEVERITY = {Severity.critical: "9.5", Severity.high: "8.0", Severity.medium: "5.5",
                      Severity.low: "2.0", Severity.info: "0.0"}


def _base_id(host: str) -> str:
    return "HOST_" + re.sub(r"[^A-Za-z0-9_]", "_", host).upper()


def _rule(result: Result, meta: CheckMeta | None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": result.check_id,
        "name": re.sub(r"[^A-Za-z0-9]+", "", result.title.title()) or result.check_id,
        "shortDescription": {"text": result.title},
        "defaultConfiguration": {"level": _LEVEL[meta.severity if meta else result.severity]},
        "properties": {"tags": [result.area or "general", "openstack"]},
    }
    if meta is not None:
        steps = "\n".join(f"[{s.kind.value}] {s.text}" + "".join(f"\n    $ {c}" for c in s.commands)
                          for s in meta.remediation)
        rule["fullDescription"] = {"text": meta.description}
        rule["help"] = {
            "text": f"{meta.risk}\n\nRemediation:\n{steps}",
            "markdown": f"**Why it matters.** {meta.risk}\n\n**The tale.** {meta.tale}\n\n**Remediation**\n\n"
                        + "\n".join(f"- **{s.kind.value}** {s.text}"
                                    + "".join(f"\n  - `{c}`" for c in s.commands) for s in meta.remediation),
        }
        rule["properties"]["security-severity"] = _SECURITY_SEVERITY[meta.severity]
    return rule


def _location(result: Result, ev: Evidence) -> dict[str, Any]:
    logical = [{"name": result.host, "kind": "host"}]
    if result.resource:
        logical.append({"name": result.resource, "kind": "resource"})
    if ev.source.startswith(("cmd:", "history:")) or not ev.source:
        logical.append({"name": ev.source or "unknown", "kind": "command" if ev.source.startswith("cmd:")
                        else "evidence"})
        loc: dict[str, Any] = {"logicalLocations": logical}
        if ev.excerpt:
            loc["message"] = {"text": ev.excerpt}
        return loc
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": quote(ev.source.lstrip("/")), "uriBaseId": _base_id(result.host)},
    }
    loc = {"physicalLocation": physical, "logicalLocations": logical}
    if ev.line is not None and ev.line >= 1:
        physical["region"] = {"startLine": ev.line}
        if ev.excerpt:
            physical["region"]["snippet"] = {"text": ev.excerpt}
    elif ev.excerpt:
        loc["message"] = {"text": ev.excerpt}
    return loc


def to_sarif(report: ScanReport) -> dict[str, Any]:
    from stackrx.engine import load_all_checks

    registry = load_all_checks()
    findings = [r for r in report.results if r.status in (Status.fail, Status.warn)]
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for r in sorted(findings, key=lambda r: r.check_id):
        if r.check_id not in index:
            reg = registry.get(r.check_id)
            index[r.check_id] = len(rules)
            rules.append(_rule(r, reg.meta if reg else None))
    results: list[dict[str, Any]] = []
    for r in findings:
        item: dict[str, Any] = {
            "ruleId": r.check_id,
            "ruleIndex": index[r.check_id],
            "level": _LEVEL[r.severity],
            "kind": "fail",
            "message": {"text": f"{r.host}: {r.message}"},
            "locations": [_location(r, ev) for ev in r.evidence] or [
                {"logicalLocations": [{"name": r.host, "kind": "host"}]}],
            "partialFingerprints": {"stackrxFindingKey/v1": r.key},
            "properties": {"host": r.host, "severity": r.severity.value, "status": r.status.value,
                           "resource": r.resource},
        }
        if r.muted:
            item["suppressions"] = [{"kind": "external", "status": "accepted",
                                     "justification": r.mute_reason or "muted"}]
        results.append(item)
    notifications = [
        {"level": "error", "message": {"text": f"{r.check_id} on {r.host}: {r.message}"},
         "descriptor": {"id": r.check_id}}
        for r in report.results if r.status is Status.error
    ]
    base_ids = {_base_id(h.name): {"description": {"text": f"{h.name}: {h.kind} {h.target}"}}
                for h in report.hosts}
    run: dict[str, Any] = {
        "tool": {"driver": {"name": report.tool, "version": report.version, "semanticVersion": report.version,
                            "rules": rules}},
        # A check that errored is reported as a notification; the scan itself still completed.
        "invocations": [{"executionSuccessful": True,
                         "toolExecutionNotifications": notifications}],
        "results": results,
        "properties": {"target": report.target, "hosts": [h.name for h in report.hosts]},
    }
    if base_ids:
        run["originalUriBaseIds"] = base_ids
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render_sarif(report: ScanReport) -> str:
    return json.dumps(to_sarif(report), indent=2, ensure_ascii=False) + "\n"
