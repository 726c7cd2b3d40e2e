"""Check registry and runner.

A check is a function `(ctx: CheckContext) -> None` registered with `@check(CheckMeta(...))`. It reads
facts through `ctx.facts.get(loader)` and reports with `ctx.fail / warn / ok`. Missing evidence raised by a
loader makes the result `skipped` with what was looked for; a parse problem makes it `error` naming the file;
any other exception makes it `error` too, and every other check still runs.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stackrx.errors import MissingEvidence, NotApplicable, ParseError
from stackrx.facts import Facts
from stackrx.models import CheckMeta, Evidence, Result, Severity, Status
from stackrx.redact import redact
from stackrx.sources.base import HostView

CheckFn = Callable[["CheckContext"], None]


@dataclass(frozen=True)
class RegisteredCheck:
    meta: CheckMeta
    fn: CheckFn


REGISTRY: dict[str, RegisteredCheck] = {}


def check(meta: CheckMeta) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if meta.id in REGISTRY and REGISTRY[meta.id].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"check id {meta.id} registered twice")
        REGISTRY[meta.id] = RegisteredCheck(meta, fn)
        return fn

    return register


def load_all_checks() -> dict[str, RegisteredCheck]:
    import stackrx.checks as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")
    return REGISTRY


def source_of(fn: CheckFn) -> str:
    """Where a check function lives, as a path to open: `src/stackrx/checks/net.py::conntrack_saturation`."""
    return f"src/{fn.__module__.replace('.', '/')}.py::{fn.__qualname__}"


def check_sources() -> dict[str, list[str]]:
    """Every implementation of each check id: the registered one, and the cross-node half of a shared id."""
    from stackrx.checks.fleet import fleet_checks

    out = {cid: [source_of(reg.fn)] for cid, reg in load_all_checks().items()}
    for cid, reg in fleet_checks().items():
        where = source_of(reg.fn)
        if where not in out.setdefault(cid, []):
            out[cid].append(where)
    return out


@dataclass
class ScanOptions:
    log_window: timedelta = timedelta(days=7)
    debug: bool = False


@dataclass
class CheckContext:
    view: HostView
    facts: Facts
    meta: CheckMeta
    options: ScanOptions
    host: str
    outcomes: list[Result] = field(default_factory=list)

    def collected_at(self) -> datetime | None:
        return self.view.collected_at()

    def _add(
        self,
        status: Status,
        message: str,
        severity: Severity | None,
        resource: str,
        evidence: Iterable[Evidence],
    ) -> None:
        self.outcomes.append(
            Result(
                check_id=self.meta.id,
                title=self.meta.title,
                severity=severity or self.meta.severity,
                status=status,
                host=self.host,
                message=message,
                resource=resource,
                evidence=list(evidence),
                remediation=self.meta.remediation if status in (Status.fail, Status.warn) else [],
                area=self.meta.area,
            )
        )

    def fail(self, message: str, *, severity: Severity | None = None, resource: str = "",
             evidence: Iterable[Evidence] = ()) -> None:
        self._add(Status.fail, message, severity, resource, evidence)

    def warn(self, message: str, *, severity: Severity | None = None, resource: str = "",
             evidence: Iterable[Evidence] = ()) -> None:
        self._add(Status.warn, message, severity, resource, evidence)

    def ok(self, message: str, *, resource: str = "", evidence: Iterable[Evidence] = ()) -> None:
        self._add(Status.passed, message, Severity.info, resource, evidence)

    def report(self, severity: Severity, message: str, *, resource: str = "",
               evidence: Iterable[Evidence] = ()) -> None:
        """fail for high/critical, warn for medium/low, pass for info (context only)."""
        if severity.rank >= Severity.high.rank:
            self.fail(message, severity=severity, resource=resource, evidence=evidence)
        elif severity.rank >= Severity.low.rank:
            self.warn(message, severity=severity, resource=resource, evidence=evidence)
        else:
            self.ok(message, resource=resource, evidence=evidence)


def _mode_of(view: HostView) -> str:
    return "live" if view.kind == "live" else "snap"


# Turns an exception that a kind of source raises (API, database) into a result message and its evidence.
ErrorDescriber = Callable[[Exception], tuple[str, list[Evidence]] | None]


def execute(reg: RegisteredCheck, ctx: CheckContext, describe: ErrorDescriber | None = None) -> list[Result]:
    """Run one check: what it reported, or one result saying why it could not (skipped, error) or that it passed.

    Every kind of run (node, fleet, cloud API, database) goes through here, so a check behaves the same way
    whatever it reads."""

    def single(status: Status, message: str, evidence: list[Evidence] | None = None) -> list[Result]:
        return [Result(check_id=reg.meta.id, title=reg.meta.title, severity=reg.meta.severity, status=status,
                       host=ctx.host, message=message, evidence=evidence or [], area=reg.meta.area)]

    try:
        reg.fn(ctx)
    except MissingEvidence as exc:
        return single(Status.skipped, f"input missing: {exc.what}")
    except NotApplicable as exc:
        return single(Status.skipped, f"not applicable: {exc.reason}")
    except ParseError as exc:
        return single(Status.error, f"could not parse {exc.source}: {exc.reason}", [Evidence(source=exc.source)])
    except Exception as exc:
        described = describe(exc) if describe is not None else None
        if described is not None:
            return single(Status.error, *described)
        detail = traceback.format_exc() if ctx.options.debug else f"{type(exc).__name__}: {exc}"
        return single(Status.error, f"check raised {detail}")
    if not ctx.outcomes:
        return single(Status.passed, "no problem found")
    return ctx.outcomes


def run_check(reg: RegisteredCheck, view: HostView, facts: Facts, options: ScanOptions) -> list[Result]:
    ctx = CheckContext(view, facts, reg.meta, options, view.hostname())
    if _mode_of(view) not in reg.meta.modes:
        return [Result(check_id=reg.meta.id, title=reg.meta.title, severity=reg.meta.severity,
                       status=Status.skipped, host=ctx.host, area=reg.meta.area,
                       message=f"not available on a {view.kind} target (modes: {', '.join(reg.meta.modes)})")]
    return execute(reg, ctx)


def select_checks(registry: dict[str, RegisteredCheck], only: Iterable[str] = (),
                  skip: Iterable[str] = ()) -> list[RegisteredCheck]:
    """`--only` / `--skip` take check ids (NET-001) or areas (net), case-insensitive."""
    only_set = {o.strip().lower() for o in only if o.strip()}
    skip_set = {s.strip().lower() for s in skip if s.strip()}
    chosen: list[RegisteredCheck] = []
    for cid in sorted(registry):
        reg = registry[cid]
        names = {cid.lower(), reg.meta.area.lower()}
        if only_set and not names & only_set:
            continue
        if names & skip_set:
            continue
        chosen.append(reg)
    return chosen


def scan_host(view: HostView, checks: list[RegisteredCheck], options: ScanOptions | None = None) -> list[Result]:
    options = options or ScanOptions()
    facts = Facts(view)
    results: list[Result] = []
    for reg in checks:
        results.extend(run_check(reg, view, facts, options))
    return [redact_result(r) for r in results]


def redact_result(result: Result) -> Result:
    return result.model_copy(update={
        "message": redact(result.message),
        "resource": redact(result.resource),
        "evidence": [e.model_copy(update={"excerpt": redact(e.excerpt), "source": redact(e.source)})
                     for e in result.evidence],
    })
