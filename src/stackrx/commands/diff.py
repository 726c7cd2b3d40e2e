"""`stackrx diff OLD.json NEW.json`: new, fixed and changed findings between two runs."""

from __future__ import annotations

import sys

import click

from stackrx.commands.report import EXIT_FINDINGS, SEVERITIES, die, write_output


@click.command("diff")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
@click.option("--mute", "mute_file", type=click.Path(dir_okay=False, exists=True),
              help="YAML mute list applied to both reports: muted new findings do not count.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="high", show_default=True,
              help="Exit 3 when a new unmuted finding is at or above this severity.")
def diff_cmd(old: str, new: str, fmt: str, output: str | None, mute_file: str | None, fail_on: str) -> None:
    """Compare two JSON reports by finding key (check, host, resource).

    A finding missing from NEW counts as fixed only when NEW ran that check on that host; otherwise it
    is listed as not re-checked.

    \b
    Exit codes: 0 no new finding at or above --fail-on, 3 there is one, 1 usage or tool error.
    """
    from stackrx.errors import UsageError
    from stackrx.report.baseline import load_report
    from stackrx.report.diff import diff_reports, render_diff_json, render_diff_text
    from stackrx.report.mute import apply_mutes

    try:
        before, after = load_report(old), load_report(new)
        if mute_file:
            before, after = apply_mutes(before, mute_file), apply_mutes(after, mute_file)
    except UsageError as exc:
        die(str(exc))
    result = diff_reports(before, after)
    write_output(render_diff_json(result) if fmt == "json" else render_diff_text(result), output)
    sys.exit(EXIT_FINDINGS if result.new_at_or_above(fail_on) else 0)
