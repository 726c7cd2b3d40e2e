"""`stackrx report RESULTS.json...`: re-render stored JSON reports in any format (merging several)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from stackrx.models import ScanReport

FORMATS = ("table", "json", "html", "sarif", "junit", "csv", "prometheus")
SEVERITIES = ("info", "low", "medium", "high", "critical")
EXIT_ERROR, EXIT_FINDINGS = 1, 3


def die(message: str) -> NoReturn:
    click.echo(f"stackrx: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def write_output(text: str, output: str | None) -> None:
    """stdout, or FILE replaced atomically (the textfile collector must never read half a file)."""
    if not output:
        click.echo(text, nl=False)
        return
    target = Path(output)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        die(f"cannot write {output}: {exc.strerror or exc}")


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--baseline", type=click.Path(dir_okay=False, exists=True),
              help="A previous JSON report: show only findings that are not in it.")
@click.option("--mute", "mute_file", type=click.Path(dir_okay=False, exists=True),
              help="YAML mute list: matching findings are listed as muted and do not count.")
@click.option("--severity", type=click.Choice(SEVERITIES), default="low", show_default=True,
              help="Table: show findings at or above this. JUnit: fail test cases at or above this.")
@click.option("--all", "show_all", is_flag=True, help="Table: also list passed and skipped checks.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="Exit 3 when an unmuted finding is at or above this severity (default: always exit 0).")
def report_cmd(results: tuple[str, ...], fmt: str, output: str | None, baseline: str | None,
               mute_file: str | None, severity: str, show_all: bool, fail_on: str | None) -> None:
    """Render JSON reports (from `scan --format json`) as HTML, SARIF, JUnit, CSV, Prometheus or a table.

    Several RESULTS files are merged into one fleet view (per-node scans side by side).

    \b
    Examples:
      stackrx report scan.json --format html -o report.html
      stackrx report node-*.json --format sarif -o stackrx.sarif
      stackrx report scan.json --format prometheus -o /var/lib/node_exporter/textfile/stackrx.prom
    """
    from stackrx.errors import UsageError
    from stackrx.report.baseline import apply_baseline, load_report
    from stackrx.report.formats import merge_reports, render
    from stackrx.report.mute import apply_mutes

    try:
        report = merge_reports([load_report(p) for p in results])
        if baseline:
            report = apply_baseline(report, baseline)
        if mute_file:
            report = apply_mutes(report, mute_file)
        text = render(report, fmt, min_severity=severity, show_all=show_all)
    except UsageError as exc:
        die(str(exc))
    write_output(text, output)
    if fail_on is not None:
        sys.exit(findings_exit_code(report, fail_on))


def findings_exit_code(report: ScanReport, fail_on: str) -> int:
    """3 when an unmuted fail/warn finding is at or above `fail_on`, else 0."""
    from stackrx.models import Severity, Status

    rank = Severity(fail_on).rank
    hit = any(r.status in (Status.fail, Status.warn) and not r.muted and r.severity.rank >= rank
              for r in report.results)
    return EXIT_FINDINGS if hit else 0
