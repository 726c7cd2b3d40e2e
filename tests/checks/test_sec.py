from __future__ import annotations

from pathlib import Path

from stackrx.demo.areas import net as demo_net
from stackrx.demo.builder import Interface, NodeTree
from stackrx.models import Severity, Status
from testkit import failing, scan_dir, scan_tree

COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"


def _node(role: str = "network", ip: str = "10.0.0.21") -> NodeTree:
    node = NodeTree(f"{role}-x", collected=COLLECTED)
    node.interfaces.append(Interface("lo", kind="loopback", mtu=65536, addrs=["127.0.0.1/8"]))
    node.interfaces.append(Interface("eth0", addrs=[f"{ip}/24"]))
    demo_net.healthy(node, role)
    return node


def test_healthy_passes(tmp_path: Path) -> None:
    [r] = scan_tree(_node(), tmp_path, "SEC-001")
    assert r.status is Status.passed
    assert "eth0" in r.message and "eth1" in r.message
    assert r.evidence[0].excerpt == "net.ipv4.conf.all.proxy_arp = 0"


def test_planted_fault_warns_medium_with_persistence(tmp_path: Path) -> None:
    node = _node()
    demo_net.FAULTS["SEC-001"](node)
    [r] = failing(scan_tree(node, tmp_path, "SEC-001"))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "eth1")
    sources = {e.source: e for e in r.evidence}
    assert sources["sos_commands/kernel/sysctl_-a"].excerpt == "net.ipv4.conf.eth1.proxy_arp = 1"
    assert sources["etc/sysctl.d/60-floating-ip.conf"].line == 1


def test_routes_via_other_devices_make_it_high(tmp_path: Path) -> None:
    node = _node()
    node.interfaces.append(Interface("eth2", addrs=["192.168.7.1/24"]))
    node.sysctl["net.ipv4.conf.eth1.proxy_arp"] = "1"
    node.commands["ip route show table all"] += (
        "172.24.4.0/24 dev br-ex proto kernel scope link src 172.24.4.1 \n"
        "203.0.113.0/28 via 172.24.4.10 dev br-ex proto static \n"
    )
    [r] = failing(scan_tree(node, tmp_path, "SEC-001"))
    assert (r.status, r.severity) == (Status.fail, Severity.high)
    assert "203.0.113.0/28 dev br-ex" in r.message and "172.24.4.0/24 dev br-ex" in r.message
    # eth0's own connected subnet is a multi-homed host, not an internal range.
    assert "10.0.0.0/24" not in r.message


def test_conf_all_enables_every_interface(tmp_path: Path) -> None:
    node = _node()
    node.sysctl["net.ipv4.conf.all.proxy_arp"] = "1"
    [r] = failing(scan_tree(node, tmp_path, "SEC-001"))
    assert r.resource == "all" and "conf.all.proxy_arp = 1" in r.message
    assert (r.status, r.severity) == (Status.warn, Severity.medium)


def test_conf_all_with_static_route_is_high(tmp_path: Path) -> None:
    node = _node()
    node.sysctl["net.ipv4.conf.all.proxy_arp"] = "1"
    node.commands["ip route show table all"] += "10.20.0.0/16 via 10.0.0.254 dev eth0 proto static \n"
    [r] = failing(scan_tree(node, tmp_path, "SEC-001"))
    assert (r.severity, r.resource) == (Severity.high, "all")
    assert r.evidence[-1].excerpt == "10.20.0.0/16 via 10.0.0.254 dev eth0 proto static"


def test_single_nic_design_stays_medium_with_note(tmp_path: Path) -> None:
    node = NodeTree("single", collected=COLLECTED)
    node.interfaces.append(Interface("lo", kind="loopback", mtu=65536, addrs=["127.0.0.1/8"]))
    node.interfaces.append(Interface("eno1", addrs=["198.51.100.5/24"]))
    node.interfaces.append(Interface("virbr1", kind="bridge", addrs=["111.0.0.1/28"]))
    node.sysctl.update({"net.ipv4.conf.all.proxy_arp": "0", "net.ipv4.conf.eno1.proxy_arp": "1"})
    node.command("ip route show table all", (
        "default via 198.51.100.1 dev eno1 \n"
        "111.0.0.0/28 dev virbr1 proto kernel scope link src 111.0.0.1 \n"
    ))
    [r] = failing(scan_tree(node, tmp_path, "SEC-001"))
    assert (r.severity, r.resource) == (Severity.medium, "eno1")
    assert "Single-NIC host" in r.message and "1 routed prefixes" in r.message


def test_internal_and_instance_devices_are_not_uplinks(tmp_path: Path) -> None:
    node = _node("compute", "10.0.0.31")
    node.interfaces.append(Interface("tap0e778df8-ca", kind="tun", master="ovs-system"))
    node.interfaces.append(Interface("lxdbr0", kind="bridge", addrs=["10.50.99.1/24"]))
    node.sysctl["net.ipv4.conf.tap0e778df8-ca.proxy_arp"] = "1"
    node.sysctl["net.ipv4.conf.lxdbr0.proxy_arp"] = "1"
    [r] = scan_tree(node, tmp_path, "SEC-001")
    assert r.status is Status.passed


def test_fip_namespace_proxy_arp_is_by_design(tmp_path: Path) -> None:
    node = _node()
    node.namespaces["fip-1"] = {"sysctl -a": "net.ipv4.conf.fg-c8dcce74-c4.proxy_arp = 1\n"
                                             "net.ipv4.conf.all.proxy_arp = 0\n"}
    [r] = scan_tree(node, tmp_path, "SEC-001")
    assert r.status is Status.passed


def test_vlan_and_bridge_uplinks(tmp_path: Path) -> None:
    node = _node()
    node.interfaces.append(Interface("bond0", kind="bond"))
    node.interfaces.append(Interface("bond0.300", kind="vlan", parent="bond0", vlan_id=300))
    node.interfaces.append(Interface("br-mgmt", kind="bridge", addrs=["10.9.0.5/24"]))
    node.interfaces.append(Interface("eth3", master="br-mgmt"))
    node.sysctl["net.ipv4.conf.bond0/300.proxy_arp"] = "1"
    node.sysctl["net.ipv4.conf.br-mgmt.proxy_arp"] = "1"
    results = failing(scan_tree(node, tmp_path, "SEC-001"))
    assert sorted(r.resource for r in results) == ["bond0.300", "br-mgmt"]


def test_missing_sysctl_is_skipped(tmp_path: Path) -> None:
    [r] = scan_tree(NodeTree("bare"), tmp_path, "SEC-001")
    assert r.status is Status.skipped and "sysctl_-a" in r.message


def test_compute4(compute4: Path) -> None:
    [r] = scan_dir(compute4, "SEC-001")
    assert r.status is Status.passed
    assert "br-ens3" in r.message and "ens7" in r.message
