"""Neutron L3 HA churn on one node: keepalived flapping and mass state changes (HA-002)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from stackrx.checks.net import signature_hits
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.keepalived import HaRouter, load_ha_routers
from stackrx.facts.logs import Hit, SignatureHits, iter_hits
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

SETTLE_S = 60.0
"""State changes this soon after a keepalived instance (or the agent) started are its election, not churn."""
HOUR_S = 3600.0
MAX_PER_HOUR = 3
MASS_ROUTERS = 10
MASS_WINDOW_S = 60.0
_KEEPALIVED_PID = re.compile(r"Keepalived_vrrp\[(?P<pid>\d+)\]")
_STATES = {"primary": "MASTER", "master": "MASTER", "backup": "BACKUP", "fault": "FAULT"}


@dataclass(frozen=True)
class Transition:
    router: str
    state: str
    at: datetime
    hit: Hit


def _state(raw: str) -> str:
    return _STATES.get(raw.lower(), raw.upper())


def _labels(routers: tuple[HaRouter, ...]) -> tuple[dict[int, str], dict[str, str]]:
    """keepalived pid -> router id (pid files), and VRRP instance name -> router id where it is unique."""
    by_pid: dict[int, str] = {}
    by_instance: dict[str, set[str]] = defaultdict(set)
    for router in routers:
        for pid in router.pid_files.values():
            if pid is not None:
                by_pid[pid] = router.router_id
        for instance in router.conf.instances if router.conf is not None else ():
            by_instance[instance.name].add(router.router_id)
    return by_pid, {name: next(iter(ids)) for name, ids in by_instance.items() if len(ids) == 1}


def _changes(entries: list[tuple[float, str, Hit]], restarts: list[float], router: str) -> list[Transition]:
    """State changes of one router in time order; an entry after a (re)start or within SETTLE_S of it is initial."""
    out: list[Transition] = []
    previous: str | None = None
    started = None
    for ts, state, hit in sorted(entries, key=lambda e: e[0]):
        if started is None or any(started < r <= ts for r in restarts):
            started, previous = ts, state
            continue
        if state != previous and ts - started > SETTLE_S and hit.timestamp is not None:
            out.append(Transition(router, state, hit.timestamp, hit))
        previous = state
    return out


def keepalived_transitions(hits: list[Hit], routers: tuple[HaRouter, ...]) -> list[Transition]:
    by_pid, by_instance = _labels(routers)
    runs: dict[tuple[str, str], list[tuple[float, str, Hit]]] = defaultdict(list)
    for hit in hits:
        m = _KEEPALIVED_PID.search(hit.excerpt)
        inst = hit.groups.get("inst", "?")
        if hit.timestamp is None or m is None:
            continue
        # Each keepalived process is one router's run: a new pid is a restart with a fresh initial state.
        runs[(m.group("pid"), inst)].append((hit.timestamp.timestamp(), _state(hit.groups.get("state", "")), hit))
    out: list[Transition] = []
    for (pid, inst), entries in runs.items():
        label = by_pid.get(int(pid)) or by_instance.get(inst) or f"{inst} (keepalived pid {pid})"
        out.extend(_changes(entries, [], label))
    return out


def agent_transitions(hits: list[Hit], starts: list[Hit]) -> list[Transition]:
    restarts: dict[str, list[float]] = defaultdict(list)
    for hit in starts:
        if hit.timestamp is not None:
            restarts[hit.source].append(hit.timestamp.timestamp())
    by_router: dict[tuple[str, str], list[tuple[float, str, Hit]]] = defaultdict(list)
    for hit in hits:
        router = hit.groups.get("router")
        if router and hit.timestamp is not None:
            by_router[(hit.source, router)].append((hit.timestamp.timestamp(), _state(hit.groups.get("state", "")),
                                                    hit))
    out: list[Transition] = []
    for (source, router), entries in by_router.items():
        out.extend(_changes(entries, restarts.get(source, []), router))
    return out


def _worst_hour(changes: list[Transition]) -> list[Transition]:
    times = [t.at.timestamp() for t in changes]
    best: list[Transition] = []
    j = 0
    for i in range(len(changes)):
        while times[i] - times[j] > HOUR_S:
            j += 1
        if i - j + 1 > len(best):
            best = changes[j:i + 1]
    return best


def _mass_minute(changes: list[Transition]) -> list[Transition]:
    ordered = sorted(changes, key=lambda t: t.at)
    best: list[Transition] = []
    j = 0
    for i in range(len(ordered)):
        while (ordered[i].at - ordered[j].at).total_seconds() > MASS_WINDOW_S:
            j += 1
        window = ordered[j:i + 1]
        if len({t.router for t in window}) > len({t.router for t in best}):
            best = window
    return best


@check(CheckMeta(
    id="HA-002",
    title="L3HA keepalived flapping / state-change churn",
    severity=Severity.medium,
    area="ha",
    tale=(
        "While working out which network node really held an HA router, the operator went through the "
        "neutron-keepalived-state-change log that the agent keeps beside each router's keepalived.conf. A "
        "router that keeps changing its mind about being master shows up there, and in keepalived's own syslog "
        "lines, long before tenants complain about dropped connections."
    ),
    description=(
        "Reads VRRP state changes in the log window: keepalived's own lines (`Keepalived_vrrp[pid]: (VR_n) "
        "Entering MASTER STATE`, keepalived 1.x `VRRP_Instance(VR_n) Transition to ...`), each keepalived "
        "process mapped to its router through the ha_confs pid files; without them, the L3 agent's 'Router "
        "<id> transitioned to <state>' lines. Only changes count (1.x logs 'Transition to' and 'Entering' for one "
        "change), and the first state of every keepalived process or agent start, plus anything within 60 s of "
        "it, is the start-up election (restarts and reboots are not churn). More than 3 changes of one router "
        "within an hour is medium; 10 or more routers changing within the same minute is high: the HA network "
        "itself (tunnels, MTU, a busy node) dropped VRRP adverts."
    ),
    risk=(
        "Every flip moves the router's gateway and interface addresses between nodes: connections through the "
        "router break, and if both nodes think they are master the addresses answer from two places."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="See the flips and the HA network path.", commands=[
            "grep -E 'Entering (MASTER|BACKUP|FAULT) STATE|Transition to' /var/log/syslog",
            "grep 'transitioned to' /var/log/neutron/neutron-l3-agent.log",
            "ip netns exec qrouter-<router_id> tcpdump -ni <ha-interface> -c 20 vrrp",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Make VRRP more tolerant or add a health check, then restart the L3 agent (routers may fail over)."),
            commands=[
                "crudini --set /etc/neutron/l3_agent.ini DEFAULT ha_vrrp_advert_int 4",
                "crudini --set /etc/neutron/l3_agent.ini DEFAULT ha_vrrp_health_check_interval 30",
                "systemctl restart neutron-l3-agent",
            ]),
    ],
    references=[
        "neutron neutron/conf/agent/l3/ha.py (ha_vrrp_advert_int default 2, ha_vrrp_health_check_interval 0), "
        "neutron/conf/agent/l3/config.py, neutron/agent/l3/ha_router.py",
        "neutron agent/l3/ha.py 'Router %(router_id)s transitioned to %(state)s' (signature R-L3HA-TRANSITION); "
        "neutron common/config.py 'Logging enabled!' marks a (re)start (R-NEUTRON-START)",
        "keepalived state-line wording across versions is UNVERIFIED beyond the 2.x line in compute4's syslog "
        "and the 1.x form of the catalogue (signature R-KEEPALIVED)",
    ],
    reads={
        "live": ["var/log/syslog*", "var/log/messages*", "journal", "var/log/neutron/neutron-l3-agent.log*",
                 "var/lib/neutron/ha_confs/<id>.pid.keepalived*", "var/lib/neutron/ha_confs/<id>/keepalived.conf"],
        "sosreport": ["var/log/syslog*", "var/log/messages*", "sos_commands/logs/journalctl_--no-pager*",
                      "var/log/neutron/neutron-l3-agent.log*", "var/lib/neutron/ha_confs/"],
        "kolla": ["kolla_logs/_data/neutron/neutron-l3-agent.log",
                  "var/lib/docker/volumes/neutron_metadata_socket/_data/ha_confs/"],
    },
))
def keepalived_churn(ctx: CheckContext) -> None:
    routers = ctx.facts.maybe(load_ha_routers) or ()
    hits = signature_hits(ctx)
    if hits is None:
        if routers:
            raise MissingEvidence("syslog/journal or the L3 agent log (keepalived and state-change lines)")
        raise NotApplicable("no L3HA router on this node and no log to look in")
    keepalived = hits.count("R-KEEPALIVED") if hits.covered("R-KEEPALIVED") else 0
    agent = hits.count("R-L3HA-TRANSITION") if hits.covered("R-L3HA-TRANSITION") else 0
    if not routers and not keepalived and not agent:
        raise NotApplicable("no L3HA router on this node (ha_confs) and no VRRP state change in the logs")
    if not hits.covered("R-KEEPALIVED") and not hits.covered("R-L3HA-TRANSITION"):
        raise MissingEvidence("syslog/journal (keepalived) or var/log/neutron/neutron-l3-agent.log")
    days = max(1, round(ctx.options.log_window.total_seconds() / 86400))
    if keepalived:
        source = "keepalived"
        changes = keepalived_transitions(list(iter_hits(ctx.view, ["R-KEEPALIVED"], days)), routers)
    elif agent:
        source = "L3 agent"
        found = list(iter_hits(ctx.view, ["R-L3HA-TRANSITION", "R-NEUTRON-START"], days))
        changes = agent_transitions([h for h in found if h.sig_id == "R-L3HA-TRANSITION"],
                                    [h for h in found if h.sig_id == "R-NEUTRON-START"])
    else:
        ctx.ok(f"no VRRP state change logged in {days} days for the {len(routers)} HA router(s) here")
        return
    by_router: dict[str, list[Transition]] = defaultdict(list)
    for change in sorted(changes, key=lambda t: t.at):
        by_router[change.router].append(change)
    mass = _mass_minute(changes)
    flipped = sorted({t.router for t in mass})
    if len(flipped) >= MASS_ROUTERS:
        ctx.fail(f"{len(flipped)} HA routers changed VRRP state within {MASS_WINDOW_S:.0f} s around "
                 f"{mass[0].at:%Y-%m-%d %H:%M:%S} ({source} log): the HA network dropped adverts for all of them "
                 "(tunnel, MTU or an overloaded node; see NET-004 and HA-F01)", severity=Severity.high,
                 resource="l3ha", evidence=[mass[0].hit.evidence(), mass[-1].hit.evidence()])
    for router, items in sorted(by_router.items()):
        worst = _worst_hour(items)
        if len(worst) <= MAX_PER_HOUR:
            continue
        ctx.warn(f"router {router} changed VRRP state {len(worst)} times within an hour (from "
                 f"{worst[0].at:%Y-%m-%d %H:%M:%S}, {len(items)} changes in the window, {source} log): it is "
                 "flapping", severity=Severity.medium, resource=router,
                 evidence=[worst[0].hit.evidence(), worst[-1].hit.evidence()])
    if not ctx.outcomes:
        total = sum(len(v) for v in by_router.values())
        ctx.ok(f"{total} VRRP state change(s) after start-up in {days} days ({source} log, "
               f"{keepalived + agent} state line(s)): no router flapping", evidence=_first(hits))


def _first(hits: SignatureHits) -> list[Evidence]:
    for sig in ("R-KEEPALIVED", "R-L3HA-TRANSITION"):
        found = hits.get(sig) if hits.covered(sig) else []
        if found:
            return [found[-1].evidence()]
    return []
