"""`stackrx fleet` over SSH for real: loopback OpenSSH servers, the CLI run as a child process.

The lab: five chrooted sftp-only sshds, each serving a demo node tree with cross-node faults planted (file
evidence only), one unchrooted sshd where the allow-listed commands really run, a port that accepts and never
speaks, a closed port, a chrooted sshd in its own PID namespace killed while its evidence is being read, and
one whose ChrootDirectory is unusable (sessions die right after login).

Needs root and /usr/sbin/sshd (Debian openssh-server); skipped without them unless CI=true. The injection
test through an Ansible inventory also needs ansible-inventory (the dev extra).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import fleet_scenarios as S
import fleet_sshd
import pytest

from stackrx.fleet.analyse import HOST_CHECK
from stackrx.fleet.evidence import COLLECT_META, command_path
from stackrx.fleet.runner import dir_names
from stackrx.fleet.targets import parse_host_line

CROSS = {"HA-F01", "NET-F01", "NET-F02", "CMP-F01", "CON-F01", "OVN-F01", "DB-F01", "NET-002"}
CHROOTED = ("network-1", "network-2", "compute-1", "compute-2", "compute-3")
EXPECTED = {("HA-F01", "network-1", "critical"), ("HA-F01", "network-2", "critical"),
            ("NET-F01", "compute-2", "high"), ("CMP-F01", "compute-1", "critical"),
            ("CMP-F01", "compute-2", "critical"), ("OVN-F01", "compute-1", "critical"),
            ("OVN-F01", "compute-3", "critical")}
TIMEOUTS = ("--connect-timeout", "3", "--command-timeout", "5", "--host-timeout", "25")
WALL_BOUND_S = 35.0
"""The main run: hosts collected in parallel, the slowest bounded by --host-timeout (25 s), plus start-up."""
BULK_FILES = 1500
"""Files in the killed host's tree, so that its collection is still reading when the kill comes."""


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required test component missing in CI: {reason}")
    pytest.skip(reason)


def stackrx(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "stackrx", *args], capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    return proc, time.monotonic() - started


def host_line(port: int, user: str = "root") -> str:
    return f"{user}@127.0.0.1:{port}"


def inventory_name(port: int) -> str:
    return f"127.0.0.1:{port}"


def saved_dir(save: Path, port: int) -> Path:
    host = parse_host_line(host_line(port))
    assert host is not None
    return save / dir_names([host])[host.name]


def cross_findings(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(r["check_id"], r["host"], r["severity"]) for r in report["results"]
            if r["check_id"] in CROSS and r["status"] in ("fail", "warn")}


def host_errors(report: dict[str, Any]) -> dict[str, str]:
    return {r["host"]: r["message"] for r in report["results"]
            if r["check_id"] == HOST_CHECK and r["status"] == "error"}


def _tcp_established(port: int) -> bool:
    """A server-side TCP connection on this loopback port is open (the client got through to it)."""
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            local, _remote, state = line.split()[1:4]
            if int(local.split(":")[1], 16) == port and state == "01":
                return True
    return False


@dataclass
class Lab:
    lab: fleet_sshd.SshdLab
    nodes: dict[str, fleet_sshd.Sshd]
    live: fleet_sshd.Sshd
    killed: fleet_sshd.Sshd
    broken: fleet_sshd.Sshd
    known_hosts: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = fleet_sshd.available()
    if reason:
        _missing(reason)
    work = tmp_path_factory.mktemp("sshd")
    sshd_lab = fleet_sshd.SshdLab(work)
    try:
        trees = S.healthy(*CHROOTED)
        S.second_primary(trees["network-2"], trees["network-1"])
        S.uplink_mtu(trees["compute-2"], 1400)
        S.shared_instances(trees["compute-1"], trees["compute-2"])
        S.system_id(trees["compute-3"], "compute-1")
        nodes = {name: sshd_lab.start(name, chroot=S.as_node_root(tree, sshd_lab.chroot_dir(name)))
                 for name, tree in trees.items()}
        killed_root = sshd_lab.chroot_dir("killed-1")
        (killed_root / "etc" / "ceilometer" / "bulk").mkdir(parents=True)
        (killed_root / "etc" / "hostname").write_text("killed-1\n")
        for i in range(BULK_FILES):
            (killed_root / "etc" / "ceilometer" / "bulk" / f"part-{i:04d}.yaml").write_text(f"part: {i}\n")
        killed = sshd_lab.start("killed-1", chroot=killed_root, pid_ns=True)
        live = sshd_lab.start("live")
        # The chroot trap: a ChrootDirectory under /tmp (world-writable) kills every session after login.
        broken_root = work / "broken-root"
        (broken_root / "etc").mkdir(parents=True)
        (broken_root / "etc" / "hostname").write_text("broken-1\n")
        broken = sshd_lab.start("broken", chroot=broken_root)
        known = sshd_lab.known_hosts(work / "known_hosts", [*nodes.values(), live, killed, broken])
        yield Lab(sshd_lab, nodes, live, killed, broken, known)
    finally:
        sshd_lab.stop()


@dataclass
class MainRun:
    proc: subprocess.CompletedProcess[str]
    wall: float
    report: dict[str, Any]
    save: Path
    silent: int
    closed: int
    killed_while_collecting: bool


def _kill_while_collecting(server: fleet_sshd.Sshd, tree: Path, done: threading.Event) -> threading.Thread:
    """Kill the server once the run is reading its files (some bulk files saved already, most still to come)."""

    def watch() -> None:
        bulk = tree / "etc" / "ceilometer" / "bulk"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if bulk.is_dir() and sum(1 for _ in bulk.iterdir()) >= 20 and _tcp_established(server.port):
                server.kill()
                done.set()
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def main_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> MainRun:
    work = tmp_path_factory.mktemp("main")
    silent = lab.lab.silent_port()
    closed = fleet_sshd.free_port()
    ports = [*(s.port for s in lab.nodes.values()), lab.live.port, lab.killed.port, lab.broken.port, silent, closed]
    hosts = work / "hosts.txt"
    hosts.write_text("".join(host_line(p) + "\n" for p in ports))
    save = work / "save"
    killed = threading.Event()
    watcher = _kill_while_collecting(lab.killed, saved_dir(save, lab.killed.port), killed)
    out = work / "report.json"
    proc, wall = stackrx("fleet", str(hosts), "-i", str(lab.lab.client_key), "--known-hosts", str(lab.known_hosts),
                         "--save", str(save), *TIMEOUTS, "--workers", "2", "--format", "json", "-o", str(out))
    watcher.join(timeout=5)
    assert out.is_file(), proc.stderr[-3000:]
    return MainRun(proc, wall, json.loads(out.read_text()), save, silent, closed, killed.is_set())


def test_cross_node_faults_found_over_chrooted_sftp_nodes(main_run: MainRun, lab: Lab) -> None:
    assert main_run.proc.returncode == 3, main_run.proc.stderr[-3000:]
    assert cross_findings(main_run.report) == EXPECTED
    ha = [r for r in main_run.report["results"] if r["check_id"] == "HA-F01" and r["status"] == "fail"]
    assert all("active on 2 hosts" in r["message"] and "split brain" in r["message"] for r in ha), ha
    assert {h["name"] for h in main_run.report["hosts"]} >= set(CHROOTED)
    for name, server in lab.nodes.items():
        meta = json.loads((saved_dir(main_run.save, server.port) / COLLECT_META).read_text())
        # sftp only: commands refused by the server, every one recorded as not collected.
        assert meta["status"] == "complete" and meta["commands"] == [], name
        assert meta["missing_commands"]["uname -a"].startswith("commands unavailable"), name
        assert meta["files"] > 10, name


def test_live_host_runs_the_allow_listed_commands(main_run: MainRun, lab: Lab) -> None:
    tree = saved_dir(main_run.save, lab.live.port)
    meta = json.loads((tree / COLLECT_META).read_text())
    assert meta["status"] == "complete", meta
    assert {"hostname", "uname -a", "ip -d address"} <= set(meta["commands"])
    assert (tree / command_path("uname -a")).read_text().split()[:2] == [os.uname().sysname, os.uname().nodename]
    assert "127.0.0.1" in (tree / command_path("ip -d address")).read_text()
    live = os.uname().nodename
    assert live in {h["name"] for h in main_run.report["hosts"]}
    assert live not in host_errors(main_run.report)


def test_dead_hosts_are_their_own_errors_within_the_timeouts(main_run: MainRun, lab: Lab) -> None:
    errors = host_errors(main_run.report)
    assert "timed out" in errors[inventory_name(main_run.silent)]
    assert errors[inventory_name(main_run.closed)] == "connection refused"
    assert main_run.killed_while_collecting
    killed_tree = saved_dir(main_run.save, lab.killed.port)
    meta = json.loads((killed_tree / COLLECT_META).read_text())
    assert meta["status"] == "partial" and meta["error"], meta
    assert meta["files"] < BULK_FILES
    # Checked on what was read, and flagged: the node's own name, the reason, how much was collected.
    assert errors["killed-1"].startswith("collection partial: ") and "files" in errors["killed-1"]
    # Logged in, but neither a shell nor sftp: no evidence at all is a failed host, not an empty "complete" one.
    broken = errors[inventory_name(lab.broken.port)]
    assert broken.startswith("nothing collected: ") and "sftp unavailable" in broken, broken
    assert len(errors) == 4, errors
    assert main_run.wall < WALL_BOUND_S, main_run.wall


def test_saved_trees_give_the_same_findings_offline(main_run: MainRun, tmp_path: Path) -> None:
    out = tmp_path / "offline.json"
    proc, _wall = stackrx("fleet", str(main_run.save), "--workers", "2", "--format", "json", "-o", str(out))
    assert proc.returncode == 3, proc.stderr[-3000:]
    offline = json.loads(out.read_text())
    assert cross_findings(offline) == cross_findings(main_run.report) == EXPECTED
    assert host_errors(offline).keys() == host_errors(main_run.report).keys()
    # --fail-on critical: the split brain (critical) still fails the run; high findings and dead hosts alone
    # (NET-F01 is high, FLEET-HOST errors are high) do not.
    proc, _wall = stackrx("fleet", str(main_run.save), "--workers", "2", "--fail-on", "critical",
                          "--only", "HA-F01")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    proc, _wall = stackrx("fleet", str(main_run.save), "--workers", "2", "--fail-on", "critical",
                          "--only", "NET-F01")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "NET-F01" in proc.stdout and "compute-2" in proc.stdout


def test_host_keys_changed_stay_refused_unknown_only_with_opt_in(lab: Lab, tmp_path: Path) -> None:
    changed, unknown = lab.nodes["compute-3"], lab.nodes["network-1"]
    known = tmp_path / "known_hosts"
    wrong = asyncssh.generate_private_key("ssh-ed25519")
    known.write_text(changed.known_hosts_line(wrong) + lab.live.known_hosts_line())
    recorded = known.read_text()
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(f"{host_line(changed.port)}\n{host_line(unknown.port)}\n")
    args = ("fleet", str(hosts), "-i", str(lab.lab.client_key), "--known-hosts", str(known), *TIMEOUTS,
            "--workers", "1", "--only", "OVN-F01", "--format", "json")

    proc, _wall = stackrx(*args)
    assert proc.returncode == 3, proc.stderr[-2000:]
    errors = host_errors(json.loads(proc.stdout))
    assert set(errors) == {inventory_name(changed.port), inventory_name(unknown.port)}
    assert all(m.startswith("host key not verified") for m in errors.values()), errors
    assert known.read_text() == recorded

    proc, _wall = stackrx(*args, "--accept-new-host-keys")
    report = json.loads(proc.stdout)
    errors = host_errors(report)
    assert list(errors) == [inventory_name(changed.port)] and "host key not verified" in next(iter(errors.values()))
    assert "network-1" in {h["name"] for h in report["hosts"]}
    # The new host is recorded with the key it showed; the changed one keeps its (wrong) entry, nothing added.
    assert known.read_text() == recorded + unknown.known_hosts_line()


def _planted(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.rglob("pwned*"))


def test_shell_syntax_in_host_lists_is_refused(lab: Lab, tmp_path: Path) -> None:
    mark = tmp_path / "pwned"
    live = lab.live.port
    spaced = tmp_path / "spaced.txt"
    spaced.write_text(f"127.0.0.1;touch {mark}-a:{live}\n")
    proc, _wall = stackrx("fleet", str(spaced), "-i", str(lab.lab.client_key), "--known-hosts",
                          str(lab.known_hosts), *TIMEOUTS)
    # Not a host list (a space), so it is read as an INI inventory, which does not parse: a usage error.
    assert proc.returncode == 1 and proc.stderr.startswith(f"stackrx: error: {spaced}"), proc.stderr

    hosts = tmp_path / "hosts.txt"
    # Distinct ports: entries naming the same host and port are one host (the first one listed).
    hosts.write_text(f"root@127.0.0.1;touch${{IFS}}{mark}-b:{live}\n"
                     f"root$(touch${{IFS}}{mark}-c)@127.0.0.1:{live}\n"
                     f"root`touch${{IFS}}{mark}-d`@localhost:{live}\n")
    proc, _wall = stackrx("fleet", str(hosts), "-i", str(lab.lab.client_key), "--known-hosts",
                          str(lab.known_hosts), *TIMEOUTS, "--format", "json", "--save", str(tmp_path / "save"))
    assert proc.returncode == 3, proc.stderr[-2000:]
    errors = host_errors(json.loads(proc.stdout))
    assert len(errors) == 3 and all(m.startswith("refused: ") for m in errors.values()), errors
    assert _planted(tmp_path) == []


def test_shell_syntax_in_an_ansible_inventory(lab: Lab, tmp_path: Path) -> None:
    ansible = Path(sys.executable).with_name("ansible-inventory")
    if not ansible.is_file():
        _missing(f"{ansible} missing (ansible-core, the dev extra)")
    mark = tmp_path / "pwned"
    common = {"ansible_port": lab.live.port, "ansible_ssh_private_key_file": str(lab.lab.client_key)}
    literal = f"$(touch {mark}-name)"
    inventory = {"all": {"hosts": {
        "bad-address": {**common, "ansible_host": f"127.0.0.1;touch {mark}-address", "ansible_user": "root"},
        "bad-user": {**common, "ansible_host": "127.0.0.1", "ansible_user": f"root$(touch {mark}-user)"},
        # Only a label: the connection uses ansible_host, so this one is collected, the name kept as text.
        literal: {**common, "ansible_host": "127.0.0.1", "ansible_user": "root"},
    }}}
    inv = tmp_path / "inventory.yml"
    inv.write_text(json.dumps(inventory))
    save = tmp_path / "save"
    proc, _wall = stackrx("fleet", str(inv), "--known-hosts", str(lab.known_hosts), *TIMEOUTS, "--only", "OVN-F01",
                          "--workers", "1", "--format", "json", "--save", str(save))
    assert proc.returncode == 3, proc.stderr[-2000:]
    errors = host_errors(json.loads(proc.stdout))
    assert set(errors) == {"bad-address", "bad-user"}, errors
    assert all(m.startswith("refused: ") for m in errors.values())
    saved = [p for p in save.iterdir() if (p / COLLECT_META).is_file()]
    assert len(saved) == 1 and saved[0].parent == save
    meta = json.loads((saved[0] / COLLECT_META).read_text())
    assert meta["inventory_name"] == literal and meta["status"] == "complete" and "uname -a" in meta["commands"]
    assert _planted(tmp_path) == []
