"""OVN chassis health on one node: external_ids identity (OVN-001), geneve/NAT kernel support (OVN-003)."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.ini import as_list, load_config
from stackrx.facts.iproute import LinkTable, load_links
from stackrx.facts.kernel import Lsmod, Process, load_lsmod, load_processes, load_uname
from stackrx.facts.ovs import OvsField, OvsRecord, load_open_vswitch, load_ovs_show, load_sb_chassis
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

OVN_CONTROLLER = re.compile(r"(?:^|[/\s])ovn-controller(?:\s|$)")
REQUIRED_KEYS = ("system-id", "ovn-remote", "ovn-encap-type", "ovn-encap-ip")
TYPO_TARGETS = ("ovn-encap-type", "ovn-encap-ip", "ovn-remote", "ovn-bridge-mappings", "ovn-cms-options")
# external_ids keys ovn-controller (ovn-controller(8)), OVS itself and the deployment tools set: never typos.
KNOWN_KEYS = frozenset({
    "system-id", "hostname", "rundir", "ovn-remote", "ovn-remote-probe-interval",
    "ovn-openflow-probe-interval", "ovn-encap-type", "ovn-encap-ip", "ovn-encap-ip-default", "ovn-encap-csum",
    "ovn-encap-df_default",
    "ovn-encap-tos", "ovn-bridge", "ovn-bridge-mappings", "ovn-bridge-datapath-type", "ovn-cms-options",
    "ovn-chassis-mac-mappings", "ovn-transport-zones", "ovn-monitor-all", "ovn-ofctrl-wait-before-clear",
    "ovn-enable-lflow-cache", "ovn-limit-lflow-cache", "ovn-memlimit-lflow-cache-kb",
    "ovn-trim-limit-lflow-cache", "ovn-trim-wmark-perc-lflow-cache", "ovn-trim-timeout-ms",
    "ovn-set-local-ip",
    "ovn-is-interconn", "ovn-match-northd-version", "ovn-nb", "ovn-cleanup-on-exit", "ovn-startup-ts",
    "ovn-evpn-vxlan-ports", "ovn-evpn-local-ip",
})
REMOTE_PROTOCOLS = ("tcp", "ssl", "unix")
DEFAULT_SB_PORT = 6642
_HOST_PORT = re.compile(r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::(?P<p6>\d{1,5}))?"
                        r"|(?P<host>[^:\[\]]+)(?::(?P<port>\d{1,5}))?")
CONNECT_TIMEOUT_S = 2.0
NAT_KERNEL = (4, 6)
KERNEL_MODULES = ("openvswitch", "nf_conntrack", "nf_nat")


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Remote:
    protocol: str
    host: str | None
    port: int | None
    path: str | None
    text: str


def parse_remote(entry: str) -> Remote | None:
    """One `ovn-remote` entry (`tcp:IP:PORT`, `ssl:[IPv6]:PORT`, `unix:PATH`); None when malformed."""
    proto, sep, rest = entry.strip().partition(":")
    if not sep or proto not in REMOTE_PROTOCOLS or not rest:
        return None
    if proto == "unix":
        return Remote(proto, None, None, rest, entry)
    m = _HOST_PORT.fullmatch(rest)
    if not m:
        return None
    host = m.group("v6") or m.group("host")
    port_text = m.group("p6") or m.group("port")
    port = int(port_text) if port_text else DEFAULT_SB_PORT
    if not 0 < port < 65536 or not re.fullmatch(r"[A-Za-z0-9.\-:]+", host or ""):
        return None
    return Remote(proto, host, port, None, entry)


@dataclass(frozen=True)
class OvnNode:
    record: OvsRecord | None
    ids: dict[str, str]
    field: OvsField | None
    controller: tuple[Process, ...] | None

    @property
    def is_chassis(self) -> bool:
        return bool(self.controller) or any(k.startswith("ovn-") for k in self.ids)

    def evidence(self, key: str | None = None) -> list[Evidence]:
        """The external_ids line, pointing at `key` when it is set."""
        if self.field is None:
            return []
        return [self.field.map_evidence(key) if key and key in self.ids else self.field.evidence()]


def ovn_node(ctx: CheckContext) -> OvnNode:
    """This node's OVN identity as the local OVS database and the process list show it."""
    record = ctx.facts.maybe(load_open_vswitch)
    procs = ctx.facts.maybe(load_processes)
    controller = tuple(procs.matching(OVN_CONTROLLER)) if procs is not None else None
    field = record.get("external_ids") if record is not None else None
    ids = field.as_map() if field is not None else {}
    return OvnNode(record, ids, field, controller)


def _not_ovn(node: OvnNode) -> NotApplicable:
    return NotApplicable("not an OVN chassis: no ovn-* key in Open_vSwitch external_ids and no "
                         "ovn-controller process")


def _id_evidence(node: OvnNode, key: str | None = None) -> list[Evidence]:
    if node.field is None:
        return []
    return [node.field.map_evidence(key) if key else node.field.evidence()]


def _local_ips(links: LinkTable) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return {addr.ip for link in links for addr in link.addresses if addr.ip is not None}


# ---------------------------------------------------------------------------------------------------------
# OVN-001
# ---------------------------------------------------------------------------------------------------------

@check(CheckMeta(
    id="OVN-001",
    title="OVN chassis external_ids incomplete",
    severity=Severity.critical,
    area="ovn",
    tale=(
        "A team bringing up OVN in containers had to hand-set every chassis identity in the local OVS "
        "database: a system-id, where the southbound database lives, the tunnel type and the tunnel address. "
        "Their own write-up of the command carried a slip, a space instead of a dash in the encapsulation "
        "key, which would have left the chassis without a tunnel type and created a meaningless key."
    ),
    description=(
        "Reads the Open_vSwitch row's external_ids on any node that runs ovn-controller or has an ovn-* key. "
        "Requires system-id, ovn-remote, ovn-encap-type and ovn-encap-ip; checks that ovn-encap-ip is an "
        "address of this host, that ovn-encap-type offers geneve when ML2 allocates geneve tenant networks, "
        "that every ovn-remote entry is tcp:/ssl:/unix: (and, on a live host, that its TCP port answers), "
        "that no key is a near-miss of a known one, and, where the southbound database was collected on "
        "this node, that the system-id is registered as a Chassis."
    ),
    risk=(
        "Without these keys ovn-controller cannot register the chassis or build tunnels: instances on the "
        "node get no connectivity, and ports bound here stay down. A typo key silently does nothing."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Show the chassis identity OVN sees.", commands=[
            "ovs-vsctl get Open_vSwitch . external_ids",
            "docker exec openvswitch_vswitchd ovs-vsctl get Open_vSwitch . external_ids  # Kolla",
            "ovn-sbctl --columns=name,hostname,encaps list Chassis  # where the SB DB is reachable",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "On a chassis that is not working yet, set the missing keys (Kolla: rerun "
            "`kolla-ansible reconfigure -t openvswitch,ovn-controller` instead of editing by hand)."),
            commands=[
                'ovs-vsctl set Open_vSwitch . external_ids:ovn-remote="tcp:<SB_IP>:6642" '
                "external_ids:ovn-encap-type=geneve external_ids:ovn-encap-ip=<tunnel_ip>",
            ]),
        RemediationStep(kind=StepKind.safe, text="Remove a typo key (quote keys that contain a space).",
                        commands=['ovs-vsctl remove Open_vSwitch . external_ids "<key>"']),
        RemediationStep(kind=StepKind.destructive, text=(
            "Changing the system-id of a working chassis re-registers it and rebinds every port on it."),
            commands=["ovs-vsctl set Open_vSwitch . external_ids:system-id=<new-id>",
                      "ovn-sbctl chassis-del <old-id>"]),
    ],
    references=[
        "kolla-ansible ansible/roles/openvswitch/tasks/post-config.yml (system-id = ansible hostname)",
        "kolla-ansible ansible/roles/ovn-controller/tasks/setup-ovs.yml (encap, remote, bridge-mappings, "
        "cms-options)",
        "neutron neutron/common/ovn/constants.py (ovn-cms-options, enable-chassis-as-gw)",
        "ovn-controller(8) external_ids keys (known-key list used to avoid typo false positives)",
    ],
    reads={
        "live": ["cmd:ovs-vsctl list Open_vSwitch", "cmd:ps auxwww", "cmd:ip -d address",
                 "etc/neutron/plugins/ml2/ml2_conf.ini", "TCP connect to each ovn-remote host:port (2 s)"],
        "sosreport": ["sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch",
                      "sos_commands/ovn_host/ovs-vsctl_list_Open_vSwitch (also snap-prefixed names)",
                      "sos_commands/process/ps_auxwwwm", "sos_commands/networking/ip_-d_address",
                      "etc/neutron/plugins/ml2/ml2_conf.ini", "sos_commands/ovn_central/ovn-sbctl_*show*"],
        "kolla": ["side bundle: docker exec openvswitch_vswitchd ovs-vsctl list Open_vSwitch, ps, ip address",
                  "etc/kolla/neutron-server/ml2_conf.ini"],
    },
))
def ovn_external_ids(ctx: CheckContext) -> None:
    node = ovn_node(ctx)
    if node.record is None:
        if node.controller:
            raise MissingEvidence("sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch "
                                  "(cmd: ovs-vsctl list Open_vSwitch) on a node running ovn-controller")
        if node.controller is None:
            raise MissingEvidence("sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch "
                                  "(cmd: ovs-vsctl list Open_vSwitch) and sos_commands/process/ps_auxwwwm")
        raise _not_ovn(node)
    if not node.is_chassis:
        raise _not_ovn(node)
    # A node whose controller is not running (yet) is most likely being deployed: the keys are reported,
    # but as a warning, not as a dead chassis.
    deploying = node.controller is not None and not node.controller
    severe = Severity.medium if deploying else Severity.critical
    note = " (ovn-controller not running: deployment in progress?)" if deploying else ""
    problems = 0
    for key in REQUIRED_KEYS:
        if not node.ids.get(key, "").strip():
            state = "empty" if key in node.ids else "missing"
            ctx.report(severe, f"external_ids:{key} is {state}: the chassis cannot register or tunnel{note}",
                       resource=key, evidence=_id_evidence(node))
            problems += 1
    unchecked: list[str] = []
    problems += _encap_ip(ctx, node, severe, note, unchecked)
    problems += _encap_type(ctx, node, severe, note)
    problems += _remotes(ctx, node, severe, note)
    if ctx.view.kind != "live":
        unchecked.append("southbound reachability (live only)")
    problems += _typos(ctx, node)
    problems += _registered(ctx, node, severe)
    if not problems:
        ids = ", ".join(f"{k}={node.ids[k]}" for k in REQUIRED_KEYS)
        rest = f"; not verified: {', '.join(unchecked)}" if unchecked else ""
        ctx.ok(f"OVN chassis identity complete: {ids}{rest}", evidence=_id_evidence(node))


def _encap_ip(ctx: CheckContext, node: OvnNode, severe: Severity, note: str, unchecked: list[str]) -> int:
    value = node.ids.get("ovn-encap-ip", "").strip()
    if not value:
        return 0
    links = ctx.facts.maybe(load_links)
    if links is None:
        unchecked.append("ovn-encap-ip is local (ip -d address not collected)")
        return 0
    local = _local_ips(links)
    problems = 0
    for entry in (e.strip() for e in value.split(",") if e.strip()):
        try:
            ip = ipaddress.ip_address(entry)
        except ValueError:
            ctx.report(severe, f"external_ids:ovn-encap-ip {entry!r} is not an IP address{note}",
                       resource="ovn-encap-ip", evidence=_id_evidence(node, "ovn-encap-ip"))
            problems += 1
            continue
        if ip not in local:
            ctx.report(severe, f"external_ids:ovn-encap-ip {entry} is not configured on any interface of "
                       f"this host: tunnels to this chassis have no endpoint{note}", resource="ovn-encap-ip",
                       evidence=[*_id_evidence(node, "ovn-encap-ip"),
                                 Evidence(source=links.sources[0] if links.sources else "cmd:ip -d address",
                                          excerpt=f"{len(local)} local addresses, {entry} not among them")])
            problems += 1
    return problems


def _ml2_geneve(ctx: CheckContext) -> Evidence | None:
    ml2 = ctx.facts.maybe(load_config, "ml2")
    if ml2 is None:
        return None
    value = ml2.get("ml2", "tenant_network_types")
    if value is not None and "geneve" in [t.lower() for t in as_list(value)]:
        return value.evidence()
    return None


def _encap_type(ctx: CheckContext, node: OvnNode, severe: Severity, note: str) -> int:
    value = node.ids.get("ovn-encap-type", "").strip()
    if not value:
        return 0
    types = [t.strip().lower() for t in value.split(",") if t.strip()]
    if "geneve" in types:
        return 0
    tenant = _ml2_geneve(ctx)
    if tenant is None:
        return 0
    ctx.report(severe, f"external_ids:ovn-encap-type={value} lacks geneve while ML2 allocates geneve tenant "
               f"networks: those networks cannot reach this chassis{note}", resource="ovn-encap-type",
               evidence=[*_id_evidence(node, "ovn-encap-type"), tenant])
    return 1


def _connect(remote: Remote) -> str | None:
    """None when the port answers, else the reason (live hosts only: sosreports carry no reachability)."""
    assert remote.host is not None and remote.port is not None
    try:
        with socket.create_connection((remote.host, remote.port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def _remotes(ctx: CheckContext, node: OvnNode, severe: Severity, note: str) -> int:
    value = node.ids.get("ovn-remote", "").strip()
    if not value:
        return 0
    problems = 0
    for entry in (e.strip() for e in value.split(",") if e.strip()):
        remote = parse_remote(entry)
        if remote is None:
            ctx.report(severe, f"external_ids:ovn-remote entry {entry!r} is not tcp:HOST:PORT, ssl:HOST:PORT "
                       f"or unix:PATH: ovn-controller cannot reach the southbound database{note}",
                       resource="ovn-remote", evidence=_id_evidence(node, "ovn-remote"))
            problems += 1
            continue
        if ctx.view.kind != "live" or remote.protocol == "unix":
            continue
        reason = _connect(remote)
        if reason is not None:
            ctx.report(severe, f"southbound database {remote.host}:{remote.port} (ovn-remote {entry}) does "
                       f"not accept TCP connections from this host: {reason}{note}", resource="ovn-remote",
                       evidence=[*_id_evidence(node, "ovn-remote"),
                                 Evidence(source=f"tcp-connect:{remote.host}:{remote.port}",
                                          excerpt=f"connect failed (timeout {CONNECT_TIMEOUT_S:.0f} s): "
                                                  f"{reason}")])
            problems += 1
    return problems


def _typo_target(key: str) -> str | None:
    """The known key an unknown one is a near miss of; a bare `type` is the seed's split `ovn-encap type`."""
    if key == "type":
        return "ovn-encap-type"
    return next((t for t in TYPO_TARGETS if edit_distance(key, t) <= 2), None)


def _typos(ctx: CheckContext, node: OvnNode) -> int:
    system_id = node.ids.get("system-id", "")
    problems = 0
    for key in node.ids:
        if key in KNOWN_KEYS or (system_id and key.endswith(f"-{system_id}")
                                 and key[: -len(system_id) - 1] in KNOWN_KEYS):
            continue  # per-chassis override `<key>-<system-id>` (ovn-controller(8))
        near = _typo_target(key)
        if near:
            ctx.fail(f"external_ids key {key!r} is probably a typo of {near!r}: ovn-controller ignores it",
                     severity=Severity.high, resource=key, evidence=_id_evidence(node, key))
            problems += 1
    return problems


def _registered(ctx: CheckContext, node: OvnNode, severe: Severity) -> int:
    system_id = node.ids.get("system-id", "").strip()
    if not system_id:
        return 0
    chassis = ctx.facts.maybe(load_sb_chassis)
    if not chassis:
        return 0
    if any(c.name == system_id for c in chassis):
        return 0
    ctx.report(severe, f"system-id {system_id} is not a Chassis in the southbound database collected on this "
               f"node ({len(chassis)} chassis registered)", resource="system-id",
               evidence=[*_id_evidence(node, "system-id"),
                         Evidence(source=chassis[0].source, excerpt=f"{len(chassis)} Chassis rows")])
    return 1


# ---------------------------------------------------------------------------------------------------------
# OVN-003
# ---------------------------------------------------------------------------------------------------------

def _builtin(ctx: CheckContext, release: str | None) -> set[str]:
    """Modules compiled into the running kernel (never in lsmod); only live hosts usually have the list."""
    if not release:
        return set()
    text = ctx.view.read_text(f"lib/modules/{release}/modules.builtin")
    if text is None:
        return set()
    names = set()
    for line in text.lines():
        name = line.strip().rsplit("/", 1)[-1]
        if name.endswith(".ko"):
            names.add(name[:-3].replace("-", "_"))
    return names


def _geneve_reason(ctx: CheckContext, node: OvnNode) -> tuple[str, list[Evidence]] | None:
    """Why this node needs geneve (OVN chassis with geneve encap, or ML2 geneve tunnels), or None."""
    if node.is_chassis:
        types = [t.strip().lower() for t in node.ids.get("ovn-encap-type", "geneve").split(",") if t.strip()]
        if "geneve" in types or not types:
            return "OVN chassis with geneve encapsulation", _id_evidence(node, "ovn-encap-type")
    tenant = _ml2_geneve(ctx)
    if tenant is not None:
        return "ML2 tenant_network_types include geneve", [tenant]
    agent = ctx.facts.maybe(load_config, "openvswitch_agent")
    if agent is not None:
        value = agent.get("agent", "tunnel_types")
        if value is not None and "geneve" in [t.lower() for t in as_list(value)]:
            return "OVS agent tunnel_types include geneve", [value.evidence()]
    return None


def _userspace_only(ctx: CheckContext, node: OvnNode) -> bool:
    show = ctx.facts.maybe(load_ovs_show)
    if show is not None and show.bridges:
        return all((b.datapath_type or "system") == "netdev" for b in show.bridges)
    return node.ids.get("ovn-bridge-datapath-type", "") == "netdev"


@check(CheckMeta(
    id="OVN-003",
    title="geneve kernel module and kernel >= 4.6 (OVS datapath NAT)",
    severity=Severity.high,
    area="ovn",
    tale=(
        "The same OVN-in-containers team found two kernel prerequisites the hard way: geneve tunnels only "
        "came up once the geneve module was loaded on the hosts, and router NAT needed the OVS kernel "
        "datapath's NAT support, which their Ubuntu 16.04 kernel 4.4 lacked, so they moved to a newer kernel."
    ),
    description=(
        "On nodes that tunnel with geneve (OVN chassis, or ML2 geneve) and use the kernel datapath: requires "
        "the geneve module loaded (or a genev_sys_* device, which proves it), the openvswitch, nf_conntrack "
        "and nf_nat modules, and, on chassis that can do NAT (gateway chassis or with bridge mappings), a "
        "kernel of at least 4.6. RHEL/CentOS kernels backport datapath features, so an old version number "
        "there is only reported as information. Userspace (netdev/DPDK) datapaths need none of this."
    ),
    risk=(
        "Without the geneve module no tunnel to other chassis forms: east-west traffic and traffic to "
        "gateways is lost. On a kernel older than 4.6 the OVS datapath cannot NAT, so SNAT and floating IPs "
        "of OVN routers fail on this node."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Load geneve now and at every boot.", commands=[
            "modprobe geneve",
            "echo geneve > /etc/modules-load.d/geneve.conf",
        ]),
        RemediationStep(kind=StepKind.safe, text="Load the other datapath modules.", commands=[
            "modprobe -a openvswitch nf_conntrack nf_nat",
        ]),
        RemediationStep(kind=StepKind.destructive, text="Upgrade the kernel to >= 4.6 and reboot the node "
                        "(migrate instances away first).", commands=[
            "apt install --install-recommends linux-generic-hwe-16.04  # Ubuntu 16.04 example",
            "reboot",
        ]),
    ],
    references=[
        "OVS Documentation/faq/releases.rst feature table: NAT in the Linux upstream datapath from 4.6 "
        "(ovs-dev archive)",
        "geneve kernel version in that table UNVERIFIED: only module presence is checked",
        "RHEL/CentOS 7 backport coverage UNVERIFIED: elN kernels below 4.6 are reported as info",
    ],
    reads={
        "live": ["cmd:uname -a", "cmd:lsmod", "cmd:ip -d link", "cmd:ovs-vsctl show",
                 "cmd:ovs-vsctl list Open_vSwitch", "cmd:ps auxwww", "lib/modules/<release>/modules.builtin",
                 "etc/neutron/plugins/ml2/ml2_conf.ini", "etc/neutron/plugins/ml2/openvswitch_agent.ini"],
        "sosreport": ["uname", "lsmod", "sos_commands/kernel/uname_-a", "sos_commands/kernel/lsmod",
                      "sos_commands/networking/ip_-s_-d_link", "sos_commands/openvswitch/ovs-vsctl_-t_5_show",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch",
                      "sos_commands/process/ps_auxwwwm", "etc/neutron/plugins/ml2/ml2_conf.ini"],
        "kolla": ["host kernel: same as live", "etc/kolla/neutron-openvswitch-agent/openvswitch_agent.ini"],
    },
))
def geneve_kernel(ctx: CheckContext) -> None:
    node = ovn_node(ctx)
    reason = _geneve_reason(ctx, node)
    if reason is None and not node.is_chassis:
        if node.record is None and node.controller is None:
            raise MissingEvidence("sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch and "
                                  "sos_commands/process/ps_auxwwwm (is this an OVN chassis?)")
        raise NotApplicable("no geneve in use: not an OVN chassis and ML2/OVS agent do not use geneve")
    if _userspace_only(ctx, node):
        raise NotApplicable("userspace datapath (datapath_type=netdev): no kernel modules needed")
    lsmod = ctx.facts.maybe(load_lsmod)
    links = ctx.facts.maybe(load_links)
    uname = ctx.facts.maybe(load_uname)
    if lsmod is None and links is None and uname is None:
        raise MissingEvidence("lsmod, uname -a and ip -d link (sos_commands/kernel/lsmod, "
                              "sos_commands/kernel/uname_-a, sos_commands/networking/ip_-s_-d_link)")
    builtin = _builtin(ctx, uname.release if uname else None)
    reported = 0
    if reason is not None:
        reported += _geneve_module(ctx, reason, lsmod, links, builtin)
    if lsmod is not None:
        missing = [m for m in KERNEL_MODULES if m not in lsmod and m not in builtin]
        if missing:
            ctx.fail(f"kernel modules not loaded: {', '.join(missing)} (the OVS kernel datapath needs "
                     "openvswitch, and conntrack/NAT for security groups and router NAT)",
                     severity=Severity.high, resource=",".join(missing),
                     evidence=[Evidence(source=lsmod.source, excerpt=f"{len(lsmod)} modules, no "
                                        f"{', '.join(missing)}")])
            reported += 1
    if uname is not None and node.is_chassis and not uname.at_least(*NAT_KERNEL):
        reported += _old_kernel(ctx, node, uname.release, uname.is_enterprise_backport, uname.evidence())
    if not reported:
        evaluated = [what for what, fact in (("lsmod", lsmod), ("links", links), ("uname", uname)) if fact]
        ctx.ok(f"kernel datapath prerequisites present ({', '.join(evaluated)} checked)")


def _geneve_module(ctx: CheckContext, reason: tuple[str, list[Evidence]], lsmod: Lsmod | None,
                   links: LinkTable | None, builtin: set[str]) -> int:
    device = next((link for link in links if link.name.startswith("genev_sys")), None) if links else None
    if device is not None or (lsmod is not None and "geneve" in lsmod) or "geneve" in builtin:
        return 0
    if lsmod is None:
        return 0  # without lsmod the module may be loaded while no tunnel exists yet: not provable
    why, why_ev = reason
    no_dev = "no genev_sys_* device" if links is not None else "interface list not collected"
    ctx.fail(f"geneve is in use ({why}) but the geneve module is not loaded and {no_dev}: no geneve "
             "tunnel can form", severity=Severity.high, resource="geneve",
             evidence=[*why_ev, Evidence(source=lsmod.source, excerpt=f"{len(lsmod)} modules, no geneve")])
    return 1


def _old_kernel(ctx: CheckContext, node: OvnNode, release: str, backport: bool, uname_ev: Evidence) -> int:
    gateway = "enable-chassis-as-gw" in node.ids.get("ovn-cms-options", "")
    mapped = bool(node.ids.get("ovn-bridge-mappings", "").strip())
    if not (gateway or mapped):
        return 0  # no external network here: OVN routers do no NAT on this chassis
    where = "gateway chassis" if gateway else "chassis with ovn-bridge-mappings (distributed floating IPs)"
    message = (f"kernel {release} < {NAT_KERNEL[0]}.{NAT_KERNEL[1]} on a {where}: the OVS kernel datapath "
               "has no NAT, router SNAT and floating IPs fail")
    evidence = [uname_ev, *_id_evidence(node, "ovn-cms-options" if gateway else "ovn-bridge-mappings")]
    if backport:
        ctx.report(Severity.info, message + " (enterprise kernel: datapath NAT may be backported, "
                   "not verified)", resource="kernel", evidence=evidence)
        return 1  # reported (as context), so no separate all-clear
    ctx.fail(message, severity=Severity.high, resource="kernel", evidence=evidence)
    return 1
