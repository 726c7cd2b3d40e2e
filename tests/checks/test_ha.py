from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from stackrx.demo.areas import ovn_ha
from stackrx.demo.builder import Interface, NodeTree, render_ip_address
from stackrx.models import Result, Severity, Status
from testkit import failing, scan_dir, scan_tree

RID = "0b7c1e2d-3f4a-4b5c-8d6e-7f8091a2b3c4"
HA_CONFS = "var/lib/neutron/ha_confs"
PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
CONF = """vrrp_instance VR_3 {
    state BACKUP
    interface ha-aaaa
    virtual_router_id 3
    virtual_ipaddress {
        169.254.0.3/24 dev ha-aaaa
    }
    virtual_ipaddress_excluded {
        172.24.4.10/24 dev qg-bbbb
        10.1.0.1/24 dev qr-cccc
        fe80::f816:3eff:fe00:1/64 dev qr-cccc scope link
    }
    virtual_routes {
        0.0.0.0/0 via 172.24.4.1 dev qg-bbbb
    }
}
"""
COLLECTED = datetime(2022, 2, 10, 16, 19, 17, tzinfo=UTC)


def _router_node(state: str | None = "primary", *, addresses: bool = True, vip: bool = True,
                 keepalived: bool = True, namespace: bool = True, ps: bool = True,
                 link_local_only: bool = False) -> NodeTree:
    node = NodeTree("net-a")
    node.interfaces.append(Interface("eth0", addrs=["10.0.0.21/24"]))
    node.file(f"{HA_CONFS}/{RID}/keepalived.conf", CONF)
    if state is not None:
        node.file(f"{HA_CONFS}/{RID}/state", state)
    node.file(f"{HA_CONFS}/{RID}.pid.keepalived", "900\n")
    if ps:
        rows = ["root 1 0.0 0.0 1 1 ? Ss Feb09 0:01 /sbin/init\n"]
        if keepalived:
            rows.append(f"root 900 0.0 0.0 1 1 ? Ss Feb09 0:01 keepalived -P -f /{HA_CONFS}/{RID}/keepalived.conf "
                        f"-p /{HA_CONFS}/{RID}.pid.keepalived -r /{HA_CONFS}/{RID}.pid.keepalived-vrrp -D\n")
        node.command("ps auxwww", PS_HEADER + "".join(rows))
    if namespace:
        qr_addrs = ["fe80::f816:3eff:fe00:1/64"] if link_local_only or addresses else []
        if addresses:
            qr_addrs.insert(0, "10.1.0.1/24")
        ifaces = [
            Interface("lo", kind="loopback", addrs=["127.0.0.1/8"]),
            Interface("ha-aaaa", kind="openvswitch", addrs=["169.254.192.5/18", *(["169.254.0.3/24"] if vip else [])]),
            Interface("qr-cccc", kind="openvswitch", addrs=qr_addrs),
            Interface("qg-bbbb", kind="openvswitch", addrs=["172.24.4.10/24"] if addresses else []),
        ]
        node.namespaces[f"qrouter-{RID}"] = {"ip -d address": render_ip_address(ifaces)}
    else:
        node.namespaces["qdhcp-1"] = {"ip -d address": render_ip_address([Interface("lo", kind="loopback")])}
    return node


def test_consistent_primary_passes(tmp_path: Path) -> None:
    results = scan_tree(_router_node(), tmp_path, "HA-001")
    assert [r.status for r in results] == [Status.passed]
    assert "state primary" in results[0].message and "2/2 excluded" in results[0].message


def test_consistent_backup_passes_with_link_local_trap(tmp_path: Path) -> None:
    """fe80:: excluded entries exist on both sides: a backup keeping them is not a rogue master."""
    results = scan_tree(_router_node("backup", addresses=False, vip=False, link_local_only=True), tmp_path,
                        "HA-001")
    assert [r.status for r in results] == [Status.passed]
    assert "0/2 excluded" in results[0].message


def test_rogue_master_fails(tmp_path: Path) -> None:
    results = scan_tree(_router_node("backup"), tmp_path, "HA-001")
    (bad,) = failing(results)
    assert bad.status == Status.fail and bad.severity == Severity.high and bad.resource == RID
    assert "rogue master" in bad.message and "172.24.4.10/24 on qg-bbbb" in bad.message
    sources = [e.source for e in bad.evidence]
    assert sources[0] == f"{HA_CONFS}/{RID}/state" and bad.evidence[0].excerpt == "backup"
    assert bad.evidence[1].source == f"{HA_CONFS}/{RID}/keepalived.conf" and bad.evidence[1].line == 9
    assert "namespaces" in sources[2] and bad.evidence[2].line is not None


def test_unknown_state_with_addresses_fails(tmp_path: Path) -> None:
    results = scan_tree(_router_node(None), tmp_path, "HA-001")
    (bad,) = failing(results)
    assert "state file says missing" in bad.message and "rogue master" in bad.message


def test_old_master_word_is_active(tmp_path: Path) -> None:
    results = scan_tree(_router_node("master"), tmp_path, "HA-001")
    assert [r.status for r in results] == [Status.passed]


def test_active_without_addresses_and_vip_fails(tmp_path: Path) -> None:
    results = scan_tree(_router_node("primary", addresses=False, vip=False), tmp_path, "HA-001")
    bad = failing(results)
    assert len(bad) == 2 and all(r.severity == Severity.high for r in bad)
    assert "none of the 2 virtual_ipaddress_excluded addresses" in bad[0].message
    assert "lacks the VRRP VIP 169.254.0.3/24" in bad[1].message
    assert bad[1].evidence[-1].line == 6


def test_no_keepalived_process_fails(tmp_path: Path) -> None:
    results = scan_tree(_router_node("backup", addresses=False, vip=False, keepalived=False), tmp_path, "HA-001")
    (bad,) = failing(results)
    assert bad.severity == Severity.high and "no keepalived process" in bad.message
    assert any(e.source == f"{HA_CONFS}/{RID}.pid.keepalived" and e.excerpt == "pid 900" for e in bad.evidence)


def test_missing_namespace_warns_medium(tmp_path: Path) -> None:
    results = scan_tree(_router_node("backup", namespace=False), tmp_path, "HA-001")
    (bad,) = failing(results)
    assert bad.status == Status.warn and bad.severity == Severity.medium
    assert f"namespace qrouter-{RID} is missing" in bad.message


def test_transition_in_progress_not_judged(tmp_path: Path) -> None:
    node = _router_node("backup")  # would be a rogue master...
    node.write(tmp_path)
    stamp = COLLECTED.timestamp() - 20  # ...but the state file was rewritten 20 s before collection
    os.utime(tmp_path / HA_CONFS / RID / "state", (stamp, stamp))
    results = scan_dir(tmp_path, "HA-001")
    assert [r.status for r in results] == [Status.passed]
    assert "failover in progress" in results[0].message
    # An older rewrite is judged again.
    stamp = COLLECTED.timestamp() - 600
    os.utime(tmp_path / HA_CONFS / RID / "state", (stamp, stamp))
    assert [r.status for r in scan_dir(tmp_path, "HA-001")] == [Status.fail]


def test_not_applicable_without_ha_confs(tmp_path: Path) -> None:
    results = scan_tree(NodeTree("compute"), tmp_path, "HA-001")
    assert [r.status for r in results] == [Status.skipped]
    assert "no L3HA router directory" in results[0].message


def test_missing_evidence_without_ps_and_namespaces(tmp_path: Path) -> None:
    node = _router_node("primary", ps=False)
    node.namespaces.clear()
    results = scan_tree(node, tmp_path, "HA-001")
    assert [r.status for r in results] == [Status.skipped]
    assert "input missing" in results[0].message


def test_demo_network_nodes(tmp_path: Path) -> None:
    for name in ("network-1", "network-2"):
        node = NodeTree(name)
        node.interfaces.append(Interface("eth0", addrs=[f"10.0.0.{21 if name == 'network-1' else 22}/24"]))
        ovn_ha.healthy(node, "network")
        results = scan_tree(node, tmp_path / name, "HA-001")
        assert [r.status for r in results] == [Status.passed], name
    faulty = NodeTree("network-1")
    faulty.interfaces.append(Interface("eth0", addrs=["10.0.0.21/24"]))
    ovn_ha.healthy(faulty, "network")
    ovn_ha.FAULTS["HA-001"](faulty)
    (bad,) = failing(scan_tree(faulty, tmp_path / "faulty", "HA-001"))
    assert "rogue master" in bad.message


def test_compute4_real_dvr_ha_router_passes(compute4: Path) -> None:
    """compute4 is a dvr_snat node, backup for router 984c22fd: keepalived runs, qg-/sg- in the snat
    namespace carry none of the excluded addresses (sos_commands/networking/ip_netns_exec_snat-..._ip_address_show
    shows qg-14f81a43-69 DOWN without inet), so the node agrees with its `backup` state file."""
    results = scan_dir(compute4, "HA-001")
    assert [r.status for r in results] == [Status.passed]
    assert results[0].resource == "984c22fd-64b3-4fa1-8ddd-87090f401ce5"
    assert "state backup, keepalived running, 0/2 excluded addresses present in snat-" in results[0].message


CHURN_COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
ROUTER = "5f1c0a9e-3b7d-4c2a-9e61-2d8f4b7a1c05"
CHURN_CONF = "vrrp_instance VR_{n} {{\n    state BACKUP\n    interface ha-{n:04d}\n    virtual_router_id {n}\n}}\n"


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _router_id(n: int) -> str:
    return f"{n:08x}-3b7d-4c2a-9e61-2d8f4b7a1c05" if n else ROUTER


def _node(routers: int = 1, syslog: str = "", l3_log: str = "") -> NodeTree:
    node = NodeTree("net-1", collected=CHURN_COLLECTED)
    for n in range(routers):
        rid = _router_id(n)
        node.file(f"{HA_CONFS}/{rid}/keepalived.conf", CHURN_CONF.format(n=n + 1))
        node.file(f"{HA_CONFS}/{rid}/state", "backup")
        node.file(f"{HA_CONFS}/{rid}.pid.keepalived", f"{4300 + 2 * n}\n")
        node.file(f"{HA_CONFS}/{rid}.pid.keepalived-vrrp", f"{4301 + 2 * n}\n")
    node.file("var/log/syslog", syslog or "Dec  1 07:00:00 net-1 systemd[1]: Started.\n")
    if l3_log:
        node.file("var/log/neutron/neutron-l3-agent.log", l3_log)
    return node


def _vrrp(t: str, state: str, pid: int = 4301, vr: int = 1, *, old: bool = False) -> str:
    if old:
        return (f"Dec  1 {t} net-1 Keepalived_vrrp[{pid}]: VRRP_Instance(VR_{vr}) Transition to {state} STATE\n"
                f"Dec  1 {t} net-1 Keepalived_vrrp[{pid}]: VRRP_Instance(VR_{vr}) Entering {state} STATE\n")
    init = " (init)" if state == "BACKUP" and t.endswith(":00:00") else ""
    return f"Dec  1 {t} net-1 Keepalived_vrrp[{pid}]: (VR_{vr}) Entering {state} STATE{init}\n"


def _flapping(pid: int = 4301, vr: int = 1, *, old: bool = False, start: int = 0) -> str:
    states = ["BACKUP", "MASTER", "BACKUP", "MASTER", "BACKUP", "MASTER"]
    times = ["07:00:00", "08:01:00", "08:10:00", "08:20:00", "08:30:00", "08:40:00"]
    return "".join(_vrrp(t, s, pid, vr, old=old) for t, s in list(zip(times, states, strict=True))[start:])


def test_ha002_flapping_router_is_medium_and_named(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_node(syslog=_flapping()), tmp_path, "HA-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, ROUTER)
    assert "changed VRRP state 5 times within an hour" in r.message and "keepalived log" in r.message
    assert r.evidence[0].source == "var/log/syslog" and r.evidence[0].line == 2


def test_ha002_keepalived_1x_double_lines_count_once(tmp_path: Path) -> None:
    # Three real changes, each logged as "Transition to" + "Entering": not more than 3 per hour.
    log = _vrrp("07:00:00", "BACKUP") + "".join(
        _vrrp(t, s, old=True) for t, s in (("08:01:00", "MASTER"), ("08:10:00", "BACKUP"), ("08:20:00", "MASTER")))
    r = _one(scan_tree(_node(syslog=log), tmp_path, "HA-002"))
    assert r.status is Status.passed and "3 VRRP state change(s)" in r.message


def test_ha002_many_routers_in_one_minute_is_high(tmp_path: Path) -> None:
    log = "".join(_vrrp("07:00:00", "BACKUP", 4301 + 2 * n, n + 1) for n in range(12))
    log += "".join(_vrrp(f"08:30:{n * 3:02d}", "MASTER", 4301 + 2 * n, n + 1) for n in range(12))
    r = _one(failing(scan_tree(_node(routers=12, syslog=log), tmp_path, "HA-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "l3ha")
    assert "12 HA routers changed VRRP state within 60 s" in r.message


def test_ha002_restart_election_is_not_churn(tmp_path: Path) -> None:
    # A reboot: every router's new keepalived starts BACKUP and elects MASTER seconds later.
    log = "".join(_vrrp("08:30:00", "BACKUP", 5301 + 2 * n, n + 1) + _vrrp("08:30:07", "MASTER", 5301 + 2 * n, n + 1)
                  for n in range(12))
    r = _one(scan_tree(_node(routers=12, syslog=log), tmp_path, "HA-002"))
    assert r.status is Status.passed and "0 VRRP state change(s) after start-up" in r.message


def _agent(t: str, state: str) -> str:
    return (f"2026-12-01 {t}.641 1591 INFO neutron.agent.l3.ha [-] Router {ROUTER} transitioned to {state} on "
            "agent net-1\n")


def test_ha002_agent_log_when_keepalived_logs_elsewhere(tmp_path: Path) -> None:
    log = "".join(_agent(t, s) for t, s in (("07:00:00", "backup"), ("08:01:00", "primary"), ("08:10:00", "backup"),
                                           ("08:20:00", "primary"), ("08:30:00", "backup")))
    r = _one(failing(scan_tree(_node(l3_log=log), tmp_path, "HA-002")))
    assert r.resource == ROUTER and "L3 agent log" in r.message and "4 times" in r.message


def test_ha002_agent_restart_marker_resets_the_state(tmp_path: Path) -> None:
    start = "2026-12-01 {t}.118 959 INFO neutron.common.config [-] Logging enabled!\n"
    log = (_agent("07:00:00", "primary") + start.format(t="08:00:00") + _agent("08:00:05", "backup")
           + _agent("08:00:20", "primary") + start.format(t="08:20:00") + _agent("08:20:05", "backup")
           + _agent("08:20:20", "primary"))
    r = _one(scan_tree(_node(l3_log=log), tmp_path, "HA-002"))
    assert r.status is Status.passed and "0 VRRP state change(s)" in r.message


def test_ha002_no_router_and_no_lines_is_not_applicable(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(routers=0), tmp_path, "HA-002"))
    assert r.status is Status.skipped and "no L3HA router" in r.message


def test_ha002_compute4(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "HA-002"))
    assert r.status is Status.passed and "no router flapping" in r.message
    assert r.evidence[0].excerpt.endswith("(VR_24) Entering BACKUP STATE (init)")
