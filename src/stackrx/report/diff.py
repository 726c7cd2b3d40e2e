"""Compare two reports by finding key: what is new, what was fixed, what changed severity or status.

An old finding only counts as fixed when the new report ran that check on that host and it did not
error; a host that was not scanned, or a check that was skipped or broke, leaves it "not re-checked"
instead, so a partial rescan never looks like a cleanup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from stackrx.models import Result, ScanReport, Severity, Status

FINDING = (Status.fail, Status.warn)


@dataclass(frozen=True)
class Change:
    old: Result
    new: Result


@dataclass(frozen=True)
class ReportDiff:
    new: list[Result] = field(default_factory=list)
    fixed: list[Result] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    not_rechecked: list[Result] = field(default_factory=list)

    def new_at_or_above(self, severity: str) -> list[Result]:
        rank = Severity(severity).rank
        return [r for r in self.new if r.severity.rank >= rank and not r.muted]


def diff_reports(old: ScanReport, new: ScanReport) -> ReportDiff:
    old_findings = {r.key: r for r in old.results if r.status in FINDING}
    new_findings = {r.key: r for r in new.results if r.status in FINDING}
    ran = {(r.check_id, r.host) for r in new.results if r.status in (*FINDING, Status.passed)}
    out = ReportDiff()
    for key, r in new_findings.items():
        before = old_findings.get(key)
        if before is None:
            out.new.append(r)
        elif (before.severity, before.status) != (r.severity, r.status):
            out.changed.append(Change(before, r))
    for key, r in old_findings.items():
        if key in new_findings:
            continue
        (out.fixed if (r.check_id, r.host) in ran else out.not_rechecked).append(r)
    for bucket in (out.new, out.fixed, out.not_rechecked):
        bucket.sort(key=lambda r: (-r.severity.rank, r.host, r.check_id, r.resource))
    out.changed.sort(key=lambda c: (-c.new.severity.rank, c.new.host, c.new.check_id))
    return out


def _line(r: Result) -> str:
    where = f" [{r.resource}]" if r.resource else ""
    mute = f"  (muted: {r.mute_reason})" if r.muted else ""
    return f"  {r.severity.value:<8} {r.check_id:<8} {r.host}{where}: {r.message}{mute}"


def render_diff_text(d: ReportDiff) -> str:
    parts: list[str] = []
    for title, items in (("New", d.new), ("Fixed", d.fixed), ("Not re-checked (host or check not run)",
                                                               d.not_rechecked)):
        if items:
            parts.append(f"{title} ({len(items)})")
            parts.extend(_line(r) for r in items)
    if d.changed:
        parts.append(f"Changed ({len(d.changed)})")
        for c in d.changed:
            parts.append(f"  {c.old.severity.value}/{c.old.status.value} → {c.new.severity.value}/"
                         f"{c.new.status.value}  {c.new.check_id} {c.new.host}"
                         + (f" [{c.new.resource}]" if c.new.resource else "") + f": {c.new.message}")
    if not parts:
        return "no difference in findings\n"
    summary = (f"{len(d.new)} new, {len(d.fixed)} fixed, {len(d.changed)} changed, "
               f"{len(d.not_rechecked)} not re-checked")
    return "\n".join([*parts, "", summary]) + "\n"


def render_diff_json(d: ReportDiff) -> str:
    def dump(items: list[Result]) -> list[object]:
        return [r.model_dump(mode="json") for r in items]

    return json.dumps({
        "new": dump(d.new), "fixed": dump(d.fixed), "not_rechecked": dump(d.not_rechecked),
        "changed": [{"old": c.old.model_dump(mode="json"), "new": c.new.model_dump(mode="json")}
                    for c in d.changed],
    }, indent=2) + "\n"
