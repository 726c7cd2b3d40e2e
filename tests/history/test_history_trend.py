"""30 stored daily runs → `stackrx trend` forecasts /var full and the conntrack table full, within a day,
as findings in JSON and HTML, with the method and its confidence stated."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from history_samples import CT_FULL_AT, START, VAR_FULL_AT, daily_report

from stackrx.commands.trend import trend_cmd
from stackrx.history.forecast import forecasts, theil_sen
from stackrx.history.store import Point, Series, load_series, store_run
from stackrx.history.trend import run_trend, sparkline
from stackrx.models import ScanReport, Severity, Status


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    for day in range(30):
        store_run(daily_report(day), url)
    return url


def _date_in(message: str) -> datetime:
    m = re.search(r"around (\d{4}-\d{2}-\d{2})", message)
    assert m, message
    return datetime.fromisoformat(m.group(1) + "T00:00:00+00:00")


def test_forecast_fill_dates_within_a_day(store: str) -> None:
    report, data = run_trend(store)
    by_check = {(r.check_id, r.resource): r for r in report.results}
    var = by_check[("STO-T01", "/var")]
    assert var.status is Status.fail and var.severity is Severity.high  # ~10 days away
    assert var.host == "compute-9"
    assert abs(_date_in(var.message) - VAR_FULL_AT) <= timedelta(days=1), var.message
    assert "/var fills in ~" in var.message and "at the current rate" in var.message
    forecast = next(f for f in data.forecasts if f.limit.check_id == "STO-T01" and f.resource == "/var")
    assert forecast.reaches_at is not None and abs(forecast.reaches_at - VAR_FULL_AT.replace(tzinfo=None)) <= \
        timedelta(days=1)
    assert forecast.days_low is not None and forecast.days_high is not None
    assert forecast.days_low <= forecast.days <= forecast.days_high  # type: ignore[operator]
    assert forecast.confidence == "high"
    note = var.evidence[0].excerpt
    assert "Theil–Sen" in note and "30 samples" in note and "confidence high" in note
    assert var.evidence[0].source.startswith("history:sqlite:///")
    assert var.remediation, "a forecast finding carries its remedy"

    ct = by_check[("NET-T01", "")]
    assert ct.status is Status.fail and abs(_date_in(ct.message) - CT_FULL_AT) <= timedelta(days=1), ct.message
    # Slow growth far from the limit is not a finding.
    assert by_check[("STO-T02", "/var")].status is Status.passed
    assert by_check[("STO-T01", "/")].status is Status.passed
    assert "not growing" in by_check[("STO-T01", "/")].message


def test_trend_command_json_html_and_terminal(store: str, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(trend_cmd, ["--store", store, "--format", "json"])
    assert res.exit_code == 3, res.output  # high forecasts, --fail-on high by default
    report = ScanReport.model_validate_json(res.output)
    var = next(r for r in report.results if r.check_id == "STO-T01" and r.resource == "/var")
    assert abs(_date_in(var.message) - VAR_FULL_AT) <= timedelta(days=1)
    assert report.hosts[0].metrics["fs_size_bytes:/var"] == 50 * 2**30

    html_file = tmp_path / "trend.html"
    res = runner.invoke(trend_cmd, ["--store", store, "--format", "html", "-o", str(html_file)])
    assert res.exit_code == 3
    html = html_file.read_text()
    assert "STO-T01" in html and var.message.split(" (")[0] in html
    # Every usage series is charted; its limit series is the limit line in it.
    assert html.count('<svg class="trend"') == 4
    assert "reaches the limit ~" in html and "Theil–Sen" in html

    res = runner.invoke(trend_cmd, ["--store", store, "--metric", "fs_used_bytes:*", "--fail-on", "critical"])
    assert res.exit_code == 0, res.output
    assert "fs_used_bytes:/var" in res.output and "nf_conntrack_count" not in res.output
    assert re.search("[▁▂▃▄▅▆▇█]{20,}", res.output)
    assert "Forecasts" in res.output and "method: Theil–Sen" in res.output

    res = runner.invoke(trend_cmd, ["--store", store, "--host", "nope"])
    assert res.exit_code == 0 and "no stored metrics match" in res.output


def test_trend_html_in_chromium(store: str, tmp_path: Path) -> None:
    import os

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium missing: apt-get install -y --no-install-recommends chromium")
        pytest.skip("Debian chromium not installed")
    from playwright.sync_api import sync_playwright

    from stackrx.report.formats import render

    report, data = run_trend(store, host="compute-9")
    html_file = tmp_path / "trend.html"
    html_file.write_text(render(report, "html", trend=data))
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html_file.as_uri())
            assert page.locator("[data-testid=count-high]").get_attribute("data-count") == "2"
            box = page.locator(".trendbox[data-metric='fs_used_bytes:/var']")
            assert box.locator("svg.trend polyline.fit").count() == 1
            assert "Theil–Sen" in box.inner_text()
            artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "trend-forecast.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []


def test_theil_sen_is_exact_on_a_line_and_shrugs_off_outliers() -> None:
    t0 = datetime(2026, 1, 1)
    line = [Point(t0 + timedelta(days=i), 5.0 + 2.0 * i) for i in range(20)]
    fit = theil_sen(line)
    assert fit is not None
    assert fit.slope * 86400 == pytest.approx(2.0) and fit.intercept == pytest.approx(5.0)
    assert fit.slope_low * 86400 == pytest.approx(2.0) and fit.slope_high * 86400 == pytest.approx(2.0)
    spoiled = [Point(p.at, p.value + (500.0 if i in (3, 11) else 0.0)) for i, p in enumerate(line)]
    robust = theil_sen(spoiled)
    assert robust is not None and robust.slope * 86400 == pytest.approx(2.0, rel=0.05)
    assert theil_sen(line[:1]) is None
    assert theil_sen([Point(t0, 1.0), Point(t0, 2.0)]) is None


def test_forecast_edges() -> None:
    t0 = datetime(2026, 1, 1)

    def series(metric: str, values: list[float]) -> Series:
        return Series("h", metric, tuple(Point(t0 + timedelta(days=i), v) for i, v in enumerate(values)))

    few = forecasts([series("fs_used_bytes:/x", [1, 2, 3]), series("fs_size_bytes:/x", [10, 10, 10])])
    assert few[0].days is None and few[0].fit is None and few[0].confidence == "none"
    full = forecasts([series("fs_used_bytes:/x", [6, 7, 8, 9, 10, 10]), series("fs_size_bytes:/x", [10] * 6)])
    assert full[0].days == 0
    shrinking = forecasts([series("nf_conntrack_count", [9, 8, 7, 6, 5]), series("nf_conntrack_max", [10] * 5)])
    assert shrinking[0].days is None
    # Per-namespace counts are forecast against the global limit.
    netns = forecasts([series("nf_conntrack_count:qrouter-1", [1, 2, 3, 4, 5, 6]),
                       series("nf_conntrack_max", [100] * 6)])
    assert netns[0].resource == "qrouter-1" and netns[0].days == pytest.approx(94, abs=0.5)
    noisy = forecasts([series("fs_used_bytes:/n", [1, 9, 2, 8, 3, 7, 4]), series("fs_size_bytes:/n", [100] * 7)])
    assert noisy[0].confidence == "low"


def test_store_filters_and_window(store: str) -> None:
    every = load_series(store)
    assert {s.metric for s in every} >= {"fs_used_bytes:/var", "nf_conntrack_max"}
    assert all(len(s.points) == 30 for s in every)
    assert [s.metric for s in load_series(store, metric="nf_conntrack_*")] == ["nf_conntrack_count",
                                                                               "nf_conntrack_max"]
    assert load_series(store, host="compute-?")[0].host == "compute-9"
    recent = load_series(store, since=START + timedelta(days=25))
    assert all(len(s.points) == 5 for s in recent)
    # A 10-day window still forecasts the same date: the growth is linear.
    report, _ = run_trend(store, window_days=10)
    var = next(r for r in report.results if r.check_id == "STO-T01" and r.resource == "/var")
    assert abs(_date_in(var.message) - VAR_FULL_AT) <= timedelta(days=1)
    assert "11 samples" in var.evidence[0].excerpt  # both ends of the window


def test_sparkline() -> None:
    assert sparkline([]) == ""
    assert sparkline([1, 1, 1]) == "▅▅▅"
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert len(sparkline(list(range(100)), width=40)) == 40
    assert json.dumps(sparkline([1.0, 2.0]))


def test_default_store_lives_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stackrx.history import default_store_url

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_url() == f"sqlite:///{tmp_path}/xdg/stackrx/history.sqlite"
    store_run(daily_report(0))
    assert (tmp_path / "xdg" / "stackrx" / "history.sqlite").exists()
    assert load_series(metric="nf_conntrack_max")[0].points[0].value == 262144
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the spec says: relative paths are invalid
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_url() == f"sqlite:///{tmp_path}/home/.local/share/stackrx/history.sqlite"


def test_bad_store_urls_are_usage_errors() -> None:
    from stackrx.errors import UsageError

    with pytest.raises(UsageError, match="not a database URL"):
        load_series("not a url")
    with pytest.raises(UsageError, match="no database driver"):
        load_series("nosuchdialect://x/y")


def test_forecast_results_for_a_fresh_scan(store: str) -> None:
    from stackrx.history.trend import forecast_results

    found = forecast_results(store, ["compute-9", "unknown-host"])
    assert {(r.check_id, r.resource, r.status) for r in found} >= {("STO-T01", "/var", Status.fail),
                                                                   ("NET-T01", "", Status.fail)}
    assert all(r.host == "compute-9" for r in found)
