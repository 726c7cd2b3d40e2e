"""The command line as an operator meets it: help, exit codes, JSON by the schema, the real node, the demo."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema

from stackrx.models import ScanReport, Severity, Status

PY = sys.executable


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([PY, "-m", "stackrx", *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=env)


def test_help_is_fast_and_teaches() -> None:
    best = min(_timed(["--help"]) for _ in range(5))
    assert best < 0.3, f"stackrx --help took {best:.2f}s"
    out = run("scan", "--help").stdout
    for word in ("--fail-on", "--only", "sosreport", "Exit codes", "Examples"):
        assert word in out


def _timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([PY, "-m", "stackrx", *args], capture_output=True, check=True)
    return time.perf_counter() - start


def test_usage_errors_exit_1_without_traceback(tmp_path: Path) -> None:
    for args in (["scan", str(tmp_path / "missing")], ["scan", "--bogus"], ["checks", "show", "NOPE-999"],
                 ["scan", str(tmp_path)]):
        proc = run(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip(), "a one-line reason is printed"


def test_compute4_json_matches_schema_and_has_no_errors(compute4: Path) -> None:
    proc = run("scan", str(compute4), "--format", "json")
    assert proc.returncode in (0, 3), proc.stderr
    data = json.loads(proc.stdout)
    jsonschema.validate(data, ScanReport.model_json_schema())
    report = ScanReport.model_validate(data)
    assert {"tool", "version", "target", "hosts", "results"} <= data.keys()
    assert len(report.results) >= 13
    errors = [r for r in report.results if r.status is Status.error]
    assert not errors, [(r.check_id, r.message) for r in errors]
    assert report.hosts[0].name == "compute4"


def test_schema_command_prints_the_model_schema() -> None:
    proc = run("schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == json.loads(json.dumps(ScanReport.model_json_schema()))


def test_only_and_skip_select_by_id_and_area(compute4: Path) -> None:
    data = json.loads(run("scan", str(compute4), "--format", "json", "--only", "net", "--skip", "NET-003").stdout)
    ids = {r["check_id"] for r in data["results"]}
    assert ids and all(i.startswith("NET-") for i in ids) and "NET-003" not in ids


def test_demo_finds_every_planted_fault_and_twins_stay_clean() -> None:
    from stackrx.demo.cloud import NODES

    proc = run("scan", "--demo", "--format", "json")
    assert proc.returncode == 3, proc.stderr
    report = ScanReport.model_validate_json(proc.stdout)
    assert not [r for r in report.results if r.status is Status.error]
    findings: dict[str, set[str]] = {}
    for r in report.results:
        if r.status in (Status.fail, Status.warn) and r.severity.rank >= Severity.medium.rank:
            findings.setdefault(r.host, set()).add(r.check_id)
    for node in NODES:
        got = findings.get(node.name, set())
        assert set(node.faults) <= got, f"{node.name}: planted {node.faults}, found {sorted(got)}"
        assert got <= set(node.faults), f"{node.name}: unexpected findings {sorted(got - set(node.faults))}"


def test_demo_table_lists_planted_faults() -> None:
    proc = run("scan", "--demo")
    assert proc.returncode == 3
    for check_id in ("NET-001", "CMP-001", "HA-001", "OVN-001", "TEL-001"):
        assert check_id in proc.stdout


def test_output_file_and_no_secrets(tmp_path: Path, compute4: Path) -> None:
    tree = tmp_path / "node"
    shutil.copytree(compute4, tree, symlinks=True)
    nova = tree / "etc" / "nova" / "nova.conf"
    nova.chmod(0o644)
    nova.write_text(nova.read_text() + "\n[database]\nconnection = mysql+pymysql://nova:Sup3rS3cret@db/nova\n"
                    "[DEFAULT]\ntransport_url = rabbit://openstack:Rabb1tPw@10.0.0.1:5672/\n")
    out = tmp_path / "r.json"
    proc = run("scan", str(tree), "--format", "json", "--output", str(out))
    assert proc.returncode in (0, 3), proc.stderr
    text = out.read_text()
    assert "Sup3rS3cret" not in text and "Rabb1tPw" not in text


def test_every_check_names_the_function_that_implements_it() -> None:
    """`checks list --format json` and `checks show` give a path and function a newcomer can open."""
    root = Path(__file__).resolve().parents[1]
    result = run("checks", "list", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert rows and all(row["code"] for row in rows)
    for row in rows:
        for where in row["code"]:
            path, func = where.split("::")
            assert re.search(rf"^def {re.escape(func)}\(", (root / path).read_text(), re.MULTILINE), where
    shared = {row["id"]: row["code"] for row in rows}["HA-F01"]
    assert len(shared) == 2 and any("checks/fleet.py::" in w for w in shared)  # API half and cross-node half
    assert "code: src/stackrx/checks/net.py::" in run("checks", "show", "NET-007").stdout
