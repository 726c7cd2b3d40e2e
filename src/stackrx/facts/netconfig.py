"""Persistent host network configuration: which interface is configured with an address, and which one is
configured as a port of a bridge or bond (so an address on it would be a mistake).

Formats: RHEL `etc/sysconfig/network-scripts/ifcfg-*`, netplan `etc/netplan/*.yaml`, Debian
`etc/network/interfaces` (+ `interfaces.d/*`), NetworkManager keyfiles
`etc/NetworkManager/system-connections/*`.

Public API:

    NetDecl(kind: "address" | "port", iface: str, value: str, source: str, line: int, excerpt: str)
        kind "address": `iface` is configured with address `value`;
        kind "port": `iface` is configured as a port of bridge/bond `value`.  .evidence() -> Evidence
    NetConfig(decls: tuple[NetDecl, ...], files: tuple[str, ...])
        .addressed_ports() -> list[tuple[NetDecl, list[NetDecl]]]
            (a port declaration, and the address declarations of the same interface)
    parse_ifcfg(text), parse_netplan(text), parse_interfaces(text), parse_nm_keyfile(text) -> list[NetDecl]
    load_netconfig(view) -> NetConfig   # MissingEvidence when none of these files exist
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Cited
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class NetDecl(Cited):
    kind: str
    iface: str
    value: str
    source: str
    line: int
    excerpt: str


@dataclass(frozen=True)
class NetConfig:
    decls: tuple[NetDecl, ...]
    files: tuple[str, ...]

    def addressed_ports(self) -> list[tuple[NetDecl, list[NetDecl]]]:
        addresses: dict[str, list[NetDecl]] = {}
        for d in self.decls:
            if d.kind == "address":
                addresses.setdefault(d.iface, []).append(d)
        out: list[tuple[NetDecl, list[NetDecl]]] = []
        seen: set[str] = set()
        for d in self.decls:
            if d.kind == "port" and d.iface in addresses and d.iface not in seen:
                seen.add(d.iface)
                out.append((d, addresses[d.iface]))
        return out


def _lines(text: Text) -> list[tuple[int, str]]:
    return [(n, raw) for n, raw in enumerate(text.content.splitlines(), 1) if len(raw) <= _MAX_LINE]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


_IFCFG_ADDR = re.compile(r"^(?:IPADDR\d*|IPV6ADDR)$")


def parse_ifcfg(text: Text) -> list[NetDecl]:
    """Shell-style `KEY=value`; the device is `DEVICE=` or the file's `ifcfg-<name>` suffix."""
    values: dict[str, tuple[str, int, str]] = {}
    for lineno, raw in _lines(text):
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            values[key] = (_unquote(value.split(" #", 1)[0]), lineno, line)
    device = values.get("DEVICE", ("", 0, ""))[0] or text.source.rsplit("/", 1)[-1].removeprefix("ifcfg-")
    out: list[NetDecl] = []
    for key, (value, lineno, line) in values.items():
        if _IFCFG_ADDR.match(key) and value:
            out.append(NetDecl("address", device, value, text.source, lineno, line))
    # OVSIntPort / OVSBridge also carry OVS_BRIDGE, but they are the addressable side of the bridge.
    ovs_type = values.get("TYPE", ("", 0, ""))[0]
    for key in ("BRIDGE", "OVS_BRIDGE", "MASTER"):
        if key in values and values[key][0]:
            if key == "OVS_BRIDGE" and ovs_type in ("OVSIntPort", "OVSBridge", "OVSUserBridge"):
                continue
            value, lineno, line = values[key]
            out.append(NetDecl("port", device, value, text.source, lineno, line))
    return out


def _yaml_map(node: yaml.Node | None) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _yaml_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    for k, v in _yaml_map(node):
        if k.value == key:
            return v
    return None


def _yaml_scalars(node: yaml.Node | None) -> list[yaml.ScalarNode]:
    if isinstance(node, yaml.SequenceNode):
        return [n for n in node.value if isinstance(n, yaml.ScalarNode)]
    return []


def parse_netplan(text: Text) -> list[NetDecl]:
    """`network: {ethernets|vlans|bonds|bridges: {name: {addresses: [...], interfaces: [...]}}}`."""
    try:
        root = yaml.compose(text.content, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ParseError(text.source, f"not valid YAML: {str(exc).splitlines()[0][:120]}") from None
    network = _yaml_get(root, "network")
    sections = [(sec, _yaml_map(_yaml_get(network, sec)))
                for sec in ("ethernets", "vlans", "bonds", "bridges", "wifis", "tunnels")]
    # `interfaces:` lists netplan ids; the kernel name is `set-name` when one is given.
    kernel_name: dict[str, str] = {}
    for _sec, entries in sections:
        for name_node, body in entries:
            set_name = _yaml_get(body, "set-name")
            if isinstance(set_name, yaml.ScalarNode):
                kernel_name[str(name_node.value)] = str(set_name.value)
    out: list[NetDecl] = []
    for section, entries in sections:
        for name_node, body in entries:
            name = str(name_node.value)
            iface = kernel_name.get(name, name)
            for addr in _yaml_scalars(_yaml_get(body, "addresses")):
                line = addr.start_mark.line + 1
                out.append(NetDecl("address", iface, str(addr.value), text.source, line,
                                   f"{section}: {name}: addresses: {addr.value}"))
            if section in ("bonds", "bridges"):
                for port in _yaml_scalars(_yaml_get(body, "interfaces")):
                    line = port.start_mark.line + 1
                    out.append(NetDecl("port", kernel_name.get(str(port.value), str(port.value)), iface,
                                       text.source, line, f"{section}: {name}: interfaces: {port.value}"))
    return out


_ENI_PORTS = ("bridge_ports", "bridge-ports", "bond-slaves", "bond_slaves", "slaves")


def parse_interfaces(text: Text) -> list[NetDecl]:
    """Debian ifupdown: `iface X inet static` + `address`, `bridge_ports`, `bond-master`, `ovs_bridge`."""
    out: list[NetDecl] = []
    iface: str | None = None
    ovs_type = ""
    ovs_bridge: tuple[str, int, str] | None = None

    def close() -> None:
        if iface and ovs_bridge and ovs_type == "OVSPort":
            out.append(NetDecl("port", iface, ovs_bridge[0], text.source, ovs_bridge[1], ovs_bridge[2]))

    for lineno, raw in _lines(text):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        head = words[0]
        if head in ("iface", "auto", "allow-hotplug", "mapping", "source", "source-directory") or \
                head.startswith("allow-"):
            if head == "iface":
                close()
                iface = words[1] if len(words) > 1 else None
                ovs_type, ovs_bridge = "", None
            continue
        if iface is None:
            continue
        if head == "address" and len(words) > 1:
            out.append(NetDecl("address", iface, words[1], text.source, lineno, line))
        elif head in _ENI_PORTS:
            for port in words[1:]:
                if port not in ("none", "all"):
                    out.append(NetDecl("port", port, iface, text.source, lineno, line))
        elif head in ("bond-master", "bond_master") and len(words) > 1:
            out.append(NetDecl("port", iface, words[1], text.source, lineno, line))
        elif head in ("ovs_type", "ovs-type") and len(words) > 1:
            ovs_type = words[1]
        elif head in ("ovs_bridge", "ovs-bridge") and len(words) > 1:
            ovs_bridge = (words[1], lineno, line)
    close()
    return out


def parse_nm_keyfile(text: Text) -> list[NetDecl]:
    """NetworkManager keyfile: `[connection] interface-name, master|controller`, `[ipv4|ipv6] addressN`."""
    section = ""
    name = text.source.rsplit("/", 1)[-1].removesuffix(".nmconnection")
    master: tuple[str, int, str] | None = None
    addresses: list[tuple[str, int, str]] = []
    for lineno, raw in _lines(text):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if section == "connection" and key == "interface-name" and value:
            name = value
        elif section == "connection" and key in ("master", "controller") and value:
            master = (value, lineno, line)
        elif section in ("ipv4", "ipv6") and re.fullmatch(r"address(?:es)?\d*", key) and value:
            for item in value.split(";"):
                if item.strip():
                    addresses.append((item.split(",")[0].strip(), lineno, line))
    out = [NetDecl("address", name, a, text.source, n, ln) for a, n, ln in addresses]
    if master is not None:
        out.append(NetDecl("port", name, master[0], text.source, master[1], master[2]))
    return out


_LOCATIONS = (
    ("etc/sysconfig/network-scripts/ifcfg-*", parse_ifcfg),
    ("etc/netplan/*.yaml", parse_netplan),
    ("etc/network/interfaces", parse_interfaces),
    ("etc/network/interfaces.d/*", parse_interfaces),
    ("etc/NetworkManager/system-connections/*", parse_nm_keyfile),
)


def load_netconfig(view: HostView) -> NetConfig:
    decls: list[NetDecl] = []
    files: list[str] = []
    for pattern, parser in _LOCATIONS:
        paths = view.glob(pattern) if "*" in pattern else ([pattern] if view.exists(pattern) else [])
        for path in paths:
            if path.endswith((".bak", "~", ".orig")) or path.rsplit("/", 1)[-1] == "ifcfg-lo":
                continue
            text = view.read_text(path)
            if text is None:
                continue
            files.append(text.source)
            decls.extend(parser(text))
    if not files:
        raise MissingEvidence("etc/sysconfig/network-scripts/ifcfg-*, etc/netplan/*.yaml,"
                              " etc/network/interfaces or etc/NetworkManager/system-connections/*")
    return NetConfig(tuple(decls), tuple(files))


FUZZ_TARGETS = [parse_ifcfg, parse_netplan, parse_interfaces, parse_nm_keyfile]
