"""Neutron L3 HA routers on this node: keepalived.conf, the `state` file, pid files, the processes.

The L3 agent keeps one directory per HA router, `<ha_confs_path>/<router_id>/`, with the keepalived.conf it
renders, the `state` file written by neutron-keepalived-state-change and (for pid files) siblings named
`<router_id>.pid.keepalived` / `.pid.keepalived-vrrp` (older releases: `<router_id>.pid` / `.pid-vrrp`).
`ha_confs_path` defaults to `$state_path/ha_confs`; Kolla sets `state_path = /var/lib/neutron/kolla`.

Public API:

    ACTIVE, STANDBY, UNKNOWN                  # normalised states
    normalise_state(raw) -> str               # primary/master -> ACTIVE (neutron >= 17 writes `primary`),
                                              # backup/fault -> STANDBY, anything else/empty -> UNKNOWN
    VipEntry(cidr: str, dev: str | None, scope: str | None, no_track: bool, text: str, source: str, line: int)
        .ip -> IPv4Address | IPv6Address | None, .is_link_local (fe80::/10 or `scope link`), .evidence()
    VirtualRoute(dst: str, via: str | None, dev: str | None, text: str, source: str, line: int)
    VrrpInstance(name: str, initial_state: str | None, interface: str | None, virtual_router_id: int | None,
                 priority: int | None, vips: tuple[VipEntry, ...], excluded: tuple[VipEntry, ...],
                 routes: tuple[VirtualRoute, ...], source: str, line: int)
    KeepalivedConf(instances: tuple[VrrpInstance, ...], source: str)
        .ha_interface -> str | None, .vips, .excluded, .routes (over all instances)
    parse_keepalived_conf(text) -> KeepalivedConf
    HaState(raw: str, state: str, source: str, mtime: float | None)    .evidence()
    parse_state(text) -> HaState
    HaRouter(router_id: str, conf_dir: str, conf: KeepalivedConf | None, state: HaState | None,
             pid_files: dict[str, int | None], keepalived: tuple[Process, ...] | None,
             state_change: tuple[Process, ...] | None, namespace: str)
        `keepalived` / `state_change` are None when no process list was collected.
        `namespace`: where keepalived runs, from the state-change daemon's `--namespace=`, else
            `snat-<id>` when that namespace exists (DVR+HA on a dvr_snat node), else `qrouter-<id>`.
        .normalised -> str (UNKNOWN without a state file), .ha_interface -> str | None
    ha_confs_dirs(view) -> list[str]          # candidate ha_confs directories that exist
    load_ha_routers(view) -> tuple[HaRouter, ...]   # () when the node has no HA router directory
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.facts.ini import IniFile, load_config
from stackrx.facts.kernel import Process, ProcessTable, load_processes
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

ACTIVE = "active"
STANDBY = "standby"
UNKNOWN = "unknown"
_STATES = {"primary": ACTIVE, "master": ACTIVE, "backup": STANDBY, "fault": STANDBY}

DEFAULT_HA_CONFS = ("var/lib/neutron/ha_confs", "var/lib/neutron/kolla/ha_confs")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ROUTER_DIR = re.compile(rf"^{_UUID}$")
_KEEPALIVED = re.compile(rf"(?:^|[/\s])keepalived\s.*-f\s+\S*?/(?P<id>{_UUID})/keepalived\.conf")
_STATE_CHANGE = re.compile(rf"neutron-keepalived-state-change\b.*--router_id[= ](?P<id>{_UUID})")
_NAMESPACE_ARG = re.compile(r"--namespace[= ](?P<ns>\S+)")
_MAX_LINE = 64 * 1024
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def normalise_state(raw: str | None) -> str:
    return _STATES.get((raw or "").strip().lower(), UNKNOWN)


# -- keepalived.conf ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VipEntry:
    cidr: str
    dev: str | None
    scope: str | None
    no_track: bool
    text: str
    source: str
    line: int

    @property
    def ip(self) -> _IP | None:
        try:
            return ipaddress.ip_interface(self.cidr).ip
        except ValueError:
            return None

    @property
    def is_link_local(self) -> bool:
        ip = self.ip
        return self.scope == "link" or (isinstance(ip, ipaddress.IPv6Address) and ip.is_link_local)

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.text)


@dataclass(frozen=True)
class VirtualRoute:
    dst: str
    via: str | None
    dev: str | None
    text: str
    source: str
    line: int


@dataclass(frozen=True)
class VrrpInstance:
    name: str
    initial_state: str | None
    interface: str | None
    virtual_router_id: int | None
    priority: int | None
    vips: tuple[VipEntry, ...]
    excluded: tuple[VipEntry, ...]
    routes: tuple[VirtualRoute, ...]
    source: str
    line: int


@dataclass(frozen=True)
class KeepalivedConf:
    instances: tuple[VrrpInstance, ...]
    source: str

    @property
    def ha_interface(self) -> str | None:
        return next((i.interface for i in self.instances if i.interface), None)

    @property
    def vips(self) -> tuple[VipEntry, ...]:
        return tuple(v for i in self.instances for v in i.vips)

    @property
    def excluded(self) -> tuple[VipEntry, ...]:
        return tuple(v for i in self.instances for v in i.excluded)

    @property
    def routes(self) -> tuple[VirtualRoute, ...]:
        return tuple(r for i in self.instances for r in i.routes)


def _keyword(tokens: list[str], word: str) -> str | None:
    if word in tokens:
        idx = tokens.index(word)
        if idx + 1 < len(tokens):
            return tokens[idx + 1]
    return None


def _vip(tokens: list[str], text: str, source: str, line: int) -> VipEntry | None:
    try:
        ipaddress.ip_interface(tokens[0])
    except ValueError:
        return None
    return VipEntry(tokens[0], _keyword(tokens, "dev"), _keyword(tokens, "scope"), "no_track" in tokens,
                    text, source, line)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and re.fullmatch(r"\d{1,9}", value) else None


@dataclass
class _Instance:
    name: str
    line: int
    settings: dict[str, str]
    vips: list[VipEntry]
    excluded: list[VipEntry]
    routes: list[VirtualRoute]


def _logical_lines(text: Text) -> list[tuple[int, str]]:
    """Lines with `{`/`}` split off, so `track_interface { ha-x }` reads like its multi-line form."""
    out: list[tuple[int, str]] = []
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        body = re.split(r"[#!]", raw, maxsplit=1)[0]
        for piece in re.split(r"([{}])", body):
            if piece.strip():
                out.append((lineno, piece.strip()))
    return out


def parse_keepalived_conf(text: Text) -> KeepalivedConf:
    instances: list[_Instance] = []
    stack: list[str] = []
    current: _Instance | None = None
    pending: tuple[int, str] | None = None  # a block header waiting for its `{`
    for lineno, piece in _logical_lines(text):
        if piece == "{":
            name = pending[1] if pending else ""
            stack.append(name)
            if len(stack) == 1 and name.split()[:1] == ["vrrp_instance"]:
                start = pending[0] if pending else lineno
                current = _Instance(" ".join(name.split()[1:2]), start, {}, [], [], [])
                instances.append(current)
            pending = None
            continue
        if piece == "}":
            if pending is not None:
                _inner(current, stack, pending, text.source)
            pending = None
            if stack:
                stack.pop()
            if not stack:
                current = None
            continue
        if pending is not None:
            _inner(current, stack, pending, text.source)
        pending = (lineno, piece)
    if pending is not None:
        _inner(current, stack, pending, text.source)
    if not instances and not stack and text.content.strip() and "global_defs" not in text.content:
        raise ParseError(text.source, "no vrrp_instance block")
    return KeepalivedConf(tuple(
        VrrpInstance(i.name, i.settings.get("state"), i.settings.get("interface"),
                     _int(i.settings.get("virtual_router_id")), _int(i.settings.get("priority")),
                     tuple(i.vips), tuple(i.excluded), tuple(i.routes), text.source, i.line)
        for i in instances), text.source)


def _setting(inst: _Instance, body: str) -> None:
    parts = body.split(None, 1)
    if parts:
        inst.settings.setdefault(parts[0], parts[1] if len(parts) > 1 else "")


def _inner(current: _Instance | None, stack: list[str], item: tuple[int, str], source: str) -> None:
    """One item line inside a vrrp_instance: a setting, or an entry of one of its address blocks."""
    if current is None:
        return
    lineno, body = item
    if len(stack) == 1:
        _setting(current, body)
        return
    block = stack[-1].split()[0] if stack[-1].split() else ""
    tokens = body.split()
    if block in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
        vip = _vip(tokens, body, source, lineno)
        if vip is not None:
            (current.vips if block == "virtual_ipaddress" else current.excluded).append(vip)
    elif block == "virtual_routes" and tokens:
        current.routes.append(VirtualRoute(tokens[0], _keyword(tokens, "via"), _keyword(tokens, "dev"),
                                           body, source, lineno))


# -- state file -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HaState:
    raw: str
    state: str
    source: str
    mtime: float | None

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=1, excerpt=self.raw or "(empty)")


def parse_state(text: Text) -> HaState:
    first = next((ln.strip() for ln in text.content.splitlines() if ln.strip()), "")[:64]
    return HaState(first, normalise_state(first), text.source, None)


# -- routers --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HaRouter:
    router_id: str
    conf_dir: str
    conf: KeepalivedConf | None
    state: HaState | None
    pid_files: dict[str, int | None]
    keepalived: tuple[Process, ...] | None
    state_change: tuple[Process, ...] | None
    namespace: str

    @property
    def normalised(self) -> str:
        return self.state.state if self.state else UNKNOWN

    @property
    def ha_interface(self) -> str | None:
        return self.conf.ha_interface if self.conf else None


def _configured_dirs(view: HostView) -> list[str]:
    """`ha_confs_path` / `state_path` as the L3 agent would read them (l3_agent.ini over neutron.conf)."""
    out: list[str] = []
    configs: list[IniFile] = []
    for service in ("l3_agent", "neutron"):
        try:
            configs.append(load_config(view, service))
        except (MissingEvidence, ParseError):
            continue
    state_path = next((v.value for c in configs if (v := c.get("DEFAULT", "state_path")) and v.value), None)
    state_path = state_path or "/var/lib/neutron"
    ha_path = next((v.value for c in configs if (v := c.get("DEFAULT", "ha_confs_path")) and v.value), None)
    for raw in (ha_path, f"{state_path}/ha_confs"):
        if raw:
            out.append(raw.replace("$state_path", state_path).replace("${state_path}", state_path).strip("/"))
    return out


def ha_confs_dirs(view: HostView) -> list[str]:
    seen: list[str] = []
    for path in (*_configured_dirs(view), *DEFAULT_HA_CONFS):
        if path not in seen and view.is_dir(path):
            seen.append(path)
    return seen


def _pid(view: HostView, path: str) -> int | None:
    text = view.read_text(path)
    if text is None:
        return None
    token = text.content.strip().split("\n", 1)[0].strip()
    return int(token) if re.fullmatch(r"\d{1,10}", token) else None


def _router_of(pattern: re.Pattern[str], proc: Process) -> str | None:
    if proc.command.startswith(("grep ", "egrep ")):
        return None
    m = pattern.search(proc.command)
    return m.group("id") if m else None


def _router(view: HostView, base: str, rid: str, procs: ProcessTable | None,
            namespaces: set[str]) -> HaRouter:
    conf_dir = f"{base}/{rid}"
    conf_text = view.read_text(f"{conf_dir}/keepalived.conf")
    conf = parse_keepalived_conf(conf_text) if conf_text is not None else None
    state: HaState | None = None
    state_text = view.read_text(f"{conf_dir}/state")
    if state_text is not None:
        info = view.stat(f"{conf_dir}/state")
        parsed = parse_state(state_text)
        state = HaState(parsed.raw, parsed.state, parsed.source, info.mtime if info else None)
    pid_files = {p: _pid(view, p) for p in view.glob(f"{base}/{rid}.pid*")}
    keepalived: tuple[Process, ...] | None = None
    state_change: tuple[Process, ...] | None = None
    namespace = ""
    if procs is not None:
        keepalived = tuple(p for p in procs if _router_of(_KEEPALIVED, p) == rid)
        state_change = tuple(p for p in procs if _router_of(_STATE_CHANGE, p) == rid)
        for proc in state_change:
            ns = _NAMESPACE_ARG.search(proc.command)
            if ns:
                namespace = ns.group("ns")
                break
    if not namespace:
        namespace = f"snat-{rid}" if f"snat-{rid}" in namespaces else f"qrouter-{rid}"
    return HaRouter(rid, conf_dir, conf, state, pid_files, keepalived, state_change, namespace)


def load_ha_routers(view: HostView) -> tuple[HaRouter, ...]:
    dirs = ha_confs_dirs(view)
    if not dirs:
        return ()
    try:
        procs: ProcessTable | None = load_processes(view)
    except MissingEvidence:
        procs = None
    namespaces = set(view.namespaces())
    routers: list[HaRouter] = []
    seen: set[str] = set()
    for base in dirs:
        for name in view.listdir(base):
            if _ROUTER_DIR.match(name) and view.is_dir(f"{base}/{name}") and name not in seen:
                seen.add(name)
                routers.append(_router(view, base, name, procs, namespaces))
    return tuple(routers)


def summary(facts: Facts) -> dict[str, Any]:
    try:
        routers = facts.get(load_ha_routers)
    except (MissingEvidence, ParseError):
        return {}
    if not routers:
        return {}
    return {"l3ha_routers": {r.router_id: {"state": r.normalised, "raw": r.state.raw if r.state else None,
                                           "namespace": r.namespace,
                                           "keepalived_running": None if r.keepalived is None
                                           else bool(r.keepalived)}
                             for r in routers}}


FUZZ_TARGETS = [parse_keepalived_conf, parse_state]
