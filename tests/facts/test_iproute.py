from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.demo.builder import Interface, NodeTree, render_ip_address, render_ip_link, render_ip_o_addr
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.facts.iproute import (
    load_links,
    load_netns_links,
    parse_ip_address,
    parse_ip_link,
    parse_ip_o_addr,
    summary,
)
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
INSIGHTS_IP = REALDATA / "insights-core-fixtures" / "test_ip"


def _real(path: Path) -> Text:
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return Text(path.name, path.read_text(errors="replace"))


STACKED = [
    Interface("lo", kind="loopback", mtu=65536, addrs=["127.0.0.1/8"]),
    Interface("bond0", kind="bond", mtu=9000),
    Interface("eth1", master="bond0", mtu=9000),
    Interface("vlan20", kind="vlan", parent="bond0", vlan_id=20),
    Interface("vlan100", kind="vlan", parent="vlan20", vlan_id=100, master="br100"),
    Interface("br100", kind="bridge", addrs=["192.168.100.1/24", "fe80::1/64"]),
    Interface("tap1", kind="tun", master="br100", proxy_arp=True),
]


def test_builder_output_round_trips() -> None:
    table = parse_ip_address(Text("ip_-d_address", render_ip_address(STACKED)))
    vlan100 = table.get("vlan100")
    assert vlan100 is not None
    assert (vlan100.kind, vlan100.vlan_id, vlan100.vlan_protocol) == ("vlan", 100, "802.1Q")
    assert vlan100.parent == "vlan20"
    assert vlan100.master == "br100" and vlan100.slave_kind == "bridge_slave"
    assert [link.name for link in table.vlan_chain("vlan100")] == ["vlan100", "vlan20", "bond0"]
    assert table.vlan_depth("vlan100") == 2
    assert table.vlan_depth("vlan20") == 1
    assert table.vlan_depth("bond0") == 0
    assert {link.name for link in table.ports("br100")} == {"vlan100", "tap1"}
    tap = table.get("tap1")
    assert tap is not None and tap.kind == "tun" and tap.proxy_arp is True
    eth1 = table.get("eth1")
    assert eth1 is not None and eth1.slave_kind == "bond_slave" and eth1.slave_state == "ACTIVE"
    bond = table.get("bond0")
    assert bond is not None and bond.bond_mode == "802.3ad" and bond.mtu == 9000
    br = table.get("br100")
    assert br is not None
    assert [(a.family, a.cidr, a.scope) for a in br.addresses] == [
        ("inet", "192.168.100.1/24", "global"),
        ("inet6", "fe80::1/64", "link"),
    ]
    first = br.addresses[0]
    assert first.prefixlen == 24 and str(first.network) == "192.168.100.0/24"
    ev = first.evidence()
    assert ev.source == "ip_-d_address" and ev.excerpt == "inet 192.168.100.1/24 scope global br100"
    assert ev.line is not None
    assert render_ip_address(STACKED).splitlines()[ev.line - 1].strip().startswith("inet 192.168.100.1/24")


def test_ip_link_counters_and_kind_evidence() -> None:
    text = render_ip_link(STACKED)
    table = parse_ip_link(Text("ip_-s_-d_link", text))
    vlan20 = table.get("vlan20")
    assert vlan20 is not None
    assert vlan20.stats["rx_bytes"] == 1000 and vlan20.stats["tx_collsns"] == 0
    ev = vlan20.kind_evidence()
    assert ev.excerpt.startswith("vlan protocol 802.1Q id 20")
    assert ev.line is not None
    assert text.splitlines()[ev.line - 1].strip().startswith("vlan protocol 802.1Q id 20")
    assert vlan20.detail("id") == "20"


def test_ip_o_addr() -> None:
    rows = parse_ip_o_addr(Text("ip_-o_addr", render_ip_o_addr(STACKED)))
    assert [(r.ifname, r.address.cidr, r.address.scope) for r in rows] == [
        ("lo", "127.0.0.1/8", "host"),
        ("br100", "192.168.100.1/24", "global"),
        ("br100", "fe80::1/64", "link"),
    ]
    assert rows[1].index == 6 and rows[1].address.line == 2


def test_veth_peer_in_other_namespace_is_not_a_parent() -> None:
    text = Text("x", "17: veth1883dceb@if16: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master "
                     "br-ens3 state UP group default qlen 1000\n"
                     "    link/ether 4e:68:29:1e:ed:52 brd ff:ff:ff:ff:ff:ff link-netnsid 0 promiscuity 1\n"
                     "    veth \n"
                     "    bridge_slave state forwarding priority 32 cost 2 proxy_arp on proxy_arp_wifi off\n"
                     "18: gre0@NONE: <NOARP> mtu 1476 qdisc noop state DOWN group default qlen 1000\n"
                     "    link/gre 0.0.0.0 brd 0.0.0.0 promiscuity 0\n"
                     "    gre remote any local any ttl inherit nopmtudisc\n")
    table = parse_ip_address(text)
    veth = table.get("veth1883dceb")
    assert veth is not None
    assert veth.parent is None and veth.link_ifindex == 16 and veth.link_netnsid == 0
    assert veth.kind == "veth" and veth.slave_kind == "bridge_slave" and veth.proxy_arp is True
    assert veth.slave_evidence().line == 4
    gre = table.get("gre0")
    assert gre is not None and gre.parent is None and gre.link_ifindex is None and gre.kind == "gre"


def test_if_number_naming_a_local_device_is_a_parent() -> None:
    text = Text("x", "3: if7: <UP> mtu 1500 qdisc noop state UP\n    link/ether 00:00:00:00:00:01 brd ff\n"
                     "4: v7@if7: <UP> mtu 1500 qdisc noop state UP\n    link/ether 00:00:00:00:00:02 brd ff\n"
                     "    vlan id 7 <REORDER_HDR> \n")
    table = parse_ip_address(text)
    v7 = table.get("v7")
    assert v7 is not None and v7.parent == "if7" and v7.link_ifindex is None
    # Old iproute2 omits `protocol`: the kernel default is 802.1Q.
    assert v7.vlan_id == 7 and v7.vlan_protocol == "802.1Q" and not v7.is_qinq


def test_qinq_protocol() -> None:
    text = Text("x", "5: outer@eth0: <UP> mtu 1500 qdisc noqueue state UP\n"
                     "    link/ether 00:00:00:00:00:01 brd f\n"
                     "    vlan protocol 802.1ad id 300 <REORDER_HDR> \n")
    link = parse_ip_address(text).get("outer")
    assert link is not None and link.is_qinq and link.vlan_id == 300


def test_peer_address_and_flags() -> None:
    table = parse_ip_address(_real(INSIGHTS_IP / "IP_ADDR_TEST.txt"))
    tun = table.get("tunl1")
    assert tun is not None
    (addr,) = tun.addresses
    assert addr.cidr == "172.30.0.1" and addr.peer == "172.30.0.2/32" and addr.prefixlen == 32
    vlan = table.get("bond1.57")
    assert vlan is not None and vlan.parent == "bond1"
    dyn = [a for a in vlan.addresses if a.cidr.startswith("2001::")]
    assert dyn and dyn[0].scope == "global" and "dynamic" in dyn[0].flags and "mngtmpaddr" in dyn[0].flags
    eth7 = table.get("eth7")
    assert eth7 is not None and eth7.master == "bond1" and eth7.state == "DOWN" and "SLAVE" in eth7.flags


def test_insights_bond_link_and_new_stats_header() -> None:
    table = parse_ip_link(_real(INSIGHTS_IP / "IP_D_S_LINK_BOND_1.txt"))
    bond = table.get("bond0")
    assert bond is not None and bond.kind == "bond" and bond.bond_mode == "active-backup"
    assert bond.stats["rx_dropped"] == 3987208 and bond.stats["rx_missed"] == 0
    assert {p.name for p in table.ports("bond0")} == {"enp1s0", "enp2s0"}
    enp2 = table.get("enp2s0")
    assert enp2 is not None and enp2.slave_state == "BACKUP"


def test_insights_wrapped_line_and_sriov_vf_counters() -> None:
    table = parse_ip_link(_real(INSIGHTS_IP / "IP_S_LINK_ALL_4.txt"))
    pf = table.get("ens1f1")
    assert pf is not None
    # Counters are the PF's own, not those of the VF lines printed after them.
    assert pf.stats["rx_dropped"] == 67 and pf.stats["rx_mcast"] == 792


def test_insights_team_bridge_slave() -> None:
    table = parse_ip_link(_real(INSIGHTS_IP / "IP_S_LINK.txt"))
    tm0 = table.get("tm0")
    assert tm0 is not None and tm0.kind == "team" and tm0.slave_kind == "bridge_slave"
    assert tm0.proxy_arp is False


@pytest.mark.parametrize("name", sorted(p.name for p in INSIGHTS_IP.glob("IP_*LINK*")) or ["none"])
def test_every_insights_link_fixture_parses(name: str) -> None:
    table = parse_ip_link(_real(INSIGHTS_IP / name))
    assert len(table) >= 1
    assert all(link.mtu is not None for link in table)


def test_compute4_links(compute4: Path) -> None:
    view = SosReportView(compute4)
    table = load_links(view)
    assert table.sources == ("sos_commands/networking/ip_-s_-d_link", "sos_commands/networking/ip_-d_address")
    assert len(table) == 24
    ens3 = table.get("ens3")
    assert ens3 is not None
    assert ens3.master == "br-ens3" and ens3.slave_kind == "bridge_slave" and ens3.proxy_arp is False
    assert ens3.stats["rx_bytes"] == 23781208158
    br = table.get("br-ens3")
    assert br is not None and br.kind == "bridge"
    (v4,) = [a for a in br.addresses if a.family == "inet"]
    assert (v4.cidr, v4.source, v4.line) == ("10.0.0.128/24", "sos_commands/networking/ip_-d_address", 38)
    ens7 = table.get("ens7")
    assert ens7 is not None and ens7.master == "ovs-system" and ens7.slave_kind == "openvswitch_slave"
    assert {link.name for link in table if link.kind == "openvswitch"} == {
        "ovs-system", "br-tun", "br-int", "br-ex", "br-data"
    }
    vx = table.get("vxlan_sys_4789")
    assert vx is not None and vx.kind == "vxlan" and vx.mtu == 65000
    tap = table.get("tap0e778df8-ca")
    assert tap is not None and tap.kind == "tun" and tap.mtu == 1450
    veth = table.get("veth1883dceb")
    assert veth is not None and veth.parent is None and veth.link_ifindex == 16
    assert not any(link.is_vlan for link in table)


def test_compute4_netns_links(compute4: Path) -> None:
    view = SosReportView(compute4)
    fip = next(ns for ns in view.namespaces() if ns.startswith("fip-"))
    table = load_netns_links(view, fip)
    fg = next(link for link in table if link.name.startswith("fg-"))
    assert [a.cidr for a in fg.addresses if a.family == "inet"] == ["10.100.0.206/24"]
    fpr = next(link for link in table if link.name.startswith("fpr-"))
    assert fpr.link_ifindex == 2 and fpr.parent is None


def test_compute4_summary(compute4: Path) -> None:
    out = summary(Facts(SosReportView(compute4)))
    by_name = {i["name"]: i for i in out["interfaces"]}
    assert by_name["br-ens3"]["addresses"] == ["10.0.0.128/24"]
    assert by_name["ens7"]["master"] == "ovs-system"


def test_loader_merges_link_details_with_addresses(tmp_path: Path) -> None:
    node = NodeTree("n1", interfaces=list(STACKED))
    node.write(tmp_path)
    table = load_links(SosReportView(tmp_path))
    br = table.get("br100")
    assert br is not None and br.stats["rx_packets"] == 10 and len(br.addresses) == 2


def test_loader_uses_address_details_when_link_lacks_them(tmp_path: Path) -> None:
    node = NodeTree("n1", interfaces=list(STACKED))
    node.command("ip -d link", "1: lo: <LOOPBACK,UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT\n"
                               "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
                               "4: vlan20@bond0: <UP> mtu 1500 qdisc noqueue state UP mode DEFAULT\n"
                               "    link/ether 52:54:00:00:00:01 brd ff:ff:ff:ff:ff:ff\n"
                               "    RX: bytes  packets  errors  dropped overrun mcast\n"
                               "    5 1 0 0 0 0\n")
    node.write(tmp_path)
    table = load_links(SosReportView(tmp_path))
    vlan20 = table.get("vlan20")
    assert vlan20 is not None and vlan20.kind == "vlan" and vlan20.vlan_id == 20
    assert vlan20.stats["rx_bytes"] == 5
    assert table.get("br100") is not None  # only in `ip -d address`: still a link of the host


def test_loader_missing(tmp_path: Path) -> None:
    NodeTree("n1").write(tmp_path)
    view = SosReportView(tmp_path)
    with pytest.raises(MissingEvidence, match="ip_-d_address"):
        load_links(view)
    with pytest.raises(MissingEvidence, match="qrouter-x"):
        load_netns_links(view, "qrouter-x")
    assert summary(Facts(view)) == {}


def test_netns_loader(tmp_path: Path) -> None:
    node = NodeTree("n1", interfaces=[Interface("lo", kind="loopback")])
    qr_out = render_ip_address([Interface("qr-1", addrs=["10.1.0.1/24"])])
    node.namespaces["qrouter-1"] = {"ip -d address": qr_out}
    node.write(tmp_path)
    table = load_netns_links(SosReportView(tmp_path), "qrouter-1")
    qr = table.get("qr-1")
    assert qr is not None and qr.addresses[0].cidr == "10.1.0.1/24"
    assert "namespaces/qrouter-1" in qr.source


def test_junk_only_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="link header"):
        parse_ip_address(Text("junk", "this is not ip output\n"))
    assert len(parse_ip_link(Text("empty", ""))) == 0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789: <>@/.,-_abcdefinetlkmuvsRXT\n\t ")), max_size=400))
def test_fuzz_only_parse_error(content: str) -> None:
    for parser in (parse_ip_address, parse_ip_link, parse_ip_o_addr):
        with contextlib.suppress(ParseError):
            parser(Text("fuzz", content))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_bytes_only_parse_error(data: bytes) -> None:
    prefix = "1: eth0: <UP> mtu 1500 qdisc noop state UP\n    "
    for parser in (parse_ip_address, parse_ip_link, parse_ip_o_addr):
        with contextlib.suppress(ParseError):
            parser(Text("fuzz", prefix + data.decode("utf-8", errors="replace")))
