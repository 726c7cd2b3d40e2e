"""Stored runs: one row per scan, per host scanned, per metric reading and per finding (SQLAlchemy Core).

Any SQLAlchemy URL works: the default is a SQLite file under the user's data dir; PostgreSQL is
`postgresql+psycopg://user:pw@host/db` (needs the psycopg driver). Times are stored as naive UTC so SQLite
and PostgreSQL compare them the same way.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from stackrx.errors import UsageError
from stackrx.history import default_store_url
from stackrx.models import ScanReport, Status
from stackrx.redact import redact

META = MetaData()

RUNS = Table(
    "stackrx_runs", META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stored_at", DateTime, nullable=False),
    Column("target", Text, nullable=False),
    Column("tool_version", String(32), nullable=False),
    Column("report", Text, nullable=False),
)

HOST_RUNS = Table(
    "stackrx_host_runs", META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("stackrx_runs.id", ondelete="CASCADE"), nullable=False),
    Column("host", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("target", Text, nullable=False),
    # When the host was observed: its collection time when known, else when the run was stored.
    Column("observed_at", DateTime, nullable=False),
    Index("ix_stackrx_host_runs_host_time", "host", "observed_at"),
)

METRICS = Table(
    "stackrx_metrics", META,
    Column("host_run_id", Integer, ForeignKey("stackrx_host_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(512), primary_key=True),
    Column("value", Float, nullable=False),
)

FINDINGS = Table(
    "stackrx_findings", META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host_run_id", Integer, ForeignKey("stackrx_host_runs.id", ondelete="CASCADE"), nullable=False),
    Column("check_id", String(32), nullable=False),
    Column("resource", Text, nullable=False),
    Column("finding_key", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("muted", Boolean, nullable=False),
    Column("message", Text, nullable=False),
)


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float


@dataclass(frozen=True)
class Series:
    host: str
    metric: str
    points: tuple[Point, ...]


def _utc_naive(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return _utc_naive(datetime.fromisoformat(text))
    except ValueError:
        return None


@contextmanager
def _engine(url: str | None) -> Iterator[Engine]:
    url = url or default_store_url()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(f"--store {redact(url)!r} is not a database URL ({exc})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise UsageError(f"no database driver for {redact(url)} ({exc}); for PostgreSQL install psycopg and "
                         "use postgresql+psycopg://") from None
    try:
        META.create_all(engine)
        yield engine
    except SQLAlchemyError as exc:
        detail = (redact(str(getattr(exc, "orig", None) or exc)).splitlines() or ["database error"])[0]
        raise UsageError(f"history store {redact(url)}: {detail}") from None
    finally:
        engine.dispose()


def store_run(report: ScanReport, url: str | None = None, *, stored_at: datetime | None = None) -> int:
    """Store one scan (its report, every host's metrics and every result); returns the run id."""
    now = _utc_naive(stored_at or datetime.now(UTC))
    with _engine(url) as engine, engine.begin() as conn:
        run_id: int = conn.execute(RUNS.insert().values(
            stored_at=now, target=report.target, tool_version=report.version,
            report=report.model_dump_json()).returning(RUNS.c.id)).scalar_one()
        for host in report.hosts:
            host_run_id: int = conn.execute(HOST_RUNS.insert().values(
                run_id=run_id, host=host.name, kind=host.kind, target=host.target,
                observed_at=_parse_time(host.collected_at) or now).returning(HOST_RUNS.c.id)).scalar_one()
            if host.metrics:
                conn.execute(METRICS.insert(), [
                    {"host_run_id": host_run_id, "name": name, "value": float(value)}
                    for name, value in sorted(host.metrics.items())])
            rows = [{"host_run_id": host_run_id, "check_id": r.check_id, "resource": r.resource,
                     "finding_key": r.key, "severity": r.severity.value, "status": r.status.value,
                     "muted": r.muted, "message": r.message}
                    for r in report.results if r.host == host.name and r.status is not Status.passed]
            if rows:
                conn.execute(FINDINGS.insert(), rows)
    return run_id


def load_series(url: str | None = None, *, host: str | None = None, metric: str | None = None,
                since: datetime | None = None) -> list[Series]:
    """Every stored metric as a time series per host, oldest first; `host` and `metric` are glob patterns."""
    query = (select(HOST_RUNS.c.host, HOST_RUNS.c.observed_at, METRICS.c.name, METRICS.c.value)
             .join(METRICS, METRICS.c.host_run_id == HOST_RUNS.c.id)
             .order_by(HOST_RUNS.c.host, METRICS.c.name, HOST_RUNS.c.observed_at))
    if host and not any(ch in host for ch in "*?["):
        query = query.where(HOST_RUNS.c.host == host)
    if since is not None:
        query = query.where(HOST_RUNS.c.observed_at >= _utc_naive(since))
    grouped: dict[tuple[str, str], list[Point]] = {}
    with _engine(url) as engine, engine.connect() as conn:
        for row in conn.execute(query):
            if host and not fnmatch.fnmatchcase(row.host, host):
                continue
            if metric and not fnmatch.fnmatchcase(row.name, metric):
                continue
            grouped.setdefault((row.host, row.name), []).append(Point(row.observed_at, float(row.value)))
    return [Series(h, m, tuple(points)) for (h, m), points in sorted(grouped.items())]


def latest_report(url: str | None = None, *, host: str | None = None) -> ScanReport | None:
    """The most recently stored run (that scanned `host`, when given)."""
    query = select(RUNS.c.report).order_by(RUNS.c.stored_at.desc(), RUNS.c.id.desc()).limit(1)
    if host:
        query = query.where(RUNS.c.id.in_(select(HOST_RUNS.c.run_id).where(HOST_RUNS.c.host == host)))
    with _engine(url) as engine, engine.connect() as conn:
        text = conn.execute(query).scalar()
    return ScanReport.model_validate_json(text) if text else None
