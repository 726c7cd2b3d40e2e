"""Which checks have an automated plan. A check without one gets its catalogue remediation, print-only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stackrx.errors import UsageError
from stackrx.models import CheckMeta, HostSummary
from stackrx.remedy import net001
from stackrx.remedy.plan import Plan, metadata_plan


@dataclass(frozen=True)
class PlanRequest:
    check_id: str
    host: str
    root: Path | None  # read the state from this host tree ("/" live, or a test root)
    summary: HostSummary | None = None  # ...or from a stored report's view of the host
    report_name: str = ""


PlanBuilder = Callable[[PlanRequest], Plan]


def _net001(req: PlanRequest) -> Plan:
    if req.root is not None:
        return net001.build_plan(net001.state_from_root(req.root), req.host)
    if req.summary is None:
        raise UsageError("NET-001 needs the host's state: run on the host, or give --report with its scan")
    return net001.build_plan(net001.state_from_summary(req.summary, req.report_name), req.host)


PLANS: dict[str, PlanBuilder] = {"NET-001": _net001}


def plan_for(req: PlanRequest, meta: CheckMeta) -> Plan:
    builder = PLANS.get(req.check_id)
    return builder(req) if builder is not None else metadata_plan(meta, req.host)
