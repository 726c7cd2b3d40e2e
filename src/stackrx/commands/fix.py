"""`stackrx fix ID`: the prescription for a finding, printed (`--plan`) or applied here (`--apply`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stackrx.commands.report import die

if TYPE_CHECKING:
    from stackrx.models import CheckMeta, HostSummary, Result, ScanReport


@click.command("fix")
@click.argument("check_id", required=False)
@click.option("--host", help="The host the finding is on (default: this host).")
@click.option("--plan", "mode", flag_value="plan", default=True, help="Print the plan (the default).")
@click.option("--apply", "mode", flag_value="apply",
              help="Run the plan's SAFE steps on this host, after printing it. Idempotent.")
@click.option("--yes", is_flag=True, help="With --apply: also run DESTRUCTIVE steps (each after its backup).")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Treat DIR as the host's / (tests, chroots): files, /proc/sys and /sys are read and "
                   "written under it.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, exists=True),
              help="A JSON report to take the finding (and, for another host, its state) from.")
@click.option("--store", "store_url", metavar="URL",
              help="History database to find another host's latest scan in (default: the local one).")
@click.option("--undo", "undo_id", metavar="APPLY_ID", help="Revert every change of one earlier --apply.")
@click.option("--log", "show_log", is_flag=True, help="List the changes --apply made, with their undo ids.")
def fix_cmd(check_id: str | None, host: str | None, mode: str, yes: bool, root: Path | None,
            report_file: str | None, store_url: str | None, undo_id: str | None, show_log: bool) -> None:
    """Print or apply the remediation plan for a finding.

    Each step is SAFE or DESTRUCTIVE and shows its exact commands. --apply changes this host only: it
    runs SAFE steps, skips DESTRUCTIVE ones unless --yes is given (and then runs their backup first),
    and logs every change under $XDG_DATA_HOME/stackrx/changes.jsonl with the command that undoes it.
    Checks without an automated plan print their catalogue remediation; --apply refuses them.

    \b
    Examples:
      stackrx fix NET-001 --plan
      stackrx fix NET-001 --host network-1 --report scan.json
      sudo stackrx fix NET-001 --apply
      stackrx fix --log
      sudo stackrx fix --undo 20261201T090000-1234-ab12
    """
    if show_log:
        _show_log()
        return
    if undo_id:
        _undo(undo_id)
        return
    if not check_id:
        die("give a check id (e.g. `stackrx fix NET-001 --plan`), or --log / --undo APPLY_ID")
    _plan_or_apply(check_id.upper(), host, mode == "apply", yes, root, report_file, store_url)


def _meta(check_id: str) -> CheckMeta:
    from stackrx.engine import load_all_checks

    registry = load_all_checks()
    reg = registry.get(check_id)
    if reg is None:
        close = [c for c in sorted(registry) if c.split("-")[0] == check_id.split("-")[0]]
        die(f"no check {check_id!r}" + (f" (did you mean {', '.join(close[:5])}?)" if close else ""))
    return reg.meta


def _local_hostname() -> str:
    import socket

    return socket.gethostname().strip() or "localhost"


def _find_report(host: str | None, report_file: str | None, store_url: str | None,
                 *, look_in_store: bool) -> tuple[ScanReport | None, str]:
    from stackrx.report.baseline import load_report

    if report_file:
        return load_report(report_file), report_file
    if look_in_store and host and host != _local_hostname():
        from stackrx.history import default_store_url
        from stackrx.history.store import latest_report

        url = store_url or default_store_url()
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            die(f"{host} is not this host and no history store exists: give --report RESULTS.json")
        found = latest_report(url, host=host)
        if found is None:
            die(f"no stored scan of {host}: give --report RESULTS.json")
        return found, f"latest stored scan of {host}"
    return None, ""


def _pick_host(report: ScanReport, check_id: str, host: str | None) -> str:
    from stackrx.models import Status

    if host:
        if host not in {h.name for h in report.hosts} | {r.host for r in report.results}:
            die(f"host {host!r} is not in the report")
        return host
    hit = sorted({r.host for r in report.results if r.check_id == check_id
                  and r.status in (Status.fail, Status.warn)})
    if len(hit) == 1:
        return hit[0]
    if not hit:
        die(f"the report has no {check_id} finding; give --host to plan for a host anyway")
    die(f"{check_id} has findings on {', '.join(hit)}: choose one with --host")


def _plan_or_apply(check_id: str, host: str | None, apply: bool, yes: bool, root: Path | None,
                   report_file: str | None, store_url: str | None) -> None:
    from stackrx.errors import UsageError
    from stackrx.models import Status
    from stackrx.remedy.plan import apply_plan, render_plan
    from stackrx.remedy.registry import PlanRequest, plan_for

    meta = _meta(check_id)
    try:
        # Under --root the host is the tree itself: a stored scan of a same-named host is not it.
        report, report_name = _find_report(host, report_file, store_url, look_in_store=root is None)
    except UsageError as exc:
        die(str(exc))
    findings: list[Result] = []
    summary: HostSummary | None = None
    if report is not None:
        host = _pick_host(report, check_id, host)
        findings = [r for r in report.results if r.check_id == check_id and r.host == host
                    and r.status in (Status.fail, Status.warn)]
        summary = next((h for h in report.hosts if h.name == host), None)
    local = root is not None or not host or host == _local_hostname()
    if root is None and local:
        root = Path("/")
    name = host or (_local_hostname() if root == Path("/") else "test-root")
    if apply and not local:
        die(f"--apply changes this host only, and {name} is not this host ({_local_hostname()}): run "
            f"`stackrx fix {check_id} --apply` on {name}")
    try:
        plan = plan_for(PlanRequest(check_id, name, root if local else None, summary, report_name), meta)
    except UsageError as exc:
        die(str(exc))
    for r in findings:
        click.echo(f"finding: [{r.status.value} {r.severity.value}] {r.host}"
                   + (f" {r.resource}" if r.resource else "") + f": {r.message}")
    if findings:
        click.echo("")
    click.echo(render_plan(plan, root if local else None), nl=False)
    if not apply:
        return
    if not plan.automated:
        die(f"--apply is not implemented for {check_id}: follow the plan above by hand")
    if not plan.applicable:
        die(f"nothing to apply for {check_id} on {name}: see the notes above")
    assert root is not None
    if root == Path("/"):
        import os

        if os.geteuid() != 0:
            die("--apply on the live host writes /etc and /proc/sys: run it as root")
    click.echo("\nApplying" + (" (including DESTRUCTIVE steps: --yes)" if yes else " SAFE steps") + ":")
    outcome = apply_plan(plan, root=root, yes=yes, echo=lambda line: click.echo(f"  {line}"))
    click.echo("")
    if outcome.changes:
        click.echo(f"{len(outcome.changes)} change(s) logged as {outcome.apply_id}; undo with: "
                   f"stackrx fix --undo {outcome.apply_id}")
    else:
        click.echo("nothing changed: the host already matches the plan")
    if outcome.failed is not None:
        sys.exit(1)


def _show_log() -> None:
    from stackrx.remedy.changelog import entries, log_path

    rows = entries()
    if not rows:
        click.echo(f"no change recorded yet ({log_path()})")
        return
    for e in rows:
        tag = (f"undo of {e['undo_of']}" if e.get("undo_of")
               else f"{e['check']} step {e['step']} [{e['kind']}]")
        before = "absent" if e["before"] is None else repr(e["before"].strip()[:40])
        after = "removed" if e["after"] is None else repr(e["after"].strip()[:40])
        click.echo(f"{e['time']}  {e['apply_id']}  {e['host']}  {tag}  {e['path']}: {before} → {after}")
    click.echo(f"\n({log_path()}; revert one run with `stackrx fix --undo APPLY_ID`)")


def _undo(apply_id: str) -> None:
    from stackrx.errors import UsageError
    from stackrx.remedy.changelog import new_apply_id, undo

    try:
        outcome = undo(apply_id, undo_id=new_apply_id())
    except UsageError as exc:
        die(str(exc))
    except OSError as exc:
        die(f"undo failed: {exc}")
    for path in outcome.restored:
        click.echo(f"restored {path}")
    for path in outcome.unchanged:
        click.echo(f"already as before: {path}")
    for note in outcome.conflicts:
        click.echo(f"conflict: {note}", err=True)
    if outcome.conflicts:
        sys.exit(1)
