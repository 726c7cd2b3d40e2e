"""Host networking: conntrack saturation (NET-001), stacked VLANs (NET-003), physnet/tunnel MTU (NET-004),
addresses left on enslaved NICs (NET-005)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.conntrack import ConntrackStats, load_conntrack_stats, load_netns_conntrack_stats
from stackrx.facts.ini import IniFile, IniValue, as_dict, as_int, as_list, load_config
from stackrx.facts.iproute import Address, Link, LinkTable, load_links
from stackrx.facts.logs import DEFAULT_WINDOW_DAYS, SignatureHits, load_signature_hits
from stackrx.facts.netconfig import load_netconfig
from stackrx.facts.ovs import OvsShow, load_open_vswitch, load_ovs_bridges, load_ovs_show
from stackrx.facts.sysctl import Sysctl, SysctlEntry, load_netns_sysctl, load_sysctl
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

