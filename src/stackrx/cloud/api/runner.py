"""`stackrx cloud`: one cloud (clouds.yaml entry or OS_* variables) → api checks → one ScanReport.

The cloud is one host of the report: name `cloud:<name>`, kind "api", target the (redacted) auth URL.
"""

from __future__ import annotations

from collections import Counter

from stackrx import __version__
from stackrx.checks.cloudapi import SHARED
from stackrx.cloud.api.facts import load_catalog
from stackrx.cloud.api.view import ApiError, CloudOptions, CloudView, connect
from stackrx.engine import (
    CheckContext,
    RegisteredCheck,
    ScanOptions,
    execute,
    load_all_checks,
    redact_result,
    select_checks,
)
from stackrx.errors import MissingEvidence, NotApplicable, ParseError, UsageError
from stackrx.facts import Facts
from stackrx.models import Evidence, HostSummary, Result, ScanReport, Status

API_MODE = "api"
# Metric name per check: how many of its findings (fail/warn) the run produced, for trends.
_METRICS = {
    "STO-001": "api_endpoints_not_served",
    "HA-F01": "api_ha_routers_not_single_active",
    "CLD-001": "api_neutron_agents_down",
    "CLD-002": "api_nova_services_down",
    "IMG-001": "api_images_needing_conversion",
    "IMG-002": "api_vmdk_images_questionable",
    "UPG-004": "api_service_users_missing",
}


def api_checks(only: list[str], skip: list[str]) -> list[RegisteredCheck]:
    registry = {cid: reg for cid, reg in load_all_checks().items() if API_MODE in reg.meta.modes}
    for meta, fn in SHARED:
        registry[meta.id] = RegisteredCheck(meta, fn)
    chosen = select_checks(registry, only, skip)
    if not chosen:
        raise UsageError(f"--only/--skip leave no cloud check to run (known: {', '.join(sorted(registry))})")
    return chosen


def _api_error(exc: Exception) -> tuple[str, list[Evidence]] | None:
    if isinstance(exc, ApiError):
        return f"API call failed: {exc.source}: {exc.reason}", [Evidence(source=exc.source, excerpt=exc.reason)]
    return None


def run_check_on(reg: RegisteredCheck, view: CloudView, facts: Facts, options: ScanOptions) -> list[Result]:
    """engine.execute for a cloud view (whose kind the node-scan mode filter does not know)."""
    return execute(reg, CheckContext(view, facts, reg.meta, options, view.hostname()), _api_error)


def cloud_summary(view: CloudView, facts: Facts, results: list[Result]) -> HostSummary:
    """Where the cloud was read from and what it offers, plus per-check finding counts as metrics."""
    info: dict[str, object] = {"cloud": view.name, "region": view.region(), "interface": view.interface()}
    try:
        catalog = facts.get(load_catalog)
    except (MissingEvidence, NotApplicable, ParseError, ApiError):
        pass
    else:
        info["services"] = sorted(catalog.types())
        info["endpoints"] = len(catalog.endpoints)
    ran = {r.check_id for r in results if r.status in (Status.fail, Status.warn, Status.passed)}
    found = Counter(r.check_id for r in results if r.status in (Status.fail, Status.warn))
    metrics = {name: float(found[cid]) for cid, name in _METRICS.items() if cid in ran}
    return HostSummary(name=view.hostname(), kind=view.kind, target=view.target,
                       collected_at=view.opened_at.isoformat(), facts={"cloud": info}, metrics=metrics)


def run_cloud(options: CloudOptions, *, only: list[str] | None = None, skip: list[str] | None = None,
              debug: bool = False) -> ScanReport:
    """Raises UsageError for bad --only/--skip, CloudError when the cloud cannot be reached or logged into."""
    checks = api_checks(only or [], skip or [])
    view = connect(options)
    try:
        facts = Facts(view)
        scan_options = ScanOptions(debug=debug)
        results: list[Result] = []
        for reg in checks:
            results.extend(redact_result(r) for r in run_check_on(reg, view, facts, scan_options))
        summary = cloud_summary(view, facts, results)
    finally:
        view.close()
    return ScanReport(version=__version__, target=view.hostname(), hosts=[summary], results=results)
