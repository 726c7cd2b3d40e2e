from __future__ import annotations

from pathlib import Path

from stackrx.demo.builder import NodeTree
from stackrx.models import Result, Severity, Status
from testkit import failing, scan_dir, scan_tree

COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
HA_CONFS = "var/lib/neutron/ha_confs"
ROUTER = "5f1c0a9e-3b7d-4c2a-9e61-2d8f4b7a1c05"
CONF = "vrrp_instance VR_{n} {{\n    state BACKUP\n    interface ha-{n:04d}\n    virtual_router_id {n}\n}}\n"


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _router_id(n: int) -> str:
    return f"{n:08x}-3b7d-4c2a-9e61-2d8f4b7a1c05" if n else ROUTER


def _node(routers: int = 1, syslog: str = "", l3_log: str = "") -> NodeTree:
    node = NodeTree("net-1", collected=COLLECTED)
    for n in range(routers):
        rid = _router_id(n)
        node.file(f"{HA_CONFS}/{rid}/keepalived.conf", CONF.format(n=n + 1))
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
