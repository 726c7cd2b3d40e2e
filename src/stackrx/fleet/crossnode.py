"""Cross-node evaluation: the fleet as a host view, the helpers fleet checks share, and their runner.

A fleet check is a normal `@check` function whose `ctx.view` is a `FleetView`. It reads only the hosts'
`facts["fleet"]` blocks (so a fleet built over SSH, from sosreports or from per-node JSON results is judged
by the same code) and reports each finding on the host it concerns (`report_on`), so baselines and mutes
keep working per host.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from stackrx.engine import CheckContext, RegisteredCheck, ScanOptions, execute, redact_result
from stackrx.errors import NotApplicable
from stackrx.facts import Facts
from stackrx.models import Evidence, HostSummary, Result, Severity
from stackrx.sources.base import NoFilesView

FLEET_HOST = "fleet"
"""Host name of results about the fleet as a whole (a check that passed, or could not run)."""
SKEW_LIMIT_S = 300.0
"""Catalogue §3.7: split-brain verdicts need inputs collected within five minutes of each other."""

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Node:
    """One host of the fleet as the cross-node checks see it."""

    name: str
    facts: dict[str, Any]

    def section(self, name: str) -> Any:
        return self.facts.get(name)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.facts.get("roles") or ())

    @property
    def collected_at(self) -> datetime | None:
        raw = (self.facts.get("identity") or {}).get("collected_at")
        try:
            return datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            return None


class FleetView(NoFilesView):
    """The fleet as one target: no files or commands of its own, only the nodes' fleet facts."""

    kind = "fleet"

    def __init__(self, hosts: list[HostSummary], missing: Iterable[str] = ()) -> None:
        super().__init__("fleet")
        self.nodes = [Node(h.name, h.facts["fleet"]) for h in hosts if isinstance(h.facts.get("fleet"), dict)]
        self.without_facts = [h.name for h in hosts if not isinstance(h.facts.get("fleet"), dict)]
        self.missing = sorted(missing)
        """Hosts of the run that could not be collected: a verdict of absence may concern them."""

    def hostname(self) -> str:
        return FLEET_HOST

    def with_section(self, name: str) -> list[tuple[Node, Any]]:
        return [(n, n.facts[name]) for n in self.nodes if n.facts.get(name)]


def fleet_of(ctx: CheckContext) -> FleetView:
    if not isinstance(ctx.view, FleetView):
        raise NotApplicable("a cross-node check: run it with `stackrx fleet`")
    return ctx.view


def report_on(ctx: CheckContext, host: str, severity: Severity, message: str, *, resource: str = "",
              evidence: Iterable[Evidence | dict[str, Any] | None] = ()) -> None:
    """ctx.report for one host of the fleet (fail for high/critical, warn for medium/low, pass for info)."""
    child = CheckContext(ctx.view, ctx.facts, ctx.meta, ctx.options, host, ctx.outcomes)
    child.report(severity, message, resource=resource, evidence=evidence_list(evidence))


def evidence_list(items: Iterable[Evidence | dict[str, Any] | None]) -> list[Evidence]:
    out: list[Evidence] = []
    for item in items:
        if isinstance(item, Evidence):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("source"), str):
            out.append(Evidence.model_validate({k: item.get(k) for k in ("source", "line", "excerpt")
                                                if item.get(k) is not None}))
    return out


def skew_s(nodes: Iterable[Node]) -> float | None:
    """Seconds between the first and the last collection among these nodes (None when any time is unknown)."""
    times = [n.collected_at for n in nodes]
    if not times or any(t is None for t in times):
        return None
    known = [t for t in times if t is not None]
    return (max(known) - min(known)).total_seconds()


def skew_text(nodes: Iterable[Node]) -> str:
    value = skew_s(nodes)
    return "collection times unknown" if value is None else f"collected within {value:.0f} s"


def majority(values: dict[str, K]) -> K | None:
    """The value most hosts have; None when the top two are tied (then nobody is "the odd one out")."""
    counts = Counter(values.values()).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def outliers(values: dict[str, K]) -> list[str]:
    """Hosts whose value differs from the majority (every host when there is no majority)."""
    if len(set(values.values())) < 2:
        return []
    top = majority(values)
    return sorted(h for h, v in values.items() if top is None or v != top)


def hosts_text(names: Iterable[str], limit: int = 6) -> str:
    items = sorted(set(names))
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def run_fleet_check(reg: RegisteredCheck, view: FleetView, options: ScanOptions) -> list[Result]:
    """engine.execute for the fleet view (whose kind the node-scan mode filter does not know)."""
    return [redact_result(r) for r in execute(reg, CheckContext(view, Facts(view), reg.meta, options, FLEET_HOST))]


def run_fleet_checks(view: FleetView, checks: list[RegisteredCheck], options: ScanOptions,
                     on_done: Callable[[str], None] | None = None) -> list[Result]:
    results: list[Result] = []
    for reg in checks:
        results.extend(run_fleet_check(reg, view, options))
        if on_done is not None:
            on_done(reg.meta.id)
    return results
