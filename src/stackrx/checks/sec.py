"""Host security posture: proxy ARP on host uplinks (SEC-001)."""

from __future__ import annotations

import ipaddress

from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence
from stackrx.facts.iproute import Link, LinkTable, Route, load_links, load_routes
from stackrx.facts.sysctl import SysctlEntry, load_sysctl, load_sysctl_files
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

# Devices that OpenStack or a container runtime creates per port/instance: never a host uplink.
VIRTUAL_PREFIXES = (
    "tap", "vnet", "qvb", "qvo", "qbr", "qr-", "qg-", "fg-", "fpr-", "rfp-", "ha-", "sg-", "o-hm", "veth",
    "virbr", "docker", "lxdbr", "cni", "flannel", "genev_sys", "vxlan_sys", "gre_sys", "ovs-system", "br-int",
    "br-tun", "tun", "dummy",
)
UPLINK_KINDS = frozenset({"bond", "team", "vlan"})
_LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")


def is_physical(link: Link) -> bool:
    """A NIC: no rtnl kind (or unknown without -d), Ethernet, not one of the virtual devices by name."""
    if link.kind is not None or link.is_loopback or link.link_type not in (None, "ether"):
        return False
    return not link.name.startswith(VIRTUAL_PREFIXES)


def is_uplink(links: LinkTable, link: Link) -> bool:
    """Physical NIC, bond, VLAN, or a bridge (Linux or OVS internal port) that has one of those as a port or
    holds the host's global IPv4 address."""
    if link.name.startswith(VIRTUAL_PREFIXES) and link.kind not in UPLINK_KINDS:
        return False
    if is_physical(link) or link.kind in UPLINK_KINDS:
        return True
    if link.kind == "bridge":
        return any(is_physical(p) or p.kind in UPLINK_KINDS for p in links.ports(link.name))
    if link.kind == "openvswitch":
        return any(a.family == "inet" and a.scope == "global" for a in link.addresses)
    return False


def _on(entry: SysctlEntry | None) -> bool:
    return entry is not None and (entry.as_int() or 0) > 0


def _answered_routes(routes: list[Route], links: LinkTable | None, uplink: str | None) -> list[Route]:
    """IPv4 routes to instance/floating/internal ranges that proxy ARP would claim on `uplink` (None: on every
    interface): non-default prefixes reached through another device, other than the connected subnet of
    another uplink (a multi-homed host is not the problem)."""
    out: list[Route] = []
    for route in routes:
        if route.family != "inet" or route.type != "unicast" or route.is_default or route.table == "local":
            continue
        net = route.network
        if not isinstance(net, ipaddress.IPv4Network) or net.subnet_of(_LINK_LOCAL):
            continue
        if route.dev in (None, "lo", uplink):
            continue
        dev = links.get(route.dev) if links is not None and route.dev is not None else None
        if route.proto == "kernel" and dev is not None and links is not None and is_uplink(links, dev):
            continue
        out.append(route)
    return out


@check(CheckMeta(
    id="SEC-001",
    title="proxy_arp enabled on host uplinks",
    severity=Severity.medium,
    area="sec",
    tale=(
        "A single-NIC lab cloud handed floating IPs to guests by turning on proxy ARP on the host's only "
        "NIC, with the warning that the host then answers ARP for every network it has a route to, "
        "internal ones included. Another operator found proxy ARP switched on in a DVR floating-IP "
        "namespace and wondered whether it was a mistake: there neutron sets it on purpose."
    ),
    description=(
        "Reads net.ipv4.conf.<if>.proxy_arp and net.ipv4.conf.all.proxy_arp in the init network namespace "
        "(the kernel enables proxy ARP on an interface when either is 1) and flags physical NICs, bonds, "
        "VLAN devices and bridges that carry an uplink. It is worse when the host has routes for other "
        "prefixes via other devices (instance, floating, internal ranges): those are the addresses it will "
        "claim. DVR's fip-/qrouter- namespaces set proxy_arp by design and are not evaluated."
    ),
    risk=(
        "The host answers ARP on the physical network for addresses that belong to internal or virtual "
        "networks, hijacking or black-holing traffic for those addresses on the upstream segment."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="See what the host would answer for.", commands=[
            "sysctl -a 2>/dev/null | grep '\\.proxy_arp = 1'",
            "ip -4 route show table all",
            "grep -rn proxy_arp /etc/sysctl.conf /etc/sysctl.d/",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Turn proxy ARP off on the uplink (changes forwarding behaviour) and remove it from sysctl.d; "
            "prefer upstream static routes to the host. If it must stay, restrict ARP replies with "
            "arptables/ebtables to the addresses the host should answer for."), commands=[
            "sysctl -w net.ipv4.conf.<if>.proxy_arp=0",
            "sysctl -w net.ipv4.conf.all.proxy_arp=0",
        ]),
    ],
    references=[
        "kernel Documentation/networking/ip-sysctl: proxy_arp is enabled if conf/all or conf/<if> is set",
        "neutron neutron/agent/l3/dvr_fip_ns.py (proxy_arp=1 on fg- devices in fip- namespaces, by design)",
    ],
    reads={
        "live": ["cmd:sysctl -a", "cmd:ip -d link", "cmd:ip route show table all", "etc/sysctl.conf",
                 "etc/sysctl.d/*.conf"],
        "sosreport": ["sos_commands/kernel/sysctl_-a", "sos_commands/networking/ip_-s_-d_link",
                      "sos_commands/networking/ip_-d_address",
                      "sos_commands/networking/ip_route_show_table_all", "etc/sysctl.conf",
                      "etc/sysctl.d/*.conf"],
        "kolla": ["same as live: host kernel"],
    },
))
def proxy_arp_on_uplinks(ctx: CheckContext) -> None:
    sysctl = ctx.facts.get(load_sysctl)
    all_entry = sysctl.conf("all", "proxy_arp")
    links = ctx.facts.maybe(load_links)
    if links is None and not _on(all_entry):
        raise MissingEvidence("sos_commands/networking/ip_-d_address (cmd: ip -d address)")
    routes = ctx.facts.maybe(load_routes) or []
    persisted = ctx.facts.maybe(load_sysctl_files)
    single_nic = links is not None and sum(1 for link in links if is_physical(link)) == 1

    def persisted_evidence(key: str) -> list[Evidence]:
        entry = persisted.get(key) if persisted is not None else None
        return [entry.evidence()] if entry is not None and _on(entry) else []

    def report(subject: str, evidence: list[Evidence], uplink: str | None) -> None:
        answered = _answered_routes(routes, links, uplink)
        design = (" Single-NIC host: if this is the deliberate proxy-ARP design, restrict ARP replies to the "
                  "addresses it must answer for.") if single_nic else ""
        if answered and not single_nic:
            sample = ", ".join(f"{r.dst} dev {r.dev}" for r in answered[:4])
            more = f" (+{len(answered) - 4} more)" if len(answered) > 4 else ""
            ctx.fail(f"{subject}; the host has routes via other devices it will answer ARP for on that link: "
                     f"{sample}{more}", severity=Severity.high, resource=uplink or "all",
                     evidence=[*evidence, *(r.evidence() for r in answered[:4])])
        else:
            routes_note = f" It would answer for {len(answered)} routed prefixes." if answered else ""
            ctx.warn(f"{subject}: the host answers ARP there for addresses it reaches through other "
                     f"interfaces.{routes_note}{design}", severity=Severity.medium, resource=uplink or "all",
                     evidence=evidence)

    if all_entry is not None and _on(all_entry):
        report("net.ipv4.conf.all.proxy_arp = 1 enables proxy ARP on every interface",
               [all_entry.evidence(), *persisted_evidence(all_entry.key)], None)
        return
    if links is None:
        return
    uplinks = [link for link in links if is_uplink(links, link)]
    found = False
    for link in uplinks:
        entry = sysctl.conf(link.name, "proxy_arp")
        if entry is None or not _on(entry):
            continue
        found = True
        report(f"proxy_arp is enabled on uplink {link.name}",
               [entry.evidence(), link.evidence(), *persisted_evidence(entry.key)], link.name)
    if not found:
        names = ", ".join(link.name for link in uplinks) or "none found"
        ctx.ok(f"proxy_arp is off on conf.all and on every uplink ({names})",
               evidence=[all_entry.evidence()] if all_entry is not None else [])
