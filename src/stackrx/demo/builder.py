"""Build small sosreport-shaped node trees from a structured description.

Used by the demo cloud and by every check's fixtures, so a fixture states *what* is wrong
(`node.interfaces.append(Interface("vlan100", kind="vlan", parent="vlan20", ...))`) and the builder
writes it in the exact text format iproute2, sysctl and sos use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stackrx.sources.commands import mangle

# Which sos plugin directory each logical command lands in.
SOS_PLUGIN: dict[str, tuple[str, str]] = {
    "sysctl -a": ("kernel", "sysctl -a"),
    "ip -d address": ("networking", "ip -d address"),
    "ip -d link": ("networking", "ip -s -d link"),
    "ip -o addr": ("networking", "ip -o addr"),
    "ip netns": ("networking", "ip netns"),
    "ip route show table all": ("networking", "ip route show table all"),
    "ovs-vsctl show": ("openvswitch", "ovs-vsctl -t 5 show"),
    "ovs-vsctl list Open_vSwitch": ("openvswitch", "ovs-vsctl -t 5 list Open_vSwitch"),
    "ovs-vsctl list-br": ("openvswitch", "ovs-vsctl -t 5 list-br"),
    "ovs-vsctl list interface": ("openvswitch", "ovs-vsctl -t 5 list interface"),
    "lsmod": ("kernel", "lsmod"),
    "uname -a": ("kernel", "uname -a"),
    "df -al": ("filesys", "df -al -x autofs"),
    "df -ali": ("filesys", "df -ali -x autofs"),
    "mount -l": ("filesys", "mount -l"),
    "conntrack -S": ("conntrack", "conntrack -S"),
    "dmesg": ("kernel", "dmesg"),
    "ps auxwww": ("process", "ps auxwww"),
    "hostname": ("host", "hostname"),
    "date": ("date", "date"),
    "free": ("memory", "free"),
}


@dataclass
class Interface:
    name: str
    kind: str = "ether"  # ether, bridge, bond, vlan, veth, tap, openvswitch, geneve, vxlan, loopback
    mtu: int = 1500
    master: str | None = None
    parent: str | None = None
    vlan_id: int | None = None
    vlan_protocol: str = "802.1Q"
    addrs: list[str] = field(default_factory=list)  # "10.0.0.5/24" or "fe80::1/64 link"
    mac: str = "52:54:00:00:00:01"
    proxy_arp: bool = False


def _details(iface: Interface, by_name: dict[str, Interface]) -> str:
    parts: list[str] = []
    if iface.kind == "vlan":
        parts.append(f"vlan protocol {iface.vlan_protocol} id {iface.vlan_id} <REORDER_HDR> ")
    elif iface.kind == "bridge":
        parts.append("bridge forward_delay 1500 hello_time 200 max_age 2000 ageing_time 30000 stp_state 0 "
                     "priority 32768 vlan_filtering 0 vlan_protocol 802.1Q ")
    elif iface.kind == "bond":
        parts.append("bond mode 802.3ad miimon 100 updelay 0 downdelay 0 ")
    elif iface.kind == "openvswitch":
        parts.append("openvswitch ")
    elif iface.kind == "geneve":
        parts.append("geneve external id 0 ttl auto dstport 6081 ")
    elif iface.kind == "vxlan":
        parts.append("vxlan external id 0 srcport 0 0 dstport 4789 ")
    elif iface.kind == "tun":
        parts.append("tun type tap pi off vnet_hdr on persist off ")
    elif iface.kind == "veth":
        parts.append("veth ")
    if iface.master:
        master = by_name.get(iface.master)
        if iface.master == "ovs-system":
            parts.append("openvswitch_slave ")
        elif master is not None and master.kind == "bond":
            parts.append("bond_slave state ACTIVE mii_status UP ")
        else:
            proxy = "on" if iface.proxy_arp else "off"
            parts.append(f"bridge_slave state forwarding priority 32 cost 100 proxy_arp {proxy} ")
    parts.append("numtxqueues 1 numrxqueues 1 gso_max_size 65536 gso_max_segs 65535 ")
    return "".join(parts)


def _header(idx: int, iface: Interface, with_mode: bool) -> str:
    name = f"{iface.name}@{iface.parent}" if iface.parent else iface.name
    flags = "<LOOPBACK,UP,LOWER_UP>" if iface.kind == "loopback" else "<BROADCAST,MULTICAST,UP,LOWER_UP>"
    master = f" master {iface.master}" if iface.master else ""
    mode = " mode DEFAULT" if with_mode else ""
    return f"{idx}: {name}: {flags} mtu {iface.mtu} qdisc noqueue{master} state UP{mode} group default qlen 1000"


def render_ip_address(ifaces: list[Interface]) -> str:
    by_name = {i.name: i for i in ifaces}
    out: list[str] = []
    for idx, iface in enumerate(ifaces, 1):
        out.append(_header(idx, iface, with_mode=False))
        link = "link/loopback" if iface.kind == "loopback" else "link/ether"
        out.append(f"    {link} {iface.mac} brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 68 maxmtu 65535 ")
        out.append(f"    {_details(iface, by_name)}")
        for addr in iface.addrs:
            cidr, _, scope = addr.partition(" ")
            family = "inet6" if ":" in cidr else "inet"
            scope = scope or ("link" if cidr.startswith("fe80") else "host" if cidr.startswith("127.") else "global")
            out.append(f"    {family} {cidr} scope {scope} {iface.name}")
            out.append("       valid_lft forever preferred_lft forever")
    return "\n".join(out) + "\n"


def render_ip_link(ifaces: list[Interface]) -> str:
    by_name = {i.name: i for i in ifaces}
    out: list[str] = []
    for idx, iface in enumerate(ifaces, 1):
        out.append(_header(idx, iface, with_mode=True))
        link = "link/loopback" if iface.kind == "loopback" else "link/ether"
        out.append(f"    {link} {iface.mac} brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 68 maxmtu 65535 ")
        out.append(f"    {_details(iface, by_name)}")
        out.append("    RX: bytes  packets  errors  dropped overrun mcast   ")
        out.append("    1000       10       0       0       0       0       ")
        out.append("    TX: bytes  packets  errors  dropped carrier collsns ")
        out.append("    1000       10       0       0       0       0       ")
    return "\n".join(out) + "\n"


def render_ip_o_addr(ifaces: list[Interface]) -> str:
    out: list[str] = []
    for idx, iface in enumerate(ifaces, 1):
        for addr in iface.addrs:
            cidr, _, scope = addr.partition(" ")
            family = "inet6" if ":" in cidr else "inet"
            scope = scope or ("link" if cidr.startswith("fe80") else "host" if cidr.startswith("127.") else "global")
            out.append(f"{idx}: {iface.name}    {family} {cidr} scope {scope} {iface.name}\\       "
                       "valid_lft forever preferred_lft forever")
    return "\n".join(out) + "\n"


def render_sysctl(values: dict[str, str]) -> str:
    return "".join(f"{k} = {v}\n" for k, v in sorted(values.items()))


@dataclass
class NodeTree:
    """A node under construction. Shared structures render at `write()`; files are written as given."""

    hostname: str
    collected: str = "Thu Feb 10 16:19:17 UTC 2022"
    kernel: str = "5.4.0-97-generic"
    interfaces: list[Interface] = field(default_factory=list)
    sysctl: dict[str, str] = field(default_factory=dict)
    modules: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    """namespace -> {logical netns command ('ip -d address', 'sysctl -a') -> output}"""
    sizes: dict[str, int] = field(default_factory=dict)
    """Files created sparse at this size (console logs): real size on stat, no disk used."""

    def file(self, path: str, content: str) -> None:
        self.files[path.lstrip("/")] = content

    def command(self, key: str, output: str) -> None:
        if key not in SOS_PLUGIN:
            raise KeyError(f"no sos plugin known for {key!r}")
        self.commands[key] = output

    def write(self, root: Path) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        commands = dict(self.commands)
        commands.setdefault("hostname", self.hostname + "\n")
        commands.setdefault("date", self.collected + "\n")
        commands.setdefault(
            "uname -a",
            f"Linux {self.hostname} {self.kernel} #109-Ubuntu SMP Fri Jan 21 15:56:26 UTC 2022 x86_64 x86_64 "
            "x86_64 GNU/Linux\n",
        )
        if self.interfaces:
            commands.setdefault("ip -d address", render_ip_address(self.interfaces))
            commands.setdefault("ip -d link", render_ip_link(self.interfaces))
            commands.setdefault("ip -o addr", render_ip_o_addr(self.interfaces))
        if self.sysctl:
            commands.setdefault("sysctl -a", render_sysctl(self.sysctl))
        if self.modules:
            body = "".join(f"{m:<28}{16384:>8}  0\n" for m in self.modules)
            commands.setdefault("lsmod", "Module                  Size  Used by\n" + body)
        if self.namespaces:
            commands.setdefault("ip netns", "".join(f"{ns} (id: {i})\n" for i, ns in enumerate(self.namespaces)))
        for key, output in commands.items():
            plugin, cmd = SOS_PLUGIN[key]
            _write(root / "sos_commands" / plugin / mangle(cmd), output)
        for ns, outputs in self.namespaces.items():
            for key, output in outputs.items():
                variant, plugin_dir = {"ip -d address": ("ip -d address show", "networking/namespaces/" + ns),
                                       "sysctl -a": ("sysctl -a", "networking/namespaces/" + ns),
                                       "conntrack -S": ("conntrack -S", "conntrack")}[key]
                name = mangle(f"ip netns exec {ns} {variant}")
                _write(root / "sos_commands" / plugin_dir / name, output)
        _write(root / "hostname", self.hostname + "\n")
        for path, content in self.files.items():
            _write(root / path, content)
        for path, size in self.sizes.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as fh:
                fh.truncate(size)
        return root


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
