"""Run progress: counts the runner updates, and a live terminal view of them (rich) when stderr is a TTY."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.live import Live
    from rich.table import Table


@dataclass
class Tracker:
    total: int = 0
    collected: int = 0
    failed: int = 0
    analysed: int = 0
    phase: str = "starting"
    running: dict[str, float] = field(default_factory=dict)
    """Hosts being collected -> monotonic start time."""
    durations: dict[str, float] = field(default_factory=dict)
    """Finished collections -> seconds taken."""
    started_at: float = field(default_factory=time.monotonic)

    def start(self, name: str) -> None:
        self.running[name] = time.monotonic()

    def finish(self, name: str, ok: bool) -> None:
        began = self.running.pop(name, None)
        if began is not None:
            self.durations[name] = time.monotonic() - began
        if ok:
            self.collected += 1
        else:
            self.failed += 1

    def done(self, count: int = 1) -> None:
        self.analysed += count

    @property
    def remaining(self) -> int:
        return max(self.total - self.analysed, 0)

    def slowest(self, n: int = 3) -> list[tuple[str, float, bool]]:
        """(host, seconds, still running), longest first: what is holding the run up."""
        now = time.monotonic()
        rows = [(h, now - t, True) for h, t in self.running.items()]
        rows += [(h, s, False) for h, s in self.durations.items()]
        return sorted(rows, key=lambda r: -r[1])[:n]


class LiveProgress:
    """A small rich panel on stderr, refreshed four times a second; nothing at all when disabled."""

    def __init__(self, tracker: Tracker, enabled: bool) -> None:
        self.tracker = tracker
        self.enabled = enabled
        self._live: Live | None = None

    def _render(self) -> Table:
        from rich.table import Table

        t = self.tracker
        table = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - t.started_at
        table.add_row(f"[bold]stackrx fleet[/] {t.phase}", f"{elapsed:.0f} s")
        table.add_row(f"hosts {t.analysed}/{t.total} done", f"collected {t.collected}  failed {t.failed}  "
                      f"collecting {len(t.running)}  remaining {t.remaining}")
        slow = ", ".join(f"{h} {s:.1f} s{' …' if running else ''}" for h, s, running in t.slowest())
        if slow:
            table.add_row("slowest", slow)
        return table

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(get_renderable=self._render, console=Console(stderr=True), refresh_per_second=4,
                              transient=True, redirect_stdout=False, redirect_stderr=False)
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None
