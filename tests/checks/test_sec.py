from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.areas import net as demo_net
from stackrx.demo.builder import Interface, NodeTree
from stackrx.models import Result, Severity, Status
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


PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
RHEL = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nPRETTY_NAME="RHEL 9.4 (Plow)"\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n'
SESTATUS = """SELinux status:                 enabled
SELinuxfs mount:                /sys/fs/selinux
Loaded policy name:             targeted
Current mode:                   {mode}
Mode from config file:          {config}
"""
RPMS = ("openstack-selinux-0.8.40-1.el9ost.noarch\tMon 30 Nov 2026\t1764460800\tRed Hat\thost\tRSA\tsig\n"
        "bash-5.1.8-9.el9.x86_64\tMon 30 Nov 2026\t1764460800\tRed Hat\thost\tRSA\tsig\n")
IPT_OPEN = """Chain INPUT (policy ACCEPT 18 packets, 1440 bytes)
 pkts bytes target     prot opt in     out     source               destination

Chain FORWARD (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination

Chain OUTPUT (policy ACCEPT 12 packets, 1200 bytes)
 pkts bytes target     prot opt in     out     source               destination
"""
IPT_FILTERED = IPT_OPEN.replace(
    "destination\n\nChain FORWARD",
    "destination\n  100  6000 ACCEPT     tcp  --  *      *       10.0.0.0/24          0.0.0.0/0            tcp "
    "dpt:5000\n\nChain FORWARD", 1)


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _hardening_node(os_release: str = RHEL, mode: str = "permissive", config: str = "enforcing",
                    rpms: str | None = RPMS, ps: tuple[tuple[str, str], ...] = (),
                    public: bool = False) -> NodeTree:
    node = NodeTree("ctl-1", collected=COLLECTED)
    node.interfaces.append(Interface("eth0", addrs=["10.0.0.10/24", *(["8.8.4.10/24"] if public else [])]))
    node.file("etc/os-release", os_release)
    if mode:
        node.file("sos_commands/selinux/sestatus", SESTATUS.format(mode=mode, config=config))
        node.file("etc/selinux/config", f"# managed\nSELINUX={config}\nSELINUXTYPE=targeted\n")
    if rpms is not None:
        node.file("sos_commands/rpm/package-data", rpms)
    rows = [f"{user} {1000 + i} 0.0 0.1 1000 100 ? Ss Nov30 0:01 {cmd}\n" for i, (user, cmd) in enumerate(ps)]
    node.command("ps auxwww", PS_HEADER + "root 1 0.0 0.0 1 1 ? Ss Nov30 0:01 /sbin/init\n" + "".join(rows))
    return node


CONTROLLER = (("neutron", "/usr/bin/python3 /usr/bin/neutron-server --config-file /etc/neutron/neutron.conf"),)


def test_sec002_permissive_with_policy_installed_is_low(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_hardening_node(), tmp_path, "SEC-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.low, "selinux")
    assert "setenforce 0" in r.message and "openstack-selinux 0.8.40-1.el9ost" in r.message
    sources = {e.source for e in r.evidence}
    assert {"sos_commands/selinux/sestatus", "etc/selinux/config", "sos_commands/rpm/package-data"} <= sources


def test_sec002_internet_facing_controller_is_medium(tmp_path: Path) -> None:
    node = _hardening_node(ps=CONTROLLER, public=True)
    node.file("sos_commands/firewall_tables/iptables_-t_filter_-nvL", IPT_FILTERED)
    r = _one(failing(scan_tree(node, tmp_path, "SEC-002")))
    assert r.severity is Severity.medium and "public address 8.8.4.10/24" in r.message


def test_sec002_enforcing_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_hardening_node(mode="enforcing"), tmp_path, "SEC-002"))
    assert r.status is Status.passed and "SELinux enforcing" in r.message


def test_sec002_without_openstack_selinux_permissive_is_expected(tmp_path: Path) -> None:
    r = _one(scan_tree(_hardening_node(rpms="bash-5.1.8-9.el9.x86_64\tMon\n"), tmp_path, "SEC-002"))
    assert r.status is Status.passed and "openstack-selinux is not installed" in r.message


@pytest.mark.parametrize(("table", "flagged"), [(IPT_OPEN, True), (IPT_FILTERED, False)])
def test_sec002_open_input_chain_on_a_controller(tmp_path: Path, table: str, flagged: bool) -> None:
    node = _hardening_node(os_release=UBUNTU, mode="", rpms=None, ps=CONTROLLER)
    node.file("sos_commands/firewall_tables/iptables_-t_filter_-nvL", table)
    node.file("etc/ufw/ufw.conf", "ENABLED=no\nLOGLEVEL=low\n")
    results = scan_tree(node, tmp_path, "SEC-002")
    if flagged:
        r = _one(failing(results))
        assert (r.severity, r.resource) == (Severity.low, "INPUT")
        assert "ufw inactive" in r.message
        assert r.evidence[0].excerpt.startswith("Chain INPUT (policy ACCEPT")
    else:
        r = _one(results)
        assert r.status is Status.passed and "INPUT is filtered" in r.message


def test_sec002_services_in_unprivileged_containers_are_not_the_host(tmp_path: Path) -> None:
    node = _hardening_node(os_release=UBUNTU, mode="", rpms=None,
                           ps=(("1000114", "(wsgi:keystone-pu -k start"), ("1000033", "/usr/sbin/apache2 -k start")))
    node.file("sos_commands/firewall_tables/iptables_-t_filter_-nvL", IPT_OPEN)
    r = _one(scan_tree(node, tmp_path, "SEC-002"))
    assert r.status is Status.skipped and "not a controller" in r.message


def test_sec002_compute4_is_not_applicable(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "SEC-002"))
    assert r.status is Status.skipped and "not a RHEL-family node" in r.message
