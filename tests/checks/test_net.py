from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.checks.net import kernel_default_conntrack
from stackrx.demo.areas import net as demo_net
from stackrx.demo.builder import Interface, NodeTree, render_sysctl
from stackrx.models import Severity, Status
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
