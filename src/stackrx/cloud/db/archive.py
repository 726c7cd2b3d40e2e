"""The archive plan for DB-001: what `nova-manage db archive_deleted_rows --before DATE` will move, per table.

Prediction follows nova's own archive walk (nova/db/main/api.py, 23.0.0 Wallaby and later):
- every table that has a `shadow_<table>` twin (except `alembic_version` and the tables nova has dropped the
  models of) is processed; its *own* rows are those with `deleted <> 0 AND deleted_at < DATE` (`task_log`:
  `deleted <> 0` with no date, unless `--task-log`);
- with every such row nova also moves, recursively, the rows of other archivable tables that point at it
  through a foreign key, *whatever their own deleted state*: archiving an instance takes its
  instance_extra, system metadata, actions and their events along;
- for archived instances it deletes their `instance_mappings`, `request_specs` and `instance_group_member`
  rows in the API database.
So a table's moved rows = own rows ∪ rows referencing moved parent rows; the plan counts exactly that set
with one nested `IN (SELECT ...)` predicate per table. Before 23.0.0 nova instead moved rows of any table
with an `instance_uuid` column (except pci_devices) whose instance was deleted; the plan switches rule by
the release the schema shows. Releases before 20.0.0 (Train) have no `--before`: everything soft-deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from stackrx.cloud.db.counting import Counter, Measured, rows_in
from stackrx.cloud.db.inventory import SHADOW_PREFIX, Inventory, Table, db_view, load_inventory, quote, reachable
from stackrx.cloud.db.server import DbView
from stackrx.cloud.db.softdeleted import NovaRelease, load_soft_deleted
from stackrx.models import RemediationStep, StepKind

# Tables whose models nova removed (moved to the API DB in Newton, XenAPI, cells v1, nova-network, in-tree
# EC2, volume snapshots): archive_deleted_rows skips them even though their shadow tables still exist.
REMOVED_TABLES = frozenset({
    "aggregate_hosts", "aggregate_metadata", "aggregates", "allocations", "instance_group_member",
    "instance_group_policy", "instance_groups", "instance_type_extra_specs", "instance_type_projects",
    "instance_types", "inventories", "key_pairs", "resource_provider_aggregates", "resource_providers",
    "agent_builds", "bw_usage_cache", "console_pools", "consoles", "cells", "snapshots", "snapshot_id_mappings",
    "volume_id_mappings", "dns_domains", "fixed_ips", "floating_ips", "networks", "provider_fw_rules",
    "security_group_default_rules",
})
# `nova-manage db purge --before` compares these columns instead of deleted_at (rows never soft-deleted).
PURGE_COLUMN = {"shadow_instance_actions": "created_at", "shadow_instance_actions_events": "created_at",
                "shadow_task_log": "updated_at"}
API_CLEANUP = ("instance_mappings", "request_specs", "instance_group_member")
FK_WALK_SINCE = 23  # nova 23.0.0 (Wallaby): "Dynamically archive FK related records"
BEFORE_SINCE = 20  # --before and --all-cells
PURGE_SINCE = 18  # nova-manage db purge
UNTIL_COMPLETE_SINCE = 15
BATCH = 1000


def cutoff(now: datetime, older_than_days: int, before: date | None) -> datetime:
    """Midnight of the cut-off day, as `nova-manage --before YYYY-MM-DD` parses it."""
    day = before or (now - timedelta(days=older_than_days)).date()
    return datetime.combine(day, time())


@dataclass(frozen=True)
class TableMove:
    table: str
    moved: int | None  # rows archive_deleted_rows moves from this table
    own: int | None  # of which soft-deleted before the cut-off themselves
    purged: int | None  # of the moved rows, how many the purge with the same --before then deletes
    method: str


@dataclass(frozen=True)
class CellPlan:
    server: str
    schema: str
    cell: str
    before: datetime | None  # None: the release has no --before, everything soft-deleted moves
    rule: str
    moves: tuple[TableMove, ...]
    api_deletes: Mapping[str, int | None]
    shadow_purge: Mapping[str, int | None]  # rows already in shadow tables that the purge deletes
    blockers: tuple[str, ...]
    release: NovaRelease | None

    @property
    def total_moved(self) -> int:
        return sum(m.moved or 0 for m in self.moves)

    @property
    def exact(self) -> bool:
        return all(m.method == "exact" for m in self.moves)

    def key(self, table: str) -> str:
        """The row label nova-manage prints with --all-cells (`cell1.instances`)."""
        return f"{self.cell or self.schema}.{table}"


@dataclass
class _Walk:
    inv: Inventory
    schema: str
    before: datetime | None
    fk_walk: bool
    nodes: dict[str, Table] = field(default_factory=dict)
    _memo: dict[str, str] = field(default_factory=dict)

    def own(self, t: Table) -> str:
        if t.name == "task_log" or self.before is None:
            return "`deleted` <> 0"
        return f"`deleted` <> 0 AND `deleted_at` < '{self.before:%Y-%m-%d %H:%M:%S}'"

    def moved(self, t: Table, _path: tuple[str, ...] = ()) -> str:
        if t.name in self._memo:
            return self._memo[t.name]
        parts = [self.own(t)]
        if self.fk_walk:
            for fk in self.inv.foreign_keys:
                parent = self.nodes.get(fk.parent)
                if fk.schema != self.schema or fk.child != t.name or parent is None or fk.parent in _path:
                    continue
                parts.append(f"{quote(fk.child_column)} IN (SELECT {quote(fk.parent_column)} FROM "
                             f"{parent.qualified} WHERE {self.moved(parent, (*_path, t.name))})")
        else:
            parts.extend(self._legacy_children(t))
        pred = "(" + ") OR (".join(parts) + ")"
        self._memo[t.name] = pred
        return pred

    def _legacy_children(self, t: Table) -> list[str]:
        instances = self.nodes.get("instances")
        if instances is None or t.name == "instances":
            return []
        dead = f"SELECT `uuid` FROM {instances.qualified} WHERE {self.own(instances)}"
        if "instance_uuid" in t.columns and t.name != "pci_devices":
            return [f"`instance_uuid` IN ({dead})"]
        actions = self.nodes.get("instance_actions")
        if t.name == "instance_actions_events" and actions is not None:
            return [f"`action_id` IN (SELECT `id` FROM {actions.qualified} WHERE `instance_uuid` IN ({dead}))"]
        return []


def archivable(inv: Inventory, schema: str, *, models_only: bool) -> dict[str, Table]:
    out: dict[str, Table] = {}
    for t in inv.schema_tables(schema):
        if t.name.startswith(SHADOW_PREFIX) or t.name == "alembic_version" or not t.soft_deletes:
            continue
        if models_only and t.name in REMOVED_TABLES:
            continue
        if inv.table(schema, SHADOW_PREFIX + t.name) is None or "deleted_at" not in t.columns:
            continue
        out[t.name] = t
    return out


def _purge_column(shadow: Table) -> str | None:
    if shadow.name in PURGE_COLUMN:
        return PURGE_COLUMN[shadow.name]
    return next((c for c in ("deleted_at", "updated_at", "created_at") if c in shadow.columns), None)


def predict(view: DbView, inv: Inventory, schema: str, now: datetime, release: NovaRelease | None,
            api_schema: str | None) -> CellPlan:
    opts = view.options
    major = release.major if release else None
    has_before = major is None or major >= BEFORE_SINCE
    before = cutoff(now, opts.older_than_days, opts.before) if has_before else None
    fk_walk = major is None or major >= FK_WALK_SINCE
    walk = _Walk(inv, schema, before, fk_walk)
    walk.nodes = archivable(inv, schema, models_only=fk_walk)
    counter = Counter(view.server)
    stamp = f"'{cutoff(now, opts.older_than_days, opts.before):%Y-%m-%d %H:%M:%S}'"
    moves: list[TableMove] = []
    for name in sorted(walk.nodes):
        t = walk.nodes[name]
        pred = walk.moved(t)
        shadow = inv.table(schema, SHADOW_PREFIX + name)
        col = _purge_column(shadow) if shadow else None
        aggs = [rows_in(pred), rows_in(walk.own(t))]
        if col and col in t.columns:
            aggs.append(rows_in(f"({pred}) AND {quote(col)} < {stamp}"))
        m = counter.measure(t, aggs)
        moved = m.int_value(0)
        if moved:
            moves.append(TableMove(name, moved, m.int_value(1), m.int_value(2) if len(aggs) > 2 else 0, m.method))
    instances = walk.nodes.get("instances")
    api = _api_deletes(view, inv, api_schema, instances, walk) if instances is not None and any(
        m.table == "instances" for m in moves) else {}
    return CellPlan(view.server.label, schema, view.cell_names.get(schema, ""), before,
                    "foreign-key walk (nova >= 23.0.0)" if fk_walk else "instance_uuid rule (nova < 23.0.0)",
                    tuple(moves), api, _shadow_purge(counter, inv, schema, stamp), _blockers(view, inv, walk),
                    release)


def _api_deletes(view: DbView, inv: Inventory, api_schema: str | None, instances: Table,
                 walk: _Walk) -> dict[str, int | None]:
    if api_schema is None:
        return {}
    uuids = f"SELECT `uuid` FROM {instances.qualified} WHERE {walk.moved(instances)}"
    out: dict[str, int | None] = {}
    for name in API_CLEANUP:
        t = inv.table(api_schema, name)
        if t is None or "instance_uuid" not in t.columns:
            continue
        rows = view.server.rows(f"SELECT COUNT(*) FROM {t.qualified} WHERE `instance_uuid` IN ({uuids})")
        out[name] = int(str(rows[0][0])) if rows else None
    return out


def _shadow_purge(counter: Counter, inv: Inventory, schema: str, stamp: str) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for t in inv.schema_tables(schema):
        if not t.name.startswith(SHADOW_PREFIX):
            continue
        col = _purge_column(t)
        if col is None:
            continue
        m: Measured = counter.measure(t, [rows_in(f"{quote(col)} < {stamp}")])
        n = m.int_value(0)
        if n:
            out[t.name] = n
    return out


def _blockers(view: DbView, inv: Inventory, walk: _Walk) -> tuple[str, ...]:
    """Rows of tables nova does not archive that point at rows it will move: the delete then fails on the
    foreign key and nova skips that whole batch (logs `IntegrityError detected when archiving table`)."""
    out: list[str] = []
    if walk.fk_walk:
        out.extend(_duplicate_walks(view, inv, walk))
    for fk in inv.foreign_keys:
        parent = walk.nodes.get(fk.parent)
        if fk.schema != walk.schema or parent is None or fk.child in walk.nodes:
            continue
        child = inv.table(walk.schema, fk.child)
        if child is None:
            continue
        rows = view.server.rows(f"SELECT COUNT(*) FROM {child.qualified} WHERE {quote(fk.child_column)} IN "
                                f"(SELECT {quote(fk.parent_column)} FROM {parent.qualified} WHERE "
                                f"{walk.moved(parent)})")
        n = int(str(rows[0][0])) if rows else 0
        if n:
            out.append(f"{n:,} {walk.schema}.{fk.child} rows reference {fk.parent} rows due for archiving, but "
                       f"nova does not archive {fk.child}: those {fk.parent} batches fail and are skipped")
    return tuple(out)


def _duplicate_walks(view: DbView, inv: Inventory, walk: _Walk) -> list[str]:
    """A child table with two foreign keys to the same parent (security_group_rules: parent_group_id and
    group_id → security_groups) is listed once per key by nova's FK walk, so its rows are copied into the
    shadow table twice: the archive run aborts with DBDuplicateEntry (exit 255) on the first such parent row."""
    out: list[str] = []
    pairs: dict[tuple[str, str], list[str]] = {}
    for fk in inv.foreign_keys:
        if fk.schema == walk.schema and fk.child in walk.nodes and fk.parent in walk.nodes:
            pairs.setdefault((fk.child, fk.parent), []).append(fk.child_column)
    for (child_name, parent_name), cols in sorted(pairs.items()):
        if len(cols) < 2:
            continue
        child, parent = walk.nodes[child_name], walk.nodes[parent_name]
        refs = " OR ".join(f"{quote(c)} IN (SELECT `id` FROM {parent.qualified} WHERE {walk.moved(parent)})"
                           for c in cols)
        rows = view.server.rows(f"SELECT COUNT(*) FROM {child.qualified} WHERE {refs}")
        n = int(str(rows[0][0])) if rows else 0
        if n:
            out.append(f"{n:,} {walk.schema}.{child_name} rows belong to {parent_name} rows due for archiving; nova's "
                       f"archive visits {child_name} once per foreign key ({', '.join(cols)}) and aborts with "
                       f"DBDuplicateEntry (exit 255), leaving the rest of the run undone; these are nova-network "
                       f"leftovers: raise it with the nova project rather than deleting rows by hand")
    return out


# -- the plan as operator steps ---------------------------------------------------------------------------
def plan_steps(plans: list[CellPlan], *, kolla: bool, server_url_user: str, host: str, port: int) -> list[
        RemediationStep]:
    if not plans:
        return []
    release = next((p.release for p in plans if p.release is not None), None)
    major = release.major if release else None
    before = plans[0].before
    day = f"{before:%Y-%m-%d}" if before else ""
    manage = "docker exec nova_api nova-manage" if kolla else "nova-manage"
    schemas = sorted({p.schema for p in plans} | {"nova_api"})
    if kolla:
        dump = ("docker exec mariadb mysqldump -u root -p\"$database_password\" --single-transaction --routines "
                f"--databases {' '.join(schemas)} > nova-db-backup-$(date +%F).sql")
    else:
        dump = (f"mysqldump -h {host} -P {port} -u {server_url_user or 'root'} -p --single-transaction --routines "
                f"--databases {' '.join(schemas)} > nova-db-backup-$(date +%F).sql")
    steps = [RemediationStep(kind=StepKind.safe, text="Back up the nova databases first (consistent InnoDB "
                             "snapshot, no table locks); keep the dump until the archive has been verified.",
                             commands=[dump])]
    moved = "; ".join(_move_text(p) for p in plans)
    api = _api_text(plans)
    if major is None or major >= BEFORE_SINCE:
        archive = (f"{manage} db archive_deleted_rows --before {day} --until-complete --max_rows {BATCH} "
                   "--all-cells --verbose")
        scope = f"rows soft-deleted before {day} and the rows that belong to them"
    elif major >= UNTIL_COMPLETE_SINCE:
        archive = f"{manage} db archive_deleted_rows --until-complete --max_rows {BATCH} --verbose"
        scope = ("every soft-deleted row (this release has no --before; run it once per cell, each with that "
                 "cell's [database] connection)")
    else:
        archive = f"{manage} db archive_deleted_rows --max_rows {BATCH} --verbose"
        scope = "every soft-deleted row, 1000 per run: repeat until it reports nothing archived"
    steps.append(RemediationStep(
        kind=StepKind.destructive,
        text=f"Archive {scope} into the shadow tables. Predicted: {moved}{api}. Exit code 1 means rows were "
             "archived (not a failure), 0 nothing left. Never DELETE from instances by hand: that orphans child "
             "rows and API-DB mappings this command cleans up.",
        commands=[archive]))
    if major is None or major >= PURGE_SINCE:
        cut = day or "$(date -d '-90 days' +%F)"
        steps.append(RemediationStep(
            kind=StepKind.destructive,
            text=f"Purge shadow rows older than the cut-off. Predicted: {_purge_text(plans)}. Archived rows with no "
                 "timestamp before the cut-off stay in the shadow tables.",
            commands=[f"{manage} db purge --before {cut} --all-cells --verbose"]))
    else:
        steps.append(RemediationStep(kind=StepKind.safe, text="This release has no `nova-manage db purge` (18.0.0 "
                                     "Rocky and later): leave the shadow tables until after the upgrade."))
    for p in plans:
        for b in p.blockers:
            steps.insert(1, RemediationStep(kind=StepKind.safe, text=f"Before archiving: {b}."))
    return steps


def steps_for(view: DbView, plans: list[CellPlan]) -> list[RemediationStep]:
    srv = view.server
    return plan_steps(plans, kolla=view.options.kolla, server_url_user=srv.parsed.username or "",
                      host=srv.parsed.host or "127.0.0.1", port=srv.parsed.port or 3306)


def _move_text(p: CellPlan) -> str:
    name = p.cell or f"{p.schema} (not in cell_mappings: --all-cells does not reach it)"
    if not p.moves:
        return f"{name}: nothing"
    rows = ", ".join(f"{p.key(m.table)} {_fmt(m.moved)}" for m in sorted(p.moves, key=lambda m: -(m.moved or 0)))
    how = "" if p.exact else " (estimated)"
    return f"{name} {p.total_moved:,} rows{how}: {rows}"


def _api_text(plans: list[CellPlan]) -> str:
    totals: dict[str, int] = {}
    for p in plans:
        for name, n in p.api_deletes.items():
            totals[name] = totals.get(name, 0) + (n or 0)
    if not totals:
        return ""
    return "; and deletes from the API DB: " + ", ".join(f"API_DB.{k} {v:,}" for k, v in totals.items())


def _purge_text(plans: list[CellPlan]) -> str:
    parts = []
    for p in plans:
        from_archive = sum(m.purged or 0 for m in p.moves)
        already = sum(n or 0 for n in p.shadow_purge.values())
        parts.append(f"{p.cell or p.schema} {from_archive + already:,} rows ({from_archive:,} just archived, "
                     f"{already:,} already in shadow tables)")
    return "; ".join(parts)


def _fmt(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def plan_dict(p: CellPlan) -> dict[str, object]:
    """JSON-safe form for the report (hosts[].facts.archive_plan)."""
    return {
        "server": p.server, "schema": p.schema, "cell": p.cell,
        "before": p.before.isoformat(sep=" ") if p.before else None, "rule": p.rule, "exact": p.exact,
        "release": p.release.label if p.release else None,
        "moves": {p.key(m.table): {"moved": m.moved, "own": m.own, "purged": m.purged, "method": m.method}
                  for m in p.moves},
        "api_deletes": {f"API_DB.{k}": v for k, v in p.api_deletes.items()},
        "shadow_purge": dict(p.shadow_purge),
        "blockers": list(p.blockers),
    }


def load_archive_plans(view: object) -> list[CellPlan]:
    """Facts loader: one plan per nova cell schema on this server (API-DB cleanup counted when the API
    schema lives on the same server)."""
    dbv = db_view(view)
    stats = {s.schema: s for s in load_soft_deleted(dbv)}
    inv = load_inventory(dbv)
    apis = inv.nova_apis()
    plans: list[CellPlan] = []
    with reachable(dbv):
        for schema in inv.nova_cells():
            s = stats.get(schema)
            if s is not None:
                plans.append(predict(dbv, inv, schema, s.now, s.release, apis[0] if apis else None))
    return plans
