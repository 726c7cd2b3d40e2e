"""contrib/ansible for real: ansible-playbook over loopback sshd hosts, each scanning its own node tree, then
`stackrx fleet` over the fetched JSON results must agree with `stackrx fleet` over the trees themselves.

Needs root, /usr/sbin/sshd and ansible-core (the dev extra); skipped without them unless CI=true. One test also
installs stackrx on a host from a freshly built wheel (dependencies from the node's package index).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fleet_scenarios as S
import fleet_sshd
import pytest

from stackrx.fleet.runner import FleetOptions, run_fleet
from stackrx.models import ScanReport, Status

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "contrib" / "ansible" / "stackrx-scan.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
CROSS = {"HA-F01", "NET-F01", "NET-F02", "CMP-F01", "CON-F01", "OVN-F01", "DB-F01", "NET-002"}


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required test component missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fleet_sshd.SshdLab]:
    if not ANSIBLE_PLAYBOOK.is_file():
        _missing(f"{ANSIBLE_PLAYBOOK} missing (ansible-core, the dev extra)")
    reason = fleet_sshd.available()
    if reason:
        _missing(reason)
    lab = fleet_sshd.SshdLab(tmp_path_factory.mktemp("sshd"))
    try:
        yield lab
    finally:
        lab.stop()


def run_playbook(lab: fleet_sshd.SshdLab, hosts: dict[str, dict[str, object]], work: Path,
                 timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """ansible-playbook on these hosts (name -> host vars), one loopback sshd each; results in work/results."""
    servers = {name: lab.start(name) for name in hosts}
    inventory = {"all": {"hosts": {
        name: {"ansible_host": "127.0.0.1", "ansible_port": servers[name].port, "ansible_user": "root",
               "ansible_ssh_private_key_file": str(lab.client_key), "ansible_python_interpreter": "/usr/bin/python3",
               **hostvars}
        for name, hostvars in hosts.items()}}}
    (work / "inventory.yml").write_text(json.dumps(inventory))  # JSON is YAML, and keeps the types
    known = lab.known_hosts(work / "known_hosts", list(servers.values()))
    for sub in ("home", "local-tmp", "remote-tmp"):
        (work / sub).mkdir()
    env = dict(os.environ, ANSIBLE_HOME=str(work / "home"), ANSIBLE_LOCAL_TEMP=str(work / "local-tmp"),
               ANSIBLE_REMOTE_TEMP=str(work / "remote-tmp"), ANSIBLE_PIPELINING="True", ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_HOST_KEY_CHECKING="True",
               # No ControlPersist master may outlive the run (it would survive the sshd and its host key).
               ANSIBLE_SSH_ARGS=f"-o ControlMaster=no -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes")
    env.pop("ANSIBLE_CONFIG", None)
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(work / "inventory.yml"), str(PLAYBOOK),
                           "-e", json.dumps({"stackrx_results_dir": str(work / "results"), "stackrx_become": False})],
                          cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def cross_findings(report: ScanReport) -> set[tuple[str, str, str]]:
    return {(r.check_id, r.host, r.status.value) for r in report.results
            if r.check_id in CROSS and r.status in (Status.fail, Status.warn)}


def test_playbook_results_feed_fleet_like_the_trees_do(lab: fleet_sshd.SshdLab, tmp_path: Path) -> None:
    trees = S.healthy("compute-1", "compute-2", "compute-3")
    S.shared_instances(trees["compute-1"], trees["compute-2"])
    S.uplink_mtu(trees["compute-2"], 1400)
    S.system_id(trees["compute-3"], "compute-1")
    nodes = S.write(trees, tmp_path / "nodes")
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    hosts: dict[str, dict[str, object]] = {
        name: {"stackrx_install": False, "stackrx_venv": sys.prefix, "stackrx_scan_target": str(nodes / name),
               # All hosts share this machine's filesystem: each keeps its results apart.
               "stackrx_workdir": str(tmp_path / "on-node" / name)}
        for name in trees}
    hosts["compute-1"]["stackrx_textfile_dir"] = str(textfiles)
    proc = run_playbook(lab, hosts, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"compute-2\s*: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", proc.stdout)

    results = tmp_path / "results"
    assert sorted(p.name for p in results.iterdir()) == ["compute-1.json", "compute-2.json", "compute-3.json"]
    assert ScanReport.model_validate_json((results / "compute-2.json").read_text()).hosts[0].name == "compute-2"
    via_ansible = run_fleet([str(results)], FleetOptions(workers=1)).report
    direct = run_fleet([str(nodes)], FleetOptions(workers=1)).report
    expected = cross_findings(direct)
    assert {c for c, _h, _s in expected} >= {"CMP-F01", "NET-F01", "OVN-F01"}, expected
    assert cross_findings(via_ansible) == expected
    assert not [r for r in via_ansible.results if r.status is Status.error]

    # Only the host given a textfile directory publishes one, and it is node_exporter's format.
    prom = (textfiles / "stackrx.prom").read_text()
    assert "# TYPE stackrx_" in prom and 'host="compute-1"' in prom
    assert [p.name for p in textfiles.iterdir()] == ["stackrx.prom"]


def test_playbook_installs_stackrx_from_a_wheel(lab: fleet_sshd.SshdLab, tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        _missing("uv missing (builds the wheel the playbook installs)")
    assert uv is not None
    dist = tmp_path / "dist"
    subprocess.run([uv, "build", "--wheel", "--quiet", "-o", str(dist), str(REPO)], check=True, timeout=120,
                   capture_output=True)
    wheel = next(dist.glob("stackrx-*.whl"))
    venv = tmp_path / "venv"
    node = S.write(S.healthy("compute-3"), tmp_path / "nodes") / "compute-3"
    proc = run_playbook(lab, {"compute-3": {"stackrx_package": str(wheel), "stackrx_venv": str(venv),
                                            "stackrx_python": "/usr/bin/python3",
                                            "stackrx_scan_target": str(node),
                                            "stackrx_workdir": str(tmp_path / "on-node")}}, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert (venv / "bin" / "stackrx").is_file() and (venv / "dist" / wheel.name).is_file()
    installed = subprocess.run([str(venv / "bin" / "stackrx"), "--version"], capture_output=True, text=True,
                               check=True, timeout=60)
    assert installed.stdout.strip().endswith(wheel.name.split("-")[1])
    report = ScanReport.model_validate_json((tmp_path / "results" / "compute-3.json").read_text())
    assert [h.name for h in report.hosts] == ["compute-3"] and report.results
