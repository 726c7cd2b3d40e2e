"""Host hardening left undone after an install: SELinux permissive, an open host firewall (SEC-002)."""

from __future__ import annotations

import ipaddress
import re

from stackrx.engine import CheckContext, check
from stackrx.errors import NotApplicable
from stackrx.facts.iproute import Address, load_links
from stackrx.facts.kernel import Process, load_processes, load_uname
from stackrx.facts.packages import load_packages
from stackrx.facts.pktfilter import load_firewall_services, load_ip_filter
from stackrx.facts.selinux import SelinuxState, load_os_release, load_selinux
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

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
