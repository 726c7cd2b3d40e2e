"""When does a growing reading reach its limit? A Theil–Sen line over the window, with Sen's slope interval.

Theil–Sen (the median of all pairwise slopes) is used instead of least squares because one odd sample — a
log rotation, a cleanup, a reboot — moves the median slope little, and disk and table growth is full of
such steps. The 95 % interval of the slope comes from the rank of Kendall's S (Sen 1968, normal
approximation, no ties), and bounds the forecast date.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from stackrx.history.metrics import LIMITS, Limit, human, make_key, split_key, unit_of
from stackrx.history.store import Point, Series
from stackrx.models import CheckMeta, Evidence, Result, Severity, Status

DAY = 86400.0
Z_95 = 1.959964
MIN_POINTS = 5
MAX_POINTS = 400  # pairwise slopes grow as n²; older points beyond this add little to a window's fit
DEFAULT_WINDOW_DAYS = 30
DEFAULT_HORIZON_DAYS = 45
METHOD = "Theil–Sen robust linear fit"


@dataclass(frozen=True)
class Fit:
    slope: float  # units per second
    intercept: float  # value at t = 0 (seconds after origin)
    slope_low: float
    slope_high: float
    origin: datetime
    n: int

    def value_at(self, when: datetime) -> float:
        return self.intercept + self.slope * (when - self.origin).total_seconds()


def theil_sen(points: Sequence[Point]) -> Fit | None:
    """Fit a line; None with fewer than two distinct times."""
    pts = list(points)[-MAX_POINTS:]
    if len(pts) < 2:
        return None
    origin = pts[0].at
    xs = [(p.at - origin).total_seconds() for p in pts]
    ys = [p.value for p in pts]
    slopes = sorted((ys[j] - ys[i]) / (xs[j] - xs[i])
                    for i in range(len(pts)) for j in range(i + 1, len(pts)) if xs[j] != xs[i])
    if not slopes:
        return None
    slope = median(slopes)
    intercept = median(y - slope * x for x, y in zip(xs, ys, strict=True))
    n, total = len(pts), len(slopes)
    c = Z_95 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    low_rank = max(0, math.floor((total - c) / 2))
    high_rank = min(total - 1, math.ceil((total + c) / 2))
    return Fit(slope, intercept, slopes[low_rank], slopes[high_rank], origin, n)


@dataclass(frozen=True)
class Forecast:
    """Where one usage series is heading relative to its limit."""

    limit: Limit
    host: str
    resource: str
    usage: Series
    limit_value: float
    fit: Fit | None
    last: Point
    days: float | None  # days from the last observation until the fitted line reaches the limit
    days_low: float | None
    days_high: float | None  # None: the interval includes no growth, so no upper bound
    window: tuple[datetime, datetime]

    @property
    def reaches_at(self) -> datetime | None:
        return self.last.at + timedelta(days=self.days) if self.days is not None else None

    @property
    def confidence(self) -> str:
        if self.fit is None or self.days is None:
            return "none"
        if self.days_high is None or self._far_beyond_window():
            return "low"  # far beyond the data, any change of rate moves the date a lot
        span_days = self._span_days()
        spread = (self.days_high - (self.days_low or 0.0)) / max(self.days, 1e-9)
        if self.fit.n >= 10 and span_days >= 7 and spread <= 0.5:
            return "high"
        return "medium" if spread <= 1.5 else "low"

    def _span_days(self) -> float:
        return (self.window[1] - self.window[0]).total_seconds() / DAY

    def _far_beyond_window(self) -> bool:
        return self.days is not None and self.days > 3 * max(self._span_days(), 1.0)

    def method_note(self) -> str:
        if self.fit is None:
            return f"{METHOD}: too few samples"
        unit = unit_of(self.usage.metric)
        rate = human(self.fit.slope * DAY, unit)
        start, end = self.window
        return (f"{METHOD} over {self.fit.n} samples ({start:%Y-%m-%d} → {end:%Y-%m-%d}), {rate}/day; "
                f"confidence {self.confidence}: {self._confidence_reason()}")

    def _confidence_reason(self) -> str:
        if self.fit is None or self.days is None:
            return "no growth to extrapolate"
        if self.days_high is None:
            return "the 95% slope interval includes no growth, so the date has no upper bound"
        reason = f"95% slope interval gives {_days(self.days_low or 0.0)} to {_days(self.days_high)}"
        if self._far_beyond_window():
            reason += f", extrapolated more than 3× beyond the {self._span_days():.0f}-day window"
        return reason + "; assumes the recent rate continues (a cleanup or rotation resets it)"


def _days(value: float) -> str:
    return f"{value:.1f} days" if value < 100 else f"{value:,.0f} days"


def _window(points: tuple[Point, ...], window_days: int) -> tuple[Point, ...]:
    if not points:
        return points
    start = points[-1].at - timedelta(days=window_days)
    return tuple(p for p in points if p.at >= start)


def forecast_series(limit: Limit, usage: Series, limit_series: Series, *,
                    window_days: int = DEFAULT_WINDOW_DAYS) -> Forecast | None:
    points = _window(usage.points, window_days)
    if not points or not limit_series.points:
        return None
    limit_value = limit_series.points[-1].value
    last = points[-1]
    window = (points[0].at, last.at)
    fit = theil_sen(points) if len(points) >= MIN_POINTS else None
    resource = split_key(usage.metric)[1]
    if fit is None or fit.slope <= 0 or limit_value <= 0:
        return Forecast(limit, usage.host, resource, usage, limit_value, fit, last, None, None, None, window)
    remaining = limit_value - fit.value_at(last.at)
    if last.value >= limit_value:
        remaining = 0.0
    days = max(0.0, remaining / fit.slope / DAY)
    days_low = max(0.0, remaining / fit.slope_high / DAY) if fit.slope_high > 0 else days
    days_high = max(0.0, remaining / fit.slope_low / DAY) if fit.slope_low > 0 else None
    return Forecast(limit, usage.host, resource, usage, limit_value, fit, last, days, days_low, days_high,
                    window)


def forecasts(series: Sequence[Series], *, window_days: int = DEFAULT_WINDOW_DAYS) -> list[Forecast]:
    """Pair each usage series with its limit series (same host and resource) and forecast it."""
    by_key = {(s.host, s.metric): s for s in series}
    out: list[Forecast] = []
    for s in series:
        family, resource = split_key(s.metric)
        for limit in LIMITS:
            if family != limit.usage:
                continue
            # Per-netns conntrack counts share the init namespace's global limit.
            limit_series = by_key.get((s.host, make_key(limit.limit, resource))) or by_key.get(
                (s.host, limit.limit))
            if limit_series is None:
                continue
            result = forecast_series(limit, s, limit_series, window_days=window_days)
            if result is not None:
                out.append(result)
    return out


def severity_for(days: float) -> Severity | None:
    if days <= 3:
        return Severity.critical
    if days <= 14:
        return Severity.high
    if days <= DEFAULT_HORIZON_DAYS:
        return Severity.medium
    return None


def _subject(f: Forecast) -> str:
    if f.limit.usage.startswith("fs_"):
        return f"{f.resource or '?'}" + (" inodes" if f.limit.usage == "fs_inodes_used" else "")
    return f"{f.limit.what}" + (f" in {f.resource}" if f.resource else "")


def _verb(f: Forecast) -> str:
    return "fills" if f.limit.usage == "fs_used_bytes" else (
        "run out" if f.limit.usage == "fs_inodes_used" else "reaches its limit")


def message(f: Forecast) -> str:
    unit = unit_of(f.usage.metric)
    now = f"{human(f.last.value, unit)} of {human(f.limit_value, unit)}"
    if f.fit is None:
        return f"{_subject(f)}: {now}; too few samples to forecast (need {MIN_POINTS})"
    if f.days is None:
        return f"{_subject(f)}: {now}, not growing over the window"
    when = f.reaches_at
    if f.days <= 0:
        return f"{_subject(f)} is at its limit now ({now})"
    bounds = (f"{_days(f.days_low or 0.0)}–{_days(f.days_high)}" if f.days_high is not None
              else f"at least {_days(f.days_low or 0.0)}")
    return (f"{_subject(f)} {_verb(f)} in ~{_days(f.days)} at the current rate "
            f"(around {when:%Y-%m-%d}; 95% range {bounds}); now {now}")


def evidence(f: Forecast, source: str) -> list[Evidence]:
    unit = unit_of(f.usage.metric)
    first = next(p for p in f.usage.points if p.at >= f.window[0])
    excerpt = (f"{f.usage.metric}: {human(first.value, unit)} at {first.at:%Y-%m-%d %H:%M} → "
               f"{human(f.last.value, unit)} at {f.last.at:%Y-%m-%d %H:%M}; limit "
               f"{human(f.limit_value, unit)}. {f.method_note()}")
    return [Evidence(source=source, excerpt=excerpt)]


def to_result(f: Forecast, meta: CheckMeta, *, source: str,
              horizon_days: int = DEFAULT_HORIZON_DAYS) -> Result:
    """A forecast as a finding: warn/fail when the limit is within the horizon, pass otherwise."""
    severity = severity_for(f.days) if f.days is not None and f.days <= horizon_days else None
    if f.days is not None and f.days <= horizon_days and severity is None:
        severity = Severity.low  # a horizon longer than the medium tier still reports, at low
    status = Status.passed
    if severity is not None:
        status = Status.fail if severity.rank >= Severity.high.rank else Status.warn
    return Result(check_id=meta.id, title=meta.title, severity=severity or Severity.info, status=status,
                  host=f.host, message=message(f), resource=f.resource, evidence=evidence(f, source),
                  remediation=meta.remediation if status is not Status.passed else [], area=meta.area)
