"""Self-contained HTML report: one file, no network (a CSP forbids it), charts drawn as inline SVG here.

The page works without JavaScript (findings are <details> elements); a few lines of inline script add
severity, host and text filters.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from stackrx.history.metrics import LIMITS, human, make_key, split_key, unit_of
from stackrx.models import CheckMeta, HostSummary, Result, ScanReport, Status

if TYPE_CHECKING:
    from stackrx.history.store import Series
    from stackrx.history.trend import TrendData

SEVERITIES = ("critical", "high", "medium", "low", "info")
_STATUS_RANK = {Status.error: 5, Status.fail: 4, Status.warn: 3, Status.passed: 1, Status.skipped: 0}
_COLORS = {"critical": "#8b0000", "high": "#d93025", "medium": "#e37400", "low": "#1a73e8", "info": "#5f6368"}


@dataclass
class Cell:
    status: str
    severity: str
    label: str
    anchor: str
    title: str


@dataclass
class MatrixRow:
    check_id: str
    title: str
    cells: list[Cell] = field(default_factory=list)


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("stackrx.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    return env


def _metas() -> dict[str, CheckMeta]:
    from stackrx.engine import load_all_checks

    return {cid: reg.meta for cid, reg in load_all_checks().items()}


def _sort_key(r: Result) -> tuple[int, str, str, str]:
    return (-r.severity.rank, r.check_id, r.host, r.resource)


def _matrix(report: ScanReport, anchors: dict[int, str]) -> list[MatrixRow]:
    hosts = [h.name for h in report.hosts]
    by_check: dict[str, dict[str, list[tuple[int, Result]]]] = {}
    for i, r in enumerate(report.results):
        by_check.setdefault(r.check_id, {}).setdefault(r.host, []).append((i, r))
    rows: list[tuple[int, MatrixRow]] = []
    for check_id, per_host in by_check.items():
        title = next(iter(per_host.values()))[0][1].title
        row = MatrixRow(check_id, title)
        worst_row = -1
        for host in hosts:
            items = per_host.get(host, [])
            if not items:
                row.cells.append(Cell("none", "", "·", "", f"{check_id} not run on {host}"))
                continue
            open_items = [(i, r) for i, r in items
                          if not (r.muted and r.status in (Status.fail, Status.warn))]
            pool = open_items or items
            i, worst = max(pool, key=lambda ir: (_STATUS_RANK[ir[1].status], ir[1].severity.rank))
            finding = worst.status in (Status.fail, Status.warn)
            if finding and not open_items:
                cell = Cell("muted", worst.severity.value, "muted", anchors.get(i, ""),
                            f"{host}: muted — {worst.mute_reason}")
            elif finding:
                n = sum(1 for _, r in open_items if r.status in (Status.fail, Status.warn))
                cell = Cell(worst.status.value, worst.severity.value,
                            worst.severity.value + (f" ×{n}" if n > 1 else ""), anchors.get(i, ""),
                            f"{host}: {worst.message}")
            else:
                label = {"pass": "ok", "skipped": "skip", "error": "error"}[worst.status.value]
                cell = Cell(worst.status.value, "", label, anchors.get(i, ""), f"{host}: {worst.message}")
            row.cells.append(cell)
            if finding and open_items:
                worst_row = max(worst_row, worst.severity.rank * 10 + _STATUS_RANK[worst.status])
            elif worst.status is Status.error:
                worst_row = max(worst_row, 9)
        rows.append((worst_row, row))
    rows.sort(key=lambda wr: (-wr[0], wr[1].check_id))
    return [row for _, row in rows]


# ---- charts ------------------------------------------------------------------------------------------

def _bar(label: str, used: float, limit: float, unit: str) -> Markup:
    ratio = max(0.0, min(used / limit, 1.0)) if limit > 0 else 0.0
    color = "#d93025" if ratio >= 0.9 else "#e37400" if ratio >= 0.8 else "#188038"
    width = 360
    return Markup(
        '<svg class="bar" role="img" width="{w}" height="34" viewBox="0 0 {w} 34" '
        'xmlns="http://www.w3.org/2000/svg"><title>{title}</title>'
        '<text x="0" y="11" font-size="11">{label}</text>'
        '<text x="{w}" y="11" font-size="11" text-anchor="end">{pct:.0f}% · {used} / {limit}</text>'
        '<rect x="0" y="16" width="{w}" height="12" rx="3" fill="#e8eaed"/>'
        '<rect x="0" y="16" width="{fill:.1f}" height="12" rx="3" fill="{color}"/></svg>'
    ).format(w=width, title=f"{label}: {ratio * 100:.1f}%", label=label, pct=ratio * 100,
             used=human(used, unit), limit=human(limit, unit), fill=width * ratio, color=color)


def _usage_bars(host: HostSummary) -> list[Markup]:
    bars: list[Markup] = []
    for key, value in sorted(host.metrics.items()):
        family, resource = split_key(key)
        for lim in LIMITS:
            if family != lim.usage:
                continue
            limit = host.metrics.get(make_key(lim.limit, resource), host.metrics.get(lim.limit))
            if limit:
                name = {"nf_conntrack_count": "conntrack", "fs_used_bytes": "disk",
                        "fs_inodes_used": "inodes"}[family]
                bars.append(_bar(f"{name} {resource}".strip(), value, limit, unit_of(key)))
    return bars


def _axis(value: float, unit: str) -> str:
    """Short axis labels: 3.3M inodes, not 3,276,800 inodes."""
    if unit == "bytes":
        return human(value, unit)
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _line_chart(series: Series, limit_value: float | None, fit_points: list[tuple[datetime, float]],
                note: str) -> Markup:
    width, height, left, right, top, bottom = 660, 210, 90, 20, 24, 30
    pts = [(p.at, p.value) for p in series.points]
    times = [t for t, _ in pts] + [t for t, _ in fit_points]
    values = [v for _, v in pts] + [v for _, v in fit_points] + ([limit_value] if limit_value else [])
    t0, t1 = min(times), max(times)
    if t1 == t0:
        t1 = t0 + timedelta(days=1)
    vmin, vmax = min(0.0, min(values)), max(values)
    if vmax == vmin:
        vmax = vmin + 1
    span = (t1 - t0).total_seconds()

    def x(t: datetime) -> float:
        return left + (t - t0).total_seconds() / span * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - (v - vmin) / (vmax - vmin)) * (height - top - bottom)

    unit = unit_of(series.metric)
    parts = [Markup('<svg class="trend" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
                    'xmlns="http://www.w3.org/2000/svg"><title>{t}</title>').format(
        w=width, h=height, t=f"{series.host} {series.metric}")]
    for frac in (0.0, 0.5, 1.0):
        v = vmin + frac * (vmax - vmin)
        parts.append(Markup('<line x1="{l}" x2="{r}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e8eaed"/>'
                            '<text x="{tx}" y="{ty:.1f}" font-size="10" text-anchor="end">{v}</text>').format(
            l=left, r=width - right, y=y(v), tx=left - 4, ty=y(v) + 3, v=_axis(v, unit)))
    parts.append(Markup('<text x="{l}" y="{h}" font-size="10">{a}</text>'
                        '<text x="{r}" y="{h}" font-size="10" text-anchor="end">{b}</text>').format(
        l=left, r=width - right, h=height - 8, a=f"{t0:%Y-%m-%d}", b=f"{t1:%Y-%m-%d}"))
    if limit_value:
        parts.append(Markup('<line x1="{l}" x2="{r}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d93025" '
                            'stroke-dasharray="6 3"/>'
                            '<text x="{r}" y="{ty:.1f}" font-size="10" fill="#d93025" '
                            'text-anchor="end">limit {v}</text>').format(
            l=left, r=width - right, y=y(limit_value), ty=y(limit_value) - 4, v=human(limit_value, unit)))
    if fit_points:
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in fit_points)
        parts.append(Markup('<polyline class="fit" points="{c}" fill="none" stroke="#e37400" '
                            'stroke-width="1.5" stroke-dasharray="4 3"/>').format(c=coords))
    coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
    parts.append(Markup('<polyline class="data" points="{c}" fill="none" stroke="#1a73e8" stroke-width="2"/>')
                 .format(c=coords))
    for t, v in pts[-60:]:
        parts.append(Markup('<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="#1a73e8"/>').format(
            x=x(t), y=y(v)))
    if note:
        parts.append(Markup('<text x="{l}" y="14" font-size="11" fill="#3c4043">{n}</text>').format(
            l=left, n=note))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _trend_charts(trend: TrendData | None) -> list[dict[str, Any]]:
    if trend is None:
        return []
    # A limit series is drawn as the limit line of its usage chart, not on its own.
    drawn_limits = {(f.host, make_key(f.limit.limit, f.resource)) for f in trend.forecasts} | {
        (f.host, f.limit.limit) for f in trend.forecasts}
    shown = [s for s in trend.series if s.points and (s.host, s.metric) not in drawn_limits]
    shown.sort(key=lambda s: (trend.forecast_for(s) is None, s.host, s.metric))
    charts: list[dict[str, Any]] = []
    for s in shown:
        f = trend.forecast_for(s)
        fit_points: list[tuple[datetime, float]] = []
        limit_value = f.limit_value if f else None
        note = ""
        if f is not None and f.fit is not None:
            end = f.reaches_at or f.last.at
            end = min(end, f.last.at + timedelta(days=120))
            fit_points = [(f.window[0], f.fit.value_at(f.window[0])), (end, f.fit.value_at(end))]
            if f.reaches_at is None:
                note = "no growth"
            elif f.days is not None and f.days > 365:
                note = "limit more than a year away at this rate"
            else:
                note = f"reaches the limit ~{f.reaches_at:%Y-%m-%d}"
        charts.append({"host": s.host, "metric": s.metric,
                       "svg": _line_chart(s, limit_value, fit_points, note),
                       "method": f.method_note() if f else "", "points": len(s.points)})
    return charts


# ---- page --------------------------------------------------------------------------------------------

def _finding_view(r: Result, anchor: str, meta: CheckMeta | None) -> dict[str, Any]:
    return {"anchor": anchor, "r": r, "meta": meta, "sev_rank": r.severity.rank,
            "fix": f"stackrx fix {r.check_id} --host {r.host} --plan"}


def render_html(report: ScanReport, *, trend: TrendData | None = None,
                generated: datetime | None = None) -> str:
    metas = _metas()
    ordered = sorted(range(len(report.results)), key=lambda i: _sort_key(report.results[i]))
    anchors = {i: f"f{n}" for n, i in enumerate(ordered)}
    open_findings: list[dict[str, Any]] = []
    muted: list[dict[str, Any]] = []
    for i in ordered:
        r = report.results[i]
        if r.status not in (Status.fail, Status.warn):
            continue
        view = _finding_view(r, anchors[i], metas.get(r.check_id))
        (muted if r.muted else open_findings).append(view)
    counts = Counter(v["r"].severity.value for v in open_findings)
    errors = [r for r in report.results if r.status is Status.error]
    skipped = [r for r in report.results if r.status is Status.skipped]
    host_counts = {h.name: Counter(r.severity.value for r in report.results if r.host == h.name
                                   and r.status in (Status.fail, Status.warn) and not r.muted)
                   for h in report.hosts}
    context = {
        "report": report,
        "generated": (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "severities": SEVERITIES,
        "colors": _COLORS,
        "counts": {s: counts.get(s, 0) for s in SEVERITIES},
        "total_open": len(open_findings),
        "findings": open_findings,
        "muted": muted,
        "errors": errors,
        "skipped": skipped,
        "passed": sum(1 for r in report.results if r.status is Status.passed),
        "hosts": report.hosts,
        "host_counts": host_counts,
        "matrix": _matrix(report, anchors) if len(report.hosts) > 1 else [],
        "bars": {h.name: _usage_bars(h) for h in report.hosts},
        "other_metrics": {h.name: [(k, human(v, unit_of(k))) for k, v in sorted(h.metrics.items())]
                          for h in report.hosts},
        "trends": _trend_charts(trend),
    }
    return _environment().get_template("report.html.j2").render(**context)
