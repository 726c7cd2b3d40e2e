from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import Interface, NodeTree
from stackrx.models import Result, Severity, Status
from testkit import failing, scan_dir, scan_tree

COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
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


def _node(os_release: str = RHEL, mode: str = "permissive", config: str = "enforcing", rpms: str | None = RPMS,
          ps: tuple[tuple[str, str], ...] = (), public: bool = False) -> NodeTree:
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
    r = _one(failing(scan_tree(_node(), tmp_path, "SEC-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.low, "selinux")
    assert "setenforce 0" in r.message and "openstack-selinux 0.8.40-1.el9ost" in r.message
    sources = {e.source for e in r.evidence}
    assert {"sos_commands/selinux/sestatus", "etc/selinux/config", "sos_commands/rpm/package-data"} <= sources


def test_sec002_internet_facing_controller_is_medium(tmp_path: Path) -> None:
    node = _node(ps=CONTROLLER, public=True)
    node.file("sos_commands/firewall_tables/iptables_-t_filter_-nvL", IPT_FILTERED)
    r = _one(failing(scan_tree(node, tmp_path, "SEC-002")))
    assert r.severity is Severity.medium and "public address 8.8.4.10/24" in r.message


def test_sec002_enforcing_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(mode="enforcing"), tmp_path, "SEC-002"))
    assert r.status is Status.passed and "SELinux enforcing" in r.message


def test_sec002_without_openstack_selinux_permissive_is_expected(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(rpms="bash-5.1.8-9.el9.x86_64\tMon\n"), tmp_path, "SEC-002"))
    assert r.status is Status.passed and "openstack-selinux is not installed" in r.message


@pytest.mark.parametrize(("table", "flagged"), [(IPT_OPEN, True), (IPT_FILTERED, False)])
def test_sec002_open_input_chain_on_a_controller(tmp_path: Path, table: str, flagged: bool) -> None:
    node = _node(os_release=UBUNTU, mode="", rpms=None, ps=CONTROLLER)
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
    node = _node(os_release=UBUNTU, mode="", rpms=None,
                 ps=(("1000114", "(wsgi:keystone-pu -k start"), ("1000033", "/usr/sbin/apache2 -k start")))
    node.file("sos_commands/firewall_tables/iptables_-t_filter_-nvL", IPT_OPEN)
    r = _one(scan_tree(node, tmp_path, "SEC-002"))
    assert r.status is Status.skipped and "not a controller" in r.message


def test_sec002_compute4_is_not_applicable(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "SEC-002"))
    assert r.status is Status.skipped and "not a RHEL-family node" in r.message
