"""The fleet table: findings grouped by check with the hosts they affect, the hosts' roles, unreachable hosts.

A thousand hosts do not fit one table per host (the node report's layout): here one row per check and status
lists how many hosts and which (the first few), with one example finding.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stackrx.fleet.analyse import HOST_CHECK
from stackrx.fleet.crossnode import FLEET_HOST, hosts_text
from stackrx.models import HostSummary, Result, ScanReport, Severity, Status

_SEV_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
_STATUS_STYLE = {"fail": "bold red", "warn": "yellow", "pass": "green", "skipped": "dim", "error": "bold magenta"}
HOSTS_LISTED = 40
"""Up to this many hosts the table lists each with its roles; above, only the counts per role."""


def roles_of(host: HostSummary) -> list[str]:
    return list((host.facts.get("fleet") or {}).get("roles") or [])


def services_of(host: HostSummary) -> list[str]:
    svc = (host.facts.get("fleet") or {}).get("services") or {}
    return list(svc.get("running") or svc.get("configured") or [])


def _console(out: TextIO, color: bool | None) -> Console:
    return Console(file=out, width=max(110, Console(file=out).width), no_color=color is False,
                   force_terminal=color if color else None, highlight=False, soft_wrap=False)


def _shown(r: Result, min_rank: int, show_all: bool) -> bool:
    if r.muted and not show_all:
        return False
    if r.status is Status.error:
        return True
    if r.status in (Status.fail, Status.warn):
        return r.severity.rank >= min_rank
    return show_all


def render_fleet_table(report: ScanReport, out: TextIO, *, min_severity: str = "low", show_all: bool = False,
                       color: bool | None = None) -> None:
    console = _console(out, color)
    min_rank = Severity(min_severity).rank
    role_counts = Counter(r for h in report.hosts for r in (roles_of(h) or ["unknown"]))
    collected = [h for h in report.hosts if h.facts]
    console.print(f"[bold]{len(report.hosts)} host(s)[/bold], {len(collected)} with evidence; roles: "
                  + (", ".join(f"{role} {n}" for role, n in sorted(role_counts.items())) or "none"))
    if len(report.hosts) <= HOSTS_LISTED:
        hosts = Table(title="hosts", title_justify="left")
        hosts.add_column("host", no_wrap=True)
        hosts.add_column("roles")
        hosts.add_column("services", overflow="fold", max_width=60)
        hosts.add_column("target", overflow="fold", max_width=40)
        for h in report.hosts:
            hosts.add_row(h.name, ", ".join(roles_of(h)) or "-", ", ".join(services_of(h)) or "-", h.target)
        console.print(hosts)

    groups: dict[tuple[str, Status], list[Result]] = defaultdict(list)
    for r in report.results:
        if r.check_id != HOST_CHECK and _shown(r, min_rank, show_all):
            groups[(r.check_id, r.status)].append(r)
    order = {Status.error: 0, Status.fail: 1, Status.warn: 2, Status.passed: 3, Status.skipped: 4}
    rows = sorted(groups.items(), key=lambda kv: (order[kv[0][1]], -max(r.severity.rank for r in kv[1]), kv[0][0]))
    if rows:
        table = Table(title="findings by check", title_justify="left")
        table.add_column("severity", no_wrap=True)
        table.add_column("check", overflow="fold", max_width=34)
        table.add_column("status", no_wrap=True)
        table.add_column("hosts", justify="right", no_wrap=True)
        table.add_column("affected", overflow="fold", max_width=30)
        table.add_column("example", overflow="fold", min_width=40, max_width=80)
        for (check_id, status), results in rows:
            worst = max(results, key=lambda r: r.severity.rank)
            names = {r.host for r in results}
            affected = hosts_text((n for n in names if n != FLEET_HOST), limit=5) or "(fleet)"
            table.add_row(Text(worst.severity.value, style=_SEV_STYLE[worst.severity.value]),
                          f"{check_id}\n{worst.title}", Text(status.value, style=_STATUS_STYLE[status.value]),
                          str(len(names - {FLEET_HOST}) or len(names)), affected, Text(worst.message))
        console.print(table)
    problems = [r for r in report.results if r.check_id == HOST_CHECK and _shown(r, min_rank, show_all)]
    if problems:
        table = Table(title="hosts not (fully) collected", title_justify="left")
        table.add_column("host", no_wrap=True)
        table.add_column("status")
        table.add_column("reason", overflow="fold", max_width=90)
        for r in sorted(problems, key=lambda r: r.host):
            table.add_row(r.host, Text(r.status.value, style=_STATUS_STYLE[r.status.value]), Text(r.message))
        console.print(table)
    findings = [r for r in report.results if r.status in (Status.fail, Status.warn) and not r.muted]
    sev = Counter(r.severity.value for r in findings)
    summary = ", ".join(f"{sev[s]} {s}" for s in ("critical", "high", "medium", "low") if sev[s])
    hosts_hit = len({r.host for r in findings} - {FLEET_HOST})
    errors = sum(1 for r in report.results if r.status is Status.error and r.check_id != HOST_CHECK)
    console.print(f"\n{summary or 'no findings'}" + (f" on {hosts_hit} host(s)" if findings else "")
                  + (f"; {len(problems)} host(s) not fully collected" if problems else "")
                  + (f"; {errors} check error(s)" if errors else ""))
