from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackrx.checks import net_extra
from stackrx.demo.builder import Interface, NodeTree, render_ip_link
from stackrx.engine import load_all_checks, scan_host, select_checks
from stackrx.models import Result, Severity, Status
from stackrx.sources.base import HostView, Text
from testkit import failing, scan_dir, scan_tree

COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"


def _node(name: str = "cmp-x") -> NodeTree:
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
    node = _node()
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
    node = _node()
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
    node = _node()
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
    node = _node()
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
    node = _node()
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
    node = _node()
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
    node = _node()
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
    node = _node("net-1")
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
    node = _node()
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

    monkeypatch.setattr(net_extra.time, "sleep", sleep)
    yield _LiveTaps(tmp_path, {"ip -d link": _tap_link(dev, 20000, 5)}), slept


def test_net009_live_guest_not_processing_is_high(live_view: tuple[_LiveTaps, list[float]]) -> None:
    view, slept = live_view
    [r] = scan_host(view, select_checks(load_all_checks(), only=["NET-009"]))
    assert slept == [net_extra.LIVE_INTERVAL_S]
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
    node = _node("net-1")
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
    node = _node()
    node.command("ovs-vsctl list Open_vSwitch", '_uuid : 1\nexternal_ids : {ovn-remote="tcp:10.0.0.10:6642", '
                                               'system-id=cmp-x}\n')
    r = _one(scan_tree(node, tmp_path, "NET-010"))
    assert r.status is Status.skipped and "OVN-002" in r.message


def test_net010_compute4(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "NET-010"))
    assert r.status is Status.passed and "physnet1:br-data" in r.message
