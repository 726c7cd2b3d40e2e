"""One database server reached through a SQLAlchemy URL, used strictly read-only, and its host view.

Safety rules every statement obeys (a doctor must not hurt a production database):
- the session is `READ ONLY` (writes fail with error 1792) and runs in autocommit, so no read view or
  metadata lock outlives one statement;
- every statement has a server-side time limit (`max_statement_time` on MariaDB, `max_execution_time` on
  MySQL) plus a client read timeout as a backstop, and `lock_wait_timeout` is short so a pending DDL makes us
  give up instead of queueing other sessions behind us.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from stackrx.errors import UsageError
from stackrx.redact import redact
from stackrx.sources.base import NoFilesView

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import URL, Connection, Engine

T = TypeVar("T")

# MySQL client / server error numbers (mysqld_error.h, errmsg.h) the classification below relies on.
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}
_DENIED = {1044, 1045, 1142, 1143, 1227, 1698}
_TIMEOUT = {1969, 3024}  # MariaDB ER_STATEMENT_TIMEOUT, MySQL ER_QUERY_TIMEOUT


@dataclass(frozen=True)
class DbOptions:
    """How hard the `db` checks may lean on a server, and the archive plan's cut-off."""

    count: str = "auto"  # auto | exact | estimate
    exact_limit: int = 1_000_000  # auto: tables estimated above this many rows are sampled, not scanned
    statement_timeout: float = 10.0  # seconds, per statement, enforced by the server
    sample_windows: int = 20
    sample_rows: int = 20_000
    older_than_days: int = 90
    before: date | None = None  # explicit archive cut-off; overrides older_than_days
    kolla: bool = False
    follow_cells: bool = True


class DbError(Exception):
    def __init__(self, server: str, reason: str, code: int | None = None) -> None:
        super().__init__(f"{server}: {reason}")
        self.server = server
        self.reason = reason
        self.code = code


class DbUnreachable(DbError):
    """No connection (refused, unknown host, lost): the server may be down."""


class DbDenied(DbError):
    """Credentials or privileges refused: an operator problem, not a database finding."""


class StatementTimeout(DbError):
    """A statement hit the server-side time limit (and was aborted by the server)."""


def parse_url(url: str) -> URL:
    """A MySQL/MariaDB SQLAlchemy URL, with PyMySQL as the driver whatever driver nova.conf named."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(f"not a SQLAlchemy URL: {redact(url)} ({exc})") from None
    backend = parsed.get_backend_name()
    if backend not in ("mysql", "mariadb"):
        raise UsageError(f"{redact(url)}: only MySQL / MariaDB URLs are supported (got {backend!r})")
    return parsed.set(drivername=f"{backend}+pymysql")


def server_label(parsed: URL) -> str:
    socket = parsed.query.get("unix_socket")
    if socket and not parsed.host:
        return f"localhost:{socket if isinstance(socket, str) else socket[0]}"
    return f"{parsed.host or 'localhost'}:{parsed.port or 3306}"


@dataclass
class DbServer:
    url: str
    options: DbOptions = field(default_factory=DbOptions)
    flavor: str = ""  # "mariadb" or "mysql", known after connecting
    version: str = ""
    timeout_mode: str = ""
    _engine: Engine | None = None
    _conn: Connection | None = None
    _failure: DbError | None = None

    def __post_init__(self) -> None:
        self.parsed = parse_url(self.url)
        self.label = server_label(self.parsed)
        self.database = self.parsed.database or ""

    @property
    def url_redacted(self) -> str:
        return redact(self.parsed.render_as_string(hide_password=False))

    def same_server(self, other: URL) -> bool:
        return server_label(other) == self.label

    # -- connection ---------------------------------------------------------------
    def _connect(self) -> Connection:
        if self._conn is not None:
            return self._conn
        if self._failure is not None:
            raise self._failure
        from sqlalchemy import create_engine
        from sqlalchemy.exc import DBAPIError
        from sqlalchemy.pool import NullPool

        opts = self.options
        self._engine = create_engine(
            self.parsed, poolclass=NullPool, isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 5, "read_timeout": int(opts.statement_timeout) + 15,
                          "write_timeout": 30, "charset": "utf8mb4"},
        )
        try:
            conn = self._engine.connect()
        except DBAPIError as exc:
            self._failure = self._classify(exc, connecting=True)
            raise self._failure from None
        self._conn = conn
        version = str(self._scalar("SELECT VERSION()"))
        self.version = version
        self.flavor = "mariadb" if "mariadb" in version.lower() else "mysql"
        self._limit_session()
        return conn

    def _limit_session(self) -> None:
        timeout = max(self.options.statement_timeout, 0.1)
        try:
            if self.flavor == "mariadb":
                self._exec("SET SESSION max_statement_time = %s", (timeout,))
                self.timeout_mode = f"max_statement_time={timeout:g}s"
            else:
                self._exec("SET SESSION max_execution_time = %s", (int(timeout * 1000),))
                self.timeout_mode = f"max_execution_time={int(timeout * 1000)}ms"
        except DbError:
            # Servers older than MariaDB 10.1 / MySQL 5.7.8 have no statement limit: the client read
            # timeout still ends our wait, the server finishes the statement on its own.
            self.timeout_mode = "client read timeout only"
        self._exec("SET SESSION lock_wait_timeout = %s", (max(1, int(timeout)),))
        self._exec("SET SESSION TRANSACTION READ ONLY", ())

    def _exec(self, sql: str, params: tuple[Any, ...]) -> None:
        self.rows(sql, params)

    def _scalar(self, sql: str) -> Any:
        rows = self.rows(sql)
        return rows[0][0] if rows else None

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; `%s` placeholders, a literal percent sign must be written `%%`."""
        from sqlalchemy.exc import DBAPIError

        conn = self._connect()
        try:
            result = conn.exec_driver_sql(sql, params)
            return [tuple(r) for r in result.fetchall()] if result.returns_rows else []
        except DBAPIError as exc:
            err = self._classify(exc, connecting=False)
            if isinstance(err, DbUnreachable | StatementTimeout) and exc.connection_invalidated:
                self._drop()
            raise err from None

    def _classify(self, exc: Exception, *, connecting: bool) -> DbError:
        orig = getattr(exc, "orig", None)
        args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
        code = args[0] if args and isinstance(args[0], int) else None
        reason = str(args[1]) if len(args) > 1 else str(orig or exc)
        if code in _TIMEOUT or (code == 2013 and not connecting and "timed out" in reason):
            return StatementTimeout(self.label, f"statement time limit reached ({self.timeout_mode})", code)
        if code in _UNREACHABLE:
            return DbUnreachable(self.label, f"cannot connect: {reason}" if connecting else reason, code)
        if code in _DENIED:
            return DbDenied(self.label, reason, code)
        return DbError(self.label, reason, code)

    def _drop(self) -> None:
        if self._conn is not None:
            # A dead socket may refuse even to close; it is discarded anyway.
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        self._drop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class DbView(NoFilesView):
    """A database server seen as a host: no files, no commands; checks reach it through `server`."""

    kind = "db"

    def __init__(self, server: DbServer, *, found_via: str = "") -> None:
        super().__init__(server.url_redacted)
        self.server = server
        self.found_via = found_via
        self.cell_names: dict[str, str] = {}  # schema on this server -> nova cell name
        self.counted_on: str | None = None  # another member of the same Galera cluster counts the rows
        self.notes: list[str] = []  # what discovery could not follow (templated cell URLs...)
        self._started = datetime.now(UTC)
        self._once: dict[str, Any] = {}

    @property
    def options(self) -> DbOptions:
        return self.server.options

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` at most once per run on this server. The checks, the archive plan and the report summary
        need the same inventory and counts; computing them again would scan the biggest tables a second time."""
        if key not in self._once:
            self._once[key] = compute()
        return cast(T, self._once[key])

    def hostname(self) -> str:
        return self.server.label

    def collected_at(self) -> datetime | None:
        return self._started

    def close(self) -> None:
        self.server.close()


class ClusterView(NoFilesView):
    """All the member URLs given for one run, for the cross-member Galera agreement check."""

    kind = "db"

    def __init__(self, members: list[DbView]) -> None:
        super().__init__(", ".join(m.target for m in members))
        self.members = members

    def hostname(self) -> str:
        return "galera:" + ",".join(m.hostname() for m in self.members)

    def collected_at(self) -> datetime | None:
        times = [t for m in self.members if (t := m.collected_at()) is not None]
        return min(times) if times else None
