"""Terminal rendering with rich: findings per host, the check list, and one check's full story."""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stackrx.models import CheckMeta, Result, ScanReport, Severity, Status, StepKind

_SEV_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}
_STATUS_STYLE = {"fail": "bold red", "warn": "yellow", "pass": "green", "skipped": "dim", "error": "bold magenta"}
_ORDER = {Status.error: 0, Status.fail: 1, Status.warn: 2, Status.passed: 3, Status.skipped: 4}


def _console(out: TextIO, color: bool | None) -> Console:
    return Console(file=out, width=max(100, Console(file=out).width), no_color=color is False,
                   force_terminal=color if color else None, highlight=False, soft_wrap=False)


def _shown(r: Result, min_rank: int, show_all: bool) -> bool:
    if r.status is Status.error:
        return True
    if r.status in (Status.fail, Status.warn):
        return r.severity.rank >= min_rank
    return show_all


def render_table(report: ScanReport, out: TextIO, *, min_severity: str = "low", show_all: bool = False,
                 color: bool | None = None) -> None:
    console = _console(out, color)
    min_rank = Severity(min_severity).rank
    by_host: dict[str, list[Result]] = {}
    for r in report.results:
        by_host.setdefault(r.host, []).append(r)
    for host in report.hosts:
        rows = sorted((r for r in by_host.get(host.name, []) if _shown(r, min_rank, show_all)),
                      key=lambda r: (_ORDER[r.status], -r.severity.rank, r.check_id))
        counts = Counter(r.status.value for r in by_host.get(host.name, []))
        title = (f"[bold]{host.name}[/bold]  ({host.kind}: {host.target})  "
                 + "  ".join(f"{k} {counts.get(k, 0)}" for k in ("fail", "warn", "pass", "skipped", "error")))
        if not rows:
            console.print(title + "  [green]— nothing to report[/green]")
            continue
        table = Table(title=title, title_justify="left", show_lines=False, expand=False)
        table.add_column("severity")
        table.add_column("check", no_wrap=True)
        table.add_column("status")
        table.add_column("finding", overflow="fold", max_width=70)
        table.add_column("evidence", overflow="fold", max_width=48)
        for r in rows:
            ev = r.evidence[0] if r.evidence else None
            where = f"{ev.source}:{ev.line}" if ev and ev.line else (ev.source if ev else "")
            status = Text(f"{r.status.value} (muted)", style="dim") if r.muted else Text(
                r.status.value, style=_STATUS_STYLE[r.status.value])
            # Text, not str: findings quote config sections ("[ml2] ...") that rich would eat as markup.
            message = Text(f"{r.message}  [muted: {r.mute_reason}]" if r.muted else r.message)
            table.add_row(Text(r.severity.value, style=_SEV_STYLE[r.severity.value]), r.check_id, status, message,
                          Text(where))
        console.print(table)
    totals = Counter((r.status.value, r.severity.value) for r in report.results
                     if r.status in (Status.fail, Status.warn) and not r.muted)
    muted = sum(1 for r in report.results if r.muted)
    sev_counts: Counter[str] = Counter()
    for (_status, sev), n in totals.items():
        sev_counts[sev] += n
    summary = ", ".join(f"{sev_counts[s]} {s}" for s in ("critical", "high", "medium", "low") if sev_counts[s])
    errors = sum(1 for r in report.results if r.status is Status.error)
    console.print(f"\n{len(report.hosts)} host(s), {len(report.results)} results: "
                  f"{summary or 'no findings'}" + (f", {errors} check error(s)" if errors else "")
                  + (f", {muted} muted" if muted else "")
                  + ".  `stackrx checks show ID` explains a check and its fix.")


def render_check_list(metas: list[CheckMeta], out: TextIO) -> None:
    console = _console(out, None)
    by_area: dict[str, list[CheckMeta]] = {}
    for m in metas:
        by_area.setdefault(m.area, []).append(m)
    for area in sorted(by_area):
        table = Table(title=f"[bold]{area}[/bold]", title_justify="left")
        table.add_column("id", no_wrap=True)
        table.add_column("severity")
        table.add_column("modes")
        table.add_column("title", overflow="fold")
        for m in sorted(by_area[area], key=lambda m: m.id):
            table.add_row(m.id, Text(m.severity.value, style=_SEV_STYLE[m.severity.value]), ",".join(m.modes),
                          m.title)
        console.print(table)


def render_check(meta: CheckMeta, out: TextIO, sources: list[str] | None = None) -> None:
    console = _console(out, None)
    console.print(f"[bold]{meta.id}[/bold] — {meta.title}")
    console.print(f"severity: {meta.severity.value}   area: {meta.area}   modes: {', '.join(meta.modes)}")
    for where in sources or ():
        console.print(Text(f"code: {where}"))
    console.print()
    for heading, body in (("The tale", meta.tale), ("What it checks", meta.description), ("Why it matters", meta.risk)):
        console.print(f"[bold underline]{heading}[/bold underline]")
        console.print(Text(body + "\n"))
    if meta.reads:
        console.print("[bold underline]What it reads[/bold underline]")
        for kind, items in meta.reads.items():
            console.print(Text(f"  {kind}: " + "; ".join(items)))
        console.print()
    console.print("[bold underline]Remediation[/bold underline]")
    for step in meta.remediation:
        style = "green" if step.kind is StepKind.safe else "bold red"
        console.print(Text(f"  [{step.kind.value}] ", style=style) + Text(step.text))
        for cmd in step.commands:
            console.print(Text(f"      $ {cmd}", style="bold"))
    if meta.references:
        console.print("\n[bold underline]References[/bold underline]")
        for ref in meta.references:
            console.print(Text(f"  - {ref}"))
