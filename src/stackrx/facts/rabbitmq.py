"""RabbitMQ node state: alarms, partitions, cluster membership, memory / descriptor use, queue backlogs.

Inputs: `rabbitmqctl report` (sos `sos_commands/rabbitmq/rabbitmqctl_report`; it holds status, cluster_status
and one `list_queues` table per vhost), else `rabbitmqctl status` + `rabbitmqctl cluster_status` (live).
Three output generations are understood:
- RabbitMQ ≥ 3.8 CLI text: titled sections (`Alarms`, `Memory`, `File Descriptors`, `Disk Nodes`,
  `Running Nodes`, `Network Partitions`, possibly wrapped in ANSI bold codes) with `(none)` for empty lists;
  alarm lines as the CLI prints them (`Memory alarm on node X`, `Free disk space alarm on node X`,
  `File descriptor limit alarm on node X` — rabbitmq_cli `RabbitMQ.CLI.Core.Alarms.alarm_lines`);
- RabbitMQ ≤ 3.7 Erlang terms (`{alarms,[...]}`, `{partitions,[...]}`, `{vm_memory_limit,N}`,
  `{memory,[...{total,N}]}` or 3.7's `{total,[{erlang,..},{rss,..},{allocated,..}]}`,
  `{file_descriptors,[{total_limit,..},{total_used,..}...]}`, `{nodes,[{disc,[..]},{ram,[..]}]}`);
- `--formatter json` objects (same key names as the Erlang terms).
Memory in 3.8 text is the sum of the breakdown lines (they add up to the total the watermark is compared
with); the CLI prints decimal units (`gb` = 10^9 bytes, as its `computed to` line shows).

Public API:

    Reading(value: float, source, line, excerpt)  .evidence()
    RabbitAlarm(resource: "memory" | "disk" | "file_descriptor", node: str | None, source, line, excerpt)
    RabbitQueue(vhost, name, messages: int, consumers: int | None, source, line, excerpt)
    RabbitStatus(source, node, version, alarms, alarms_seen: bool, partitions: tuple[Reading, ...],
                 partitions_seen: bool, disk_nodes, ram_nodes, running_nodes: tuple[str, ...],
                 cluster_seen: bool, memory_used, memory_limit, fd_used, fd_limit, sockets_used,
                 sockets_limit, disk_free, disk_free_limit: Reading | None, queues: tuple[RabbitQueue, ...],
                 queues_seen: bool)
        .members -> disk + ram nodes; .memory_ratio -> float | None
    parse_rabbitmqctl(text) -> RabbitStatus         # any of the three formats, one or several commands
    load_rabbitmq(view) -> RabbitStatus             # report, else status (+ cluster_status merged)
    summary(facts) -> {"rabbitmq": {...}, "metrics": {"rabbitmq_memory_ratio": ...}}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Cited
from stackrx.sources.base import HostView, Text

if TYPE_CHECKING:
    from stackrx.facts import Facts

_MAX_LINE = 256 * 1024
_EXCERPT = 300
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_UNITS = {"b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 1024.0, "mib": 1024.0**2,
          "gib": 1024.0**3, "tib": 1024.0**4, "bytes": 1.0}
_SECTIONS = frozenset({
    "runtime", "plugins", "data directory", "config files", "log file(s)", "alarms", "memory",
    "file descriptors", "free disk space", "totals", "listeners", "basics", "disk nodes", "ram nodes",
    "running nodes", "versions", "network partitions", "feature flags", "maintenance status", "cpu cores",
    "tags", "enabled plugins",
})
_ALARM_LINE = re.compile(
    r"^(?P<kind>Memory|Free disk space|File descriptor limit) alarm on node (?P<node>\S+)", re.IGNORECASE)
_BREAKDOWN = re.compile(r"^(?P<name>[a-z_]+): (?P<n>\d+(?:\.\d+)?) (?P<unit>[kmgt]?i?b|bytes)\b", re.IGNORECASE)
_WATERMARK = re.compile(r"computed to: (?P<n>\d+(?:\.\d+)?) (?P<unit>[kmgt]?i?b|bytes)", re.IGNORECASE)
_PAIR = re.compile(r"^(?P<what>Total|Sockets): (?P<used>\d+), limit: (?P<limit>\d+)", re.IGNORECASE)
_DISK = re.compile(r"^(?P<what>Low free disk space watermark|Free disk space): (?P<n>\d+(?:\.\d+)?) "
                   r"(?P<unit>[kmgt]?i?b|bytes)", re.IGNORECASE)
_STATUS_OF = re.compile(r"^(?:Cluster )?[Ss]tatus of node (?P<node>\S+?)(?: \.\.\.)?$")
_VERSION = re.compile(r"^RabbitMQ version: (?P<v>\S+)")
_OLD_VERSION = re.compile(r'\{rabbit,"RabbitMQ","(?P<v>[^"]+)"\}')
_QUEUES_FOR = re.compile(r"^Listing queues(?: for vhost (?P<vhost>.+?))? \.\.\.$")
_ERLANG_NODE = re.compile(r"'?([\w.-]+@[\w.-]+)'?")


@dataclass(frozen=True)
class Reading(Cited):
    value: float
    source: str
    line: int
    excerpt: str


@dataclass(frozen=True)
class RabbitAlarm(Cited):
    resource: str
    node: str | None
    source: str
    line: int
    excerpt: str


@dataclass(frozen=True)
class RabbitQueue(Cited):
    vhost: str
    name: str
    messages: int
    consumers: int | None
    source: str
    line: int
    excerpt: str


@dataclass(frozen=True)
class RabbitStatus:
    source: str
    node: str | None = None
    version: str | None = None
    alarms: tuple[RabbitAlarm, ...] = ()
    alarms_seen: bool = False
    partitions: tuple[Reading, ...] = ()
    partitions_seen: bool = False
    disk_nodes: tuple[str, ...] = ()
    ram_nodes: tuple[str, ...] = ()
    running_nodes: tuple[str, ...] = ()
    cluster_seen: bool = False
    memory_used: Reading | None = None
    memory_limit: Reading | None = None
    fd_used: Reading | None = None
    fd_limit: Reading | None = None
    sockets_used: Reading | None = None
    sockets_limit: Reading | None = None
    disk_free: Reading | None = None
    disk_free_limit: Reading | None = None
    queues: tuple[RabbitQueue, ...] = ()
    queues_seen: bool = False

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.disk_nodes, *self.ram_nodes)))

    @property
    def memory_ratio(self) -> float | None:
        if self.memory_used is None or self.memory_limit is None or self.memory_limit.value <= 0:
            return None
        return self.memory_used.value / self.memory_limit.value

    @property
    def understood(self) -> bool:
        return self.alarms_seen or self.partitions_seen or self.cluster_seen or self.memory_limit is not None


def _clip(s: str) -> str:
    s = s.strip()
    return s if len(s) <= _EXCERPT else s[: _EXCERPT - 3] + "..."


def _bytes(n: str, unit: str) -> float:
    return float(n) * _UNITS.get(unit.lower(), 1.0)


@dataclass
class _Builder:
    source: str
    node: str | None = None
    version: str | None = None
    alarms: list[RabbitAlarm] = field(default_factory=list)
    alarms_seen: bool = False
    partitions: list[Reading] = field(default_factory=list)
    partitions_seen: bool = False
    disk: list[str] = field(default_factory=list)
    ram: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    cluster_seen: bool = False
    readings: dict[str, Reading] = field(default_factory=dict)
    breakdown: float = 0.0
    breakdown_line: tuple[int, str] | None = None
    queues: list[RabbitQueue] = field(default_factory=list)
    queues_seen: bool = False

    def reading(self, key: str, value: float, line: int, excerpt: str) -> None:
        self.readings.setdefault(key, Reading(value, self.source, line, _clip(excerpt)))

    def alarm(self, resource: str, node: str | None, line: int, excerpt: str) -> None:
        if any(a.resource == resource and a.node == node for a in self.alarms):
            return
        self.alarms.append(RabbitAlarm(resource, node, self.source, line, _clip(excerpt)))

    def build(self) -> RabbitStatus:
        if "memory_used" not in self.readings and self.breakdown > 0 and self.breakdown_line is not None:
            line, excerpt = self.breakdown_line
            self.reading("memory_used", self.breakdown, line,
                         f"{excerpt} (sum of the memory breakdown: {self.breakdown / 1e9:.4f} gb)")
        r = self.readings
        return RabbitStatus(
            self.source, self.node, self.version, tuple(self.alarms), self.alarms_seen, tuple(self.partitions),
            self.partitions_seen, tuple(dict.fromkeys(self.disk)), tuple(dict.fromkeys(self.ram)),
            tuple(dict.fromkeys(self.running)), self.cluster_seen, r.get("memory_used"), r.get("memory_limit"),
            r.get("fd_used"), r.get("fd_limit"), r.get("sockets_used"), r.get("sockets_limit"),
            r.get("disk_free"), r.get("disk_free_limit"), tuple(self.queues), self.queues_seen,
        )


# -- 3.8+ text -------------------------------------------------------------------------------------------
def _lines(text: Text) -> Iterator[tuple[int, str]]:
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        yield lineno, _ANSI.sub("", raw).rstrip()


def _parse_text(text: Text, b: _Builder) -> None:
    section: str | None = None
    queue_header: list[str] | None = None
    vhost = "/"
    in_queues = False
    for lineno, line in _lines(text):
        stripped = line.strip()
        if in_queues:
            if not stripped or stripped.startswith(("Listing ", "Timeout:")):
                in_queues = False
                queue_header = None
            elif queue_header is None:
                queue_header = line.split("\t")
                if "name" not in queue_header:
                    in_queues = False
                    queue_header = None
                continue
            else:
                _queue_row(b, vhost, queue_header, line, lineno)
                continue
        m = _QUEUES_FOR.match(stripped)
        if m:
            vhost = (m.group("vhost") or "/").strip('"')
            in_queues, queue_header, b.queues_seen, section = True, None, True, None
            continue
        m = _STATUS_OF.match(stripped)
        if m:
            b.node = b.node or m.group("node")
            section = None
            continue
        if stripped.lower() in _SECTIONS:
            section = stripped.lower()
            if section == "alarms":
                b.alarms_seen = True
            elif section == "network partitions":
                b.partitions_seen = True
            elif section in ("disk nodes", "ram nodes", "running nodes"):
                b.cluster_seen = True
            continue
        if not stripped:
            continue
        m = _VERSION.match(stripped)
        if m:
            b.version = b.version or m.group("v")
            continue
        if section == "alarms":
            m = _ALARM_LINE.match(stripped)
            if m:
                kind = m.group("kind").lower()
                resource = "memory" if kind == "memory" else "disk" if kind.startswith("free") else "file_descriptor"
                b.alarm(resource, m.group("node"), lineno, stripped)
        elif section == "network partitions":
            if stripped != "(none)":
                b.partitions.append(Reading(1.0, text.source, lineno, _clip(stripped)))
        elif section in ("disk nodes", "ram nodes", "running nodes"):
            if stripped != "(none)" and "@" in stripped:
                {"disk nodes": b.disk, "ram nodes": b.ram, "running nodes": b.running}[section].append(
                    stripped.split()[0])
        elif section == "memory":
            m = _WATERMARK.search(stripped)
            if m:
                b.reading("memory_limit", _bytes(m.group("n"), m.group("unit")), lineno, stripped)
                continue
            if stripped.lower().startswith("total memory used:"):
                total = re.search(r"(\d+(?:\.\d+)?) ([kmgt]?i?b|bytes)", stripped, re.IGNORECASE)
                if total:
                    b.reading("memory_used", _bytes(total.group(1), total.group(2)), lineno, stripped)
                continue
            m = _BREAKDOWN.match(stripped)
            if m and m.group("name") != "total":
                b.breakdown += _bytes(m.group("n"), m.group("unit"))
                if b.breakdown_line is None:
                    b.breakdown_line = (lineno, stripped)
        elif section == "file descriptors":
            m = _PAIR.match(stripped)
            if m:
                prefix = "fd" if m.group("what").lower() == "total" else "sockets"
                b.reading(f"{prefix}_used", float(m.group("used")), lineno, stripped)
                b.reading(f"{prefix}_limit", float(m.group("limit")), lineno, stripped)
        elif section == "free disk space":
            m = _DISK.match(stripped)
            if m:
                key = "disk_free_limit" if m.group("what").lower().startswith("low") else "disk_free"
                b.reading(key, _bytes(m.group("n"), m.group("unit")), lineno, stripped)


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def _queue_row(b: _Builder, vhost: str, header: list[str], line: str, lineno: int) -> None:
    cells = line.split("\t")
    if len(cells) != len(header):
        return
    row = dict(zip(header, cells, strict=True))
    messages = _int(row.get("messages", ""))
    if messages is None:
        return
    consumers = _int(row.get("consumers", "")) if "consumers" in row else None
    excerpt = f"vhost {vhost}: {row['name']} messages={messages} consumers={consumers}"
    b.queues.append(RabbitQueue(vhost, row["name"], messages, consumers, b.source, lineno, excerpt))


# -- Erlang terms (≤ 3.7) -------------------------------------------------------------------------------
def _balanced(content: str, start: int) -> str | None:
    """The bracketed term opening at `start` (`[` or `{`), or None when it is not closed."""
    pairs = {"[": "]", "{": "}"}
    if start >= len(content) or content[start] not in pairs:
        return None
    depth = 0
    in_string = False
    for i in range(start, min(len(content), start + 4 * 1024 * 1024)):
        c = content[i]
        if in_string:
            if c == "\\":
                continue
            if c == '"':
                in_string = False
            continue
        if c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return content[start : i + 1]
    return None


def _term(content: str, key: str) -> tuple[str, int] | None:
    """The value of `{key,VALUE}` and the line it starts on."""
    m = re.search(r"\{" + re.escape(key) + r",\s*", content)
    if m is None:
        return None
    line = content.count("\n", 0, m.start()) + 1
    value = _balanced(content, m.end())
    if value is not None:
        return value, line
    tail = re.match(r"[^,}\]]+", content[m.end():])
    return (tail.group(0).strip(), line) if tail else None


def _excerpt_at(content: str, line: int) -> str:
    lines = content.splitlines()
    return _clip(lines[line - 1]) if 0 < line <= len(lines) else ""


def _number(term: str) -> float | None:
    try:
        return float(term)
    except ValueError:
        return None


def _parse_erlang(text: Text, b: _Builder) -> None:
    content = _ANSI.sub("", text.content)
    src = text.source
    found = _term(content, "alarms")
    if found:
        value, line = found
        b.alarms_seen = True
        # Local form `[memory]`, cluster form `[{rabbit@a,[memory]},...]` or `{{resource_limit,disk,N},[]}`.
        for m in re.finditer(r"\{'?([\w.-]+@[\w.-]+)'?,\[([^\]]*)\]\}", value):
            for res in re.findall(r"memory|disk|file_descriptor_limit", m.group(2)):
                b.alarm(_resource(res), m.group(1), line, _excerpt_at(content, line))
        for m in re.finditer(r"resource_limit,\s*(memory|disk),\s*'?([\w.-]+@[\w.-]+)", value):
            b.alarm(m.group(1), m.group(2), line, _excerpt_at(content, line))
        bare = re.sub(r"\{[^{}]*\}", "", value)
        for res in re.findall(r"\b(memory|disk|file_descriptor_limit)\b", bare):
            b.alarm(_resource(res), b.node, line, _excerpt_at(content, line))
    found = _term(content, "partitions")
    if found:
        value, line = found
        b.partitions_seen = True
        if value.strip() not in ("[]", ""):
            b.partitions.append(Reading(1.0, src, line, _clip(f"{{partitions,{value}}}")))
    found = _term(content, "nodes")
    if found:
        value, _line = found
        b.cluster_seen = True
        for kind, target in (("disc", b.disk), ("ram", b.ram)):
            sub = re.search(r"\{" + kind + r",(\[[^\]]*\])\}", value)
            if sub:
                target.extend(_ERLANG_NODE.findall(sub.group(1)))
    found = _term(content, "running_nodes")
    if found:
        b.cluster_seen = True
        b.running.extend(_ERLANG_NODE.findall(found[0]))
    found = _term(content, "vm_memory_limit")
    if found and _number(found[0]) is not None:
        b.reading("memory_limit", float(found[0]), found[1], _excerpt_at(content, found[1]))
    found = _term(content, "memory")
    if found:
        value, line = found
        total = re.search(r"\{total,\s*(\d+)\}", value)
        if total is None:
            nested = re.search(r"\{total,\s*\[([^\]]*)\]\}", value)
            if nested:
                parts = dict(re.findall(r"\{(\w+),\s*(\d+)\}", nested.group(1)))
                pick = parts.get("rss") or parts.get("allocated") or parts.get("erlang")
                total = re.match(r"(\d+)", pick) if pick else None
        if total:
            b.reading("memory_used", float(total.group(1)), line, _excerpt_at(content, line))
    found = _term(content, "file_descriptors")
    if found:
        value, line = found
        for key, name in (("total_used", "fd_used"), ("total_limit", "fd_limit"),
                          ("sockets_used", "sockets_used"), ("sockets_limit", "sockets_limit")):
            fd = re.search(r"\{" + key + r",\s*(\d+)\}", value)
            if fd:
                b.reading(name, float(fd.group(1)), line, _excerpt_at(content, line))
    for key, name in (("disk_free", "disk_free"), ("disk_free_limit", "disk_free_limit")):
        found = _term(content, key)
        if found and _number(found[0]) is not None:
            b.reading(name, float(found[0]), found[1], _excerpt_at(content, found[1]))
    old = _OLD_VERSION.search(content)
    if old:
        b.version = b.version or old.group("v")


def _resource(name: str) -> str:
    return "file_descriptor" if name.startswith("file_descriptor") else name


# -- JSON ------------------------------------------------------------------------------------------------
def _parse_json(text: Text, data: dict[str, Any], b: _Builder) -> None:
    src = text.source

    def put(key: str, value: Any, label: str) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            b.reading(key, float(value), 1, f"{label}: {value}")

    if isinstance(data.get("rabbitmq_version"), str):
        b.version = data["rabbitmq_version"]
    if isinstance(data.get("node_name"), str):
        b.node = b.node or data["node_name"]
    if "alarms" in data:
        b.alarms_seen = True
        alarms = data["alarms"] if isinstance(data["alarms"], list) else []
        for alarm in alarms:
            blob = json.dumps(alarm)
            for res in re.findall(r"memory|disk|file_descriptor_limit", blob):
                node = re.search(r"[\w.-]+@[\w.-]+", blob)
                b.alarm(_resource(res), node.group(0) if node else b.node, 1, _clip(f"alarms: {blob}"))
    if "partitions" in data:
        b.partitions_seen = True
        parts = data["partitions"]
        if parts:
            b.partitions.append(Reading(1.0, src, 1, _clip(f"partitions: {json.dumps(parts)}")))
    for key, target in (("disk_nodes", b.disk), ("ram_nodes", b.ram), ("running_nodes", b.running)):
        if isinstance(data.get(key), list):
            b.cluster_seen = True
            target.extend(str(n) for n in data[key])
    put("memory_limit", data.get("vm_memory_limit"), "vm_memory_limit")
    memory = data.get("memory")
    if isinstance(memory, dict):
        total = memory.get("total")
        if isinstance(total, dict):
            total = total.get("rss", total.get("allocated", total.get("erlang")))
        put("memory_used", total, "memory.total")
    fds = data.get("file_descriptors")
    if isinstance(fds, dict):
        for key, name in (("total_used", "fd_used"), ("total_limit", "fd_limit"),
                          ("sockets_used", "sockets_used"), ("sockets_limit", "sockets_limit")):
            put(name, fds.get(key), f"file_descriptors.{key}")
    put("disk_free", data.get("disk_free"), "disk_free")
    put("disk_free_limit", data.get("disk_free_limit"), "disk_free_limit")


# -- entry points ----------------------------------------------------------------------------------------
def parse_rabbitmqctl(text: Text) -> RabbitStatus:
    b = _Builder(text.source)
    stripped = text.content.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict):
            _parse_json(text, data, b)
            return b.build()
    _parse_text(text, b)
    if "{alarms," in text.content or "{running_nodes," in text.content or "{vm_memory_limit," in text.content:
        _parse_erlang(text, b)
    status = b.build()
    if not status.understood and not status.queues_seen and stripped:
        if re.search(r"Error:|unable to perform an operation|nodedown", text.content[:4096]):
            raise ParseError(text.source, "rabbitmqctl failed: " + _clip(stripped.splitlines()[0]))
        raise ParseError(text.source, "no RabbitMQ status, cluster or queue information recognised")
    return status


def _merge(a: RabbitStatus, b: RabbitStatus) -> RabbitStatus:
    """Fill what `a` (status) lacks from `b` (cluster_status)."""
    changes: dict[str, Any] = {}
    for name in ("node", "version", "memory_used", "memory_limit", "fd_used", "fd_limit", "sockets_used",
                 "sockets_limit", "disk_free", "disk_free_limit"):
        if getattr(a, name) is None and getattr(b, name) is not None:
            changes[name] = getattr(b, name)
    changes["alarms"] = a.alarms + tuple(x for x in b.alarms if (x.resource, x.node) not in
                                         {(y.resource, y.node) for y in a.alarms})
    changes["alarms_seen"] = a.alarms_seen or b.alarms_seen
    changes["partitions"] = a.partitions + b.partitions
    changes["partitions_seen"] = a.partitions_seen or b.partitions_seen
    if b.cluster_seen and not a.cluster_seen:
        changes.update(disk_nodes=b.disk_nodes, ram_nodes=b.ram_nodes, running_nodes=b.running_nodes,
                       cluster_seen=True)
    return replace(a, **changes)


def load_rabbitmq(view: HostView) -> RabbitStatus:
    report = view.command("rabbitmqctl report")
    if report is not None and report.content.strip():
        return parse_rabbitmqctl(report)
    parts = [t for t in (view.command("rabbitmqctl status"), view.command("rabbitmqctl cluster_status"))
             if t is not None and t.content.strip()]
    if not parts:
        raise MissingEvidence("sos_commands/rabbitmq/rabbitmqctl_report (cmd: rabbitmqctl report / status)")
    status = parse_rabbitmqctl(parts[0])
    for extra in parts[1:]:
        status = _merge(status, parse_rabbitmqctl(extra))
    return status


def summary(facts: Facts) -> dict[str, Any]:
    try:
        status = facts.get(load_rabbitmq)
    except (MissingEvidence, ParseError):
        return {}
    out: dict[str, Any] = {"rabbitmq": {
        "node": status.node, "version": status.version, "alarms": [a.resource for a in status.alarms],
        "partitions": len(status.partitions), "running_nodes": list(status.running_nodes),
        "members": list(status.members),
    }}
    ratio = status.memory_ratio
    if ratio is not None:
        out["metrics"] = {"rabbitmq_memory_ratio": round(ratio, 4)}
    return out


FUZZ_TARGETS = [parse_rabbitmqctl]
