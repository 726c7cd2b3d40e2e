"""Demo cloud, host networking area: interfaces, sysctl, conntrack, neutron MTU/physnet configuration.

Every node gets loopback and the management NIC eth0 (10.0.0.0/24), a realistic `sysctl -a` subset
(conntrack at a few percent of a default-sized table, proxy_arp off everywhere), `conntrack -S` without drops
and a routing table. Neutron nodes share one ml2/neutron configuration (physnet1 is a VLAN physnet 100-200,
tenant networks are VXLAN, global_physnet_mtu 1500); network and compute nodes have the OVS provider bridge
br-ex with uplink eth1, mapped `physnet1:br-ex`, and tunnel over eth0. FAULTS plant one tale each.
"""

from __future__ import annotations

from collections.abc import Callable

from stackrx.demo.builder import Interface, NodeTree

MGMT_PREFIX = "10.0.0."
RAM_KIB = 16393164  # 16 GiB host: kernel 5.4 defaults to 65536 buckets and 262144 entries
CT_MAX = 262144
CT_BUCKETS = 65536
HEALTHY_CT_COUNT = 4180
NEUTRON_ROLES = ("controller", "network", "compute")
OVS_ROLES = ("network", "compute")

NEUTRON_CONF = """[DEFAULT]
core_plugin = ml2
global_physnet_mtu = 1500
"""

ML2_CONF = """[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = openvswitch,l2population
path_mtu = 0

[ml2_type_vlan]
network_vlan_ranges = physnet1:100:200

[ml2_type_vxlan]
vni_ranges = 1:1000
"""

OVS_AGENT_INI = """[ovs]
bridge_mappings = physnet1:br-ex
local_ip = {ip}

[agent]
tunnel_types = vxlan
l2_population = True

[securitygroup]
firewall_driver = openvswitch
"""

OVS_SHOW_BR_EX = """    Bridge br-ex
        fail_mode: secure
        datapath_type: system
        Port br-ex
            Interface br-ex
                type: internal
        Port eth1
            Interface eth1
"""

FREE = """              total        used        free      shared  buff/cache   available
Mem:       {total:>8}     5474740     2185156       44924     8733268    10638440
Swap:       4194300           0     4194300
"""

CONNTRACK_S = "".join(
    f"cpu={cpu:<4}\tfound=0 invalid={17 * (cpu + 1)} ignore={90211 + cpu} insert=0 insert_failed=0 drop=0 "
    f"early_drop=0 error=0 search_restart={12 + cpu} \n" for cpu in range(4)
)

KERN_TABLE_FULL = "".join(
    f"Dec  1 08:{minute:02d}:{second:02d} {{host}} kernel: "
    f"[{4_801_233 + minute * 60 + second}.{412 + minute:03d}] "
    "nf_conntrack: nf_conntrack: table full, dropping packet\n"
    for minute, second in ((41, 7), (41, 9), (52, 30))
) + "Dec  1 08:52:35 {host} kernel: [4804388.102] net_ratelimit: 212 callbacks suppressed\n"


def _ip(node: NodeTree) -> str:
    eth0 = _iface(node, "eth0")
    for addr in eth0.addrs if eth0 is not None else []:
        if addr.startswith(MGMT_PREFIX):
            return addr.split("/")[0]
    return MGMT_PREFIX + "1"


def _iface(node: NodeTree, name: str) -> Interface | None:
    return next((i for i in node.interfaces if i.name == name), None)


def _ensure_base_interfaces(node: NodeTree) -> None:
    if _iface(node, "lo") is None:
        node.interfaces.insert(0, Interface("lo", kind="loopback", mtu=65536,
                                            addrs=["127.0.0.1/8", "::1/128 host"], mac="00:00:00:00:00:00"))
    if _iface(node, "eth0") is None:
        node.interfaces.append(Interface("eth0", addrs=[f"{MGMT_PREFIX}1/24"]))


def _sysctl(node: NodeTree, role: str) -> None:
    values = {
        "net.netfilter.nf_conntrack_count": str(HEALTHY_CT_COUNT),
        "net.netfilter.nf_conntrack_max": str(CT_MAX),
        "net.nf_conntrack_max": str(CT_MAX),
        "net.netfilter.nf_conntrack_buckets": str(CT_BUCKETS),
        "net.netfilter.nf_conntrack_tcp_timeout_established": "432000",
        "net.netfilter.nf_conntrack_checksum": "1",
        "net.ipv4.ip_forward": "1" if role in OVS_ROLES else "0",
        "net.ipv4.conf.all.rp_filter": "2",
        "net.ipv4.conf.default.rp_filter": "2",
        "net.ipv4.neigh.default.gc_thresh1": "128",
        "net.ipv4.neigh.default.gc_thresh3": "32768",
        "net.core.somaxconn": "4096",
        "kernel.pid_max": "4194304",
        "vm.max_map_count": "524288",
        "fs.inotify.max_user_instances": "1024",
    }
    for name in ("all", "default", *(i.name for i in node.interfaces)):
        key = name.replace(".", "/")
        values[f"net.ipv4.conf.{key}.proxy_arp"] = "0"
        values[f"net.ipv4.conf.{key}.proxy_arp_pvlan"] = "0"
        values[f"net.ipv4.conf.{key}.forwarding"] = values["net.ipv4.ip_forward"]
    for key, value in values.items():
        node.sysctl.setdefault(key, value)


def _routes(node: NodeTree) -> None:
    ip = _ip(node)
    node.command("ip route show table all", (
        f"default via {MGMT_PREFIX}1 dev eth0 proto static \n"
        f"{MGMT_PREFIX}0/24 dev eth0 proto kernel scope link src {ip} \n"
        f"broadcast {MGMT_PREFIX}0 dev eth0 table local proto kernel scope link src {ip} \n"
        f"local {ip} dev eth0 table local proto kernel scope host src {ip} \n"
        f"broadcast {MGMT_PREFIX}255 dev eth0 table local proto kernel scope link src {ip} \n"
        "broadcast 127.0.0.0 dev lo table local proto kernel scope link src 127.0.0.1 \n"
        "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n"
        "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n"
        "::1 dev lo proto kernel metric 256 pref medium\n"
    ))


def _ovs_provider(node: NodeTree) -> None:
    suffix = _ip(node).rsplit(".", 1)[-1]
    node.interfaces.extend([
        Interface("eth1", master="ovs-system", mac=f"52:54:00:01:00:{int(suffix):02x}"),
        Interface("ovs-system", kind="openvswitch", mac=f"1a:d8:a5:27:9b:{int(suffix):02x}"),
        Interface("br-ex", kind="openvswitch", mac=f"52:b5:78:b8:fe:{int(suffix):02x}"),
    ])
    node.file("etc/neutron/plugins/ml2/openvswitch_agent.ini", OVS_AGENT_INI.format(ip=_ip(node)))
    existing = node.commands.get("ovs-vsctl show")
    if existing is None:
        node.command("ovs-vsctl show", "5b1c2d3e-0000-4000-8000-0000000000" + suffix.zfill(2) + "\n"
                     + OVS_SHOW_BR_EX + '    ovs_version: "2.17.9"\n')
    elif "Bridge br-ex" not in existing:
        head, _, tail = existing.partition("    ovs_version:")
        node.command("ovs-vsctl show", head + OVS_SHOW_BR_EX + ("    ovs_version:" + tail if tail else ""))
    listing = node.commands.get("ovs-vsctl list-br", "")
    if "br-ex" not in listing.split():
        node.command("ovs-vsctl list-br", listing + "br-ex\n")


def healthy(node: NodeTree, role: str) -> None:
    _ensure_base_interfaces(node)
    if role in OVS_ROLES:
        _ovs_provider(node)
    if role in NEUTRON_ROLES:
        node.file("etc/neutron/neutron.conf", NEUTRON_CONF + node.files.get("etc/neutron/neutron.conf", ""))
        node.file("etc/neutron/plugins/ml2/ml2_conf.ini", ML2_CONF)
    _sysctl(node, role)
    _routes(node)
    node.file("sos_commands/memory/free", FREE.format(total=RAM_KIB))
    node.command("conntrack -S", CONNTRACK_S)


# -- faults ------------------------------------------------------------------------------------------------

def conntrack_full(node: NodeTree) -> None:
    """CERN's tale: a busy host at 98% of the default-sized table, the kernel dropping new flows."""
    node.sysctl["net.netfilter.nf_conntrack_count"] = str(CT_MAX - 4020)
    node.command("conntrack -S", CONNTRACK_S.replace("drop=0 early_drop=0", "drop=1877 early_drop=64", 1))
    path = "var/log/kern.log"
    node.file(path, node.files.get(path, "") + KERN_TABLE_FULL.format(host=node.hostname))


def vlan_on_vlan(node: NodeTree) -> None:
    """The 'Double VLAN' tale: a project VLAN built on a VLAN sub-interface and bridged to instances."""
    node.interfaces.extend([
        Interface("eth2", mac="52:54:00:02:00:01"),
        Interface("vlan20", kind="vlan", parent="eth2", vlan_id=20, mac="52:54:00:02:00:01"),
        Interface("br100", kind="bridge", mac="52:54:00:02:00:64"),
        Interface("vlan100", kind="vlan", parent="vlan20", vlan_id=100, master="br100",
                  mac="52:54:00:02:00:01"),
        Interface("tap5c1e0d2a-7f", kind="tun", master="br100", mtu=1500, mac="fe:16:3e:5c:1e:0d"),
    ])


def bridge_forwards_guest_bpdus(node: NodeTree) -> None:
    """The 'Valentine's day' tale: a Linux bridge with STP off joins instance taps to a physical uplink, so a
    guest's BPDU reaches a switch port with BPDU guard. The double-VLAN bridge is such a bridge already."""
    if _iface(node, "br100") is None:
        vlan_on_vlan(node)


def _uplink(node: NodeTree) -> Interface:
    """eth1, the physnet1 uplink in br-ex; planted on a node without OVS, the provider bridge comes too."""
    eth1 = _iface(node, "eth1")
    if eth1 is None:
        _ovs_provider(node)
        if not node.files.get("etc/neutron/neutron.conf"):
            node.file("etc/neutron/neutron.conf", NEUTRON_CONF)
        eth1 = next(i for i in node.interfaces if i.name == "eth1")
    return eth1


def uplink_mtu_too_small(node: NodeTree) -> None:
    """The 'random SSH freezes' tale: the physnet uplink is smaller than the MTU neutron hands to networks."""
    _uplink(node).mtu = 1400


def address_on_bridge_port(node: NodeTree) -> None:
    """The provider NIC was added to br-ex but kept its old address."""
    _uplink(node).addrs.append(f"172.24.4.{_ip(node).rsplit('.', 1)[-1]}/24")


def proxy_arp_on_uplink(node: NodeTree) -> None:
    """Proxy ARP switched on on the provider uplink, as single-NIC guides suggest for floating IPs."""
    name = "eth1" if _iface(node, "eth1") is not None else "eth0"
    node.sysctl[f"net.ipv4.conf.{name}.proxy_arp"] = "1"
    node.file("etc/sysctl.d/60-floating-ip.conf", f"net.ipv4.conf.{name}.proxy_arp = 1\n")


FAULTS: dict[str, Callable[[NodeTree], None]] = {
    "NET-001": conntrack_full,
    "NET-003": vlan_on_vlan,
    "NET-004": uplink_mtu_too_small,
    "NET-005": address_on_bridge_port,
    "NET-006": bridge_forwards_guest_bpdus,
    "SEC-001": proxy_arp_on_uplink,
}
