"""Host networking: conntrack saturation (NET-001), conntrack sysctl persistence (NET-002, node part), stacked
VLANs (NET-003), physnet/tunnel MTU (NET-004), addresses left on enslaved NICs (NET-005), guest BPDUs reaching the
physical network (NET-006), an uplink bond losing every member (NET-007), DHCP renew storms (NET-008), instance tap
TX drops (NET-009) and provider-network mapping completeness (NET-010)."""

from __future__ import annotations

import fnmatch
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from stackrx.checks.sec import UPLINK_KINDS, VIRTUAL_PREFIXES, is_physical
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.bonding import Bond, load_bonds
from stackrx.facts.conntrack import ConntrackStats, load_conntrack_stats, load_netns_conntrack_stats
from stackrx.facts.dnsmasq import DhcpEvent, load_dhcp_events
from stackrx.facts.ini import IniFile, IniValue, as_dict, as_int, as_list, load_config
from stackrx.facts.iproute import Address, Link, LinkTable, load_links
from stackrx.facts.libvirt_domains import Domain, DomainInterface, device_index, load_domains
from stackrx.facts.logs import DEFAULT_WINDOW_DAYS, Hit, SignatureHits, iter_hits, load_signature_hits
from stackrx.facts.modprobe import load_module_config
from stackrx.facts.netconfig import load_netconfig
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
from stackrx.facts.sysctl import PersistedSysctl, Sysctl, SysctlEntry, load_netns_sysctl, load_sysctl, load_sysctl_files
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

# ---------------------------------------------------------------------------------------------------------
# NET-001
# ---------------------------------------------------------------------------------------------------------

CT_MAX_KEYS = ("net.netfilter.nf_conntrack_max", "net.nf_conntrack_max")
CT_COUNT = "net.netfilter.nf_conntrack_count"
CT_BUCKETS = "net.netfilter.nf_conntrack_buckets"
HIGH_RATIO = 0.80
CRITICAL_RATIO = 0.95
GIB = 1024**3


def kernel_default_conntrack(ram_bytes: int, kernel: tuple[int, int]) -> tuple[int, int]:
    """(buckets, max) nf_conntrack picks when no hashsize= was given (nf_conntrack_init_start)."""
    buckets = ram_bytes // 16384 // 8  # 64-bit: sizeof(struct hlist_head) == 8
    if kernel >= (5, 15):
        # d532bcd0b269: larger tiers and max_factor 1
        if ram_bytes > 4 * GIB:
            buckets = 262144
        elif ram_bytes > GIB:
            buckets = 65536
        return max(buckets, 1024), max(buckets, 1024)
    if ram_bytes > 4 * GIB and kernel >= (3, 0):
        # The > 4 GiB tier is absent from 2.6.32 (the seed's RHEL 6: 48 GiB hosts got 65536 max); the exact
        # release that added it is not pinned down, 3.0 is the conservative cut.
        buckets = 65536
    elif ram_bytes > GIB:
        buckets = 16384
    buckets = max(buckets, 32)
    return buckets, 4 * buckets


def _kernel_version(ctx: CheckContext) -> tuple[int, int] | None:
    text = ctx.view.command("uname -a")
    if text is None:
        return None
    parts = text.content.split()
    release = parts[2] if len(parts) > 2 and parts[0] == "Linux" else (parts[0] if parts else "")
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _ram_bytes(ctx: CheckContext) -> int | None:
    meminfo = ctx.view.read_text("proc/meminfo")
    if meminfo is not None:
        m = re.search(r"^MemTotal:\s+(\d+)\s*kB", meminfo.content, re.MULTILINE)
        if m:
            return int(m.group(1)) * 1024
    free = ctx.view.command("free")
    if free is not None:
        m = re.search(r"^Mem:\s+(\d+)", free.content, re.MULTILINE)
        if m:
            return int(m.group(1)) * 1024  # `free` prints KiB by default
    return None


def _default_note(ctx: CheckContext, max_entry: SysctlEntry, sysctl: Sysctl) -> str:
    ram, kernel = _ram_bytes(ctx), _kernel_version(ctx)
    current = max_entry.as_int()
    if ram is None or kernel is None or current is None:
        return "kernel default not computed (RAM or kernel version not collected)"
    buckets, default_max = kernel_default_conntrack(ram, kernel)
    actual_buckets = sysctl.as_int(CT_BUCKETS)
    if current == default_max:
        return (f"nf_conntrack_max {current} is the kernel {kernel[0]}.{kernel[1]} default for "
                f"{ram / GIB:.1f} GiB RAM ({buckets} buckets): never tuned")
    bucket_note = f", buckets {actual_buckets}" if actual_buckets is not None else ""
    return (f"nf_conntrack_max {current}{bucket_note} differs from the kernel {kernel[0]}.{kernel[1]} "
            f"default {default_max} for {ram / GIB:.1f} GiB RAM: tuned")


def _ratio_severity(ratio: float) -> Severity | None:
    if ratio >= CRITICAL_RATIO:
        return Severity.critical
    if ratio >= HIGH_RATIO:
        return Severity.high
    return None


def _conntrack_stats_findings(ctx: CheckContext, stats: ConntrackStats, where: str) -> int:
    reported = 0
    drop, early, failed = stats.total("drop"), stats.total("early_drop"), stats.total("insert_failed")
    extra = f"; insert_failed={failed}" if failed else ""
    if drop > 0:
        line = stats.first_with("drop")
        ctx.fail(f"conntrack -S in {where}: drop={drop} (packets dropped because no entry could be allocated)"
                 f"{extra}", severity=Severity.high, resource=where,
                 evidence=[line.evidence()] if line else [])
        reported += 1
    if early > 0:
        line = stats.first_with("early_drop")
        ctx.warn(f"conntrack -S in {where}: early_drop={early} (entries evicted to make room: the table has "
                 f"been full){extra}", severity=Severity.medium, resource=where,
                 evidence=[line.evidence()] if line else [])
        reported += 1
    return reported


@check(CheckMeta(
    id="NET-001",
    title="nf_conntrack table saturation / drops",
    severity=Severity.critical,
    area="net",
    tale=(
        "A large research cloud saw busy KVM hypervisors drop off the network while the kernel logged that "
        "the connection-tracking table was full. The limit was the kernel's memory-derived default of "
        "65536 entries, far too low for many guests each holding thousands of sockets; raising the two "
        "conntrack maximum sysctls to 512k and persisting them in sysctl.d cured it."
    ),
    description=(
        "Computes nf_conntrack_count / nf_conntrack_max for the init namespace and for each network "
        "namespace (each namespace keeps its own count against the global limit), looks for the kernel's "
        "'table full, dropping packet' message in the log window before collection, and sums the per-CPU "
        "drop and early_drop counters of `conntrack -S`. Also says whether the limit is still the kernel "
        "default for the host's RAM."
    ),
    risk=(
        "When the table is full the kernel drops the first packet of every new flow: instances, routers "
        "and the host itself lose new connections while existing ones keep working, which looks like "
        "random network loss."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Confirm usage and drops.", commands=[
            "sysctl net.netfilter.nf_conntrack_count net.netfilter.nf_conntrack_max "
            "net.netfilter.nf_conntrack_buckets",
            "conntrack -S",
            "journalctl -k --since -7d | grep -E 'conntrack: (nf_conntrack: )?table full'",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Raise the limit at runtime (idempotent) and size the hash table to match: max/4 buckets on "
            "kernels "
            "up to 5.14, max buckets from 5.15."), commands=[
            "sysctl -w net.netfilter.nf_conntrack_max=524288",
            "echo 131072 > /sys/module/nf_conntrack/parameters/hashsize",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Persist it (see NET-002 for the module load-order trap); set net.nf_conntrack_max too where "
            "the "
            "kernel still exposes it."), commands=[
            "printf 'net.netfilter.nf_conntrack_max = 524288\\nnet.nf_conntrack_max = 524288\\n' "
            "> /etc/sysctl.d/90-nf-conntrack.conf",
            "echo 'options nf_conntrack hashsize=131072' > /etc/modprobe.d/nf_conntrack.conf",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Reduce long-lived entries where clients leave half-dead sockets (kernel default 432000 s = 5 "
            "days)."), commands=["sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400"]),
    ],
    references=[
        "docs.kernel.org networking/nf_conntrack-sysctl (nf_conntrack_buckets / nf_conntrack_max defaults)",
        "kernel commit d532bcd0b269 'netfilter: conntrack: sanitize table size default settings' (5.15)",
        "kernel nf_conntrack_core.c __nf_conntrack_alloc (per-netns count vs global nf_conntrack_max; "
        "per-netns max in newer kernels UNVERIFIED: the global init value is used as the limit)",
        "sos report plugins conntrack.py, kernel.py; prior art risu plugins/core/system/conntrack_full.sh",
        "per-entry memory (~300 bytes) UNVERIFIED: not used in messages",
    ],
    reads={
        "live": ["cmd:sysctl -a", "cmd:conntrack -S", "cmd:dmesg", "var/log/kern.log*", "var/log/syslog*",
                 "var/log/messages*", "cmd:ip netns exec <ns> sysctl -a", "cmd:uname -a", "cmd:free"],
        "sosreport": ["sos_commands/kernel/sysctl_-a", "sos_commands/conntrack/conntrack_-S",
                      "sos_commands/conntrack/ip_netns_exec_<ns>_conntrack_-S",
                      "sos_commands/networking/namespaces/<ns>/ip_netns_exec_<ns>_sysctl_-a",
                      "sos_commands/kernel/dmesg", "var/log/kern.log*", "var/log/syslog*",
                      "var/log/messages*",
                      "sos_commands/logs/journalctl_--no-pager*", "sos_commands/memory/free"],
        "kolla": ["same as live: conntrack is the host kernel's"],
    },
))
def conntrack_saturation(ctx: CheckContext) -> None:
    sysctl = ctx.facts.maybe(load_sysctl)
    stats = ctx.facts.maybe(load_conntrack_stats)
    logged = _table_full_in_logs(ctx)
    if sysctl is None and stats is None and not logged:
        raise MissingEvidence("sos_commands/kernel/sysctl_-a (cmd: sysctl -a)")
    reported = logged
    limit: SysctlEntry | None = None
    if sysctl is not None:
        limits = [e for e in (sysctl.get(k) for k in CT_MAX_KEYS) if e is not None and (e.as_int() or 0) > 0]
        limit = limits[0] if limits else None
        if limit is None and not reported and stats is None:
            raise NotApplicable("nf_conntrack is not loaded (nf_conntrack_max absent or 0 in sysctl -a)")
    notes: list[str] = []
    if sysctl is not None and limit is not None:
        max_value = limit.as_int() or 0
        namespaces = [("init netns", sysctl)]
        for ns in ctx.view.namespaces():
            ns_sysctl = ctx.facts.maybe(load_netns_sysctl, ns)
            if ns_sysctl is not None:
                namespaces.append((ns, ns_sysctl))
        for where, values in namespaces:
            count = values.get(CT_COUNT)
            value = count.as_int() if count is not None else None
            if count is None or value is None:
                continue
            ratio = value / max_value
            sev = _ratio_severity(ratio)
            usage = f"nf_conntrack_count {value} of nf_conntrack_max {max_value} ({ratio:.0%}) in {where}"
            if sev is not None:
                ctx.report(sev, f"{usage}: new flows are dropped once it reaches 100%", resource=where,
                           evidence=[count.evidence(), limit.evidence()])
                reported += 1
            elif where == "init netns":
                notes.append(usage)
        notes.append(_default_note(ctx, limit, sysctl))
    if stats is not None:
        reported += _conntrack_stats_findings(ctx, stats, "init netns")
    for ns in ctx.view.namespaces():
        ns_stats = ctx.facts.maybe(load_netns_conntrack_stats, ns)
        if ns_stats is not None:
            reported += _conntrack_stats_findings(ctx, ns_stats, ns)
    if not reported:
        ctx.ok("; ".join(notes) or "conntrack -S shows no drops",
               evidence=[limit.evidence()] if limit is not None else [])


# ---------------------------------------------------------------------------------------------------------
# NET-005
# ---------------------------------------------------------------------------------------------------------

ENSLAVING_KINDS = {"bridge": "Linux bridge", "bond": "bond", "team": "team", "openvswitch": "Open vSwitch"}
# An address on these is how they are meant to be used, even when their lower device is a bridge port.
_ADDRESSABLE_KINDS = frozenset({"macvlan", "macvtap", "ipvlan", "ipvtap"})


def enslaved_by(links: LinkTable, link: Link) -> str | None:
    """What `link` is a port of (bridge, bond, Open vSwitch), or None when it is free or a VRF member."""
    if link.master is None or link.slave_kind == "vrf_slave" or link.kind in _ADDRESSABLE_KINDS:
        return None
    if link.master == "ovs-system" or link.slave_kind == "openvswitch_slave":
        return "Open vSwitch"
    master = links.get(link.master)
    if master is not None and master.kind is not None:
        label = ENSLAVING_KINDS.get(master.kind)
        return f"{label} {link.master}" if label else None
    # Without `-d` details the master's kind is unknown; bridges and bonds are what `master` means there.
    return f"master {link.master}"


def _offending_addresses(link: Link) -> list[Address]:
    return [a for a in link.addresses if a.family == "inet" or (a.family == "inet6" and a.scope == "global")]


@check(CheckMeta(
    id="NET-005",
    title="IP address left on a bridge/bond-enslaved NIC",
    severity=Severity.high,
    area="net",
    tale=(
        "An operator added the host's NIC to a Linux bridge for guest traffic and left the host address on "
        "the NIC itself. Once a device is a bridge port, the bridge is what answers ARP and receives the "
        "host's traffic, so the address has to move to the bridge; left on the port, the host goes quiet "
        "on that network. The same happens with OVS provider bridges when the IP is not moved to br-ex."
    ),
    description=(
        "Flags any interface that is a port of a Linux bridge, a bond or Open vSwitch (`master <dev>` / "
        "`master ovs-system` in `ip -d address`) and still carries an IPv4 address or a global IPv6 "
        "address. Link-local IPv6, OVS internal ports (br-ex owning the IP is correct), macvlan/ipvlan "
        "devices and VRF members are not flagged. Persistent network configuration (ifcfg, netplan, "
        "ifupdown, NetworkManager) that puts an address on an enslaved interface is flagged as well, since "
        "it returns at the next boot."
    ),
    risk=(
        "Traffic for that address arrives on the bridge, not on the port: the host becomes unreachable on "
        "that network (often the management network) or answers intermittently, and routes via the port "
        "break."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Show where the address and the port membership are.",
                        commands=["ip -d -o addr show", "ip -d -o link show", "ovs-vsctl show"]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Move the address from the port to the bridge (may cut management access: use the out-of-band "
            "console), then persist it on the bridge (ifcfg-<bridge>, netplan `bridges:` addresses, "
            "ifupdown bridge stanza)."), commands=[
            "ip addr del <cidr> dev <nic>",
            "ip addr add <cidr> dev <bridge>",
        ]),
    ],
    references=[
        "Linux bridge semantics: the bridge device, not the port, is the L3 endpoint (seed S4)",
        "sos networking plugin: ip -d address, ip -s -d link; openvswitch plugin: ovs-vsctl -t 5 show",
    ],
    reads={
        "live": ["cmd:ip -d address", "cmd:ip -d link", "etc/sysconfig/network-scripts/ifcfg-*",
                 "etc/netplan/*.yaml", "etc/network/interfaces*", "etc/NetworkManager/system-connections/*"],
        "sosreport": ["sos_commands/networking/ip_-d_address", "sos_commands/networking/ip_-s_-d_link",
                      "etc/sysconfig/network-scripts/ifcfg-*", "etc/netplan/*.yaml",
                      "etc/network/interfaces*", "etc/NetworkManager/system-connections/*"],
        "kolla": ["same as live: host networking"],
    },
))
def address_on_enslaved_nic(ctx: CheckContext) -> None:
    links = ctx.facts.get(load_links)
    internal = ovs_internal_ports(ctx)
    flagged: set[str] = set()
    ports: list[str] = []
    for link in links:
        owner = enslaved_by(links, link)
        if owner is None or link.name in internal:
            continue
        ports.append(link.name)
        addrs = _offending_addresses(link)
        if not addrs:
            continue
        flagged.add(link.name)
        ctx.fail(f"{link.name} is a port of {owner} but carries {', '.join(a.cidr for a in addrs)}: the "
                 f"address belongs on the bridge/bond device, not on its port", resource=link.name,
                 evidence=[link.evidence(), *(a.evidence() for a in addrs)])
    config = ctx.facts.maybe(load_netconfig)
    for port, addresses in config.addressed_ports() if config is not None else []:
        if port.iface in flagged or port.iface in internal:
            continue
        ctx.fail(f"{port.iface} is configured as a port of {port.value} and with address "
                 f"{', '.join(a.value for a in addresses)} ({port.source}): it comes back at the next boot",
                 resource=port.iface, evidence=[port.evidence(), *(a.evidence() for a in addresses)])
    if not ctx.outcomes:
        where = f"; persistent config checked: {', '.join(config.files)}" if config is not None else ""
        ctx.ok(f"no IPv4 or global IPv6 address on any of the {len(ports)} bridge/bond/OVS ports"
               f"{': ' + ', '.join(ports[:8]) if ports else ''}{where}")


def signature_hits(ctx: CheckContext) -> SignatureHits | None:
    days = max(1, round(ctx.options.log_window.total_seconds() / 86400))
    # The default window shares one memoised scan with every other log-reading check.
    if days == DEFAULT_WINDOW_DAYS:
        return ctx.facts.maybe(load_signature_hits)
    return ctx.facts.maybe(load_signature_hits, days)


def _window_days(ctx: CheckContext) -> int:
    return max(1, round(ctx.options.log_window.total_seconds() / 86400))


RATELIMIT_ADJACENT_LINES = 3


def _table_full_in_logs(ctx: CheckContext) -> int:
    """One critical finding when the kernel logged 'table full' within the window; returns findings made."""
    hits = signature_hits(ctx)
    if hits is None or not hits.covered("R-CT-FULL") or not hits.count("R-CT-FULL"):
        return 0
    found = hits.get("R-CT-FULL")
    count = hits.count("R-CT-FULL")
    near = {(h.source, h.line + d) for h in found
            for d in range(-RATELIMIT_ADJACENT_LINES, RATELIMIT_ADJACENT_LINES + 1)}
    suppressed = [s for s in hits.get("R-NET-RATELIMIT") if (s.source, s.line) in near]
    hidden = sum(int(s.groups.get("n", "0") or 0) for s in suppressed)
    stamps = [h.timestamp for h in found if h.timestamp is not None]
    latest = f", latest {max(stamps):%Y-%m-%d %H:%M:%S %Z}".rstrip() if stamps else ""
    underestimated = (f"; net_ratelimit suppressed {hidden} more kernel messages next to them, so the real "
                      "number of drops is higher") if suppressed else ""
    days = max(1, round(ctx.options.log_window.total_seconds() / 86400))
    evidence = [found[0].evidence()] + ([found[-1].evidence()] if len(found) > 1 else [])
    evidence += [s.evidence() for s in suppressed[:1]]
    ctx.fail(f"the kernel logged 'table full, dropping packet' {count} time(s) in the {days} days before "
             f"collection{latest}{underestimated}: new connections were dropped, whatever the count is now",
             severity=Severity.critical, resource="kernel log", evidence=evidence)
    return 1


# ---------------------------------------------------------------------------------------------------------
# Shared: physnet → uplink resolution (OVS bridge_mappings + bridge ports, LB physical_interface_mappings)
# ---------------------------------------------------------------------------------------------------------

# OVS interface types without a kernel netdev of their own (or whose kernel MTU means nothing).
_OVS_NON_KERNEL = frozenset({"internal", "patch", "vxlan", "geneve", "gre", "stt", "lisp", "erspan", "dpdk",
                             "dpdkvhostuser", "dpdkvhostuserclient", "dpdkr", "tap"})


@dataclass(frozen=True)
class Uplink:
    physnet: str
    mapping: Evidence  # the bridge_mappings / physical_interface_mappings / ovn-bridge-mappings naming it
    bridge: str | None  # OVS bridge (None for Linux bridge agent mappings)
    device: str  # kernel device carrying the physnet
    port_evidence: Evidence | None = None


def _mapping_values(ctx: CheckContext) -> list[tuple[str, Evidence, dict[str, str]]]:
    """(agent, where, {physnet: bridge-or-interface}) for every physnet mapping configured on this node."""
    out: list[tuple[str, Evidence, dict[str, str]]] = []
    ovs = ctx.facts.maybe(load_config, "openvswitch_agent")
    value = ovs.get("ovs", "bridge_mappings") if ovs is not None else None
    if value is not None:
        out.append(("ovs", value.evidence(), as_dict(value)))
    lb = ctx.facts.maybe(load_config, "linuxbridge_agent")
    value = lb.get("linux_bridge", "physical_interface_mappings") if lb is not None else None
    if value is not None:
        out.append(("linuxbridge", value.evidence(), as_dict(value)))
    chassis = ctx.facts.maybe(load_open_vswitch)
    ids = chassis.get("external_ids") if chassis is not None else None
    if ids is not None and "ovn-bridge-mappings" in ids.as_map():
        mapping: dict[str, str] = {}
        for item in ids.as_map()["ovn-bridge-mappings"].split(","):
            physnet, sep, bridge = item.partition(":")
            if sep and physnet.strip():
                mapping[physnet.strip()] = bridge.strip()
        out.append(("ovn", ids.map_evidence("ovn-bridge-mappings"), mapping))
    return out


def physnet_uplinks(ctx: CheckContext, links: LinkTable) -> tuple[list[Uplink], list[str]]:
    """Kernel devices carrying each mapped physnet, and notes on mappings that could not be resolved."""
    uplinks: list[Uplink] = []
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    show: OvsShow | None = None
    for agent, where, mapping in _mapping_values(ctx):
        for physnet, target in mapping.items():
            if agent == "linuxbridge":
                uplinks.append(Uplink(physnet, where, None, target))
                continue
            show = show or ctx.facts.maybe(load_ovs_show)
            if show is None:
                notes.append(f"{physnet}:{target}: ovs-vsctl show not collected, uplink unknown")
                continue
            bridge = show.bridge(target)
            if bridge is None:
                notes.append(f"{physnet}:{target}: bridge not in ovs-vsctl show")
                continue
            for port in bridge.ports:
                for iface in port.interfaces:
                    if iface.type in _OVS_NON_KERNEL or iface.name == target or (physnet, iface.name) in seen:
                        continue
                    if links.get(iface.name) is None:
                        continue  # DPDK / SR-IOV representor without a netdev in this namespace
                    seen.add((physnet, iface.name))
                    uplinks.append(Uplink(physnet, where, target, iface.name, port.evidence()))
    return uplinks, notes


def ovs_internal_ports(ctx: CheckContext) -> set[str]:
    """Bridge devices and `type: internal` interfaces: OVS's own, addressable, ports."""
    names: set[str] = set(ctx.facts.maybe(load_ovs_bridges) or [])
    show = ctx.facts.maybe(load_ovs_show)
    if show is not None:
        names.update(iface.name for _b, _p, iface in show.interfaces() if iface.type == "internal")
    return names


def vlan_physnets(ctx: CheckContext) -> tuple[set[str] | None, IniValue | None]:
    """Physnets that carry VLAN networks (`[ml2_type_vlan] network_vlan_ranges`); None when not known here."""
    ml2 = ctx.facts.maybe(load_config, "ml2")
    value = ml2.get("ml2_type_vlan", "network_vlan_ranges") if ml2 is not None else None
    if value is None:
        return None, None
    return {item.split(":", 1)[0].strip() for item in as_list(value)}, value


# ---------------------------------------------------------------------------------------------------------
# NET-003
# ---------------------------------------------------------------------------------------------------------

INSTANCE_PORT_PREFIXES = ("tap", "vnet", "qvb")
ETH_HEADER = 14
VLAN_TAG = 4


def _frame(payload_mtu: int | None, tags: int) -> str:
    if payload_mtu is None:
        return f"{tags} tags"
    frame = payload_mtu + ETH_HEADER + VLAN_TAG * tags
    return f"{tags} tags: {payload_mtu}-byte packets leave as {frame}-byte frames"


def _base_device(links: LinkTable, name: str) -> Link | None:
    chain = links.vlan_chain(name)
    return chain[-1] if chain and not chain[-1].is_vlan else None


@check(CheckMeta(
    id="NET-003",
    title="VLAN stacked on a VLAN device (double tagging)",
    severity=Severity.high,
    area="net",
    tale=(
        "A freshly automated cloud had instances that froze whenever a command printed a lot over SSH. "
        "After days of MTU guesswork, tcpdump showed replies leaving with a VLAN tag too many: nova had "
        "been told to build project VLANs on vlan20 instead of the bond, so vlan100 sat on vlan20 and "
        "every full-size packet grew by four bytes and was dropped by the switch."
    ),
    description=(
        "Builds the child→parent chain of VLAN devices from `ip -d link` (`vlan100@vlan20`, `vlan protocol "
        "802.1Q id N`) and reports a VLAN device whose parent is itself a VLAN device. It is high when the "
        "stacked device carries instance traffic: it is a port of a bridge with tap/vnet/qvb ports, nova's "
        "legacy `vlan_interface` names a VLAN device, or a VLAN-type physnet (in `network_vlan_ranges`) is "
        "mapped to a VLAN device by the Linux bridge agent or through an OVS `bridge_mappings` bridge "
        "whose uplink is a VLAN device (the agent or OVS adds the second tag). Reports the resulting frame "
        "size."
    ),
    risk=(
        "Double-tagged frames are 4 bytes over what a switch port expecting single-tagged traffic accepts: "
        "full-size packets vanish while small ones pass, so sessions hang on large output."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Show the VLAN chain and the mappings.", commands=[
            "ip -d -o link show type vlan", "ovs-vsctl show",
            "grep -E 'bridge_mappings|physical_interface_mappings|network_vlan_ranges|vlan_interface' "
            "-r /etc/neutron /etc/nova",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Map the physnet to the untagged trunk instead of the VLAN sub-interface (plan a window: "
            "instance connectivity changes), e.g. physnet1:bond0, or add bond0 to br-ex instead of vlan20; "
            "or declare "
            "the physnet flat if the VLAN device carries exactly one network."), commands=[
            "crudini --set /etc/neutron/plugins/ml2/openvswitch_agent.ini ovs bridge_mappings physnet1:br-ex",
            "ovs-vsctl del-port br-ex vlan20 && ovs-vsctl add-port br-ex bond0",
            "systemctl restart neutron-openvswitch-agent",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "If QinQ is intended, configure 802.1ad on the outer device and the switch and lower the "
            "network "
            "MTU by 4 bytes per extra tag."), commands=[
            "crudini --set /etc/neutron/plugins/ml2/ml2_conf.ini ml2 physical_network_mtus physnet1:1496",
        ]),
    ],
    references=[
        "nova commit f5f73b4c4e 'nova-net: Kill it' (vlan_interface gone with nova-network in 21.0.0 Ussuri)",
        "neutron neutron/conf/plugins/ml2/drivers/ovs_conf.py (bridge_mappings), "
        "neutron/conf/plugins/ml2/drivers/driver_type.py (network_vlan_ranges)",
        "neutron commit 25d0273588 (Linux bridge driver removed in 26.0.0 / 2025.1)",
    ],
    reads={
        "live": ["cmd:ip -d link", "cmd:ip -d address", "cmd:ovs-vsctl show", "etc/nova/nova.conf",
                 "etc/neutron/plugins/ml2/openvswitch_agent.ini",
                 "etc/neutron/plugins/ml2/linuxbridge_agent.ini",
                 "etc/neutron/plugins/ml2/ml2_conf.ini"],
        "sosreport": ["sos_commands/networking/ip_-s_-d_link", "sos_commands/networking/ip_-d_address",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_show", "etc/nova/nova.conf",
                      "etc/neutron/plugins/ml2/*.ini"],
        "kolla": ["cmd:ip -d link", "cmd:ovs-vsctl show",
                  "etc/kolla/neutron-openvswitch-agent/openvswitch_agent.ini",
                  "etc/kolla/neutron-server/ml2_conf.ini"],
    },
))
def stacked_vlans(ctx: CheckContext) -> None:
    links = ctx.facts.get(load_links)
    vlan_nets, ranges = vlan_physnets(ctx)
    reported: set[str] = set()
    notes: list[str] = []

    def instance_reasons(link: Link) -> list[tuple[str, list[Evidence]]]:
        reasons: list[tuple[str, list[Evidence]]] = []
        if link.master and link.master != "ovs-system":
            guests = [p for p in links.ports(link.master) if p.name.startswith(INSTANCE_PORT_PREFIXES)]
            if guests:
                reasons.append((f"it is a port of bridge {link.master} with instance ports "
                                f"{', '.join(p.name for p in guests[:3])}", [guests[0].evidence()]))
        return reasons

    mapped: dict[str, list[tuple[str, list[Evidence]]]] = {}
    nova = ctx.facts.maybe(load_config, "nova")
    legacy = nova.get("DEFAULT", "vlan_interface") if nova is not None else None
    if legacy is not None:
        dev = links.get(legacy.value.strip())
        if dev is not None and dev.is_vlan:
            mapped.setdefault(dev.name, []).append(
                (f"nova's vlan_interface = {dev.name} makes nova-network tag project VLANs on top of it",
                 [legacy.evidence()]))
    uplinks, unresolved = physnet_uplinks(ctx, links)
    notes.extend(unresolved)
    for uplink in uplinks:
        dev = links.get(uplink.device)
        if dev is None or not dev.is_vlan:
            continue
        where = f"OVS bridge {uplink.bridge}" if uplink.bridge else "the Linux bridge agent"
        if vlan_nets is None:
            notes.append(f"{uplink.physnet} is carried by VLAN device {dev.name} via {where}; "
                         f"network_vlan_ranges is not on this node: if {uplink.physnet} has VLAN networks "
                         "they are double-tagged")
            continue
        if uplink.physnet not in vlan_nets:
            continue
        evidence = [uplink.mapping] + ([ranges.evidence()] if ranges is not None else [])
        if uplink.port_evidence is not None:
            evidence.append(uplink.port_evidence)
        mapped.setdefault(dev.name, []).append(
            (f"VLAN physnet {uplink.physnet} is mapped to it through {where}, which adds its own tag",
             evidence))

    for link in links:
        if not link.is_vlan:
            continue
        chain = links.vlan_chain(link.name)
        stacked = len(chain) > 1 and chain[1].is_vlan
        if not stacked and not mapped.get(link.name):
            continue
        reasons = instance_reasons(link) + mapped.get(link.name, [])
        # nova-network, the LB agent or OVS put one more tag on top of a device they are given.
        tags = links.vlan_depth(link.name) + (1 if mapped.get(link.name) else 0)
        base = _base_device(links, link.name)
        chain_text = " on ".join(f"{c.name} (id {c.vlan_id}, {c.vlan_protocol})" if c.is_vlan else c.name
                                 for c in chain)
        base_note = f"; parent NIC {base.name} MTU {base.mtu}" if base is not None else ""
        evidence = [c.kind_evidence() for c in chain if c.is_vlan]
        qinq = any(c.is_qinq for c in chain[1:])
        mtu_reduced = (base is not None and base.mtu is not None and link.mtu is not None
                       and link.mtu + VLAN_TAG * (tags - 1) <= base.mtu)
        message = f"{chain_text}: {_frame(link.mtu, tags)}{base_note}"
        reported.add(link.name)
        if qinq and mtu_reduced:
            ctx.ok(f"intended QinQ (802.1ad outer tag) with the MTU reduced accordingly: {message}",
                   resource=link.name, evidence=evidence)
            continue
        qinq_note = " (802.1ad outer tag: QinQ intended, but the MTU was not reduced)" if qinq else ""
        for _reason, ev in reasons:
            evidence.extend(ev)
        if reasons:
            why = "; ".join(reason for reason, _ev in reasons)
            ctx.fail(f"{message}{qinq_note}. Used for instance traffic: {why}. A switch port expecting "
                     f"single-tagged frames drops the full-size ones (the tale's 1504-byte packets)",
                     severity=Severity.high, resource=link.name, evidence=evidence)
        else:
            ctx.warn(f"{message}{qinq_note}. Not bridged to instances here, but frames carry an extra tag",
                     severity=Severity.medium, resource=link.name, evidence=evidence)
    if not reported:
        vlans = [link.name for link in links if link.is_vlan]
        ctx.ok(f"no VLAN device is stacked on another ({len(vlans)} VLAN devices)"
               + (f"; {'; '.join(notes)}" if notes else ""))


# ---------------------------------------------------------------------------------------------------------
# NET-004
# ---------------------------------------------------------------------------------------------------------

DEFAULT_PHYSNET_MTU = 1500
VXLAN_OVERHEAD = 30  # neutron-lib VXLAN_ENCAP_OVERHEAD
GRE_OVERHEAD = 22  # neutron-lib GRE_ENCAP_OVERHEAD (value UNVERIFIED in the catalogue; only used in messages)
GENEVE_DEFAULT_HEADER = 30
IP_HEADER = {4: 20, 6: 40}
INSTANCE_DEVICE_PREFIXES = ("tap", "qvo", "qvb", "vnet")


@dataclass(frozen=True)
class MtuConfig:
    global_mtu: int
    global_value: IniValue | None
    path_mtu: int
    physnet_mtus: dict[str, int]
    physnet_value: IniValue | None
    ip_version: int
    geneve_header: int

    def physnet_mtu(self, physnet: str) -> tuple[int, list[Evidence]]:
        if physnet in self.physnet_mtus and self.physnet_value is not None:
            return self.physnet_mtus[physnet], [self.physnet_value.evidence()]
        return self.global_mtu, [self.global_value.evidence()] if self.global_value is not None else []

    @property
    def underlay_mtu(self) -> int:
        return min(self.global_mtu, self.path_mtu) if self.path_mtu > 0 else self.global_mtu

    def tunnel_mtu(self, kind: str) -> int | None:
        overhead = {"vxlan": VXLAN_OVERHEAD, "gre": GRE_OVERHEAD, "geneve": self.geneve_header}.get(kind)
        if overhead is None:
            return None
        return self.underlay_mtu - IP_HEADER.get(self.ip_version, 20) - overhead


def _mtu_config(neutron: IniFile | None, ml2: IniFile | None) -> MtuConfig:
    global_value = neutron.get("DEFAULT", "global_physnet_mtu") if neutron is not None else None
    physnet_value = ml2.get("ml2", "physical_network_mtus") if ml2 is not None else None
    mtus: dict[str, int] = {}
    for physnet, raw in as_dict(physnet_value).items():
        if raw.strip().isdigit():
            mtus[physnet] = int(raw)
    return MtuConfig(
        global_mtu=as_int(global_value, DEFAULT_PHYSNET_MTU),
        global_value=global_value,
        path_mtu=as_int(ml2.get("ml2", "path_mtu") if ml2 is not None else None, 0),
        physnet_mtus=mtus,
        physnet_value=physnet_value,
        ip_version=as_int(ml2.get("ml2", "overlay_ip_version") if ml2 is not None else None, 4),
        geneve_header=as_int(ml2.get("ml2_type_geneve", "max_header_size") if ml2 is not None else None,
                             GENEVE_DEFAULT_HEADER),
    )


def _tunnel_endpoint(ctx: CheckContext) -> tuple[str, list[str], Evidence] | None:
    """(local IP, tunnel types, where it was configured) from the OVS agent or the OVN chassis."""
    ovs = ctx.facts.maybe(load_config, "openvswitch_agent")
    if ovs is not None:
        local_ip = ovs.get("ovs", "local_ip")
        types = as_list(ovs.get("agent", "tunnel_types"))
        if local_ip is not None and types:
            return local_ip.value.strip(), types, local_ip.evidence()
    chassis = ctx.facts.maybe(load_open_vswitch)
    ids = chassis.get("external_ids") if chassis is not None else None
    if ids is not None and ids.as_map().get("ovn-encap-ip"):
        encap = ids.as_map()
        types = [t.strip() for t in encap.get("ovn-encap-type", "geneve").split(",") if t.strip()]
        return encap["ovn-encap-ip"].strip(), types, ids.map_evidence("ovn-encap-ip")
    return None


def _links_with_ip(links: LinkTable, ip: str) -> list[tuple[Link, Evidence]]:
    return [(link, addr.evidence()) for link, addr in links.addresses() if addr.address == ip]


@check(CheckMeta(
    id="NET-004",
    title="Physnet / tunnel MTU configuration vs real interface MTU",
    severity=Severity.high,
    area="net",
    tale=(
        "On a brand-new cloud, SSH sessions into instances hung as soon as a command printed more than a "
        "screenful while short commands worked. The network engineer's first guess was the MTU: packets of "
        "full size were lost somewhere between the instance and the uplink while small ones got through."
    ),
    description=(
        "Computes the MTU neutron gives networks on this node's physnets (`[ml2] physical_network_mtus`, "
        "else `[DEFAULT] global_physnet_mtu`, default 1500) and its tunnel underlay (min of "
        "global_physnet_mtu and `[ml2] path_mtu`), then compares them with the real MTU of the device that "
        "carries each physnet (the kernel port of the OVS `bridge_mappings` bridge, or the Linux bridge "
        "agent's interface) and of the device holding the tunnel endpoint address (`[ovs] local_ip` or the "
        "OVN chassis `ovn-encap-ip`). On a node with tunnel networks only, instance devices larger than "
        "any tunnel network MTU are reported too. Comparing each network's stored MTU needs the API and is "
        "not done on a node scan."
    ),
    risk=(
        "Packets up to the configured MTU leave the instance but are dropped or fragmented on the smaller "
        "device: large transfers and interactive sessions with big output hang while ping and small "
        "requests work."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Compare configured and real MTUs.", commands=[
            "ip -d link show", "ovs-vsctl show",
            "grep -E 'global_physnet_mtu|path_mtu|physical_network_mtus' -r /etc/neutron",
            "ping -M do -s 1472 -c 2 <peer tunnel endpoint>",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Align NIC and switch MTUs with the configuration, or lower global_physnet_mtu / "
            "physical_network_mtus / path_mtu and restart neutron-server; existing networks keep their "
            "stored MTU and need `openstack network set --mtu`, after which guests must renew DHCP or "
            "reboot."), commands=[
            "ip link set dev <uplink> mtu <configured mtu>",
            "openstack network set --mtu <n> <network>",
        ]),
    ],
    references=[
        "neutron neutron/conf/common.py (global_physnet_mtu), neutron/conf/plugins/ml2/config.py "
        "(path_mtu, "
        "physical_network_mtus, overlay_ip_version)",
        "neutron neutron/plugins/ml2/drivers/type_tunnel.py, type_vxlan.py, type_geneve.py, type_gre.py; "
        "doc/source/admin/config-mtu.rst",
        "GRE overhead 22 is UNVERIFIED: used only to print the expected GRE network MTU",
        "network-MTU-vs-expected and the live ping probe need the API / a live host: not in this scan",
    ],
    reads={
        "live": ["cmd:ip -d link", "cmd:ip -d address", "cmd:ovs-vsctl show",
                 "cmd:ovs-vsctl list Open_vSwitch", "etc/neutron/neutron.conf",
                 "etc/neutron/plugins/ml2/*.ini"],
        "sosreport": ["sos_commands/networking/ip_-s_-d_link", "sos_commands/networking/ip_-d_address",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_show",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch", "etc/neutron/neutron.conf",
                      "etc/neutron/plugins/ml2/*.ini"],
        "kolla": ["cmd:ip -d link", "etc/kolla/neutron-server/neutron.conf",
                  "etc/kolla/neutron-server/ml2_conf.ini",
                  "etc/kolla/neutron-openvswitch-agent/openvswitch_agent.ini"],
    },
))
def physnet_mtu(ctx: CheckContext) -> None:
    links = ctx.facts.get(load_links)
    neutron = ctx.facts.maybe(load_config, "neutron")
    ml2 = ctx.facts.maybe(load_config, "ml2")
    uplinks, notes = physnet_uplinks(ctx, links)
    endpoint = _tunnel_endpoint(ctx)
    if neutron is None and ml2 is None and not uplinks and endpoint is None:
        raise MissingEvidence("etc/neutron/neutron.conf, etc/neutron/plugins/ml2/*.ini or an OVN chassis")
    cfg = _mtu_config(neutron, ml2)
    checked: list[str] = []
    for uplink in uplinks:
        dev = links.get(uplink.device)
        if dev is None or dev.mtu is None:
            notes.append(f"{uplink.physnet}: {uplink.device} not in ip link")
            continue
        want, cfg_evidence = cfg.physnet_mtu(uplink.physnet)
        checked.append(f"{uplink.physnet} on {dev.name} MTU {dev.mtu} (configured {want})")
        if dev.mtu < want:
            evidence = [dev.evidence(), uplink.mapping, *cfg_evidence]
            if uplink.port_evidence is not None:
                evidence.append(uplink.port_evidence)
            ctx.fail(f"physnet {uplink.physnet} is carried by {dev.name} with MTU {dev.mtu}, but neutron "
                     f"gives its networks MTU {want}: packets between {dev.mtu} and {want} bytes are dropped",
                     severity=Severity.high, resource=f"{uplink.physnet}:{dev.name}", evidence=evidence)
    if endpoint is not None:
        ip, types, where_ev = endpoint
        holders = _links_with_ip(links, ip)
        underlay = cfg.underlay_mtu
        expected = ", ".join(f"{t} networks {cfg.tunnel_mtu(t)}" for t in types
                             if cfg.tunnel_mtu(t) is not None)
        if not holders:
            notes.append(f"tunnel endpoint {ip} is not on any interface")
        for dev, addr_ev in holders:
            if dev.mtu is None:
                continue
            checked.append(f"tunnel endpoint {ip} on {dev.name} MTU {dev.mtu} (underlay {underlay})")
            if dev.mtu < underlay:
                cfg_ev = [cfg.global_value.evidence()] if cfg.global_value is not None else []
                ctx.fail(f"tunnel endpoint {ip} is on {dev.name} with MTU {dev.mtu}, below the underlay MTU "
                         f"{underlay} neutron computes tunnel networks from ({expected}): encapsulated "
                         f"full-size packets do not fit", severity=Severity.high,
                         resource=f"tunnel:{dev.name}", evidence=[dev.evidence(), addr_ev, where_ev, *cfg_ev])
        if not uplinks:
            _instance_mtus(ctx, links, cfg, types)
    if not ctx.outcomes:
        summary = "; ".join(checked) if checked else "no physnet uplink or tunnel endpoint found on this node"
        ctx.ok(summary + (f" ({'; '.join(notes)})" if notes else ""))


def _instance_mtus(ctx: CheckContext, links: LinkTable, cfg: MtuConfig, types: list[str]) -> None:
    """Without a physnet on the node every instance network is a tunnel: a bigger device MTU is wrong."""
    limits = [m for m in (cfg.tunnel_mtu(t) for t in types) if m is not None]
    if not limits:
        return
    ceiling = max(limits)
    for link in links:
        if link.name.startswith(INSTANCE_DEVICE_PREFIXES) and link.mtu is not None and link.mtu > ceiling:
            ctx.warn(f"instance device {link.name} has MTU {link.mtu}, larger than any tunnel network MTU on "
                     f"this node ({ceiling}): its network MTU and the device disagree",
                     severity=Severity.medium, resource=link.name, evidence=[link.evidence()])


# ---------------------------------------------------------------------------------------------------------
# NET-002
# ---------------------------------------------------------------------------------------------------------

CT_MAX = "net.netfilter.nf_conntrack_max"
CT_MAX_OLD = "net.nf_conntrack_max"
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
