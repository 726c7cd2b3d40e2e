from __future__ import annotations

import pytest

from stackrx.errors import ParseError
from stackrx.facts.rabbitmq import load_rabbitmq, parse_rabbitmqctl
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView
from testkit import REALDATA

RABBIT = REALDATA / "hotsos" / "rabbitmq-sosreport"

STATUS_38 = """Status of node rabbit@ctl1 ...
\x1b[1mRuntime\x1b[0m

RabbitMQ version: 3.8.9

\x1b[1mAlarms\x1b[0m

Memory alarm on node rabbit@ctl1
Free disk space alarm on node rabbit@ctl2

\x1b[1mMemory\x1b[0m

Total memory used: 3.9 gb
Calculation strategy: rss
Memory high watermark setting: 0.4 of available memory, computed to: 4.0 gb
code: 0.03 gb (1 %)

\x1b[1mFile Descriptors\x1b[0m

Total: 900, limit: 1000
Sockets: 10, limit: 800
"""

OLD_STATUS = """Status of node rabbit@ctl1 ...
[{pid,1234},
 {running_applications,[{rabbit,"RabbitMQ","3.6.10"},{mnesia,"MNESIA","4.14"}]},
 {memory,[{connection_readers,1},{total,900}]},
 {alarms,[memory]},
 {vm_memory_high_watermark,0.4},
 {vm_memory_limit,1000},
 {disk_free_limit,50000000},
 {disk_free,1000000000},
 {file_descriptors,[{total_limit,65436},{total_used,45},{sockets_limit,58890},{sockets_used,43}]}]
"""

OLD_CLUSTER = """Cluster status of node rabbit@ctl1 ...
[{nodes,[{disc,['rabbit@ctl1','rabbit@ctl2']},{ram,['rabbit@ctl3']}]},
 {running_nodes,['rabbit@ctl1','rabbit@ctl2']},
 {cluster_name,<<"rabbit@ctl1">>},
 {partitions,[{'rabbit@ctl1',['rabbit@ctl2']}]},
 {alarms,[{'rabbit@ctl2',[disk]},{'rabbit@ctl1',[]}]}]
"""


def test_real_report_3_8() -> None:
    if not RABBIT.is_dir():
        pytest.skip("real data not present")
    status = load_rabbitmq(SosReportView(RABBIT))
    assert status.version == "3.8.2" and status.node == "rabbit@juju-04f1e3-1-lxd-5"
    assert status.alarms_seen and not status.alarms and status.partitions_seen and not status.partitions
    assert status.members == ("rabbit@juju-04f1e3-1-lxd-5",) == status.running_nodes
    assert status.memory_limit is not None and status.memory_limit.line == 48
    assert status.memory_ratio is not None and 0.45 < status.memory_ratio < 0.5
    assert status.fd_used is not None and status.fd_used.value == 163 and status.fd_limit.value == 65439  # type: ignore[union-attr]
    assert len(status.queues) == 194 and {q.vhost for q in status.queues} == {"openstack"}


def test_3_8_alarm_lines_and_total_memory() -> None:
    status = parse_rabbitmqctl(Text("s", STATUS_38))
    assert [(a.resource, a.node) for a in status.alarms] == [("memory", "rabbit@ctl1"), ("disk", "rabbit@ctl2")]
    assert status.memory_used is not None and status.memory_used.value == pytest.approx(3.9e9)
    assert status.memory_ratio == pytest.approx(0.975)
    assert status.alarms[0].line == 8


def test_erlang_terms_status_and_cluster() -> None:
    status = parse_rabbitmqctl(Text("s", OLD_STATUS))
    assert status.version == "3.6.10" and [a.resource for a in status.alarms] == ["memory"]
    assert status.memory_ratio == pytest.approx(0.9) and status.fd_used.value == 45  # type: ignore[union-attr]
    cluster = parse_rabbitmqctl(Text("c", OLD_CLUSTER))
    assert cluster.disk_nodes == ("rabbit@ctl1", "rabbit@ctl2") and cluster.ram_nodes == ("rabbit@ctl3",)
    assert cluster.running_nodes == ("rabbit@ctl1", "rabbit@ctl2") and len(cluster.partitions) == 1
    assert [(a.resource, a.node) for a in cluster.alarms] == [("disk", "rabbit@ctl2")]


def test_json_formatter() -> None:
    text = ('{"alarms": [], "vm_memory_limit": 1000, "memory": {"total": {"rss": 850, "erlang": 700}}, '
            '"file_descriptors": {"total_used": 10, "total_limit": 100}, "rabbitmq_version": "4.0.5"}')
    status = parse_rabbitmqctl(Text("j", text))
    assert status.version == "4.0.5" and status.alarms_seen and status.memory_ratio == pytest.approx(0.85)


def test_unrecognised_output_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="rabbitmqctl failed"):
        parse_rabbitmqctl(Text("e", "Error: unable to perform an operation on node 'rabbit@x'\n"))
    with pytest.raises(ParseError):
        parse_rabbitmqctl(Text("e", "hello\n"))
