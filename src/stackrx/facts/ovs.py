"""Open vSwitch database facts: `ovs-vsctl show`, `ovs-vsctl list <table>`, `ovs-vsctl list-br`.

Public API:

    OvsInterface(name: str, type: str, options: dict[str, str], attrs: dict[str, str], source: str, line: int)
        `type` is "" for a plain system interface (ovs-vsctl show prints no `type:` line then);
        `attrs` holds the other `key: value` lines (`error`, `bfd_status`, ...) verbatim.
        .evidence()
    OvsPort(name: str, tag: int | None, interfaces: tuple[OvsInterface, ...], attrs: dict[str, str],
            source: str, line: int)
        .evidence()
    OvsBridge(name: str, datapath_type: str | None, fail_mode: str | None, controllers: tuple[str, ...],
              ports: tuple[OvsPort, ...], source: str, line: int)
        .port(name) -> OvsPort | None, .interfaces() -> list[OvsInterface], .evidence()
    OvsShow(uuid: str | None, bridges: tuple[OvsBridge, ...], managers: tuple[str, ...],
            ovs_version: str | None, source: str, version_line: int | None)
        .bridge(name) -> OvsBridge | None, .bridge_names(),
        .interfaces() -> list[tuple[OvsBridge, OvsPort, OvsInterface]],
        .find_interface(name) -> tuple[OvsBridge, OvsPort, OvsInterface] | None,
        .bridge_of_port(name) -> OvsBridge | None
    parse_ovs_show(text) -> OvsShow

    OvsField(key: str, raw: str, value: str | tuple[str, ...] | dict[str, str], source: str, line: int)
        `value`: a `{k=v, ...}` map is a dict, a `[a, b]` set a tuple, anything else the unquoted string
        (`"2.13.3"` -> `2.13.3`; an ovsdb empty value `[]` is the empty tuple).
        .text() -> str | None (scalars; a one-element set too), .as_map() -> dict[str, str],
        .as_list() -> tuple[str, ...], .evidence(), .map_evidence(key) (excerpt `field:key=value`)
    OvsRecord(fields: dict[str, OvsField], source: str, line: int)
        .get(key) -> OvsField | None, .text(key) -> str | None, .map(key) -> dict[str, str] ({} if absent),
        .list(key) -> tuple[str, ...], `key in record`
    OvsTable(records: tuple[OvsRecord, ...], source: str)
        .by_name(name) -> OvsRecord | None, iteration, len()
    parse_ovs_list(text) -> OvsTable      # `ovs-vsctl list <table>` (blank-line separated records; a
                                          # repeated key also starts a record, as `--columns=` output does)
    parse_ovs_list_br(text) -> tuple[str, ...]

    load_ovs_show(view) -> OvsShow               # cmd `ovs-vsctl show`
    load_open_vswitch(view) -> OvsRecord         # the single Open_vSwitch row: cmd `ovs-vsctl list
                                                 # Open_vSwitch` (openvswitch, ovn_host, snap-prefixed names)
    load_ovs_interfaces(view) -> OvsTable        # cmd `ovs-vsctl list interface`
    load_ovs_bridges(view) -> list[str]          # cmd `ovs-vsctl list-br`, else the bridges of `show`
    ovn_external_ids(record) -> dict[str, str]   # the `ovn-*` and `system-id` keys of external_ids

    SbChassis(name: str, hostname: str | None, encaps: tuple[tuple[str, str], ...], source: str, line: int)
        `encaps`: (type, ip) pairs.  .evidence()
    parse_sb_chassis(text) -> tuple[SbChassis, ...]   # `ovn-sbctl show` (Chassis blocks)
    load_sb_chassis(view) -> tuple[SbChassis, ...]     # sos_commands/ovn_central/*ovn-sbctl*show* (central
                                                       # data only exists where the SB database runs)

An empty output or one that is only an `ovs-vsctl: ...` error (database not running when sos ran) is
missing evidence, not a parse error: there is nothing to judge.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
_EXCERPT = 400
_SHOW_BLOCK = re.compile(r"^(?P<kind>Bridge|Port|Interface|Manager|Controller)\s+(?P<name>\S.*)$")
_SHOW_ATTR = re.compile(r"^(?P<key>[A-Za-z_][\w\-]*):\s?(?P<value>.*)$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LIST_LINE = re.compile(r"^(?P<key>[A-Za-z_][\w\-]*)\s*: ?(?P<value>.*)$")
_BRIDGE_NAME = re.compile(r"^[\w.\-:@]{1,64}$")
# Ports neutron/nova plug per instance or router: not uplinks, and too many to list in a summary.
_INSTANCE_PORTS = ("tap", "qvo", "vnet", "qr-", "qg-", "ha-", "sg-", "fg-", "o-hm")


def _clip(s: str) -> str:
    return s if len(s) <= _EXCERPT else s[: _EXCERPT - 3] + "..."


# -- ovsdb value syntax ---------------------------------------------------------------------------------
def _unquote(token: str) -> str:
    """An ovsdb string as ovs-vsctl prints it: bare, or double-quoted with C/JSON escapes."""
    token = token.strip()
    if len(token) < 2 or not (token[0] == '"' and token[-1] == '"'):
        return token
    out: list[str] = []
    body = token[1:-1]
    i = 0
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6]):
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(escapes.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split_top(body: str, sep: str) -> list[str]:
    """Split on `sep` outside double quotes (ovsdb maps/sets never nest in ovs-vsctl's output)."""
    parts: list[str] = []
    current: list[str] = []
    in_quote = False
    escaped = False
    for ch in body:
        if in_quote:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
            continue
        if ch == '"':
            in_quote = True
            current.append(ch)
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _split_pair(item: str) -> tuple[str, str] | None:
    parts = _split_top(item, "=")
    if len(parts) < 2:
        return None
    return _unquote(parts[0]), _unquote("=".join(parts[1:]))


def parse_value(raw: str) -> str | tuple[str, ...] | dict[str, str]:
    """`{k=v, ...}` -> dict, `[a, b]` -> tuple, otherwise the unquoted scalar."""
    raw = raw.strip()
    if raw.startswith("{") and raw.endswith("}"):
        out: dict[str, str] = {}
        for item in _split_top(raw[1:-1], ","):
            if not item.strip():
                continue
            pair = _split_pair(item.strip())
            if pair is not None:
                out[pair[0]] = pair[1]
        return out
    if raw.startswith("[") and raw.endswith("]"):
        return tuple(_unquote(i) for i in _split_top(raw[1:-1], ",") if i.strip())
    return _unquote(raw)


# -- ovs-vsctl show ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OvsInterface:
    name: str
    type: str
    options: dict[str, str]
    attrs: dict[str, str]
    source: str
    line: int

    def evidence(self) -> Evidence:
        excerpt = f"Interface {self.name}" + (f" type: {self.type}" if self.type else "")
        return Evidence(source=self.source, line=self.line, excerpt=excerpt)


@dataclass(frozen=True)
class OvsPort:
    name: str
    tag: int | None
    interfaces: tuple[OvsInterface, ...]
    attrs: dict[str, str]
    source: str
    line: int

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"Port {self.name}")


@dataclass(frozen=True)
class OvsBridge:
    name: str
    datapath_type: str | None
    fail_mode: str | None
    controllers: tuple[str, ...]
    ports: tuple[OvsPort, ...]
    source: str
    line: int

    def port(self, name: str) -> OvsPort | None:
        return next((p for p in self.ports if p.name == name), None)

    def interfaces(self) -> list[OvsInterface]:
        return [i for p in self.ports for i in p.interfaces]

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"Bridge {self.name}")


@dataclass(frozen=True)
class OvsShow:
    uuid: str | None
    bridges: tuple[OvsBridge, ...]
    managers: tuple[str, ...]
    ovs_version: str | None
    source: str
    version_line: int | None

    def bridge(self, name: str) -> OvsBridge | None:
        return next((b for b in self.bridges if b.name == name), None)

    def bridge_names(self) -> list[str]:
        return [b.name for b in self.bridges]

    def interfaces(self) -> list[tuple[OvsBridge, OvsPort, OvsInterface]]:
        return [(b, p, i) for b in self.bridges for p in b.ports for i in p.interfaces]

    def find_interface(self, name: str) -> tuple[OvsBridge, OvsPort, OvsInterface] | None:
        return next((t for t in self.interfaces() if t[2].name == name), None)

    def bridge_of_port(self, name: str) -> OvsBridge | None:
        return next((b for b in self.bridges if b.port(name) is not None), None)


@dataclass
class _Node:
    kind: str
    name: str
    indent: int
    line: int
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node] = field(default_factory=list)


def _show_tree(text: Text) -> tuple[_Node, str | None, int]:
    root = _Node("root", "", -1, 0)
    stack = [root]
    uuid: str | None = None
    recognised = 0
    allowed = {"root": {"Bridge", "Manager"}, "Bridge": {"Port", "Controller"}, "Port": {"Interface"}}
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        body = raw.strip()
        if indent == 0 and _UUID.match(body):
            uuid = body
            recognised += 1
            continue
        while len(stack) > 1 and stack[-1].indent >= indent:
            stack.pop()
        top = stack[-1]
        block = _SHOW_BLOCK.match(body)
        if block:
            kind = block.group("kind")
            if kind not in allowed.get(top.kind, set()):
                continue  # truncated or reordered output: an orphan block is skipped, not guessed at
            node = _Node(kind, _unquote(block.group("name")), indent, lineno)
            top.children.append(node)
            stack.append(node)
            recognised += 1
            continue
        attr = _SHOW_ATTR.match(body)
        if attr:
            top.attrs.setdefault(attr.group("key"), attr.group("value").strip())
            top.attrs.setdefault(f"_line:{attr.group('key')}", str(lineno))
            recognised += 1
    return root, uuid, recognised


def _plain_attrs(node: _Node, drop: set[str]) -> dict[str, str]:
    return {k: v for k, v in node.attrs.items() if not k.startswith("_line:") and k not in drop}


def parse_ovs_show(text: Text) -> OvsShow:
    root, uuid, recognised = _show_tree(text)
    if not recognised and text.content.strip():
        raise ParseError(text.source, "no ovs-vsctl show structure (uuid, Bridge, Port, Interface) found")
    bridges: list[OvsBridge] = []
    for bnode in (n for n in root.children if n.kind == "Bridge"):
        ports: list[OvsPort] = []
        for pnode in (n for n in bnode.children if n.kind == "Port"):
            ifaces = []
            for inode in (n for n in pnode.children if n.kind == "Interface"):
                opts = parse_value(inode.attrs.get("options", "{}"))
                ifaces.append(OvsInterface(
                    inode.name, _unquote(inode.attrs.get("type", "")), opts if isinstance(opts, dict) else {},
                    _plain_attrs(inode, {"type", "options"}), text.source, inode.line))
            tag = pnode.attrs.get("tag", "")
            ports.append(OvsPort(pnode.name, int(tag) if re.fullmatch(r"\d{1,4}", tag) else None,
                                 tuple(ifaces), _plain_attrs(pnode, {"tag"}), text.source, pnode.line))
        dp = bnode.attrs.get("datapath_type")
        fail = bnode.attrs.get("fail_mode")
        bridges.append(OvsBridge(
            bnode.name, _unquote(dp) if dp is not None else None,
            _unquote(fail) if fail is not None else None,
            tuple(n.name for n in bnode.children if n.kind == "Controller"), tuple(ports),
            text.source, bnode.line))
    version = root.attrs.get("ovs_version")
    version_line = root.attrs.get("_line:ovs_version")
    return OvsShow(uuid, tuple(bridges), tuple(n.name for n in root.children if n.kind == "Manager"),
                   _unquote(version) if version is not None else None, text.source,
                   int(version_line) if version_line else None)


# -- ovs-vsctl list <table> --------------------------------------------------------------------------------
@dataclass(frozen=True)
class OvsField:
    key: str
    raw: str
    value: str | tuple[str, ...] | dict[str, str]
    source: str
    line: int

    def text(self) -> str | None:
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, tuple) and len(self.value) == 1:
            return self.value[0]
        return None

    def as_map(self) -> dict[str, str]:
        return dict(self.value) if isinstance(self.value, dict) else {}

    def as_list(self) -> tuple[str, ...]:
        if isinstance(self.value, tuple):
            return self.value
        if isinstance(self.value, str):
            return (self.value,) if self.value else ()
        return ()

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=_clip(f"{self.key} : {self.raw}"))

    def map_evidence(self, key: str) -> Evidence:
        value = self.as_map().get(key)
        excerpt = f"{self.key}:{key}={value}" if value is not None else f"{self.key} : {self.raw}"
        return Evidence(source=self.source, line=self.line, excerpt=_clip(excerpt))


@dataclass(frozen=True)
class OvsRecord:
    fields: dict[str, OvsField]
    source: str
    line: int

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def get(self, key: str) -> OvsField | None:
        return self.fields.get(key)

    def text(self, key: str) -> str | None:
        f = self.fields.get(key)
        return f.text() if f else None

    def map(self, key: str) -> dict[str, str]:
        f = self.fields.get(key)
        return f.as_map() if f else {}

    def list(self, key: str) -> tuple[str, ...]:
        f = self.fields.get(key)
        return f.as_list() if f else ()


@dataclass(frozen=True)
class OvsTable:
    records: tuple[OvsRecord, ...]
    source: str

    def __iter__(self) -> Iterator[OvsRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def by_name(self, name: str) -> OvsRecord | None:
        return next((r for r in self.records if r.text("name") == name), None)


def parse_ovs_list(text: Text) -> OvsTable:
    records: list[OvsRecord] = []
    current: dict[str, OvsField] = {}
    start = 0
    junk = 0

    def flush() -> None:
        nonlocal current
        if current:
            records.append(OvsRecord(current, text.source, start))
        current = {}

    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            junk += 1
            continue
        if not raw.strip():
            flush()
            continue
        m = _LIST_LINE.match(raw.strip())
        if not m:
            junk += 1
            continue
        key = m.group("key")
        if key in current:
            flush()
        if not current:
            start = lineno
        value = m.group("value")
        current[key] = OvsField(key, value.strip(), parse_value(value), text.source, lineno)
    flush()
    if not records and junk:
        raise ParseError(text.source, "no `column : value` line found")
    return OvsTable(tuple(records), text.source)


def parse_ovs_list_br(text: Text) -> tuple[str, ...]:
    names: list[str] = []
    for raw in text.content.splitlines():
        name = raw.strip()
        if name and len(name) <= _MAX_LINE and _BRIDGE_NAME.match(name):
            names.append(name)
    if not names and text.content.strip():
        raise ParseError(text.source, "no bridge name found")
    return tuple(names)


# -- loaders --------------------------------------------------------------------------------------------
def _usable(text: Text | None) -> Text | None:
    """None for an empty output or a bare `ovs-vsctl: ... database connection failed` error."""
    if text is None:
        return None
    lines = [ln for ln in text.content.splitlines() if ln.strip()]
    if not lines or all(ln.lstrip().startswith(("ovs-vsctl:", "ovsdb-client:")) for ln in lines):
        return None
    return text


def _missing(key: str, sos: str) -> MissingEvidence:
    return MissingEvidence(f"{sos} (cmd: {key}) absent, empty or an ovs-vsctl error")


def load_ovs_show(view: HostView) -> OvsShow:
    text = _usable(view.command("ovs-vsctl show"))
    if text is None:
        raise _missing("ovs-vsctl show", "sos_commands/openvswitch/ovs-vsctl_-t_5_show")
    return parse_ovs_show(text)


def load_open_vswitch(view: HostView) -> OvsRecord:
    text = _usable(view.command("ovs-vsctl list Open_vSwitch"))
    if text is None:
        raise _missing("ovs-vsctl list Open_vSwitch",
                       "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch"
                       " or sos_commands/ovn_host/ovs-vsctl_list_Open_vSwitch")
    table = parse_ovs_list(text)
    if not table.records:
        raise ParseError(text.source, "no Open_vSwitch record")
    return table.records[0]


def load_ovs_interfaces(view: HostView) -> OvsTable:
    text = _usable(view.command("ovs-vsctl list interface"))
    if text is None:
        raise _missing("ovs-vsctl list interface", "sos_commands/openvswitch/ovs-vsctl_-t_5_list_interface")
    return parse_ovs_list(text)


def load_ovs_bridges(view: HostView) -> list[str]:
    text = _usable(view.command("ovs-vsctl list-br"))
    if text is not None:
        return list(parse_ovs_list_br(text))
    try:
        return load_ovs_show(view).bridge_names()
    except MissingEvidence:
        raise _missing("ovs-vsctl list-br", "sos_commands/openvswitch/ovs-vsctl_-t_5_list-br") from None


def ovn_external_ids(record: OvsRecord) -> dict[str, str]:
    ids = record.map("external_ids")
    return {k: v for k, v in ids.items() if k.startswith("ovn") or k == "system-id"}


# -- ovn-sbctl show -------------------------------------------------------------------------------------
_SB_CHASSIS = re.compile(r"^Chassis\s+(?P<name>\S+)\s*$")
_SB_ENCAP = re.compile(r"^Encap\s+(?P<type>\S+)\s*$")
_SB_ATTR = re.compile(r"^(?P<key>hostname|ip):\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True)
class SbChassis:
    name: str
    hostname: str | None
    encaps: tuple[tuple[str, str], ...]
    source: str
    line: int

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"Chassis {self.name}")


def parse_sb_chassis(text: Text) -> tuple[SbChassis, ...]:
    found: list[SbChassis] = []
    name: str | None = None
    start = 0
    hostname: str | None = None
    encaps: list[tuple[str, str]] = []
    encap_type: str | None = None

    def flush() -> None:
        if name is not None:
            found.append(SbChassis(name, hostname, tuple(encaps), text.source, start))

    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or not raw.strip():
            continue
        body = raw.strip()
        top = _SB_CHASSIS.match(raw)
        if top:
            flush()
            name, start, hostname, encaps, encap_type = _unquote(top.group("name")), lineno, None, [], None
            continue
        if name is None or not raw[:1].isspace():
            if not raw[:1].isspace():
                flush()
                name = None
            continue
        encap = _SB_ENCAP.match(body)
        if encap:
            encap_type = encap.group("type")
            continue
        attr = _SB_ATTR.match(body)
        if attr and attr.group("key") == "hostname":
            hostname = _unquote(attr.group("value"))
        elif attr and encap_type is not None:
            encaps.append((encap_type, _unquote(attr.group("value"))))
    flush()
    return tuple(found)


def load_sb_chassis(view: HostView) -> tuple[SbChassis, ...]:
    for path in view.glob("sos_commands/ovn_central/*ovn-sbctl*show*"):
        text = _usable(view.read_text(path))
        if text is not None:
            return parse_sb_chassis(text)
    raise MissingEvidence("sos_commands/ovn_central/ovn-sbctl_show "
                          "(the OVN southbound database does not run on this node)")


def summary(facts: Facts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        show = facts.get(load_ovs_show)
        out["ovs_bridges"] = {
            b.name: {"datapath_type": b.datapath_type, "ports": len(b.ports),
                     "uplinks": sorted(i.name for i in b.interfaces()
                                       if not i.type and not i.name.startswith(_INSTANCE_PORTS))}
            for b in show.bridges}
        if show.ovs_version:
            out["ovs_version"] = show.ovs_version
    except (MissingEvidence, ParseError):
        pass
    try:
        ovn = ovn_external_ids(facts.get(load_open_vswitch))
        if ovn:
            out["ovn_external_ids"] = ovn
    except (MissingEvidence, ParseError):
        pass
    return out


FUZZ_TARGETS = [parse_ovs_show, parse_ovs_list, parse_ovs_list_br, parse_sb_chassis]
