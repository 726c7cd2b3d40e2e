"""`stackrx trend`: stored metrics over time, and when each limit will be reached."""

from __future__ import annotations

import sys

import click

from stackrx.commands.report import FORMATS, SEVERITIES, die, findings_exit_code, write_output


@click.command("trend")
@click.option("--host", help="Only hosts matching this glob.")
@click.option("--metric", help="Only metrics matching this glob (e.g. 'fs_used_bytes:*', 'conntrack*').")
@click.option("--store", "store_url", metavar="URL",
              help="History database (SQLAlchemy URL). Default: SQLite under $XDG_DATA_HOME/stackrx.")
@click.option("--window", "window_days", type=click.IntRange(2, 3650), default=30, show_default=True,
              metavar="DAYS", help="Fit the forecast over the last DAYS of each series.")
@click.option("--horizon", "horizon_days", type=click.IntRange(1, 3650), default=45, show_default=True,
              metavar="DAYS", help="Report a forecast as a finding when the limit is this close.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="high", show_default=True,
              help="Exit 3 when a forecast finding is at or above this severity.")
def trend_cmd(host: str | None, metric: str | None, store_url: str | None, window_days: int,
              horizon_days: int, fmt: str, output: str | None, fail_on: str) -> None:
    """Show each stored metric over time and forecast when a limit is reached.

    Runs are stored by `stackrx scan --store`. Forecasts (conntrack table, filesystem bytes, inodes) use
    a Theil–Sen robust line over the window, with the 95% range of the date from the slope's confidence
    interval; they become findings NET-T01, STO-T01 and STO-T02.

    \b
    Exit codes: 0 nothing at or above --fail-on, 3 a forecast is, 1 usage or tool error.
    """
    from stackrx.errors import UsageError
    from stackrx.history.trend import render_trend_text, run_trend
    from stackrx.report.formats import render

    try:
        report, data = run_trend(store_url, host=host, metric=metric, window_days=window_days,
                                 horizon_days=horizon_days)
        text = render_trend_text(report, data) if fmt == "table" else render(report, fmt, trend=data)
    except UsageError as exc:
        die(str(exc))
    write_output(text, output)
    sys.exit(findings_exit_code(report, fail_on))
