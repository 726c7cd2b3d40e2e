"""DHCP exchanges served by dnsmasq (neutron DHCP agent, nova-network), from its log lines.

Sources: whatever the log layer scans for the R-DNSMASQ signature (syslog/journal `dnsmasq-dhcp[pid]: ...`,
Kolla's `neutron/dnsmasq.log` written through `log-facility`), plus the per-network files neutron makes when
`[DEFAULT] dnsmasq_base_log_dir` is set in dhcp_agent.ini: `<dir>/<network_id>/dhcp_dns_log` (neutron
`agent/linux/dhcp.py` adds `--log-queries --log-dhcp --log-facility=<that file>`). dnsmasq prefixes file
log lines with a syslog-style `Mon dd hh:mm:ss` stamp, so one timestamp parser reads all of them.

Public API:

    DhcpEvent(type: str, iface: str, ip: str | None, mac: str, timestamp: datetime | None, source: str,
              line: int, excerpt: str)     # type: DISCOVER, OFFER, REQUEST, ACK, NAK
        .evidence()
    DhcpLog(events: tuple[DhcpEvent, ...], sources: tuple[str, ...], covered: bool)
        `covered`: a log where dnsmasq lines would land was scanned (absence of events means something)
    parse_dnsmasq_log(text) -> tuple[DhcpEvent, ...]   # one log text (tests, fuzz); stamps relative to now
    dhcp_agent_config(view) -> IniFile | None           # etc/neutron/dhcp_agent.ini (+ .d)
    load_dhcp_events(view, window_days=7) -> DhcpLog    # streamed; only in-window events
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from stackrx.facts.ini import IniFile, parse_ini
from stackrx.facts.logs import DEFAULT_WINDOW_DAYS, TimestampParser, boot_time, discover_logs, iter_hits
from stackrx.models import Cited
from stackrx.signatures.scanner import Signature, default_signatures
from stackrx.sources.base import HostView, Text

SIGNATURE = "R-DNSMASQ"
DHCP_AGENT_FILES = ("etc/neutron/dhcp_agent.ini",)
_MARKER = b"dnsmasq-dhcp"
_MAX_LINE = 64 * 1024
_EXCERPT = 300


@dataclass(frozen=True)
class DhcpEvent(Cited):
    type: str
    iface: str
    ip: str | None
    mac: str
    timestamp: datetime | None
    source: str
    line: int
    excerpt: str


@dataclass(frozen=True)
class DhcpLog:
    events: tuple[DhcpEvent, ...]
    sources: tuple[str, ...]
    covered: bool


def _signature() -> Signature:
    return next(s for s in default_signatures() if s.id == SIGNATURE)


def _events(lines: Iterable[tuple[int, bytes]], source: str, parser: TimestampParser,
            cutoff: datetime | None) -> Iterator[DhcpEvent]:
    pattern = _signature().compiled()
    for lineno, raw in lines:
        if _MARKER not in raw or len(raw) > _MAX_LINE:
            continue
        m = pattern.search(raw)
        if m is None:
            continue
        when = parser.parse(raw, precise=True)
        if cutoff is not None and when is not None and when < cutoff:
            continue
        groups = {k: v.decode("utf-8", "replace") for k, v in m.groupdict().items() if v is not None}
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        yield DhcpEvent(groups.get("type", ""), groups.get("iface", ""), groups.get("ip"),
                        groups.get("mac", "").lower(), when, source, lineno, text[:_EXCERPT])


def parse_dnsmasq_log(text: Text) -> tuple[DhcpEvent, ...]:
    lines = ((n, raw.encode("utf-8", "replace")) for n, raw in enumerate(text.content.splitlines(), 1))
    return tuple(_events(lines, text.source, TimestampParser(None), None))


def dhcp_agent_config(view: HostView) -> IniFile | None:
    texts: list[Text] = []
    for path in DHCP_AGENT_FILES:
        for candidate in (path, *view.glob(f"{path}.d/*.conf")):
            text = view.read_text(candidate)
            if text is not None:
                texts.append(text)
    return parse_ini(texts) if texts else None


def _base_log_files(view: HostView) -> list[str]:
    config = dhcp_agent_config(view)
    value = config.get("DEFAULT", "dnsmasq_base_log_dir") if config is not None else None
    if value is None or not value.value.strip():
        return []
    base = value.value.strip().lstrip("/")
    return [p for p in view.glob(posixpath.join(base, "*", "dhcp_dns_log*")) if not view.is_dir(p)]


def load_dhcp_events(view: HostView, window_days: int = DEFAULT_WINDOW_DAYS) -> DhcpLog:
    events = list(iter_hits_events(view, window_days))
    families = {f for log in discover_logs(view) for f in log.families}
    extra = _base_log_files(view)
    collected = view.collected_at()
    parser = TimestampParser(collected, boot_time(view, collected))
    cutoff = collected - timedelta(days=window_days) if collected is not None and window_days > 0 else None
    for path in extra:
        lines = ((n, raw.encode("utf-8", "replace")) for n, raw in enumerate(view.open_lines(path), 1))
        events.extend(_events(lines, view.source_name(path), parser, cutoff))
    sources = tuple(sorted({e.source for e in events} | set(extra)))
    covered = bool(extra) or _signature().applies_to(families)
    return DhcpLog(tuple(events), sources, covered)


def iter_hits_events(view: HostView, window_days: int) -> Iterator[DhcpEvent]:
    for hit in iter_hits(view, [SIGNATURE], window_days):
        g = hit.groups
        yield DhcpEvent(g.get("type", ""), g.get("iface", ""), g.get("ip"), g.get("mac", "").lower(),
                        hit.timestamp, hit.source, hit.line, hit.excerpt)


FUZZ_TARGETS = [parse_dnsmasq_log]
