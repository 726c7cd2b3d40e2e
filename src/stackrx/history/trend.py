"""`stackrx trend`: stored metrics as series, their forecasts, and the forecasts as findings."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stackrx import __version__
from stackrx.history import default_store_url
from stackrx.history.forecast import DEFAULT_HORIZON_DAYS, DEFAULT_WINDOW_DAYS, Forecast, forecasts, to_result
from stackrx.history.metrics import human, unit_of
from stackrx.history.store import Series, load_series
from stackrx.models import CheckMeta, HostSummary, Result, ScanReport
from stackrx.redact import redact

SPARK = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class TrendData:
    """What the HTML report draws: the series shown and the forecasts drawn over them."""

    series: list[Series] = field(default_factory=list)
    forecasts: list[Forecast] = field(default_factory=list)

    def forecast_for(self, s: Series) -> Forecast | None:
        return next((f for f in self.forecasts if (f.host, f.usage.metric) == (s.host, s.metric)), None)


def forecast_metas() -> dict[str, CheckMeta]:
    from stackrx.checks.history import FORECAST_CHECKS

    return FORECAST_CHECKS


def run_trend(url: str | None = None, *, host: str | None = None, metric: str | None = None,
              window_days: int = DEFAULT_WINDOW_DAYS, horizon_days: int = DEFAULT_HORIZON_DAYS,
              since: datetime | None = None) -> tuple[ScanReport, TrendData]:
    """Series for `host`/`metric` (globs), forecasts for the limited ones, and a report of the forecasts."""
    url = url or default_store_url()
    every = load_series(url, host=host, since=since)
    # Forecasts need the limit series even when --metric shows only the usage one.
    all_forecasts = forecasts(every, window_days=window_days)
    shown = [s for s in every if not metric or fnmatch.fnmatchcase(s.metric, metric)]
    shown_keys = {(s.host, s.metric) for s in shown}
    kept = [f for f in all_forecasts if (f.host, f.usage.metric) in shown_keys]
    metas = forecast_metas()
    source = f"history:{redact(url)}"
    results: list[Result] = [to_result(f, metas[f.limit.check_id], source=source, horizon_days=horizon_days)
                             for f in kept]
    hosts: list[HostSummary] = []
    for name in sorted({s.host for s in shown}):
        mine = [s for s in shown if s.host == name and s.points]
        last = max(s.points[-1].at for s in mine)
        # The store keeps naive UTC; say so, or a reader in another time zone shifts it.
        hosts.append(HostSummary(name=name, kind="history", target=redact(url),
                                 collected_at=last.replace(tzinfo=UTC).isoformat(),
                                 metrics={s.metric: s.points[-1].value for s in mine}))
    report = ScanReport(version=__version__, target=f"history {redact(url)}", hosts=hosts, results=results)
    return report, TrendData(shown, kept)


def sparkline(values: list[float], width: int = 40) -> str:
    if not values:
        return ""
    if len(values) > width:
        # Bucket means keep the shape of a long series in a fixed width.
        step = len(values) / width
        values = [sum(chunk) / len(chunk) for chunk in
                  (values[int(i * step):max(int((i + 1) * step), int(i * step) + 1)] for i in range(width))]
    low, high = min(values), max(values)
    if high == low:
        return SPARK[len(SPARK) // 2] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int((v - low) / (high - low) * len(SPARK)))] for v in values)


def render_trend_text(report: ScanReport, data: TrendData) -> str:
    """Each series as a sparkline with its range, then the forecasts with method and confidence."""
    lines: list[str] = []
    if not data.series:
        return "no stored metrics match (store runs with `stackrx scan --store`)\n"
    width = max(len(s.metric) for s in data.series)
    for host in sorted({s.host for s in data.series}):
        lines.append(f"{host}")
        for s in (s for s in data.series if s.host == host):
            unit = unit_of(s.metric)
            values = [p.value for p in s.points]
            lines.append(f"  {s.metric:<{width}}  {sparkline(values)}  {human(values[-1], unit)}"
                         f"  (min {human(min(values), unit)}, max {human(max(values), unit)}, "
                         f"{len(values)} runs"
                         f" {s.points[0].at:%Y-%m-%d} → {s.points[-1].at:%Y-%m-%d})")
        lines.append("")
    by_key = {(r.host, r.check_id, r.resource): r for r in report.results}
    if data.forecasts:
        lines.append("Forecasts")
        for f in data.forecasts:
            r = by_key.get((f.host, f.limit.check_id, f.resource))
            level = f"{r.status.value} {r.severity.value}" if r else ""
            lines.append(f"  [{level}] {f.limit.check_id} {f.host}: {r.message if r else ''}")
            lines.append(f"      method: {f.method_note()}")
    return "\n".join(lines) + "\n"


def forecast_results(url: str | None, hosts: list[str], *, window_days: int = DEFAULT_WINDOW_DAYS,
                     horizon_days: int = DEFAULT_HORIZON_DAYS) -> list[Result]:
    """The forecast findings for `hosts` from the store, to add to a scan that was just stored."""
    out: list[Result] = []
    for host in hosts:
        report, _ = run_trend(url, host=host, window_days=window_days, horizon_days=horizon_days)
        out.extend(report.results)
    return out
