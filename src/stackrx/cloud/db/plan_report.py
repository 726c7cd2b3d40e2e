"""Terminal rendering of the archive plan kept in a report (hosts[].facts.archive_plan / archive_steps)."""

from __future__ import annotations

from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stackrx.models import ScanReport


def render_plans(report: ScanReport, out: TextIO, *, color: bool | None = None) -> None:
    console = Console(file=out, width=max(100, Console(file=out).width), no_color=color is False,
                      force_terminal=color if color else None, highlight=False, soft_wrap=False)
    shown = False
    for host in report.hosts:
        plans: list[dict[str, Any]] = host.facts.get("archive_plan") or []
        if not plans:
            continue
        shown = True
        for plan in plans:
            before = plan.get("before") or "(no --before on this release: everything soft-deleted)"
            how = "exact" if plan.get("exact") else "partly estimated"
            table = Table(title=f"[bold]Archive plan[/bold] {host.name} {plan['schema']} (cell {plan['cell'] or '?'}): "
                          f"deleted before {before}; {plan['rule']}; {how}", title_justify="left")
            for col in ("table", "moved", "own", "purged after", "counted"):
                table.add_column(col, justify="left" if col in ("table", "counted") else "right")
            for key, move in sorted(plan["moves"].items(), key=lambda kv: -(kv[1]["moved"] or 0)):
                table.add_row(key, _n(move["moved"]), _n(move["own"]), _n(move["purged"]), move["method"])
            for key, n in plan["api_deletes"].items():
                table.add_row(key, _n(n), "", "", "deleted with the archived instances")
            console.print(table)
            for blocker in plan["blockers"]:
                console.print(Text(f"  ! {blocker}", style="bold red"))
        for step in host.facts.get("archive_steps") or []:
            style = "green" if step["kind"] == "SAFE" else "bold red"
            console.print(Text(f"  [{step['kind']}] ", style=style) + Text(step["text"]))
            for cmd in step["commands"]:
                console.print(Text(f"      $ {cmd}", style="bold"))
    if not shown:
        console.print("No nova cell database found: no archive plan.")


def _n(v: object) -> str:
    return "?" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
