from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.areas import compute as demo
from stackrx.demo.builder import NodeTree
from stackrx.models import Severity, Status
from testkit import REALDATA, failing, scan_dir, scan_tree

LEGACY_MONGO = """[DEFAULT]
meter_dispatchers = database
[database]
connection = mongodb://ceilometer:*********@10.0.0.10:27017/ceilometer
"""
LEGACY_SQL = "[database]\nconnection = mysql+pymysql://ceilometer:*********@db/ceilometer\n"
MODERN = (
    "[DEFAULT]\ntransport_url = rabbit://ceilometer:*********@10.0.0.10:5672/\n[notification]\nworkers = 2\n"
)
AODH = "[database]\nconnection = mysql+pymysql://aodh:*********@db/aodh\n"


def node(
    ceilometer: str | None = None, aodh: str | None = None, cron: dict[str, str] | None = None
) -> NodeTree:
    tree = NodeTree("controller-x")
    if ceilometer is not None:
        tree.file("etc/ceilometer/ceilometer.conf", ceilometer)
    if aodh is not None:
        tree.file("etc/aodh/aodh.conf", aodh)
    for path, text in (cron or {}).items():
        tree.file(path, text)
    return tree


def test_legacy_ceilometer_without_ttl_fails_high(tmp_path: Path) -> None:
    [r] = scan_tree(node(LEGACY_MONGO), tmp_path, "TEL-001")
    assert (
        r.status is Status.fail and r.severity is Severity.high and "metering_time_to_live = -1" in r.message
    )
    excerpts = [e.excerpt for e in r.evidence]
    assert "[DEFAULT] meter_dispatchers = database" in excerpts
    assert "[database] metering_time_to_live not set (default -1)" in excerpts


def test_real_insights_ceilometer_conf_fails(tmp_path: Path) -> None:
    real = REALDATA / "insights-core-fixtures" / "test_ceilometer_conf" / "CEILOMETER_CONTENT.txt"
    if not real.is_file():
        pytest.skip("real data not present")
    [r] = scan_tree(node(real.read_text()), tmp_path, "TEL-001")
    assert r.status is Status.fail and r.severity is Severity.high
    ttl = [e for e in r.evidence if "metering_time_to_live" in e.excerpt]
    assert ttl and ttl[0].excerpt == "[database] metering_time_to_live = -1" and ttl[0].line is not None


def test_new_ttl_name_wins_over_deprecated_alias(tmp_path: Path) -> None:
    conf = LEGACY_MONGO + "time_to_live = -1\nmetering_time_to_live = 604800\n"
    [r] = scan_tree(node(conf), tmp_path / "a", "TEL-001")
    assert r.status is Status.passed and "604800" in r.message  # MongoDB: no cron job expected
    conf = LEGACY_MONGO + "time_to_live = 302400\n"
    [r] = scan_tree(node(conf), tmp_path / "b", "TEL-001")
    assert r.status is Status.passed and "302400" in r.message


def test_sql_ttl_needs_the_expirer_in_a_crontab(tmp_path: Path) -> None:
    conf = LEGACY_SQL + "metering_time_to_live = 604800\n"
    [r] = scan_tree(node(conf), tmp_path / "a", "TEL-001")
    assert r.status is Status.warn and r.severity is Severity.medium and "ceilometer-expirer" in r.message
    commented = {"etc/cron.d/ceilometer": "# 0 3 * * * ceilometer ceilometer-expirer\n"}
    [r] = scan_tree(node(conf, cron=commented), tmp_path / "b", "TEL-001")
    assert r.status is Status.warn
    cron = {"var/spool/cron/crontabs/ceilometer": "0 3 * * * /usr/bin/ceilometer-expirer\n"}
    [r] = scan_tree(node(conf, cron=cron), tmp_path / "c", "TEL-001")
    assert r.status is Status.passed
    assert any(e.source == "var/spool/cron/crontabs/ceilometer" and e.line == 1 for e in r.evidence)


def test_modern_ceilometer_and_gnocchi_only_dispatcher_pass(tmp_path: Path) -> None:
    [r] = scan_tree(node(MODERN), tmp_path / "a", "TEL-001")
    assert r.status is Status.passed and "Gnocchi" in r.message
    leftover = "[DEFAULT]\nmeter_dispatchers = gnocchi\n" + LEGACY_SQL
    [r] = scan_tree(node(leftover), tmp_path / "b", "TEL-001")
    assert r.status is Status.passed


def test_debian_sample_ceilometer_conf_passes(tmp_path: Path) -> None:
    sample = next((REALDATA / "debian-defaults" / "ceilometer-common").rglob("ceilometer.conf"), None)
    if sample is None:
        pytest.skip("real data not present")
    [r] = scan_tree(node(sample.read_text()), tmp_path, "TEL-001")
    assert r.status is Status.passed


def test_aodh_history_forever_warns_medium(tmp_path: Path) -> None:
    [r] = scan_tree(node(aodh=AODH), tmp_path, "TEL-001")
    assert r.status is Status.warn and r.severity is Severity.medium and r.resource == "aodh"
    assert r.evidence[0].excerpt == "[database] alarm_history_time_to_live not set (default -1)"


def test_aodh_ttl_with_and_without_expirer(tmp_path: Path) -> None:
    conf = AODH + "alarm_history_time_to_live = 2592000\n"
    [r] = scan_tree(node(aodh=conf), tmp_path / "a", "TEL-001")
    assert r.status is Status.warn and "aodh-expirer" in r.message
    cron = {"etc/crontab": "0 3 * * * aodh aodh-expirer\n"}
    [r] = scan_tree(node(aodh=conf, cron=cron), tmp_path / "b", "TEL-001")
    assert r.status is Status.passed


def test_aodh_without_history_recording_passes(tmp_path: Path) -> None:
    [r] = scan_tree(node(aodh="[DEFAULT]\nrecord_history = False\n" + AODH), tmp_path, "TEL-001")
    assert r.status is Status.passed and "record_history" in r.message


def test_both_services_reported_separately(tmp_path: Path) -> None:
    results = scan_tree(node(LEGACY_MONGO, AODH), tmp_path, "TEL-001")
    assert {(r.resource, r.status) for r in results} == {("ceilometer", Status.fail), ("aodh", Status.warn)}


def test_no_telemetry_config_is_skipped(compute4: Path) -> None:
    [r] = scan_dir(compute4, "TEL-001")
    assert r.status is Status.skipped and "etc/ceilometer/ceilometer.conf" in r.message


def _controller(*faults: str) -> NodeTree:
    tree = NodeTree("controller-1", collected="Tue Dec  1 09:00:00 UTC 2026")
    demo.healthy(tree, "controller")
    for fault in faults:
        demo.FAULTS[fault](tree)
    return tree


def test_demo_controller_telemetry(tmp_path: Path) -> None:
    assert not failing(scan_tree(_controller(), tmp_path / "ok", "TEL-001"))
    [bad] = failing(scan_tree(_controller("TEL-001"), tmp_path / "bad", "TEL-001"))
    assert bad.status is Status.fail and bad.severity is Severity.high and bad.resource == "ceilometer"
