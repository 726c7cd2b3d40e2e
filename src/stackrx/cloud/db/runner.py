"""`stackrx db URL...`: servers → (cells found through cell_mappings) → db checks → one ScanReport.

Each server is a host of the report (name `host:port`, kind "db"). Members of one Galera component hold
the same rows, so the schema checks (DB-001, DB-005) run on one of them only; the agreement check (DB-F01)
runs once over all the URLs given.
"""

from __future__ import annotations

from typing import Any, cast

from stackrx import __version__
from stackrx.cloud.db.archive import CellPlan, load_archive_plans, plan_dict, steps_for
from stackrx.cloud.db.galera import GaleraStatus, load_galera, node_summary, read_status
from stackrx.cloud.db.inventory import load_inventory, quote
from stackrx.cloud.db.server import ClusterView, DbError, DbOptions, DbServer, DbView, parse_url, server_label
from stackrx.cloud.db.softdeleted import SchemaStats, load_soft_deleted
from stackrx.engine import (
    CheckContext,
    RegisteredCheck,
    ScanOptions,
    execute,
    load_all_checks,
    redact_result,
    select_checks,
)
from stackrx.errors import MissingEvidence, ParseError, UsageError
from stackrx.facts import Facts
from stackrx.models import Evidence, HostSummary, Result, ScanReport
from stackrx.redact import redact, redact_tree

DB_MODE = "db"


def db_checks(only: list[str], skip: list[str]) -> tuple[list[RegisteredCheck], list[RegisteredCheck]]:
    """(per-server checks, cross-member checks) selected by --only/--skip."""
    registry = {cid: reg for cid, reg in load_all_checks().items() if DB_MODE in reg.meta.modes}
    chosen = select_checks(registry, only, skip)
    if not chosen:
        raise UsageError(f"--only/--skip leave no database check to run (known: {', '.join(sorted(registry))})")
    return ([c for c in chosen if "fleet" not in c.meta.modes], [c for c in chosen if "fleet" in c.meta.modes])


def _db_error(exc: Exception) -> tuple[str, list[Evidence]] | None:
    if isinstance(exc, DbError):
        return (f"database error on {exc.server}: {exc.reason}",
                [Evidence(source=f"sql:{exc.server}", excerpt=exc.reason)])
    return None


def run_check_on(reg: RegisteredCheck, view: DbView | ClusterView, facts: Facts, options: ScanOptions) -> list[
        Result]:
    """engine.execute for a database view (whose kind the node-scan mode filter does not know)."""
    return execute(reg, CheckContext(view, facts, reg.meta, options, view.hostname()), _db_error)


def discover_cells(views: list[DbView], options: DbOptions) -> list[DbView]:
    """Name the cell schemas of every server given and add the servers of cells that live elsewhere."""
    found: list[DbView] = []
    by_label = {v.hostname(): v for v in views}
    for view in list(views):
        try:
            inv = load_inventory(view)
            mappings = [(api, row) for api in inv.nova_apis() for row in view.server.rows(
                f"SELECT name, database_connection FROM {quote(api)}.cell_mappings ORDER BY id")]
        except (DbError, MissingEvidence):
            continue
        for api, (name, connection) in mappings:
            cell = str(name or "")
            if not connection or "{" in str(connection):
                view.notes.append(f"cell {cell}: database_connection in {api}.cell_mappings is a template or "
                                  "empty; pass that cell's URL explicitly")
                continue
            try:
                parsed = parse_url(str(connection))
            except UsageError as exc:
                view.notes.append(f"cell {cell}: {exc}")
                continue
            target = by_label.get(server_label(parsed))
            if target is None:
                if not options.follow_cells:
                    view.notes.append(f"cell {cell} is on {server_label(parsed)} (not followed: --no-cells)")
                    continue
                target = DbView(DbServer(str(connection), options),
                                found_via=f"{view.hostname()} {api}.cell_mappings (cell {cell})")
                by_label[target.hostname()] = target
                found.append(target)
            if parsed.database:
                target.cell_names[parsed.database] = cell
    return found


def assign_galera_counters(views: list[DbView]) -> None:
    """Members of one Primary component hold the same rows: count them on one (a Synced one if any)."""
    groups: dict[tuple[str, int | None], list[tuple[DbView, GaleraStatus]]] = {}
    for view in views:
        try:
            st = read_status(view)
        except DbError:
            continue
        if st.is_galera and st.primary:
            groups.setdefault((st.state_uuid, st.conf_id), []).append((view, st))
    for members in groups.values():
        synced = [v for v, st in members if st.get("wsrep_local_state_comment") == "Synced"]
        counter = synced[0] if synced else members[0][0]
        for view, _st in members:
            if view is not counter:
                view.counted_on = counter.hostname()
                # Cell names learnt on any member apply to the one that counts.
                for schema, cell in view.cell_names.items():
                    counter.cell_names.setdefault(schema, cell)


def run_db(urls: list[str], options: DbOptions, *, only: list[str] | None = None, skip: list[str] | None = None,
           debug: bool = False) -> ScanReport:
    if not urls:
        raise UsageError("give at least one database URL, e.g. mysql+pymysql://stackrx:PASS@db1:3306/nova_api")
    per_server, cluster = db_checks(only or [], skip or [])
    servers: dict[str, DbView] = {}
    for url in urls:
        view = DbView(DbServer(url, options))
        servers.setdefault(view.hostname(), view)
    given = list(servers.values())
    views = given + discover_cells(given, options)
    assign_galera_counters(views)
    scan_options = ScanOptions(debug=debug)
    hosts: list[HostSummary] = []
    results: list[Result] = []
    try:
        for view in views:
            facts = Facts(view)
            for reg in per_server:
                results.extend(redact_result(r) for r in run_check_on(reg, view, facts, scan_options))
            hosts.append(summarize(view, facts, {r.meta.id for r in per_server}))
        if cluster and len(given) > 1:
            cview = ClusterView(given)
            cfacts = Facts(cview)
            for reg in cluster:
                results.extend(redact_result(r) for r in run_check_on(reg, cview, cfacts, scan_options))
            hosts.append(HostSummary(name=cview.hostname(), kind="db", target=redact(cview.target),
                                     collected_at=_iso(cview.collected_at()),
                                     facts={"members": [v.hostname() for v in given]}))
    finally:
        for view in views:
            view.close()
    return ScanReport(version=__version__, target=redact("db: " + ", ".join(v.target for v in given)), hosts=hosts,
                      results=results)


def _iso(when: Any) -> str | None:
    return when.isoformat() if when is not None else None


def summarize(view: DbView, facts: Facts, ran: set[str]) -> HostSummary:
    """Key facts for the report, from what the checks already computed (nothing is counted for it)."""
    srv = view.server
    out: dict[str, Any] = {"server_version": srv.version, "statement_limit": srv.timeout_mode}
    metrics: dict[str, float] = {}
    if view.found_via:
        out["found_via"] = view.found_via
    if view.cell_names:
        out["cells"] = dict(view.cell_names)
    if view.counted_on:
        out["counted_on"] = view.counted_on
    if view.notes:
        out["notes"] = list(view.notes)
    if ran & {"DB-003", "DB-005"}:
        st = _maybe(facts, load_galera)
        if isinstance(st, GaleraStatus):
            out["galera"] = node_summary(st)
            if st.size is not None:
                metrics["galera.cluster_size"] = float(st.size)
    if "DB-001" in ran:
        stats = _maybe(facts, load_soft_deleted)
        if isinstance(stats, list):
            out["soft_deleted"] = {s.schema: _stats_dict(s) for s in stats}
            for s in stats:
                metrics[f"db.{s.schema}.soft_deleted_rows"] = float(s.soft_deleted)
                metrics[f"db.{s.schema}.shadow_rows"] = float(s.shadow_rows)
                if s.oldest is not None:
                    metrics[f"db.{s.schema}.oldest_soft_deleted_days"] = float((s.now - s.oldest).days)
            if any(s.kind == "nova-cell" for s in stats):
                plans = _maybe(facts, load_archive_plans)
                if isinstance(plans, list):
                    cell_plans = [p for p in plans if isinstance(p, CellPlan)]
                    out["archive_plan"] = [plan_dict(p) for p in cell_plans]
                    out["archive_steps"] = [s.model_dump(mode="json") for s in steps_for(view, cell_plans)]
    return HostSummary(name=view.hostname(), kind="db", target=view.target, collected_at=_iso(view.collected_at()),
                       facts=cast(dict[str, Any], redact_tree(out)), metrics=metrics)


def _maybe(facts: Facts, loader: Any) -> object:
    try:
        return facts.maybe(loader)
    except (DbError, ParseError):
        return None


def _stats_dict(s: SchemaStats) -> dict[str, Any]:
    return {
        "kind": s.kind, "cell": s.cell, "release": s.release.label if s.release else None,
        "tables": {t.table.name: {"total": t.total, "soft_deleted": t.soft_deleted,
                                  "oldest_deleted_at": t.oldest.isoformat(sep=" ") if t.oldest else None,
                                  "method": t.measured.method} for t in s.tables if t.soft_deleted or t.total},
        "shadow": {m.table.split(".", 1)[1]: {"rows": m.rows, "method": m.method} for m in s.shadow if m.rows},
    }
