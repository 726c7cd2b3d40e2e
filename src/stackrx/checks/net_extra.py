"""More host networking checks: conntrack sysctl persistence (NET-002, node part), guest BPDUs reaching the
physical network (NET-006), an uplink bond losing every member (NET-007), DHCP renew storms (NET-008), instance
tap TX drops (NET-009) and provider-network mapping completeness (NET-010)."""

from __future__ import annotations

import fnmatch
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from stackrx.checks.net import signature_hits
from stackrx.checks.sec import UPLINK_KINDS, VIRTUAL_PREFIXES, is_physical
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.bonding import Bond, load_bonds
from stackrx.facts.dnsmasq import DhcpEvent, load_dhcp_events
from stackrx.facts.ini import IniFile, IniValue, as_int, as_list, load_config
from stackrx.facts.iproute import Link, LinkTable, load_links
from stackrx.facts.libvirt_domains import Domain, DomainInterface, device_index, load_domains
from stackrx.facts.logs import DEFAULT_WINDOW_DAYS, Hit, iter_hits
from stackrx.facts.modprobe import load_module_config
from stackrx.facts.ovs import (
    OvsInterface,
    OvsShow,
    load_open_vswitch,
    load_ovs_bridges,
    load_ovs_show,
    ovn_external_ids,
)
from stackrx.facts.ovs_bridge_table import forwards_bpdu, load_ovs_bridge_table
from stackrx.facts.pktfilter import bpdu_drop_rules, load_bridge_filters
from stackrx.facts.sysctl import PersistedSysctl, Sysctl, load_sysctl, load_sysctl_files
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind


def _window_days(ctx: CheckContext) -> int:
    return max(1, round(ctx.options.log_window.total_seconds() / 86400))


# ---------------------------------------------------------------------------------------------------------
# NET-002
# ---------------------------------------------------------------------------------------------------------

CT_MAX = "net.netfilter.nf_conntrack_max"
CT_MAX_OLD = "net.nf_conntrack_max"
CT_BUCKETS = "net.netfilter.nf_conntrack_buckets"
_CT_PREFIX = "net.netfilter.nf_conntrack_"
_READ_ONLY = frozenset({"net.netfilter.nf_conntrack_count"})


def _conntrack_keys(persisted: PersistedSysctl) -> list[str]:
    keys: list[str] = []
    for entry in persisted.entries:
        tracked = entry.key.startswith(_CT_PREFIX) or entry.key == CT_MAX_OLD
        if tracked and entry.key not in _READ_ONLY and entry.key not in keys:
            keys.append(entry.key)
    return keys


def _same(a: str, b: str) -> bool:
    ta, tb = a.split(), b.split()
    if len(ta) == len(tb) == 1 and ta[0].lstrip("-").isdigit() and tb[0].lstrip("-").isdigit():
        return int(ta[0]) == int(tb[0])
    return ta == tb


def _load_order_hint(ctx: CheckContext) -> tuple[str, list[Evidence]]:
    modules = ctx.facts.maybe(load_module_config)
    early = modules.load_of("nf_conntrack") if modules is not None else None
    if early is not None:
        return ("nf_conntrack is loaded early (modules-load), so the value was changed after boot or the file "
                "was written after the last boot", [early.evidence()])
    where = "no modules-load.d entry loads nf_conntrack" if modules is not None else (
        "modules-load.d / etc/modules not collected")
    return (f"{where}: systemd-sysctl most likely ran before nf_conntrack was loaded, when the key did not exist "
            "yet, and the kernel default applied", [])


# One catalogue id, two halves: this node part is the registered check (modes live/snap); the fleet drift part
# in checks/fleet.py runs under the same id and metadata, the way HA-F01 and DB-F01 share theirs (SHARED).
@check(CheckMeta(
    id="NET-002",
    title="Conntrack sysctl persistence, dual-key drift, fleet drift",
    severity=Severity.medium,
    area="net",
    tale=(
        "After raising the conntrack limit on busy hypervisors, the operators learnt that one sysctl is not "
        "enough: the limit has an old and a new name, and the setting has to live in a sysctl.d file so it "
        "survives a reboot. A value set only by hand, or a file the kernel could not apply because the "
        "conntrack module was not loaded yet, quietly brings the small default back."
    ),
    description=(
        "Compares every persisted conntrack setting (net.netfilter.nf_conntrack_* and net.nf_conntrack_max in "
        "etc/sysctl.d, run/sysctl.d, usr/lib/sysctl.d, lib/sysctl.d and etc/sysctl.conf, applied in "
        "systemd-sysctl order: file name across directories, /etc hiding /run hiding /usr/lib, last "
        "assignment wins) with the running value from `sysctl -a`; a difference is a setting that is not in "
        "effect (usually because sysctl ran before nf_conntrack was loaded: modules-load.d is checked). The "
        "same is done for `options nf_conntrack hashsize=` in modprobe.d against nf_conntrack_buckets. Both "
        "limit keys configured with different values is flagged: they are one variable in the init namespace "
        "and the file order decides. A runtime value that no file sets is reported as context only (config "
        "management may apply it after boot). Comparing the limit across same-role nodes is the fleet part "
        "of this check and is not done on a node scan."
    ),
    risk=(
        "The next reboot (or the first boot after a rebuild) brings back the kernel's default table size on a "
        "host that was tuned because it overflowed: the conntrack-full outage returns weeks later, when nobody "
        "remembers the fix."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Compare what is configured with what runs.", commands=[
            "grep -rn conntrack /etc/sysctl.conf /etc/sysctl.d/ /run/sysctl.d/ /usr/lib/sysctl.d/ "
            "/etc/modprobe.d/ /etc/modules-load.d/ /etc/modules",
            "sysctl net.netfilter.nf_conntrack_max net.nf_conntrack_max net.netfilter.nf_conntrack_buckets",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Keep one file with one key, load nf_conntrack early and re-apply (idempotent)."), commands=[
            "printf 'net.netfilter.nf_conntrack_max = 524288\\n' > /etc/sysctl.d/90-nf-conntrack.conf",
            "echo nf_conntrack > /etc/modules-load.d/nf_conntrack.conf",
            "sysctl --system",
        ]),
    ],
    references=[
        "sos report plugins kernel.py (sysctl.d directories and sysctl -a are collected)",
        "docs.kernel.org networking/nf_conntrack-sysctl (nf_conntrack_max, nf_conntrack_buckets writable in the "
        "init namespace); systemd-sysctl(8) / sysctl.d(5) precedence; modules-load.d(5)",
        "fleet drift of nf_conntrack_max across same-role nodes (low) is evaluated by `stackrx fleet`, not by this "
        "node scan",
    ],
    modes=["live", "snap", "fleet"],
    reads={
        "live": ["cmd:sysctl -a", "etc/sysctl.conf", "etc/sysctl.d/*.conf", "run/sysctl.d/*.conf",
                 "usr/lib/sysctl.d/*.conf", "etc/modules-load.d/*.conf", "etc/modules", "etc/modprobe.d/*.conf"],
        "sosreport": ["sos_commands/kernel/sysctl_-a", "etc/sysctl.conf", "etc/sysctl.d/*.conf",
                      "usr/lib/sysctl.d/*.conf", "etc/modules-load.d/*.conf", "etc/modules",
                      "etc/modprobe.d/*.conf"],
        "kolla": ["same as live: the host kernel's settings"],
    },
))
def conntrack_persistence(ctx: CheckContext) -> None:
    runtime = ctx.facts.get(load_sysctl)
    persisted = ctx.facts.get(load_sysctl_files)
    loaded = runtime.get(CT_MAX) or runtime.get(CT_MAX_OLD)
    keys = _conntrack_keys(persisted)
    if loaded is None and not keys:
        raise NotApplicable("nf_conntrack is not loaded and no conntrack sysctl is configured")
    notes: list[str] = []
    problems = 0
    if loaded is None:
        entries = [e for e in (persisted.get(k) for k in keys[:3]) if e is not None]
        ctx.ok(f"{len(keys)} conntrack setting(s) persisted but nf_conntrack is not loaded now: they apply only "
               "if sysctl runs again after the module loads (see modules-load.d)",
               evidence=[e.evidence() for e in entries])
        return
    for key in keys:
        problems += _persisted_vs_runtime(ctx, key, persisted, runtime, notes)
    problems += _dual_key(ctx, persisted)
    problems += _hashsize(ctx, runtime, CT_BUCKETS in keys)
    if problems:
        return
    if not keys:
        ctx.ok(f"{loaded.key} = {loaded.value} at runtime is set by no sysctl file ({len(persisted.files)} read): "
               "fine if configuration management applies it after every boot, otherwise a reboot reverts it to "
               "the kernel default", evidence=[loaded.evidence()])
        return
    ctx.ok(f"every persisted conntrack setting is in effect ({', '.join(keys)})"
           + (f"; {'; '.join(notes)}" if notes else ""), evidence=[loaded.evidence()])


def _persisted_vs_runtime(ctx: CheckContext, key: str, persisted: PersistedSysctl, runtime: Sysctl,
                          notes: list[str]) -> int:
    entry = persisted.get(key)
    live = runtime.get(key)
    if entry is None:
        return 0
    if live is None:
        notes.append(f"{key} is configured ({entry.source}) but the running kernel has no such key")
        return 0
    if _same(entry.value, live.value):
        return 0
    hint, hint_ev = _load_order_hint(ctx)
    ctx.warn(f"{key} is configured as {entry.value} ({entry.source}:{entry.line}) but the kernel runs with "
             f"{live.value}: the setting is not in effect; {hint}", severity=Severity.medium, resource=key,
             evidence=[entry.evidence(), live.evidence(), *hint_ev])
    return 1


def _dual_key(ctx: CheckContext, persisted: PersistedSysctl) -> int:
    new, old = persisted.get(CT_MAX), persisted.get(CT_MAX_OLD)
    if new is None or old is None or _same(new.value, old.value):
        return 0
    both = [e for e in persisted.entries if e.key in (CT_MAX, CT_MAX_OLD)]
    winner = both[-1]
    ctx.warn(f"{CT_MAX} = {new.value} and {CT_MAX_OLD} = {old.value} are both configured: they are one variable "
             f"in the init namespace, so the last assignment ({winner.key} = {winner.value} in {winner.source}) "
             "wins and the other value is never used", severity=Severity.medium, resource=CT_MAX,
             evidence=[new.evidence(), old.evidence()])
    return 1


def _hashsize(ctx: CheckContext, runtime: Sysctl, buckets_by_sysctl: bool) -> int:
    modules = ctx.facts.maybe(load_module_config)
    option = modules.option("nf_conntrack", "hashsize") if modules is not None else None
    buckets = runtime.get(CT_BUCKETS)
    if option is None or buckets is None or buckets_by_sysctl or _same(option.value, buckets.value):
        return 0
    ctx.warn(f"modprobe.d sets nf_conntrack hashsize={option.value} but the running table has {buckets.value} "
             "buckets: the module was loaded before the option existed (or from the initramfs) and keeps its "
             "old size until it is reloaded", severity=Severity.medium, resource=CT_BUCKETS,
             evidence=[option.evidence(), buckets.evidence()])
    return 1


# ---------------------------------------------------------------------------------------------------------
# NET-006
# ---------------------------------------------------------------------------------------------------------

INSTANCE_PORTS = ("tap", "vnet", "macvtap")
OVS_INSTANCE_PORTS = ("tap", "vnet", "qvo")
_PHYSICAL_OVS_TYPES = frozenset({"", "system", "dpdk", "afxdp"})


def _uplink_members(links: LinkTable, link: Link) -> set[str]:
    """Names whose link loss means this uplink lost link: the device, its lower devices, a bond's members."""
    names = {link.name}
    chain = links.vlan_chain(link.name)
    base = chain[-1] if chain else link
    if base.parent and links.get(base.parent) is not None:
        base = links.get(base.parent) or base
    names.add(base.name)
    if base.kind in ("bond", "team"):
        names.update(p.name for p in links.ports(base.name))
    return names


def _link_loss_hits(ctx: CheckContext, names: set[str]) -> list[Hit]:
    hits = signature_hits(ctx)
    if hits is None:
        return []
    out: list[Hit] = []
    for sig in ("R-BOND-NONE", "R-BOND-DOWN"):
        if not hits.covered(sig):
            continue
        for hit in hits.get(sig):
            named = {hit.groups.get(k) for k in ("bond", "slave", "slave2")} - {None}
            if named & names:
                out.append(hit)
    return out


def _filter_covers(ctx: CheckContext, ports: list[Link], uplink: Link) -> tuple[list[Evidence], str]:
    """Evidence of a bridge-family rule dropping STP frames from every instance port towards the uplink."""
    rulesets = load_bridge_filters(ctx.view)
    if not rulesets:
        return [], ("no bridge-family ruleset was collected (sos collects `nft list ruleset`; legacy ebtables "
                    "rules are invisible in a sosreport)")
    rules = [r for rs in rulesets for r in bpdu_drop_rules(rs)]

    def covered(port: Link) -> Evidence | None:
        for _chain, rule, iif, oif in rules:
            if iif is not None and not fnmatch.fnmatch(port.name, iif.replace("+", "*")):
                continue
            if oif is not None and not fnmatch.fnmatch(uplink.name, oif.replace("+", "*")):
                continue
            return rule.evidence()
        return None

    found = [covered(p) for p in ports]
    if all(found):
        return [e for e in found if e is not None][:2], ""
    return [], "no bridge-family rule drops 01:80:c2:00:00:00 from every instance port"


@check(CheckMeta(
    id="NET-006",
    title="Instance BPDUs can reach the physical network",
    severity=Severity.high,
    area="net",
    tale=(
        "One tenant booted an image that ran a spanning-tree daemon. Its BPDUs crossed the compute node's "
        "Linux bridge untouched, the top-of-rack switch saw a BPDU on an edge port protected by BPDU guard "
        "and shut the compute's whole port-channel: every other instance on that host went dark because of "
        "one guest."
    ),
    description=(
        "Finds Linux bridges that join instance ports (tap*, vnet*, macvtap*) with a physical uplink (a NIC, "
        "bond, team or VLAN device). With STP off (`stp_state 0`) the kernel forwards STP frames like any "
        "other, so a guest's BPDU leaves on the uplink unless a bridge-family rule (nft `table bridge`, "
        "ebtables) drops 01:80:c2:00:00:00 from the instance ports; with STP on, the host bridge sends its "
        "own BPDUs into the switch. Open vSwitch drops reserved multicast in the NORMAL action unless "
        "`other_config:forward-bpdu=true`: such a bridge with a physical port that carries instance traffic "
        "(instance ports on it, or a patch to a bridge that has them) is flagged too. Hybrid-plug qbr bridges "
        "(tap + qvb, no physical port) are not exposed. Whether the switch port has BPDU guard cannot be seen "
        "from the host: the finding is high when the uplink already lost link in the log window (the "
        "err-disable signature), medium otherwise."
    ),
    risk=(
        "A BPDU-guarded switch port err-disables on the first guest BPDU: the whole host (all instances, "
        "often the management path too) loses the network until someone re-enables the port by hand."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="See the exposure.", commands=[
            "ip -d link show type bridge", "bridge link", "nft list ruleset", "ebtables -L",
            "ovs-vsctl --columns=name,other_config,stp_enable,rstp_enable list Bridge",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Drop STP frames from instance ports on the bridge (changes forwarding; confirm first)."), commands=[
            "nft add table bridge bpdu",
            "nft add chain bridge bpdu fwd '{ type filter hook forward priority 0; }'",
            "nft add rule bridge bpdu fwd iifname \"tap*\" ether daddr 01:80:c2:00:00:00 drop",
            "ebtables -A FORWARD -i tap+ -d 01:80:c2:00:00:00 -j DROP  # legacy ebtables hosts",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "On Open vSwitch, stop forwarding BPDUs; long term migrate Linux-bridge deployments to OVS/OVN, and "
            "ask the network team for err-disable auto-recovery (vendor specific)."), commands=[
            "ovs-vsctl remove Bridge <bridge> other_config forward-bpdu",
        ]),
    ],
    references=[
        "Linux net/bridge/br_input.c br_handle_frame (STP off: link-local 01:80:C2:00:00:00 frames forwarded)",
        "ovs-vswitchd.conf.db(5) Bridge other_config:forward-bpdu (applies to the NORMAL action)",
        "neutron commit 25d0273588 (Linux bridge agent removed in 26.0.0 / 2025.1); nova-network br100 in "
        "nova < 21.0.0",
        "decision: the switch's BPDU-guard policy is invisible from the host; severity high only when the "
        "uplink's own link loss (R-BOND-DOWN / R-BOND-NONE) is in the log window, else medium",
        "OVN's handling of guest BPDUs is UNVERIFIED: OVN chassis are not judged beyond forward-bpdu",
        "switch-side err-disable recovery commands are vendor specific (UNVERIFIED)",
    ],
    reads={
        "live": ["cmd:ip -d link", "cmd:nft list ruleset", "cmd:ebtables -L", "cmd:ovs-vsctl list bridge",
                 "cmd:ovs-vsctl show", "kernel log (bond/link loss)"],
        "sosreport": ["sos_commands/networking/ip_-s_-d_link", "sos_commands/firewall_tables/nft_-a_list_ruleset",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_list_bridge",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_show", "var/log/kern.log*"],
        "kolla": ["same as live: host bridges and OVS (docker exec openvswitch_vswitchd ovs-vsctl ...)"],
    },
))
def bpdu_exposure(ctx: CheckContext) -> None:
    links = ctx.facts.get(load_links)
    checked: list[str] = []
    for bridge in links:
        if bridge.kind != "bridge":
            continue
        ports = links.ports(bridge.name)
        guests = [p for p in ports if p.name.startswith(INSTANCE_PORTS)]
        uplinks = [p for p in ports if is_physical(p) or p.kind in UPLINK_KINDS]
        if not guests or not uplinks:
            continue
        checked.append(bridge.name)
        _linux_bridge(ctx, links, bridge, guests, uplinks[0])
    _ovs_forward_bpdu(ctx, links, checked)
    if not ctx.outcomes:
        chassis = ctx.facts.maybe(load_open_vswitch)
        ovn = " (OVN chassis: OVN's own BPDU handling is not judged)" if chassis is not None and any(
            k.startswith("ovn-") for k in ovn_external_ids(chassis)) else ""
        what = f"{', '.join(checked)} filter STP frames" if checked else (
            "no Linux bridge joins instance ports with a physical uplink, no OVS bridge forwards BPDUs")
        ctx.ok(what + ovn)


def _exposure_severity(ctx: CheckContext, links: LinkTable, uplink: Link) -> tuple[Severity, str, list[Evidence]]:
    hits = _link_loss_hits(ctx, _uplink_members(links, uplink))
    if hits:
        return (Severity.high, f"; the uplink already lost link {len(hits)} time(s) in the log window "
                "(err-disable signature)", [hits[0].evidence()])
    return (Severity.medium, "; whether the switch port has BPDU guard is not visible from the host (assumed "
            "possible)", [])


def _linux_bridge(ctx: CheckContext, links: LinkTable, bridge: Link, guests: list[Link], uplink: Link) -> None:
    stp = bridge.detail("stp_state")
    severity, why, loss_ev = _exposure_severity(ctx, links, uplink)
    sample = ", ".join(p.name for p in guests[:3]) + (f" (+{len(guests) - 3})" if len(guests) > 3 else "")
    evidence = [bridge.kind_evidence(), guests[0].evidence(), uplink.evidence(), *loss_ev]
    if stp not in (None, "0"):
        ctx.report(severity, f"Linux bridge {bridge.name} runs STP (stp_state {stp}) with instance ports "
                   f"{sample} and uplink {uplink.name}: the host sends its own BPDUs into the switch{why}",
                   resource=bridge.name, evidence=evidence)
        return
    rule_ev, gap = _filter_covers(ctx, guests, uplink)
    if rule_ev:
        return
    ctx.report(severity, f"Linux bridge {bridge.name} has STP off and joins instance ports {sample} with uplink "
               f"{uplink.name}: a guest's BPDU is forwarded to the physical network ({gap}){why}",
               resource=bridge.name, evidence=evidence)


def _ovs_uplink(links: LinkTable, bridge: str, iface: OvsInterface) -> bool:
    if iface.type not in _PHYSICAL_OVS_TYPES or iface.name == bridge or iface.name.startswith(OVS_INSTANCE_PORTS):
        return False
    if iface.type not in ("", "system"):
        return True  # dpdk / afxdp ports are NICs by definition
    link = links.get(iface.name)
    if link is None:
        return not iface.name.startswith(VIRTUAL_PREFIXES)
    return is_physical(link) or link.kind in UPLINK_KINDS


def _ovs_forward_bpdu(ctx: CheckContext, links: LinkTable, checked: list[str]) -> None:
    table = ctx.facts.maybe(load_ovs_bridge_table)
    show = ctx.facts.maybe(load_ovs_show)
    if table is None or show is None:
        return
    with_guests = {b.name for b in show.bridges
                   if any(i.name.startswith(OVS_INSTANCE_PORTS) for i in b.interfaces())}
    for record in table:
        name = record.text("name")
        if not name or not forwards_bpdu(record):
            continue
        bridge = show.bridge(name)
        if bridge is None:
            continue
        physical = [i for i in bridge.interfaces() if _ovs_uplink(links, name, i)]
        peers = {i.options.get("peer") for i in bridge.interfaces() if i.type == "patch"}
        patched = {b.name for b in show.bridges if any(i.name in peers for i in b.interfaces())}
        carries = name in with_guests or bool(patched & with_guests)
        if not physical or not carries:
            continue
        checked.append(name)
        uplink = links.get(physical[0].name)
        severity, why, loss_ev = _exposure_severity(ctx, links, uplink) if uplink is not None else (
            Severity.medium, "", [])
        field = record.get("other_config")
        ctx.report(severity, f"OVS bridge {name} has other_config:forward-bpdu=true, a physical port "
                   f"{physical[0].name} and instance traffic: guest BPDUs leave on the uplink{why}",
                   resource=name, evidence=[*([field.map_evidence("forward-bpdu")] if field else []),
                                            physical[0].evidence(), *loss_ev])


# ---------------------------------------------------------------------------------------------------------
# NET-007
# ---------------------------------------------------------------------------------------------------------

SIMULTANEOUS_S = 2.0
NIC_FAULT_NEAR_S = 60.0
LACP_BEFORE_S = 120.0
SPAWN_BEFORE = timedelta(minutes=15)
_BOND_SIGS = ("R-BOND-DOWN", "R-BOND-NONE", "R-BOND-LACP", "R-NIC-FAULT", "R-NOVA-SPAWN")


@dataclass(frozen=True)
class BondLoss:
    bond: str
    at: datetime | None
    hits: tuple[Hit, ...]
    how: str


def _bond_members(bonds: tuple[Bond, ...] | None, links: LinkTable | None) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for bond in bonds or ():
        members[bond.name] = [s.name for s in bond.slaves]
    for link in links or ():
        if link.kind in ("bond", "team"):
            members.setdefault(link.name, [p.name for p in links.ports(link.name)] if links else [])
    return members


def _slave(hit: Hit) -> str | None:
    return hit.groups.get("slave") or hit.groups.get("slave2")


def _ts(hit: Hit) -> float | None:
    return hit.timestamp.timestamp() if hit.timestamp is not None else None


def _losses(bond: str, known: list[str], downs: list[Hit], nones: list[Hit]) -> list[BondLoss]:
    """Moments the bond lost every member: the driver said so, or every member went down within 2 s."""
    losses = [BondLoss(bond, h.timestamp, (h,), "the bonding driver logged it has no active interface")
              for h in nones]
    want = set(known)
    timed = sorted((h for h in downs if _ts(h) is not None), key=lambda h: _ts(h) or 0.0)
    i = 0
    while want and i < len(timed):
        start = _ts(timed[i]) or 0.0
        group = [h for h in timed[i:] if (_ts(h) or 0.0) - start <= SIMULTANEOUS_S]
        if {_slave(h) for h in group} >= want:
            losses.append(BondLoss(bond, timed[i].timestamp, tuple(group),
                                   f"all {len(want)} member(s) reported 'link status definitely down' within "
                                   f"{SIMULTANEOUS_S:.0f} s"))
            i += len(group)
        else:
            i += 1
    merged: list[BondLoss] = []
    for loss in sorted(losses, key=lambda x: x.at.timestamp() if x.at else 0.0):
        last = merged[-1] if merged else None
        if last is not None and last.at and loss.at and abs((loss.at - last.at).total_seconds()) <= 5:
            merged[-1] = BondLoss(bond, last.at, last.hits + loss.hits, f"{last.how}; {loss.how}")
            continue
        merged.append(loss)
    return merged


def _near(hits: Iterable[Hit], at: datetime | None, before: float, after: float) -> list[Hit]:
    if at is None:
        return []
    out = []
    for hit in hits:
        if hit.timestamp is None:
            continue
        delta = (hit.timestamp - at).total_seconds()
        if -before <= delta <= after:
            out.append(hit)
    return out


@check(CheckMeta(
    id="NET-007",
    title="Uplink bond lost all members (BPDU-guard / err-disable signature)",
    severity=Severity.critical,
    area="net",
    tale=(
        "On a February morning two compute nodes dropped off the network together, minutes after a tenant "
        "started an instance on them. Both members of each node's bond went down in the same second and the "
        "switch logs blamed BPDU guard on a port that had seen a frame from an OpenStack MAC address: the "
        "switch had shut the whole port-channel because of one guest."
    ),
    description=(
        "Reads `/proc/net/bonding/<bond>` (every member `MII Status: down` = bond down now) and the kernel log "
        "window for the bonding driver's 'link status definitely down' (old and new formats) and 'now running "
        "without any active interface' messages. A bond lost all members when the driver says so, or when "
        "every member went down within 2 s of each other. Each such moment is explained from the log: a NIC "
        "watchdog / Tx-hang message on a member within a minute means a host-side NIC fault; 802.3ad 'no "
        "response from the link partner' shortly before means LACP negotiation failed; otherwise all members "
        "at once is the switch-side shutdown pattern, and an instance spawned on this host in the 15 minutes "
        "before points at a guest BPDU (see NET-006). Single-member bonds are reported at high, since one link "
        "flap is not the all-members pattern."
    ),
    risk=(
        "With every member down the host is cut off: instances, storage and the management network behind "
        "that bond stop, and if the switch err-disabled the ports they stay down until re-enabled by hand."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Confirm the bond state and find what preceded the loss.",
                        commands=[
            "cat /proc/net/bonding/<bond>",
            "journalctl -k --since -7d | grep -E 'link status definitely down|without any active interface"
            "|802.3ad|NETDEV WATCHDOG'",
            "grep 'seconds to spawn the instance' /var/log/nova/nova-compute.log",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Ask the network team to check err-disable / BPDU-guard events on the switch ports and re-enable "
            "them (e.g. `errdisable recovery cause bpduguard` on Cisco-like switches; vendor specific); find the "
            "guest port from the MAC in the switch log (fa:16:3e:... is neutron's base_mac)."), commands=[
            "openstack port list --mac-address <fa:16:3e:..>",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Disable the offending instance's port (cuts that guest off), then prevent recurrence with NET-006."),
            commands=["openstack port set --disable <port>"]),
    ],
    references=[
        "Linux bonding driver bond_main.c ('link status definitely down', 'now running without any active "
        "interface') and bond_3ad.c ('No 802.3ad response from the link partner'); kernel sch_generic.c "
        "dev_watchdog() (NETDEV WATCHDOG)",
        "nova compute/manager.py 'Took %.2f seconds to spawn the instance on the hypervisor'",
        "neutron neutron/conf/common.py base_mac default fa:16:3e:00:00:00",
        "signatures R-BOND-DOWN, R-BOND-NONE, R-BOND-LACP, R-NIC-FAULT, R-NOVA-SPAWN",
        "matching the switch log's source MAC to a port and the instance's launched_at need the API: not on a "
        "node scan; switch err-disable recovery commands are vendor specific (UNVERIFIED)",
    ],
    reads={
        "live": ["proc/net/bonding/*", "cmd:ip -d link", "cmd:dmesg", "var/log/kern.log*", "var/log/syslog*",
                 "var/log/messages*", "var/log/nova/nova-compute.log*"],
        "sosreport": ["proc/net/bonding/*", "sos_commands/networking/ip_-s_-d_link", "sos_commands/kernel/dmesg",
                      "var/log/kern.log*", "var/log/messages*", "sos_commands/logs/journalctl_--no-pager*",
                      "var/log/nova/nova-compute.log*"],
        "kolla": ["same as live for the host kernel; nova-compute log in the kolla_logs volume"],
    },
))
def bond_lost_members(ctx: CheckContext) -> None:
    bonds = ctx.facts.maybe(load_bonds)
    links = ctx.facts.maybe(load_links)
    hits = signature_hits(ctx)
    if bonds is None and links is None and hits is None:
        raise MissingEvidence("proc/net/bonding/*, ip -d link and the kernel log")
    members = _bond_members(bonds, links)
    counted = hits is not None and hits.covered("R-BOND-DOWN") and (
        hits.count("R-BOND-DOWN") + hits.count("R-BOND-NONE") > 0)
    if not members and not counted:
        raise NotApplicable("no bonding device on this node (proc/net/bonding, ip -d link) and no bond event "
                            "in the kernel log")
    ongoing = _ongoing(ctx, bonds, links, members)
    events = _events(ctx, members) if counted else 0
    if ongoing or events:
        return
    logs = "kernel log scanned" if hits is not None and hits.covered("R-BOND-DOWN") else "kernel log not collected"
    partial = hits.count("R-BOND-DOWN") if hits is not None and hits.covered("R-BOND-DOWN") else 0
    more = f"; {partial} single-member link-down event(s) without losing the whole bond" if partial else ""
    ctx.ok(f"bonds {', '.join(sorted(members)) or '(from the log only)'} have members up; {logs}{more}")


def _ongoing(ctx: CheckContext, bonds: tuple[Bond, ...] | None, links: LinkTable | None,
             members: dict[str, list[str]]) -> int:
    found = 0
    if bonds:
        for bond in bonds:
            if not bond.slaves or bond.down_slaves() != list(bond.slaves):
                continue
            single = len(bond.slaves) == 1
            ctx.report(Severity.high if single else Severity.critical,
                       f"bond {bond.name} has no member up now: "
                       + ", ".join(f"{s.name} MII {s.mii_status}" for s in bond.slaves)
                       + (" (single-member bond: a plain link loss)" if single else
                          "; unless this is planned switch maintenance, the host is cut off on this uplink"),
                       resource=f"{bond.name} (now)", evidence=[bond.evidence(), *(s.status_evidence()
                                                                                 for s in bond.slaves[:4])])
            found += 1
        return found
    for name, ports in members.items():
        port_links = [p for p in (links.get(n) for n in ports) if p is not None] if links else []
        if not port_links or any("LOWER_UP" in p.flags and "NO-CARRIER" not in p.flags for p in port_links):
            continue
        single = len(port_links) == 1
        ctx.report(Severity.high if single else Severity.critical,
                   f"bond {name}: none of its members {', '.join(p.name for p in port_links)} has carrier "
                   "(LOWER_UP) now" + (" (single-member bond)" if single else ""),
                   resource=f"{name} (now)", evidence=[p.evidence() for p in port_links[:4]])
        found += 1
    return found


def _events(ctx: CheckContext, members: dict[str, list[str]]) -> int:
    by_sig: dict[str, list[Hit]] = defaultdict(list)
    for hit in iter_hits(ctx.view, _BOND_SIGS, _window_days(ctx)):
        by_sig[hit.sig_id].append(hit)
    downs: dict[str, list[Hit]] = defaultdict(list)
    nones: dict[str, list[Hit]] = defaultdict(list)
    for hit in by_sig["R-BOND-DOWN"]:
        downs[hit.groups.get("bond", "?")].append(hit)
    for hit in by_sig["R-BOND-NONE"]:
        nones[hit.groups.get("bond", "?")].append(hit)
    found = 0
    for bond in sorted(set(downs) | set(nones)):
        known = members.get(bond) or sorted({s for s in (_slave(h) for h in downs[bond]) if s})
        losses = _losses(bond, known, downs[bond], nones[bond])
        if not losses:
            continue
        found += 1
        _report_losses(ctx, bond, known, losses, by_sig)
    return found


def _cause(bond: str, known: list[str], loss: BondLoss, by_sig: dict[str, list[Hit]]) -> tuple[str, list[Hit]]:
    devices = {bond, *known}
    nic = [h for h in _near(by_sig["R-NIC-FAULT"], loss.at, NIC_FAULT_NEAR_S, NIC_FAULT_NEAR_S)
           if ({h.groups.get(k) for k in ("dev", "dev2", "dev3")} - {None}) & devices]
    if nic:
        return "a NIC/driver fault was logged on a member within a minute: host-side cause, not the switch", nic[:1]
    lacp = [h for h in _near(by_sig["R-BOND-LACP"], loss.at, LACP_BEFORE_S, 0.0) if h.groups.get("bond") == bond]
    if lacp:
        return "802.3ad got no answer from the switch just before: LACP negotiation failure", lacp[:1]
    spawns = _near(by_sig["R-NOVA-SPAWN"], loss.at, SPAWN_BEFORE.total_seconds(), 0.0)
    note = "switch-side shutdown pattern (all members at once)" if len(known) > 1 else "link loss"
    if spawns:
        minutes = (loss.at - spawns[-1].timestamp).total_seconds() / 60 if loss.at and spawns[-1].timestamp else 0
        return (f"{note}; an instance was spawned on this host {minutes:.0f} min before: possible guest BPDU "
                "and BPDU guard on the switch (check NET-006 and the switch err-disable log)"), spawns[-1:]
    return f"{note}; unless this was planned switch maintenance, check the switch err-disable log", []


def _report_losses(ctx: CheckContext, bond: str, known: list[str], losses: list[BondLoss],
                   by_sig: dict[str, list[Hit]]) -> None:
    first, last = losses[0], losses[-1]
    cause, cause_hits = _cause(bond, known, last, by_sig)
    when = f" at {last.at:%Y-%m-%d %H:%M:%S}" if last.at else ""
    count = f"{len(losses)} time(s) in the log window, last{when}" if len(losses) > 1 else f"once{when}"
    single = len(known) <= 1
    evidence = [h.evidence() for h in last.hits[:3]] + [h.evidence() for h in cause_hits]
    if first is not last:
        evidence.insert(0, first.hits[0].evidence())
    ctx.report(Severity.high if single else Severity.critical,
               f"bond {bond} lost every member {count} ({last.how}): {cause}"
               + (" (single-member bond)" if single else ""), resource=f"{bond} (log)", evidence=evidence)


# ---------------------------------------------------------------------------------------------------------
# NET-008
# ---------------------------------------------------------------------------------------------------------

MIN_LEASE_S = 600
LEGACY_MIN_LEASE_S = 120
DEFAULT_LEASE_S = 86400
STORM_WINDOW_S = 60.0
STORM_PAIRS = 3
PAIR_MAX_GAP_S = 10.0
DEFAULT_BASE_MAC = "fa:16:3e:00:00:00"


def _neutron_prefix(neutron: IniFile | None) -> tuple[str, Evidence | None]:
    """The MAC prefix neutron allocates from: base_mac's first 3 octets, 4 when the 4th is not 00."""
    value = neutron.get("DEFAULT", "base_mac") if neutron is not None else None
    octets = (value.value.strip().lower() if value is not None else DEFAULT_BASE_MAC).split(":")
    keep = 4 if len(octets) > 3 and octets[3] != "00" else 3
    return ":".join(octets[:keep]) + ":", value.evidence() if value is not None else None


def _lease_findings(ctx: CheckContext, neutron: IniFile | None) -> tuple[int, int]:
    """(findings, effective lease seconds) for neutron's dhcp_lease_duration and nova-network's dhcp_lease_time."""
    problems = 0
    lease = DEFAULT_LEASE_S
    value = neutron.get("DEFAULT", "dhcp_lease_duration") if neutron is not None else None
    if value is not None:
        lease = as_int(value, DEFAULT_LEASE_S)
        if 0 <= lease < MIN_LEASE_S:
            ctx.warn(f"[DEFAULT] dhcp_lease_duration = {lease} s: every port renews every {lease // 2} s, so a "
                     "guest that stops processing DHCP replies loses its address within minutes (and a longer "
                     "lease only hides that)", severity=Severity.medium, resource="dhcp_lease_duration",
                     evidence=[value.evidence()])
            problems += 1
    nova = ctx.facts.maybe(load_config, "nova")
    legacy = nova.get("DEFAULT", "dhcp_lease_time") if nova is not None else None
    if legacy is not None and 0 <= as_int(legacy, DEFAULT_LEASE_S) <= LEGACY_MIN_LEASE_S:
        ctx.warn(f"nova-network [DEFAULT] dhcp_lease_time = {legacy.value.strip()} s (the tale's 1-2 minute "
                 "leases): renew storms and guests dropping off after a missed renewal",
                 severity=Severity.medium, resource="dhcp_lease_time", evidence=[legacy.evidence()])
        problems += 1
    return problems, lease if lease > 0 else DEFAULT_LEASE_S


def _dedupe(events: Iterable[DhcpEvent]) -> list[DhcpEvent]:
    seen: set[tuple[float, str, str, str | None]] = set()
    out: list[DhcpEvent] = []
    for event in events:
        if event.timestamp is None:
            continue
        key = (round(event.timestamp.timestamp()), event.type, event.mac, event.ip)
        if key in seen:
            continue  # the same exchange logged twice (two dnsmasq log sinks)
        seen.add(key)
        out.append(event)
    return sorted(out, key=lambda e: e.timestamp.timestamp() if e.timestamp else 0.0)


def _burst(times: list[float], count: int, window: float) -> tuple[int, int] | None:
    """(first, last) index of the first run of `count` times within `window` seconds."""
    for i in range(len(times) - count + 1):
        if times[i + count - 1] - times[i] <= window:
            return i, i + count - 1
    return None


def _renew_pairs(events: list[DhcpEvent]) -> list[tuple[DhcpEvent, DhcpEvent]]:
    pairs: list[tuple[DhcpEvent, DhcpEvent]] = []
    pending: DhcpEvent | None = None
    for event in events:
        if event.type == "REQUEST":
            pending = event
        elif event.type == "ACK" and pending is not None and pending.timestamp and event.timestamp and (
                (event.timestamp - pending.timestamp).total_seconds() <= PAIR_MAX_GAP_S):
            pairs.append((pending, event))
            pending = None
    return pairs


@check(CheckMeta(
    id="NET-008",
    title="DHCP renew storms / guest not accepting leases",
    severity=Severity.medium,
    area="net",
    tale=(
        "Instances on a bridged network kept losing their addresses. The leases were only a minute or two "
        "long, and the logs showed guests requesting, being acknowledged, requesting again, falling back to "
        "broadcast discovery and finally dropping off. The cause was a hypervisor bug that stopped guests from "
        "seeing the replies; lengthening the lease only made the symptom rarer."
    ),
    description=(
        "Flags a short neutron `[DEFAULT] dhcp_lease_duration` (< 600 s; -1 = infinite is fine) or nova-network "
        "`dhcp_lease_time` ≤ 120 s, then reads dnsmasq's DHCP lines in the log window (syslog/journal, Kolla's "
        "dnsmasq.log, and `<dnsmasq_base_log_dir>/<network>/dhcp_dns_log` when dhcp_agent.ini sets it). For "
        "each neutron MAC (prefix from `base_mac`, default fa:16:3e; other MACs such as ironic/PXE and libvirt "
        "or LXD dnsmasq clients are ignored): three or more REQUEST/ACK pairs within 60 s, or DISCOVER bursts "
        "(three within 60 s) from a MAC that already holds an ACKed lease, mean the guest is not receiving or "
        "not processing the replies. The same exchange logged twice is counted once. When the instance runs on "
        "this host its tap device is named, for NET-009."
    ),
    risk=(
        "The guest loses its address or keeps broadcasting for one: the instance drops off the network, often "
        "intermittently, while the DHCP agent looks healthy."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Identify the guest and check its virtual NIC (NET-009).",
                        commands=[
            "openstack port list --mac-address <mac>",
            "grep -E 'DHCP(REQUEST|ACK|DISCOVER).*<mac>' /var/log/syslog",
            "ip -s link show <tap device>",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Raise the lease (masks the symptom, as the tale notes; restarts the DHCP agents) and look for "
            "hypervisor qemu/kernel advisories."), commands=[
            "crudini --set /etc/neutron/neutron.conf DEFAULT dhcp_lease_duration 86400",
            "systemctl restart neutron-dhcp-agent",
        ]),
    ],
    references=[
        "neutron neutron/conf/common.py (dhcp_lease_duration default 86400, -1 infinite; base_mac)",
        "neutron neutron/conf/agent/dhcp.py dnsmasq_base_log_dir; decision from neutron agent/linux/dhcp.py: "
        "per-network log file <dir>/<network_id>/dhcp_dns_log with --log-dhcp --log-queries",
        "kolla-ansible ansible/roles/neutron/templates/dnsmasq.conf.j2 (log-facility=/var/log/kolla/neutron/"
        "dnsmasq.log)",
        "signature R-DNSMASQ (dnsmasq log_packet wording; exact spacing UNVERIFIED)",
        "mapping a MAC to its port and instance needs the API; guests with very short client timers are "
        "indistinguishable from this log alone",
    ],
    reads={
        "live": ["etc/neutron/neutron.conf", "etc/neutron/dhcp_agent.ini", "etc/nova/nova.conf",
                 "var/log/syslog*", "var/log/messages*", "<dnsmasq_base_log_dir>/*/dhcp_dns_log",
                 "run/libvirt/qemu/*.xml"],
        "sosreport": ["etc/neutron/neutron.conf", "etc/neutron/dhcp_agent.ini", "var/log/syslog*",
                      "var/log/messages*", "sos_commands/logs/journalctl_--no-pager*", "run/libvirt/qemu/*.xml"],
        "kolla": ["etc/kolla/neutron-dhcp-agent/dhcp_agent.ini",
                  "var/lib/docker/volumes/kolla_logs/_data/neutron/dnsmasq.log"],
    },
))
def dhcp_renew_storms(ctx: CheckContext) -> None:
    neutron = ctx.facts.maybe(load_config, "neutron")
    days = _window_days(ctx)
    log = ctx.facts.maybe(load_dhcp_events, days) if days != DEFAULT_WINDOW_DAYS else ctx.facts.maybe(
        load_dhcp_events)
    if neutron is None and ctx.facts.maybe(load_config, "nova") is None and (log is None or not log.covered):
        raise MissingEvidence("etc/neutron/neutron.conf and dnsmasq logs (syslog, journal, dnsmasq.log)")
    problems, lease = _lease_findings(ctx, neutron)
    if log is None or not log.covered:
        if not problems:
            ctx.ok("DHCP lease settings are fine; no dnsmasq log was collected, so renew storms were not checked")
        return
    prefix, base_ev = _neutron_prefix(neutron)
    by_mac: dict[str, list[DhcpEvent]] = defaultdict(list)
    ignored: set[str] = set()
    for event in _dedupe(log.events):
        if event.mac.startswith(prefix):
            by_mac[event.mac].append(event)
        else:
            ignored.add(event.mac)
    taps = device_index(ctx.facts.maybe(load_domains) or ())
    macs = {iface.mac.lower(): (dom, iface) for dom, iface in taps.values() if iface.mac}
    for mac, events in sorted(by_mac.items()):
        problems += _mac_storm(ctx, mac, events, lease, macs.get(mac), base_ev)
    if not problems:
        other = f"; {len(ignored)} non-neutron MAC(s) ignored (PXE/ironic, libvirt, LXD)" if ignored else ""
        ctx.ok(f"no renew storm: {len(by_mac)} neutron MAC(s) seen in {len(log.events)} dnsmasq DHCP line(s) "
               f"over {days} days{other}")


def _mac_storm(ctx: CheckContext, mac: str, events: list[DhcpEvent], lease: int,
               local: tuple[Domain, DomainInterface] | None, base_ev: Evidence | None) -> int:
    where = f"; it is {local[1].device} of {local[0].name} on this host (see NET-009)" if local else ""
    pairs = _renew_pairs(events)
    burst = _burst([a.timestamp.timestamp() for _r, a in pairs if a.timestamp], STORM_PAIRS, STORM_WINDOW_S)
    if burst is not None:
        first, last = pairs[burst[0]], pairs[burst[1]]
        ctx.warn(f"{mac} renewed {STORM_PAIRS} times within {STORM_WINDOW_S:.0f} s ({len(pairs)} REQUEST/ACK pairs "
                 f"in the window): the guest is not receiving or not processing the ACKs{where}",
                 severity=Severity.medium, resource=mac,
                 evidence=[first[0].evidence(), first[1].evidence(), last[1].evidence(),
                           *([base_ev] if base_ev else [])])
        return 1
    acks = [e for e in events if e.type == "ACK" and e.timestamp]
    if not acks:
        return 0
    first_ack = acks[0]
    assert first_ack.timestamp is not None
    held_until = first_ack.timestamp + timedelta(seconds=lease)
    discovers = [e for e in events if e.type == "DISCOVER" and e.timestamp
                 and first_ack.timestamp < e.timestamp <= held_until]
    burst = _burst([e.timestamp.timestamp() for e in discovers if e.timestamp], STORM_PAIRS, STORM_WINDOW_S)
    if burst is None:
        return 0
    ctx.warn(f"{mac} broadcast DISCOVER {STORM_PAIRS} times within {STORM_WINDOW_S:.0f} s while holding a lease "
             f"ACKed at {first_ack.timestamp:%Y-%m-%d %H:%M:%S}: the guest did not see its renewal replies and "
             f"fell back to discovery{where}", severity=Severity.medium, resource=mac,
             evidence=[first_ack.evidence(), discovers[burst[0]].evidence(), discovers[burst[1]].evidence()])
    return 1


# ---------------------------------------------------------------------------------------------------------
# NET-009
# ---------------------------------------------------------------------------------------------------------

TAP_PREFIXES = ("tap", "vnet", "qvb", "qvo")
MIN_TX_PACKETS = 10_000
DROP_RATIO = 0.01
LIVE_INTERVAL_S = 10.0
_COUNTERS = ("tx_packets", "tx_dropped", "rx_packets")
_SYSFS = "sys/class/net/{dev}/statistics/{counter}"


def _read_counters(ctx: CheckContext, devices: list[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for dev in devices:
        values: dict[str, int] = {}
        for counter in _COUNTERS:
            text = ctx.view.read_text(_SYSFS.format(dev=dev, counter=counter))
            token = text.content.strip() if text is not None else ""
            if token.isdigit():
                values[counter] = int(token)
        if len(values) == len(_COUNTERS):
            out[dev] = values
    return out


def _tap_of(name: str) -> str:
    """qvb/qvo devices carry the same port-id suffix as the instance's tap (nova: prefix + port id, 14 chars)."""
    return "tap" + name[3:] if name.startswith(("qvb", "qvo")) else name


def _owner(name: str, index: dict[str, tuple[Domain, DomainInterface]] | None) -> tuple[str | None, str]:
    """(skip reason, description) of the domain that owns a device."""
    if index is None:
        return None, "guest state not collected"
    found = index.get(_tap_of(name))
    if found is None:
        return "no running libvirt domain owns it (shut off or a leftover device)", ""
    domain, _iface = found
    if domain.state not in (None, "running"):
        return f"its domain {domain.name} is {domain.state} ({domain.reason or 'no reason given'})", ""
    label = domain.nova_name or domain.name
    return None, f"instance {label} ({domain.name})"


@check(CheckMeta(
    id="NET-009",
    title="Instance tap TX drops (guest stopped draining virtio rx)",
    severity=Severity.medium,
    area="net",
    tale=(
        "Under heavy disk and network load, KVM guests on a bridged network went silent while the host side "
        "looked fine; the problem could be reproduced with iperf. On the host the guest's tap device kept "
        "counting packets dropped on the way into the guest: the guest had stopped taking frames off its "
        "virtio ring."
    ),
    description=(
        "For every instance-facing device (tap*, vnet*, qvb*, qvo*) in `ip -s -d link`, host-to-guest traffic "
        "is the device's TX side: TX dropped above 1 % of TX packets (with more than 10 000 packets) is "
        "flagged. On a live host the devices that show drops are sampled again after 10 s from /sys/class/net: "
        "packets still being sent, more drops and nothing received back over the interval means the guest is "
        "not processing traffic at all (high). Devices whose libvirt domain is paused, shut off or migrating "
        "(run/libvirt/qemu status XML) are not judged. Mapping a device to its neutron port uses nova's "
        "naming (`tap` + the first 11 characters of the port id); the port's instance in the API is not "
        "looked up on a node scan."
    ),
    risk=(
        "Traffic to the instance is silently discarded on the host: its services time out, DHCP renewals are "
        "missed (NET-008) and the guest eventually drops off the network."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Confirm on the live host and gather the guest's side.",
                        commands=[
            "ip -s link show <tap>; sleep 10; ip -s link show <tap>",
            "virsh domstate <domain> --reason",
            "openstack console log show <server> | tail -50",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Recover the guest (interrupts it): hard reboot or live-migrate; virtio multiqueue (image property "
            "hw_vif_multiqueue_enabled=true) spreads the load but needs a reboot."), commands=[
            "openstack server reboot --hard <server>",
            "openstack server migrate --live-migration <server>",
        ]),
    ],
    references=[
        "seed S1 (LP#997978: guests losing connectivity on bridged networks under load)",
        "decision: nova names instance devices prefix + port id truncated to NIC_NAME_LEN = 14 "
        "(nova/network/model.py, nova/virt/libvirt/vif.py), i.e. tap + 11 characters of the port id",
        "tun/tap TX-drop accounting is UNVERIFIED: the ratio is a heuristic, not proof",
        "hw_vif_multiqueue_enabled image property name is UNVERIFIED here (remediation text only)",
    ],
    reads={
        "live": ["cmd:ip -d link (ip -s -d link)", "sys/class/net/<dev>/statistics/{tx_packets,tx_dropped,"
                 "rx_packets} (two samples 10 s apart)", "run/libvirt/qemu/*.xml"],
        "sosreport": ["sos_commands/networking/ip_-s_-d_link", "run/libvirt/qemu/*.xml"],
        "kolla": ["same as live: host devices; nova_libvirt's run/libvirt/qemu in the side bundle"],
    },
))
def tap_tx_drops(ctx: CheckContext) -> None:
    links = ctx.facts.get(load_links)
    devices = [link for link in links if link.name.startswith(TAP_PREFIXES)]
    if not devices:
        raise NotApplicable("no instance device (tap*, vnet*, qvb*, qvo*) on this node")
    with_stats = [d for d in devices if "tx_packets" in d.stats and "tx_dropped" in d.stats]
    if not with_stats:
        raise MissingEvidence("TX counters of instance devices (sos_commands/networking/ip_-s_-d_link, "
                              "cmd: ip -s -d link)")
    domains = ctx.facts.maybe(load_domains)
    index = device_index(domains) if domains is not None else None
    skipped: list[str] = []
    live = _live_deltas(ctx, [d.name for d in with_stats if d.stats.get("tx_dropped", 0) > 0])
    for dev in with_stats:
        tx, dropped = dev.stats["tx_packets"], dev.stats["tx_dropped"]
        delta = live.get(dev.name)
        ratio_hit = tx > MIN_TX_PACKETS and dropped / tx > DROP_RATIO
        silent = delta is not None and delta["tx_packets"] > 0 and delta["tx_dropped"] > 0 and (
            delta["rx_packets"] == 0)
        if not ratio_hit and not silent:
            continue
        skip, owner = _owner(dev.name, index)
        if skip is not None:
            skipped.append(f"{dev.name}: {skip}")
            continue
        counters = Evidence(source=dev.source, line=dev.line,
                            excerpt=f"{dev.name} TX packets {tx} dropped {dropped} RX packets "
                                    f"{dev.stats.get('rx_packets', '?')}")
        who = f" ({owner})" if owner else ""
        if silent and delta is not None:
            ctx.fail(f"{dev.name}{who}: over {LIVE_INTERVAL_S:.0f} s the host sent {delta['tx_packets']} packets, "
                     f"dropped {delta['tx_dropped']} more and received nothing back: the guest is not processing "
                     "traffic", severity=Severity.high, resource=dev.name,
                     evidence=[counters, Evidence(source=f"sys/class/net/{dev.name}/statistics",
                                                  excerpt=f"delta over {LIVE_INTERVAL_S:.0f} s: {delta}")])
            continue
        ctx.warn(f"{dev.name}{who}: {dropped} of {tx + dropped} host-to-guest packets dropped "
                 f"({dropped / (tx + dropped):.1%}): the guest is not draining its virtio receive queue fast enough "
                 "(heuristic: an overloaded but healthy guest drops too)", severity=Severity.medium,
                 resource=dev.name, evidence=[counters])
    if not ctx.outcomes:
        note = f"; not judged: {'; '.join(skipped[:4])}" if skipped else ""
        ctx.ok(f"no instance device drops more than {DROP_RATIO:.0%} of its TX packets "
               f"({len(with_stats)} devices checked){note}")


def _live_deltas(ctx: CheckContext, devices: list[str]) -> dict[str, dict[str, int]]:
    if ctx.view.kind != "live" or not devices:
        return {}
    before = _read_counters(ctx, devices)
    if not before:
        return {}
    time.sleep(LIVE_INTERVAL_S)
    after = _read_counters(ctx, list(before))
    return {dev: {c: after[dev][c] - before[dev][c] for c in _COUNTERS} for dev in before if dev in after}


# ---------------------------------------------------------------------------------------------------------
# NET-010
# ---------------------------------------------------------------------------------------------------------

MAX_BRIDGE_NAME = 11
L3_MODES = frozenset({"legacy", "dvr_snat"})
_NON_UPLINK_OVS = frozenset({"internal", "patch"})


@dataclass(frozen=True)
class Mapping:
    physnet: str
    bridge: str


def _mappings(value: IniValue) -> list[Mapping]:
    out: list[Mapping] = []
    for item in value.value.split(","):
        physnet, sep, bridge = item.strip().partition(":")
        if sep and physnet.strip() and bridge.strip():
            out.append(Mapping(physnet.strip(), bridge.strip()))
    return out


def _allowed_physnets(ml2: IniFile | None) -> tuple[set[str] | None, list[Evidence]]:
    """Physnets the server accepts (None: any, or not configured on this node)."""
    if ml2 is None:
        return None, []
    flat = ml2.get("ml2_type_flat", "flat_networks")
    vlan = ml2.get("ml2_type_vlan", "network_vlan_ranges")
    if flat is None and vlan is None:
        return None, []
    flat_names = as_list(flat) if flat is not None else ["*"]
    if "*" in flat_names:
        return None, []
    allowed = set(flat_names) | {entry.split(":")[0].strip() for entry in as_list(vlan)}
    return allowed, [v.evidence() for v in (flat, vlan) if v is not None]


def _is_ovn_chassis(ctx: CheckContext) -> bool:
    record = ctx.facts.maybe(load_open_vswitch)
    return record is not None and any(k.startswith("ovn-") for k in ovn_external_ids(record))


@check(CheckMeta(
    id="NET-010",
    title="Provider/external network mapping completeness on a node",
    severity=Severity.high,
    area="net",
    tale=(
        "Adding a second external network to an existing cloud took more than a new neutron network: each "
        "network node needed a second OVS bridge with its own NIC, a second `physnet:bridge` pair in "
        "bridge_mappings, the L3 agent's single-external-network options emptied, and the server told that "
        "the new physnet exists. Miss one step and the gateway ports of the new network never bind."
    ),
    description=(
        "Parses `[ovs] bridge_mappings` of the Open vSwitch agent. Every mapped bridge must exist (else the "
        "agent logs 'Bridge ... does not exist. Agent terminated!' and exits: critical, confirmed from its log "
        "when present) and must have a port that is not internal or patch (its physical uplink); a physnet or "
        "bridge listed twice, and names longer than 11 characters, are flagged. l3_agent.ini's pre-Stein "
        "`external_network_bridge` and pre-Train `gateway_external_network_id` still set pin the agent to one "
        "external network. Where this node's ml2_conf.ini restricts physnets (`flat_networks` without `*`, "
        "`network_vlan_ranges`), a mapped physnet the server does not know is reported. Which physnet each "
        "external network uses and which ports failed to bind need the API/DB and are not checked on a node "
        "scan. OVN chassis use ovn-bridge-mappings instead (OVN-002)."
    ),
    risk=(
        "A missing bridge stops the OVS agent (every port on the node goes down); a bridge without uplink or "
        "a physnet the node does not map leaves router gateways and provider ports unbound or black-holed."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Compare the mappings with the bridges and their ports.",
                        commands=[
            "grep -E 'bridge_mappings' /etc/neutron/plugins/ml2/openvswitch_agent.ini",
            "ovs-vsctl list-br; ovs-vsctl list-ports <bridge>",
            "openstack network list --external --long -c Name -c 'Provider Physical Network'",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Create the bridge with its NIC, extend the mapping and restart the agents (traffic on the NIC moves "
            "into OVS)."), commands=[
            "ovs-vsctl add-br br-ex2 && ovs-vsctl add-port br-ex2 <nic>",
            "crudini --set /etc/neutron/plugins/ml2/openvswitch_agent.ini ovs bridge_mappings "
            "physnet1:br-ex,physnet2:br-ex2",
            "crudini --set /etc/neutron/l3_agent.ini DEFAULT external_network_bridge ''",
            "systemctl restart neutron-openvswitch-agent neutron-l3-agent",
        ]),
    ],
    references=[
        "neutron plugins/ml2/drivers/openvswitch/agent/ovs_neutron_agent.py (setup_physical_bridges: 'Bridge "
        "%s for physical network %s does not exist. Agent terminated!'; agent configurations bridge_mappings)",
        "neutron conf/plugins/ml2/drivers/ovs_conf.py (bridge names no more than 11 characters), "
        "conf/plugins/ml2/drivers/driver_type.py (flat_networks default '*', network_vlan_ranges)",
        "external_network_bridge removed in neutron 14.0.0 (b09b44608b), gateway_external_network_id in 15.0.0 "
        "(9b2e472ae9): both reported here since the tale emptied both",
        "external networks' physnets and binding_failed ports need the API/DB: not seen on a node scan",
    ],
    reads={
        "live": ["etc/neutron/plugins/ml2/openvswitch_agent.ini", "etc/neutron/l3_agent.ini",
                 "etc/neutron/plugins/ml2/ml2_conf.ini", "cmd:ovs-vsctl list-br", "cmd:ovs-vsctl show",
                 "var/log/neutron/neutron-openvswitch-agent.log*"],
        "sosreport": ["etc/neutron/plugins/ml2/openvswitch_agent.ini", "etc/neutron/l3_agent.ini",
                      "etc/neutron/plugins/ml2/ml2_conf.ini", "sos_commands/openvswitch/ovs-vsctl_-t_5_list-br",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_show",
                      "var/log/neutron/neutron-openvswitch-agent.log*"],
        "kolla": ["etc/kolla/neutron-openvswitch-agent/openvswitch_agent.ini",
                  "etc/kolla/neutron-l3-agent/l3_agent.ini", "side bundle: ovs-vsctl outputs"],
    },
))
def provider_mappings(ctx: CheckContext) -> None:
    agent = ctx.facts.maybe(load_config, "openvswitch_agent")
    if agent is None:
        if _is_ovn_chassis(ctx):
            raise NotApplicable("OVN chassis without an Open vSwitch agent: ovn-bridge-mappings is OVN-002")
        raise MissingEvidence("etc/neutron/plugins/ml2/openvswitch_agent.ini")
    value = agent.get("ovs", "bridge_mappings")
    l3 = ctx.facts.maybe(load_config, "l3_agent")
    mode = l3.get("DEFAULT", "agent_mode") if l3 is not None else None
    hosts_l3 = l3 is not None and (mode.value.strip() if mode is not None else "legacy") in L3_MODES
    notes: list[str] = []
    mappings = _mappings(value) if value is not None else []
    if l3 is not None:
        _legacy_l3(ctx, l3)
    if value is None or not mappings:
        if not ctx.outcomes:
            what = "L3 node" if hosts_l3 else "node"
            ctx.ok(f"no bridge_mappings on this {what} (tunnel networks only); external networks' physnets need "
                   "the API to be checked")
        return
    _duplicates(ctx, mappings, value)
    bridges = ctx.facts.maybe(load_ovs_bridges)
    show = ctx.facts.maybe(load_ovs_show)
    ml2 = ctx.facts.maybe(load_config, "ml2")
    allowed, allowed_ev = _allowed_physnets(ml2)
    for mapping in mappings:
        if len(mapping.bridge) > MAX_BRIDGE_NAME:
            ctx.warn(f"bridge name {mapping.bridge} ({mapping.physnet}) is {len(mapping.bridge)} characters; "
                     f"neutron asks for at most {MAX_BRIDGE_NAME} (its patch port names are derived from it)",
                     severity=Severity.low, resource=mapping.bridge, evidence=[value.evidence()])
        if allowed is not None and mapping.physnet not in allowed:
            ctx.warn(f"physnet {mapping.physnet} is mapped here but the server's flat_networks / "
                     f"network_vlan_ranges on this node do not allow it: no network can use it",
                     severity=Severity.medium, resource=mapping.physnet, evidence=[value.evidence(), *allowed_ev])
        if bridges is None:
            notes.append("OVS bridges not collected")
            continue
        if mapping.bridge not in bridges:
            _missing_bridge(ctx, mapping, value)
            continue
        _bridge_uplink(ctx, mapping, show, value, notes)
    if not ctx.outcomes:
        pairs = ", ".join(f"{m.physnet}:{m.bridge}" for m in mappings)
        l3_note = "; L3 node: external networks' physnets need the API" if hosts_l3 else ""
        ctx.ok(f"every mapped bridge exists with an uplink ({pairs}){l3_note}"
               + (f" ({'; '.join(sorted(set(notes)))})" if notes else ""), evidence=[value.evidence()])


def _legacy_l3(ctx: CheckContext, l3: IniFile) -> None:
    for key, why in (("external_network_bridge", "pins the L3 agent to that one external bridge (pre-Stein)"),
                     ("gateway_external_network_id", "restricts the L3 agent to that one external network "
                      "(pre-Train)")):
        opt = l3.get("DEFAULT", key)
        if opt is not None and opt.value.strip():
            ctx.warn(f"l3_agent.ini [DEFAULT] {key} = {opt.value.strip()} {why}: routers on another external "
                     "network get no gateway here (empty it; it was removed upstream, see UPG-006)",
                     severity=Severity.medium, resource=key, evidence=[opt.evidence()])


def _duplicates(ctx: CheckContext, mappings: list[Mapping], value: IniValue) -> None:
    for attr in ("physnet", "bridge"):
        seen: dict[str, int] = defaultdict(int)
        for mapping in mappings:
            seen[getattr(mapping, attr)] += 1
        for name, count in seen.items():
            if count > 1:
                ctx.fail(f"{attr} {name} appears {count} times in bridge_mappings: neutron rejects non-unique "
                         "mappings and the agent does not start", severity=Severity.high, resource=name,
                         evidence=[value.evidence()])


def _missing_bridge(ctx: CheckContext, mapping: Mapping, value: IniValue) -> None:
    hits = signature_hits(ctx)
    logged = [h for h in hits.get("R-OVS-BRMISS") if h.groups.get("br") == mapping.bridge] if hits else []
    seen = (f"; the agent log confirms it exited ({len(logged)} time(s) in the window)" if logged else "")
    ctx.fail(f"bridge_mappings maps {mapping.physnet} to {mapping.bridge}, which does not exist in OVS: the "
             f"Open vSwitch agent terminates at start-up{seen}", severity=Severity.critical,
             resource=mapping.bridge, evidence=[value.evidence(), *(h.evidence() for h in logged[-1:])])


def _bridge_uplink(ctx: CheckContext, mapping: Mapping, show: OvsShow | None, value: IniValue,
                   notes: list[str]) -> None:
    bridge = show.bridge(mapping.bridge) if show is not None else None
    if bridge is None:
        notes.append(f"ports of {mapping.bridge} not collected (ovs-vsctl show)")
        return
    uplinks = [i for i in bridge.interfaces() if i.type not in _NON_UPLINK_OVS and i.name != bridge.name]
    if uplinks:
        return
    ctx.fail(f"{mapping.bridge} (physnet {mapping.physnet}) has no port other than internal/patch ports: "
             "traffic on that physnet never leaves the host", severity=Severity.high, resource=mapping.bridge,
             evidence=[value.evidence(), bridge.evidence()])
