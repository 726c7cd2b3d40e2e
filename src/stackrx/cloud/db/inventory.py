"""What is on a server: tables, their engines, size estimates, columns, primary and foreign keys.

Three `information_schema` queries, no table is opened for reading rows. InnoDB's `table_rows` is a
statistics estimate (it can be off by half, or 0 right after a bulk load): callers say so when they use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from stackrx.cloud.db.server import DbUnreachable, DbView
from stackrx.errors import MissingEvidence, NotApplicable

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
_NOT_SYSTEM = "table_schema NOT IN (" + ", ".join(f"'{s}'" for s in SYSTEM_SCHEMAS) + ")"
_INT_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
SHADOW_PREFIX = "shadow_"  # nova's archive target for table T is shadow_T


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    engine: str
    table_type: str
    rows_estimate: int
    size_bytes: int
    columns: frozenset[str]
    primary_key: tuple[str, ...]
    int_key: str | None  # a single-column integer primary key: windows of it sample the table

    @property
    def qualified(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}"

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def soft_deletes(self) -> bool:
        return "deleted" in self.columns


@dataclass(frozen=True)
class ForeignKey:
    schema: str
    child: str
    child_column: str
    parent: str
    parent_column: str


@dataclass(frozen=True)
class Inventory:
    server: str
    tables: Mapping[tuple[str, str], Table]
    foreign_keys: tuple[ForeignKey, ...]

    def table(self, schema: str, name: str) -> Table | None:
        return self.tables.get((schema, name))

    def schema_tables(self, schema: str) -> list[Table]:
        return sorted((t for (s, _n), t in self.tables.items() if s == schema), key=lambda t: t.name)

    def schemas(self) -> list[str]:
        return sorted({s for s, _n in self.tables})

    def soft_delete_schemas(self) -> list[str]:
        return sorted({t.schema for t in self.tables.values() if t.soft_deletes})

    def is_nova_cell(self, schema: str) -> bool:
        return self.table(schema, "instances") is not None and self.table(schema, "shadow_instances") is not None

    def is_nova_api(self, schema: str) -> bool:
        return self.table(schema, "cell_mappings") is not None and self.table(schema, "instance_mappings") is not None

    def nova_cells(self) -> list[str]:
        return [s for s in self.schemas() if self.is_nova_cell(s)]

    def nova_apis(self) -> list[str]:
        return [s for s in self.schemas() if self.is_nova_api(s)]


def quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def db_view(view: object) -> DbView:
    if not isinstance(view, DbView):
        raise NotApplicable("needs a database connection (`stackrx db URL`)")
    return view


@contextmanager
def reachable(view: DbView) -> Iterator[None]:
    """An unreachable server is missing evidence for the schema checks (DB-003 reports it as a finding)."""
    try:
        yield
    except DbUnreachable as exc:
        raise MissingEvidence(f"connection to {exc.server}: {exc.reason}") from None


def load_inventory(view: object) -> Inventory:
    dbv = db_view(view)
    return dbv.once("inventory", lambda: _read_inventory(dbv))


def _read_inventory(dbv: DbView) -> Inventory:
    srv = dbv.server
    with reachable(dbv):
        table_rows = srv.rows(
            "SELECT table_schema, table_name, COALESCE(engine, ''), table_type, COALESCE(table_rows, 0), "
            "COALESCE(data_length, 0) + COALESCE(index_length, 0) FROM information_schema.tables WHERE "
            + _NOT_SYSTEM)
        column_rows = srv.rows(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns WHERE "
            + _NOT_SYSTEM)
        key_rows = srv.rows(
            "SELECT table_schema, table_name, column_name, constraint_name, referenced_table_schema, "
            "referenced_table_name, referenced_column_name FROM information_schema.key_column_usage WHERE "
            + _NOT_SYSTEM + " ORDER BY table_schema, table_name, constraint_name, ordinal_position")
    return build_inventory(srv.label, table_rows, column_rows, key_rows)


def build_inventory(server: str, table_rows: list[tuple[object, ...]], column_rows: list[tuple[object, ...]],
                    key_rows: list[tuple[object, ...]]) -> Inventory:
    columns: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, dtype in column_rows:
        columns.setdefault((str(schema), str(table)), {})[str(column).lower()] = str(dtype).lower()
    pks: dict[tuple[str, str], list[str]] = {}
    fks: list[ForeignKey] = []
    for schema, table, column, constraint, ref_schema, ref_table, ref_column in key_rows:
        key = (str(schema), str(table))
        if constraint == "PRIMARY":
            pks.setdefault(key, []).append(str(column).lower())
        elif ref_table is not None and (ref_schema is None or ref_schema == schema):
            fks.append(ForeignKey(key[0], key[1], str(column).lower(), str(ref_table), str(ref_column).lower()))
    tables: dict[tuple[str, str], Table] = {}
    for schema, name, engine, ttype, rows, size in table_rows:
        key = (str(schema), str(name))
        cols = columns.get(key, {})
        pk = tuple(pks.get(key, []))
        int_key = pk[0] if len(pk) == 1 and cols.get(pk[0]) in _INT_TYPES else None
        tables[key] = Table(key[0], key[1], str(engine), str(ttype), int(str(rows)), int(str(size)),
                            frozenset(cols), pk, int_key)
    return Inventory(server, tables, tuple(fks))
