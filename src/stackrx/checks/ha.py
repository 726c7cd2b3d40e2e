"""Neutron L3 HA on one node: does the `state` file agree with keepalived and the kernel (HA-001)?"""

from __future__ import annotations

from datetime import datetime

from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.iproute import Address, LinkTable, load_netns_links
from stackrx.facts.keepalived import ACTIVE, HaRouter, VipEntry, load_ha_routers
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

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
