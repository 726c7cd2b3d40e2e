from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.areas import compute as demo
from stackrx.demo.builder import NodeTree
from stackrx.models import Result, Severity, Status
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


DF = "sos_commands/filesys/df_-al_-x_autofs"
DF_HEADER = "Filesystem     1K-blocks     Used Available Use% Mounted on\n"
DU = "sos_commands/mongodb/du_-sh_.var.lib.mongodb"
CONF = "etc/ceilometer/ceilometer.conf"
POLLING = "etc/ceilometer/polling.yaml"
DEBIAN = REALDATA / "debian-defaults" / "ceilometer-common"
DEBIAN_CONF = DEBIAN / "usr" / "share" / "ceilometer-common" / "ceilometer.conf"
DEBIAN_POLLING = DEBIAN / "etc" / "ceilometer" / "polling.yaml"
LOGHUB = REALDATA / "loghub" / "OpenStack" / "OpenStack_2k.log"


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _real(path: Path) -> str:
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return path.read_text()


def _df(*rows: tuple[str, int, str]) -> str:
    size = 100_000_000
    body = "".join(f"{dev} {size} {size * pct // 100} {size - size * pct // 100} {pct}% {target}\n"
                   for dev, pct, target in rows)
    return DF_HEADER + "/dev/vda1 20971520 8388608 12582912 40% /\n" + body


# -- TEL-002 -----------------------------------------------------------------------------------------------
MONGOD_YAML = """# mongod.conf
storage:
  dbPath: /srv/mongodb
  journal:
    enabled: true
net:
  port: 27017
  bindIp: 10.0.0.10
"""


def _mongo_node(df: str | None, conf: tuple[str, str] = ("etc/mongodb.conf", "dbpath=/var/lib/mongodb\n")) -> NodeTree:
    node = NodeTree("controller-1")
    node.file(*conf)
    node.file(DU, "48G\t/var/lib/mongodb/\n")
    if df is not None:
        node.command("df -al", df)
    return node


def test_tel002_mongodb_filesystem_full(tmp_path: Path) -> None:
    node = _mongo_node(_df(("/dev/vdb1", 91, "/var/lib/mongodb")))
    r = _one(failing(scan_tree(node, tmp_path, "TEL-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "/var/lib/mongodb")
    assert "MongoDB" in r.message and "91% full" in r.message
    assert [(e.source, e.line) for e in r.evidence] == [(DF, 3), ("etc/mongodb.conf", 1), (DU, 1)]
    assert "48G" in r.evidence[2].excerpt and "(48.0 GiB)" in r.evidence[2].excerpt


def test_tel002_mongod_yaml_dbpath_on_root(tmp_path: Path) -> None:
    # /srv/mongodb has no mount of its own: the root filesystem (40%) holds it.
    node = _mongo_node(_df(("/dev/vdb1", 97, "/var/lib/mongodb")), conf=("etc/mongod.conf", MONGOD_YAML))
    r = _one(scan_tree(node, tmp_path, "TEL-002"))
    assert (r.status, r.resource) == (Status.passed, "/srv/mongodb")
    assert "filesystem / 40% used" in r.message
    assert ("etc/mongod.conf", 3) in {(e.source, e.line) for e in r.evidence}


def test_tel002_mongodb_below_threshold_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_mongo_node(_df(("/dev/vdb1", 84, "/var/lib/mongodb"))), tmp_path, "TEL-002"))
    assert r.status is Status.passed and "/var/lib/mongodb 84% used" in r.message


# sos has no such file (the mongo query runs on a live host only); the command map looks here all the same.
MONGO_STATS = "sos_commands/mongodb/mongo_ceilometer_stats"


@pytest.mark.parametrize(("data", "storage", "flagged"), [
    (20 * 1024**3, "NumberLong(\"64424509440\")", True),
    (200 * 1024**2, "629145600", False),  # WiredTiger preallocation: a small database always looks bloated
])
def test_tel002_mongodb_space_not_returned(tmp_path: Path, data: int, storage: str, flagged: bool) -> None:
    node = _mongo_node(_df(("/dev/vdb1", 60, "/var/lib/mongodb")))
    node.file(MONGO_STATS, f'{{\n\t"db" : "ceilometer",\n\t"dataSize" : {data},\n\t"storageSize" : {storage},\n}}\n')
    results = failing(scan_tree(node, tmp_path, "TEL-002"))
    if not flagged:
        assert results == []
        return
    r = _one(results)
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "mongodb:ceilometer")
    assert "60.0 GiB on disk for 20.0 GiB of data" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == (MONGO_STATS, 3)


def test_tel002_gnocchi_file_storage_default_path_full(tmp_path: Path) -> None:
    node = NodeTree("controller-1")
    node.file("etc/gnocchi/gnocchi.conf", "[DEFAULT]\ndebug = False\n[storage]\ncoordination_url = redis://r:6379\n")
    node.command("df -al", _df(("/dev/vdc1", 88, "/var/lib/gnocchi")))
    r = _one(failing(scan_tree(node, tmp_path, "TEL-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "/var/lib/gnocchi")
    assert "Gnocchi file storage" in r.message and "88% full" in r.message
    assert r.evidence[1].source == "etc/gnocchi/gnocchi.conf" and "default file" in r.evidence[1].excerpt


def test_tel002_ceph_backed_gnocchi_is_not_measured_here(tmp_path: Path) -> None:
    node = NodeTree("controller-1")
    node.file("etc/gnocchi/gnocchi.conf", "[storage]\ndriver = ceph\nceph_pool = metrics\n")
    node.command("df -al", _df(("/dev/vdc1", 99, "/var/lib/gnocchi")))
    r = _one(scan_tree(node, tmp_path, "TEL-002"))
    assert r.status is Status.passed and "stores measures in ceph" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("etc/gnocchi/gnocchi.conf", 2)


def test_tel002_high_archive_policy_is_information(tmp_path: Path) -> None:
    node = NodeTree("controller-1")
    node.file("etc/gnocchi/gnocchi.conf", "[storage]\ndriver = file\nfile_basepath = /srv/gnocchi\n")
    node.file(CONF, "[DEFAULT]\nmeter_dispatchers = gnocchi\n[dispatcher_gnocchi]\narchive_policy = high\n")
    node.command("df -al", _df(("/dev/vdc1", 30, "/srv/gnocchi")))
    results = scan_tree(node, tmp_path, "TEL-002")
    assert not failing(results)
    policy = next(r for r in results if r.resource == "archive_policy")
    assert policy.status is Status.passed and "1-second granularity" in policy.message
    assert (policy.evidence[0].source, policy.evidence[0].line) == (CONF, 4)


def test_tel002_without_df_is_skipped(tmp_path: Path) -> None:
    r = _one(scan_tree(_mongo_node(None), tmp_path, "TEL-002"))
    assert r.status is Status.skipped and "df_-al_-x_autofs" in r.message


def test_tel002_compute4_has_no_telemetry_store(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "TEL-002"))
    assert r.status is Status.skipped and "no MongoDB or Gnocchi" in r.message


# -- TEL-003 -----------------------------------------------------------------------------------------------
def _polling(interval: int, meters: str = "\n        - cpu\n        - memory.usage") -> str:
    return f"---\nsources:\n    - name: some_pollsters\n      interval: {interval}\n      meters:{meters}\n"


def _telemetry_node(conf: str | None = None, polling: str | None = None) -> NodeTree:
    node = NodeTree("compute-1")
    if conf is not None:
        node.file(CONF, conf)
    if polling is not None:
        node.file(POLLING, polling)
    return node


def test_tel003_debian_defaults_pass(tmp_path: Path) -> None:
    node = _telemetry_node(_real(DEBIAN_CONF), _real(DEBIAN_POLLING))
    r = _one(scan_tree(node, tmp_path, "TEL-003"))
    assert r.status is Status.passed and "1 polling source(s), none too frequent" in r.message
    assert POLLING in r.message


def test_tel003_interval_under_a_minute_is_high(tmp_path: Path) -> None:
    polling = _real(DEBIAN_POLLING).replace("interval: 300", "interval: 30")
    r = _one(failing(scan_tree(_telemetry_node(_real(DEBIAN_CONF), polling), tmp_path, "TEL-003")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "source:some_pollsters")
    assert "every 30 s" in r.message and "under 60 s" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == (POLLING, 4)
    assert "meters [cpu, cpu_l3_cache" in r.evidence[0].excerpt


@pytest.mark.parametrize(("interval", "flagged"), [(120, True), (300, False), (604800, False)])
def test_tel003_all_meters_polled_often(tmp_path: Path, interval: int, flagged: bool) -> None:
    # A week-long interval (notifications do the work) is the catalogue's false-positive trap.
    node = _telemetry_node(polling=_polling(interval, ' ["*"]'))
    results = scan_tree(node, tmp_path, "TEL-003")
    if not flagged:
        assert _one(results).status is Status.passed
        return
    r = _one(failing(results))
    assert (r.status, r.severity) == (Status.warn, Severity.medium)
    assert "polls every meter ('*') every 120 s" in r.message


def test_tel003_short_interval_for_prometheus_exporter_is_information(tmp_path: Path) -> None:
    conf = _real(DEBIAN_CONF) + "\n[polling]\nenable_prometheus_exporter = true\n"
    r = _one(scan_tree(_telemetry_node(conf, _polling(15)), tmp_path, "TEL-003"))
    assert r.status is Status.passed and "Prometheus exporter" in r.message


def test_tel003_naive_instance_discovery(tmp_path: Path) -> None:
    conf = _real(DEBIAN_CONF).replace("#instance_discovery_method = libvirt_metadata",
                                      "instance_discovery_method = naive")
    r = _one(failing(scan_tree(_telemetry_node(conf, _real(DEBIAN_POLLING)), tmp_path, "TEL-003")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.low, "instance_discovery_method")
    assert "naive" in r.message and "20 computes" in r.message
    assert r.evidence[0].source == CONF and r.evidence[0].excerpt == "[compute] instance_discovery_method = naive"


def test_tel003_pre_ocata_pipeline_intervals(tmp_path: Path) -> None:
    pipeline = ("---\nsources:\n    - name: meter_source\n      interval: 600\n      meters:\n          - \"*\"\n"
                "      sinks:\n          - meter_sink\n    - name: cpu_source\n      interval: 10\n      meters:\n"
                "          - \"cpu\"\n      sinks:\n          - cpu_sink\n")
    node = _telemetry_node("[DEFAULT]\ndebug = False\n")
    node.file("etc/ceilometer/pipeline.yaml", pipeline)
    r = _one(failing(scan_tree(node, tmp_path, "TEL-003")))
    assert (r.severity, r.resource) == (Severity.high, "source:cpu_source")
    assert (r.evidence[0].source, r.evidence[0].line) == ("etc/ceilometer/pipeline.yaml", 10)


def test_tel003_pipeline_intervals_ignored_once_polling_yaml_exists(tmp_path: Path) -> None:
    node = _telemetry_node(polling=_polling(300))
    node.file("etc/ceilometer/pipeline.yaml", "---\nsources:\n    - name: old\n      interval: 10\n      meters: ['*']\n")
    assert _one(scan_tree(node, tmp_path, "TEL-003")).status is Status.passed


def test_tel003_conf_without_polling_files_uses_shipped_defaults(tmp_path: Path) -> None:
    r = _one(scan_tree(_telemetry_node("[DEFAULT]\ndebug = False\n"), tmp_path, "TEL-003"))
    assert r.status is Status.passed and "shipped defaults" in r.message


def test_tel003_compute4_has_no_ceilometer(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "TEL-003"))
    assert r.status is Status.skipped and "no ceilometer.conf" in r.message


# nova-api access lines: loghub's real ones (700 servers/detail in 15 minutes), or that line repeated.
NOVA_API_LOG = "var/log/nova/nova-api.log"


def _loghub_nova_api() -> list[str]:
    lines = _real(LOGHUB).splitlines()
    return [line.split(" ", 1)[1] for line in lines if line.startswith("nova-api.log")]


def _servers_detail(count: int, step_s: float) -> str:
    """`count` GET servers/detail lines from 2017-05-16 00:00:00, `step_s` apart."""
    template = next(line for line in _loghub_nova_api() if "/servers/detail" in line)
    out = []
    for i in range(count):
        t = i * step_s
        stamp = f"2017-05-16 {int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:06.3f}"
        out.append(stamp + template[23:])
    return "\n".join(out) + "\n"


def _api_node(log: str, collected: str) -> NodeTree:
    node = _telemetry_node("[DEFAULT]\ndebug = False\n", _polling(300))
    node.collected = collected
    node.file(NOVA_API_LOG, log)
    return node


def test_tel003_real_nova_api_log_below_one_request_per_second(tmp_path: Path) -> None:
    node = _api_node("\n".join(_loghub_nova_api()) + "\n", "Tue May 16 00:20:00 UTC 2017")
    r = _one(scan_tree(node, tmp_path, "TEL-003"))
    assert r.status is Status.passed


def test_tel003_sustained_servers_detail_rate(tmp_path: Path) -> None:
    # 4000 requests 0.8 s apart, the log starting 54 minutes before collection: over one request per second
    # for as long as the log reaches back, although far below it over the 7-day window.
    node = _api_node(_servers_detail(4000, 0.8), "Tue May 16 00:54:00 UTC 2017")
    r = _one(failing(scan_tree(node, tmp_path, "TEL-003")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.low, "nova-api:servers/detail")
    assert "4000 GET servers/detail requests in 1.0 h of logs (1.1/s)" in r.message
    assert r.evidence[0].source == NOVA_API_LOG and "/servers/detail HTTP/1.1" in r.evidence[0].excerpt


def test_tel003_short_burst_is_not_a_rate(tmp_path: Path) -> None:
    node = _api_node(_servers_detail(3000, 0.2), "Tue May 16 00:11:00 UTC 2017")
    assert _one(scan_tree(node, tmp_path, "TEL-003")).status is Status.passed
