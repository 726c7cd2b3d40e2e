"""Scan orchestration: target(s) → host views → checks → one ScanReport."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from stackrx import __version__
from stackrx.engine import RegisteredCheck, ScanOptions, load_all_checks, redact_result, run_check, select_checks
from stackrx.errors import MissingEvidence, ParseError, UsageError
from stackrx.facts import Facts
from stackrx.models import HostSummary, Result, ScanReport
from stackrx.redact import redact, redact_tree
from stackrx.sources import open_target
from stackrx.sources.base import HostView

NODE_MODES = {"live", "snap"}  # fleet/api/db checks run from their own commands
SummaryFn = Callable[[Facts], dict[str, Any]]


def _summary_functions() -> list[tuple[str, SummaryFn]]:
    import stackrx.facts as pkg

    out: list[tuple[str, SummaryFn]] = []
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pkg.__name__}.{mod.name}")
        fn = getattr(module, "summary", None)
        if callable(fn):
            out.append((mod.name, fn))
    return out


def host_summary(view: HostView, facts: Facts) -> HostSummary:
    """Key facts the checks derived, kept in the report so runs can be merged across nodes later."""
    merged: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    for _name, fn in _summary_functions():
        try:
            part = dict(fn(facts))
        except (MissingEvidence, ParseError):
            continue
        metrics.update(part.pop("metrics", {}) or {})
        merged.update(part)
    when = view.collected_at()
    return HostSummary(name=view.hostname(), kind=view.kind, target=redact(view.target),
                       collected_at=when.isoformat() if when else None,
                       facts=cast(dict[str, Any], redact_tree(merged)), metrics=metrics)


def scan_view(view: HostView, checks: list[RegisteredCheck], options: ScanOptions) -> tuple[HostSummary, list[Result]]:
    facts = Facts(view)
    results: list[Result] = []
    for reg in checks:
        results.extend(redact_result(r) for r in run_check(reg, view, facts, options))
    return host_summary(view, facts), results


def run_scan(target: str | None, *, demo: bool = False, only: list[str] | None = None,
             skip: list[str] | None = None, log_window_days: int = 7, debug: bool = False,
             progress: bool = False) -> ScanReport:
    registry = {cid: reg for cid, reg in load_all_checks().items() if NODE_MODES & set(reg.meta.modes)}
    checks = select_checks(registry, only or (), skip or ())
    if not checks:
        raise UsageError(f"--only/--skip leave no check to run (known areas: "
                         f"{', '.join(sorted({r.meta.area for r in registry.values()}))})")
    options = ScanOptions(log_window=timedelta(days=log_window_days), debug=debug)
    if demo:
        from stackrx.demo.cloud import build_demo_cloud

        with tempfile.TemporaryDirectory(prefix="stackrx-demo-") as tmp:
            from stackrx.sources.sosreport import SosReportView

            views: list[HostView] = [SosReportView(p, target=f"demo:{p.name}") for p in build_demo_cloud(Path(tmp))]
            return _scan_views(views, checks, options, "demo cloud", progress)
    view = open_target(target)
    try:
        return _scan_views([view], checks, options, target or f"live:{view.hostname()}", progress)
    finally:
        view.close()


def _scan_views(views: list[HostView], checks: list[RegisteredCheck], options: ScanOptions, label: str,
                progress: bool) -> ScanReport:
    hosts: list[HostSummary] = []
    results: list[Result] = []
    for i, view in enumerate(views, 1):
        if progress:
            print(f"\rscanning {view.hostname()} ({i}/{len(views)})…", end="", file=sys.stderr, flush=True)
        summary, host_results = scan_view(view, checks, options)
        hosts.append(summary)
        results.extend(host_results)
    if progress:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    return ScanReport(version=__version__, target=redact(label), hosts=hosts, results=results)
