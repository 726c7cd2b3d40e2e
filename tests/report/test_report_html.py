"""The HTML report in a real headless Chromium: renders offline, no console errors, the expected counts,
findings that expand to evidence, tale and remedy, working filters. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_samples import fleet_report, open_counts

from stackrx.models import ScanReport, Status
from stackrx.report.formats import render

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


# Module scope: Playwright's sync API allows one running instance per thread, and other test modules
# start their own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium missing: apt-get install -y --no-install-recommends chromium")
        pytest.skip("Debian chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A loaded report page with every console error, page error and network request recorded."""

    def __init__(self, browser: Any, html_file: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1360, "height": 900})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(html_file.as_uri())
        self.page.wait_for_load_state("load")

    def count(self, name: str) -> int:
        card = self.page.locator(f"[data-testid=count-{name}]")
        assert card.get_attribute("data-count") == card.locator(".n").inner_text()
        return int(card.get_attribute("data-count") or "-1")

    def visible_findings(self) -> int:
        return int(self.page.locator("#findings details.finding:not(.hidden)").count())


def _open(browser: Any, report: ScanReport, tmp_path: Path, name: str) -> Page:
    html = tmp_path / f"{name}.html"
    html.write_text(render(report, "html"))
    return Page(browser, html)


def _shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def test_synthetic_fleet_page(browser: Any, tmp_path: Path) -> None:
    report = fleet_report()
    page = _open(browser, report, tmp_path, "synthetic")
    counts = open_counts(report)
    for sev in ("critical", "high", "medium", "low"):
        assert page.count(sev) == counts[sev], sev
    assert page.count("muted") == 1 and page.count("errors") == 1
    assert page.count("passed") == sum(1 for r in report.results if r.status is Status.passed)
    # Matrix: a row per check, a column per host; the muted cell says so.
    headers = page.page.locator("table.matrix thead th").all_inner_texts()
    assert headers == ["check", "network-1", "network-2", "compute-1"]
    assert page.page.locator("table.matrix tbody tr").count() == len({r.check_id for r in report.results})
    sto = page.page.locator("table.matrix tbody tr", has_text="STO-003").locator("td").all_inner_texts()
    assert sto == ["skip", "·", "muted"]
    # Expanding a finding shows evidence, tale and remediation.
    first = page.page.locator("#findings details.finding").first
    assert first.get_attribute("data-check") == "NET-001"
    assert not first.locator(".body").is_visible()
    first.locator("summary").click()
    body = first.locator(".body")
    assert body.is_visible()
    text = body.inner_text()
    assert "sos_commands/kernel/sysctl_-a:812" in text and "table full, dropping packet" in text
    assert "THE TALE" in text.upper() and "DESTRUCTIVE" in text and "$ conntrack -F" in text
    assert "stackrx fix NET-001 --host network-1 --plan" in text
    # Escaping: markup in messages is text, not HTML.
    assert page.page.locator("#findings summary", has_text="<eth0.100.101>").count() == 1
    # Filters: severity, host, text.
    assert page.visible_findings() == 5
    page.page.locator(".toolbar button[data-min='3']").click()
    assert page.visible_findings() == 3
    page.page.select_option("#host-filter", "compute-1")
    assert page.visible_findings() == 1
    page.page.locator(".toolbar button[data-min='0']").click()
    page.page.select_option("#host-filter", "")
    page.page.fill("#text-filter", "HYPERLINK")
    assert page.visible_findings() == 1
    page.page.fill("#text-filter", "")
    # A matrix link opens its finding.
    page.page.locator("table.matrix a", has_text="high").first.click()
    assert page.page.locator("details.finding[open]").count() >= 1
    bars = page.page.locator("#metrics svg.bar")
    assert bars.count() == 5
    _shot(page, "report-synthetic-fleet")
    assert page.errors == []
    assert all(re.match(r"^(file|data|about):", url) for url in page.requests), page.requests


def test_demo_fleet_scan_renders(browser: Any, tmp_path: Path) -> None:
    from stackrx.runner import run_scan

    report = run_scan(None, demo=True)
    assert len(report.hosts) == 7
    page = _open(browser, report, tmp_path, "demo")
    counts = open_counts(report)
    for sev in ("critical", "high", "medium", "low"):
        assert page.count(sev) == counts[sev], sev
    assert counts["critical"] + counts["high"] > 0, "the demo plants faults"
    headers = page.page.locator("table.matrix thead th").all_inner_texts()
    assert headers[1:] == [h.name for h in report.hosts]
    assert page.visible_findings() == sum(counts.values())
    page.page.locator("#expand-all").click()
    assert page.page.locator("#findings details.finding[open]").count() == sum(counts.values())
    page.page.locator("#collapse-all").click()
    page.page.locator("#findings details.finding").first.locator("summary").click()
    _shot(page, "report-demo-fleet")
    assert page.errors == []
    assert all(re.match(r"^(file|data|about):", url) for url in page.requests), page.requests


def test_html_is_self_contained() -> None:
    html = render(fleet_report(), "html")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)=["']https?:""", html)
    assert "<script src" not in html and "<link" not in html
