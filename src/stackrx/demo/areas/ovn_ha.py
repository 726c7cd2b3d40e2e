"""Demo cloud, OVS/OVN and L3 HA area: the network nodes' HA router, the computes' OVN chassis identity.

Network nodes (ML2/OVS with the L3 agent in legacy mode) host one HA router, ROUTER_ID, on both nodes:
network-1 holds it (`state` primary, VRRP VIP on the ha- port, gateway and interface addresses on qg-/qr-),
network-2 is the backup (only its own ha- address). Both run keepalived and the state-change monitor and
tunnel with VXLAN on br-tun. Computes are OVN chassis: external_ids with system-id = hostname, the
southbound database on the controller, geneve encapsulation from the eth0 address, physnet1 on br-ex;
ovn-controller runs and the geneve module is loaded (genev_sys_6081 exists). The controller runs the OVN
central databases. Every node gets a process list, so checks can tell "not this kind of node" from
"not collected".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from stackrx.demo.builder import Interface, NodeTree, render_ip_address

ROUTER_ID = "5f1c0a9e-3b7d-4c2a-9e61-2d8f4b7a1c05"
NAMESPACE = f"qrouter-{ROUTER_ID}"
HA_PORT = "ha-1a2b3c4d-5e"
QR_PORT = "qr-6f7a8b9c-0d"
QG_PORT = "qg-2e3f4a5b-6c"
VRRP_VIP = "169.254.0.1/24"
QR_CIDR = "192.168.10.1/24"
QG_CIDR = "203.0.113.10/24"
FIP_CIDR = "203.0.113.25/32"
GATEWAY = "203.0.113.1"
HA_CONFS = "var/lib/neutron/ha_confs"
SB_REMOTE = "tcp:10.0.0.10:6642"
MGMT_PREFIX = "10.0.0."
PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
# The primary holder of ROUTER_ID; any other network node is its backup.
PRIMARY_NODE = "network-1"
COMPUTES = ("compute-1", "compute-2", "compute-3")
BASE_MODULES = ("openvswitch", "nf_conntrack", "nf_nat", "nf_defrag_ipv4", "nf_defrag_ipv6", "libcrc32c",
                "udp_tunnel", "ip6_udp_tunnel")
PROVNET = "9d3c1b2a-4e5f-4a6b-8c7d-0e1f2a3b4c5d"

KEEPALIVED_CONF = f"""global_defs {{
    notification_email_from neutron@openstack.local
    router_id neutron
}}
vrrp_script ha_health_check_1 {{
    script "/var/lib/neutron/ha_confs/{ROUTER_ID}/ha_check_script_1.sh"
    interval 30
    fall 2
    rise 2
}}

vrrp_instance VR_1 {{
    state BACKUP
    interface {HA_PORT}
    virtual_router_id 1
    priority 50
    garp_master_delay 60
    nopreempt
    advert_int 2
    track_interface {{
        {HA_PORT}
    }}
    virtual_ipaddress {{
        {VRRP_VIP} dev {HA_PORT}
    }}
    virtual_ipaddress_excluded {{
        {QG_CIDR} dev {QG_PORT}
        {FIP_CIDR} dev {QG_PORT}
        {QR_CIDR} dev {QR_PORT}
        fe80::f816:3eff:fe2e:3f4a/64 dev {QG_PORT} scope link
        fe80::f816:3eff:fe6f:7a8b/64 dev {QR_PORT} scope link
    }}
    virtual_routes {{
        0.0.0.0/0 via {GATEWAY} dev {QG_PORT}
    }}
}}
"""

L3_AGENT_INI = """[DEFAULT]
interface_driver = openvswitch
agent_mode = legacy
ha_vrrp_advert_int = 2
"""

OPEN_VSWITCH = """_uuid               : {uuid}
bridges             : [{bridges}]
cur_cfg             : 42
datapath_types      : [netdev, system]
datapaths           : {{system={dp_uuid}}}
db_version          : "8.3.0"
dpdk_initialized    : false
dpdk_version        : none
external_ids        : {{{external_ids}}}
iface_types         : [erspan, geneve, gre, internal, ip6erspan, ip6gre, lisp, patch, stt, system, tap, vxlan]
manager_options     : []
next_cfg            : 42
other_config        : {{}}
ovs_version         : "2.17.9"
ssl                 : []
statistics          : {{}}
system_type         : ubuntu
system_version      : "22.04"
"""


def _mgmt_address(node: NodeTree) -> str | None:
    eth0 = next((i for i in node.interfaces if i.name == "eth0"), None)
    for addr in eth0.addrs if eth0 is not None else []:
        ip = addr.split("/")[0]
        if ip.count(".") == 3:
            return ip
    return None


def _suffix(node: NodeTree) -> int:
    """A number unique to the node: the last octet on the demo's own subnet, else the whole IPv4 address (so
    cloned nodes elsewhere, as in the fleet bench, do not share chassis ids)."""
    ip = _mgmt_address(node)
    if ip is None:
        return 1
    if ip.startswith(MGMT_PREFIX):
        return int(ip.rsplit(".", 1)[-1])
    return int(ipaddress.IPv4Address(ip))


def _ip(node: NodeTree) -> str:
    return _mgmt_address(node) or f"{MGMT_PREFIX}1"


def _uuid(kind: int, node: NodeTree) -> str:
    return f"{kind:08x}-0000-4000-8000-{_suffix(node):012x}"


# -- processes --------------------------------------------------------------------------------------------
def add_process(node: NodeTree, user: str, pid: int, command: str, *, start: str = "Nov30") -> None:
    """Append one `ps auxwww` row (the process list is shared by every area)."""
    listing = node.commands.get("ps auxwww", PS_HEADER)
    row = f"{user:<8} {pid:>7}  0.0  0.2 {118_000 + pid % 9000:>6} {21_000 + pid % 7000:>5} ?        Ss   " \
          f"{start:<5}   0:04 {command}\n"
    node.command("ps auxwww", listing + row)


def _base_processes(node: NodeTree) -> None:
    add_process(node, "root", 1, "/sbin/init")
    add_process(node, "root", 812, "/lib/systemd/systemd-journald")
    add_process(node, "root", 1104, "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups")
    add_process(node, "root", 1120, "/usr/sbin/cron -f -P")


def _ovs_processes(node: NodeTree) -> None:
    add_process(node, "root", 1301, "ovsdb-server /etc/openvswitch/conf.db -vconsole:emer -vsyslog:err "
                "-vfile:info --remote=punix:/var/run/openvswitch/db.sock --private-key=db:Open_vSwitch,SSL,"
                "private_key --pidfile --detach --log-file")
    add_process(node, "root", 1377, "ovs-vswitchd unix:/var/run/openvswitch/db.sock -vconsole:emer "
                "-vsyslog:err -vfile:info --mlockall --no-chdir --log-file --pidfile --detach")


# -- OVS database ---------------------------------------------------------------------------------------
Port = tuple[str, str, str, int | None]
"""(name, type, options, tag) of one OVS port with its single interface."""


def _show_block(name: str, ports: list[Port]) -> str:
    """`ovs-vsctl show` text for one bridge."""
    head = f"    Bridge {name}\n        fail_mode: secure\n        datapath_type: system\n"
    return head + _port_lines(ports)


def _port_lines(ports: list[Port]) -> str:
    out: list[str] = []
    for port, kind, options, tag in ports:
        out.append(f"        Port {port}")
        if tag is not None:
            out.append(f"            tag: {tag}")
        out.append(f"            Interface {port}")
        if kind:
            out.append(f"                type: {kind}")
        if options:
            out.append(f"                options: {{{options}}}")
    return "\n".join(out) + "\n"


def _extend_show(node: NodeTree, blocks: str, br_ex_ports: list[Port]) -> None:
    """Add bridges to the `ovs-vsctl show` the net area wrote (it owns br-ex and its uplink eth1)."""
    existing = node.commands.get("ovs-vsctl show") or f"{_uuid(0x5B1C2D3E, node)}\n"
    head, sep, tail = existing.partition("    ovs_version:")
    marker = "        Port eth1\n            Interface eth1\n"
    if br_ex_ports and marker in head:
        head = head.replace(marker, marker + _port_lines(br_ex_ports), 1)
    version = sep + tail if sep else '    ovs_version: "2.17.9"\n'
    node.command("ovs-vsctl show", head + blocks + version)
    listing = node.commands.get("ovs-vsctl list-br", "")
    names = [line.split()[1] for line in blocks.splitlines() if line.startswith("    Bridge ")]
    missing = [n for n in names if n not in listing.split()]
    if missing:
        node.command("ovs-vsctl list-br", "".join(f"{n}\n" for n in sorted({*listing.split(), *missing})))


def _open_vswitch(node: NodeTree, external_ids: dict[str, str], bridges: int) -> None:
    rendered = ", ".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(external_ids.items()))
    bridge_ids = ", ".join(f"{0xB0 + i:08x}-1111-4222-8333-{_suffix(node):012x}" for i in range(bridges))
    node.command("ovs-vsctl list Open_vSwitch", OPEN_VSWITCH.format(
        uuid=_uuid(0x5B1C2D3E, node), bridges=bridge_ids, dp_uuid=_uuid(0xD0, node), external_ids=rendered))


def _quote(token: str) -> str:
    """ovsdb quotes a string unless it is a plain identifier-like token (as ovs-vsctl prints it)."""
    plain = token and all(c.isalnum() or c in "-_." for c in token) and not token[0].isdigit()
    return token if plain else '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'


def chassis_ids(node: NodeTree) -> dict[str, str]:
    return {
        "system-id": node.hostname,
        "hostname": node.hostname,
        "rundir": "/var/run/openvswitch",
        "ovn-remote": SB_REMOTE,
        "ovn-encap-type": "geneve",
        "ovn-encap-ip": _ip(node),
        "ovn-bridge-mappings": "physnet1:br-ex",
    }


# -- network nodes --------------------------------------------------------------------------------------
def _router_namespace(node: NodeTree, active: bool) -> None:
    ha_addr = f"169.254.192.{_suffix(node)}/18"
    ifaces = [
        Interface("lo", kind="loopback", mtu=65536, addrs=["127.0.0.1/8", "::1/128 host"],
                  mac="00:00:00:00:00:00"),
        Interface(HA_PORT, kind="openvswitch", mtu=1450, mac=f"fa:16:3e:1a:2b:{_suffix(node):02x}",
                  addrs=[ha_addr, *([VRRP_VIP] if active else []),
                         f"fe80::f816:3eff:fe1a:2b{_suffix(node):02x}/64"]),
        Interface(QR_PORT, kind="openvswitch", mtu=1450, mac="fa:16:3e:6f:7a:8b",
                  addrs=[QR_CIDR, "fe80::f816:3eff:fe6f:7a8b/64"] if active else []),
        Interface(QG_PORT, kind="openvswitch", mtu=1500, mac="fa:16:3e:2e:3f:4a",
                  addrs=[QG_CIDR, FIP_CIDR, "fe80::f816:3eff:fe2e:3f4a/64"] if active else []),
    ]
    node.namespaces.setdefault(NAMESPACE, {})["ip -d address"] = render_ip_address(ifaces)


def _set_state(node: NodeTree, state: str) -> None:
    node.file(f"{HA_CONFS}/{ROUTER_ID}/state", state)


def _network(node: NodeTree) -> None:
    active = node.hostname == PRIMARY_NODE
    rdir = f"{HA_CONFS}/{ROUTER_ID}"
    node.file(f"{rdir}/keepalived.conf", KEEPALIVED_CONF)
    _set_state(node, "primary" if active else "backup")
    node.file(f"{rdir}/neutron-keepalived-state-change.log",
              f"2026-11-30 22:14:03.118 4210 INFO neutron.agent.l3.keepalived_state_change [-] Wrote router "
              f"{ROUTER_ID} state {'primary' if active else 'backup'}\n")
    node.file(f"{HA_CONFS}/{ROUTER_ID}.pid.keepalived", "4301\n")
    node.file(f"{HA_CONFS}/{ROUTER_ID}.pid.keepalived-vrrp", "4302\n")
    node.file(f"var/lib/neutron/external/pids/{ROUTER_ID}.monitor.pid.neutron-keepalived-state-change-monitor",
              "4210\n")
    node.files.setdefault("etc/neutron/l3_agent.ini", L3_AGENT_INI)
    _router_namespace(node, active)
    add_process(node, "neutron", 2011, "/usr/bin/python3 /usr/bin/neutron-openvswitch-agent "
                "--config-file=/etc/neutron/neutron.conf "
                "--config-file=/etc/neutron/plugins/ml2/openvswitch_agent.ini "
                "--log-file=/var/log/neutron/neutron-openvswitch-agent.log")
    add_process(node, "neutron", 2054, "/usr/bin/python3 /usr/bin/neutron-l3-agent "
                "--config-file=/etc/neutron/neutron.conf --config-file=/etc/neutron/l3_agent.ini "
                "--log-file=/var/log/neutron/neutron-l3-agent.log")
    add_process(node, "root", 4210, "/usr/bin/python3 /usr/bin/neutron-keepalived-state-change "
                f"--router_id={ROUTER_ID} --namespace={NAMESPACE} --conf_dir=/{rdir} "
                f"--log-file=/{rdir}/neutron-keepalived-state-change.log --monitor_interface={HA_PORT} "
                f"--monitor_cidr={VRRP_VIP} --pid_file=/var/lib/neutron/external/pids/{ROUTER_ID}"
                ".monitor.pid.neutron-keepalived-state-change-monitor --state_path=/var/lib/neutron "
                "--user=115 --group=121")
    for pid in (4301, 4302):
        add_process(node, "root", pid, f"keepalived -P -f /{rdir}/keepalived.conf "
                    f"-p /{HA_CONFS}/{ROUTER_ID}.pid.keepalived "
                    f"-r /{HA_CONFS}/{ROUTER_ID}.pid.keepalived-vrrp -D")
    peer = 22 if _suffix(node) == 21 else 21
    br_int = _show_block("br-int", [
        ("br-int", "internal", "", None),
        ("int-br-ex", "patch", "peer=phy-br-ex", None),
        ("patch-tun", "patch", "peer=patch-int", None),
        (HA_PORT, "internal", "", 1),
        (QR_PORT, "internal", "", 2),
        (QG_PORT, "internal", "", 3),
    ])
    br_tun = _show_block("br-tun", [
        ("br-tun", "internal", "", None),
        ("patch-int", "patch", "peer=patch-tun", None),
        (f"vxlan-0a0000{peer:02x}", "vxlan", f'df_default="true", egress_pkt_mark="0", in_key=flow, '
         f'local_ip="{_ip(node)}", out_key=flow, remote_ip="{MGMT_PREFIX}{peer}"', None),
    ])
    _extend_show(node, br_int + br_tun, [("phy-br-ex", "patch", "peer=int-br-ex", None)])
    _open_vswitch(node, {"system-id": _uuid(0x5E5E, node), "hostname": node.hostname,
                         "rundir": "/var/run/openvswitch"}, bridges=3)
    node.interfaces.extend([
        Interface("br-int", kind="openvswitch", mac=f"9e:1c:0a:11:00:{_suffix(node):02x}"),
        Interface("br-tun", kind="openvswitch", mac=f"9e:1c:0a:22:00:{_suffix(node):02x}"),
        Interface("vxlan_sys_4789", kind="vxlan", mtu=65000, master="ovs-system",
                  mac=f"9e:1c:0a:33:00:{_suffix(node):02x}"),
    ])
    node.modules.extend(m for m in (*BASE_MODULES, "vxlan", "iptable_nat", "xt_conntrack")
                        if m not in node.modules)


# -- computes (OVN chassis) -----------------------------------------------------------------------------
def _compute(node: NodeTree) -> None:
    ids = chassis_ids(node)
    _open_vswitch(node, ids, bridges=2)
    add_process(node, "root", 1502, "ovn-controller unix:/var/run/openvswitch/db.sock -vconsole:emer "
                "-vsyslog:err -vfile:info --no-chdir --log-file=/var/log/ovn/ovn-controller.log "
                "--pidfile=/var/run/ovn/ovn-controller.pid --detach")
    add_process(node, "neutron", 1610, "/usr/bin/python3 /usr/bin/neutron-ovn-metadata-agent "
                "--config-file=/etc/neutron/neutron.conf "
                "--config-file=/etc/neutron/neutron_ovn_metadata_agent.ini")
    tunnels = [
        (f"ovn-{other}-0", "geneve", f'csum="true", key=flow, remote_ip="{MGMT_PREFIX}{30 + int(other[-1])}"',
         None)
        for other in COMPUTES if other != node.hostname
    ]
    br_int = _show_block("br-int", [
        ("br-int", "internal", "", None),
        (f"patch-br-int-to-provnet-{PROVNET}", "patch", f"peer=patch-provnet-{PROVNET}-to-br-int", None),
        *tunnels,
    ])
    _extend_show(node, br_int, [(f"patch-provnet-{PROVNET}-to-br-int", "patch",
                                 f"peer=patch-br-int-to-provnet-{PROVNET}", None)])
    node.interfaces.extend([
        Interface("br-int", kind="openvswitch", mac=f"9e:1c:0a:11:00:{_suffix(node):02x}"),
        Interface("genev_sys_6081", kind="geneve", mtu=65000, master="ovs-system",
                  mac=f"9e:1c:0a:44:00:{_suffix(node):02x}"),
    ])
    node.modules.extend(m for m in (*BASE_MODULES, "geneve") if m not in node.modules)


def _controller(node: NodeTree) -> None:
    add_process(node, "root", 1720, "ovsdb-server -vconsole:off -vfile:info --log-file=/var/log/ovn/"
                "ovsdb-server-sb.log --remote=punix:/var/run/ovn/ovnsb_db.sock --pidfile=/var/run/ovn/"
                "ovnsb_db.pid --unixctl=/var/run/ovn/ovnsb_db.ctl --remote=ptcp:6642:0.0.0.0 "
                "/var/lib/ovn/ovnsb_db.db")
    add_process(node, "root", 1721, "ovsdb-server -vconsole:off -vfile:info --log-file=/var/log/ovn/"
                "ovsdb-server-nb.log --remote=punix:/var/run/ovn/ovnnb_db.sock --pidfile=/var/run/ovn/"
                "ovnnb_db.pid --unixctl=/var/run/ovn/ovnnb_db.ctl --remote=ptcp:6641:0.0.0.0 "
                "/var/lib/ovn/ovnnb_db.db")
    add_process(node, "root", 1760, "ovn-northd -vconsole:emer -vsyslog:err -vfile:info "
                "--ovnnb-db=unix:/var/run/ovn/ovnnb_db.sock --ovnsb-db=unix:/var/run/ovn/ovnsb_db.sock "
                "--no-chdir --log-file=/var/log/ovn/ovn-northd.log --pidfile=/var/run/ovn/ovn-northd.pid "
                "--detach")
    chassis = "".join(
        f'Chassis {name}\n    hostname: {name}\n    Encap geneve\n'
        f'        ip: "{MGMT_PREFIX}{30 + int(name[-1])}"\n        options: {{csum="true"}}\n'
        for name in COMPUTES
    )
    node.file("sos_commands/ovn_central/ovn-sbctl_show", chassis)


def healthy(node: NodeTree, role: str) -> None:
    _base_processes(node)
    if role in ("network", "compute"):
        _ovs_processes(node)
    if role == "network":
        _network(node)
    elif role == "compute":
        _compute(node)
    elif role == "controller":
        _controller(node)


# -- faults ---------------------------------------------------------------------------------------------
def rogue_master(node: NodeTree) -> None:
    """The L3HA tale gone wrong: the state file says backup while qg-/qr- still carry the addresses."""
    _set_state(node, "backup")
    _router_namespace(node, active=True)


def chassis_typo(node: NodeTree) -> None:
    """The OVN-in-containers tale's slip: `ovn-encap type` instead of `ovn-encap-type`, and no encap IP."""
    ids = chassis_ids(node)
    del ids["ovn-encap-ip"]
    ids["ovn-encap type"] = ids.pop("ovn-encap-type")
    _open_vswitch(node, ids, bridges=2)


def geneve_unloaded(node: NodeTree) -> None:
    """The geneve module was never loaded on this chassis, so no genev_sys device exists either."""
    node.modules[:] = [m for m in node.modules if m != "geneve"]
    node.commands.pop("lsmod", None)
    node.interfaces[:] = [i for i in node.interfaces if not i.name.startswith("genev_sys")]


FAULTS: dict[str, Callable[[NodeTree], None]] = {
    "HA-001": rogue_master,
    "OVN-001": chassis_typo,
    "OVN-003": geneve_unloaded,
}
