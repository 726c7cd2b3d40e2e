"""`stackrx fleet` end to end over node trees, tarballs and per-node JSON results (no network)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import fleet_scenarios as S
import pytest
from click.testing import CliRunner

from stackrx.cli import cli
from stackrx.commands.fleet import fleet
from stackrx.demo.cloud import DemoNode, build_node
from stackrx.fleet.analyse import HOST_CHECK
from stackrx.fleet.runner import FleetOptions, run_fleet
from stackrx.models import ScanReport, Severity, Status
from stackrx.runner import run_scan

CROSS = {"HA-F01", "NET-F01", "NET-F02", "CMP-F01", "CON-F01", "OVN-F01", "DB-F01", "NET-002"}
# The command as `stackrx fleet` once the CLI wires it (add_command is idempotent here).
MAIN = ("import sys; from stackrx.cli import cli, main; from stackrx.commands.fleet import fleet; "
        "'fleet' in cli.commands or cli.add_command(fleet); main(sys.argv[1:])")


def faulty_cloud() -> dict[str, S.NodeTree]:
    trees = S.healthy()
    S.second_primary(trees["network-2"], trees["network-1"])
    S.uplink_mtu(trees["compute-2"], 1400)
    S.shared_instances(trees["compute-1"], trees["compute-2"])
    S.system_id(trees["compute-3"], "compute-1")
    return trees


def cross_findings(report: ScanReport) -> set[tuple[str, str]]:
    return {(r.check_id, r.host) for r in report.results
            if r.check_id in CROSS and r.status in (Status.fail, Status.warn)}


EXPECTED = {("HA-F01", "network-1"), ("HA-F01", "network-2"), ("NET-F01", "compute-2"),
            ("CMP-F01", "compute-1"), ("CMP-F01", "compute-2"), ("OVN-F01", "compute-1"), ("OVN-F01", "compute-3")}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return S.write(faulty_cloud(), tmp_path_factory.mktemp("fleet") / "nodes")


def test_directory_of_sosreports(cloud: Path) -> None:
    run = run_fleet([str(cloud)], FleetOptions(workers=2))
    report = run.report
    assert [h.name for h in report.hosts] == sorted(S.BY_NAME)
    assert cross_findings(report) == EXPECTED
    roles = {h.name: h.facts["fleet"]["roles"] for h in report.hosts}
    assert roles["network-1"] == ["network"] and roles["storage-1"] == ["storage"]
    # The per-node checks ran too (the same scan_view a node scan runs).
    assert any(r.check_id == "NET-004" and r.host == "compute-2" and r.status is Status.fail for r in report.results)
    assert not [r for r in report.results if r.status is Status.error]


def test_json_results_give_the_same_cross_node_findings(cloud: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    for node in sorted(cloud.iterdir()):
        (results / f"{node.name}.json").write_text(run_scan(str(node)).model_dump_json())
    report = run_fleet([str(results)], FleetOptions(workers=1)).report
    assert cross_findings(report) == EXPECTED
    # An earlier fleet report as input: its cross-node results are recomputed, not duplicated.
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "fleet.json").write_text(report.model_dump_json())
    again = run_fleet([str(tmp_path / "again")], FleetOptions(workers=1)).report
    assert sorted(r.key for r in again.results if r.check_id in CROSS) == sorted(
        r.key for r in report.results if r.check_id in CROSS)


def test_tarball_and_a_broken_input_are_one_host_each(tmp_path: Path) -> None:
    # Two different machines that share a hostname (a cloned image): one unpacked, one as a tarball.
    nodes = S.write(S.healthy("compute-1"), tmp_path / "nodes")
    (nodes / "compute-1").rename(nodes / "compute-1-dir")
    clone = S.write({"compute-1": build_node(DemoNode("compute-1", "compute", "10.0.0.99", ()))}, tmp_path / "clone")
    shutil.make_archive(str(nodes / "compute-3-sosreport"), "xztar", root_dir=clone, base_dir="compute-1")
    (tmp_path / "nodes" / "junk.json").write_text("{not json")
    report = run_fleet([str(nodes)], FleetOptions(workers=1)).report
    names = sorted(h.name for h in report.hosts)
    assert names == ["compute-1@compute-1-dir", "compute-1@compute-3-sosreport", "junk"]
    junk = [r for r in report.results if r.host == "junk"]
    assert [(r.check_id, r.status) for r in junk] == [(HOST_CHECK, Status.error)]
    assert "not a stackrx JSON report" in junk[0].message


def test_the_same_node_given_twice_counts_once(tmp_path: Path) -> None:
    tree = S.node("compute-1")
    root = tmp_path / "nodes"
    tree.write(root / "compute-1")
    tree.write(root / "compute-1-again")
    report = run_fleet([str(root)], FleetOptions(workers=1)).report
    assert [h.name for h in report.hosts] == ["compute-1"]
    note = [r for r in report.results if r.check_id == HOST_CHECK]
    assert [(n.status, n.severity) for n in note] == [(Status.warn, Severity.low)]
    assert not [r for r in report.results if r.check_id == "OVN-F01" and r.status is Status.fail]


def test_cli_table_json_and_exit_codes(cloud: Path, tmp_path: Path) -> None:
    if "fleet" not in cli.commands:
        cli.add_command(fleet)
    runner = CliRunner()
    out = runner.invoke(cli, ["fleet", str(cloud), "--workers", "1"])
    assert out.exit_code == 3, out.output
    assert "findings by check" in out.output and "HA-F01" in out.output and "network-1" in out.output
    path = tmp_path / "fleet.json"
    out = runner.invoke(cli, ["fleet", str(cloud), "--workers", "1", "--only", "OVN-F01", "--format", "json",
                              "-o", str(path)])
    assert out.exit_code == 3
    report = ScanReport.model_validate_json(path.read_text())
    assert {r.check_id for r in report.results} == {"OVN-F01"}
    out = runner.invoke(cli, ["fleet", str(cloud), "--workers", "1", "--only", "OVN-F01", "--fail-on", "critical",
                              "--skip", "OVN-F01"])
    assert out.exit_code == 1 and "no check to run" in out.output
    healthy = S.write(S.healthy("compute-3", "storage-1"), tmp_path / "healthy")
    out = runner.invoke(cli, ["fleet", str(healthy), "--workers", "1", "--fail-on", "critical"])
    assert out.exit_code == 0, out.output


def test_real_compute4_gives_no_errors(compute4: Path) -> None:
    report = run_fleet([str(compute4)], FleetOptions(workers=1)).report
    assert not [(r.check_id, r.message) for r in report.results if r.status is Status.error]
    statuses = {r.check_id: r.status for r in report.results if r.check_id in CROSS}
    # One node: nothing to compare, and nothing wrong with it alone.
    assert set(statuses.values()) <= {Status.passed, Status.skipped}, statuses


def test_ctrl_c_still_writes_the_report(tmp_path: Path) -> None:
    import socket

    listeners = []
    for _ in range(3):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        listeners.append(s)
    hosts = tmp_path / "hosts.txt"
    hanging = {f"127.0.0.1:{s.getsockname()[1]}" for s in listeners}
    hosts.write_text("".join(f"{h}\n" for h in sorted(hanging)))
    nodes = S.write(S.healthy("compute-1"), tmp_path / "nodes")
    out = tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-c", MAIN, "fleet", str(hosts), str(nodes), "--connect-timeout", "60",
                             "--format", "json", "-o", str(out), "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    accepted = []
    try:
        # Interrupt only once the run is under way: every host has connected (and hangs in its handshake).
        for s in listeners:
            s.settimeout(60)
            accepted.append(s.accept()[0])
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
        assert time.monotonic() - started < 10
    finally:
        proc.kill()
        for s in listeners + accepted:
            s.close()
    assert proc.returncode == 1, err
    assert b"interrupted" in err
    report = json.loads(out.read_text())
    assert {h["name"] for h in report["hosts"]} >= {"compute-1"}
    interrupted = {r["host"] for r in report["results"]
                   if r["check_id"] == HOST_CHECK and "interrupted" in r["message"]}
    assert hanging <= interrupted
    # The local node may or may not have been analysed when the signal came; either way it is accounted for.
    analysed = {r["host"] for r in report["results"] if r["check_id"] != HOST_CHECK}
    assert "compute-1" in analysed or "compute-1" in interrupted
