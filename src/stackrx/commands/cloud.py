"""`stackrx cloud`: the API checks against one OpenStack cloud (clouds.yaml entry or OS_* variables)."""

from __future__ import annotations

import sys

import click

from stackrx.commands.report import SEVERITIES

EPILOG = """\b
Credentials: the usual openstacksdk configuration. --os-cloud NAME (or OS_CLOUD) picks an entry of
clouds.yaml (./clouds.yaml, ~/.config/openstack/, /etc/openstack/, or OS_CLIENT_CONFIG_FILE); without
it the OS_* variables (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ...) are used. Admin
credentials see everything; with less, checks whose calls are refused are reported as skipped.
Only GET requests are sent; endpoint probes send no token.
\b
Examples:
  stackrx cloud --os-cloud prod
  stackrx cloud --only STO-001,ha --format json -o cloud.json
  stackrx cloud --service-user object-store=rgw-keystone
"""


def _service_users(values: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    users: dict[str, list[str]] = {}
    for value in values:
        stype, sep, name = value.partition("=")
        if not sep or not stype.strip() or not name.strip():
            raise click.BadParameter(f"{value!r} is not TYPE=NAME", param_hint="--service-user")
        users.setdefault(stype.strip(), []).append(name.strip())
    return {k: tuple(v) for k, v in users.items()}


@click.command("cloud", epilog=EPILOG)
@click.option("--os-cloud", "os_cloud", envvar="OS_CLOUD", metavar="NAME",
              help="clouds.yaml entry to use (default: $OS_CLOUD, else the OS_* variables).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write the report here.")
@click.option("--severity", type=click.Choice(SEVERITIES), default="low", show_default=True,
              help="Show findings at or above this severity.")
@click.option("--only", multiple=True, metavar="IDS", help="Run only these check ids or areas (comma-separated).")
@click.option("--skip", multiple=True, metavar="IDS", help="Skip these check ids or areas (comma-separated).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="high", show_default=True,
              help="Exit 3 when a finding is at or above this severity.")
@click.option("--all", "show_all", is_flag=True, help="Also list passed and skipped checks in the table.")
@click.option("--timeout", type=click.FloatRange(1, 600), default=30.0, show_default=True, metavar="SECONDS",
              help="Timeout of each API request.")
@click.option("--probe-timeout", type=click.FloatRange(0.2, 60), default=3.0, show_default=True,
              metavar="SECONDS", help="Timeout of each endpoint probe (TCP connect, then GET).")
@click.option("--stale-days", type=click.IntRange(1, 3650), default=30, show_default=True, metavar="DAYS",
              help="A down agent/service silent longer than this is reported as a leftover record (low).")
@click.option("--service-user", "service_user", multiple=True, metavar="TYPE=NAME",
              help="Keystone user expected for a catalog service type (UPG-004), e.g. object-store=ceph_rgw.")
@click.pass_context
def cloud(ctx: click.Context, os_cloud: str | None, fmt: str, output: str | None, severity: str,
          only: tuple[str, ...], skip: tuple[str, ...], fail_on: str, show_all: bool, timeout: float,
          probe_timeout: float, stale_days: int, service_user: tuple[str, ...]) -> None:
    """Check a cloud through its APIs: endpoints, L3HA routers, agents, services, images, service users."""
    from stackrx.cli import _emit, _split, exit_code
    from stackrx.cloud.api.runner import run_cloud
    from stackrx.cloud.api.view import CloudError, CloudOptions, quiet_libraries
    from stackrx.errors import UsageError
    from stackrx.redact import redact

    root = ctx.find_root().obj
    debug = bool(root.get("debug")) if isinstance(root, dict) else False
    if not debug:
        quiet_libraries()
    options = CloudOptions(cloud=os_cloud or None, api_timeout=timeout, probe_timeout=probe_timeout,
                           stale_days=stale_days, service_users=_service_users(service_user))
    try:
        report = run_cloud(options, only=_split(only), skip=_split(skip), debug=debug)
    except (UsageError, CloudError) as exc:
        click.echo(f"stackrx: error: {redact(str(exc))}", err=True)
        sys.exit(1)
    _emit(report, fmt, output, severity, show_all)
    sys.exit(exit_code(report, fail_on))
