"""Soft-deleted rows per table (DB-001): counts, oldest deletion, shadow-table sizes, EC2 client tokens.

OpenStack services mark rows deleted instead of removing them (oslo.db `SoftDeleteMixin`: `deleted = id`,
so a deleted row has `deleted <> 0`, never just `deleted = 1`). Nova moves them to `shadow_<table>` only when
an operator runs `nova-manage db archive_deleted_rows`, and empties the shadow tables only on `db purge`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from stackrx.cloud.db.counting import Counter, Measured, rows_in, smallest
from stackrx.cloud.db.finding import Finding
from stackrx.cloud.db.inventory import SHADOW_PREFIX, Inventory, Table, db_view, load_inventory, quote, reachable
from stackrx.cloud.db.server import DbView
from stackrx.errors import NotApplicable
from stackrx.models import Evidence, Severity

# Catalogue DB-001 thresholds (heuristics, tune per site).
INSTANCES_HIGH = 100_000
INSTANCES_RATIO_MIN_ROWS = 10_000
INSTANCES_RATIO = 0.9
SYSTEM_METADATA_HIGH = 1_000_000
SHADOW_MEDIUM = 1_000_000
OLD_DAYS = 90
# Other services (glance, cinder, ...): the catalogue sets no number; a million dead rows in one table is
# the same order as nova's system-metadata threshold, reported one level lower.
OTHER_TABLE_MEDIUM = 1_000_000

# The in-tree EC2 API (and openstack/ec2-api) looked an idempotent RunInstances up by searching
# instance_system_metadata for key 'EC2_client_token' and the token value: a scan that every soft-deleted
# row makes slower (the seed's 138 s RunInstances).
EC2_TOKEN_KEY = "EC2_client_token"

# sqlalchemy-migrate versions nova's main schema reached at each release (last placeholder of the release).
_MIGRATE_RELEASES = ((417, 23, "Wallaby"), (412, 22, "Victoria"), (407, 21, "Ussuri"), (402, 20, "Train"),
                     (391, 19, "Stein"), (390, 18, "Rocky"), (378, 17, "Queens"), (362, 16, "Pike"),
                     (347, 15, "Ocata"))


@dataclass(frozen=True)
class NovaRelease:
    major: int | None  # lowest nova major release the schema proves; None = unknown
    label: str
    evidence: str


@dataclass(frozen=True)
class TableStat:
    table: Table
    measured: Measured
    has_oldest: bool
    has_ec2: bool

    @property
    def total(self) -> int | None:
        return self.measured.rows

    @property
    def soft_deleted(self) -> int | None:
        return self.measured.int_value(0)

    @property
    def oldest(self) -> datetime | None:
        if not self.has_oldest:
            return None
        value = self.measured.values[1]
        return value if isinstance(value, datetime) else None

    @property
    def ec2_tokens(self) -> tuple[int | None, int | None]:
        if not self.has_ec2:
            return None, None
        base = 2 if self.has_oldest else 1
        return self.measured.int_value(base), self.measured.int_value(base + 1)

    def evidence(self, server: str) -> Evidence:
        parts = [f"total={_n(self.total)}", f"soft_deleted={_n(self.soft_deleted)}"]
        if self.has_oldest:
            parts.append(f"oldest_deleted_at={self.oldest or '-'}")
        if self.has_ec2:
            tokens, dead = self.ec2_tokens
            parts.append(f"{EC2_TOKEN_KEY}={_n(tokens)} (soft-deleted {_n(dead)})")
        parts.append(f"[{self.measured.method}]")
        return Evidence(source=f"sql:{server}/{self.table.label}", excerpt=", ".join(parts))


@dataclass(frozen=True)
class SchemaStats:
    server: str
    schema: str
    kind: str  # nova-cell | other
    cell: str  # nova cell name when known
    now: datetime  # the server's UTC clock (nova stores UTC)
    tables: tuple[TableStat, ...]
    shadow: tuple[Measured, ...]
    release: NovaRelease | None

    @property
    def title(self) -> str:
        return f"{self.schema} (cell {self.cell})" if self.cell else self.schema

    def stat(self, name: str) -> TableStat | None:
        return next((t for t in self.tables if t.table.name == name), None)

    @property
    def soft_deleted(self) -> int:
        return sum(t.soft_deleted or 0 for t in self.tables)

    @property
    def shadow_rows(self) -> int:
        return sum(m.rows or 0 for m in self.shadow)

    @property
    def oldest(self) -> datetime | None:
        dates = [t.oldest for t in self.tables if t.oldest is not None]
        return min(dates) if dates else None

    @property
    def methods(self) -> str:
        all_m = [t.measured for t in self.tables] + list(self.shadow)
        estimated = [m for m in all_m if not m.exact]
        if not estimated:
            return "exact counts"
        return f"{len(estimated)} of {len(all_m)} tables estimated or not counted (see evidence)"


def _n(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"


def nova_release(view: DbView, inv: Inventory, schema: str) -> NovaRelease:
    srv = view.server
    if inv.table(schema, "alembic_version") is not None:
        rows = srv.rows(f"SELECT version_num FROM {quote(schema)}.alembic_version")
        rev = ", ".join(str(r[0]) for r in rows) or "none"
        return NovaRelease(24, "24.0.0 (Xena) or later", f"{schema}.alembic_version = {rev}")
    if inv.table(schema, "migrate_version") is not None:
        rows = srv.rows(f"SELECT version FROM {quote(schema)}.migrate_version")
        version = int(str(rows[0][0])) if rows and rows[0][0] is not None else 0
        for floor, major, name in _MIGRATE_RELEASES:
            if version >= floor:
                return NovaRelease(major, f"{major}.0.0 ({name}) or later", f"{schema}.migrate_version = {version}")
        return NovaRelease(14, "older than 15.0.0 (Ocata)", f"{schema}.migrate_version = {version}")
    return NovaRelease(None, "unknown (no alembic_version / migrate_version table)", schema)


def load_soft_deleted(view: object) -> list[SchemaStats]:
    """Per schema with a `deleted` column: counts per table, shadow sizes. Not run on Galera duplicates."""
    dbv = db_view(view)
    if dbv.counted_on:
        raise NotApplicable(f"same Galera cluster as {dbv.counted_on}: rows are counted there, once")
    return dbv.once("soft_deleted", lambda: _count_schemas(dbv))


def _count_schemas(dbv: DbView) -> list[SchemaStats]:
    inv = load_inventory(dbv)
    counter = Counter(dbv.server)
    out: list[SchemaStats] = []
    with reachable(dbv):
        now_rows = dbv.server.rows("SELECT UTC_TIMESTAMP()")
        db_now = now_rows[0][0] if now_rows else None
        now = db_now if isinstance(db_now, datetime) else datetime.now(UTC).replace(tzinfo=None)
        for schema in inv.soft_delete_schemas():
            out.append(_schema_stats(dbv, inv, counter, schema, now))
    return out


def _schema_stats(view: DbView, inv: Inventory, counter: Counter, schema: str, now: datetime) -> SchemaStats:
    stats: list[TableStat] = []
    shadow: list[Measured] = []
    for table in inv.schema_tables(schema):
        if table.table_type not in ("BASE TABLE", "SYSTEM VERSIONED"):
            continue
        if table.name.startswith(SHADOW_PREFIX):
            shadow.append(counter.measure(table, []))
            continue
        if not table.soft_deletes:
            continue
        aggs = [rows_in("`deleted` <> 0")]
        has_oldest = "deleted_at" in table.columns
        if has_oldest:
            aggs.append(smallest("IF(`deleted` <> 0, `deleted_at`, NULL)"))
        has_ec2 = table.name == "instance_system_metadata" and "key" in table.columns
        if has_ec2:
            aggs += [rows_in(f"`key` = '{EC2_TOKEN_KEY}'"), rows_in(f"`key` = '{EC2_TOKEN_KEY}' AND `deleted` <> 0")]
        stats.append(TableStat(table, counter.measure(table, aggs), has_oldest, has_ec2))
    cell = inv.is_nova_cell(schema)
    return SchemaStats(view.server.label, schema, "nova-cell" if cell else "other", view.cell_names.get(schema, ""),
                       now, tuple(stats), tuple(shadow), nova_release(view, inv, schema) if cell else None)


def schema_findings(s: SchemaStats) -> list[Finding]:
    out: list[Finding] = []
    if s.kind == "nova-cell":
        out.extend(_instances(s))
        out.extend(_system_metadata(s))
        if s.shadow_rows >= SHADOW_MEDIUM:
            ev = [Evidence(source=f"sql:{s.server}/{m.table}", excerpt=f"rows={_n(m.rows)} [{m.method}]")
                  for m in sorted(s.shadow, key=lambda m: -(m.rows or 0))[:5]]
            out.append(Finding(Severity.medium, f"{s.title}: {s.shadow_rows:,} rows in shadow_* tables: archived but "
                               "never purged (`nova-manage db purge`)", f"{s.schema}.shadow_*", ev))
        return out
    for t in s.tables:
        if (t.soft_deleted or 0) >= OTHER_TABLE_MEDIUM:
            out.append(Finding(Severity.medium, f"{t.table.label}: {t.soft_deleted:,} soft-deleted rows; the "
                               "service's own purge command removes them (glance-manage / cinder-manage db purge)",
                               t.table.label, [t.evidence(s.server)]))
    return out


def _instances(s: SchemaStats) -> list[Finding]:
    t = s.stat("instances")
    if t is None or t.soft_deleted is None or not t.total:
        return []
    dead, total = t.soft_deleted, t.total
    if dead >= INSTANCES_HIGH or (dead >= INSTANCES_RATIO_MIN_ROWS and dead / total >= INSTANCES_RATIO):
        return [Finding(Severity.high, f"{s.title}: {dead:,} of {total:,} instances are soft-deleted "
                        f"({dead / total:.0%}); every instance list and lookup wades through them",
                        f"{s.schema}.instances", [t.evidence(s.server)])]
    return []


def _system_metadata(s: SchemaStats) -> list[Finding]:
    t = s.stat("instance_system_metadata")
    if t is None or t.soft_deleted is None or t.soft_deleted < SYSTEM_METADATA_HIGH:
        return []
    _tokens, dead_tokens = t.ec2_tokens
    ec2 = (f"; {dead_tokens:,} of them are {EC2_TOKEN_KEY} rows that an EC2 RunInstances with a ClientToken "
           "searches" if dead_tokens else "")
    return [Finding(Severity.high, f"{s.title}: {t.soft_deleted:,} soft-deleted instance_system_metadata rows "
                    f"(of {_n(t.total)}){ec2}", f"{s.schema}.instance_system_metadata", [t.evidence(s.server)])]


def schema_summary(s: SchemaStats) -> str:
    oldest = s.oldest
    age = f", oldest deleted {oldest:%Y-%m-%d} ({(s.now - oldest).days} days ago)" if oldest else ""
    release = f"; nova {s.release.label}" if s.release else ""
    ism = s.stat("instance_system_metadata")
    tokens = ism.ec2_tokens[0] if ism else None
    ec2 = f"; {tokens:,} {EC2_TOKEN_KEY} rows" if tokens else ""
    with_dead = sum(1 for t in s.tables if t.soft_deleted)
    return (f"{s.title}: {s.soft_deleted:,} soft-deleted rows in {with_dead} of {len(s.tables)} tables{age}; "
            f"shadow tables {s.shadow_rows:,} rows{ec2}{release} ({s.methods})")
