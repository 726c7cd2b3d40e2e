"""`stackrx fleet TARGETS...`: many nodes at once, and the checks only visible across them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from stackrx.commands.report import FORMATS, SEVERITIES

if TYPE_CHECKING:
    from stackrx.models import ScanReport

EPILOG = """\b
Targets (any mix, several allowed):
  INVENTORY          Ansible inventory (INI, YAML, directory, script), read with `ansible-inventory --list`:
                     ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file,
                     ansible_become (sudo -n), ansible_connection=local (this host, live)
  HOSTS.txt          one [user@]host[:port] per line
  DIR                sosreport directories / tarballs / trees saved by --save, and/or the JSON results of
                     `stackrx scan --format json` run on each node (contrib/ansible does that)
\b
SSH: one connection per host; only the fixed command allow-list runs, files are read over SFTP.
Host keys must be in known_hosts (--known-hosts FILE, else ~/.ssh/known_hosts); --accept-new-host-keys
trusts hosts that have no entry yet and records them; a changed key is always refused. Keys come from the
agent, ~/.ssh or -i. An unreachable or hanging host is reported as that host's error (FLEET-HOST).
\b
Exit codes: 0 nothing at or above --fail-on, 3 findings (or hosts not collected) at or above it,
1 usage or tool error, or interrupted (the report of what was collected is still written).
\b
Examples:
  stackrx fleet inventory.ini --save evidence/ --format json -o fleet.json
  stackrx fleet evidence/                       re-analyse saved trees offline
  stackrx fleet results/ --only HA-F01,OVN-F01   cross-node checks over per-node JSON results
"""


@click.command("fleet", epilog=EPILOG)
@click.argument("targets", nargs=-1, required=True, metavar="TARGETS...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write the report here.")
@click.option("--severity", type=click.Choice(SEVERITIES), default="low", show_default=True,
              help="Show findings at or above this severity.")
@click.option("--only", multiple=True, metavar="IDS", help="Run only these check ids or areas (comma-separated).")
@click.option("--skip", multiple=True, metavar="IDS", help="Skip these check ids or areas (comma-separated).")
@click.option("--limit", multiple=True, metavar="PATTERNS",
              help="Only inventory hosts or groups matching (comma-separated, wildcards, !x excludes).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="high", show_default=True,
              help="Exit 3 when a finding, or a host that could not be collected (high), is at or above this.")
@click.option("--log-window", type=click.IntRange(1, 3650), default=7, show_default=True, metavar="DAYS",
              help="How far back from each node's collection time log lines count.")
@click.option("--all", "show_all", is_flag=True, help="Also list passed and skipped checks in the table.")
@click.option("--parallel", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Hosts collected over SSH at the same time.")
@click.option("--workers", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Processes running the per-node checks (0: one per CPU).")
@click.option("--save", type=click.Path(file_okay=False), help="Keep each SSH host's evidence in DIR/<host>/ "
              "(a sosreport-shaped tree; `stackrx fleet DIR` re-analyses it).")
@click.option("--connect-timeout", type=click.FloatRange(0.5, 600), default=10.0, show_default=True,
              metavar="SECONDS", help="TCP connect and SSH login, per host.")
@click.option("--command-timeout", type=click.FloatRange(0.5, 3600), default=30.0, show_default=True,
              metavar="SECONDS", help="Each remote command.")
@click.option("--host-timeout", type=click.FloatRange(1, 86400), default=600.0, show_default=True,
              metavar="SECONDS", help="Everything one host takes; past it the host is reported as timed out.")
@click.option("-i", "--identity", "identities", multiple=True, type=click.Path(dir_okay=False, exists=True),
              help="Private key file (repeatable); default: the SSH agent and ~/.ssh/id_*.")
@click.option("--known-hosts", type=click.Path(dir_okay=False), help="known_hosts file (default ~/.ssh/known_hosts).")
@click.option("--accept-new-host-keys", is_flag=True,
              help="Trust hosts with no known_hosts entry and record their keys (changed keys stay refused).")
@click.option("--sudo", is_flag=True, help="Run commands and read unreadable files with `sudo -n` (NOPASSWD).")
@click.pass_context
def fleet(ctx: click.Context, targets: tuple[str, ...], fmt: str, output: str | None, severity: str,
          only: tuple[str, ...], skip: tuple[str, ...], limit: tuple[str, ...], fail_on: str, log_window: int,
          show_all: bool, parallel: int, workers: int, save: str | None, connect_timeout: float,
          command_timeout: float, host_timeout: float, identities: tuple[str, ...], known_hosts: str | None,
          accept_new_host_keys: bool, sudo: bool) -> None:
    """Scan many nodes together: per-node checks on each, then the cross-node checks (split L3HA masters,
    MTU drift, shared image caches, duplicate OVN chassis, Galera disagreement, console and physnet
    consistency, conntrack drift)."""
    from pathlib import Path

    from stackrx.cli import _die, _split
    from stackrx.errors import UsageError
    from stackrx.fleet.collect import CollectOptions
    from stackrx.fleet.progress import LiveProgress, Tracker
    from stackrx.fleet.runner import FleetOptions, run_fleet

    debug = bool((ctx.obj or {}).get("debug", False))
    options = FleetOptions(
        only=tuple(_split(only)), skip=tuple(_split(skip)), limit=tuple(_split(limit)),
        log_window_days=log_window, debug=debug, workers=workers, parallel=parallel,
        save=Path(save) if save else None,
        collect=CollectOptions(connect_timeout=connect_timeout, command_timeout=command_timeout,
                               host_timeout=host_timeout, known_hosts=known_hosts,
                               accept_new_host_keys=accept_new_host_keys, identity_files=identities, sudo=sudo))
    tracker = Tracker()
    try:
        with LiveProgress(tracker, enabled=sys.stderr.isatty()):
            run = run_fleet(list(targets), options, tracker)
    except UsageError as exc:
        _die(str(exc))
    _emit(run.report, fmt, output, severity, show_all)
    if run.interrupted:
        done = len(run.report.hosts) - len(run.uncollected)
        click.echo(f"stackrx: interrupted: the report covers {done} of {len(run.report.hosts)} host(s)", err=True)
        sys.exit(1)
    sys.exit(fleet_exit_code(run.report, fail_on))


def fleet_exit_code(report: ScanReport, fail_on: str) -> int:
    """3 when a finding, or a host that could not be collected (FLEET-HOST error), is at or above fail_on."""
    from stackrx.fleet.analyse import HOST_CHECK
    from stackrx.models import Severity, Status

    threshold = Severity(fail_on).rank
    for r in report.results:
        counted = r.status in (Status.fail, Status.warn) or (r.status is Status.error and r.check_id == HOST_CHECK)
        if counted and not r.muted and r.severity.rank >= threshold:
            return 3
    return 0


def _emit(report: ScanReport, fmt: str, output: str | None, severity: str, show_all: bool) -> None:
    if fmt == "table":
        from stackrx.fleet.table import render_fleet_table

        if output:
            with open(output, "w") as fh:
                render_fleet_table(report, fh, min_severity=severity, show_all=show_all, color=False)
        else:
            render_fleet_table(report, sys.stdout, min_severity=severity, show_all=show_all, color=None)
        return
    from stackrx.report.formats import render

    text = render(report, fmt, min_severity=severity, show_all=show_all)
    if output:
        from stackrx.commands.report import write_output

        write_output(text, output)
    else:
        click.echo(text, nl=False)
