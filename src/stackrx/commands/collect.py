"""`stackrx collect --kolla`: bundle what sos misses on a Kolla-Ansible host, for `stackrx scan BUNDLE` later."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stackrx.collect import DEFAULT_MAX_LOG_BYTES
from stackrx.commands.report import die

EPILOG = """\b
The bundle holds RAW configs, passwords included (as a sosreport does): it is created with mode 0600.
Keep it private and delete it when done.
\b
Collected (in sosreport layout, so `stackrx scan BUNDLE` reads it like one):
  /etc/kolla, the kolla_logs volume (docker or podman; each log capped at --max-log-bytes, tail kept),
  MariaDB grastate.dat/gvwstate.dat, neutron's L3HA ha_confs, docker|podman ps -a and inspect of every
  container, ovs-vsctl, ip netns (and ip -d address in each namespace), ip -d address, the collection time.
Commands come from a fixed list, run without a shell and with a timeout; a missing docker, podman or
ovs-vsctl is noted as not collected. Nothing on the host is changed. Run it as root.
\b
Examples:
  sudo stackrx collect --kolla
  sudo stackrx collect --kolla --output /var/tmp/compute1-kolla.tar.xz && stackrx scan /var/tmp/compute1-kolla.tar.xz
"""


@click.command("collect", epilog=EPILOG)
@click.option("--kolla", is_flag=True, help="Collect the Kolla side bundle (the only kind so far).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="FILE.tar.xz",
              help="Where to write it (.tar.xz, .tar.gz, .tar.bz2 or .tar; never overwritten). "
                   "Default: ./kolla-bundle-<host>-<time>.tar.xz")
@click.option("--root", type=click.Path(file_okay=False, exists=True), default="/", show_default=True,
              help="Read files under this directory instead of / (commands still run on this host).")
@click.option("--max-log-bytes", type=click.IntRange(min=4096), default=DEFAULT_MAX_LOG_BYTES, show_default=True,
              metavar="BYTES", help="Keep only the last BYTES of each larger log, as sos's .tailed files do.")
def collect_cmd(kolla: bool, output: str | None, root: str, max_log_bytes: int) -> None:
    """Write a tarball of what a node scan needs and sos does not collect."""
    from datetime import UTC, datetime

    from stackrx.collect.kolla import collect_kolla, default_output
    from stackrx.errors import UsageError

    if not kolla:
        die("say what to collect: --kolla (the Kolla-Ansible side bundle) is the only kind so far")
    now = datetime.now(UTC)
    target = Path(output) if output else default_output(now)
    progress = (lambda msg: click.echo(f"stackrx: {msg}", err=True)) if sys.stderr.isatty() else None
    try:
        summary = collect_kolla(target, Path(root), max_log_bytes=max_log_bytes, progress=progress, now=now)
    except UsageError as exc:
        die(str(exc))
    except OSError as exc:
        die(f"{target}: {exc.strerror or exc}")
    parts = [f"{summary.count('collected')} items", f"{summary.count('tailed')} logs tailed",
             f"{summary.count('skipped')} skipped"]
    click.echo(f"stackrx: wrote {target} (mode 0600, holds raw configs): {', '.join(parts)}", err=True)
    for item in summary.not_collected:
        click.echo(f"stackrx: not collected: {item.what}: {item.detail}", err=True)
    click.echo(str(target))
