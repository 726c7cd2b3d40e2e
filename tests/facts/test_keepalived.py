from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.demo.builder import NodeTree
from stackrx.errors import ParseError
from stackrx.facts import Facts
from stackrx.facts.keepalived import (
    ACTIVE,
    FUZZ_TARGETS,
    STANDBY,
    UNKNOWN,
    ha_confs_dirs,
    load_ha_routers,
    normalise_state,
    parse_keepalived_conf,
    parse_state,
    summary,
)
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
COMPUTE4 = REALDATA / "hotsos" / "openstack-compute4-sosreport"
RID = "984c22fd-64b3-4fa1-8ddd-87090f401ce5"
OTHER = "11111111-2222-4333-8444-555555555555"
PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"


def _compute4() -> SosReportView:
    if not COMPUTE4.is_dir():
        pytest.skip(f"real data not present: {COMPUTE4}")
    return SosReportView(COMPUTE4)


def test_normalise_state() -> None:
    assert [normalise_state(s) for s in ("primary", "master", "MASTER\n", "backup", "fault", "", None, "x")] == [
        ACTIVE, ACTIVE, ACTIVE, STANDBY, STANDBY, UNKNOWN, UNKNOWN, UNKNOWN]
    assert parse_state(Text("state", "backup")).state == STANDBY
    assert parse_state(Text("state", "\n")).raw == ""


def test_keepalived_conf_compute4() -> None:
    view = _compute4()
    text = view.read_text(f"var/lib/neutron/ha_confs/{RID}/keepalived.conf")
    assert text is not None
    conf = parse_keepalived_conf(text)
    assert len(conf.instances) == 1
    inst = conf.instances[0]
    assert (inst.name, inst.initial_state, inst.interface, inst.virtual_router_id, inst.priority) == (
        "VR_24", "BACKUP", "ha-550dc175-c0", 24, 50)
    assert [(v.cidr, v.dev, v.line) for v in conf.vips] == [("169.254.0.24/24", "ha-550dc175-c0", 17)]
    assert [(e.cidr, e.dev, e.is_link_local, e.no_track) for e in conf.excluded] == [
        ("10.100.0.204/24", "qg-14f81a43-69", False, True),
        ("192.168.21.109/24", "sg-189f4c40-9d", False, True),
        ("fe80::f816:3eff:fe87:45fc/64", "sg-189f4c40-9d", True, True),
        ("fe80::f816:3eff:fee8:64ce/64", "qg-14f81a43-69", True, True),
    ]
    assert conf.excluded[0].ip == ipaddress.ip_address("10.100.0.204")
    assert [(r.dst, r.via, r.dev) for r in conf.routes] == [("0.0.0.0/0", "10.100.0.1", "qg-14f81a43-69")]
    assert conf.ha_interface == "ha-550dc175-c0"
    assert conf.excluded[0].evidence().excerpt == "10.100.0.204/24 dev qg-14f81a43-69 no_track"


def test_keepalived_conf_inline_blocks_comments_and_junk() -> None:
    text = Text("k.conf", "! managed by neutron\nvrrp_instance VR_7 { state BACKUP\n interface ha-x\n"
                          " virtual_ipaddress { 169.254.0.7/24 dev ha-x }\n"
                          " virtual_ipaddress_excluded {\n  10.0.0.5/24 dev qg-y # gateway\n  garbage\n }\n}\n")
    conf = parse_keepalived_conf(text)
    inst = conf.instances[0]
    assert inst.name == "VR_7" and inst.initial_state == "BACKUP" and inst.interface == "ha-x"
    assert [v.cidr for v in inst.vips] == ["169.254.0.7/24"]
    assert [(e.cidr, e.dev) for e in inst.excluded] == [("10.0.0.5/24", "qg-y")]
    with pytest.raises(ParseError):
        parse_keepalived_conf(Text("k.conf", "not a keepalived file\n"))
    assert parse_keepalived_conf(Text("k.conf", "global_defs {\n router_id x\n}\n")).instances == ()


def test_load_ha_routers_compute4_dvr_snat() -> None:
    view = _compute4()
    assert ha_confs_dirs(view) == ["var/lib/neutron/ha_confs"]
    (router,) = load_ha_routers(view)
    assert router.router_id == RID and router.normalised == STANDBY
    assert router.state is not None and router.state.raw == "backup" and router.state.mtime is not None
    assert router.pid_files == {f"var/lib/neutron/ha_confs/{RID}.pid.keepalived": 1775813,
                                f"var/lib/neutron/ha_confs/{RID}.pid.keepalived-vrrp": 1775814}
    assert router.keepalived is not None and [p.pid for p in router.keepalived] == [1775813, 1775814]
    assert router.state_change is not None and [p.pid for p in router.state_change] == [1773272, 1773285]
    # DVR+HA: keepalived lives in the snat namespace (from the state-change daemon's --namespace).
    assert router.namespace == f"snat-{RID}"
    assert router.ha_interface == "ha-550dc175-c0"
    assert summary(Facts(view))["l3ha_routers"][RID] == {
        "state": STANDBY, "raw": "backup", "namespace": f"snat-{RID}", "keepalived_running": True}


def test_load_ha_routers_kolla_path_and_no_ps(tmp_path: Path) -> None:
    node = NodeTree("net")
    base = "var/lib/neutron/kolla/ha_confs"
    node.file(f"{base}/{OTHER}/keepalived.conf", "vrrp_instance VR_1 {\n    interface ha-a\n}\n")
    node.file(f"{base}/{OTHER}/state", "master")
    node.file(f"{base}/{OTHER}.pid", "not-a-pid\n")
    node.file(f"{base}/not-a-router/state", "primary")
    node.write(tmp_path)
    view = SosReportView(tmp_path)
    (router,) = load_ha_routers(view)
    assert router.conf_dir == f"{base}/{OTHER}" and router.normalised == ACTIVE
    assert router.keepalived is None and router.state_change is None  # no process list collected
    assert router.namespace == f"qrouter-{OTHER}"
    assert router.pid_files == {f"{base}/{OTHER}.pid": None}
    assert summary(Facts(view))["l3ha_routers"][OTHER]["keepalived_running"] is None


def test_load_ha_routers_configured_path_and_grep_ignored(tmp_path: Path) -> None:
    node = NodeTree("net")
    node.file("etc/neutron/l3_agent.ini", "[DEFAULT]\nha_confs_path = $state_path/custom_ha\n")
    node.file("etc/neutron/neutron.conf", "[DEFAULT]\nstate_path = /srv/neutron\n")
    node.file(f"srv/neutron/custom_ha/{OTHER}/state", "")
    node.command("ps auxwww", PS_HEADER +
                 f"root 42 0.0 0.0 1 1 pts/0 S+ 10:00 0:00 grep keepalived -f /x/{OTHER}/keepalived.conf\n")
    node.write(tmp_path)
    view = SosReportView(tmp_path)
    assert ha_confs_dirs(view) == ["srv/neutron/custom_ha"]
    (router,) = load_ha_routers(view)
    assert router.normalised == UNKNOWN and router.conf is None
    assert router.keepalived == ()


def test_no_ha_confs(tmp_path: Path) -> None:
    NodeTree("compute").write(tmp_path)
    view = SosReportView(tmp_path)
    assert load_ha_routers(view) == ()
    assert summary(Facts(view)) == {}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \n\t{}#!abcdevrp_instance ha-qg 0123456789./:")), max_size=400))
def test_parsers_only_raise_parse_error(content: str) -> None:
    for parser in FUZZ_TARGETS:
        with contextlib.suppress(ParseError):
            parser(Text("fuzz", content))
