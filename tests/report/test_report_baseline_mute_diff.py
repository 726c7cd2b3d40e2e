"""Stable finding keys at work: baselines, mute lists (still listed, not counted), diffs between runs."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_samples import fleet_report, result

from stackrx.commands.diff import diff_cmd
from stackrx.commands.report import findings_exit_code, report_cmd
from stackrx.errors import UsageError
from stackrx.models import ScanReport, Severity, Status
from stackrx.report.baseline import apply_baseline
from stackrx.report.diff import diff_reports, render_diff_text
from stackrx.report.mute import apply_mutes, expired_rules, load_mutes


def _write(report: ScanReport, path: Path) -> Path:
    path.write_text(report.model_dump_json())
    return path


def test_baseline_reports_only_new_findings(tmp_path: Path) -> None:
    old = fleet_report()
    baseline = _write(old, tmp_path / "baseline.json")
    new = old.model_copy(update={"results": [
        *[r.model_copy(update={"message": r.message + " (reworded)"}) for r in old.results],
        result("NET-004", "compute-1", Status.fail, Severity.high, "MTU mismatch", resource="physnet1"),
    ]})
    filtered = apply_baseline(new, baseline)
    findings = [r for r in filtered.results if r.status in (Status.fail, Status.warn)]
    assert [r.key for r in findings] == ["NET-004|compute-1|physnet1"]
    # Non-findings survive, so every check still shows it ran.
    assert sum(r.status is Status.passed for r in filtered.results) == sum(
        r.status is Status.passed for r in new.results)
    assert any(r.status is Status.error for r in filtered.results)


def test_baseline_file_errors_are_usage_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"tool": "x"}')
    with pytest.raises(UsageError, match="not a stackrx JSON report"):
        apply_baseline(fleet_report(), bad)
    with pytest.raises(UsageError, match="cannot read"):
        apply_baseline(fleet_report(), tmp_path / "missing.json")


MUTES = """\
mutes:
  - check: net-001
    host: "network-*"
    resource: ""
    reason: "limit raised in CHG-42, reboot pending"
    expires: 2026-12-31
  - check: "NET-00[3]"
    reason: "lab VLAN stacking is intended"
  - check: SEC-001
    reason: "expired rule"
    expires: 2026-01-01
"""


def test_mutes_mark_but_keep_and_do_not_count(tmp_path: Path) -> None:
    path = tmp_path / "mutes.yaml"
    path.write_text(MUTES)
    report = fleet_report()
    muted = apply_mutes(report, path, today=date(2026, 12, 1))
    assert len(muted.results) == len(report.results)
    state = {r.key: (r.muted, r.mute_reason) for r in muted.results}
    assert state["NET-001|network-1|"] == (True, "limit raised in CHG-42, reboot pending (until 2026-12-31)")
    assert state["NET-001|network-1|qrouter-1"] == (False, "")  # resource "" matches only the empty resource
    assert state["NET-003|compute-1|eth0.100.101"][0] and state["NET-003|network-2|-x"][0]
    assert state["NET-003|network-1|"] == (False, "")  # a pass is never muted
    assert state["SEC-001|network-2|"] == (False, "")  # expired
    assert [r.check for r in expired_rules(path, date(2026, 12, 1))] == ["SEC-001"]
    # After expiry the first rule stops muting.
    later = apply_mutes(report, path, today=date(2027, 1, 1))
    assert not next(r for r in later.results if r.key == "NET-001|network-1|").muted
    # Exit code: muted findings do not count.
    assert findings_exit_code(report, "critical") == 3
    assert findings_exit_code(muted, "critical") == 0
    assert findings_exit_code(muted, "high") == 3  # NET-001 qrouter-1 is still open


@pytest.mark.parametrize(("text", "message"), [
    ("- check: NET-001\n", "reason"),
    ("- check: NET-001\n  reason: ''\n", "reason"),
    ("- check: NET-001\n  reason: x\n  expires: someday\n", "expires"),
    ("- check: NET-001\n  reason: x\n  hosts: a\n", "hosts"),
    ("mutes: {check: x}\n", "expected a list"),
    ("- [unclosed\n", "not YAML"),
])
def test_bad_mute_lists_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_mutes(path)


def test_diff_new_fixed_changed_and_not_rechecked() -> None:
    old = fleet_report()
    keep = [r for r in old.results if r.host != "compute-1" and r.key != "NET-001|network-1|qrouter-1"]
    changed = [r.model_copy(update={"severity": Severity.high, "status": Status.fail})
               if r.key == "NET-003|network-2|-x" else r for r in keep]
    new = old.model_copy(update={
        "hosts": [h for h in old.hosts if h.name != "compute-1"],
        "results": [*changed, result("NET-005", "network-2", Status.fail, Severity.high, "address on bridge port")],
    })
    d = diff_reports(old, new)
    assert [r.key for r in d.new] == ["NET-005|network-2|"]
    assert [r.key for r in d.fixed] == ["NET-001|network-1|qrouter-1"]  # NET-001 still ran on network-1
    # compute-1 was not scanned again: its findings are not "fixed".
    assert sorted(r.key for r in d.not_rechecked) == ["NET-003|compute-1|eth0.100.101", "STO-003|compute-1|inst-1"]
    assert [(c.old.severity, c.new.severity) for c in d.changed] == [(Severity.medium, Severity.high)]
    text = render_diff_text(d)
    assert "New (1)" in text and "Fixed (1)" in text and "medium/warn → high/fail" in text
    assert d.new_at_or_above("high") and not d.new_at_or_above("critical")
    assert diff_reports(old, old) == type(d)()


def test_diff_command_exit_codes(tmp_path: Path) -> None:
    old = fleet_report()
    new = old.model_copy(update={"results": [
        *old.results, result("NET-005", "network-2", Status.fail, Severity.high, "address on bridge port")]})
    a, b = _write(old, tmp_path / "old.json"), _write(new, tmp_path / "new.json")
    runner = CliRunner()
    res = runner.invoke(diff_cmd, [str(a), str(b)])
    assert res.exit_code == 3, res.output
    assert "NET-005" in res.output
    assert runner.invoke(diff_cmd, [str(a), str(b), "--fail-on", "critical"]).exit_code == 0
    assert runner.invoke(diff_cmd, [str(b), str(a)]).exit_code == 0  # only a fix
    res = runner.invoke(diff_cmd, [str(a), str(b), "--format", "json"])
    assert [r["key"] for r in json.loads(res.output)["new"]] == ["NET-005|network-2|"]
    mutes = tmp_path / "m.yaml"
    mutes.write_text("- check: NET-005\n  reason: known\n")
    assert runner.invoke(diff_cmd, [str(a), str(b), "--mute", str(mutes)]).exit_code == 0
    bad = runner.invoke(diff_cmd, [str(a), str(tmp_path / "nope.json")])
    assert bad.exit_code == 1 and "stackrx: error:" in bad.output


def test_report_command_renders_files_with_baseline_and_mutes(tmp_path: Path) -> None:
    report = fleet_report()
    src = _write(report, tmp_path / "scan.json")
    runner = CliRunner()
    out = tmp_path / "r.sarif"
    res = runner.invoke(report_cmd, [str(src), "--format", "sarif", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert len(json.loads(out.read_text())["runs"][0]["results"]) == 6
    mutes = tmp_path / "m.yaml"
    mutes.write_text("- check: '*'\n  reason: everything is fine\n")
    res = runner.invoke(report_cmd, [str(src), "--format", "csv", "--mute", str(mutes), "--fail-on", "low"])
    assert res.exit_code == 0, res.output
    assert res.output.count(",yes,everything is fine,") == 6
    res = runner.invoke(report_cmd, [str(src), "--format", "json", "--baseline", str(src), "--fail-on", "low"])
    assert res.exit_code == 0
    assert not [r for r in ScanReport.model_validate_json(res.output).results if r.status is Status.fail]
    res = runner.invoke(report_cmd, [str(src), "--format", "table", "--fail-on", "high"])
    assert res.exit_code == 3 and "network-1" in res.output
    bad = tmp_path / "x.json"
    bad.write_text("[]")
    res = runner.invoke(report_cmd, [str(bad)])
    assert res.exit_code == 1 and "not a stackrx JSON report" in res.output
