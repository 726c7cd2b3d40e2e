from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.models import Result, Severity, Status
from testkit import REALDATA, failing, scan_dir, scan_tree

RABBIT = REALDATA / "hotsos" / "rabbitmq-sosreport"
REPORT = "sos_commands/rabbitmq/rabbitmqctl_report"
RMQ_LOG = "var/log/rabbitmq/rabbit@rmq-1.log"
COLLECTED = "Thu Feb 10 09:40:15 UTC 2022"
NODE = "rabbit@juju-04f1e3-1-lxd-5"
# Log lines as RabbitMQ 3.8 writes them; the partition line is the real one from hotsos' test snippets.
ALARM_SET = "2022-02-09 10:00:00.000 [warning] <0.375.0> memory resource limit alarm set on node rabbit@rmq-1.\n"
ALARM_CLEAR = "2022-02-09 10:00:05.000 [warning] <0.375.0> memory resource limit alarm cleared on node rabbit@rmq-1\n"
PARTITION = ("2022-02-09 13:07:54.866061+00:00 [error] <0.275.0> Mnesia('rabbit@host1'): ** ERROR ** mnesia_event "
             "got {inconsistent_database, running_partitioned_network, 'rabbit@host2'}\n")
DPKG = ("Desired=Unknown/Install/Remove/Purge/Hold\n||/ Name    Version    Architecture Description\n"
        "+++-=======-==========-============-===========\n"
        "ii  librabbitmq4:amd64  0.10.0-1  amd64  AMQP client library written in C\n")


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _real_report() -> str:
    path = RABBIT / REPORT
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return path.read_text()


def _node(report: str | None = None, log: str | None = None, dpkg: str | None = None) -> NodeTree:
    node = NodeTree("rmq-1", collected=COLLECTED)
    if report is not None:
        node.file(REPORT, report)
    if log is not None:
        node.file(RMQ_LOG, log)
    if dpkg is not None:
        node.file("sos_commands/dpkg/dpkg_-l", dpkg)
    return node


# -- MQ-001 ----------------------------------------------------------------------------------------------
def test_mq001_real_healthy_report_passes() -> None:
    _real_report()
    r = _one(scan_dir(RABBIT, "MQ-001"))
    assert r.status is Status.passed and r.resource == NODE
    assert "no alarm, no partition, 1 of 1 member(s) running, memory at 48% of the high watermark" in r.message


def test_mq001_memory_alarm_in_status_is_critical(tmp_path: Path) -> None:
    report = _real_report().replace("Alarms\x1b[0m\n\n(none)", f"Alarms\x1b[0m\n\nMemory alarm on node {NODE}", 1)
    r = _one(failing(scan_tree(_node(report), tmp_path, "MQ-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.critical, f"{NODE}:memory")
    assert "memory alarm active" in r.message and "publishers are blocked" in r.message
    assert r.evidence[0].source == REPORT and r.evidence[0].excerpt == f"Memory alarm on node {NODE}"


def test_mq001_memory_near_watermark_is_high(tmp_path: Path) -> None:
    # Same breakdown (0.2057 gb in use), watermark lowered to 0.25 gb: 82 % of it.
    report = _real_report().replace("computed to: 0.4295 gb", "computed to: 0.25 gb", 1)
    r = _one(failing(scan_tree(_node(report), tmp_path, "MQ-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, f"{NODE}:memory")
    assert "82% of its memory high watermark" in r.message
    assert {e.source for e in r.evidence} == {REPORT}


def test_mq001_orphan_queue_backlog_is_high(tmp_path: Path) -> None:
    real = _real_report()
    row = next(line for line in real.splitlines() if line.startswith("q-bgp-plugin\t"))
    cells = row.split("\t")
    # columns 12 (messages) and 25 (consumers) of the real header
    cells[12], cells[25] = "25000", "0"
    report = real.replace(row, "\t".join(cells), 1)
    r = _one(failing(scan_tree(_node(report), tmp_path, "MQ-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "openstack/q-bgp-plugin")
    assert "holds 25000 messages and has no consumer" in r.message
    assert r.evidence[0].excerpt == "vhost openstack: q-bgp-plugin messages=25000 consumers=0"


def test_mq001_cluster_member_not_running_is_high(tmp_path: Path) -> None:
    peer = "rabbit@juju-04f1e3-2-lxd-5"
    report = _real_report().replace(f"Disk Nodes\x1b[0m\n\n{NODE}\n", f"Disk Nodes\x1b[0m\n\n{NODE}\n{peer}\n", 1)
    r = _one(failing(scan_tree(_node(report), tmp_path, "MQ-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, f"{NODE}:members")
    assert f"1 cluster member(s) not running: {peer}" in r.message
    assert r.evidence[0].excerpt == f"members: {NODE}, {peer}; running: {NODE}"


def test_mq001_partition_in_log_without_status_is_high(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_node(log=PARTITION), tmp_path, "MQ-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "partition:log")
    assert "network partition with rabbit@host2 logged" in r.message and "not collected" in r.message
    assert r.evidence[0].source == RMQ_LOG and r.evidence[0].line == 1


def test_mq001_logged_partition_healed_per_status_passes(tmp_path: Path) -> None:
    results = scan_tree(_node(_real_report(), log=PARTITION), tmp_path, "MQ-001")
    assert not failing(results)
    assert any("cluster status shows none now" in r.message for r in results)


def test_mq001_alarm_set_and_never_cleared_in_log_is_critical(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_node(log=ALARM_SET), tmp_path, "MQ-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.critical, "rabbit@rmq-1:memory")
    assert "never cleared" in r.message and r.evidence[0].source == RMQ_LOG


def test_mq001_brief_alarm_during_start_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(log=ALARM_SET + ALARM_CLEAR), tmp_path, "MQ-001"))
    assert r.status is Status.passed and "cleared again (brief episode)" in r.message
    assert [e.line for e in r.evidence] == [1, 2]


def test_mq001_pre_3_8_erlang_terms_are_read(tmp_path: Path) -> None:
    report = ("Status of node rabbit@rmq-1 ...\n[{pid,1234},\n {running_applications,[{rabbit,\"RabbitMQ\",\"3.6.10\"}]},\n"
              " {alarms,[memory]},\n {vm_memory_limit,1000},\n {memory,[{total,900}]}]\n")
    r = _one(failing(scan_tree(_node(report), tmp_path, "MQ-001")))
    assert (r.severity, r.resource) == (Severity.critical, "rabbit@rmq-1:memory")
    assert r.evidence[0].excerpt == "{alarms,[memory]},"


def test_mq001_json_formatter_status_is_read(tmp_path: Path) -> None:
    node = _node()
    node.file("sos_commands/rabbitmq/rabbitmqctl_status",
              '{"node_name": "rabbit@rmq-1", "rabbitmq_version": "4.0.5", "alarms": [], "vm_memory_limit": 1000, '
              '"memory": {"total": {"rss": 850, "allocated": 900}}}\n')
    r = _one(failing(scan_tree(node, tmp_path, "MQ-001")))
    assert (r.severity, r.resource) == (Severity.high, "rabbit@rmq-1:memory") and "85%" in r.message
    assert r.evidence[0].source == "sos_commands/rabbitmq/rabbitmqctl_status"


def test_mq001_not_a_rabbitmq_node_is_skipped(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(dpkg=DPKG), tmp_path, "MQ-001"))
    assert r.status is Status.skipped and "not a RabbitMQ node" in r.message


def test_mq001_without_report_or_logs_is_missing_evidence(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(), tmp_path, "MQ-001"))
    assert r.status is Status.skipped and "rabbitmqctl_report" in r.message


def test_mq001_compute4_is_not_applicable(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "MQ-001"))
    assert r.status is Status.skipped and "not a RabbitMQ node" in r.message


# -- MQ-002 ----------------------------------------------------------------------------------------------
UUID = "0a1b2c3d-0000-4000-8000-000000000001"
OTHER = "0a1b2c3d-0000-4000-8000-000000000002"
COMPUTE_LOG = "var/log/nova/nova-compute.log"
API_LOG = "var/log/nova/nova-api.log"


def _truncated(minute: int, uuid: str = UUID, hour: int = 8) -> str:
    return (f"2022-02-09 {hour:02d}:{minute:02d}:00.000 4242 INFO nova.virt.libvirt.driver [req-1 - - - - -] "
            f"[instance: {uuid}] Truncated console log returned, 5904113 bytes ignored\n")


def _action(minute: int, length: int, uuid: str = UUID) -> str:
    return (f"2022-02-09 08:{minute:02d}:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-x u p - - -] "
            f'10.11.10.1 "POST /v2.1/servers/{uuid}/action HTTP/1.1" status: 200 len: {length} time: 0.25\n')


def _nova(compute: str = "", api: str | None = None) -> NodeTree:
    node = NodeTree("cmp-1", collected=COLLECTED)
    node.file(COMPUTE_LOG, "2022-02-09 07:00:00.000 4242 INFO nova.service [-] Starting compute node\n" + compute)
    if api is not None:
        node.file(API_LOG, api)
    return node


def test_mq002_compute_flood_for_one_instance_warns(tmp_path: Path) -> None:
    log = "".join(_truncated(m) for m in range(60)) + _truncated(5, OTHER)
    r = _one(failing(scan_tree(_nova(log), tmp_path, "MQ-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, UUID)
    assert "60 console-output requests within one hour from 2022-02-09 08:00" in r.message
    assert "nova-compute logs" in r.message
    assert [(e.source, e.line) for e in r.evidence] == [(COMPUTE_LOG, 2), (COMPUTE_LOG, 61)]


def test_mq002_polling_below_the_rate_passes(tmp_path: Path) -> None:
    # 59 per hour, spread over two hours (a boot-completion waiter): counted, not flagged.
    log = "".join(_truncated(m) for m in range(59)) + "".join(_truncated(m, hour=10) for m in range(59))
    r = _one(scan_tree(_nova(log), tmp_path, "MQ-002"))
    assert r.status is Status.passed
    assert "118 console-output request(s) in the log window across 1 instance(s); none at 60/hour" in r.message


def test_mq002_huge_uncapped_console_response_is_high(tmp_path: Path) -> None:
    api = _action(1, 200_000) + _action(2, 50 * 1024**2) + _action(3, 1_000, OTHER)
    r = _one(failing(scan_tree(_nova(api=api), tmp_path, "MQ-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, UUID)
    assert "console output of 50.0 MiB returned" in r.message and "does not cap console output" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == (API_LOG, 2)


def test_mq002_api_flood_of_large_action_responses_warns(tmp_path: Path) -> None:
    api = "".join(_action(m, 102_400) for m in range(60))
    r = _one(failing(scan_tree(_nova(api=api), tmp_path, "MQ-002")))
    assert (r.severity, r.resource) == (Severity.medium, UUID) and "nova-api logs" in r.message


def test_mq002_small_action_responses_are_not_console_output(tmp_path: Path) -> None:
    api = "".join(_action(m, 2_048) for m in range(60))
    r = _one(scan_tree(_nova(api=api), tmp_path, "MQ-002"))
    assert r.status is Status.passed and "0 console-output request(s)" in r.message


def test_mq002_without_nova_logs_is_skipped(tmp_path: Path) -> None:
    node = NodeTree("cmp-1", collected=COLLECTED)
    node.file(RMQ_LOG, ALARM_SET)
    r = _one(scan_tree(node, tmp_path, "MQ-002"))
    assert r.status is Status.skipped and "R-CONSOLE-TRUNC" in r.message


def test_mq002_compute4_has_no_console_requests(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "MQ-002"))
    assert r.status is Status.passed and r.message.startswith("0 console-output request(s)")
