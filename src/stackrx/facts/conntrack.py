"""Conntrack statistics (`conntrack -S`): per-CPU counters of the netfilter connection tracker.

Public API:

    CpuStats(cpu: int | None, counters: dict[str, int], source: str, line: int, text: str)  .evidence()
    ConntrackStats(cpus: tuple[CpuStats, ...], source: str)
        .total(counter) -> int (sum over CPUs: `drop`, `early_drop`, `insert_failed`, ...),
        .first_with(counter) -> CpuStats | None (first CPU line where the counter is > 0, for evidence)
    parse_conntrack_stats(text) -> ConntrackStats
    load_conntrack_stats(view) -> ConntrackStats             # cmd `conntrack -S`
    load_netns_conntrack_stats(view, ns) -> ConntrackStats   # view.netns_command(ns, "conntrack -S")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text
from stackrx.sources.commands import mangle

_PAIR = re.compile(r"\b([a-z_]+)=(\d{1,19})\b")
_MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class CpuStats:
    cpu: int | None
    counters: dict[str, int]
    source: str
    line: int
    text: str

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.text)


@dataclass(frozen=True)
class ConntrackStats:
    cpus: tuple[CpuStats, ...]
    source: str

    def total(self, counter: str) -> int:
        return sum(c.counters.get(counter, 0) for c in self.cpus)

    def first_with(self, counter: str) -> CpuStats | None:
        return next((c for c in self.cpus if c.counters.get(counter, 0) > 0), None)


def parse_conntrack_stats(text: Text) -> ConntrackStats:
    """`cpu=0  found=0 invalid=6914 ... drop=0 early_drop=0 error=0 search_restart=9916` per CPU."""
    cpus: list[CpuStats] = []
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        pairs = _PAIR.findall(raw)
        if len(pairs) < 2:
            continue  # conntrack-tools banners and error notes
        counters = {k: int(v) for k, v in pairs}
        cpu = counters.pop("cpu", None)
        cpus.append(CpuStats(cpu, counters, text.source, lineno, " ".join(raw.split())[:240]))
    if not cpus and text.content.strip():
        raise ParseError(text.source, "no `counter=value` line found")
    return ConntrackStats(tuple(cpus), text.source)


def load_conntrack_stats(view: HostView) -> ConntrackStats:
    text = view.command("conntrack -S")
    if text is None:
        raise MissingEvidence("sos_commands/conntrack/conntrack_-S (cmd: conntrack -S)")
    return parse_conntrack_stats(text)


def load_netns_conntrack_stats(view: HostView, ns: str) -> ConntrackStats:
    text = view.netns_command(ns, "conntrack -S")
    if text is None:
        name = mangle(f"ip netns exec {ns} conntrack -S")
        raise MissingEvidence(f"sos_commands/conntrack/{name} (cmd: ip netns exec {ns} conntrack -S)")
    return parse_conntrack_stats(text)


FUZZ_TARGETS = [parse_conntrack_stats]
