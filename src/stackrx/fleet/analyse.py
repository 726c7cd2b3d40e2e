"""Per-node work that runs in worker processes: scan one tree (or this host), or load one JSON result.

Every input ends as `NodeOutcome(summary, results)`. Trees saved by the SSH collector are read with
`SosReportView`, exactly like any sosreport; their `stackrx-collect.json` only adds the target name and, for
a collection that did not finish, an error result saying so.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from stackrx.engine import RegisteredCheck, ScanOptions, load_all_checks, select_checks
from stackrx.errors import UsageError
from stackrx.fleet.evidence import COLLECT_META
from stackrx.models import HostSummary, Result, ScanReport, Severity, Status
from stackrx.redact import redact
from stackrx.runner import NODE_MODES, scan_view
from stackrx.sources import open_target
from stackrx.sources.base import HostView
from stackrx.sources.sosreport import SosReportView, looks_like_sosreport

HOST_CHECK = "FLEET-HOST"
"""Check id of a host's own status in a fleet run (could not be collected, collected in part, given twice)."""
HOST_TITLE = "Host collection"


@dataclass
class NodeOutcome:
    summary: HostSummary
    results: list[Result]
    source: str
    seconds: float = 0.0
    collected: bool = True
    """False when there is no evidence of this host at all (unreachable, refused, unreadable)."""


@dataclass(frozen=True)
class WorkerConfig:
    only: tuple[str, ...]
    skip: tuple[str, ...]
    log_window_days: int
    debug: bool


_STATE: dict[str, Any] = {}


def node_checks(only: tuple[str, ...], skip: tuple[str, ...]) -> list[RegisteredCheck]:
    registry = {cid: reg for cid, reg in load_all_checks().items() if NODE_MODES & set(reg.meta.modes)}
    return select_checks(registry, only, skip)


def init_worker(config: WorkerConfig) -> None:
    """Pool initializer: the run's check selection, loaded once per process; Ctrl-C is the parent's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STATE["checks"] = node_checks(config.only, config.skip)
    _STATE["options"] = ScanOptions(log_window=timedelta(days=config.log_window_days), debug=config.debug)


def ready() -> bool:
    """A no-op task: submitting it starts the pool's workers."""
    return True


def host_status(name: str, message: str, *, status: Status = Status.error,
                severity: Severity = Severity.high) -> Result:
    return Result(check_id=HOST_CHECK, title=HOST_TITLE, severity=severity, status=status, host=name,
                  message=redact(message), area="fleet")


def unreachable(name: str, target: str, message: str, source: str, seconds: float = 0.0) -> NodeOutcome:
    summary = HostSummary(name=name, kind="ssh" if target.startswith("ssh://") else "unknown",
                          target=redact(target))
    return NodeOutcome(summary, [host_status(name, message)], source, seconds, collected=False)


def _meta(root: Path) -> dict[str, Any] | None:
    path = root / COLLECT_META
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(errors="replace"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _scan(view: HostView, source: str, started: float) -> NodeOutcome:
    checks: list[RegisteredCheck] = _STATE["checks"]
    options: ScanOptions = _STATE["options"]
    try:
        summary, results = scan_view(view, checks, options)
    finally:
        view.close()
    return NodeOutcome(summary, results, source, time.monotonic() - started)


def analyse_tree(path: str) -> NodeOutcome:
    """One node directory or tarball; a tree saved by `--save` reports how its collection ended."""
    started = time.monotonic()
    root = Path(path)
    meta = _meta(root) if root.is_dir() else None
    if meta is not None:
        name = str(meta.get("inventory_name") or root.name)
        target = str(meta.get("target") or root)
        if meta.get("status") == "failed":
            return unreachable(name, target, str(meta.get("error") or "collection failed"), path)
        outcome = _scan(SosReportView(root, target=target), path, started)
        if meta.get("status") != "complete":
            outcome.results.append(host_status(
                outcome.summary.name,
                f"collection {meta.get('status')}: {meta.get('error') or 'unknown reason'}; checks ran on what "
                f"was collected ({meta.get('files', 0)} files, {len(meta.get('commands') or [])} commands)"))
        return outcome
    try:
        view = SosReportView(root) if root.is_dir() and looks_like_sosreport(root) else open_target(path)
    except UsageError as exc:
        return unreachable(root.name, path, str(exc), path)
    return _scan(view, path, started)


def analyse_live() -> NodeOutcome:
    """This host (an inventory entry with ansible_connection=local)."""
    from stackrx.sources.live import LiveView

    return _scan(LiveView(), "local", time.monotonic())


def load_report(path: str, fleet_ids: frozenset[str]) -> list[NodeOutcome]:
    """A stored `stackrx scan --format json` (or an earlier fleet run): its hosts and their node results.

    Cross-node results of an earlier fleet run are dropped: they are computed again over this run's hosts.
    """
    started = time.monotonic()
    try:
        report = ScanReport.model_validate_json(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        return [unreachable(Path(path).stem, path, f"not a stackrx JSON report: {reason}", path)]
    by_host: dict[str, list[Result]] = {h.name: [] for h in report.hosts}
    for r in report.results:
        if r.check_id not in fleet_ids and r.host in by_host:
            by_host[r.host].append(r)
    elapsed = time.monotonic() - started
    return [NodeOutcome(h, by_host[h.name], path, elapsed / max(len(report.hosts), 1)) for h in report.hosts]
