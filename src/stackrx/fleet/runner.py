"""`stackrx fleet`: targets → per-node outcomes (collected over SSH, read from trees or JSON) → cross-node checks.

Concurrency: SSH collection is asynchronous, `parallel` hosts at a time, in this process; the per-node checks
are CPU-bound and run in a process pool (`workers`, default one per core) fed as soon as a host's evidence
is on disk, so collecting and checking overlap. The pool's processes are forked before the first SSH
connection opens, so no worker ever holds an SSH socket.

Ctrl-C cancels what is still running; hosts already collected are still checked and reported, the others
are reported as interrupted, and every tree saved so far stays on disk.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import signal
import tempfile
from collections import defaultdict
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from stackrx import __version__
from stackrx.checks.fleet import fleet_checks
from stackrx.engine import ScanOptions, load_all_checks, select_checks
from stackrx.errors import UsageError
from stackrx.fleet.analyse import (
    NodeOutcome,
    WorkerConfig,
    analyse_live,
    analyse_tree,
    host_status,
    init_worker,
    load_report,
    node_checks,
    ready,
    unreachable,
)
from stackrx.fleet.collect import CollectOptions, collect_host
from stackrx.fleet.crossnode import FleetView, run_fleet_checks
from stackrx.fleet.progress import Tracker
from stackrx.fleet.targets import Plan, SshHost, resolve
from stackrx.models import ScanReport, Severity, Status
from stackrx.redact import redact
from stackrx.sources import TARBALL_SUFFIXES

T = TypeVar("T")


@dataclass(frozen=True)
class FleetOptions:
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    limit: tuple[str, ...] = ()
    log_window_days: int = 7
    debug: bool = False
    workers: int = 0
    """Processes for per-node checks; 0 = one per CPU."""
    parallel: int = 16
    """Hosts collected over SSH at the same time."""
    save: Path | None = None
    """Keep each SSH host's evidence under save/<host>/ (else a temporary directory, removed at the end)."""
    collect: CollectOptions = field(default_factory=CollectOptions)


@dataclass
class FleetRun:
    report: ScanReport
    interrupted: bool = False
    uncollected: list[str] = field(default_factory=list)


def dir_names(hosts: list[SshHost]) -> dict[str, str]:
    """A distinct, filesystem-safe directory name per inventory name (`web/1` and `web_1` both stay apart)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for host in hosts:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", host.name).strip(".") or "host"
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        out[host.name] = name
    return out


def _label(outcome: NodeOutcome) -> str:
    name = Path(outcome.source).name
    for suffix in (*TARBALL_SUFFIXES, ".json"):
        name = name.removesuffix(suffix)
    return name or outcome.summary.target


def _same_node(a: NodeOutcome, b: NodeOutcome) -> bool:
    ids = [((o.summary.facts.get("fleet") or {}).get("identity") or {}).get("addresses") for o in (a, b)]
    return bool(ids[0]) and ids[0] == ids[1]


def settle_names(outcomes: list[NodeOutcome]) -> list[NodeOutcome]:
    """Host names unique in the report: one node given twice is kept once (with a note), different nodes that
    share a hostname (clones) are told apart by their source (`compute-1@inventory-name`)."""
    by_name: dict[str, list[NodeOutcome]] = defaultdict(list)
    for o in outcomes:
        by_name[o.summary.name].append(o)
    out: list[NodeOutcome] = []
    for name, group in by_name.items():
        kept: list[NodeOutcome] = []
        for o in group:
            twin = next((k for k in kept if _same_node(k, o)), None)
            if twin is None:
                kept.append(o)
                continue
            twin.results.append(host_status(name, f"also given as {o.summary.target}: the same node (same hostname "
                                                  "and addresses), counted once", status=Status.warn,
                                            severity=Severity.low))
        if len(kept) > 1:
            for o in kept:
                new = f"{name}@{_label(o)}"
                o.summary = o.summary.model_copy(update={"name": new})
                o.results = [r.model_copy(update={"host": new}) if r.host == name else r for r in o.results]
        out.extend(kept)
    return sorted(out, key=lambda o: o.summary.name)


def _pool(options: FleetOptions) -> ProcessPoolExecutor:
    """Worker processes forked now, before any SSH connection exists, so none inherits a socket.

    With the fork start method ProcessPoolExecutor starts every worker on the first submission; the
    workers inherit the checks already imported here, so they are ready at once.
    """
    config = WorkerConfig(options.only, options.skip, options.log_window_days, options.debug)
    pool = ProcessPoolExecutor(max_workers=options.workers or os.cpu_count() or 2,
                               mp_context=multiprocessing.get_context("fork"), initializer=init_worker,
                               initargs=(config,))
    pool.submit(ready).result()
    return pool


def run_fleet(targets: list[str], options: FleetOptions, tracker: Tracker | None = None) -> FleetRun:
    tracker = tracker or Tracker()
    plan = resolve(targets, options.limit)
    load_all_checks()
    cross = select_checks(fleet_checks(), options.only, options.skip)
    if not cross and not node_checks(options.only, options.skip):
        raise UsageError("--only/--skip leave no check to run")
    tracker.total = len(plan)
    fleet_ids = frozenset(fleet_checks())
    with ExitStack() as stack:
        save = options.save
        if save is None and plan.ssh:
            save = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stackrx-fleet-")))
        pool = stack.enter_context(_pool(options))
        tracker.phase = "collecting and checking"
        outcomes, interrupted = asyncio.run(_gather(plan, options, pool, tracker, save, fleet_ids))
        if interrupted:
            pool.shutdown(wait=True, cancel_futures=True)
    outcomes = settle_names(outcomes)
    missing = [o.summary.name for o in outcomes if not o.collected]
    view = FleetView([o.summary for o in outcomes if o.collected], missing)
    tracker.phase = "cross-node checks"
    results = [r for o in outcomes for r in o.results]
    results += run_fleet_checks(view, cross, ScanOptions(log_window=timedelta(days=options.log_window_days),
                                                         debug=options.debug))
    report = ScanReport(version=__version__, target=redact(", ".join(targets)),
                        hosts=[o.summary for o in outcomes], results=results)
    return FleetRun(report, interrupted, missing)


async def _gather(plan: Plan, options: FleetOptions, pool: ProcessPoolExecutor, tracker: Tracker,
                  save: Path | None, fleet_ids: frozenset[str]) -> tuple[list[NodeOutcome], bool]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(max(1, options.parallel))
    names = dir_names(plan.ssh)

    async def in_pool(fn: Callable[..., T], *args: Any) -> T:
        return await loop.run_in_executor(pool, fn, *args)

    async def counted(job: Awaitable[list[NodeOutcome]]) -> list[NodeOutcome]:
        result = await job
        tracker.done()
        return result

    async def one_tree(path: Path) -> list[NodeOutcome]:
        return [await in_pool(analyse_tree, str(path))]

    async def one_host(host: SshHost) -> list[NodeOutcome]:
        if host.error:
            return [unreachable(host.name, host.target, host.error, host.target)]
        if host.connection == "local":
            return [await in_pool(analyse_live)]
        assert save is not None
        async with gate:
            tracker.start(host.name)
            got = await collect_host(host, save / names[host.name], options.collect)
            tracker.finish(host.name, got.status != "failed")
        if got.status == "failed":
            return [unreachable(host.name, host.target, got.error or "collection failed", host.target, got.seconds)]
        return [await in_pool(analyse_tree, str(got.root))]

    jobs: list[tuple[asyncio.Future[list[NodeOutcome]], str, str]] = []
    for path in plan.trees:
        jobs.append((asyncio.ensure_future(counted(one_tree(path))), path.name, str(path)))
    for path in plan.reports:
        jobs.append((asyncio.ensure_future(counted(in_pool(load_report, str(path), fleet_ids))), path.stem,
                     str(path)))
    for host in plan.ssh:
        jobs.append((asyncio.ensure_future(counted(one_host(host))), host.name, host.target))

    interrupted = False

    def on_interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        tracker.phase = "interrupted: finishing"
        for job, _name, _target in jobs:
            job.cancel()
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once

    # Outside the main thread (embedded use) there is no handler: Ctrl-C then raises as usual.
    with suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    try:
        done = await asyncio.gather(*(job for job, _n, _t in jobs), return_exceptions=True)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    outcomes: list[NodeOutcome] = []
    for (_job, name, target), result in zip(jobs, done, strict=True):
        if isinstance(result, asyncio.CancelledError):
            kept = f"; what was collected is in {save / names[name]}" if save and name in names and \
                options.save is not None else ""
            outcomes.append(unreachable(name, target, f"interrupted before this host was done{kept}", target))
        elif isinstance(result, BaseException):
            outcomes.append(unreachable(name, target, f"stackrx failed on this host: {type(result).__name__}: "
                                                      f"{result}", target))
        else:
            outcomes.extend(result)
    return outcomes, interrupted
