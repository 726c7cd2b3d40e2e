"""Messaging: RabbitMQ alarms, partitions and memory pressure (MQ-001); console-output request floods that
push guest console logs through the message bus (MQ-002)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta

from stackrx.checks.net import signature_hits
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.apilog import load_api_requests
from stackrx.facts.logs import Hit, SignatureHits, iter_hits
from stackrx.facts.packages import load_packages
from stackrx.facts.rabbitmq import RabbitStatus, load_rabbitmq
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

MEMORY_HIGH_RATIO = 0.8
FD_HIGH_RATIO = 0.8
ORPHAN_MESSAGES = 10_000
MAX_QUEUE_FINDINGS = 20


def log_window_days(ctx: CheckContext) -> int:
    return max(1, round(ctx.options.log_window.total_seconds() / 86400))


def _rabbit_installed(ctx: CheckContext) -> bool | None:
    pkgs = ctx.facts.maybe(load_packages)
    if pkgs is None:
        return None
    return pkgs.project("rabbitmq") is not None


@check(CheckMeta(
    id="MQ-001",
    title="RabbitMQ resource alarms / partitions / memory pressure",
    severity=Severity.critical,
    area="mq",
    tale=(
        "A sudden surge of traffic hit the RabbitMQ master while it was slowly leaking memory. It grew until "
        "it fell over, and with it every RPC between the OpenStack services stopped: the cloud froze until "
        "the broker was brought back."
    ),
    description=(
        "Reads `rabbitmqctl report` (status, cluster status and queue listings; 3.8+ text, older Erlang "
        "terms or JSON) and the RabbitMQ logs. Reports memory/disk/file-descriptor alarms, network "
        "partitions, cluster members that are not running, memory use at or above 80% of the high "
        "watermark, file descriptors at or above 80% of the limit, and queues holding more than 10 000 "
        "messages with no consumer. Alarms and partitions found only in the logs are weighed against the "
        "current status: an alarm that was set and later cleared is a brief episode, not a finding."
    ),
    risk=(
        "A memory or disk alarm blocks every publisher: RPC calls between nova, neutron and cinder time out "
        "and the cloud stops acting on requests. A partition splits the broker into halves that each accept "
        "messages the other never sees, until one half is restarted."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Look at the current alarms, partitions and biggest queues.",
                        commands=[
                            "rabbitmq-diagnostics alarms",
                            "rabbitmqctl cluster_status",
                            "rabbitmqctl list_queues -p <vhost> name messages consumers memory "
                            "--formatter pretty_table | sort -k2 -n | tail",
                        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Find what produces the backlog (MQ-002 console-output floods, CON-003 huge console logs, "
            "a stopped consumer service) and fix the producer or restart the consumer.")),
        RemediationStep(kind=StepKind.destructive, text=(
            "Delete orphaned queues (messages are lost), restart the partitioned minority node, or remove a "
            "dead member from the cluster."), commands=[
            "rabbitmqctl delete_queue -p <vhost> <queue>",
            "systemctl restart rabbitmq-server   # on the node of the minority partition",
            "rabbitmqctl forget_cluster_node rabbit@<dead-node>",
        ]),
    ],
    references=[
        "sos sos/report/plugins/rabbitmq.py (rabbitmqctl report)",
        "rabbitmq_cli RabbitMQ.CLI.Core.Alarms.alarm_lines (\"Memory alarm on node X\", \"Free disk space alarm "
        "on node X\", \"File descriptor limit alarm on node X\")",
        "Log wording (catalogue UNVERIFIED, decided): rabbit_alarm.erl \"~s resource limit alarm set on node ~p\" / "
        "\"... cleared on node ~p\" (source via find_string); Mnesia \"inconsistent_database, "
        "running_partitioned_network\" (real log line, hotsos test_rabbitmq snippet)",
        "Thresholds 80% of watermark / fd limit and 10 000 messages without consumer: CATALOGUE MQ-001",
    ],
    reads={
        "live": ["cmd:rabbitmqctl report", "cmd:rabbitmqctl status", "cmd:rabbitmqctl cluster_status",
                 "var/log/rabbitmq/*"],
        "sosreport": ["sos_commands/rabbitmq/rabbitmqctl_report", "var/log/rabbitmq/*"],
        "kolla": ["sos_commands/rabbitmq/rabbitmqctl_report (side bundle)",
                  "var/lib/docker/volumes/kolla_logs/_data/rabbitmq/*"],
    },
))
def rabbitmq_health(ctx: CheckContext) -> None:
    try:
        status: RabbitStatus | None = ctx.facts.get(load_rabbitmq)
    except MissingEvidence:
        status = None
    hits = signature_hits(ctx)
    logs = hits is not None and hits.covered("R-RMQ-ALARM-SET")
    if status is None and not logs:
        if _rabbit_installed(ctx) is False and not ctx.view.exists("etc/rabbitmq"):
            raise NotApplicable("no rabbitmq-server package, no etc/rabbitmq: not a RabbitMQ node")
        raise MissingEvidence("sos_commands/rabbitmq/rabbitmqctl_report (cmd: rabbitmqctl report), "
                              "var/log/rabbitmq/*")
    if status is not None:
        _status_findings(ctx, status)
    if logs:
        assert hits is not None
        _log_findings(ctx, hits, status)
    if not ctx.outcomes and status is not None:
        ratio = status.memory_ratio
        mem = f", memory at {ratio:.0%} of the high watermark" if ratio is not None else ""
        ctx.ok(f"no alarm, no partition, {len(status.running_nodes) or '?'} of {len(status.members) or '?'} "
               f"member(s) running{mem}", resource=status.node or "")


def _status_findings(ctx: CheckContext, status: RabbitStatus) -> None:
    node = status.node or ""
    for alarm in status.alarms:
        what = {"memory": "memory", "disk": "free disk space",
                "file_descriptor": "file descriptor"}.get(alarm.resource, alarm.resource)
        ctx.fail(f"{what} alarm active on {alarm.node or node}: publishers are blocked, RPC between OpenStack "
                 "services stalls", severity=Severity.critical, resource=f"{alarm.node or node}:{alarm.resource}",
                 evidence=[alarm.evidence()])
    if status.partitions:
        ctx.fail(f"network partition reported by {node or 'this node'}: the cluster has split and each side "
                 "accepts messages the other never sees", severity=Severity.critical, resource=f"{node}:partition",
                 evidence=[p.evidence() for p in status.partitions[:5]])
    if status.cluster_seen and status.members and status.running_nodes:
        down = [m for m in status.members if m not in status.running_nodes]
        if down:
            ev = [Evidence(source=status.source, excerpt=f"members: {', '.join(status.members)}; running: "
                           f"{', '.join(status.running_nodes)}")]
            ctx.fail(f"{len(down)} cluster member(s) not running: {', '.join(down)}", severity=Severity.high,
                     resource=f"{node}:members", evidence=ev)
    ratio = status.memory_ratio
    if ratio is not None and ratio >= MEMORY_HIGH_RATIO and not any(a.resource == "memory" for a in status.alarms):
        assert status.memory_used is not None and status.memory_limit is not None
        ctx.fail(f"RabbitMQ uses {ratio:.0%} of its memory high watermark: the memory alarm (publishers "
                 "blocked) is close", severity=Severity.high, resource=f"{node}:memory",
                 evidence=[status.memory_used.evidence(), status.memory_limit.evidence()])
    for used, limit, what in ((status.fd_used, status.fd_limit, "file descriptors"),
                              (status.sockets_used, status.sockets_limit, "sockets")):
        if used is not None and limit is not None and limit.value > 0 and used.value >= FD_HIGH_RATIO * limit.value:
            ctx.fail(f"{int(used.value)} of {int(limit.value)} {what} in use ({used.value / limit.value:.0%}): "
                     "new connections will be refused at the limit", severity=Severity.high,
                     resource=f"{node}:{what.replace(' ', '_')}", evidence=[used.evidence()])
    orphans = sorted((q for q in status.queues if q.messages > ORPHAN_MESSAGES and q.consumers == 0),
                     key=lambda q: -q.messages)
    for queue in orphans[:MAX_QUEUE_FINDINGS]:
        ctx.fail(f"queue {queue.name} (vhost {queue.vhost}) holds {queue.messages} messages and has no consumer: "
                 "an orphaned reply/fanout queue keeps growing in broker memory", severity=Severity.high,
                 resource=f"{queue.vhost}/{queue.name}", evidence=[queue.evidence()])
    if len(orphans) > MAX_QUEUE_FINDINGS:
        ctx.fail(f"{len(orphans) - MAX_QUEUE_FINDINGS} more queues over {ORPHAN_MESSAGES} messages without a "
                 "consumer", severity=Severity.high, resource=f"{node}:orphan-queues",
                 evidence=[q.evidence() for q in orphans[MAX_QUEUE_FINDINGS:MAX_QUEUE_FINDINGS + 5]])


def _sort_key(hit: Hit) -> tuple[float, str, int]:
    return (hit.timestamp.timestamp() if hit.timestamp else float("-inf"), hit.source, hit.line)


def _log_findings(ctx: CheckContext, hits: SignatureHits, status: RabbitStatus | None) -> None:
    sets: dict[tuple[str, str], list[Hit]] = defaultdict(list)
    clears: dict[tuple[str, str], list[Hit]] = defaultdict(list)
    for hit in hits.get("R-RMQ-ALARM-SET"):
        sets[(hit.groups.get("res", "?"), hit.groups.get("node", "?"))].append(hit)
    for hit in hits.get("R-RMQ-ALARM-CLEAR"):
        clears[(hit.groups.get("res", "?"), hit.groups.get("node", "?"))].append(hit)
    for (res, node), raised in sorted(sets.items()):
        last_set = max(raised, key=_sort_key)
        cleared = [c for c in clears.get((res, node), []) if _sort_key(c) >= _sort_key(last_set)]
        if cleared:
            ctx.ok(f"{res} alarm on {node} was raised {len(raised)} time(s) in the log window and cleared again "
                   "(brief episode)", resource=f"{node}:{res}:log",
                   evidence=[last_set.evidence(), cleared[-1].evidence()])
        elif status is not None and status.alarms_seen:
            if not any(a.resource == res for a in status.alarms):
                ctx.ok(f"{res} alarm on {node} was logged ({len(raised)} set line(s)) without a clear line, but the "
                       "collected status shows no alarm now", resource=f"{node}:{res}:log",
                       evidence=[last_set.evidence()])
        else:
            ctx.fail(f"{res} alarm set on {node} and never cleared in the logs (status not collected): publishers "
                     "have been blocked since", severity=Severity.critical, resource=f"{node}:{res}",
                     evidence=[last_set.evidence()])
    parts = hits.get("R-RMQ-PARTITION")
    if parts:
        last = max(parts, key=_sort_key)
        if status is not None and status.partitions_seen:
            if not status.partitions:
                ctx.ok(f"a network partition with {last.groups.get('peer', '?')} was logged "
                       f"({hits.count('R-RMQ-PARTITION')} line(s)); the collected cluster status shows none now",
                       resource="partition:log", evidence=[last.evidence()])
        else:
            ctx.fail(f"network partition with {last.groups.get('peer', '?')} logged "
                     f"({hits.count('R-RMQ-PARTITION')} line(s)); the current cluster state was not collected",
                     severity=Severity.high, resource="partition:log", evidence=[last.evidence()])


# ---------------------------------------------------------------------------------------------------------
# MQ-002
# ---------------------------------------------------------------------------------------------------------

FLOOD_PER_HOUR = 60
HUGE_RESPONSE = 10 * 1024 * 1024
_INSTANCE = re.compile(r"\[instance: (?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\]")


def peak_per_hour(times: list[datetime]) -> tuple[int, datetime | None]:
    """Largest number of events inside any 60-minute window, and where that window starts."""
    ordered = sorted(times)
    best, start, lo = 0, None, 0
    for hi, when in enumerate(ordered):
        while when - ordered[lo] >= timedelta(hours=1):
            lo += 1
        if hi - lo + 1 > best:
            best, start = hi - lo + 1, ordered[lo]
    return best, start


@check(CheckMeta(
    id="MQ-002",
    title="Console-output request flood in nova logs",
    severity=Severity.medium,
    area="mq",
    tale=(
        "Instances took ages to start and the RabbitMQ master kept dying. Debugging nova-api showed the "
        "culprit: a user refreshing the dashboard's console-log page for one broken guest whose console.log "
        "had grown to 5.5 GB, and every refresh sent the whole file through the message queue."
    ),
    description=(
        "Counts console-output requests per instance: nova-compute's INFO line \"Truncated console log "
        "returned, N bytes ignored\" (carries the instance uuid) and nova-api access lines for POST "
        "/servers/<uuid>/action with a response over 64 KiB (only os-getConsoleOutput returns such bodies). "
        "60 or more in any hour for one instance is a flood; any such response over 10 MiB means a nova that "
        "does not cap console output."
    ),
    risk=(
        "Each request copies the console log from the compute to nova-api over RabbitMQ. At a high rate "
        "that load crowds out every other RPC, and on old releases one huge console log can exhaust broker "
        "memory (MQ-001)."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Identify the instance and its owner; ask them to stop polling or to pass a `length` to the "
            "console-output call; trim the guest's console log (CON-003)."), commands=[
            "openstack server show <uuid> -c name -c project_id -c user_id",
            "openstack console log show --lines 50 <uuid>",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Restrict os-getConsoleOutput by policy or rate-limit the project at the API front end."), commands=[
            "# policy.yaml: \"os_compute_api:os-console-output\": \"rule:admin_api\"",
        ]),
    ],
    references=[
        "nova nova/virt/libvirt/driver.py get_console_output (\"Truncated console log returned, %d bytes "
        "ignored\", 100 KiB cap)",
        "signature R-CONSOLE-TRUNC and R-WSGI (stackrx signatures.yaml)",
        "Thresholds 60/hour, 64 KiB, 10 MiB: CATALOGUE MQ-002",
    ],
    reads={
        "live": ["var/log/nova/nova-compute.log*", "var/log/nova/nova-api.log*"],
        "sosreport": ["var/log/nova/nova-compute.log*", "var/log/nova/nova-api.log*"],
        "kolla": ["var/lib/docker/volumes/kolla_logs/_data/nova/*"],
    },
))
def console_output_flood(ctx: CheckContext) -> None:
    hits = signature_hits(ctx)
    if hits is None:
        raise MissingEvidence("nova logs (var/log/nova/*.log*)")
    hits.require("R-CONSOLE-TRUNC")
    days = log_window_days(ctx)
    per_instance: dict[str, dict[str, list[Hit]]] = defaultdict(lambda: defaultdict(list))
    if hits.count("R-CONSOLE-TRUNC"):
        for hit in iter_hits(ctx.view, ["R-CONSOLE-TRUNC"], days):
            m = _INSTANCE.search(hit.excerpt)
            if m:
                per_instance[m.group("uuid")]["compute"].append(hit)
    api = ctx.facts.get(load_api_requests, days)
    for action in api.actions:
        per_instance[action.instance]["api"].append(action.hit)
    for resp in sorted((a for a in api.actions if a.length > HUGE_RESPONSE), key=lambda a: -a.length)[:5]:
        ctx.fail(f"console output of {resp.length / 1024**2:.1f} MiB returned for instance {resp.instance}: this "
                 "nova does not cap console output and sends whole console logs over RabbitMQ",
                 severity=Severity.high, resource=resp.instance, evidence=[resp.hit.evidence()])
    for uuid, sources in sorted(per_instance.items()):
        for kind, found in sources.items():
            timed = [h.timestamp for h in found if h.timestamp is not None]
            peak, start = peak_per_hour(timed)
            if peak >= FLOOD_PER_HOUR:
                where = "nova-compute" if kind == "compute" else "nova-api"
                ctx.warn(f"instance {uuid}: {peak} console-output requests within one hour from "
                         f"{start:%Y-%m-%d %H:%M} ({len(found)} in the log window, seen in {where} logs)",
                         severity=Severity.medium, resource=uuid,
                         evidence=[found[0].evidence(), found[-1].evidence()])
                break
    if not ctx.outcomes:
        total = sum(len(v) for s in per_instance.values() for v in s.values())
        ctx.ok(f"{total} console-output request(s) in the log window across {len(per_instance)} instance(s); "
               f"none at {FLOOD_PER_HOUR}/hour")
