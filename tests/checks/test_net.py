from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackrx.checks import net
from stackrx.checks.net import kernel_default_conntrack
from stackrx.demo.areas import net as demo_net
from stackrx.demo.builder import Interface, NodeTree, render_ip_link, render_sysctl
from stackrx.engine import load_all_checks, scan_host, select_checks
from stackrx.models import Result, Severity, Status
from stackrx.sources.base import HostView, Text
from testkit import failing, scan_dir, scan_tree

COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
GIB = 1024**3


def _node(role: str = "compute", ip: str = "10.0.0.31") -> NodeTree:
    node = NodeTree(f"{role}-x", collected=COLLECTED)
    node.interfaces.append(Interface("lo", kind="loopback", mtu=65536, addrs=["127.0.0.1/8"]))
    node.interfaces.append(Interface("eth0", addrs=[f"{ip}/24"]))
    demo_net.healthy(node, role)
    return node


def _iface(node: NodeTree, name: str) -> Interface:
    return next(i for i in node.interfaces if i.name == name)


# -- NET-001 -----------------------------------------------------------------------------------------------

def test_kernel_default_formula() -> None:
    # 5.15+: max equals buckets, 262144 above 4 GiB.
    assert kernel_default_conntrack(16 * GIB, (5, 15)) == (262144, 262144)
    assert kernel_default_conntrack(2 * GIB, (6, 1)) == (65536, 65536)
    assert kernel_default_conntrack(256 * 1024**2, (6, 1)) == (2048, 2048)
    # Up to 5.14: 4 entries per bucket.
    assert kernel_default_conntrack(16 * GIB, (5, 4)) == (65536, 262144)
    assert kernel_default_conntrack(2 * GIB, (4, 18)) == (16384, 65536)
    # The seed's RHEL 6 (2.6.32) hypervisors with 48 GB: 65536.
    assert kernel_default_conntrack(48 * GIB, (2, 6)) == (16384, 65536)
    assert kernel_default_conntrack(512 * 1024**2, (2, 6)) == (4096, 16384)


def test_net001_healthy_reports_usage_and_default(tmp_path: Path) -> None:
    [r] = scan_tree(_node(), tmp_path, "NET-001")
    assert r.status is Status.passed
    assert "nf_conntrack_count 4180 of nf_conntrack_max 262144 (2%)" in r.message
    assert "kernel 5.4 default for 15.6 GiB RAM (65536 buckets): never tuned" in r.message


@pytest.mark.parametrize(("count", "severity"), [(210000, Severity.high), (250000, Severity.critical)])
def test_net001_ratio_thresholds(tmp_path: Path, count: int, severity: Severity) -> None:
    node = _node()
    node.sysctl["net.netfilter.nf_conntrack_count"] = str(count)
    [r] = failing(scan_tree(node, tmp_path, "NET-001"))
    assert (r.status, r.severity, r.resource) == (Status.fail, severity, "init netns")
    assert [e.excerpt for e in r.evidence] == [f"net.netfilter.nf_conntrack_count = {count}",
                                               "net.netfilter.nf_conntrack_max = 262144"]
    assert all(e.source == "sos_commands/kernel/sysctl_-a" and e.line for e in r.evidence)


def test_net001_just_below_threshold_passes(tmp_path: Path) -> None:
    node = _node()
    node.sysctl["net.netfilter.nf_conntrack_count"] = str(int(262144 * 0.79))
    [r] = scan_tree(node, tmp_path, "NET-001")
    assert r.status is Status.passed


def test_net001_namespace_counts_are_evaluated_separately(tmp_path: Path) -> None:
    node = _node("network", "10.0.0.21")
    # Each namespace is below the threshold, their sum is not: it must not be summed into the init ratio.
    for i in range(3):
        node.namespaces[f"qrouter-{i}"] = {"sysctl -a": render_sysctl({
            "net.netfilter.nf_conntrack_count": "90000", "net.netfilter.nf_conntrack_max": "262144"})}
    node.namespaces["snat-9"] = {"sysctl -a": render_sysctl({"net.netfilter.nf_conntrack_count": "251000"})}
    results = failing(scan_tree(node, tmp_path, "NET-001"))
    assert [(r.resource, r.severity) for r in results] == [("snat-9", Severity.critical)]
    assert "namespaces/snat-9" in results[0].evidence[0].source


def test_net001_conntrack_drop_counters(tmp_path: Path) -> None:
    node = _node()
    node.command("conntrack -S", demo_net.CONNTRACK_S.replace("drop=0 early_drop=0", "drop=5 early_drop=0", 1)
                 + "cpu=9   \tfound=0 invalid=0 ignore=0 insert=0 insert_failed=0 drop=0 early_drop=2\n")
    results = failing(scan_tree(node, tmp_path, "NET-001"))
    by_sev = {r.severity: r for r in results}
    assert set(by_sev) == {Severity.high, Severity.medium}
    assert "drop=5" in by_sev[Severity.high].message
    assert by_sev[Severity.high].evidence[0].source == "sos_commands/conntrack/conntrack_-S"
    assert by_sev[Severity.high].evidence[0].line == 1
    assert "early_drop=2" in by_sev[Severity.medium].message and by_sev[Severity.medium].evidence[0].line == 5


def test_net001_planted_fault(tmp_path: Path) -> None:
    node = _node("network", "10.0.0.21")
    demo_net.FAULTS["NET-001"](node)
    results = failing(scan_tree(node, tmp_path, "NET-001"))
    assert Severity.critical in {r.severity for r in results}
    assert any("drop=1877" in r.message for r in results)


def test_net001_table_full_log_is_critical_even_with_a_low_count_now(tmp_path: Path) -> None:
    node = _node("network", "10.0.0.21")
    node.file("var/log/kern.log", demo_net.KERN_TABLE_FULL.format(host=node.hostname))
    [r] = failing(scan_tree(node, tmp_path, "NET-001"))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.critical, "kernel log")
    assert "3 time(s) in the 7 days before collection, latest 2026-12-01 08:52:30 UTC" in r.message
    assert "net_ratelimit suppressed 212 more" in r.message
    assert [(e.source, e.line) for e in r.evidence] == [("var/log/kern.log", 1), ("var/log/kern.log", 3),
                                                        ("var/log/kern.log", 4)]


def test_net001_table_full_outside_the_window_is_ignored(tmp_path: Path) -> None:
    node = _node("network", "10.0.0.21")
    node.file("var/log/kern.log", "Nov  2 10:00:00 network-x kernel: nf_conntrack: table full, dropping "
                                  "packet.\nDec  1 08:00:00 network-x kernel: eth1: link up\n")
    [r] = scan_tree(node, tmp_path, "NET-001")
    assert r.status is Status.passed


def test_net001_not_loaded_is_not_applicable(tmp_path: Path) -> None:
    node = NodeTree("n", sysctl={"net.ipv4.ip_forward": "1"})
    [r] = scan_tree(node, tmp_path, "NET-001")
    assert r.status is Status.skipped and "not applicable" in r.message


def test_net001_missing_inputs_skipped(tmp_path: Path) -> None:
    [r] = scan_tree(NodeTree("n"), tmp_path, "NET-001")
    assert r.status is Status.skipped and "sysctl_-a" in r.message


def test_net001_compute4(compute4: Path) -> None:
    [r] = scan_dir(compute4, "NET-001")
    assert r.status is Status.passed
    assert "nf_conntrack_count 1498 of nf_conntrack_max 1000000" in r.message
    assert "tuned" in r.message


# -- NET-005 -----------------------------------------------------------------------------------------------

def test_net005_healthy(tmp_path: Path) -> None:
    [r] = scan_tree(_node(), tmp_path, "NET-005")
    assert r.status is Status.passed


def test_net005_planted_fault(tmp_path: Path) -> None:
    node = _node()
    demo_net.FAULTS["NET-005"](node)
    [r] = failing(scan_tree(node, tmp_path, "NET-005"))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "eth1")
    assert "Open vSwitch" in r.message and "172.24.4.31/24" in r.message
    assert r.evidence[1].excerpt == "inet 172.24.4.31/24 scope global eth1"
    assert r.evidence[1].source == "sos_commands/networking/ip_-d_address"


def test_net005_linux_bridge_and_bond_ports(tmp_path: Path) -> None:
    node = _node()
    node.interfaces += [
        Interface("br0", kind="bridge", addrs=["192.168.10.5/24"]),
        Interface("eth2", master="br0", addrs=["192.168.10.6/24"]),
        Interface("bond0", kind="bond", addrs=["10.5.0.5/24"]),
        Interface("eth3", master="bond0", addrs=["2001:db8::5/64"]),
    ]
    results = failing(scan_tree(node, tmp_path, "NET-005"))
    assert sorted(r.resource for r in results) == ["eth2", "eth3"]
    assert {r.resource: r for r in results}["eth2"].message.startswith("eth2 is a port of Linux bridge br0")


def test_net005_traps(tmp_path: Path) -> None:
    node = _node()
    node.interfaces += [
        Interface("br0", kind="bridge"),
        Interface("eth2", master="br0", addrs=["fe80::5054:ff:fe00:1/64"]),  # link-local only
        Interface("mv0", kind="macvlan", parent="eth2", addrs=["192.168.20.5/24"]),
    ]
    _iface(node, "br-ex").addrs.append("172.24.4.1/24")  # the OVS bridge owning the address is right
    [r] = scan_tree(node, tmp_path, "NET-005")
    assert r.status is Status.passed


VRF_MEMBER = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0 minmtu 0 maxmtu 0
    inet 127.0.0.1/8 scope host lo
2: vrf-blue: <NOARP,MASTER,UP,LOWER_UP> mtu 65575 qdisc noqueue state UP group default qlen 1000
    link/ether 2a:6e:1c:3b:00:01 brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 1280 maxmtu 65575
    vrf table 10 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535
3: eth4: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel master vrf-blue state UP group default
    link/ether 52:54:00:00:00:04 brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 68 maxmtu 65535
    vrf_slave table 10 numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535
    inet 10.30.0.5/24 brd 10.30.0.255 scope global eth4
       valid_lft forever preferred_lft forever
"""


def test_net005_vrf_member_is_not_enslaved(tmp_path: Path) -> None:
    node = NodeTree("n")
    node.command("ip -d address", VRF_MEMBER)
    [r] = scan_tree(node, tmp_path, "NET-005")
    assert r.status is Status.passed


def test_net005_persistent_config(tmp_path: Path) -> None:
    node = _node()
    node.file("etc/sysconfig/network-scripts/ifcfg-eth1", "DEVICE=eth1\nTYPE=OVSPort\nDEVICETYPE=ovs\n"
                                                        "OVS_BRIDGE=br-ex\nIPADDR=172.24.4.9\nPREFIX=24\n")
    node.file("etc/sysconfig/network-scripts/ifcfg-br-ex", "DEVICE=br-ex\nTYPE=OVSBridge\nDEVICETYPE=ovs\n"
                                                         "OVS_BRIDGE=br-ex\nIPADDR=172.24.4.1\n")
    [r] = failing(scan_tree(node, tmp_path, "NET-005"))
    assert r.resource == "eth1" and "comes back at the next boot" in r.message
    assert [(e.source, e.line) for e in r.evidence] == [
        ("etc/sysconfig/network-scripts/ifcfg-eth1", 4), ("etc/sysconfig/network-scripts/ifcfg-eth1", 5)]


def test_net005_netplan_config(tmp_path: Path) -> None:
    node = _node()
    node.file("etc/netplan/50-cloud.yaml", "network:\n  ethernets:\n    nic0:\n      set-name: eth5\n"
                                           "      addresses: [10.8.0.5/24]\n  bridges:\n    br8:\n"
                                           "      interfaces: [nic0]\n      addresses: [10.8.0.6/24]\n")
    [r] = failing(scan_tree(node, tmp_path, "NET-005"))
    assert r.resource == "eth5" and "port of br8" in r.message


def test_net005_compute4(compute4: Path) -> None:
    # ens3 is in br-ens3 with the address on the bridge (netplan agrees); ens7 in OVS has only fe80::.
    [r] = scan_dir(compute4, "NET-005")
    assert r.status is Status.passed


# -- NET-003 -----------------------------------------------------------------------------------------------

def _show_with_uplink(node: NodeTree, port: str) -> None:
    node.commands["ovs-vsctl show"] = node.commands["ovs-vsctl show"].replace(
        "        Port eth1\n            Interface eth1\n",
        f"        Port {port}\n            Interface {port}\n")


def test_net003_healthy(tmp_path: Path) -> None:
    [r] = scan_tree(_node(), tmp_path, "NET-003")
    assert r.status is Status.passed and "no VLAN device is stacked" in r.message


def test_net003_planted_fault_is_high_with_frame_size(tmp_path: Path) -> None:
    node = _node()
    demo_net.FAULTS["NET-003"](node)
    [r] = failing(scan_tree(node, tmp_path, "NET-003"))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "vlan100")
    assert r.message.startswith("vlan100 (id 100, 802.1Q) on vlan20 (id 20, 802.1Q) on eth2: 2 tags: "
                                "1500-byte packets leave as 1522-byte frames; parent NIC eth2 MTU 1500")
    assert "port of bridge br100 with instance ports tap5c1e0d2a-7f" in r.message
    excerpts = [e.excerpt for e in r.evidence]
    assert excerpts[0].startswith("vlan protocol 802.1Q id 100")
    assert excerpts[1].startswith("vlan protocol 802.1Q id 20")
    assert all(e.source == "sos_commands/networking/ip_-s_-d_link" for e in r.evidence)


def test_net003_stack_without_instances_is_medium(tmp_path: Path) -> None:
    node = _node()
    node.interfaces += [Interface("eth2"), Interface("vlan20", kind="vlan", parent="eth2", vlan_id=20),
                        Interface("vlan30", kind="vlan", parent="vlan20", vlan_id=30, addrs=["10.30.0.5/24"])]
    [r] = failing(scan_tree(node, tmp_path, "NET-003"))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "vlan30")


def test_net003_bond_subinterface_is_not_stacking(tmp_path: Path) -> None:
    node = _node()
    node.interfaces += [Interface("bond0", kind="bond"), Interface("eth2", master="bond0"),
                        Interface("bond0.20", kind="vlan", parent="bond0", vlan_id=20),
                        Interface("br20", kind="bridge"),
                        Interface("tap1", kind="tun", master="br20")]
    [r] = scan_tree(node, tmp_path, "NET-003")
    assert r.status is Status.passed and "(1 VLAN devices)" in r.message


def test_net003_qinq_with_reduced_mtu_is_info(tmp_path: Path) -> None:
    node = _node()
    node.interfaces += [Interface("eth2"),
                        Interface("svlan300", kind="vlan", parent="eth2", vlan_id=300,
                                  vlan_protocol="802.1ad"),
                        Interface("cvlan10", kind="vlan", parent="svlan300", vlan_id=10, mtu=1496)]
    [r] = scan_tree(node, tmp_path, "NET-003")
    assert r.status is Status.passed and r.message.startswith("intended QinQ")


def test_net003_qinq_without_reduced_mtu_still_warns(tmp_path: Path) -> None:
    node = _node()
    node.interfaces += [Interface("eth2"),
                        Interface("svlan300", kind="vlan", parent="eth2", vlan_id=300,
                                  vlan_protocol="802.1ad"),
                        Interface("cvlan10", kind="vlan", parent="svlan300", vlan_id=10)]
    [r] = failing(scan_tree(node, tmp_path, "NET-003"))
    assert r.severity is Severity.medium and "QinQ intended, but the MTU was not reduced" in r.message


def test_net003_ovs_uplink_on_vlan_device_for_vlan_physnet(tmp_path: Path) -> None:
    node = _node()
    eth1 = _iface(node, "eth1")
    node.interfaces.remove(eth1)
    node.interfaces += [Interface("eth2"),
                        Interface("vlan20", kind="vlan", parent="eth2", vlan_id=20, master="ovs-system")]
    _show_with_uplink(node, "vlan20")
    [r] = failing(scan_tree(node, tmp_path, "NET-003"))
    assert (r.severity, r.resource) == (Severity.high, "vlan20")
    assert "VLAN physnet physnet1 is mapped to it through OVS bridge br-ex" in r.message
    assert "2 tags: 1500-byte packets leave as 1522-byte frames" in r.message
    sources = [e.source for e in r.evidence]
    assert "etc/neutron/plugins/ml2/openvswitch_agent.ini" in sources
    assert "etc/neutron/plugins/ml2/ml2_conf.ini" in sources
    assert "sos_commands/openvswitch/ovs-vsctl_-t_5_show" in sources


def test_net003_ovs_uplink_on_vlan_device_without_vlan_ranges_is_a_note(tmp_path: Path) -> None:
    node = _node()
    node.interfaces.remove(_iface(node, "eth1"))
    node.interfaces += [Interface("eth2"),
                        Interface("vlan20", kind="vlan", parent="eth2", vlan_id=20, master="ovs-system")]
    _show_with_uplink(node, "vlan20")
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini", "[ml2]\ntype_drivers = flat,vxlan\n")
    [r] = scan_tree(node, tmp_path, "NET-003")
    assert r.status is Status.passed
    assert "physnet1 is carried by VLAN device vlan20 via OVS bridge br-ex" in r.message


def test_net003_flat_physnet_on_vlan_device_is_fine(tmp_path: Path) -> None:
    node = _node()
    node.interfaces.remove(_iface(node, "eth1"))
    node.interfaces += [Interface("eth2"),
                        Interface("vlan20", kind="vlan", parent="eth2", vlan_id=20, master="ovs-system")]
    _show_with_uplink(node, "vlan20")
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini",
              "[ml2_type_vlan]\nnetwork_vlan_ranges = physnet2:10:20\n")
    [r] = scan_tree(node, tmp_path, "NET-003")
    assert r.status is Status.passed and "carried by VLAN device" not in r.message


def test_net003_linuxbridge_mapping_and_legacy_vlan_interface(tmp_path: Path) -> None:
    node = _node()
    node.interfaces += [Interface("bond0", kind="bond"), Interface("vlan20", kind="vlan", parent="bond0",
                                                                    vlan_id=20)]
    node.file("etc/neutron/plugins/ml2/linuxbridge_agent.ini",
              "[linux_bridge]\nphysical_interface_mappings = physnet1:vlan20\n")
    node.file("etc/nova/nova.conf", "[DEFAULT]\nvlan_interface = vlan20\n")
    [r] = failing(scan_tree(node, tmp_path, "NET-003"))
    assert (r.severity, r.resource) == (Severity.high, "vlan20")
    assert "nova's vlan_interface = vlan20" in r.message and "the Linux bridge agent" in r.message
    assert ("etc/nova/nova.conf", 2) in [(e.source, e.line) for e in r.evidence]


def test_net003_compute4(compute4: Path) -> None:
    [r] = scan_dir(compute4, "NET-003")
    assert r.status is Status.passed and "(0 VLAN devices)" in r.message


# -- NET-004 -----------------------------------------------------------------------------------------------

def test_net004_healthy(tmp_path: Path) -> None:
    [r] = scan_tree(_node(), tmp_path, "NET-004")
    assert r.status is Status.passed
    assert r.message == ("physnet1 on eth1 MTU 1500 (configured 1500); "
                         "tunnel endpoint 10.0.0.31 on eth0 MTU 1500 (underlay 1500)")


def test_net004_planted_fault(tmp_path: Path) -> None:
    node = _node()
    demo_net.FAULTS["NET-004"](node)
    [r] = failing(scan_tree(node, tmp_path, "NET-004"))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "physnet1:eth1")
    assert "eth1 with MTU 1400, but neutron gives its networks MTU 1500" in r.message
    excerpts = [e.excerpt for e in r.evidence]
    assert excerpts[0].startswith("3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400")
    assert "[ovs] bridge_mappings = physnet1:br-ex" in excerpts
    assert "[DEFAULT] global_physnet_mtu = 1500" in excerpts


def test_net004_physical_network_mtus_and_tunnel_underlay(tmp_path: Path) -> None:
    node = _node()
    node.file("etc/neutron/neutron.conf", "[DEFAULT]\nglobal_physnet_mtu = 9000\n")
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini", "[ml2]\nphysical_network_mtus = physnet1:9000\n")
    results = failing(scan_tree(node, tmp_path, "NET-004"))
    assert sorted(r.resource for r in results) == ["physnet1:eth1", "tunnel:eth0"]
    tunnel = next(r for r in results if r.resource == "tunnel:eth0")
    assert "below the underlay MTU 9000" in tunnel.message and "vxlan networks 8950" in tunnel.message
    physnet = next(r for r in results if r.resource == "physnet1:eth1")
    assert "[ml2] physical_network_mtus = physnet1:9000" in [e.excerpt for e in physnet.evidence]


def test_net004_path_mtu_caps_the_underlay(tmp_path: Path) -> None:
    node = _node()
    node.file("etc/neutron/neutron.conf", "[DEFAULT]\nglobal_physnet_mtu = 9000\n")
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini",
              "[ml2]\npath_mtu = 1500\nphysical_network_mtus = physnet1:1500\n")
    [r] = scan_tree(node, tmp_path, "NET-004")
    assert r.status is Status.passed and "(underlay 1500)" in r.message


def test_net004_dpdk_ports_have_no_kernel_mtu(tmp_path: Path) -> None:
    node = _node()
    node.interfaces.remove(_iface(node, "eth1"))
    node.commands["ovs-vsctl show"] = node.commands["ovs-vsctl show"].replace(
        "        Port eth1\n            Interface eth1\n",
        "        Port dpdk0\n            Interface dpdk0\n                type: dpdk\n"
        "                options: {dpdk-devargs=\"0000:01:00.0\"}\n")
    node.file("etc/neutron/neutron.conf", "[DEFAULT]\nglobal_physnet_mtu = 9000\n")
    results = scan_tree(node, tmp_path, "NET-004")
    assert [r.resource for r in failing(results)] == ["tunnel:eth0"]


def test_net004_ovn_chassis(tmp_path: Path) -> None:
    node = _node()
    del node.files["etc/neutron/plugins/ml2/openvswitch_agent.ini"]
    node.command("ovs-vsctl list Open_vSwitch", (
        "_uuid               : 63033229-b589-4dcf-a6ba-4183c7205c1c\n"
        'external_ids        : {hostname=compute-x, ovn-bridge-mappings="physnet1:br-ex", '
        'ovn-encap-ip="10.0.0.31", ovn-encap-type=geneve, system-id=compute-x}\n'
        'ovs_version         : "3.3.0"\n'))
    _iface(node, "eth0").mtu = 1400
    results = failing(scan_tree(node, tmp_path, "NET-004"))
    assert [r.resource for r in results] == ["tunnel:eth0"]
    assert "geneve networks 1450" in results[0].message  # 1500 - 20 - default max_header_size 30
    assert results[0].evidence[2].excerpt == "external_ids:ovn-encap-ip=10.0.0.31"


def test_net004_instance_device_larger_than_any_tunnel_network(tmp_path: Path) -> None:
    node = _node()
    node.interfaces.remove(_iface(node, "eth1"))
    del node.files["etc/neutron/plugins/ml2/openvswitch_agent.ini"]
    node.file("etc/neutron/plugins/ml2/openvswitch_agent.ini",
              "[ovs]\nlocal_ip = 10.0.0.31\n\n[agent]\ntunnel_types = vxlan\n")
    node.interfaces += [Interface("tap1", kind="tun", master="ovs-system", mtu=1450),
                        Interface("tap2", kind="tun", master="ovs-system", mtu=1500)]
    [r] = failing(scan_tree(node, tmp_path, "NET-004"))
    assert (r.severity, r.resource) == (Severity.medium, "tap2")


def test_net004_missing_everything_is_skipped(tmp_path: Path) -> None:
    node = NodeTree("n", interfaces=[Interface("lo", kind="loopback")])
    [r] = scan_tree(node, tmp_path, "NET-004")
    assert r.status is Status.skipped


def test_net004_compute4(compute4: Path) -> None:
    [r] = scan_dir(compute4, "NET-004")
    assert r.status is Status.passed
    assert r.message.startswith("physnet1 on ens7 MTU 1500 (configured 1500); "
                                "tunnel endpoint 10.0.0.128 on br-ens3")


PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"


def _bare_node(name: str = "cmp-x") -> NodeTree:
    node = NodeTree(name, collected=COLLECTED)
    node.interfaces.append(Interface("lo", kind="loopback", mtu=65536, addrs=["127.0.0.1/8"]))
    node.interfaces.append(Interface("eth0", addrs=["10.0.0.31/24"]))
    return node


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


# ---------------------------------------------------------------------------------------------------------
# NET-002
# ---------------------------------------------------------------------------------------------------------

def _ct_node(runtime_max: int = 262144, buckets: int = 65536) -> NodeTree:
    node = _bare_node()
    node.sysctl.update({"net.netfilter.nf_conntrack_max": str(runtime_max), "net.nf_conntrack_max": str(runtime_max),
                        "net.netfilter.nf_conntrack_buckets": str(buckets),
                        "net.netfilter.nf_conntrack_count": "100"})
    node.file("etc/sysctl.conf", "# nothing\n")
    return node


def test_net002_persisted_and_applied_passes(tmp_path: Path) -> None:
    node = _ct_node(524288)
    node.file("etc/sysctl.d/90-ct.conf", "net.netfilter.nf_conntrack_max = 524288\nnet.nf_conntrack_max=524288\n")
    r = _one(scan_tree(node, tmp_path, "NET-002"))
    assert r.status is Status.passed
    assert "every persisted conntrack setting is in effect" in r.message


def test_net002_configured_but_not_applied_names_the_load_order(tmp_path: Path) -> None:
    node = _ct_node(262144)
    node.file("etc/sysctl.d/90-ct.conf", "net.netfilter.nf_conntrack_max = 524288\n")
    node.file("etc/modules", "bonding\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "net.netfilter.nf_conntrack_max")
    assert "configured as 524288" in r.message and "runs with 262144" in r.message
    assert "no modules-load.d entry loads nf_conntrack" in r.message
    assert r.evidence[0].source == "etc/sysctl.d/90-ct.conf" and r.evidence[0].line == 1
    assert r.evidence[1].excerpt == "net.netfilter.nf_conntrack_max = 262144"


def test_net002_module_loaded_early_changes_the_hint(tmp_path: Path) -> None:
    node = _ct_node(262144)
    node.file("etc/sysctl.d/90-ct.conf", "net.netfilter.nf_conntrack_max = 524288\n")
    node.file("etc/modules-load.d/ct.conf", "# early\nnf_conntrack\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-002")))
    assert "loaded early" in r.message
    assert any(e.source == "etc/modules-load.d/ct.conf" and e.line == 2 for e in r.evidence)


def test_net002_dual_key_drift_names_the_winner(tmp_path: Path) -> None:
    node = _ct_node(262144)
    node.file("etc/sysctl.d/10-a.conf", "net.netfilter.nf_conntrack_max = 524288\n")
    node.file("etc/sysctl.d/99-b.conf", "net.nf_conntrack_max = 262144\n")
    results = failing(scan_tree(node, tmp_path, "NET-002"))
    dual = [r for r in results if "are both configured" in r.message]
    assert len(dual) == 1 and dual[0].severity is Severity.medium
    assert "net.nf_conntrack_max = 262144 in etc/sysctl.d/99-b.conf" in dual[0].message
    # 10-a's value never applied (99-b assigned the same variable later): reported too.
    assert any(r.resource == "net.netfilter.nf_conntrack_max" and "not in effect" in r.message for r in results)


def test_net002_runtime_tuned_without_file_is_info_only(tmp_path: Path) -> None:
    r = _one(scan_tree(_ct_node(1000000), tmp_path, "NET-002"))
    assert r.status is Status.passed
    assert "set by no sysctl file" in r.message and "configuration management" in r.message


def test_net002_hashsize_option_not_applied(tmp_path: Path) -> None:
    node = _ct_node(262144, buckets=65536)
    node.file("etc/modprobe.d/nf_conntrack.conf", "options nf_conntrack hashsize=131072\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-002")))
    assert r.resource == "net.netfilter.nf_conntrack_buckets" and "hashsize=131072" in r.message


def test_net002_not_loaded_and_not_configured_is_not_applicable(tmp_path: Path) -> None:
    node = _bare_node()
    node.sysctl["net.ipv4.ip_forward"] = "1"
    node.file("etc/sysctl.conf", "net.ipv4.ip_forward = 1\n")
    r = _one(scan_tree(node, tmp_path, "NET-002"))
    assert r.status is Status.skipped and "not applicable" in r.message


def test_net002_compute4(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "NET-002"))
    assert r.status is Status.passed, r.message
    assert "net.nf_conntrack_max" in r.message


# ---------------------------------------------------------------------------------------------------------
# NET-006
# ---------------------------------------------------------------------------------------------------------

NFT_DROP = """table bridge bpdu {
\tchain fwd {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname "tap*" ether daddr 01:80:c2:00:00:00 drop # handle 3
\t}
}
"""


def _lb_node(uplink: str = "eth1", stp: int = 0) -> NodeTree:
    node = _bare_node()
    node.interfaces.append(Interface("brq1234", kind="bridge"))
    if uplink.startswith("bond"):
        node.interfaces.append(Interface(uplink, kind="bond", master="brq1234"))
        node.interfaces.append(Interface("eth1", master=uplink))
        node.interfaces.append(Interface("eth2", master=uplink))
    else:
        node.interfaces.append(Interface(uplink, master="brq1234"))
    node.interfaces.append(Interface("tap5c1e0d2a-7f", kind="tun", master="brq1234", mac="fe:16:3e:5c:1e:0d"))
    if stp:
        node.command("ip -d link", render_ip_link(node.interfaces).replace("stp_state 0", f"stp_state {stp}"))
    return node


def test_net006_linux_bridge_without_filter_warns(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_lb_node(), tmp_path, "NET-006")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "brq1234")
    assert "tap5c1e0d2a-7f" in r.message and "uplink eth1" in r.message
    assert "no bridge-family ruleset was collected" in r.message
    assert "not visible from the host" in r.message
    assert "stp_state 0" in r.evidence[0].excerpt


def test_net006_nft_bpdu_drop_rule_passes(tmp_path: Path) -> None:
    node = _lb_node()
    node.file("sos_commands/firewall_tables/nft_-a_list_ruleset", NFT_DROP)
    r = _one(scan_tree(node, tmp_path, "NET-006"))
    assert r.status is Status.passed and "brq1234 filter STP frames" in r.message


def test_net006_rule_for_other_ports_does_not_cover(tmp_path: Path) -> None:
    node = _lb_node()
    node.file("sos_commands/firewall_tables/nft_-a_list_ruleset", NFT_DROP.replace('"tap*"', '"vnet*"'))
    r = _one(failing(scan_tree(node, tmp_path, "NET-006")))
    assert "no bridge-family rule drops 01:80:c2:00:00:00 from every instance port" in r.message


def test_net006_uplink_that_lost_link_makes_it_high(tmp_path: Path) -> None:
    node = _lb_node("bond0")
    node.file("var/log/kern.log", "Dec  1 08:10:00 cmp-x kernel: [100.1] bond0: (slave eth1): link status "
                                  "definitely down, disabling slave\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-006")))
    assert (r.status, r.severity) == (Status.fail, Severity.high)
    assert "err-disable signature" in r.message
    assert r.evidence[-1].source == "var/log/kern.log" and r.evidence[-1].line == 1


def test_net006_stp_on_sends_host_bpdus(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_lb_node(stp=1), tmp_path, "NET-006")))
    assert "runs STP (stp_state 1)" in r.message and "own BPDUs" in r.message


def test_net006_hybrid_qbr_bridge_is_not_exposed(tmp_path: Path) -> None:
    node = _bare_node()
    node.interfaces.extend([
        Interface("qbr0e778df8-ca", kind="bridge"),
        Interface("tap0e778df8-ca", kind="tun", master="qbr0e778df8-ca"),
        Interface("qvb0e778df8-ca", kind="veth", master="qbr0e778df8-ca"),
    ])
    r = _one(scan_tree(node, tmp_path, "NET-006"))
    assert r.status is Status.passed and "no Linux bridge joins instance ports" in r.message


OVS_SHOW = """5b1c2d3e-0000-4000-8000-000000000031
    Bridge br-ex
        Port br-ex
            Interface br-ex
                type: internal
        Port eth1
            Interface eth1
        Port phy-br-ex
            Interface phy-br-ex
                type: patch
                options: {peer=int-br-ex}
    Bridge br-int
        Port int-br-ex
            Interface int-br-ex
                type: patch
                options: {peer=phy-br-ex}
        Port tap0e778df8-ca
            tag: 3
            Interface tap0e778df8-ca
    ovs_version: "2.17.9"
"""
BRIDGE_TABLE = """_uuid               : 1
name                : br-ex
other_config        : {{{other}}}
stp_enable          : false

_uuid               : 2
name                : br-int
other_config        : {{}}
stp_enable          : false
"""


@pytest.mark.parametrize(("other", "flagged"), [('forward-bpdu="true"', True), ("", False)])
def test_net006_ovs_forward_bpdu(tmp_path: Path, other: str, flagged: bool) -> None:
    node = _bare_node()
    node.interfaces.append(Interface("eth1", master="ovs-system"))
    node.command("ovs-vsctl show", OVS_SHOW)
    node.file("sos_commands/openvswitch/ovs-vsctl_-t_5_list_bridge", BRIDGE_TABLE.format(other=other))
    r = _one(scan_tree(node, tmp_path, "NET-006"))
    if flagged:
        assert (r.status, r.resource) == (Status.warn, "br-ex")
        assert "forward-bpdu=true" in r.message and "eth1" in r.message
        assert r.evidence[0].excerpt == "other_config:forward-bpdu=true"
    else:
        assert r.status is Status.passed


def test_net006_compute4(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "NET-006"))
    assert r.status is Status.passed, r.message


# ---------------------------------------------------------------------------------------------------------
# NET-007
# ---------------------------------------------------------------------------------------------------------

BOND = """Ethernet Channel Bonding Driver: v5.4.0-97-generic

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
MII Status: {bond}

Slave Interface: eth1
MII Status: {s1}
Link Failure Count: 1
Aggregator ID: 1

Slave Interface: eth2
MII Status: {s2}
Link Failure Count: 1
Aggregator ID: 1
"""
DOWN = "Dec  1 08:{m}:{s} cmp-x kernel: [{n}.1] bond0: (slave {dev}): link status definitely down, disabling slave\n"
NONE = "Dec  1 08:{m}:{s} cmp-x kernel: [{n}.2] bond0: now running without any active interface!\n"


def _bond_node(s1: str = "up", s2: str = "up", kern: str = "") -> NodeTree:
    node = _bare_node()
    node.interfaces.extend([Interface("bond0", kind="bond", addrs=["10.1.0.31/24"]),
                            Interface("eth1", master="bond0"), Interface("eth2", master="bond0")])
    node.file("proc/net/bonding/bond0", BOND.format(bond="up" if "up" in (s1, s2) else "down", s1=s1, s2=s2))
    node.file("var/log/kern.log", kern or "Dec  1 07:00:00 cmp-x kernel: [1.0] Linux version 5.4.0\n")
    return node


def _massacre(minute: str = "41") -> str:
    return (DOWN.format(m=minute, s="07", n=500, dev="eth1") + DOWN.format(m=minute, s="08", n=501, dev="eth2")
            + NONE.format(m=minute, s="08", n=501))


def test_net007_every_member_down_now_is_critical(tmp_path: Path) -> None:
    results = failing(scan_tree(_bond_node("down", "down"), tmp_path, "NET-007"))
    r = _one(results)
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.critical, "bond0 (now)")
    assert "eth1 MII down, eth2 MII down" in r.message
    assert r.evidence[0].source == "proc/net/bonding/bond0"


def test_net007_all_members_within_two_seconds_in_the_log(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_bond_node(kern=_massacre()), tmp_path, "NET-007")))
    assert (r.severity, r.resource) == (Severity.critical, "bond0 (log)")
    assert "switch-side shutdown pattern" in r.message
    assert {e.line for e in r.evidence} >= {1, 2}


def test_net007_spawn_before_points_at_bpdu(tmp_path: Path) -> None:
    node = _bond_node(kern=_massacre())
    node.file("var/log/nova/nova-compute.log",
              "2026-12-01 08:36:10.303 2931 INFO nova.compute.manager [req-1 - - - - -] [instance: "
              "b9000564-fe1a-409b-b8cc-1e88b294cd1d] Took 19.05 seconds to spawn the instance on the hypervisor.\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-007")))
    assert "spawned on this host 5 min before" in r.message and "NET-006" in r.message
    assert r.evidence[-1].source == "var/log/nova/nova-compute.log"


def test_net007_lacp_failure_is_told_apart(tmp_path: Path) -> None:
    lacp = "Dec  1 08:40:30 cmp-x kernel: [470.0] bond0: Warning: No 802.3ad response from the link partner for " \
           "any adapters in the bond\n"
    r = _one(failing(scan_tree(_bond_node(kern=lacp + _massacre()), tmp_path, "NET-007")))
    assert r.severity is Severity.critical and "LACP negotiation failure" in r.message


def test_net007_nic_fault_is_host_side(tmp_path: Path) -> None:
    fault = "Dec  1 08:41:00 cmp-x kernel: [490.0] NETDEV WATCHDOG: eth1 (ixgbe): transmit queue 3 timed out\n"
    r = _one(failing(scan_tree(_bond_node(kern=fault + _massacre()), tmp_path, "NET-007")))
    assert "host-side cause" in r.message


def test_net007_one_member_flap_is_not_a_loss(tmp_path: Path) -> None:
    r = _one(scan_tree(_bond_node(kern=DOWN.format(m="41", s="07", n=500, dev="eth1")), tmp_path, "NET-007"))
    assert r.status is Status.passed and "1 single-member link-down event" in r.message


def test_net007_single_member_bond_is_high(tmp_path: Path) -> None:
    node = _bare_node()
    node.interfaces.extend([Interface("bond0", kind="bond"), Interface("eth1", master="bond0")])
    node.file("proc/net/bonding/bond0", "Bonding Mode: fault-tolerance (active-backup)\nMII Status: down\n\n"
                                        "Slave Interface: eth1\nMII Status: down\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-007")))
    assert r.severity is Severity.high and "single-member" in r.message


def test_net007_compute4_has_no_bond(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "NET-007"))
    assert r.status is Status.skipped and "no bonding device" in r.message


# ---------------------------------------------------------------------------------------------------------
# NET-008
# ---------------------------------------------------------------------------------------------------------

MAC = "fa:16:3e:12:34:56"


def _dhcp(t: str, kind: str, mac: str = MAC, ip: str = "10.0.1.15 ") -> str:
    return f"Dec  1 {t} net-1 dnsmasq-dhcp[4811]: DHCP{kind}(tap5c1a2b3c-4d) {ip if kind != 'DISCOVER' else ''}{mac}\n"


def _dhcp_node(syslog: str, lease: str | None = None) -> NodeTree:
    node = _bare_node("net-1")
    node.file("etc/neutron/neutron.conf", "[DEFAULT]\n" + (f"dhcp_lease_duration = {lease}\n" if lease else ""))
    node.file("var/log/syslog", syslog or "Dec  1 08:00:00 net-1 systemd[1]: Started.\n")
    return node


def _storm(mac: str = MAC) -> str:
    return "".join(_dhcp(f"08:30:{s:02d}", k, mac) for s in (1, 21, 41) for k in ("REQUEST", "ACK"))


def test_net008_short_lease_warns(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_dhcp_node("", lease="120"), tmp_path, "NET-008")))
    assert (r.severity, r.resource) == (Severity.medium, "dhcp_lease_duration")
    assert r.evidence[0].source == "etc/neutron/neutron.conf" and r.evidence[0].line == 2


def test_net008_infinite_lease_is_fine(tmp_path: Path) -> None:
    r = _one(scan_tree(_dhcp_node("", lease="-1"), tmp_path, "NET-008"))
    assert r.status is Status.passed


def test_net008_renew_storm(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_dhcp_node(_storm()), tmp_path, "NET-008")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, MAC)
    assert "renewed 3 times within 60 s" in r.message
    assert r.evidence[0].source == "var/log/syslog" and r.evidence[0].line == 1


def test_net008_discover_while_holding_a_lease(tmp_path: Path) -> None:
    log = _dhcp("08:00:00", "REQUEST") + _dhcp("08:00:00", "ACK") + "".join(
        _dhcp(f"08:30:{s:02d}", "DISCOVER") for s in (1, 11, 21))
    r = _one(failing(scan_tree(_dhcp_node(log), tmp_path, "NET-008")))
    assert "broadcast DISCOVER 3 times" in r.message and "ACKed at 2026-12-01 08:00:00" in r.message


def test_net008_pxe_or_libvirt_macs_are_ignored(tmp_path: Path) -> None:
    r = _one(scan_tree(_dhcp_node(_storm("52:54:00:aa:bb:cc")), tmp_path, "NET-008"))
    assert r.status is Status.passed and "1 non-neutron MAC(s) ignored" in r.message


def test_net008_same_exchange_logged_twice_counts_once(tmp_path: Path) -> None:
    two_pairs = "".join(_dhcp(f"08:30:{s:02d}", k) for s in (1, 21) for k in ("REQUEST", "ACK"))
    r = _one(scan_tree(_dhcp_node(two_pairs + two_pairs), tmp_path, "NET-008"))
    assert r.status is Status.passed


def test_net008_base_log_dir_files_are_read(tmp_path: Path) -> None:
    node = _dhcp_node("")
    node.file("etc/neutron/dhcp_agent.ini", "[DEFAULT]\ndnsmasq_base_log_dir = /var/log/neutron/dnsmasq\n")
    node.file("var/log/neutron/dnsmasq/9d3c1b2a-4e5f-4a6b-8c7d-0e1f2a3b4c5d/dhcp_dns_log", _storm())
    r = _one(failing(scan_tree(node, tmp_path, "NET-008")))
    assert r.evidence[0].source.endswith("9d3c1b2a-4e5f-4a6b-8c7d-0e1f2a3b4c5d/dhcp_dns_log")


def test_net008_local_instance_is_named(tmp_path: Path) -> None:
    node = _dhcp_node(_storm())
    node.file("run/libvirt/qemu/instance-00000001.xml", _domain_xml("running", mac=MAC))
    r = _one(failing(scan_tree(node, tmp_path, "NET-008")))
    assert "tap0e778df8-ca of instance-00000001 on this host (see NET-009)" in r.message


def test_net008_compute4(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "NET-008"))
    assert r.status is Status.passed, r.message


# ---------------------------------------------------------------------------------------------------------
# NET-009
# ---------------------------------------------------------------------------------------------------------

def _domain_xml(state: str, reason: str = "booted", dev: str = "tap0e778df8-ca", mac: str = "fa:16:3e:a7:45:cb") -> str:
    return f"""<!-- WARNING: auto-generated -->
<domstatus state='{state}' reason='{reason}' pid='1791722'>
  <domain type='kvm' id='2'>
    <name>instance-00000001</name>
    <uuid>d1d75e2f-ada4-49bc-a963-528d89dfda25</uuid>
    <metadata>
      <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.0">
        <nova:name>web-1</nova:name>
      </nova:instance>
    </metadata>
    <devices>
      <interface type='bridge'>
        <mac address='{mac}'/>
        <source bridge='br-int'/>
        <virtualport type='openvswitch'><parameters interfaceid='0e778df8-ca29-490b-8d54-e238b1e0be1c'/></virtualport>
        <target dev='{dev}'/>
        <model type='virtio'/>
      </interface>
    </devices>
  </domain>
</domstatus>
"""


def _tap_link(name: str, tx: int, dropped: int, rx: int = 5000) -> str:
    return (f"1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default\n"
            f"    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0\n"
            f"2: {name}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc fq_codel master ovs-system state UNKNOWN "
            f"mode DEFAULT group default qlen 1000\n"
            f"    link/ether fe:16:3e:a7:45:cb brd ff:ff:ff:ff:ff:ff promiscuity 1\n"
            f"    tun type tap pi off vnet_hdr on persist off \n"
            f"    openvswitch_slave addrgenmode eui64 numtxqueues 1 numrxqueues 1 \n"
            f"    RX: bytes  packets  errors  dropped overrun mcast   \n"
            f"    {rx * 100}  {rx}  0       0       0       0       \n"
            f"    TX: bytes  packets  errors  dropped carrier collsns \n"
            f"    {tx * 100}  {tx}  0       {dropped}  0       0       \n")


def _tap_node(tx: int, dropped: int, domain: str | None = "running", name: str = "tap0e778df8-ca") -> NodeTree:
    node = _bare_node()
    node.command("ip -d link", _tap_link(name, tx, dropped))
    if domain is not None:
        node.file("run/libvirt/qemu/instance-00000001.xml", _domain_xml(domain))
    return node


def test_net009_tap_dropping_more_than_one_percent(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_tap_node(20000, 1000), tmp_path, "NET-009")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "tap0e778df8-ca")
    assert "instance web-1 (instance-00000001)" in r.message and "1000 of 21000 host-to-guest packets dropped (4.8%)" in r.message
    assert r.evidence[0].source == "sos_commands/networking/ip_-s_-d_link"
    assert "TX packets 20000 dropped 1000" in r.evidence[0].excerpt


def test_net009_healthy_tap_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_tap_node(20000, 10), tmp_path, "NET-009"))
    assert r.status is Status.passed and "1 devices checked" in r.message


def test_net009_quiet_device_is_not_judged_on_ratio(tmp_path: Path) -> None:
    r = _one(scan_tree(_tap_node(500, 100), tmp_path, "NET-009"))
    assert r.status is Status.passed


@pytest.mark.parametrize(("domain", "why"), [("paused", "is paused"), (None, "no running libvirt domain")])
def test_net009_paused_or_absent_guest_is_not_judged(tmp_path: Path, domain: str | None, why: str) -> None:
    node = _tap_node(20000, 1000, domain=domain)
    if domain is None:
        node.file("run/libvirt/qemu/.keep", "")
    r = _one(scan_tree(node, tmp_path, "NET-009"))
    assert r.status is Status.passed and why in r.message


def test_net009_qvo_maps_to_the_tap_domain(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_tap_node(20000, 1000, name="qvo0e778df8-ca"), tmp_path, "NET-009")))
    assert r.resource == "qvo0e778df8-ca" and "web-1" in r.message


class _LiveTaps(HostView):
    """A live-kind view over a directory, with canned command outputs (no real commands run)."""

    kind = "live"

    def __init__(self, root: Path, outputs: dict[str, str]) -> None:
        super().__init__(str(root))
        self.root = root
        self.outputs = outputs

    def resolve(self, path: str) -> Path | None:
        real = self.root / path
        return real if real.exists() else None

    def glob(self, pattern: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern))

    def command(self, key: str) -> Text | None:
        out = self.outputs.get(key)
        return Text(f"cmd:{key}", out) if out is not None else None

    def hostname(self) -> str:
        return "live-cmp"


def _counters(root: Path, dev: str, tx: int, dropped: int, rx: int) -> None:
    stats = root / "sys/class/net" / dev / "statistics"
    stats.mkdir(parents=True, exist_ok=True)
    for name, value in (("tx_packets", tx), ("tx_dropped", dropped), ("rx_packets", rx)):
        (stats / name).write_text(f"{value}\n")


@pytest.fixture
def live_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_LiveTaps, list[float]]]:
    dev = "tap0e778df8-ca"
    _counters(tmp_path, dev, 20000, 5, 5000)
    (tmp_path / "run/libvirt/qemu").mkdir(parents=True)
    (tmp_path / "run/libvirt/qemu/instance-00000001.xml").write_text(_domain_xml("running"))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        _counters(tmp_path, dev, 20400, 405, 5000)  # 400 more sent, 400 more dropped, nothing back

    monkeypatch.setattr(net.time, "sleep", sleep)
    yield _LiveTaps(tmp_path, {"ip -d link": _tap_link(dev, 20000, 5)}), slept


def test_net009_live_guest_not_processing_is_high(live_view: tuple[_LiveTaps, list[float]]) -> None:
    view, slept = live_view
    [r] = scan_host(view, select_checks(load_all_checks(), only=["NET-009"]))
    assert slept == [net.LIVE_INTERVAL_S]
    assert (r.status, r.severity) == (Status.fail, Severity.high)
    assert "sent 400 packets, dropped 400 more and received nothing back" in r.message


# ---------------------------------------------------------------------------------------------------------
# NET-010
# ---------------------------------------------------------------------------------------------------------

SHOW_BR_EX = """5b1c2d3e-0000-4000-8000-000000000021
    Bridge br-ex
        Port br-ex
            Interface br-ex
                type: internal
{uplink}        Port phy-br-ex
            Interface phy-br-ex
                type: patch
                options: {{peer=int-br-ex}}
    ovs_version: "2.17.9"
"""
ETH1 = "        Port eth1\n            Interface eth1\n"


def _map_node(mappings: str = "physnet1:br-ex", uplink: bool = True, l3: str = "") -> NodeTree:
    node = _bare_node("net-1")
    node.file("etc/neutron/plugins/ml2/openvswitch_agent.ini", f"[ovs]\nbridge_mappings = {mappings}\n")
    node.command("ovs-vsctl show", SHOW_BR_EX.format(uplink=ETH1 if uplink else ""))
    node.command("ovs-vsctl list-br", "br-ex\n")
    if l3:
        node.file("etc/neutron/l3_agent.ini", l3)
    return node


def test_net010_mapped_bridge_with_uplink_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_map_node(l3="[DEFAULT]\nagent_mode = dvr_snat\n"), tmp_path, "NET-010"))
    assert r.status is Status.passed and "physnet1:br-ex" in r.message and "L3 node" in r.message


def test_net010_missing_bridge_is_critical_and_confirmed_by_the_log(tmp_path: Path) -> None:
    node = _map_node("physnet1:br-ex,physnet2:br-ex2")
    node.file("var/log/neutron/neutron-openvswitch-agent.log",
              "2026-12-01 08:00:00.000 1603 ERROR neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent "
              "[-] Bridge br-ex2 for physical network physnet2 does not exist. Agent terminated!\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-010")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.critical, "br-ex2")
    assert "agent log confirms" in r.message
    assert r.evidence[-1].source == "var/log/neutron/neutron-openvswitch-agent.log"


def test_net010_bridge_without_uplink_is_high(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_map_node(uplink=False), tmp_path, "NET-010")))
    assert (r.severity, r.resource) == (Severity.high, "br-ex") and "no port other than internal/patch" in r.message


def test_net010_duplicate_physnet_and_long_name(tmp_path: Path) -> None:
    node = _map_node("physnet1:br-ex,physnet1:br-provider-long")
    node.command("ovs-vsctl list-br", "br-ex\nbr-provider-long\n")
    results = failing(scan_tree(node, tmp_path, "NET-010"))
    assert any(r.severity is Severity.high and "physnet physnet1 appears 2 times" in r.message for r in results)
    assert any(r.severity is Severity.low and r.resource == "br-provider-long" for r in results)


def test_net010_legacy_l3_options(tmp_path: Path) -> None:
    node = _map_node(l3="[DEFAULT]\nexternal_network_bridge = br-ex\ngateway_external_network_id =\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-010")))
    assert (r.severity, r.resource) == (Severity.medium, "external_network_bridge")


def test_net010_physnet_unknown_to_the_server(tmp_path: Path) -> None:
    node = _map_node("physnet2:br-ex")
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini",
              "[ml2_type_flat]\nflat_networks = physnet1\n[ml2_type_vlan]\nnetwork_vlan_ranges = physnet1:100:200\n")
    r = _one(failing(scan_tree(node, tmp_path, "NET-010")))
    assert (r.severity, r.resource) == (Severity.medium, "physnet2")


def test_net010_flat_wildcard_allows_every_physnet(tmp_path: Path) -> None:
    node = _map_node("physnet2:br-ex")
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini", "[ml2_type_flat]\nflat_networks = *\n")
    r = _one(scan_tree(node, tmp_path, "NET-010"))
    assert r.status is Status.passed


def test_net010_ovn_chassis_is_not_applicable(tmp_path: Path) -> None:
    node = _bare_node()
    node.command("ovs-vsctl list Open_vSwitch", '_uuid : 1\nexternal_ids : {ovn-remote="tcp:10.0.0.10:6642", '
                                               'system-id=cmp-x}\n')
    r = _one(scan_tree(node, tmp_path, "NET-010"))
    assert r.status is Status.skipped and "OVN-002" in r.message


def test_net010_compute4(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "NET-010"))
    assert r.status is Status.passed and "physnet1:br-data" in r.message
