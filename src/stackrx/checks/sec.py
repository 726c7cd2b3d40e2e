"""Host security posture: proxy ARP on host uplinks (SEC-001), hardening left undone after an install: SELinux
permissive, an open host firewall (SEC-002)."""

from __future__ import annotations

import ipaddress
import re

from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.iproute import Address, Link, LinkTable, Route, load_links, load_routes
from stackrx.facts.kernel import Process, load_processes, load_uname
from stackrx.facts.packages import load_packages
from stackrx.facts.pktfilter import load_firewall_services, load_ip_filter
from stackrx.facts.selinux import SelinuxState, load_os_release, load_selinux
from stackrx.facts.sysctl import SysctlEntry, load_sysctl, load_sysctl_files
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

# ---------------------------------------------------------------------------------------------------------
# SEC-001
# ---------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------
# SEC-002
# ---------------------------------------------------------------------------------------------------------

POLICY_PACKAGE = "openstack-selinux"
CONTROLLER_SERVICES = re.compile(
    r"nova-api(?!-metadata)|neutron-server|glance-api|cinder-api|heat-api|placement-api|octavia-api"
    r"|wsgi:keystone|keystone-(?:wsgi|all|public|admin)")
# Unprivileged containers (LXD, rootless podman) run as mapped sub-uids: their services are not this host's.
SUBUID_FLOOR = 100_000


def _host_process(proc: Process) -> bool:
    return not (proc.user.isdigit() and int(proc.user) >= SUBUID_FLOOR)


def _controller(ctx: CheckContext) -> Process | None:
    procs = ctx.facts.maybe(load_processes)
    if procs is None:
        return None
    return next((p for p in procs.matching(CONTROLLER_SERVICES) if _host_process(p)), None)


def _public_address(ctx: CheckContext) -> Address | None:
    links = ctx.facts.maybe(load_links)
    for _link, addr in links.addresses() if links is not None else []:
        try:
            ip = ipaddress.ip_address(addr.address)
        except ValueError:
            continue
        if ip.is_global and addr.scope == "global":
            return addr
    return None


def _rhel_family(ctx: CheckContext) -> tuple[bool | None, str]:
    release = ctx.facts.maybe(load_os_release)
    if release is not None:
        return release.rhel_family, release.pretty or release.id or release.source
    uname = ctx.facts.maybe(load_uname)
    if uname is not None and uname.distro is not None:
        return uname.distro in ("rhel", "fedora"), f"kernel {uname.release}"
    return None, "distribution unknown"


@check(CheckMeta(
    id="SEC-002",
    title="SELinux permissive / host firewall disabled after install",
    severity=Severity.low,
    area="sec",
    tale=(
        "A guide to an all-in-one install suggested `setenforce 0` 'temporarily' and switching firewalld off to "
        "get the installer through, and later had to relabel the MySQL data directory with restorecon when "
        "SELinux came back. Temporary measures like these tend to stay: months later the cloud still runs "
        "permissive with an open host firewall."
    ),
    description=(
        "On a RHEL-family node (etc/os-release ID/ID_LIKE, else the kernel's elN tag) that has the "
        "openstack-selinux policy package installed, SELinux permissive or disabled (`sestatus`, "
        "/sys/fs/selinux/enforce, etc/selinux/config) is low, medium when the node is a controller with a "
        "globally routable address; the config file saying enforcing while the kernel runs permissive is the "
        "'setenforce 0' left behind. Without openstack-selinux (Kolla hosts and others that do not use the "
        "OpenStack policy) permissive is expected and not flagged. On a controller (API services running as "
        "host processes, not in sub-uid containers), a filter INPUT chain with policy ACCEPT and no rules "
        "(iptables-save, iptables -nvL, or the nft ip/inet view) is low, with the firewalld/ufw state as "
        "context. Distributions without SELinux and AppArmor hosts are not judged on SELinux."
    ),
    risk=(
        "Confinement is off exactly where a compromised service would use it, and every service port of the "
        "controller is reachable from any network the host is on."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="See the current state and what SELinux would block.", commands=[
            "sestatus", "grep ^SELINUX= /etc/selinux/config", "ausearch -m avc -ts recent",
            "iptables -S INPUT; nft list ruleset", "systemctl is-active firewalld",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Fix the labels, then enforce (services that still trip AVCs will fail; review the audit log "
            "first)."), commands=[
            "restorecon -R /var/lib/mysql /var/lib/nova /var/lib/glance",
            "setenforce 1",
            "sed -i 's/^SELINUX=.*/SELINUX=enforcing/' /etc/selinux/config",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Restore the host firewall with the service ports the controller must expose (can cut access; "
            "apply from a console)."), commands=["systemctl enable --now firewalld"]),
    ],
    references=[
        "sos report plugins selinux.py (sestatus, /etc/selinux), firewall_tables.py (iptables -t filter -nvL, "
        "nft -a list ruleset), firewalld.py (firewall-cmd --state), ufw.py (/etc/ufw)",
        "RDO openstack-selinux: the policy package OpenStack services need for enforcing mode",
        "decision: 'internet-facing' = a controller with a globally routable address on a host interface",
    ],
    reads={
        "live": ["cmd:sestatus", "sys/fs/selinux/enforce", "etc/selinux/config", "etc/os-release", "cmd:rpm -qa",
                 "cmd:iptables-save", "cmd:iptables -nvL", "cmd:nft list ruleset", "cmd:systemctl list-units",
                 "etc/ufw/ufw.conf", "cmd:ps auxwww", "cmd:ip -d address"],
        "sosreport": ["sos_commands/selinux/sestatus", "etc/selinux/config", "etc/os-release", "installed-rpms",
                      "sos_commands/firewall_tables/iptables_-t_filter_-nvL",
                      "sos_commands/firewall_tables/nft_-a_list_ruleset", "sos_commands/firewalld/firewall-cmd_--state",
                      "sos_commands/process/ps_auxwwwm", "sos_commands/networking/ip_-d_address"],
        "kolla": ["same as live: host SELinux and firewall (Kolla hosts without openstack-selinux are not judged)"],
    },
))
def hardening_undone(ctx: CheckContext) -> None:
    rhel, distro = _rhel_family(ctx)
    controller = _controller(ctx)
    if not rhel and controller is None:
        raise NotApplicable(f"not a RHEL-family node ({distro}) and not a controller: neither SELinux nor the host "
                            "firewall rule applies")
    public = _public_address(ctx) if controller is not None else None
    notes: list[str] = []
    if rhel:
        _selinux(ctx, controller, public, notes)
    else:
        notes.append(f"SELinux not judged ({distro})")
    if controller is not None:
        _firewall(ctx, controller, notes)
    if not ctx.outcomes:
        ctx.ok("; ".join(notes))


def _selinux(ctx: CheckContext, controller: Process | None, public: Address | None, notes: list[str]) -> None:
    state = ctx.facts.maybe(load_selinux)
    if state is None:
        notes.append("SELinux state not collected (sestatus, etc/selinux/config)")
        return
    if state.mode == "enforcing":
        notes.append("SELinux enforcing")
        return
    packages = ctx.facts.maybe(load_packages)
    policy = packages.get(POLICY_PACKAGE) if packages is not None else None
    mode = state.mode or f"{state.config_mode} (from the config file)"
    if packages is None:
        notes.append(f"SELinux {mode}; the package list was not collected, so whether {POLICY_PACKAGE} is "
                     "installed is unknown")
        return
    if policy is None:
        notes.append(f"SELinux {mode}, but {POLICY_PACKAGE} is not installed (expected without the OpenStack "
                     "policy)")
        return
    severity = Severity.medium if controller is not None and public is not None else Severity.low
    exposed = f" on a controller with public address {public.cidr}" if public is not None and controller else ""
    ctx.report(severity, f"SELinux is {mode}{_left_behind(state)} although {POLICY_PACKAGE} {policy.version} is "
               f"installed{exposed}: the OpenStack services run unconfined", resource="selinux",
               evidence=[*_mode_evidence(state), policy.evidence(), *([public.evidence()] if public and controller
                                                                   else [])])


def _mode_evidence(state: SelinuxState) -> list[Evidence]:
    # "SELinux status: enabled" adds nothing once the mode lines are there.
    lines = [e for e in state.evidence if not e.excerpt.startswith("SELinux status") or state.mode == "disabled"]
    return lines[:3]


def _left_behind(state: SelinuxState) -> str:
    if state.mode == "permissive" and state.config_mode == "enforcing":
        return " while etc/selinux/config says enforcing (a `setenforce 0` never undone)"
    return ""


def _firewall(ctx: CheckContext, controller: Process, notes: list[str]) -> None:
    ruleset = ctx.facts.maybe(load_ip_filter)
    if ruleset is None:
        notes.append("host packet filter not collected")
        return
    inputs = ruleset.chains_for("ip", "input")
    if not inputs:
        notes.append("no INPUT chain in the collected ruleset")
        return
    if any(c.rules or (c.policy or "ACCEPT") != "ACCEPT" for c in inputs):
        notes.append("INPUT is filtered")
        return
    services = ctx.facts.maybe(load_firewall_services) or []
    state = ", ".join(f"{s.name} {'active' if s.active else 'inactive'}" for s in services)
    ctx.warn("this controller's INPUT chain accepts everything (policy ACCEPT, no rules)"
             + (f"; {state}" if state else "") + ": every API and database port is open to every network it "
             "is on", severity=Severity.low, resource="INPUT",
             evidence=[inputs[0].evidence(), controller.evidence(), *(s.evidence for s in services[:2])])
