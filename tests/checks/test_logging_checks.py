from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.models import Result, Severity, Status
from testkit import failing, scan_dir, scan_tree

COLLECTED = "Thu Feb 10 16:19:17 UTC 2022"
PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
METADATA = ("nova", "/usr/bin/python3 /usr/bin/nova-api-metadata --config-file=/etc/nova/nova.conf "
                    "--log-file=/var/log/nova/nova-api-metadata.log")
COMPUTE = ("nova", "/usr/bin/python3 /usr/bin/nova-compute --config-file=/etc/nova/nova.conf "
                   "--log-file=/var/log/nova/nova-compute.log")
API = ("nova", "/usr/bin/python3 /usr/bin/nova-api --config-file=/etc/nova/nova.conf")
NOVA_LOG_DIR = "[DEFAULT]\nlog_dir = /var/log/nova\nlog_file = nova-api.log\n"
LOGGING_CONF = """[loggers]
keys = root

[handlers]
keys = file

[handler_file]
class = handlers.{cls}
args = ('{path}', 'a', 209715200, 30)
formatter = context
"""


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _node(nova: str | None = None, ps: tuple[tuple[str, str], ...] = (METADATA, METADATA, COMPUTE)) -> NodeTree:
    node = NodeTree("ctl-1", collected=COLLECTED)
    if nova is not None:
        node.file("etc/nova/nova.conf", nova)
    rows = [f"{user} {1000 + i} 0.0 0.1 1000 100 ? S Feb09 0:01 {cmd}\n" for i, (user, cmd) in enumerate(ps)]
    node.command("ps auxwww", PS_HEADER + "root 1 0.0 0.0 1 1 ? Ss Feb09 0:01 /sbin/init\n" + "".join(rows))
    return node


# ---------------------------------------------------------------------------------------------------------
# LOG-001
# ---------------------------------------------------------------------------------------------------------


def test_log001_size_rotation_with_workers_warns(tmp_path: Path) -> None:
    node = _node("[DEFAULT]\ndebug = False\nlog_rotation_type = size\nmax_logfile_size_mb = 50\n")
    r = _one(failing(scan_tree(node, tmp_path, "LOG-001")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "/var/log/nova/nova-api-metadata.log")
    assert r.message.startswith("2 process(es) (nova-api-metadata) write /var/log/nova/nova-api-metadata.log "
                                "through RotatingFileHandler")
    assert (r.evidence[0].source, r.evidence[0].line) == ("etc/nova/nova.conf", 3)
    assert r.evidence[1].source == "sos_commands/process/ps_auxwww" and "nova-api-metadata" in r.evidence[1].excerpt


def test_log001_log_dir_and_log_file_from_the_config(tmp_path: Path) -> None:
    node = _node(NOVA_LOG_DIR + "log_rotation_type = interval\n", ps=(API, API, API))
    r = _one(failing(scan_tree(node, tmp_path, "LOG-001")))
    assert r.resource == "/var/log/nova/nova-api.log"
    assert "3 process(es) (nova-api)" in r.message and "TimedRotatingFileHandler" in r.message


@pytest.mark.parametrize("path", ["/var/log/nova/nova-api.log", "/var/log/nova/audit.log"])
def test_log001_log_config_append_handler(tmp_path: Path, path: str) -> None:
    # With log_config_append, oslo.log ignores log_file and --log-file: both API processes write the handler's
    # own file, whichever it is.
    node = _node(NOVA_LOG_DIR + "log_config_append = /etc/nova/logging.conf\n", ps=(API, API))
    node.file("etc/nova/logging.conf", LOGGING_CONF.format(cls="RotatingFileHandler", path=path))
    r = _one(scan_tree(node, tmp_path, "LOG-001"))
    assert (r.status, r.severity) == (Status.warn, Severity.medium)
    assert r.resource == path
    assert (r.evidence[0].source, r.evidence[0].line) == ("etc/nova/logging.conf", 8)


def test_log001_log_config_append_with_one_process_passes(tmp_path: Path) -> None:
    node = _node(NOVA_LOG_DIR + "log_config_append = /etc/nova/logging.conf\n", ps=(API,))
    node.file("etc/nova/logging.conf", LOGGING_CONF.format(cls="RotatingFileHandler", path="/var/log/nova/audit.log"))
    r = _one(scan_tree(node, tmp_path, "LOG-001"))
    assert r.status is Status.passed


def test_log001_default_watched_handler_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_node("[DEFAULT]\ndebug = False\n"), tmp_path, "LOG-001"))
    assert r.status is Status.passed
    assert r.message.startswith("2 service log file(s), 1 written by several processes")


def test_log001_one_file_per_process_passes(tmp_path: Path) -> None:
    ps = (METADATA, (METADATA[0], METADATA[1].replace("metadata.log", "metadata-2.log")), COMPUTE)
    r = _one(scan_tree(_node("[DEFAULT]\nlog_rotation_type = size\n", ps=ps), tmp_path, "LOG-001"))
    assert r.status is Status.passed and "3 service log file(s), 0 written by several processes" in r.message
    assert "3 through a rotating handler" in r.message


HORIZON_SETTINGS = """LOGGING = {
    'version': 1,
    'handlers': {
        'file': {
            'level': 'INFO',
            'class': 'logging.handlers.RotatingFileHandler',
            'filename': '/var/log/horizon/horizon.log',
            'maxBytes': 10485760,
        },
    },
}
"""
HORIZON_VHOST = """WSGIDaemonProcess dashboard processes={n} threads=10 user=apache group=apache
WSGIProcessGroup dashboard
WSGIScriptAlias /dashboard /usr/share/openstack-dashboard/openstack_dashboard/wsgi.py
"""


@pytest.mark.parametrize(("processes", "flagged"), [(3, True), (1, False)])
def test_log001_horizon_rotating_handler(tmp_path: Path, processes: int, flagged: bool) -> None:
    node = _node(ps=())
    node.file("etc/openstack-dashboard/local_settings.py", HORIZON_SETTINGS)
    node.file("etc/httpd/conf.d/openstack-dashboard.conf", HORIZON_VHOST.format(n=processes))
    r = _one(scan_tree(node, tmp_path, "LOG-001"))
    if flagged:
        assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "horizon")
        assert "RotatingFileHandler (var/log/horizon/horizon.log) from 3 mod_wsgi processes" in r.message
        assert [(e.source, e.line) for e in r.evidence] == [("etc/openstack-dashboard/local_settings.py", 6),
                                                            ("etc/httpd/conf.d/openstack-dashboard.conf", 1)]
    else:
        assert r.status is Status.passed


def test_log001_skips(tmp_path: Path) -> None:
    no_ps = NodeTree("ctl-1", collected=COLLECTED)
    r = _one(scan_tree(no_ps, tmp_path / "a", "LOG-001"))
    assert r.status is Status.skipped and r.message.startswith("input missing: sos_commands/process/ps_auxwwwm")
    r = _one(scan_tree(_node(ps=(("root", "/usr/sbin/sshd -D"),)), tmp_path / "b", "LOG-001"))
    assert r.status is Status.skipped and "no OpenStack service process" in r.message


def test_log001_compute4_passes(compute4: Path) -> None:
    # Juju-deployed Ubuntu: the default WatchedFileHandler, logrotate does the rotating.
    r = _one(scan_dir(compute4, "LOG-001"))
    assert r.status is Status.passed and "0 through a rotating handler" in r.message


# ---------------------------------------------------------------------------------------------------------
# LOG-002
# ---------------------------------------------------------------------------------------------------------

REQ = ("2022-02-10 15:{m:02d}:{s:02d}.008 25746 INFO nova.osapi_compute.wsgi.server [req-38101a0b-2096-447d-96ea-"
       "a692162415ae 113d3a99c3da401fbd62cc2caa5b96d2 54fadb412c4e40cdbaed9335e4c35a9e - - -] 10.11.10.1 "
       "\"{method} {path} HTTP/1.1\" status: 200 len: 1893 time: {t:.7f}\n")
DETAIL = "/v2.1/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail"
ACTION = "/v2.1/servers/0a1b2c3d-0000-4000-8000-000000000001/action"
IMAGE_FILE = "/v2/images/0a1b2c3d-0000-4000-8000-00000000000f/file"


def _requests(*batches: tuple[str, str, float, int]) -> str:
    lines = []
    n = 0
    for method, path, seconds, count in batches:
        for _ in range(count):
            lines.append(REQ.format(m=n // 60, s=n % 60, method=method, path=path, t=seconds))
            n += 1
    return "".join(lines)


def _api_node(log: str, path: str = "var/log/nova/nova-api.log") -> NodeTree:
    node = NodeTree("ctl-1", collected=COLLECTED)
    node.file(path, log)
    return node


def test_log002_request_over_a_minute_is_high(tmp_path: Path) -> None:
    log = _requests(("GET", DETAIL, 0.25, 5), ("POST", ACTION, 138.597, 1))
    r = _one(failing(scan_tree(_api_node(log), tmp_path, "LOG-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "nova-api POST /v2.1/servers/{id}/action")
    assert "1 request(s) over 60 s, slowest 138.6 s" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("var/log/nova/nova-api.log", 6)
    assert '/action HTTP/1.1" status: 200' in r.evidence[0].excerpt


def test_log002_slow_p95_is_medium(tmp_path: Path) -> None:
    log = _requests(("GET", DETAIL, 0.3, 18), ("GET", DETAIL, 8.25, 2))
    r = _one(failing(scan_tree(_api_node(log), tmp_path, "LOG-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "nova-api GET /v2.1/{id}/servers/detail")
    assert "p95 8.2 s over 20 requests" in r.message and r.evidence[0].line == 19


@pytest.mark.parametrize(("batches", "count"), [
    ((("GET", DETAIL, 0.3, 19), ("GET", DETAIL, 30.0, 1)), 20),  # one slow request in twenty is under the p95
    ((("GET", DETAIL, 9.0, 19),), 19),                           # too few samples for a percentile
])
def test_log002_below_thresholds_passes(tmp_path: Path, batches: tuple[tuple[str, str, float, int], ...],
                                        count: int) -> None:
    r = _one(scan_tree(_api_node(_requests(*batches)), tmp_path, "LOG-002"))
    assert r.status is Status.passed and r.message.startswith(f"{count} API request(s) in 1 API log file(s)")


@pytest.mark.parametrize("path", ["var/log/glance/glance-api.log", "var/log/glance/api.log"])
def test_log002_image_transfers_are_exempt(tmp_path: Path, path: str) -> None:
    log = _requests(("PUT", IMAGE_FILE, 240.0, 1), ("GET", IMAGE_FILE, 95.0, 25))
    r = _one(scan_tree(_api_node(log, path), tmp_path, "LOG-002"))
    assert r.status is Status.passed and "26 API request(s) in 1 API log file(s)" in r.message


def test_log002_skips(tmp_path: Path) -> None:
    r = _one(scan_tree(NodeTree("ctl-1", collected=COLLECTED), tmp_path / "a", "LOG-002"))
    assert r.status is Status.skipped and r.message.startswith("input missing: service logs")
    log = _requests(("GET", DETAIL, 90.0, 1))
    r = _one(scan_tree(_api_node(log, "var/log/nova/nova-compute.log"), tmp_path / "b", "LOG-002"))
    assert r.status is Status.skipped and "no API service logs" in r.message


def test_log002_compute4_metadata_api_has_no_slow_requests(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "LOG-002"))
    assert r.status is Status.passed and "in 2 API log file(s)" in r.message
