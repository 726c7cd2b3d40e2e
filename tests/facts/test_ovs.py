from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.facts.ovs import (
    FUZZ_TARGETS,
    load_open_vswitch,
    load_ovs_bridges,
    load_ovs_interfaces,
    load_ovs_show,
    load_sb_chassis,
    ovn_external_ids,
    parse_ovs_list,
    parse_ovs_list_br,
    parse_ovs_show,
    parse_sb_chassis,
    parse_value,
    summary,
)
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
COMPUTE4 = REALDATA / "hotsos" / "openstack-compute4-sosreport"
SUNBEAM = REALDATA / "hotsos" / "sunbeam-hypervisor-sosreport"
INSIGHTS = REALDATA / "insights-core-fixtures"


def _real(path: Path) -> Text:
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return Text(path.name, path.read_text(errors="replace"))


def _view(root: Path) -> SosReportView:
    if not root.is_dir():
        pytest.skip(f"real data not present: {root}")
    return SosReportView(root)


# -- value syntax ---------------------------------------------------------------------------------------
def test_parse_value_maps_sets_and_quoted_strings() -> None:
    assert parse_value('{a="1", b=x, "k y"="v,w"}') == {"a": "1", "b": "x", "k y": "v,w"}
    assert parse_value('{"0"="1"}') == {"0": "1"}
    assert parse_value("[netdev, system]") == ("netdev", "system")
    assert parse_value('["OpenFlow11", "OpenFlow13"]') == ("OpenFlow11", "OpenFlow13")
    assert parse_value("[]") == ()
    assert parse_value("{}") == {}
    assert parse_value('"2.13.3"') == "2.13.3"
    assert parse_value(r'"a \"quoted\" \\ word\u0041"') == 'a "quoted" \\ wordA'
    assert parse_value("secure") == "secure"


# -- ovs-vsctl show -------------------------------------------------------------------------------------
def test_show_compute4_bridges_ports_interfaces() -> None:
    show = parse_ovs_show(_real(COMPUTE4 / "sos_commands/openvswitch/ovs-vsctl_-t_5_show"))
    assert show.uuid == "b8a20458-9009-41a0-aa49-71bcc0080537"
    assert show.ovs_version == "2.13.3"
    assert show.managers == ("ptcp:6640:127.0.0.1",)
    assert show.bridge_names() == ["br-data", "br-tun", "br-ex", "br-int"]
    tun = show.bridge("br-tun")
    assert tun is not None and tun.datapath_type == "system" and tun.fail_mode == "secure"
    assert tun.controllers == ("tcp:127.0.0.1:6633",)
    found = show.find_interface("vxlan-0a000085")
    assert found is not None
    bridge, port, iface = found
    assert bridge.name == "br-tun" and port.name == "vxlan-0a000085"
    assert iface.type == "vxlan"
    assert iface.options["remote_ip"] == "10.0.0.133" and iface.options["local_ip"] == "10.0.0.128"
    assert iface.line == 24 and iface.evidence().excerpt == "Interface vxlan-0a000085 type: vxlan"
    br_int = show.bridge("br-int")
    assert br_int is not None
    ha = br_int.port("ha-550dc175-c0")
    assert ha is not None and ha.tag == 1 and ha.interfaces[0].type == "internal"
    ens7 = show.find_interface("ens7")
    assert ens7 is not None and ens7[2].type == "" and ens7[0].name == "br-data"
    assert show.bridge_of_port("qg-14f81a43-69") is br_int
    assert br_int.port("missing") is None and show.bridge("br-nope") is None


def test_show_insights_quoted_names_and_truncated_output() -> None:
    show = parse_ovs_show(_real(INSIGHTS / "test_ovs_vsctl_show/ovs_vsctl_show_output.txt"))
    assert show.ovs_version == "2.3.2"
    assert [len(b.ports) for b in show.bridges] == [4, 7, 6]
    found = show.find_interface("qg-dacc6089-be")
    assert found is not None and found[0].name == "br-ex"
    br_ex = show.bridge("br-ex")
    assert br_ex is not None and br_ex.datapath_type is None  # not printed by OVS 2.3
    truncated = parse_ovs_show(_real(INSIGHTS / "test_ovs_vsctl_show/ovs_vsctl_show_missing_lines.txt"))
    assert truncated.bridge_names() == ["br-ex"] and truncated.ovs_version is None


def test_show_orphan_blocks_skipped_and_junk_rejected() -> None:
    text = Text("show", "abc\n        Interface stray\n    Bridge br0\n        Port p1\n            Interface p1\n"
                        "                options: {peer=x}\n")
    show = parse_ovs_show(text)
    assert show.bridge_names() == ["br0"]
    assert show.interfaces()[0][2].options == {"peer": "x"}
    with pytest.raises(ParseError):
        parse_ovs_show(Text("junk", "garbage\n!!!\n"))
    assert parse_ovs_show(Text("empty", "")).bridges == ()


# -- ovs-vsctl list -------------------------------------------------------------------------------------
def test_list_open_vswitch_compute4() -> None:
    table = parse_ovs_list(_real(COMPUTE4 / "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch"))
    assert len(table) == 1
    rec = table.records[0]
    assert rec.text("ovs_version") == "2.13.3"
    assert rec.list("datapath_types") == ("netdev", "system")
    assert rec.map("external_ids") == {"hostname": "compute4.mylab.home", "rundir": "/var/run/openvswitch",
                                       "system-id": "3c98ecc6-adbc-4647-853b-d4c2b38e49ac"}
    assert rec.map("other_config") == {} and rec.map("absent") == {}
    field = rec.get("external_ids")
    assert field is not None and field.line == 9
    assert field.map_evidence("system-id").excerpt == "external_ids:system-id=3c98ecc6-adbc-4647-853b-d4c2b38e49ac"
    assert ovn_external_ids(rec) == {"system-id": "3c98ecc6-adbc-4647-853b-d4c2b38e49ac"}
    assert "iface_types" in rec and "nope" not in rec


def test_list_bridges_with_and_without_blank_lines() -> None:
    full = parse_ovs_list(_real(INSIGHTS / "test_ovs_vsctl/OVS_VSCTL_LIST_BRIDGES_ALL.txt"))
    assert [r.text("name") for r in full] == ["br-int", "br-tun"]
    br_int = full.by_name("br-int")
    assert br_int is not None
    assert br_int.map("other_config") == {"disable-in-band": "true", "mac-table-size": "2048"}
    assert br_int.map("status") == {"0": "1"}
    assert br_int.list("protocols") == ("OpenFlow11", "OpenFlow11", "OpenFlow12", "OpenFlow13")
    assert br_int.map("rstp_status")["rstp_bridge_port_id"] == "0000"
    assert br_int.text("mcast_snooping_enable") == "false"
    for name in ("OVS_VSCTL_LIST_BRIDGES_FILTERED1.txt", "OVS_VSCTL_LIST_BRIDGES_FILTERED2.txt"):
        filtered = parse_ovs_list(_real(INSIGHTS / "test_ovs_vsctl" / name))
        assert [r.text("name") for r in filtered] == ["br-int", "br-tun"], name
    assert full.by_name("br-none") is None


def test_list_junk_and_list_br() -> None:
    with pytest.raises(ParseError):
        parse_ovs_list(Text("x", "no colon here\n"))
    assert parse_ovs_list(Text("x", "")).records == ()
    assert parse_ovs_list_br(Text("list-br", "br-ex\nbr-int\n\n")) == ("br-ex", "br-int")
    with pytest.raises(ParseError):
        parse_ovs_list_br(Text("list-br", "ovs-vsctl: not a bridge name!\n"))


def test_sb_chassis() -> None:
    text = Text("sb", 'Chassis "5b3d6a40"\n    hostname: compute-0.localdomain\n    Encap geneve\n'
                      '        ip: "172.17.2.25"\n        options: {csum="true"}\n    Port_Binding "x"\n'
                      "Chassis c2\n    hostname: c2\n    Encap vxlan\n        ip: \"10.0.0.2\"\n")
    chassis = parse_sb_chassis(text)
    assert [(c.name, c.hostname, c.encaps) for c in chassis] == [
        ("5b3d6a40", "compute-0.localdomain", (("geneve", "172.17.2.25"),)),
        ("c2", "c2", (("vxlan", "10.0.0.2"),)),
    ]
    assert chassis[1].line == 7


# -- loaders --------------------------------------------------------------------------------------------
def test_loaders_compute4() -> None:
    view = _view(COMPUTE4)
    assert load_ovs_show(view).source == "sos_commands/openvswitch/ovs-vsctl_-t_5_show"
    assert load_open_vswitch(view).source == "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch"
    assert load_ovs_bridges(view) == ["br-data", "br-ex", "br-int", "br-tun"]
    ifaces = load_ovs_interfaces(view)
    ha = ifaces.by_name("ha-550dc175-c0")
    assert ha is not None and ha.text("type") == "internal"
    with pytest.raises(MissingEvidence):
        load_sb_chassis(view)
    out = summary(Facts(view))
    assert out["ovs_version"] == "2.13.3" and "br-tun" in out["ovs_bridges"]


def test_loaders_sunbeam_snap_prefixed_names() -> None:
    view = _view(SUNBEAM)
    show = load_ovs_show(view)
    assert show.source == "sos_commands/openvswitch/openstack-hypervisor.ovs-vsctl_-t_5_show"
    assert show.ovs_version == "3.3.0" and show.bridge_names() == ["br-ex", "br-int"]
    ids = ovn_external_ids(load_open_vswitch(view))
    assert ids["ovn-remote"] == "ssl:172.16.1.202:6642"
    assert ids["ovn-encap-ip"] == "10.194.140.193" and ids["ovn-encap-type"] == "geneve"
    assert ids["system-id"] == "noble-sunbeam.lxd" and ids["ovn-bridge-mappings"] == "physnet1:br-ex"
    assert load_ovs_bridges(view) == ["br-ex", "br-int"]


def test_open_vswitch_from_ovn_host_plugin_only(tmp_path: Path) -> None:
    """Sunbeam's ovn_host plugin runs `ovs-vsctl list Open_vSwitch` without `-t 5`: still found."""
    src = _real(SUNBEAM / "sos_commands/ovn_host/openstack-hypervisor.ovs-vsctl_list_Open_vSwitch")
    node = NodeTree("hv")
    node.file("sos_commands/ovn_host/openstack-hypervisor.ovs-vsctl_list_Open_vSwitch", src.content)
    node.write(tmp_path)
    rec = load_open_vswitch(SosReportView(tmp_path))
    assert rec.source == "sos_commands/ovn_host/openstack-hypervisor.ovs-vsctl_list_Open_vSwitch"
    assert rec.map("external_ids")["ovn-encap-type"] == "geneve"


def test_empty_or_error_output_is_missing(tmp_path: Path) -> None:
    node = NodeTree("n")
    node.command("ovs-vsctl show", "ovs-vsctl: unix:/var/run/openvswitch/db.sock: database connection failed "
                                   "(No such file or directory)\n")
    node.command("ovs-vsctl list Open_vSwitch", "")
    node.write(tmp_path)
    view = SosReportView(tmp_path)
    with pytest.raises(MissingEvidence, match="ovs-vsctl_-t_5_show"):
        load_ovs_show(view)
    with pytest.raises(MissingEvidence, match="list_Open_vSwitch"):
        load_open_vswitch(view)
    with pytest.raises(MissingEvidence):
        load_ovs_bridges(view)
    assert summary(Facts(view)) == {}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(' \n\t:{}[]=",-_abBridgePortInterface0123456789')), max_size=400))
def test_parsers_only_raise_parse_error(content: str) -> None:
    for parser in FUZZ_TARGETS:
        with contextlib.suppress(ParseError):
            parser(Text("fuzz", content))
