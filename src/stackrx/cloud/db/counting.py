"""Counting rows without hurting the server: exact when the table is small, sampled when it is big.

An exact count scans the table (InnoDB has no row counter). It is bounded by the session's statement time
limit; a table estimated above `DbOptions.exact_limit` rows, or one whose exact count hits the limit, is
*sampled* instead: `windows` evenly spaced ranges of its integer primary key, read in one range query, and
every sum is scaled by (id span) / (ids sampled). Ids are allocated in time order, so the first window also
holds the oldest rows, which keeps "oldest soft-deleted row" meaningful when sampling.
Every measurement says which method produced it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from stackrx.cloud.db.inventory import Table, quote
from stackrx.cloud.db.server import DbServer, StatementTimeout

EXACT = "exact"


@dataclass(frozen=True)
class Agg:
    """One aggregate over a table: a SUM() that scales with sampling, or a MIN() that does not."""

    sql: str
    scalable: bool = True


def rows_in(predicate: str) -> Agg:
    return Agg(f"SUM({predicate})")


def smallest(expr: str) -> Agg:
    return Agg(f"MIN({expr})", scalable=False)


@dataclass(frozen=True)
class Measured:
    table: str
    rows: int | None  # COUNT(*) (exact or scaled)
    values: tuple[object, ...]  # one per Agg, in order; None when unknown
    method: str  # "exact", "estimated: ...", or "not counted: ..."

    @property
    def exact(self) -> bool:
        return self.method == EXACT

    def int_value(self, i: int) -> int | None:
        v = self.values[i]
        return None if v is None else int(str(v))


class Counter:
    """Measures tables of one server under its DbOptions (count mode, exact limit, sample size)."""

    def __init__(self, server: DbServer) -> None:
        self.server = server
        self.opts = server.options
        self._bounds: dict[str, tuple[int, int] | None] = {}

    def bounds(self, table: Table) -> tuple[int, int] | None:
        """MIN/MAX of the integer primary key: two index dives, no scan."""
        if table.int_key is None:
            return None
        if table.label not in self._bounds:
            key = quote(table.int_key)
            row = self.server.rows(f"SELECT MIN({key}), MAX({key}) FROM {table.qualified}")
            lo, hi = row[0] if row else (None, None)
            self._bounds[table.label] = None if lo is None or hi is None else (int(str(lo)), int(str(hi)))
        return self._bounds[table.label]

    def wants_exact(self, table: Table) -> bool:
        if self.opts.count == "exact" or table.int_key is None:
            return True
        if self.opts.count == "estimate":
            return False
        span = self.bounds(table)
        # Statistics lag bulk loads (table_rows can read 0 on a full table); the id span bounds the row count
        # from above (sparse ids, as Galera's auto_increment_increment makes them, only mean more sampling).
        id_span = span[1] - span[0] + 1 if span else 0
        return max(table.rows_estimate, id_span) <= self.opts.exact_limit

    def measure(self, table: Table, aggs: Sequence[Agg]) -> Measured:
        note = ""
        if self.wants_exact(table):
            try:
                return self._exact(table, aggs)
            except StatementTimeout:
                if table.int_key is None:
                    return Measured(table.label, None, tuple(None for _ in aggs),
                                    f"not counted: exact count hit the statement time limit "
                                    f"({self.server.timeout_mode}) and the table has no integer key to sample")
                note = "exact count hit the statement time limit; "
        try:
            return self._sampled(table, aggs, note)
        except StatementTimeout:
            return Measured(table.label, None, tuple(None for _ in aggs),
                            f"not counted: {note}sampling hit the statement time limit ({self.server.timeout_mode})")

    def _select(self, table: Table, aggs: Sequence[Agg], where: str = "") -> tuple[object, ...]:
        cols = ", ".join(["COUNT(*)", *(a.sql for a in aggs)])
        rows = self.server.rows(f"SELECT {cols} FROM {table.qualified}{where}")
        return rows[0] if rows else tuple(None for _ in range(len(aggs) + 1))

    def _exact(self, table: Table, aggs: Sequence[Agg]) -> Measured:
        row = self._select(table, aggs)
        return Measured(table.label, int(str(row[0] or 0)), tuple(_zero_sum(a, v) for a, v in zip(aggs, row[1:],
                                                                                                   strict=True)),
                        EXACT)

    def _sampled(self, table: Table, aggs: Sequence[Agg], note: str) -> Measured:
        span = self.bounds(table)
        if span is None:
            return Measured(table.label, 0, tuple(_zero_sum(a, None) for a in aggs), EXACT)
        lo, hi = span
        id_span = hi - lo + 1
        windows = max(1, self.opts.sample_windows)
        density = min(1.0, table.rows_estimate / id_span) if table.rows_estimate else 1.0
        width = max(1, math.ceil(self.opts.sample_rows / windows / max(density, 1e-6)))
        if width * windows >= id_span:
            return self._exact(table, aggs)
        key = quote(table.int_key or "id")
        ranges: list[tuple[int, int]] = []
        for i in range(windows):
            start = lo + (id_span * i) // windows
            ranges.append((start, min(start + width, lo + (id_span * (i + 1)) // windows, hi + 1)))
        where = " WHERE " + " OR ".join(f"({key} >= {a} AND {key} < {b})" for a, b in ranges)
        row = self._select(table, aggs, where)
        sampled_ids = sum(b - a for a, b in ranges)
        scale = id_span / sampled_ids
        sampled_rows = int(str(row[0] or 0))
        values = tuple(_scaled(a, v, scale) for a, v in zip(aggs, row[1:], strict=True))
        method = (f"estimated: {note}{sampled_rows:,} rows sampled in {windows} windows of "
                  f"{table.int_key} covering {sampled_ids / id_span:.1%} of its range")
        return Measured(table.label, round(sampled_rows * scale), values, method)


def _zero_sum(agg: Agg, value: object) -> object:
    # SUM over no rows is NULL; a count of nothing is 0.
    if value is None and agg.scalable:
        return 0
    return value


def _scaled(agg: Agg, value: object, scale: float) -> object:
    if not agg.scalable:
        return value
    return round(float(str(value or 0)) * scale)
