"""Command line. Heavy imports (pydantic, rich, the checks) happen inside commands so `--help` is instant."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from stackrx.commands.report import FORMATS as REPORT_FORMATS
from stackrx.commands.report import SEVERITIES

if TYPE_CHECKING:
    from stackrx.models import ScanReport

EXIT_OK, EXIT_ERROR, EXIT_FINDINGS = 0, 1, 3

EPILOG = """\b
Targets:
  (none)             this host, live and read-only
  DIR                a sosreport directory, or a Kolla host tree (etc/kolla/...)
  FILE.tar[.gz|.xz|.bz2]  a sosreport tarball, unpacked safely into a private temp dir
\b
Exit codes: 0 nothing at or above --fail-on, 3 findings at or above it, 1 usage or tool error.
\b
Examples:
  stackrx scan --demo                      the bundled demo cloud (seven nodes, planted faults)
  stackrx scan sosreport-compute4.tar.xz   one node's sosreport
  stackrx scan --only net,SEC-001 --format json --output findings.json
  stackrx checks show NET-001              the story, the risk and the fix behind a check
"""


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _die(message: str) -> NoReturn:
    click.echo(f"stackrx: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="stackrx", prog_name="stackrx")
@click.option("--debug", is_flag=True, help="Show tracebacks for tool errors and failing checks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """stackrx: an operations doctor for OpenStack nodes.

    It reads a live host, a sosreport (directory or tarball) or a Kolla tree, runs checks distilled from
    real incidents (conntrack tables filling, double-tagged VLANs, image caches deleting shared base
    files, runaway console logs, rogue L3HA masters...) and reports each finding with evidence and a fix
    marked SAFE or DESTRUCTIVE. It only reads: nothing on the host is changed.
    """
    ctx.obj = {"debug": debug}


@cli.command(epilog=EPILOG)
@click.argument("target", required=False)
@click.option("--demo", is_flag=True, help="Scan the bundled demo cloud instead of TARGET.")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="table", show_default=True,
              help="prometheus writes a node_exporter textfile; html is one offline page.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write the report here.")
@click.option("--baseline", type=click.Path(dir_okay=False, exists=True),
              help="A previous JSON report: show only findings that are not in it.")
@click.option("--mute", "mute_file", type=click.Path(dir_okay=False, exists=True),
              help="YAML mute list (check/host/resource patterns, reason, expiry): listed as muted, not counted.")
@click.option("--store", "store_url", is_flag=False, flag_value="", default=None, metavar="[URL]",
              help="Keep this run in the history (default SQLite in the data dir; or an SQLAlchemy URL) and add "
                   "forecast findings.")
@click.option("--severity", type=click.Choice(SEVERITIES), default="low", show_default=True,
              help="Show findings at or above this severity.")
@click.option("--only", multiple=True, metavar="IDS", help="Run only these check ids or areas (comma-separated).")
@click.option("--skip", multiple=True, metavar="IDS", help="Skip these check ids or areas (comma-separated).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="high", show_default=True,
              help="Exit 3 when a finding is at or above this severity.")
@click.option("--log-window", type=click.IntRange(1, 3650), default=7, show_default=True, metavar="DAYS",
              help="How far back from the collection time log lines count.")
@click.option("--all", "show_all", is_flag=True, help="Also list passed and skipped checks in the table.")
@click.pass_context
def scan(ctx: click.Context, target: str | None, demo: bool, fmt: str, output: str | None, baseline: str | None,
         mute_file: str | None, store_url: str | None, severity: str, only: tuple[str, ...], skip: tuple[str, ...],
         fail_on: str, log_window: int, show_all: bool) -> None:
    """Scan a node (or the demo cloud) and report findings with evidence."""
    from stackrx.errors import UsageError
    from stackrx.runner import run_scan

    if demo and target:
        _die("give either TARGET or --demo, not both")
    try:
        report = run_scan(target, demo=demo, only=_split(only), skip=_split(skip), log_window_days=log_window,
                          debug=ctx.obj["debug"], progress=sys.stderr.isatty() and fmt == "table")
        report = postprocess(report, baseline=baseline, mute_file=mute_file, store_url=store_url)
    except UsageError as exc:
        _die(str(exc))
    _emit(report, fmt, output, severity, show_all)
    sys.exit(exit_code(report, fail_on))


def postprocess(report: ScanReport, *, baseline: str | None, mute_file: str | None,
                store_url: str | None) -> ScanReport:
    """History first (so it keeps everything), then forecasts, baseline and mutes."""
    if store_url is not None:
        from stackrx.history.store import store_run
        from stackrx.history.trend import forecast_results

        store_run(report, store_url or None)
        forecasts = forecast_results(store_url or None, [h.name for h in report.hosts])
        report = report.model_copy(update={"results": [*report.results, *forecasts]})
    if baseline:
        from stackrx.report.baseline import apply_baseline

        report = apply_baseline(report, baseline)
    if mute_file:
        from stackrx.report.mute import apply_mutes

        report = apply_mutes(report, mute_file)
    return report


def exit_code(report: ScanReport, fail_on: str) -> int:
    from stackrx.models import Severity, Status

    threshold = Severity(fail_on).rank
    for r in report.results:
        if r.status in (Status.fail, Status.warn) and r.severity.rank >= threshold and not r.muted:
            return EXIT_FINDINGS
    return EXIT_OK


def _emit(report: ScanReport, fmt: str, output: str | None, severity: str, show_all: bool) -> None:
    if fmt == "table" and not output:
        from stackrx.report.table import render_table

        render_table(report, sys.stdout, min_severity=severity, show_all=show_all, color=None)
        return
    from stackrx.commands.report import write_output
    from stackrx.report.formats import render

    write_output(render(report, fmt, min_severity=severity, show_all=show_all), output)


@cli.group()
def checks() -> None:
    """The check catalogue: what each check looks for, and why."""


@checks.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def checks_list(fmt: str) -> None:
    """List every registered check, grouped by area."""
    import json

    from stackrx.engine import check_sources, load_all_checks

    registry = load_all_checks()
    if fmt == "json":
        sources = check_sources()
        rows = [{**reg.meta.model_dump(mode="json"), "code": sources[cid]} for cid, reg in sorted(registry.items())]
        click.echo(json.dumps(rows, indent=2))
        return
    from stackrx.report.table import render_check_list

    render_check_list([reg.meta for reg in registry.values()], sys.stdout)


@checks.command("show")
@click.argument("check_id")
def checks_show(check_id: str) -> None:
    """Show the tale, the risk, what is read on each target kind, and the remediation."""
    from stackrx.engine import check_sources, load_all_checks
    from stackrx.report.table import render_check

    registry = load_all_checks()
    reg = registry.get(check_id.upper())
    if reg is None:
        close = [c for c in sorted(registry) if c.split("-")[0] == check_id.upper().split("-")[0]]
        hint = f" (did you mean {', '.join(close[:5])}?)" if close else " (see `stackrx checks list`)"
        _die(f"no check {check_id!r}{hint}")
    render_check(reg.meta, sys.stdout, check_sources()[reg.meta.id])


@checks.command("docs")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if --output differs from what would be written.")
def checks_docs(output: str | None, check_only: bool) -> None:
    """Generate the Markdown catalogue (docs/checks.md) from the checks' metadata."""
    from stackrx.engine import check_sources, load_all_checks
    from stackrx.report.catalogue_doc import render_markdown

    text = render_markdown([reg.meta for reg in load_all_checks().values()], check_sources())
    if check_only:
        if not output:
            _die("--check needs --output FILE")
        current = Path(output).read_text() if Path(output).exists() else ""
        if current != text:
            _die(f"{output} is stale: run `stackrx checks docs --output {output}`")
        return
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=False)


@cli.command()
def schema() -> None:
    """Print the JSON schema of the findings report."""
    import json

    from stackrx.models import ScanReport

    click.echo(json.dumps(ScanReport.model_json_schema(), indent=2))


@cli.command("demo")
@click.argument("dest", type=click.Path(file_okay=False))
def demo_cmd(dest: str) -> None:
    """Write the demo cloud's sosreport trees into DEST (one directory per node)."""
    from stackrx.demo.cloud import build_demo_cloud

    for node in build_demo_cloud(Path(dest)):
        click.echo(str(node))


def _add_subcommands() -> None:
    from stackrx.commands.cloud import cloud
    from stackrx.commands.collect import collect_cmd
    from stackrx.commands.db import db
    from stackrx.commands.diff import diff_cmd
    from stackrx.commands.fix import fix_cmd
    from stackrx.commands.fleet import fleet
    from stackrx.commands.report import report_cmd
    from stackrx.commands.trend import trend_cmd

    for command in (fleet, cloud, db, report_cmd, diff_cmd, trend_cmd, fix_cmd, collect_cmd):
        cli.add_command(command)


_add_subcommands()


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="stackrx", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("stackrx: interrupted", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        # click's own usage errors are exit 2; ours are 1 everywhere.
        exc.show()
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("stackrx: interrupted", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if "--debug" in (argv if argv is not None else sys.argv):
            raise
        _die(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
