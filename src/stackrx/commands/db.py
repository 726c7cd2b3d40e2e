"""`stackrx db URL...`: read-only checks of the OpenStack databases (MySQL / MariaDB / Galera)."""

from __future__ import annotations

import sys
from datetime import date

import click

from stackrx.commands.report import SEVERITIES

EPILOG = """\b
URLs are SQLAlchemy URLs (PyMySQL is used whatever driver is named), e.g. the [api_database]
connection of nova.conf: mysql+pymysql://stackrx:PASS@db1:3306/nova_api. Every schema on the server
is looked at; nova cells are found through nova_api.cell_mappings (cells on other servers are
connected with the URL stored there). Give every Galera member to check their agreement (DB-F01).
\b
Safety: READ ONLY session, server-side statement time limit (--statement-timeout), short
lock_wait_timeout; tables estimated above --exact-limit rows are sampled over primary-key windows
instead of scanned, and every count says whether it is exact or estimated. A user with SELECT on the
OpenStack schemas is enough: CREATE USER stackrx IDENTIFIED BY '...'; GRANT SELECT ON `nova%`.* TO stackrx;
\b
Exit codes: 0 nothing at or above --fail-on, 3 findings at or above it, 1 usage or tool error.
\b
Examples:
  stackrx db mysql+pymysql://stackrx:PASS@db1/nova_api --plan
  stackrx db mysql+pymysql://stackrx:PASS@db1 mysql+pymysql://stackrx:PASS@db2 mysql+pymysql://stackrx:PASS@db3
  stackrx db URL --older-than 180 --kolla --format json --output db.json
"""


@click.command("db", epilog=EPILOG)
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write the report here.")
@click.option("--severity", type=click.Choice(SEVERITIES), default="low", show_default=True,
              help="Show findings at or above this severity.")
@click.option("--only", multiple=True, metavar="IDS", help="Run only these check ids (comma-separated).")
@click.option("--skip", multiple=True, metavar="IDS", help="Skip these check ids (comma-separated).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="high", show_default=True,
              help="Exit 3 when a finding is at or above this severity.")
@click.option("--all", "show_all", is_flag=True, help="Also list passed and skipped checks in the table.")
@click.option("--count", type=click.Choice(["auto", "exact", "estimate"]), default="auto", show_default=True,
              help="auto: exact below --exact-limit rows, sampled above; exact: always scan (time-limited).")
@click.option("--exact-limit", type=click.IntRange(0), default=1_000_000, show_default=True, metavar="ROWS",
              help="Tables estimated above this many rows are sampled in --count auto.")
@click.option("--statement-timeout", type=click.FloatRange(0.1, 3600), default=10.0, show_default=True,
              metavar="SECONDS", help="Server-side limit for every statement.")
@click.option("--older-than", type=click.IntRange(1, 36500), default=90, show_default=True, metavar="DAYS",
              help="Archive plan cut-off: rows soft-deleted more than DAYS ago.")
@click.option("--before", "before", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Archive plan cut-off date (overrides --older-than).")
@click.option("--kolla", is_flag=True, help="Write the plan's commands for Kolla (docker exec nova_api / mariadb).")
@click.option("--no-cells", is_flag=True, help="Do not connect to cell databases on other servers.")
@click.option("--plan", "show_plan", is_flag=True, help="Print the archive plan (rows per table) after the table.")
@click.pass_context
def db(ctx: click.Context, urls: tuple[str, ...], fmt: str, output: str | None, severity: str, only: tuple[str, ...],
       skip: tuple[str, ...], fail_on: str, show_all: bool, count: str, exact_limit: int, statement_timeout: float,
       older_than: int, before: object, kolla: bool, no_cells: bool, show_plan: bool) -> None:
    """Check the service databases: soft-deleted rows and the archive plan, Galera health and agreement."""
    from datetime import datetime

    from stackrx.cli import _die, _emit, _split, exit_code
    from stackrx.cloud.db.runner import run_db
    from stackrx.cloud.db.server import DbOptions
    from stackrx.errors import UsageError

    cut: date | None = before.date() if isinstance(before, datetime) else None
    options = DbOptions(count=count, exact_limit=exact_limit, statement_timeout=statement_timeout,
                        older_than_days=older_than, before=cut, kolla=kolla, follow_cells=not no_cells)
    debug = bool((ctx.obj or {}).get("debug", False))
    try:
        report = run_db(list(urls), options, only=_split(only), skip=_split(skip), debug=debug)
    except UsageError as exc:
        _die(str(exc))
    _emit(report, fmt, output, severity, show_all)
    if show_plan and fmt == "table":
        from stackrx.cloud.db.plan_report import render_plans

        if output:
            with open(output, "a") as fh:
                render_plans(report, fh, color=False)
        else:
            render_plans(report, sys.stdout, color=None)
    sys.exit(exit_code(report, fail_on))
