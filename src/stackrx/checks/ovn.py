"""OVN chassis health on one node: external_ids identity (OVN-001), gateway chassis configuration (OVN-002),
geneve/NAT kernel support (OVN-003), ML2/OVN geneve settings (OVN-004), mount-table explosion and /run/netns
propagation (OVN-005), AppArmor blocking mounts in network containers (OVN-006) and leftover ML2/OVS patch ports on
an OVN chassis (OVN-007)."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from stackrx.checks.net import signature_hits
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.container_inspect import Container, load_containers
from stackrx.facts.ini import IniFile, IniValue, as_bool, as_int, as_list, load_config
from stackrx.facts.iproute import LinkTable, load_links
from stackrx.facts.kernel import Lsmod, Process, load_lsmod, load_processes, load_uname
from stackrx.facts.netns_mounts import MountCensus, load_largest_namespace, load_mount_census
from stackrx.facts.ovn_sb import is_gateway, load_sb_table, unbound_gateway_ports
from stackrx.facts.ovs import (
    OvsBridge,
    OvsField,
    OvsRecord,
    OvsShow,
    OvsTable,
    load_open_vswitch,
    load_ovs_bridges,
    load_ovs_interfaces,
    load_ovs_show,
    load_sb_chassis,
)
from stackrx.facts.sysctl import load_sysctl
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
# OVN-002
# ---------------------------------------------------------------------------------------------------------

GATEWAY_OPTION = "enable-chassis-as-gw"


def _bridge_mappings(raw: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in raw.split(","):
        physnet, sep, bridge = item.strip().partition(":")
        if sep and physnet.strip() and bridge.strip():
            out.append((physnet.strip(), bridge.strip()))
    return out


@check(CheckMeta(
    id="OVN-002",
    title="Gateway chassis configuration (enable-chassis-as-gw, ovn-bridge-mappings)",
    severity=Severity.critical,
    area="ovn",
    tale=(
        "Building OVN by hand, a team had to mark the node that should carry router gateways: "
        "`ovn-cms-options=enable-chassis-as-gw` plus a mapping of the external physnet to br-ex in the local "
        "OVS database. Without a gateway-capable chassis neutron has nowhere to schedule router gateway ports, "
        "and a gateway whose mapping or bridge is missing cannot reach the external network."
    ),
    description=(
        "On an OVN chassis reads `external_ids:ovn-cms-options` and `ovn-bridge-mappings` from the Open_vSwitch "
        "row. A gateway chassis (`enable-chassis-as-gw`) without any bridge mapping is flagged; for every "
        "mapped bridge (on any chassis) the bridge must exist and have a physical port, not only its internal "
        "and patch ports, unless the bridge itself carries a global IPv4 address (a host-routed external "
        "network). Where the southbound database runs on this node (sos ovn_central `ovn-sbctl list Chassis` / "
        "`list Port_Binding`), no chassis with enable-chassis-as-gw in other_config (or external_ids before "
        "OVN 22.09) is critical, and chassisredirect gateway ports bound to no chassis are high. Which physnet "
        "each external network uses needs the API and is not checked on a node scan; whether the cloud has a "
        "gateway at all can only be told from the SB database or the fleet view."
    ),
    risk=(
        "Routers get no gateway (no SNAT, no floating IPs) when no chassis is gateway-capable, and a gateway "
        "chassis without the external physnet's mapping or uplink black-holes north-south traffic for every "
        "router scheduled on it."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Show the gateway configuration.", commands=[
            "ovs-vsctl get Open_vSwitch . external_ids:ovn-cms-options external_ids:ovn-bridge-mappings",
            "ovs-vsctl list-ports br-ex",
            "ovn-sbctl --columns=name,hostname,other_config list Chassis  # on a central node",
            "ovn-nbctl list Gateway_Chassis; ovn-nbctl list HA_Chassis_Group",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Make the network nodes gateway chassis with the external mapping (gateway ports get rescheduled); "
            "Kolla: put the hosts in the [network] group and reconfigure."), commands=[
            "ovs-vsctl set Open_vSwitch . external_ids:ovn-cms-options=enable-chassis-as-gw "
            "external_ids:ovn-bridge-mappings=physnet1:br-ex",
            "ovs-vsctl add-port br-ex <nic>",
            "kolla-ansible reconfigure -t ovn-controller -i <inventory>",
        ]),
    ],
    references=[
        "kolla-ansible ansible/roles/ovn-controller/tasks/setup-ovs.yml (ovn-controller-network hosts get "
        "enable-chassis-as-gw)",
        "neutron neutron/common/ovn/constants.py (CMS_OPT_CHASSIS_AS_GW), neutron/common/ovn/utils.py "
        "get_ovn_chassis_other_config (other_config, else external_ids before OVN 22.09)",
        "sos report plugins ovn_central.py (`ovn-sbctl --no-leader-only list <table>` for every SB table)",
        "decision on the UNVERIFIED column output: an unbound Port_Binding prints `chassis : []` (ovsdb empty "
        "optional reference) in `ovn-sbctl list`",
        "external networks' physnets need the API (GET /v2.0/networks?router:external=true): not on a node scan",
    ],
    reads={
        "live": ["cmd:ovs-vsctl list Open_vSwitch", "cmd:ovs-vsctl show", "cmd:ovs-vsctl list-br",
                 "cmd:ovs-vsctl list interface", "cmd:ip -d address", "cmd:ps auxwww",
                 "cmd:ovn-sbctl list Chassis", "cmd:ovn-sbctl list Port_Binding (central nodes)"],
        "sosreport": ["sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch (also ovn_host, snap-prefixed)",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_show", "sos_commands/networking/ip_-d_address",
                      "sos_commands/ovn_central/ovn-sbctl_--no-leader-only_list_Chassis",
                      "sos_commands/ovn_central/ovn-sbctl_--no-leader-only_list_Port_Binding"],
        "kolla": ["side bundle: docker exec openvswitch_vswitchd ovs-vsctl ..., docker exec ovn_sb_db ovn-sbctl "
                  "list Chassis"],
    },
))
def gateway_chassis(ctx: CheckContext) -> None:
    node = ovn_node(ctx)
    sb = ctx.facts.maybe(load_sb_table, "Chassis")
    if not node.is_chassis and sb is None:
        if node.record is None and node.controller is None:
            raise MissingEvidence("sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch and "
                                  "sos_commands/process/ps_auxwwwm")
        raise NotApplicable("not an OVN chassis, and no OVN southbound database on this node")
    notes: list[str] = []
    if sb is not None:
        notes.extend(_southbound(ctx, sb))
    if node.is_chassis:
        notes.extend(_local_gateway(ctx, node))
    if not ctx.outcomes:
        ctx.ok("; ".join(notes) or "gateway configuration consistent", evidence=node.evidence("ovn-cms-options"))


def _southbound(ctx: CheckContext, sb: OvsTable) -> list[str]:
    rows = list(sb)
    gateways = [r for r in rows if is_gateway(r)]
    if rows and not gateways:
        names = ", ".join(filter(None, (r.text("name") for r in rows[:5])))
        ctx.fail(f"none of the {len(rows)} chassis in the southbound database ({names}) has ovn-cms-options="
                 f"{GATEWAY_OPTION}: router gateway ports cannot be scheduled anywhere",
                 severity=Severity.critical, resource="southbound:Chassis",
                 evidence=[Evidence(source=sb.source, line=rows[0].line,
                                    excerpt=f"{len(rows)} Chassis rows, none gateway-capable")])
    notes = [f"southbound: {len(gateways)} of {len(rows)} chassis gateway-capable"] if rows else []
    ports = ctx.facts.maybe(load_sb_table, "Port_Binding")
    unbound = unbound_gateway_ports(ports) if ports is not None else []
    if unbound:
        names = ", ".join(filter(None, (r.text("logical_port") for r in unbound[:4])))
        ctx.fail(f"{len(unbound)} router gateway port(s) (chassisredirect) are bound to no chassis ({names}): "
                 "those routers have no external connectivity", severity=Severity.high,
                 resource="southbound:Port_Binding",
                 evidence=[Evidence(source=r.source, line=r.line,
                                    excerpt=f"logical_port {r.text('logical_port')} type chassisredirect "
                                            "chassis []") for r in unbound[:4]])
    return notes


def _host_routed(ctx: CheckContext, bridge: str) -> Evidence | None:
    links = ctx.facts.maybe(load_links)
    link = links.get(bridge) if links is not None else None
    if link is None:
        return None
    addr = next((a for a in link.addresses if a.family == "inet" and a.scope == "global"), None)
    return addr.evidence() if addr is not None else None


def _uplinks(bridge: OvsBridge) -> list[str]:
    return [i.name for i in bridge.interfaces() if i.type not in ("internal", "patch") and i.name != bridge.name]


def _local_gateway(ctx: CheckContext, node: OvnNode) -> list[str]:
    cms = [o.strip() for o in node.ids.get("ovn-cms-options", "").split(",") if o.strip()]
    gateway = GATEWAY_OPTION in cms
    mappings = _bridge_mappings(node.ids.get("ovn-bridge-mappings", ""))
    role = "gateway chassis" if gateway else "chassis (not gateway-capable)"
    notes = [f"this node is a {role}"]
    if gateway and not mappings:
        ctx.fail(f"this node is a gateway chassis ({GATEWAY_OPTION}) but external_ids:ovn-bridge-mappings is "
                 "empty: it cannot host a gateway port for any external network", severity=Severity.high,
                 resource="ovn-bridge-mappings", evidence=node.evidence("ovn-cms-options"))
    if not gateway:
        notes.append("whether any gateway chassis exists needs the southbound database or the fleet view")
    bridges = ctx.facts.maybe(load_ovs_bridges)
    show = ctx.facts.maybe(load_ovs_show)
    for physnet, name in mappings:
        if bridges is not None and name not in bridges:
            ctx.fail(f"ovn-bridge-mappings maps {physnet} to {name}, which does not exist in OVS: ovn-controller "
                     f"cannot create the localnet port for {physnet} on this {role}", severity=Severity.high,
                     resource=name, evidence=node.evidence("ovn-bridge-mappings"))
            continue
        bridge = show.bridge(name) if show is not None else None
        if bridge is None:
            notes.append(f"ports of {name} not collected")
            continue
        if _uplinks(bridge):
            notes.append(f"{physnet} on {name} via {', '.join(_uplinks(bridge))}")
            continue
        routed = _host_routed(ctx, name)
        if routed is not None:
            notes.append(f"{physnet} on {name}: no physical port, but {name} holds {routed.excerpt} "
                         "(host-routed external network)")
            continue
        ctx.fail(f"{name} ({physnet}, mapped on this {role}) has only internal/patch ports and no physical uplink"
                 f"{_down_note(ctx, name)}: traffic on {physnet} never leaves the host", severity=Severity.high,
                 resource=name, evidence=[*node.evidence("ovn-bridge-mappings"), bridge.evidence()])
    return notes


def _down_note(ctx: CheckContext, bridge: str) -> str:
    table = ctx.facts.maybe(load_ovs_interfaces)
    record = table.by_name(bridge) if table is not None else None
    if record is not None and record.text("admin_state") == "down":
        return " (its internal port is administratively down, so it is not a host-routed bridge either)"
    if ctx.facts.maybe(load_links) is None:
        return " (unless it carries a host-routed address: ip address not collected)"
    return ""


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


# ---------------------------------------------------------------------------------------------------------
# OVN-004
# ---------------------------------------------------------------------------------------------------------

OVN_MIN_GENEVE_HEADER = 38
GENEVE_HEADER_DEFAULT = 30
TYPE_DRIVERS_DEFAULT = ["local", "flat", "vlan", "gre", "vxlan", "geneve"]
PROJECT_TYPES_DEFAULT = ["local"]
NB_DEFAULT = "tcp:127.0.0.1:6641"
SB_DEFAULT = "tcp:127.0.0.1:6642"
_NOVA_COMPUTE = re.compile(r"(?:^|[/\s])nova-compute(?:\s|$)")
_OVN_METADATA = re.compile(r"neutron-ovn-metadata-agent|networking-ovn-metadata-agent|neutron-ovn-agent")


def _ovn_option(ml2: IniFile, ovn: IniFile | None, key: str) -> IniValue | None:
    return ml2.get("ovn", key) or (ovn.get("ovn", key) if ovn is not None else None)


def _default_ev(ml2: IniFile, section: str, key: str, default: str) -> Evidence:
    return Evidence(source=ml2.sources[0] if ml2.sources else "etc/neutron/plugins/ml2/ml2_conf.ini",
                    excerpt=f"[{section}] {key} not set (default {default})")


def _unreachable(entry: str) -> str | None:
    remote = parse_remote(entry)
    if remote is None or remote.protocol == "unix" or remote.host is None or remote.port is None:
        return None
    try:
        with socket.create_connection((remote.host, remote.port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


@check(CheckMeta(
    id="OVN-004",
    title="ML2/OVN geneve settings (max_header_size >= 38, type drivers)",
    severity=Severity.high,
    area="ovn",
    tale=(
        "The OVN-in-containers team's ML2 configuration had to change in several places at once: the ovn "
        "mechanism driver, geneve among the type drivers and as the tenant network type, a geneve header "
        "size of 38 instead of the default, the northbound and southbound connections and metadata enabled. "
        "Each piece left at its ML2/OVS value breaks the server or the instances in a different way."
    ),
    description=(
        "On a node whose ml2_conf.ini loads the `ovn` mechanism driver: with geneve among `[ml2] type_drivers` "
        "(the default list includes it), `[ml2_type_geneve] max_header_size` below 38 (default 30) makes "
        "neutron-server log 'Geneve max_header_size set too low for OVN' and exit (high; critical when that "
        "line is in the log window); project network types (`project_network_types`, deprecated "
        "`tenant_network_types`) asking for geneve without the geneve type driver is high. On a live host every "
        "`[ovn] ovn_nb_connection` / `ovn_sb_connection` target is probed with a TCP connect (none reachable: "
        "critical; some: high). With `ovn_metadata_enabled` on a node that is also a compute, a missing OVN "
        "metadata agent process is high; for other computes it needs the agent API or the fleet view."
    ),
    risk=(
        "neutron-server refuses to start (API down) with a too-small geneve header; geneve networks cannot be "
        "created without the type driver; unreachable NB/SB databases stop every port update; instances get no "
        "metadata without the agent."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Show the effective ML2/OVN options.", commands=[
            "grep -E 'mechanism_drivers|type_drivers|network_types|max_header_size|ovn_(nb|sb)_connection|"
            "ovn_metadata_enabled' -r /etc/neutron",
            "grep 'Geneve max_header_size' /var/log/neutron/neutron-server.log",
        ]),
        RemediationStep(kind=StepKind.safe, text="Fix the configuration file (takes effect at the restart below).",
                        commands=["crudini --set /etc/neutron/plugins/ml2/ml2_conf.ini ml2_type_geneve "
                                  "max_header_size 38",
                                  "crudini --set /etc/neutron/plugins/ml2/ml2_conf.ini ml2 type_drivers "
                                  "flat,vlan,geneve"]),
        RemediationStep(kind=StepKind.destructive, text="Restart neutron-server (API outage while it restarts).",
                        commands=["systemctl restart neutron-server", "docker restart neutron_server  # Kolla"]),
    ],
    references=[
        "neutron neutron/plugins/ml2/drivers/ovn/mech_driver/mech_driver.py (geneve in type_drivers and "
        "max_header_size < OVN_MIN_GENEVE_MAX_HEADER_SIZE = 38: LOG.critical + SystemExit)",
        "neutron neutron/conf/plugins/ml2/drivers/driver_type.py (max_header_size default 30), "
        "neutron/conf/plugins/ml2/config.py (type_drivers default includes geneve; tenant_network_types "
        "deprecated for project_network_types), neutron/conf/plugins/ml2/drivers/ovn/ovn_conf.py (NB/SB lists)",
        "VXLAN-only OVN deployments (release UNVERIFIED) are not flagged by construction: the header rule needs "
        "geneve in type_drivers",
        "signature R-OVN-GENEVE-HDR",
    ],
    reads={
        "live": ["etc/neutron/plugins/ml2/ml2_conf.ini", "etc/neutron/ovn.ini", "cmd:ps auxwww",
                 "var/log/neutron/neutron-server.log*", "TCP connect to each NB/SB target (2 s)"],
        "sosreport": ["etc/neutron/plugins/ml2/ml2_conf.ini", "etc/neutron/ovn.ini", "sos_commands/process/ps_auxwwwm",
                      "var/log/neutron/neutron-server.log*"],
        "kolla": ["etc/kolla/neutron-server/ml2_conf.ini", "kolla_logs/_data/neutron/neutron-server.log"],
    },
))
def ml2_ovn_geneve(ctx: CheckContext) -> None:
    ml2 = ctx.facts.get(load_config, "ml2")
    drivers_opt = ml2.get("ml2", "mechanism_drivers")
    if "ovn" not in [d.lower() for d in as_list(drivers_opt)]:
        raise NotApplicable("the ML2 mechanism drivers on this node do not include ovn")
    ovn = ctx.facts.maybe(load_config, "ovn")
    types_opt = ml2.get("ml2", "type_drivers")
    types = [t.lower() for t in as_list(types_opt)] if types_opt is not None else TYPE_DRIVERS_DEFAULT
    types_ev = types_opt.evidence() if types_opt is not None else _default_ev(
        ml2, "ml2", "type_drivers", ",".join(TYPE_DRIVERS_DEFAULT))
    notes: list[str] = []
    if "geneve" in types:
        _header_size(ctx, ml2, types_ev, notes)
    project = ml2.first(("ml2", "project_network_types"), ("ml2", "tenant_network_types"))
    project_types = [t.lower() for t in as_list(project)] if project is not None else PROJECT_TYPES_DEFAULT
    if "geneve" in project_types and "geneve" not in types and project is not None:
        ctx.fail(f"[ml2] {project.key} asks for geneve project networks but type_drivers ({','.join(types)}) does "
                 "not load the geneve driver: project networks cannot be created", severity=Severity.high,
                 resource="type_drivers", evidence=[project.evidence(), types_ev])
    _connections(ctx, ml2, ovn, notes)
    _metadata(ctx, ml2, ovn, notes)
    if not ctx.outcomes:
        ctx.ok("ML2/OVN geneve settings are consistent" + (f" ({'; '.join(notes)})" if notes else ""),
               evidence=[drivers_opt.evidence()] if drivers_opt is not None else [])


def _header_size(ctx: CheckContext, ml2: IniFile, types_ev: Evidence, notes: list[str]) -> None:
    opt = ml2.get("ml2_type_geneve", "max_header_size")
    size = as_int(opt, GENEVE_HEADER_DEFAULT)
    if size >= OVN_MIN_GENEVE_HEADER:
        notes.append(f"geneve max_header_size {size}")
        return
    hits = signature_hits(ctx)
    logged = hits.get("R-OVN-GENEVE-HDR") if hits is not None else []
    evidence = [opt.evidence() if opt is not None else _default_ev(ml2, "ml2_type_geneve", "max_header_size",
                                                                    str(GENEVE_HEADER_DEFAULT)), types_ev]
    if logged:
        ctx.fail(f"[ml2_type_geneve] max_header_size is {size} (< {OVN_MIN_GENEVE_HEADER}) and neutron-server "
                 f"logged that it exits because of it ({len(logged)} time(s) in the window): the API is down",
                 severity=Severity.critical, resource="max_header_size", evidence=[*evidence, logged[-1].evidence()])
        return
    ctx.fail(f"[ml2_type_geneve] max_header_size is {size} (< {OVN_MIN_GENEVE_HEADER}) with geneve among the "
             "type drivers: neutron-server with the OVN driver refuses to start", severity=Severity.high,
             resource="max_header_size", evidence=evidence)


def _connections(ctx: CheckContext, ml2: IniFile, ovn: IniFile | None, notes: list[str]) -> None:
    if ctx.view.kind != "live":
        notes.append("NB/SB reachability is checked on live hosts only")
        return
    for key, default in (("ovn_nb_connection", NB_DEFAULT), ("ovn_sb_connection", SB_DEFAULT)):
        opt = _ovn_option(ml2, ovn, key)
        entries = as_list(opt) if opt is not None else [default]
        failed = [(e, reason) for e in entries if (reason := _unreachable(e)) is not None]
        if not failed:
            continue
        severity = Severity.critical if len(failed) == len(entries) else Severity.high
        what = "none of" if severity is Severity.critical else f"{len(failed)} of"
        ctx.report(severity, f"[ovn] {key}: {what} {len(entries)} target(s) accept TCP connections from this host "
                   f"({'; '.join(f'{e}: {r}' for e, r in failed)})", resource=key,
                   evidence=[opt.evidence() if opt is not None else _default_ev(ml2, "ovn", key, default)])


def _metadata(ctx: CheckContext, ml2: IniFile, ovn: IniFile | None, notes: list[str]) -> None:
    opt = _ovn_option(ml2, ovn, "ovn_metadata_enabled")
    if not as_bool(opt, False):
        return
    procs = ctx.facts.maybe(load_processes)
    if procs is None or not procs.matching(_NOVA_COMPUTE):
        notes.append("ovn_metadata_enabled: the metadata agents on the computes need the agent API or fleet view")
        return
    if procs.matching(_OVN_METADATA):
        return
    assert opt is not None
    compute = procs.matching(_NOVA_COMPUTE)[0]
    ctx.fail("[ovn] ovn_metadata_enabled = true and this node runs nova-compute, but no OVN metadata agent runs "
             "here: its instances get no metadata (no SSH keys, no cloud-init data)", severity=Severity.high,
             resource="ovn_metadata_enabled", evidence=[opt.evidence(), compute.evidence()])


# ---------------------------------------------------------------------------------------------------------
# OVN-005
# ---------------------------------------------------------------------------------------------------------

HOST_MOUNTS_HIGH = 10_000
UNKNOWN_LIMIT_CRITICAL = 30_000
MOUNT_MAX_SHARE = 0.5
NETNS_FACTOR = 2
_NETNS_CONTAINER = re.compile(r"neutron.*(?:dhcp|l3|metadata|ovn)|ovn.?metadata|networking.?ovn")
NETNS_PATH = "/run/netns"


def _census_findings(ctx: CheckContext, census: MountCensus, mount_max: int | None, where: str) -> int:
    problems = 0
    total = census.total
    limit = int(mount_max * MOUNT_MAX_SHARE) if mount_max else UNKNOWN_LIMIT_CRITICAL
    limit_text = (f"{MOUNT_MAX_SHARE:.0%} of fs.mount-max {mount_max}" if mount_max
                  else f"{UNKNOWN_LIMIT_CRITICAL} (fs.mount-max unknown)")
    evidence = [Evidence(source=census.source, excerpt=f"{total} mounts; by type: "
                         + ", ".join(f"{t} {n}" for t, n in census.by_type().most_common(4)))]
    benign = len(census.benign())
    if total > limit:
        ctx.fail(f"{where} has {total} mounts, above {limit_text}: mount(2) fails with ENOSPC at the limit and "
                 "namespaces, containers and instances can no longer be set up", severity=Severity.critical,
                 resource=where, evidence=evidence)
        problems += 1
    elif total - benign > HOST_MOUNTS_HIGH:
        ctx.fail(f"{where} has {total} mounts ({total - benign} not overlay/kubelet/autofs/network filesystems), "
                 f"more than {HOST_MOUNTS_HIGH}: the table is growing towards fs.mount-max", severity=Severity.high,
                 resource=where, evidence=evidence)
        problems += 1
    return problems


def _container_binds(ctx: CheckContext, containers: tuple[Container, ...]) -> int:
    problems = 0
    for container in containers:
        if not _NETNS_CONTAINER.search(container.name) or container.running is False:
            continue
        mount = container.mount_at(NETNS_PATH)
        if mount is not None and mount.source.rstrip("/") == NETNS_PATH and mount.shared:
            continue
        detail = (f"{NETNS_PATH} mounted from {mount.source or '?'} with propagation "
                  f"'{mount.propagation or 'private'}'" if mount is not None else f"no {NETNS_PATH} mount")
        ctx.fail(f"container {container.name} creates network namespaces but has {detail}: namespaces it creates "
                 "are not visible to the host (or are mounted again on every propagation), the seed's mount-table "
                 f"explosion; Kolla mounts {NETNS_PATH}:{NETNS_PATH}:shared", severity=Severity.high,
                 resource=container.name, evidence=[container.evidence(detail)])
        problems += 1
    return problems


@check(CheckMeta(
    id="OVN-005",
    title="Mount-table explosion / /run/netns not shared-bind-mounted",
    severity=Severity.critical,
    area="ovn",
    tale=(
        "Running the network agents in containers, a team watched a node's mount table fill up to 65536 "
        "entries: every namespace the containerised agents created was mounted again and again through "
        "propagation. Bind-mounting the host's /run/netns into the containers with shared propagation stopped "
        "the growth."
    ),
    description=(
        "Counts the host's mounts (proc/self/mountinfo, else the mount table, else `df -al`) and, in a "
        "sosreport, the fullest per-process mount table (the largest proc/<pid>/mountinfo, usually a "
        "container's). More than 50 % of `fs.mount-max` (or 30 000 when the limit is unknown, as on the seed's "
        "4.4 kernel) is critical; more than 10 000 mounts that are not overlay, kubelet pod volumes, autofs or "
        "network filesystems is high. nsfs mounts under /run/netns above twice the number of namespaces (`ip "
        "netns`: normally each appears once or twice, compute4 has exactly two per namespace) mean a "
        "propagation loop: critical. Network containers (neutron dhcp/l3/metadata/OVN agents) whose inspect "
        "data lacks a /run/netns bind from the host with shared or rshared propagation are high."
    ),
    risk=(
        "When the limit is reached mount(2) fails with ENOSPC: new routers, DHCP namespaces, containers and "
        "instances fail to start, and the node degrades until its mounts are cleaned or it is rebooted."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Measure the table and find the duplicated mounts.", commands=[
            "wc -l /proc/self/mountinfo; cat /proc/sys/fs/mount-max",
            "grep -c ' nsfs ' /proc/self/mountinfo; ls /run/netns | wc -l",
            "docker inspect -f '{{.Name}} {{json .Mounts}}' $(docker ps -q) | grep -v /run/netns",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Keep the Kolla default volume lists: do not override neutron_*_default_volumes without "
            "/run/netns:/run/netns:shared."), commands=[]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Recreate the affected containers (router/DHCP outage) and clean the leaked mounts, or reboot."),
            commands=["kolla-ansible deploy -t neutron --limit <host> -i <inventory>",
                      "umount /run/netns/<duplicated namespace>  # repeat for each duplicate"]),
    ],
    references=[
        "kolla-ansible ansible/roles/neutron/defaults/main.yml (/run/netns:/run/netns:shared for the namespace "
        "creating agents)",
        "man proc /proc/sys/fs/mount-max (since Linux 4.9, default 100000; ENOSPC beyond it); kernel "
        "Documentation/admin-guide/sysctl/fs",
        "sos report plugins filesys.py (proc/mounts, proc/self/mountinfo, proc/[0-9]*/mountinfo), docker.py / "
        "podman.py (inspect under containers/)",
    ],
    reads={
        "live": ["proc/self/mountinfo", "cmd:mount -l", "cmd:df -al", "cmd:sysctl -a (fs.mount-max)",
                 "cmd:ip netns", "var/lib/docker/containers/*/config.v2.json"],
        "sosreport": ["proc/self/mountinfo", "proc/[0-9]*/mountinfo", "sos_commands/filesys/mount_-l",
                      "proc/mounts", "sos_commands/filesys/df_-al_-x_autofs", "sos_commands/kernel/sysctl_-a",
                      "sos_commands/networking/ip_netns", "sos_commands/docker/containers/docker_inspect_*",
                      "sos_commands/podman/containers/podman_inspect_*"],
        "kolla": ["side bundle: docker inspect of every container, the host mount table"],
    },
))
def mount_table(ctx: CheckContext) -> None:
    census = ctx.facts.get(load_mount_census)
    sysctl = ctx.facts.maybe(load_sysctl)
    mount_max = sysctl.as_int("fs.mount-max") if sysctl is not None else None
    problems = _census_findings(ctx, census, mount_max, "host mount table")
    largest = ctx.facts.maybe(load_largest_namespace)
    if largest is not None and largest.total > census.total:
        pid = largest.source.split("/")[1] if largest.source.count("/") >= 2 else "?"
        problems += _census_findings(ctx, largest, mount_max, f"mount namespace of pid {pid}")
    nsfs = census.netns_nsfs()
    listed = ctx.view.command("ip netns") is not None or bool(ctx.view.namespaces())
    namespaces = len(ctx.view.namespaces())
    if listed and len(nsfs) > NETNS_FACTOR * namespaces:
        ctx.fail(f"{len(nsfs)} nsfs mounts under /run/netns for {namespaces} network namespaces (more than "
                 f"{NETNS_FACTOR} per namespace): namespace mounts are being multiplied by propagation",
                 severity=Severity.critical, resource="/run/netns",
                 evidence=[nsfs[0].evidence(), nsfs[-1].evidence()])
        problems += 1
    containers = ctx.facts.maybe(load_containers)
    if containers is not None:
        problems += _container_binds(ctx, containers)
    if not problems:
        limit = f"fs.mount-max {mount_max}" if mount_max else "fs.mount-max unknown"
        seen = f", {len(containers)} containers' /run/netns binds checked" if containers is not None else ""
        ns = f"{len(nsfs)} nsfs mounts for {namespaces} namespaces" if listed else "namespace list not collected"
        ctx.ok(f"{census.total} mounts on the host ({limit}); {ns}{seen}")


# ---------------------------------------------------------------------------------------------------------
# OVN-006
# ---------------------------------------------------------------------------------------------------------

_MOUNTING_CONTAINER = re.compile(r"neutron.*(?:dhcp|l3|metadata|ovn)|ovn.?metadata|nova_libvirt|nova_compute")
_RUNTIME_PROFILES = re.compile(r"^(?:docker-default|containers-default(?:-[\w.\-]+)?)$")


@check(CheckMeta(
    id="OVN-006",
    title="Container AppArmor/seccomp blocks mount in network containers",
    severity=Severity.medium,
    area="ovn",
    tale=(
        "On Ubuntu the same containerised network agents failed in a second way: Docker's default AppArmor "
        "profile forbids mount inside containers, even privileged-looking ones, so creating network namespaces "
        "failed until the containers ran without that confinement."
    ),
    description=(
        "From the container inspect data, flags network containers that create namespaces or mounts (neutron "
        "l3/dhcp/metadata/OVN agents, nova_libvirt/nova_compute) running under the runtime's default AppArmor "
        "profile (`docker-default`, podman `containers-default-*`) without being privileged or unconfined "
        "(medium). AppArmor mount denials in the kernel log window are high when their profile is a container "
        "runtime profile or the profile of one of those containers; denials for other profiles (LXD, snaps) "
        "are ignored. Hosts without AppArmor confinement (SELinux, podman with label=disable) do not apply."
    ),
    risk=(
        "The agents cannot create or enter network namespaces: routers, DHCP and metadata for new networks "
        "fail on this node while the containers keep running."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Show the containers' confinement and the denials.", commands=[
            "docker inspect -f '{{.Name}} {{.AppArmorProfile}} {{.HostConfig.Privileged}} "
            "{{.HostConfig.SecurityOpt}}' $(docker ps -q)",
            "journalctl -k | grep 'apparmor=\"DENIED\" operation=\"mount\"'",
            "aa-status",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Recreate the containers with the Kolla defaults (or per container `--security-opt "
            "apparmor=unconfined`); do not disable AppArmor host-wide."), commands=[
            "kolla-ansible deploy -t neutron --limit <host> -i <inventory>",
        ]),
    ],
    references=[
        "kolla-ansible ansible/roles/neutron/defaults/main.yml (security_opt apparmor=unconfined for "
        "neutron_ovn_vpn_agent; other network containers' settings UNVERIFIED: judged by profile and privilege)",
        "decision on the UNVERIFIED field order: kernel security/apparmor/audit.c audit_pre() prints apparmor=, "
        "operation=, [class=], [info=, error=], [namespace=], profile= in that order (signature R-APPARMOR-MOUNT)",
        "Docker runs privileged containers unconfined; podman on SELinux hosts has no AppArmor profile",
    ],
    reads={
        "live": ["var/lib/docker/containers/*/config.v2.json", "var/lib/docker/containers/*/hostconfig.json",
                 "cmd:dmesg", "var/log/kern.log*"],
        "sosreport": ["sos_commands/docker/containers/docker_inspect_*",
                      "sos_commands/podman/containers/podman_inspect_*", "var/log/kern.log*",
                      "sos_commands/kernel/dmesg", "sos_commands/logs/journalctl_--no-pager*"],
        "kolla": ["side bundle: docker inspect of every container"],
    },
))
def container_apparmor(ctx: CheckContext) -> None:
    containers = ctx.facts.maybe(load_containers) or ()
    hits = signature_hits(ctx)
    denials = hits.get("R-APPARMOR-MOUNT") if hits is not None and hits.covered("R-APPARMOR-MOUNT") else []
    mounting = [c for c in containers if _MOUNTING_CONTAINER.search(c.name)]
    profiles = {c.apparmor_profile for c in mounting if c.apparmor_profile}
    relevant = [h for h in denials
                if _RUNTIME_PROFILES.match(h.groups.get("profile", "")) or h.groups.get("profile") in profiles]
    ignored = len(denials) - len(relevant)
    if not containers and not relevant:
        other = f"; {ignored} AppArmor mount denial(s) for non-container profiles ignored" if ignored else ""
        raise NotApplicable(f"no container inspect data (docker/podman){other}")
    if containers and not relevant and all(not c.apparmor_profile for c in containers):
        raise NotApplicable("no container runs under AppArmor (SELinux or podman host)")
    if relevant:
        count = hits.count("R-APPARMOR-MOUNT") - ignored if hits is not None else len(relevant)
        ctx.fail(f"AppArmor denied mount {max(count, len(relevant))} time(s) in the log window for container "
                 f"profile {relevant[-1].groups.get('profile')}: namespace/mount operations inside the containers "
                 "fail", severity=Severity.high, resource="apparmor",
                 evidence=[relevant[0].evidence(), *([relevant[-1].evidence()] if len(relevant) > 1 else [])])
    for container in mounting:
        profile = container.apparmor_profile or ""
        if not _RUNTIME_PROFILES.match(profile) or container.privileged or container.unconfined_apparmor:
            continue
        ctx.warn(f"{container.name} runs under the default AppArmor profile {profile} and is not privileged: "
                 "mount (and so `ip netns add`) is denied inside it", severity=Severity.medium,
                 resource=container.name, evidence=[container.evidence(f"AppArmorProfile {profile}, "
                                                                       f"Privileged {container.privileged}")])
    if not ctx.outcomes:
        ctx.ok(f"{len(mounting)} network container(s) unconfined or privileged; no container mount denial"
               + (f" ({ignored} denial(s) for other profiles ignored)" if ignored else ""))


# ---------------------------------------------------------------------------------------------------------
# OVN-007
# ---------------------------------------------------------------------------------------------------------

_OVS_AGENT = re.compile(r"neutron-openvswitch-agent")


def _patch_links(show: OvsShow) -> dict[frozenset[str], dict[str, list[Evidence]]]:
    """{bridge pair: {"ml2": [...], "ovn": [...]}} for patch ports joining two bridges."""
    owner = {i.name: b.name for b, _p, i in show.interfaces()}
    out: dict[frozenset[str], dict[str, list[Evidence]]] = {}
    for bridge, _port, iface in show.interfaces():
        if iface.type != "patch":
            continue
        peer = iface.options.get("peer", "")
        other = owner.get(peer)
        if other is None or other == bridge.name:
            continue
        if "provnet" in iface.name:
            kind = "ovn"
        elif iface.name.startswith(("int-", "phy-")):
            kind = "ml2"
        else:
            continue
        out.setdefault(frozenset((bridge.name, other)), {}).setdefault(kind, []).append(iface.evidence())
    return out


@check(CheckMeta(
    id="OVN-007",
    title="Leftover ML2/OVS patch ports beside OVN provnet ports",
    severity=Severity.medium,
    area="ovn",
    tale=(
        "After moving from ML2/OVS to OVN in containers, a team found two sets of patch ports between br-int "
        "and br-ex: the old agent's int-br-ex/phy-br-ex pair and OVN's patch-provnet pair. Both connected the "
        "same two bridges, so the old pair had to be removed by hand."
    ),
    description=(
        "On an OVN chassis (external_ids:ovn-remote set) reads `ovs-vsctl show`: a bridge pair joined both by an "
        "ML2/OVS pair (`int-<br>` on br-int, `phy-<br>` on the provider bridge) and by OVN's "
        "`patch-br-int-to-provnet-*` / `patch-provnet-*-to-br-int` pair is a duplicate L2 path (medium); a "
        "neutron-openvswitch-agent process on an OVN chassis is medium too. Both are expected only during an "
        "ML2/OVS to OVN migration window."
    ),
    risk=(
        "Two paths between the same bridges can loop or flood provider-network traffic (consequence "
        "UNVERIFIED), and a running OVS agent keeps programming flows that fight OVN's."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="List the patch ports and agents.", commands=[
            "ovs-vsctl show | grep -B1 -A3 'type: patch'",
            "ps -ef | grep neutron-openvswitch-agent",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "After confirming OVN's provnet patch exists, delete the old pair and stop the OVS agent."), commands=[
            "ovs-vsctl del-port br-int int-br-ex",
            "ovs-vsctl del-port br-ex phy-br-ex",
            "systemctl disable --now neutron-openvswitch-agent  # or remove the Kolla container",
        ]),
    ],
    references=[
        "seed S3 (Kolla phy-br-ex/int-br-ex beside OVN patch-provnet ports)",
        "neutron OVN migration tooling (neutron/cmd/ovn/migration_mtu.py; full procedure not reviewed)",
        "neutron ovs_neutron_agent.py (int-/phy- patch port naming), ovn-controller localnet patch ports",
    ],
    reads={
        "live": ["cmd:ovs-vsctl list Open_vSwitch", "cmd:ovs-vsctl show", "cmd:ps auxwww"],
        "sosreport": ["sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch",
                      "sos_commands/openvswitch/ovs-vsctl_-t_5_show", "sos_commands/process/ps_auxwwwm"],
        "kolla": ["side bundle: docker exec openvswitch_vswitchd ovs-vsctl show, docker ps -a"],
    },
))
def leftover_patch_ports(ctx: CheckContext) -> None:
    node = ovn_node(ctx)
    if node.record is None:
        raise MissingEvidence("sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch "
                              "(cmd: ovs-vsctl list Open_vSwitch)")
    if not node.ids.get("ovn-remote", "").strip():
        raise NotApplicable("not an OVN chassis (external_ids:ovn-remote not set)")
    show = ctx.facts.get(load_ovs_show)
    for pair, kinds in sorted(_patch_links(show).items(), key=lambda kv: sorted(kv[0])):
        if "ml2" in kinds and "ovn" in kinds:
            a, b = sorted(pair)
            ctx.warn(f"{a} and {b} are joined twice: by ML2/OVS patch ports and by OVN's provnet patch ports "
                     "(a duplicate L2 path; expected only mid-migration)", severity=Severity.medium,
                     resource=f"{a}<->{b}", evidence=[*kinds["ml2"][:2], *kinds["ovn"][:2]])
    procs = ctx.facts.maybe(load_processes)
    agents = procs.matching(_OVS_AGENT) if procs is not None else []
    if agents:
        ctx.warn("neutron-openvswitch-agent runs on this OVN chassis: it programs br-int flows that conflict with "
                 "ovn-controller (expected only during an ML2/OVS to OVN migration)", severity=Severity.medium,
                 resource="neutron-openvswitch-agent", evidence=[agents[0].evidence(), *node.evidence("ovn-remote")])
    if not ctx.outcomes:
        seen = "process list not collected" if procs is None else "no neutron-openvswitch-agent process"
        ctx.ok(f"no ML2/OVS patch pair duplicates an OVN provnet patch; {seen}")
