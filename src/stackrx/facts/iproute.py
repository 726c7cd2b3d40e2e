"""iproute2 link and address facts: `ip -d address`, `ip [-s] -d link`, `ip -o addr`.

Public API (imported by other facts modules and checks):

    Address(family: str, cidr: str, address: str, prefixlen: int | None, scope: str | None,
            label: str | None, peer: str | None, flags: tuple[str, ...], source: str, line: int)
        .ip -> ipaddress.IPv4Address | IPv6Address | None;  .network -> IPv4Network | IPv6Network | None
        .evidence() -> Evidence
    Link(index: int, name: str, parent: str | None, link_ifindex: int | None, flags: tuple[str, ...],
         mtu: int | None, master: str | None, state: str | None, qdisc: str | None, link_type: str | None,
         mac: str | None, link_netnsid: int | None, kind: str | None, slave_kind: str | None,
         vlan_id: int | None, vlan_protocol: str | None, bond_mode: str | None, slave_state: str | None,
         proxy_arp: bool | None, details: tuple[str, ...], addresses: tuple[Address, ...],
         stats: dict[str, int], source: str, line: int, header: str, kind_line: int | None,
         kind_text: str | None, slave_line: int | None, slave_text: str | None)
        `stats`: `rx_bytes`, `rx_packets`, `rx_errors`, `rx_dropped`, `tx_...` from `ip -s` (and
            `rx_errors_crc`-style keys from `ip -s -s`); empty without `-s`.
        `parent`: the device named after `@` in `child@parent` when it lives in this namespace (the lower
            device of a vlan/macvlan, the peer of an in-namespace veth). `veth0@if16` means "peer ifindex 16
            in another namespace": then parent is None and link_ifindex is 16. `@NONE` gives neither.
        `kind`: rtnl link kind from the details (`vlan`, `bridge`, `bond`, `openvswitch`, `veth`, `vxlan`,
            `geneve`, `tun`, `team`, `macvlan`, `dummy`, ...); None when no `-d` or a plain NIC.
        `slave_kind`: `bridge_slave`, `bond_slave`, `openvswitch_slave`, `team_slave`, `vrf_slave`, ...
        `proxy_arp`: from `bridge_slave ... proxy_arp on|off` (None otherwise).
        .is_up (UP flag), .is_loopback, .is_vlan, .is_qinq (802.1ad), .detail(key) -> str | None
            (token after `key` in the kind/slave lines, e.g. detail("dstport"), detail("dev")),
        .evidence() (header line), .kind_evidence() (kind line, else header), .slave_evidence()
    LinkTable(links: tuple[Link, ...], sources: tuple[str, ...])
        .get(name) -> Link | None, .by_index(ifindex) -> Link | None, .names(), iteration, len(),
        .ports(master) -> list[Link] (links whose `master` is `master`),
        .vlan_chain(name) -> list[Link] (the link, then its lower devices while each is a vlan),
        .vlan_depth(name) -> int (stacked 802.1Q/802.1ad tags on that device),
        .addresses() -> list[tuple[Link, Address]]

    parse_ip_address(text) -> LinkTable     # `ip [-d] address [show]`
    parse_ip_link(text) -> LinkTable        # `ip [-s] [-d] link [show]` (same block format, with stats)
    parse_ip_o_addr(text) -> list[OneLineAddress]   # `ip -o addr`; OneLineAddress(index, ifname, address)
    Route(type: str, dst: str, family: str, table: str, dev: str | None, via: str | None, proto: str | None,
          scope: str | None, src: str | None, source: str, line: int, text: str)
        .is_default, .network -> IPv4Network | IPv6Network | None, .evidence()
    parse_ip_route(text) -> list[Route]     # `ip route show table all` (and `ip -6 route ...`)
    load_routes(view) -> list[Route]        # cmd `ip route show table all`
    load_links(view) -> LinkTable           # init netns; merges `ip -d address` with `ip -d link`
    load_netns_links(view, ns) -> LinkTable # `ip netns exec <ns> ip -d address`
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# rtnl_link_ops kinds that start a details line (iproute2 prints the kind first, then its attributes).
LINK_KINDS = frozenset({
    "vlan", "bridge", "bond", "team", "openvswitch", "veth", "vxlan", "geneve", "tun", "macvlan", "macvtap",
    "ipvlan", "ipvtap", "dummy", "ifb", "vrf", "gre", "gretap", "ip6gre", "ip6gretap", "ipip", "sit",
    "ip6tnl", "vti", "vti6", "erspan", "ip6erspan", "wireguard", "nlmon", "bareudp", "xfrm", "hsr", "macsec",
    "can", "netkit", "batadv", "gtp", "rmnet", "ipoib", "vcan", "vxcan", "amt", "virt_wifi",
})
SLAVE_KINDS = frozenset({"bridge_slave", "bond_slave", "openvswitch_slave", "team_slave", "vrf_slave"})

_HEADER = re.compile(r"^(?P<index>\d+):\s+(?P<name>[^\s:]+):\s+<(?P<flags>[^>]*)>(?P<rest>.*)$")
_ONE_LINE = re.compile(r"^(?P<index>\d+):\s+(?P<name>[^\s:]+)\s+(?P<family>inet6?)\s+(?P<rest>.*)$")
_HEADER_KEYS = frozenset({
    "mtu", "qdisc", "master", "state", "mode", "group", "qlen", "link-netnsid", "netns",
})
_ADDR_KEYWORDS = frozenset({"brd", "scope", "peer", "metric", "proto", "label", "valid_lft", "preferred_lft"})
_ADDR_FLAGS = frozenset({
    "dynamic", "secondary", "primary", "temporary", "noprefixroute", "mngtmpaddr", "deprecated", "tentative",
    "dadfailed", "optimistic", "home", "nodad", "autojoin", "stable-privacy", "permanent",
})
_IFNUM = re.compile(r"^if(\d+)$")
_MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class Address:
    family: str  # inet | inet6
    cidr: str  # local address as printed, `10.0.0.5/24` (no prefix on peer addresses: `172.30.0.1`)
    address: str
    prefixlen: int | None
    scope: str | None
    label: str | None
    peer: str | None
    flags: tuple[str, ...]
    source: str
    line: int

    @property
    def ip(self) -> IPAddress | None:
        try:
            return ipaddress.ip_address(self.address)
        except ValueError:
            return None

    @property
    def network(self) -> IPNetwork | None:
        try:
            return ipaddress.ip_network(self.cidr, strict=False)
        except ValueError:
            return None

    @property
    def excerpt(self) -> str:
        scope = f" scope {self.scope}" if self.scope else ""
        label = f" {self.label}" if self.label else ""
        peer = f" peer {self.peer}" if self.peer else ""
        return f"{self.family} {self.cidr}{peer}{scope}{label}"

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.excerpt)


@dataclass(frozen=True)
class OneLineAddress:
    index: int
    ifname: str
    address: Address


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    parent: str | None
    link_ifindex: int | None
    flags: tuple[str, ...]
    mtu: int | None
    master: str | None
    state: str | None
    qdisc: str | None
    link_type: str | None  # ether, loopback, none, ipip, [65534] ...
    mac: str | None
    link_netnsid: int | None
    kind: str | None
    slave_kind: str | None
    vlan_id: int | None
    vlan_protocol: str | None
    bond_mode: str | None
    slave_state: str | None
    proxy_arp: bool | None
    details: tuple[str, ...]  # tokens of the kind and slave lines
    addresses: tuple[Address, ...]
    stats: dict[str, int]
    source: str
    line: int
    header: str
    kind_line: int | None = None
    kind_text: str | None = None
    slave_line: int | None = None
    slave_text: str | None = None

    @property
    def is_up(self) -> bool:
        return "UP" in self.flags

    @property
    def is_loopback(self) -> bool:
        return "LOOPBACK" in self.flags or self.link_type == "loopback"

    @property
    def is_vlan(self) -> bool:
        return self.kind == "vlan"

    @property
    def is_qinq(self) -> bool:
        return self.kind == "vlan" and self.vlan_protocol == "802.1ad"

    def detail(self, key: str) -> str | None:
        for i, token in enumerate(self.details[:-1]):
            if token == key:
                return self.details[i + 1]
        return None

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.header)

    def kind_evidence(self) -> Evidence:
        if self.kind_line is None or self.kind_text is None:
            return self.evidence()
        return Evidence(source=self.source, line=self.kind_line, excerpt=_clip(self.kind_text))

    def slave_evidence(self) -> Evidence:
        if self.slave_line is None or self.slave_text is None:
            return self.evidence()
        return Evidence(source=self.source, line=self.slave_line, excerpt=_clip(self.slave_text))


@dataclass(frozen=True)
class LinkTable:
    links: tuple[Link, ...]
    sources: tuple[str, ...]
    _by_name: dict[str, Link] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for link in self.links:
            self._by_name.setdefault(link.name, link)

    def __iter__(self) -> Iterator[Link]:
        return iter(self.links)

    def __len__(self) -> int:
        return len(self.links)

    def get(self, name: str) -> Link | None:
        return self._by_name.get(name)

    def by_index(self, ifindex: int) -> Link | None:
        for link in self.links:
            if link.index == ifindex:
                return link
        return None

    def names(self) -> list[str]:
        return [link.name for link in self.links]

    def ports(self, master: str) -> list[Link]:
        return [link for link in self.links if link.master == master]

    def vlan_chain(self, name: str) -> list[Link]:
        chain: list[Link] = []
        link = self.get(name)
        seen: set[str] = set()
        while link is not None and link.name not in seen:
            chain.append(link)
            seen.add(link.name)
            if not link.is_vlan or link.parent is None:
                break
            link = self.get(link.parent)
        return chain

    def vlan_depth(self, name: str) -> int:
        return sum(1 for link in self.vlan_chain(name) if link.is_vlan)

    def addresses(self) -> list[tuple[Link, Address]]:
        return [(link, addr) for link in self.links for addr in link.addresses]


def _clip(text: str, limit: int = 240) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _int(token: str | None) -> int | None:
    if token is None or not token.isdigit() or len(token) > 18:
        return None
    return int(token)


@dataclass
class _Building:
    index: int
    name: str
    parent_ref: str | None
    flags: tuple[str, ...]
    header_fields: dict[str, str]
    source: str
    line: int
    header: str
    link_type: str | None = None
    mac: str | None = None
    link_netnsid: int | None = None
    kind: str | None = None
    kind_tokens: list[str] = field(default_factory=list)
    kind_line: int | None = None
    kind_text: str | None = None
    slave_kind: str | None = None
    slave_tokens: list[str] = field(default_factory=list)
    slave_line: int | None = None
    slave_text: str | None = None
    addresses: list[Address] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    pending_stats: tuple[str, list[str]] | None = None
    in_vf: bool = False


def _parse_header(m: re.Match[str], source: str, lineno: int, raw: str) -> _Building:
    name, at, parent = m.group("name").rpartition("@")
    if not at:
        name, parent = parent, ""
    tokens = m.group("rest").split()
    fields: dict[str, str] = {}
    for i, token in enumerate(tokens[:-1]):
        if token in _HEADER_KEYS and token not in fields:
            fields[token] = tokens[i + 1]
    flags = tuple(f for f in m.group("flags").split(",") if f)
    index = int(m.group("index")[:18])
    return _Building(index, name, parent or None, flags, fields, source, lineno, _clip(raw))


def _parse_address(tokens: list[str], source: str, lineno: int) -> Address | None:
    if len(tokens) < 2:
        return None
    family, local = tokens[0], tokens[1]
    addr, _, plen = local.partition("/")
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        return None
    peer: str | None = None
    scope: str | None = None
    label: str | None = None
    flags: list[str] = []
    i = 2
    while i < len(tokens):
        token = tokens[i]
        if token in _ADDR_KEYWORDS and i + 1 < len(tokens):
            value = tokens[i + 1]
            if token == "peer":
                peer = value
            elif token == "scope":
                scope = value
            elif token == "label":
                label = value
            i += 2
            continue
        if token in _ADDR_FLAGS:
            flags.append(token)
        elif i == len(tokens) - 1:
            label = token  # iproute2 prints the label (the device or an alias `eth0:1`) last
        i += 1
    prefixlen = _int(plen) if plen else None
    if peer is not None and "/" in peer and prefixlen is None:
        prefixlen = _int(peer.partition("/")[2])
    return Address(family, local, addr, prefixlen, scope, label, peer, tuple(flags), source, lineno)


def _stats_header(tokens: list[str]) -> tuple[str, list[str]] | None:
    """`RX: bytes packets ...`, `RX errors: length crc ...` (ip -s -s) -> (prefix, columns)."""
    if not tokens or tokens[0] not in ("RX:", "TX:", "RX", "TX"):
        return None
    direction = tokens[0].rstrip(":").lower()
    rest = tokens[1:]
    if tokens[0] in ("RX", "TX"):
        if not rest or not rest[0].endswith(":"):
            return None
        direction = f"{direction}_{rest[0].rstrip(':')}"
        rest = rest[1:]
    if not rest or any(not re.fullmatch(r"[a-z_]+", c) for c in rest):
        return None
    return direction, rest


def _feed_link_line(cur: _Building, tokens: list[str], raw: str, lineno: int) -> None:
    if cur.pending_stats is not None:
        prefix, columns = cur.pending_stats
        cur.pending_stats = None
        if tokens and all(t.isdigit() for t in tokens):
            for col, value in zip(columns, tokens, strict=False):
                number = _int(value)
                if number is not None:
                    cur.stats[f"{prefix}_{col}"] = number
            return
    head = tokens[0]
    if head.startswith("link/"):
        cur.link_type = head[5:]
        if len(tokens) > 1 and ":" in tokens[1]:
            cur.mac = tokens[1]
        for i, token in enumerate(tokens[:-1]):
            if token == "link-netnsid":
                cur.link_netnsid = _int(tokens[i + 1])
        return
    if head in ("inet", "inet6"):
        addr = _parse_address(tokens, cur.source, lineno)
        if addr is not None:
            cur.addresses.append(addr)
        return
    if head == "vf":
        cur.in_vf = True  # SR-IOV VF lines follow, each with its own counters: not this link's
        return
    stats = _stats_header(tokens)
    if stats is not None:
        if not cur.in_vf:
            cur.pending_stats = stats
        return
    if head in LINK_KINDS and cur.kind is None:
        cur.kind = head
        cur.kind_tokens = tokens
        cur.kind_line = lineno
        cur.kind_text = raw
    # A slave kind follows the link kind, on its own line (iproute2) or the same line (some renderers).
    for i, token in enumerate(tokens):
        if token in SLAVE_KINDS and cur.slave_kind is None:
            cur.slave_kind = token
            cur.slave_tokens = tokens[i:]
            cur.slave_line = lineno
            cur.slave_text = " ".join(tokens[i:])
            if cur.kind_line == lineno:
                cur.kind_tokens = tokens[:i]
            break


def _detail_after(tokens: list[str], key: str) -> str | None:
    for i, token in enumerate(tokens[:-1]):
        if token == key:
            return tokens[i + 1]
    return None


def _finish(cur: _Building, names: set[str]) -> Link:
    parent: str | None = cur.parent_ref
    link_ifindex: int | None = None
    if parent is not None:
        m = _IFNUM.match(parent)
        if parent == "NONE":
            parent = None
        elif m and parent not in names:
            link_ifindex = _int(m.group(1))
            parent = None
    vlan_id: int | None = None
    vlan_protocol: str | None = None
    bond_mode: str | None = None
    kind_tokens = cur.kind_tokens
    if cur.kind == "vlan":
        vlan_id = _int(_detail_after(kind_tokens, "id"))
        # Old iproute2 prints `vlan id 20 <REORDER_HDR>` without the protocol: 802.1Q is the kernel default.
        vlan_protocol = _detail_after(kind_tokens, "protocol") or "802.1Q"
    elif cur.kind == "bond":
        bond_mode = _detail_after(kind_tokens, "mode")
    slave_state: str | None = None
    proxy_arp: bool | None = None
    if cur.slave_kind is not None:
        slave_state = _detail_after(cur.slave_tokens, "state")
        if cur.slave_kind == "bridge_slave":
            value = _detail_after(cur.slave_tokens, "proxy_arp")
            proxy_arp = {"on": True, "off": False}.get(value or "")
    fields = cur.header_fields
    return Link(
        index=cur.index,
        name=cur.name,
        parent=parent,
        link_ifindex=link_ifindex,
        flags=cur.flags,
        mtu=_int(fields.get("mtu")),
        master=fields.get("master"),
        state=fields.get("state"),
        qdisc=fields.get("qdisc"),
        link_type=cur.link_type,
        mac=cur.mac,
        link_netnsid=cur.link_netnsid if cur.link_netnsid is not None else _int(fields.get("link-netnsid")),
        kind=cur.kind,
        slave_kind=cur.slave_kind,
        vlan_id=vlan_id,
        vlan_protocol=vlan_protocol,
        bond_mode=bond_mode,
        slave_state=slave_state,
        proxy_arp=proxy_arp,
        details=tuple(kind_tokens) + tuple(cur.slave_tokens),
        addresses=tuple(cur.addresses),
        stats=cur.stats,
        source=cur.source,
        line=cur.line,
        header=cur.header,
        kind_line=cur.kind_line,
        kind_text=cur.kind_text,
        slave_line=cur.slave_line,
        slave_text=cur.slave_text,
    )


def _parse_blocks(text: Text) -> LinkTable:
    building: list[_Building] = []
    cur: _Building | None = None
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _HEADER.match(raw)
        if m:
            cur = _parse_header(m, text.source, lineno, raw)
            building.append(cur)
            continue
        tokens = raw.split()
        if cur is None or not tokens or not raw[:1].isspace():
            # Notes before the first block, or the tail of a line a collector wrapped at a fixed width.
            continue
        _feed_link_line(cur, tokens, raw, lineno)
    names = {b.name for b in building}
    return LinkTable(tuple(_finish(b, names) for b in building), (text.source,))


def parse_ip_address(text: Text) -> LinkTable:
    """`ip [-d] address`: one block per link, its details and its `inet`/`inet6` lines."""
    table = _parse_blocks(text)
    if not table.links and text.content.strip():
        raise ParseError(text.source, "no `N: name: <FLAGS>` link header found")
    return table


def parse_ip_link(text: Text) -> LinkTable:
    """`ip [-s] [-d] link`: same blocks as `ip address`, with RX/TX counters instead of addresses."""
    table = _parse_blocks(text)
    if not table.links and text.content.strip():
        raise ParseError(text.source, "no `N: name: <FLAGS>` link header found")
    return table


def parse_ip_o_addr(text: Text) -> list[OneLineAddress]:
    """`ip -o addr`: `N: dev    inet 10.0.0.5/24 brd ... scope global dev\\  valid_lft ...`."""
    out: list[OneLineAddress] = []
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _ONE_LINE.match(raw)
        if not m:
            continue
        rest = m.group("rest").split("\\", 1)[0]
        addr = _parse_address([m.group("family"), *rest.split()], text.source, lineno)
        if addr is not None:
            out.append(OneLineAddress(int(m.group("index")[:18]), m.group("name"), addr))
    return out


_ROUTE_TYPES = frozenset({
    "unicast", "local", "broadcast", "multicast", "throw", "unreachable", "prohibit", "blackhole", "nat",
    "anycast",
})
_ROUTE_KEYS = frozenset({
    "via", "dev", "table", "proto", "scope", "src", "metric", "pref", "mtu", "advmss", "error", "realm",
    "weight",
})


@dataclass(frozen=True)
class Route:
    type: str  # unicast (printed without a type word), local, broadcast, throw, unreachable, ...
    dst: str  # `default`, `10.0.0.0/24`, `10.0.0.5`
    family: str  # inet | inet6
    table: str  # main unless the line says otherwise
    dev: str | None
    via: str | None
    proto: str | None
    scope: str | None
    src: str | None
    source: str
    line: int
    text: str

    @property
    def is_default(self) -> bool:
        return self.dst == "default" or self.dst in ("0.0.0.0/0", "::/0")

    @property
    def network(self) -> IPNetwork | None:
        if self.is_default:
            return None
        try:
            return ipaddress.ip_network(self.dst, strict=False)
        except ValueError:
            return None

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.text)


def parse_ip_route(text: Text) -> list[Route]:
    """`[type] dst [via X] [dev D] [table T] [proto P] [scope S] [src A] ...` one route per line."""
    routes: list[Route] = []
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or raw[:1].isspace():
            continue  # multipath `nexthop` continuation lines belong to the route above
        tokens = raw.split()
        if not tokens:
            continue
        rtype = "unicast"
        if tokens[0] in _ROUTE_TYPES:
            rtype, tokens = tokens[0], tokens[1:]
        if not tokens:
            continue
        dst = tokens[0]
        if dst != "default":
            try:
                net = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                continue
            family = "inet6" if net.version == 6 else "inet"
        else:
            family = "inet6" if ":" in raw else "inet"
        fields: dict[str, str] = {}
        for i, token in enumerate(tokens[1:-1], 1):
            if token in _ROUTE_KEYS and token not in fields:
                fields[token] = tokens[i + 1]
        if "via" in fields and ":" in fields["via"]:
            family = "inet6"
        routes.append(Route(
            rtype, dst, family, fields.get("table", "main"), fields.get("dev"), fields.get("via"),
            fields.get("proto"), fields.get("scope"), fields.get("src"), text.source, lineno, _clip(raw),
        ))
    return routes


def load_routes(view: HostView) -> list[Route]:
    text = view.command("ip route show table all")
    if text is None:
        raise MissingEvidence("sos_commands/networking/ip_route_show_table_all"
                              " (cmd: ip route show table all)")
    return parse_ip_route(text)


def merge(details: LinkTable, addresses: LinkTable) -> LinkTable:
    """Links (with counters) from `ip -d link`, addresses from `ip -d address`, matched by name."""
    by_name = {link.name: link for link in addresses.links}
    merged: list[Link] = []
    for link in details.links:
        other = by_name.pop(link.name, None)
        if other is None:
            merged.append(link)
            continue
        if link.kind is None and link.slave_kind is None and (other.kind or other.slave_kind):
            # `ip link` without -d was all sos had: the address output carries the details.
            merged.append(replace(other, stats=link.stats))
        else:
            merged.append(replace(link, addresses=other.addresses))
    # A link that appeared between the two commands is still a link of this host.
    merged.extend(link for link in addresses.links if link.name in by_name)
    return LinkTable(tuple(merged), details.sources + addresses.sources)


def load_links(view: HostView) -> LinkTable:
    addr_text = view.command("ip -d address")
    link_text = view.command("ip -d link")
    if addr_text is None:
        if link_text is None:
            raise MissingEvidence("sos_commands/networking/ip_-d_address or ip_-s_-d_link "
                                  "(cmd: ip -d address)")
        return parse_ip_link(link_text)
    addresses = parse_ip_address(addr_text)
    return addresses if link_text is None else merge(parse_ip_link(link_text), addresses)


def load_netns_links(view: HostView, ns: str) -> LinkTable:
    text = view.netns_command(ns, "ip -d address")
    if text is None:
        raise MissingEvidence(f"sos_commands/networking/namespaces/{ns}/ip_netns_exec_{ns}_ip_-d_address_show"
                              f" (cmd: ip netns exec {ns} ip -d address)")
    return parse_ip_address(text)


def summary(facts: Facts) -> dict[str, Any]:
    try:
        table = facts.get(load_links)
    except (MissingEvidence, ParseError):
        return {}
    interfaces: list[dict[str, Any]] = []
    for link in table:
        entry: dict[str, Any] = {"name": link.name, "mtu": link.mtu, "state": link.state}
        if link.kind:
            entry["kind"] = link.kind
        if link.master:
            entry["master"] = link.master
        if link.parent:
            entry["parent"] = link.parent
        if link.vlan_id is not None:
            entry["vlan_id"] = link.vlan_id
        globals_ = [a.cidr for a in link.addresses if a.scope != "link"]
        if globals_:
            entry["addresses"] = globals_
        interfaces.append(entry)
    return {"interfaces": interfaces}


FUZZ_TARGETS = [parse_ip_address, parse_ip_link, parse_ip_o_addr, parse_ip_route]
