"""The live view end to end, inside real network namespaces: `ip netns exec NS stackrx scan` sees only NS.

A faulty namespace keeps the host address on a veth that is a Linux-bridge port (NET-005) and has proxy ARP
on; its clean twin has the address on the bridge and proxy ARP off. The scan runs through the CLI contract:
JSON report on stdout, exit 3 when a finding is at or above --fail-on (high), 0 otherwise.

SEC-001 never counts a veth as a host uplink (veths are namespace/container plumbing, like neutron's qr-/fg-
devices), and this kernel may lack the bond/VLAN drivers that would make an uplink inside a namespace; so the
faulty namespace also sets `net.ipv4.conf.all.proxy_arp = 1`, which SEC-001 flags on any host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stackrx.engine import load_all_checks

pytestmark = pytest.mark.live

IP = shutil.which("ip") or shutil.which("ip", path="/usr/sbin:/sbin")
CHECKS = ("NET-005", "SEC-001")
_WRITE_PROC = "import sys\nfor p, v in zip(sys.argv[1::2], sys.argv[2::2]):\n    open(p, 'w').write(v)\n"


def _ip(*args: str) -> None:
    assert IP is not None
    subprocess.run([IP, *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[Callable[[str], str]]:
    """Create namespaces on demand; every one created is deleted afterwards, whatever the test did."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    if IP is None:
        pytest.skip("iproute2 `ip` is not installed")
    missing = [c for c in CHECKS if c not in load_all_checks()]
    if missing:
        pytest.skip(f"checks not implemented yet: {', '.join(missing)}")
    created: list[str] = []

    def make(tag: str) -> str:
        name = f"stackrx-t{os.getpid()}-{tag}"
        try:
            _ip("netns", "add", name)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"`ip netns add` is not permitted here: {exc.stderr.strip()}")
        created.append(name)
        return name

    try:
        yield make
    finally:
        for name in created:
            subprocess.run([IP, "netns", "delete", name], capture_output=True, timeout=30)


def _bridge_with_veth_port(ns: str) -> None:
    try:
        _ip("-n", ns, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b")
        _ip("-n", ns, "link", "add", "br-t", "type", "bridge")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"veth/bridge devices are not available: {exc.stderr.strip()}")
    _ip("-n", ns, "link", "set", "veth-a", "master", "br-t")
    for dev in ("lo", "veth-a", "veth-b", "br-t"):
        _ip("-n", ns, "link", "set", dev, "up")


def _set_proc(ns: str, values: dict[str, str]) -> None:
    assert IP is not None
    args = [arg for key, value in values.items() for arg in (f"/proc/sys/net/ipv4/conf/{key}", value)]
    subprocess.run([IP, "netns", "exec", ns, sys.executable, "-c", _WRITE_PROC, *args], check=True,
                   timeout=30)


def _scan_in(ns: str) -> tuple[int, dict[str, Any]]:
    assert IP is not None
    proc = subprocess.run([IP, "netns", "exec", ns, sys.executable, "-m", "stackrx", "scan",
                           "--only", ",".join(CHECKS), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 3), f"exit {proc.returncode}: {proc.stderr}"
    report: dict[str, Any] = json.loads(proc.stdout)
    assert set(report) >= {"tool", "version", "target", "hosts", "results"}
    assert report["hosts"][0]["kind"] == "live"
    return proc.returncode, report


def _by_check(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in CHECKS}
    for result in report["results"]:
        assert {"check_id", "status", "severity", "message", "evidence"} <= set(result)
        out[result["check_id"]].append(result)
    return out


def test_faulty_namespace_fails_both_checks(netns: Callable[[str], str]) -> None:
    ns = netns("bad")
    _bridge_with_veth_port(ns)
    _ip("-n", ns, "addr", "add", "192.0.2.10/24", "dev", "veth-a")
    _set_proc(ns, {"veth-a/proxy_arp": "1", "all/proxy_arp": "1"})

    code, report = _scan_in(ns)
    results = _by_check(report)
    assert code == 3, report["results"]

    net = results["NET-005"]
    assert [r["status"] for r in net] == ["fail"], net
    assert net[0]["severity"] == "high"
    assert "veth-a" in net[0]["message"] and "192.0.2.10/24" in net[0]["message"]
    assert any(e["source"] == "cmd:ip -d address" for e in net[0]["evidence"]), net[0]["evidence"]

    sec = results["SEC-001"]
    assert sec and all(r["status"] in ("fail", "warn") for r in sec), sec
    assert any("proxy_arp" in e.get("excerpt", "") for r in sec for e in r["evidence"]), sec


def test_clean_namespace_passes_both_checks(netns: Callable[[str], str]) -> None:
    ns = netns("good")
    _bridge_with_veth_port(ns)
    _ip("-n", ns, "addr", "add", "192.0.2.20/24", "dev", "br-t")
    _set_proc(ns, {"veth-a/proxy_arp": "0", "br-t/proxy_arp": "0", "all/proxy_arp": "0"})

    code, report = _scan_in(ns)
    results = _by_check(report)
    assert code == 0, report["results"]
    for check_id in CHECKS:
        assert [r["status"] for r in results[check_id]] == ["pass"], results[check_id]
