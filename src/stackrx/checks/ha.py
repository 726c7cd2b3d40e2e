"""Neutron L3 HA on one node: does the `state` file agree with keepalived and the kernel (HA-001), keepalived
flapping and mass state changes (HA-002)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from stackrx.checks.net import signature_hits
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.iproute import Address, LinkTable, load_netns_links
from stackrx.facts.keepalived import ACTIVE, HaRouter, VipEntry, load_ha_routers
from stackrx.facts.logs import Hit, SignatureHits, iter_hits
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

# ---------------------------------------------------------------------------------------------------------
# HA-001
# ---------------------------------------------------------------------------------------------------------

TRANSITION_S = 60.0
"""A state file rewritten this shortly before collection may belong to a failover still in progress."""


def _present(entry: VipEntry, links: LinkTable) -> Address | None:
    """The namespace address that realises a keepalived address entry (same IP on the named device)."""
    ip = entry.ip
    if ip is None:
        return None
    candidates = [links.get(entry.dev)] if entry.dev else list(links)
    for link in candidates:
        if link is None:
            continue
        for addr in link.addresses:
            if addr.ip == ip:
                return addr
    return None


def _in_transition(router: HaRouter, collected: datetime | None) -> bool:
    if router.state is None or router.state.mtime is None or collected is None:
        return False
    age = collected.timestamp() - router.state.mtime
    # A negative age is a copied or extracted tree (mtime = copy time), not a recent write.
    return 0 <= age < TRANSITION_S


def _state_evidence(router: HaRouter) -> list[Evidence]:
    return [router.state.evidence()] if router.state else []


def _namespace_known(ctx: CheckContext) -> bool:
    return bool(ctx.view.namespaces()) or ctx.view.command("ip netns") is not None


@check(CheckMeta(
    id="HA-001",
    title="L3HA node-local consistency (state file vs VIPs vs keepalived)",
    severity=Severity.high,
    area="ha",
    tale=(
        "An operator chasing an HA router wanted to know which network node really held it. Keepalived "
        "runs inside the router's namespace, the agent records its verdict in a small `state` file, and the "
        "node that truly owns the router is the one whose gateway and internal ports carry the addresses. "
        "When those three witnesses disagree, the agent, the API and the wire each tell a different story."
    ),
    description=(
        "For every HA router directory under the L3 agent's ha_confs path (`$state_path/ha_confs`, Kolla "
        "`/var/lib/neutron/kolla/ha_confs`), reads the `state` file (primary/master = active, backup/fault "
        "= standby), keepalived.conf (`virtual_ipaddress` on the ha- port, `virtual_ipaddress_excluded` on "
        "the qg-/qr-/sg- ports), the keepalived and neutron-keepalived-state-change processes and the "
        "addresses inside the namespace keepalived runs in (qrouter-<id>, or snat-<id> for DVR+HA). Flags an "
        "active router without its addresses, a standby router that carries them (rogue master), a router "
        "directory without keepalived, a missing namespace and an active ha- port without its VIP."
    ),
    risk=(
        "A standby node that still holds the gateway and interface addresses answers ARP for the same "
        "IPs and MACs as the real master: traffic splits between two nodes and connections break at random. "
        "An active node without the addresses, or without keepalived, means the router forwards nothing "
        "while neutron believes it is up."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Collect the three views of the router on this node.",
                        commands=[
            "cat /var/lib/neutron/ha_confs/<router_id>/state",
            "ip netns exec qrouter-<router_id> ip -o addr",
            "ps -ef | grep -E 'keepalived .*<router_id>|neutron-keepalived-state-change.*<router_id>'",
            "openstack network agent list --router <router_id> --long",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Check whether VRRP adverts cross the HA network (split brain is usually adverts lost on the "
            "tunnel: MTU or security group)."), commands=[
            "ip netns exec qrouter-<router_id> tcpdump -ni <ha-interface> -c 5 vrrp",
            "tail -n 50 /var/lib/neutron/ha_confs/<router_id>/neutron-keepalived-state-change.log",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Let neutron re-elect the router (outage of the router while it is down)."), commands=[
            "openstack router set --disable <router_id>",
            "openstack router set --enable <router_id>",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Or restart the L3 agent on the wrong node (respawns keepalived for every router it hosts)."),
            commands=["systemctl restart neutron-l3-agent",
                      "docker restart neutron_l3_agent  # Kolla"]),
    ],
    references=[
        "neutron neutron/agent/l3/ha_router.py (state file, virtual_ipaddress_excluded on qg-/qr-)",
        "neutron neutron/agent/linux/keepalived.py (keepalived.conf rendering, pid files)",
        "neutron neutron/agent/l3/ha.py TRANSLATION_MAP (primary/master -> active, backup/fault -> standby)",
        "neutron commit 055036ba2b (state `master` renamed `primary`, neutron 17.0.0 / Victoria)",
        "neutron doc/source/admin/deploy-ovs-ha-vrrp.rst",
    ],
    reads={
        "live": ["var/lib/neutron/ha_confs/<id>/{state,keepalived.conf}",
                 "var/lib/neutron/ha_confs/<id>.pid*",
                 "etc/neutron/l3_agent.ini", "etc/neutron/neutron.conf", "cmd:ps auxwww", "cmd:ip netns",
                 "cmd:ip netns exec qrouter-<id>|snat-<id> ip -d address"],
        "sosreport": ["var/lib/neutron/ha_confs/<id>/{state,keepalived.conf}",
                      "var/lib/neutron/ha_confs/<id>.pid*", "sos_commands/process/ps_auxwwwm",
                      "sos_commands/networking/ip_netns",
                      "sos_commands/networking/namespaces/<ns>/ip_netns_exec_<ns>_ip_-d_address_show",
                      "sos_commands/networking/ip_netns_exec_<ns>_ip_address_show (older sos)"],
        "kolla": ["var/lib/docker/volumes/neutron_metadata_socket/_data/ha_confs/<id>/ "
                  "(state_path /var/lib/neutron/kolla)", "etc/kolla/neutron-l3-agent/l3_agent.ini",
                  "side bundle: ps, ip netns outputs"],
    },
))
def l3ha_consistency(ctx: CheckContext) -> None:
    routers = ctx.facts.get(load_ha_routers)
    if not routers:
        raise NotApplicable("no L3HA router directory (var/lib/neutron/ha_confs/<router_id>/)")
    namespaces_known = _namespace_known(ctx)
    namespaces = set(ctx.view.namespaces())
    collected = ctx.collected_at()
    evaluated = 0
    for router in routers:
        evaluated += _router(ctx, router, namespaces_known, namespaces, collected)
    if not evaluated:
        raise MissingEvidence("ps auxwww and ip netns exec <ns> ip -d address for the HA routers "
                              "(sos_commands/process/ps_auxwwwm, sos_commands/networking/namespaces/)")


def _router(ctx: CheckContext, router: HaRouter, namespaces_known: bool, namespaces: set[str],
            collected: datetime | None) -> int:
    """Findings for one router; returns 1 when any of its evidence could be judged."""
    rid, ns = router.router_id, router.namespace
    state_ev = _state_evidence(router)
    label = router.state.raw if router.state and router.state.raw else "missing"
    if _in_transition(router, collected):
        ctx.ok(f"router {rid}: state file ({label}) rewritten < {TRANSITION_S:.0f} s before collection, "
               "failover in progress: not judged", resource=rid, evidence=state_ev)
        return 1
    judged = 0
    problems = 0
    if router.keepalived is not None:
        judged = 1
        if not router.keepalived:
            pid_ev = [Evidence(source=p, excerpt=f"pid {pid}") for p, pid in router.pid_files.items()]
            ctx.fail(f"router {rid}: state directory {router.conf_dir} exists (state {label}) but no "
                     "keepalived process runs with its keepalived.conf", severity=Severity.high, resource=rid,
                     evidence=state_ev + pid_ev)
            problems += 1
    if namespaces_known and ns not in namespaces:
        judged = 1
        ctx.warn(f"router {rid}: namespace {ns} is missing while its state directory exists (state {label})",
                 severity=Severity.medium, resource=rid, evidence=state_ev)
        return 1
    links = ctx.facts.maybe(load_netns_links, ns)
    if links is None or router.conf is None:
        if judged and not problems:
            ctx.ok(f"router {rid}: keepalived running (state {label}); namespace addresses not collected",
                   resource=rid)
        return judged
    excluded = [e for e in router.conf.excluded if not e.is_link_local]
    present = [(e, a) for e in excluded if (a := _present(e, links)) is not None]
    if router.normalised == ACTIVE:
        if excluded and not present:
            ctx.fail(f"router {rid}: state file says {label} but none of the {len(excluded)} "
                     f"virtual_ipaddress_excluded addresses is configured in {ns} (state writer and kernel "
                     "disagree: the router forwards nothing here)", severity=Severity.high, resource=rid,
                     evidence=state_ev + [e.evidence() for e in excluded[:4]])
            problems += 1
        for vip in router.conf.vips:
            if vip.dev and vip.dev.startswith("ha-") and _present(vip, links) is None:
                ctx.fail(f"router {rid}: state file says {label} but the HA port {vip.dev} in {ns} lacks the "
                         f"VRRP VIP {vip.cidr}", severity=Severity.high, resource=rid,
                         evidence=[*state_ev, vip.evidence()])
                problems += 1
    elif present:
        entry, addr = present[0]
        ctx.fail(f"router {rid}: state file says {label} but {len(present)} of its "
                 f"virtual_ipaddress_excluded addresses are up in {ns} ({addr.cidr} on {entry.dev}): rogue "
                 "master, the same gateway answered from two nodes", severity=Severity.high, resource=rid,
                 evidence=[*state_ev, entry.evidence(), addr.evidence()])
        problems += 1
    if not problems:
        running = "keepalived not checked" if router.keepalived is None else "keepalived running"
        ctx.ok(f"router {rid}: state {label}, {running}, {len(present)}/{len(excluded)} excluded addresses "
               f"present in {ns}", resource=rid)
    return 1


# ---------------------------------------------------------------------------------------------------------
# HA-002
# ---------------------------------------------------------------------------------------------------------

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
