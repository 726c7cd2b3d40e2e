"""Cross-node checks (`stackrx fleet`): what no single node can show.

Each reads only the hosts' `facts["fleet"]` blocks (built by `stackrx.facts.fleetfacts`), so SSH collection,
directories of sosreports and directories of per-node JSON results are judged alike. Findings are reported
on the hosts they concern; a check that found nothing reports one pass on host `fleet`.

HA-F01, DB-F01 and NET-002 are shared ids: other commands or the node scan register them (API view in
`stackrx cloud`, SQL view in `stackrx db`, NET-002's node part in checks/net.py). The fleet runs their
cross-node halves under the same ids with the registered metadata; `HA_F01_META`, `DB_F01_META` and
`NET_002_META` describe the cross-node half and are used only when no other module registered the id.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from stackrx.engine import REGISTRY, CheckContext, CheckFn, RegisteredCheck, check
from stackrx.errors import NotApplicable
from stackrx.facts.fleetfacts import router_active
from stackrx.fleet.crossnode import (
    SKEW_LIMIT_S,
    FleetView,
    Node,
    fleet_of,
    hosts_text,
    majority,
    outliers,
    report_on,
    skew_s,
    skew_text,
)
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

FLEET = ["fleet"]


def fleet_meta(**fields: Any) -> CheckMeta:
    """CheckMeta for a catalogue fleet id (`NET-F01`): models.CheckMeta's id pattern (`F?\\d{3}`) rejects F plus
    two digits; until it accepts them the other fields are validated under a stand-in id."""
    try:
        return CheckMeta(**fields)
    except ValidationError:
        return CheckMeta(**{**fields, "id": "FLT-999"}).model_copy(update={"id": fields["id"]})


def _reads(*items: str) -> dict[str, list[str]]:
    return {"fleet": ["facts.fleet of every host (stackrx.facts.fleetfacts), from: " + "; ".join(items)]}


def _servers(fleet: FleetView) -> list[tuple[Node, dict[str, Any]]]:
    return [(n, sec) for n, sec in fleet.with_section("neutron") if sec.get("server")]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _opt_evidence(sec: dict[str, Any], key: str, default: Any) -> list[Evidence | dict[str, Any] | None]:
    found = sec.get("evidence", {}).get(key)
    return [found] if found else [Evidence(source="neutron config", excerpt=f"{key} not set (default {default})")]


# ------------------------------------------------------------------------------------------------------
# NET-F01
# ------------------------------------------------------------------------------------------------------
SERVER_MTU_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("global_physnet_mtu", 1500), ("path_mtu", 0), ("physical_network_mtus", {}), ("max_header_size", 30))


def _consensus(servers: list[tuple[Node, dict[str, Any]]], key: str) -> Any:
    values = {_canon(sec.get(key)) for _n, sec in servers}
    return servers[0][1].get(key) if servers and len(values) == 1 else None


@check(fleet_meta(
    id="NET-F01",
    title="MTU consistency per physnet / tunnel underlay across nodes",
    severity=Severity.high,
    area="net",
    tale=(
        "A new cloud's instances froze whenever an SSH session printed more than a screenful, while short "
        "commands worked. The cause was a size mismatch on the path: full-size packets fit on one hop and were "
        "dropped on the next. Node by node each setting looked plausible; only side by side did the odd one show."
    ),
    description=(
        "Compares across hosts: (1) the MTU options of every neutron-server node (global_physnet_mtu, "
        "[ml2] path_mtu, physical_network_mtus, [ml2_type_geneve] max_header_size) — any disagreement is high, "
        "since a network's MTU then depends on the API worker that created it; (2) per physnet, the MTU of the "
        "uplink carrying it on every host that maps it (bridge_mappings / physical_interface_mappings / "
        "ovn-bridge-mappings; hosts that do not map a physnet are not compared) — differing MTUs, or an uplink "
        "below the MTU the servers configure for that physnet, are high; (3) the MTU of the device holding "
        "each host's tunnel endpoint ([ovs] local_ip or ovn-encap-ip) — differing, or below the underlay MTU "
        "min(global_physnet_mtu, path_mtu), is high. The odd host out (against the majority) is reported; "
        "with no majority every differing host is."
    ),
    risk=(
        "Networks get an MTU that some hosts cannot carry: large packets between instances on those hosts are "
        "dropped while small ones pass, so sessions hang, transfers stall and VRRP or tunnel keepalives may "
        "fail only on some nodes."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Compare the MTUs and options side by side.", commands=[
            "ip -d link show <uplink>",
            "grep -rE 'global_physnet_mtu|path_mtu|physical_network_mtus|max_header_size' /etc/neutron",
            "ping -M do -s <mtu - 28> -c 2 <peer tunnel endpoint>",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Align the NIC (and switch port) MTUs of the odd hosts, make the neutron-server options identical "
            "everywhere and restart neutron-server; existing networks keep their stored MTU."), commands=[
            "ip link set dev <uplink> mtu <mtu of the other hosts>",
            "openstack network set --mtu <n> <network>",
        ]),
    ],
    references=[
        "neutron neutron/conf/common.py, neutron/conf/plugins/ml2/config.py, "
        "neutron/plugins/ml2/drivers/{type_tunnel,type_vxlan,type_geneve}.py, doc/source/admin/config-mtu.rst",
        "Annotating HA-F01 split brain with the smallest MTU: done in HA-F01's message",
    ],
    modes=FLEET,
    reads=_reads("neutron.conf / ml2_conf.ini of neutron-server hosts", "agent mappings",
                 "ip -d link (sysfs mtu when commands could not run)", "ovs-vsctl show / list Open_vSwitch"),
))
def mtu_consistency(ctx: CheckContext) -> None:
    fleet = fleet_of(ctx)
    servers = _servers(fleet)
    judged: list[str] = []
    if len(servers) >= 2:
        judged.append(f"{len(servers)} neutron-server hosts")
        for key, default in SERVER_MTU_OPTIONS:
            values = {n.name: _canon(sec.get(key, default)) for n, sec in servers}
            for node, sec in servers:
                if node.name not in outliers(values):
                    continue
                others = sorted({v for h, v in values.items() if h != node.name})
                ctx_msg = (f"neutron-server option {key} = {values[node.name]} here, but {', '.join(others)} on "
                           f"{hosts_text(h for h in values if values[h] != values[node.name])}: a network's MTU "
                           "depends on which server created it")
                report_on(ctx, node.name, Severity.high, ctx_msg, resource=f"neutron:{key}",
                          evidence=_opt_evidence(sec, key, default))
    global_mtu = _consensus(servers, "global_physnet_mtu")
    physnet_mtus = _consensus(servers, "physical_network_mtus")
    path_mtu = _consensus(servers, "path_mtu")

    by_physnet: dict[str, dict[str, tuple[int, str, list[Any]]]] = defaultdict(dict)
    for node, entries in fleet.with_section("physnets"):
        for e in entries:
            if e.get("mtu") is None:
                continue
            known = by_physnet[e["physnet"]].get(node.name)
            if known is None or e["mtu"] < known[0]:
                by_physnet[e["physnet"]][node.name] = (e["mtu"], e.get("device") or "?", e.get("evidence", []))
    for physnet, per_host in sorted(by_physnet.items()):
        mtus = {h: v[0] for h, v in per_host.items()}
        want: int | None = None
        if global_mtu is not None and physnet_mtus is not None:
            want = int(physnet_mtus.get(physnet, global_mtu))
        odd = set(outliers(mtus))
        low = {h for h, m in mtus.items() if want is not None and m < want}
        judged.append(f"physnet {physnet} on {len(mtus)} hosts")
        for host in sorted(odd | low):
            mtu, device, evidence = per_host[host]
            parts = []
            if host in odd:
                other_mtus = sorted({m for h, m in mtus.items() if m != mtu})
                parts.append(f"other hosts carry it with MTU {', '.join(map(str, other_mtus))} "
                             f"({hosts_text(h for h in mtus if mtus[h] != mtu)})")
            if host in low:
                parts.append(f"the neutron servers give its networks MTU {want}")
            report_on(ctx, host, Severity.high,
                      f"physnet {physnet} is carried by {device} with MTU {mtu} here; " + "; ".join(parts)
                      + ": packets above the smaller MTU are dropped on the way", resource=f"physnet:{physnet}",
                      evidence=evidence)

    tunnels = {n.name: (sec["mtu"], sec.get("device") or "?", sec.get("evidence", []), sec)
               for n, sec in fleet.with_section("tunnel") if sec.get("mtu") is not None}
    if tunnels:
        judged.append(f"tunnel endpoints on {len(tunnels)} hosts")
        mtus = {h: v[0] for h, v in tunnels.items()}
        underlay: int | None = None
        if global_mtu is not None:
            underlay = min(global_mtu, path_mtu) if path_mtu else global_mtu
        odd = set(outliers(mtus))
        low = {h for h, m in mtus.items() if underlay is not None and m < underlay}
        for host in sorted(odd | low):
            mtu, device, evidence, sec = tunnels[host]
            parts = []
            if host in odd:
                other_mtus = sorted({m for h, m in mtus.items() if m != mtu})
                parts.append(f"other tunnel endpoints have MTU {', '.join(map(str, other_mtus))} "
                             f"({hosts_text(h for h in mtus if mtus[h] != mtu)})")
            if host in low:
                parts.append(f"below the underlay MTU {underlay} neutron computes tunnel networks from")
            report_on(ctx, host, Severity.high,
                      f"tunnel endpoint {sec.get('ip')} is on {device} with MTU {mtu}; " + "; ".join(parts),
                      resource="tunnel", evidence=evidence)
    if not judged:
        raise NotApplicable("no host reports neutron-server options, physnet uplinks or tunnel endpoints with "
                            "an MTU")
    if not ctx.outcomes:
        ctx.ok("MTUs agree: " + "; ".join(judged) + f" ({skew_text(fleet.nodes)})")


# ------------------------------------------------------------------------------------------------------
# NET-F02
# ------------------------------------------------------------------------------------------------------
L3_MODES = ("legacy", "dvr_snat")


def _label_key(label: str) -> str:
    return re.sub(r"[\s_\-.]", "", label.lower())


def _mapped(node: Node) -> dict[str, list[Any]]:
    """Physnet label -> evidence of the mapping naming it, over every agent of the node."""
    out: dict[str, list[Any]] = defaultdict(list)
    for e in node.section("physnets") or []:
        out[e["physnet"]].extend(e.get("evidence", [])[:1])
    ovn = node.section("ovn") or {}
    for physnet in ovn.get("bridge_mappings") or {}:
        out[physnet].append((ovn.get("evidence") or {}).get("ovn-bridge-mappings"))
    return out


def _l3_capable(node: Node) -> bool:
    l3 = node.section("l3") or {}
    ovn = node.section("ovn") or {}
    return bool(l3 and l3.get("agent_mode") in L3_MODES) or bool(ovn.get("gateway"))


@check(fleet_meta(
    id="NET-F02",
    title="Physnet labels: server (ml2) vs every agent / chassis",
    severity=Severity.high,
    area="net",
    tale=(
        "An operator adding a second external network had to touch the server's ml2 settings, every L3 agent's "
        "bridge mappings and the agents' external bridge options, on several nodes. The label `physnet2` has to "
        "be spelled the same everywhere; a node that misses it only shows when a router fails over to it."
    ),
    description=(
        "Compares physnet labels across hosts: (1) neutron-server hosts that disagree on "
        "[ml2_type_flat] flat_networks or the physnets of [ml2_type_vlan] network_vlan_ranges → high; "
        "(3) a physnet mapped on some L3-capable hosts (L3 agent in legacy/dvr_snat mode, or OVN gateway chassis "
        "with enable-chassis-as-gw) but not on others → high on the hosts lacking it (HA router failover or "
        "gateway rescheduling to them breaks); (4) spelling variants of one label (case, `-`, `_`) across "
        "hosts → high on the hosts using the variant the servers (else most hosts) do not. Check (2), a physnet "
        "used by an existing network but mapped nowhere, needs the networks from the API and is not done here."
    ),
    risk=(
        "Ports on a provider or external network fail to bind (binding_failed) on the hosts whose mapping lacks "
        "or misspells the label: routers and instances scheduled there have no connectivity, typically "
        "discovered during a failover."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="List the labels each host maps and the server allows.", commands=[
            "grep -rE 'bridge_mappings|physical_interface_mappings|flat_networks|network_vlan_ranges' /etc/neutron",
            "ovs-vsctl get Open_vSwitch . external_ids:ovn-bridge-mappings",
            "openstack network agent list --long",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Use one spelling everywhere and map the physnet on every L3-capable host (agent restart)."),
            commands=[
                "crudini --set /etc/neutron/plugins/ml2/openvswitch_agent.ini ovs bridge_mappings "
                "physnet1:br-ex,physnet2:br-ex2",
                "systemctl restart neutron-openvswitch-agent",
            ]),
    ],
    references=[
        "neutron neutron/conf/plugins/ml2/drivers/{ovs_conf,driver_type}.py, ovs_neutron_agent.py",
        "neutron neutron/common/ovn/constants.py (enable-chassis-as-gw)",
        "Check (2) needs the API (networks' provider:physical_network): not done in a fleet run",
    ],
    modes=FLEET,
    reads=_reads("ml2_conf.ini of neutron-server hosts", "bridge_mappings / physical_interface_mappings",
                 "ovn-bridge-mappings, ovn-cms-options", "l3_agent.ini agent_mode"),
))
def physnet_labels(ctx: CheckContext) -> None:
    fleet = fleet_of(ctx)
    servers = _servers(fleet)
    judged: list[str] = []
    server_labels: set[str] = set()
    if servers:
        for key in ("flat_networks", "vlan_physnets"):
            values = {n.name: _canon(sorted(sec.get(key) or (["*"] if key == "flat_networks" else []))) for n, sec
                      in servers}
            for node, sec in servers:
                if node.name in outliers(values):
                    option = "flat_networks" if key == "flat_networks" else "network_vlan_ranges"
                    report_on(ctx, node.name, Severity.high,
                              f"neutron-server allows {option} physnets {values[node.name]} here, but "
                              f"{hosts_text(h for h in values if values[h] != values[node.name])} allow "
                              f"{', '.join(sorted({v for v in values.values() if v != values[node.name]}))}",
                              resource=f"neutron:{option}",
                              evidence=_opt_evidence(sec, option, "*" if key == "flat_networks" else "none"))
            for _n, sec in servers:
                server_labels.update(p for p in sec.get(key) or () if p != "*")
        judged.append(f"{len(servers)} neutron-server hosts")

    mapped = {n.name: _mapped(n) for n in fleet.nodes}
    l3_hosts = [n for n in fleet.nodes if _l3_capable(n) and mapped[n.name]]
    if len(l3_hosts) >= 2:
        judged.append(f"{len(l3_hosts)} L3-capable hosts")
        union: dict[str, set[str]] = defaultdict(set)
        for n in l3_hosts:
            for label in mapped[n.name]:
                union[label].add(n.name)
        for n in l3_hosts:
            for label, holders in sorted(union.items()):
                if label in mapped[n.name]:
                    continue
                have = sorted(mapped[n.name])
                report_on(ctx, n.name, Severity.high,
                          f"physnet {label} is mapped on L3-capable hosts {hosts_text(holders)} but not here "
                          f"(this host maps {', '.join(have) or 'nothing'}): routers failing over or gateways "
                          f"rescheduled to this host cannot bind their {label} ports",
                          resource=f"physnet:{label}",
                          evidence=[ev for label_ev in mapped[n.name].values() for ev in label_ev[:1]])

    spellings: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for host, labels in mapped.items():
        for label in labels:
            spellings[_label_key(label)][label].add(host)
    for label in server_labels:
        spellings[_label_key(label)][label].add("(neutron-server)")
    for _key, variants in sorted(spellings.items()):
        if len(variants) < 2:
            continue
        by_server = [v for v in variants if v in server_labels]
        canonical = by_server[0] if len(by_server) == 1 else majority(
            {f"{h}|{v}": v for v, hosts in variants.items() for h in hosts})
        for variant, hosts in sorted(variants.items()):
            if variant == canonical:
                continue
            others = ", ".join(f"'{v}'" for v in sorted(variants) if v != variant)
            for host in sorted(hosts - {"(neutron-server)"}):
                report_on(ctx, host, Severity.high,
                          f"physnet label '{variant}' here is a spelling variant of {others} used elsewhere: "
                          "neutron compares labels exactly, so this mapping matches no network",
                          resource=f"physnet:{variant}", evidence=mapped[host].get(variant, []))
    if any(mapped.values()):
        judged.append(f"physnet labels of {sum(1 for m in mapped.values() if m)} hosts")
    if not judged:
        raise NotApplicable("no host reports physnet mappings or neutron-server physnet options")
    if not ctx.outcomes:
        ctx.ok("physnet labels agree: " + "; ".join(judged))


# ------------------------------------------------------------------------------------------------------
# CMP-F01
# ------------------------------------------------------------------------------------------------------
class _Groups:
    """Union-find over host names: hosts that use one instances store end up in one group."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def groups(self) -> list[list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return [sorted(v) for v in out.values()]


def _cleans(sec: dict[str, Any]) -> bool:
    return bool(sec.get("remove_unused")) and sec.get("interval") != -1 and sec.get("images_type") != "rbd"


@check(fleet_meta(
    id="CMP-F01",
    title="More than one compute runs image-cache removal on the same shared store",
    severity=Severity.critical,
    area="compute",
    tale=(
        "Computes of a research cloud kept their instance disks on one NFS export. Each compute's image-cache "
        "pass decided on its own which _base files were unused; one pass, blind to instances of a compute that "
        "happened to be down, deleted backing files those instances still needed, and they would not boot."
    ),
    description=(
        "Groups computes by the store holding their instances_path: the NFS/cluster-filesystem source "
        "(`server:/export`) plus the path below its mount point (same server but another export or "
        "subdirectory is another store), and computes that list each other in the store's compute_nodes file. "
        "In a group of two or more: members with removal enabled (remove_unused_base_images true, "
        "manager_interval ≠ -1, images_type not rbd) on the same cache subdirectory → critical, each; members "
        "mounting the same store under different instances_path strings → critical (their compute_nodes files "
        "differ, so neither counts the other's instances); differing remove_unused_original_minimum_age_seconds "
        "→ info (the smallest wins)."
    ),
    risk=(
        "A compute's cache pass deletes base files of instances it cannot see (a compute down over 24 h, or one "
        "using another path to the same export): those instances lose their backing disk and cannot start."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Keep removal on exactly one 'janitor' compute per share: set manager_interval = -1 (or "
            "remove_unused_base_images = False) on the others and restart nova-compute (guests keep running)."),
            commands=[
                "crudini --set /etc/nova/nova.conf image_cache manager_interval -1",
                "systemctl restart nova-compute",
            ]),
        RemediationStep(kind=StepKind.safe, text="Or give each compute its own cache directory.", commands=[
            "crudini --set /etc/nova/nova.conf image_cache subdirectory_name '_base_$my_ip'",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Cleaning _base by hand deletes data other computes may use: back it up and check every "
            "instance's backing chain first."), commands=[
            "for d in /var/lib/nova/instances/*/disk; do qemu-img info -U --backing-chain \"$d\"; done",
        ]),
    ],
    references=[
        "nova nova/conf/imagecache.py ('only run on one nova-compute service within a shared storage "
        "aggregate'), nova/virt/storage_users.py, nova/virt/libvirt/imagecache.py",
        "Launchpad bug 1029674",
    ],
    modes=FLEET,
    reads=_reads("nova.conf [DEFAULT]/[image_cache]/[libvirt]", "mount -l / proc/mounts / df",
                 "<instances_path>/compute_nodes"),
))
def shared_image_cache(ctx: CheckContext) -> None:
    fleet = fleet_of(ctx)
    computes = dict((n.name, (n, sec)) for n, sec in fleet.with_section("nova_compute"))
    if not computes:
        raise NotApplicable("no libvirt compute among the hosts")
    groups = _Groups()
    store_of: dict[str, str] = {}
    by_store: dict[str, list[str]] = defaultdict(list)
    for name, (_node, sec) in computes.items():
        groups.find(name)
        store = sec.get("store") or {}
        if store.get("shared"):
            key = f"{store.get('device')}/{store.get('below') or ''}".rstrip("/")
            store_of[name] = key
            by_store[key].append(name)
    for members in by_store.values():
        for other in members[1:]:
            groups.union(members[0], other)
    for name, (_node, sec) in computes.items():
        users = [u for u in sec.get("compute_nodes") or () if u in computes and u != name]
        for user in users:
            groups.union(name, user)
    shared_groups = [g for g in groups.groups() if len(g) >= 2]
    for group in shared_groups:
        where = sorted({store_of[h] for h in group if h in store_of}) or ["one directory (compute_nodes)"]
        secs = {h: computes[h][1] for h in group}
        cleaners: dict[str, list[str]] = defaultdict(list)
        for h, sec in secs.items():
            if _cleans(sec):
                cleaners[sec.get("subdirectory") or "_base"].append(h)
        for subdir, hosts in sorted(cleaners.items()):
            if len(hosts) < 2:
                continue
            for h in hosts:
                sec = secs[h]
                report_on(ctx, h, Severity.critical,
                          f"instances_path {sec['instances_path']} is on {', '.join(where)}, shared with "
                          f"{hosts_text(x for x in group if x != h)}; image-cache removal runs on {len(hosts)} of "
                          f"them ({hosts_text(hosts)}) over the same {subdir}: each deletes base files it "
                          "believes unused, including those of instances it does not see",
                          resource=sec["instances_path"], evidence=sec.get("evidence", []))
        paths = {h: secs[h]["instances_path"] for h in group if h in store_of}
        if len(set(paths.values())) > 1:
            for h, path in sorted(paths.items()):
                others = sorted({f"{p} on {x}" for x, p in paths.items() if p != path})
                report_on(ctx, h, Severity.critical,
                          f"{store_of[h]} is mounted as instances_path {path} here but as {', '.join(others)}: "
                          "the computes register in different compute_nodes files and do not count each other's "
                          "instances when cleaning the image cache", resource=path,
                          evidence=secs[h].get("evidence", []))
        ages = {h: secs[h].get("min_age") for h in group if _cleans(secs[h])}
        if len(set(ages.values())) > 1:
            report_on(ctx, group[0], Severity.info,
                      f"computes sharing {', '.join(where)} differ in remove_unused_original_minimum_age_seconds "
                      f"({', '.join(f'{h}={a}' for h, a in sorted(ages.items()))}): the smallest wins",
                      resource=secs[group[0]]["instances_path"])
    if not any(r.status.value in ("fail", "warn") for r in ctx.outcomes):
        shared = f"{len(shared_groups)} shared store(s)" if shared_groups else "no shared instances store"
        ctx.ok(f"{len(computes)} libvirt computes, {shared}: at most one runs image-cache removal per store")


# ------------------------------------------------------------------------------------------------------
# CON-F01
# ------------------------------------------------------------------------------------------------------
PROTOCOLS = (("spice", "spice"), ("vnc", "novnc"))
URL_OPTION = {"spice": "spice.html5proxy_base_url", "vnc": "vnc.novncproxy_base_url"}
PROXY_SERVICE = {"spice": "nova-spicehtml5proxy", "vnc": "nova-novncproxy"}


def _address_owner(fleet: FleetView, host: str) -> Node | None:
    for n in fleet.nodes:
        ident = n.section("identity") or {}
        if host in (n.name, ident.get("hostname")) or host in (ident.get("addresses") or ()):
            return n
    return None


@check(fleet_meta(
    id="CON-F01",
    title="Console settings consistent across computes and proxies",
    severity=Severity.high,
    area="console",
    tale=(
        "Turning on the SPICE HTML5 console on an older release meant editing nova.conf on the controller that "
        "runs the proxy and on every compute, with different options on each side. Miss one compute, or point "
        "its base URL at the wrong host, and consoles work for some instances and not for others."
    ),
    description=(
        "Within each group of computes sharing a message bus (transport_url host: a cell; per-cell proxies are "
        "not compared with each other): computes disagreeing on which consoles are enabled ([vnc] enabled, "
        "[spice] enabled) → high; differing html5proxy_base_url / novncproxy_base_url → medium; two computes "
        "with the same server_proxyclient_address → high; a base URL whose host is a scanned node that runs no "
        "proxy for that console → high; a URL port different from the html5proxy_port / novncproxy_port of "
        "the proxy node it names → high. URLs naming a host outside the scan (a VIP, a DNS name) are not judged."
    ),
    risk="Console requests fail for the instances of some computes only ('console is currently unavailable').",
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Compare the console options of every compute and proxy.",
                        commands=["grep -E '^\\[(vnc|spice)\\]|enabled|base_url|proxyclient|proxy_port' "
                                  "/etc/nova/nova.conf"]),
        RemediationStep(kind=StepKind.safe, text=(
            "Make the computes' console options identical (except server_proxyclient_address, each compute's own "
            "address) and restart nova-compute; running guests keep the graphics devices they were built with."),
            commands=["systemctl restart nova-compute"]),
    ],
    references=["nova nova/conf/spice.py, nova/conf/vnc.py, doc/source/admin/remote-console-access.rst"],
    modes=FLEET,
    reads=_reads("nova.conf [vnc]/[spice]/[DEFAULT] transport_url", "ps (nova-spicehtml5proxy, nova-novncproxy)"),
))
def console_consistency(ctx: CheckContext) -> None:
    fleet = fleet_of(ctx)
    computes = [(n, sec) for n, sec in fleet.with_section("console") if "compute" in n.roles]
    if len(computes) < 2:
        raise NotApplicable(f"needs two or more computes with nova.conf, {len(computes)} found")
    cells: dict[str, list[tuple[Node, dict[str, Any]]]] = defaultdict(list)
    for n, sec in computes:
        cells[sec.get("cell") or "?"].append((n, sec))
    for members in cells.values():
        if len(members) < 2:
            continue
        enabled = {n.name: ", ".join(p for p, _ in PROTOCOLS if sec[p]["enabled"]) or "none"
                   for n, sec in members}
        for n, sec in members:
            if n.name in outliers(enabled):
                ev = [sec["evidence"].get(f"{p}.enabled") for p, _ in PROTOCOLS]
                report_on(ctx, n.name, Severity.high,
                          f"consoles enabled here: {enabled[n.name]}; on "
                          f"{hosts_text(h for h in enabled if enabled[h] != enabled[n.name])}: "
                          f"{', '.join(sorted({v for v in enabled.values() if v != enabled[n.name]}))}: console "
                          "access works for some instances only", resource="console:protocols", evidence=ev)
        for proto, _proxy in PROTOCOLS:
            on = [(n, sec[proto], sec) for n, sec in members if sec[proto]["enabled"]]
            urls = {n.name: p["base_url"] or "(default)" for n, p, _s in on}
            for n, _p, sec in on:
                if n.name in outliers(urls):
                    report_on(ctx, n.name, Severity.medium,
                              f"{proto} base URL here is {urls[n.name]}, other computes use "
                              f"{', '.join(sorted({u for u in urls.values() if u != urls[n.name]}))}",
                              resource=f"console:{proto}:base_url", evidence=[sec["evidence"].get(URL_OPTION[proto])])
            by_address: dict[str, list[str]] = defaultdict(list)
            for n, p, _s in on:
                if p.get("proxyclient"):
                    by_address[p["proxyclient"]].append(n.name)
            for address, hosts in by_address.items():
                if len(hosts) < 2:
                    continue
                for h in hosts:
                    sec = next(s for n, s in members if n.name == h)
                    report_on(ctx, h, Severity.high,
                              f"{proto} server_proxyclient_address {address} is also set on "
                              f"{hosts_text(x for x in hosts if x != h)}: the proxy connects to one of them for "
                              "every console", resource=f"console:{proto}:proxyclient",
                              evidence=[sec["evidence"].get(f"{proto}.server_proxyclient_address")])
    for n, sec in computes:
        for proto, proxy in PROTOCOLS:
            p = sec[proto]
            if not p["enabled"] or not p.get("base"):
                continue
            host, port = p["base"]
            owner = _address_owner(fleet, host)
            if owner is None:
                continue
            url_ev = [sec["evidence"].get(URL_OPTION[proto])]
            owner_console = owner.section("console") or {}
            running = proxy in (owner_console.get("proxies") or ())
            if not running and (owner.section("services") or {}).get("running") is not None:
                report_on(ctx, n.name, Severity.high,
                          f"{proto} base URL {p['base_url']} points at {owner.name}, which runs no "
                          f"{PROXY_SERVICE[proto]}",
                          resource=f"console:{proto}:base_url", evidence=url_ev)
            elif running and owner_console.get(proto, {}).get("proxy_port") != port:
                report_on(ctx, n.name, Severity.high,
                          f"{proto} base URL {p['base_url']} uses port {port}, but the proxy on {owner.name} "
                          f"listens on {owner_console[proto]['proxy_port']}", resource=f"console:{proto}:base_url",
                          evidence=url_ev)
    if not ctx.outcomes:
        ctx.ok(f"console settings agree across {len(computes)} computes in {len(cells)} cell(s)")


# ------------------------------------------------------------------------------------------------------
# OVN-F01
# ------------------------------------------------------------------------------------------------------
@check(fleet_meta(
    id="OVN-F01",
    title="Duplicate chassis identity across nodes (system-id / encap IP / hostname)",
    severity=Severity.critical,
    area="ovn",
    tale=(
        "A team moving Kolla to OVN chose fixed UUIDs as chassis system-ids ahead of time to keep deployments "
        "systematic. That works until two hosts end up with the same identity — a cloned image, a copied "
        "config, two short hostnames that collide — and the southbound database sees one chassis flapping."
    ),
    description=(
        "Across OVN chassis (hosts with ovn-* keys in the OVS database, ovn-controller running, or its log): the "
        "same external_ids:system-id on two or more hosts → critical; the same ovn-encap-ip → critical; the same "
        "external_ids:hostname → critical; an ovsdb_idl log line `Transaction causes multiple rows in \"Encap\" "
        "table to have identical values (...)` on a host → critical. Kolla sets system-id to the short hostname, "
        "so hosts with equal short names in different domains collide too. Hosts that are one node given twice "
        "(same hostname and addresses) are merged before this check."
    ),
    risk=(
        "Two ovn-controllers fight over one Chassis row: port bindings move between them and tunnels are "
        "rebuilt continuously, so instances on both hosts lose connectivity intermittently."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Confirm on each host and in the southbound database.", commands=[
            "ovs-vsctl get Open_vSwitch . external_ids",
            "ovn-sbctl list Chassis",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Give each chassis a unique system-id, delete the stale southbound row, restart ovn-controller "
            "(port bindings move)."), commands=[
            "ovs-vsctl set Open_vSwitch . external_ids:system-id=$(uuidgen)",
            "ovn-sbctl chassis-del <old-system-id>",
            "systemctl restart ovn-controller",
        ]),
    ],
    references=[
        "kolla-ansible ansible/roles/openvswitch/defaults/main.yml (openvswitch_system_id: ansible_facts.hostname)",
        "ovsdb_idl 'Transaction causes multiple rows in \"Encap\" table' (real log line; signature R-OVN-ENCAP-DUP)",
    ],
    modes=FLEET,
    reads=_reads("ovs-vsctl list Open_vSwitch external_ids (etc/openvswitch/system-id.conf)",
                 "ovn-controller logs (R-OVN-ENCAP-DUP)"),
))
def chassis_identity(ctx: CheckContext) -> None:
    fleet = fleet_of(ctx)
    chassis = fleet.with_section("ovn")
    if not chassis:
        raise NotApplicable("no OVN chassis among the hosts")
    for key, what, ev_key in (("system_id", "system-id", "system-id"), ("encap_ip", "ovn-encap-ip", "ovn-encap-ip"),
                              ("hostname", "external_ids:hostname", "hostname")):
        holders: dict[str, list[tuple[Node, dict[str, Any]]]] = defaultdict(list)
        for n, sec in chassis:
            if sec.get(key):
                holders[str(sec[key])].append((n, sec))
        for value, nodes in sorted(holders.items()):
            if len(nodes) < 2:
                continue
            names = [n.name for n, _s in nodes]
            short = (" (Kolla derives system-id from the short hostname)"
                     if key == "system_id" and all(value == n.name.split(".")[0] for n, _s in nodes) else "")
            for n, sec in nodes:
                report_on(ctx, n.name, Severity.critical,
                          f"OVN {what} {value} is also used by {hosts_text(x for x in names if x != n.name)}{short}: "
                          "the chassis fight over one southbound identity", resource=f"ovn:{what}:{value}",
                          evidence=[(sec.get("evidence") or {}).get(ev_key)])
    for n, sec in chassis:
        for hit in sec.get("encap_duplicates") or ():
            report_on(ctx, n.name, Severity.critical,
                      f"ovn-controller logged that another chassis registered encap IP {hit.get('ip') or '?'}: "
                      "duplicate chassis identity in the southbound database", resource=f"ovn:encap:{hit.get('ip')}",
                      evidence=[hit])
    if not ctx.outcomes:
        ctx.ok(f"{len(chassis)} OVN chassis: system-ids, encap IPs and hostnames are distinct")


# ------------------------------------------------------------------------------------------------------
# NET-002 (fleet drift part)
# ------------------------------------------------------------------------------------------------------
NET_002_META = fleet_meta(
    id="NET-002",
    title="Conntrack sysctl drift across same-role nodes (fleet part)",
    severity=Severity.low,
    area="net",
    tale=(
        "CERN's hypervisors dropped packets once the conntrack table filled, and the fix was to raise the limit "
        "on every one of them and make it stick across reboots. A limit raised by hand on some hosts and never "
        "persisted comes back as drift: the next busy host is the one that was missed."
    ),
    description=(
        "Groups hosts by their inferred roles and compares the running nf_conntrack_max (`sysctl -a`, else "
        "/proc/sys/net/netfilter/nf_conntrack_max): hosts of the same roles with a different value than most of "
        "their peers → low. The node-side parts of NET-002 (configured-but-not-applied values, the dual "
        "net.nf_conntrack_max key) are node checks and not part of this fleet rule."
    ),
    risk="The hosts left at a smaller limit fill their table first and drop new connections under load.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Set one value on every host of the role, persistently, with nf_conntrack loaded early."), commands=[
            "echo 'net.netfilter.nf_conntrack_max = <value>' > /etc/sysctl.d/90-nf-conntrack.conf",
            "echo nf_conntrack > /etc/modules-load.d/nf_conntrack.conf",
            "sysctl --system",
        ]),
    ],
    references=["sos sos/report/plugins/kernel.py (sysctl files)", "kernel docs networking/nf_conntrack-sysctl"],
    modes=FLEET,
    reads=_reads("sysctl -a (net.netfilter.nf_conntrack_max)", "proc/sys/net/netfilter/nf_conntrack_max"),
)


def conntrack_drift(ctx: CheckContext) -> None:
    fleet = fleet_of(ctx)
    by_role: dict[tuple[str, ...], dict[str, tuple[int, Any]]] = defaultdict(dict)
    for n, sec in fleet.with_section("conntrack"):
        by_role[n.roles][n.name] = (int(sec["nf_conntrack_max"]), sec.get("evidence"))
    if not by_role:
        raise NotApplicable("no host reports nf_conntrack_max")
    for roles, hosts in sorted(by_role.items()):
        values = {h: v[0] for h, v in hosts.items()}
        label = "+".join(roles) or "unknown-role"
        for h in outliers(values):
            others = ", ".join(str(v) for v in sorted(set(values.values())) if v != values[h])
            report_on(ctx, h, Severity.low,
                      f"nf_conntrack_max {values[h]} here, {others} on other {label} hosts "
                      f"({hosts_text(x for x in values if values[x] != values[h])})",
                      resource="net.netfilter.nf_conntrack_max", evidence=[hosts[h][1]])
    if not ctx.outcomes:
        ctx.ok("nf_conntrack_max is uniform within each role: " + "; ".join(
            f"{'+'.join(r) or 'unknown-role'} {sorted(set(v[0] for v in h.values()))[0]} on {len(h)} hosts"
            for r, h in sorted(by_role.items())))


# ------------------------------------------------------------------------------------------------------
# HA-F01 (node-side half) and DB-F01 (snapshot half): ids shared with `stackrx cloud` / `stackrx db`
# ------------------------------------------------------------------------------------------------------
HA_F01_META = fleet_meta(
    id="HA-F01",
    title="L3HA: exactly one active instance per router (fleet)",
    severity=Severity.critical,
    area="ha",
    tale=(
        "Neutron HA routers run keepalived in a namespace on each network node, and a state file tells which "
        "node believes it is master. If VRRP adverts stop crossing the HA network, two nodes answer for the same "
        "gateway; if neither does, the router's tenants are cut off. Only the nodes side by side show it."
    ),
    description=(
        "For every HA router found in the hosts' ha_confs directories (L3 agents in legacy or dvr_snat mode; dvr "
        "computes ignored): a host counts as active when its state file says primary/master, keepalived runs for "
        "the router (when a process list was collected) and at least one virtual_ipaddress_excluded address is "
        "up in its namespace (when namespace addresses were collected). Two or more active → critical split "
        "brain; none active while the router has interface/gateway addresses → critical (high when some hosts "
        "of the run could not be collected). Inputs collected more than 5 minutes apart → medium 'inconsistent "
        "snapshot' instead; a state file rewritten < 60 s before collection → failover in progress, not judged."
    ),
    risk="Split brain: the gateway answers from two nodes and connections break at random. None: no forwarding.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Look at VRRP on the HA network of the nodes involved.", commands=[
            "cat /var/lib/neutron/ha_confs/<router-id>/state",
            "ip netns exec qrouter-<router-id> tcpdump -ni <ha-interface> -c 5 vrrp",
        ]),
        RemediationStep(kind=StepKind.destructive, text="Force a clean election (router outage while it runs).",
                        commands=["openstack router set --disable <router-id> && "
                                  "openstack router set --enable <router-id>"]),
    ],
    references=["neutron neutron/agent/l3/ha.py, ha_router.py (_check_and_set_real_state)",
                "neutron commit 055036ba2b (master -> primary)"],
    modes=FLEET,
    reads=_reads("var/lib/neutron/ha_confs/<id>/{state,keepalived.conf}", "ps (keepalived)",
                 "ip netns exec qrouter-<id>|snat-<id> ip -d address", "l3_agent.ini agent_mode"),
)


def _mtu_note(fleet: FleetView, names: list[str]) -> str:
    mtus = {n.name: (n.section("tunnel") or {}).get("mtu") for n in fleet.nodes if n.name in names}
    known = {h: m for h, m in mtus.items() if m is not None}
    if len(set(known.values())) < 2:
        return ""
    low = min(known.values())
    return (f"; tunnel MTUs differ ({', '.join(f'{h} {m}' for h, m in sorted(known.items()))}): VRRP adverts may "
            f"be lost on {hosts_text(h for h, m in known.items() if m == low)}")


def l3ha_single_active(ctx: CheckContext) -> None:
    fleet = fleet_of(ctx)
    routers: dict[str, list[tuple[Node, dict[str, Any]]]] = defaultdict(list)
    for n, sec in fleet.with_section("l3"):
        if sec.get("agent_mode") == "dvr":
            continue
        for rid, router in (sec.get("routers") or {}).items():
            routers[rid].append((n, router))
    if not routers:
        raise NotApplicable("no host has L3 HA routers (ha_confs) on an L3 agent in legacy/dvr_snat mode")
    for rid, entries in sorted(routers.items()):
        nodes = [n for n, _r in entries]
        resource = f"router {rid}"
        if any(r.get("transition") for _n, r in entries):
            ctx.ok(f"router {rid}: a state file was rewritten < 60 s before collection: failover in progress, "
                   "not judged", resource=resource)
            continue
        active = [(n, r) for n, r in entries if router_active(r)]
        names = [n.name for n, _r in active]
        skew = skew_s(nodes)
        unverified = [n.name for n, r in active if r.get("keepalived") is None]
        note = (f" (keepalived not verified on {hosts_text(unverified)}: no process list)" if unverified else "")
        if len(active) >= 2:
            if skew is not None and skew > SKEW_LIMIT_S:
                for n, r in active:
                    report_on(ctx, n.name, Severity.medium,
                              f"router {rid}: state files say active on {hosts_text(names)}, but the inputs were "
                              f"collected {skew:.0f} s apart: inconsistent snapshot, re-collect before judging",
                              resource=resource, evidence=r.get("evidence", []))
                continue
            for n, r in active:
                report_on(ctx, n.name, Severity.critical,
                          f"router {rid}: active on {len(active)} hosts ({hosts_text(names)}), split brain: "
                          f"the same gateway and interface addresses answer from several nodes{note}"
                          f"{_mtu_note(fleet, names)} ({skew_text(nodes)})", resource=resource,
                          evidence=r.get("evidence", []))
        elif not active and len(entries) == 1:
            # One standby is all the run holds of this router: its primary is most likely on a node that was
            # not given (neutron schedules up to max_l3_agents_per_router replicas), so nothing can be judged.
            (n, r), = entries
            ctx.ok(f"router {rid}: only {n.name} ({r.get('raw') or r.get('state')}) holds it in this run; the "
                   "other replicas were not given, so whether one is active cannot be judged here",
                   resource=resource)
        elif not active and any(r.get("has_addresses") for _n, r in entries):
            missing = fleet.missing
            severity = Severity.high if missing else Severity.critical
            extra = (f"; {len(missing)} host(s) of this run could not be collected and may hold it"
                     if missing else "")
            states = ", ".join(f"{n.name} {r.get('raw') or r.get('state')}" for n, r in entries)
            rogue = [n.name for n, r in entries if r.get("vips")]
            if rogue:
                extra += (f"; {hosts_text(rogue)} carries the router's addresses although its state file does not "
                          "say primary (state writer and keepalived disagree: HA-001)")
            for n, r in entries:
                report_on(ctx, n.name, severity,
                          f"router {rid}: no active instance among {len(entries)} hosts ({states}){extra}",
                          resource=resource, evidence=r.get("evidence", []))
        else:
            standby = [n.name for n, _r in entries if n.name not in names]
            ctx.ok(f"router {rid}: active on {hosts_text(names) or 'none (no addresses)'}"
                   + (f", standby on {hosts_text(standby)}" if standby else "") + f"{note} ({skew_text(nodes)})",
                   resource=resource)


DB_F01_META = fleet_meta(
    id="DB-F01",
    title="Galera cluster agreement across nodes (fleet)",
    severity=Severity.critical,
    area="db",
    tale=(
        "Each Galera node can look healthy alone while the members disagree about the cluster: after an "
        "upgrade no MariaDB node rejoined, and a careless recovery can bootstrap a second Primary component "
        "that accepts writes next to the first."
    ),
    description=(
        "From snapshots: the last Galera 'Quorum results' block of each member's error log (component, conf_id, "
        "members joined/total, group UUID) and grastate.dat. Per cluster name: a last block NON-PRIMARY → "
        "critical; Primary members with different group UUIDs → critical (two independent clusters, double "
        "bootstrap); the same UUID with different conf_id / member totals → critical when the blocks are "
        "within 5 minutes of each other, else high (a member missed a later membership change or its log "
        "rotated); joined < total → high; grastate.dat uuids that differ (all-zero = wiped node ignored) → "
        "critical. Inputs collected more than 5 minutes apart turn the split verdicts into medium "
        "'inconsistent snapshot'. Live status is DB-F01 of `stackrx db`."
    ),
    risk="Two Primary components accept diverging writes: data loss when they are merged back.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Compare the members' view live.", commands=[
            "mysql -N -e \"SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_state_uuid',"
            "'wsrep_cluster_conf_id','wsrep_cluster_size','wsrep_cluster_status')\"",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Split: back up the smaller side, stop it and let it rejoin with a full SST; never bootstrap two "
            "nodes."), commands=["mysqldump --single-transaction --all-databases > split-side-backup.sql"]),
    ],
    references=["galera gcs 'Quorum results' printf (signature R-GALERA-Q)",
                "kolla-ansible ansible/roles/mariadb/tasks/lookup_cluster.yml"],
    modes=FLEET,
    reads=_reads("MariaDB/MySQL error logs (R-GALERA-Q)", "var/lib/mysql/grastate.dat",
                 "wsrep_cluster_address / wsrep_cluster_name in my.cnf"),
)


def _when(q: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(q["timestamp"]) if q.get("timestamp") else None
    except ValueError:
        return None


def galera_agreement(ctx: CheckContext) -> None:
    fleet = fleet_of(ctx)
    clusters: dict[str, list[tuple[Node, dict[str, Any]]]] = defaultdict(list)
    for n, sec in fleet.with_section("galera"):
        if sec.get("quorum") or sec.get("grastate"):
            clusters[sec.get("cluster_name") or "my_wsrep_cluster"].append((n, sec))
    judged = [(name, members) for name, members in clusters.items() if len(members) >= 2]
    if not judged:
        raise NotApplicable(f"needs two or more Galera members with a quorum block or grastate.dat "
                            f"({sum(len(m) for m in clusters.values())} found)")
    for name, members in judged:
        nodes = [n for n, _s in members]
        skew = skew_s(nodes)
        stale = skew is not None and skew > SKEW_LIMIT_S
        split = Severity.medium if stale else Severity.critical
        stale_note = f" (inputs collected {skew:.0f} s apart: inconsistent snapshot)" if stale else ""
        quorum = [(n, s["quorum"]) for n, s in members if s.get("quorum")]
        for n, q in quorum:
            if q.get("component") == "NON-PRIMARY":
                report_on(ctx, n.name, Severity.critical,
                          f"cluster {name}: the last quorum block on this member is NON-PRIMARY (conf_id "
                          f"{q.get('conf_id')}, members {q.get('joined')}/{q.get('total')})", resource=f"galera:{name}",
                          evidence=[q.get("evidence")])
            elif q.get("joined", 0) < q.get("total", 0):
                report_on(ctx, n.name, Severity.high,
                          f"cluster {name}: last quorum block shows {q['joined']}/{q['total']} members joined",
                          resource=f"galera:{name}", evidence=[q.get("evidence")])
        primary = [(n, q) for n, q in quorum if q.get("component") == "PRIMARY"]
        uuids = {n.name: q.get("uuid") for n, q in primary}
        if len(set(uuids.values())) > 1:
            groups = ", ".join(f"{u} on {hosts_text(h for h in uuids if uuids[h] == u)}"
                               for u in sorted({str(v) for v in uuids.values()}))
            for n, q in primary:
                report_on(ctx, n.name, split,
                          f"cluster {name}: Primary components with different group UUIDs ({groups}): two "
                          f"independent clusters (double bootstrap){stale_note}", resource=f"galera:{name}",
                          evidence=[q.get("evidence")])
        elif primary:
            views = {n.name: (q.get("conf_id"), q.get("total")) for n, q in primary}
            times = [t for _n, q in primary if (t := _when(q)) is not None]
            close = len(times) == len(primary) and (max(times) - min(times)).total_seconds() <= SKEW_LIMIT_S
            for h in outliers(views):
                q = next(q for n, q in primary if n.name == h)
                others = sorted({f"conf_id {c}, {t} members" for x, (c, t) in views.items() if x != h})
                report_on(ctx, h, split if close else Severity.high,
                          f"cluster {name}: this member's last view is conf_id {q.get('conf_id')} with "
                          f"{q.get('total')} members, others saw {'; '.join(others)}"
                          + ("" if close else ": it missed a later membership change (or its log rotated)")
                          + (stale_note if close else ""), resource=f"galera:{name}", evidence=[q.get("evidence")])
        states = {n.name: s["grastate"]["uuid"] for n, s in members
                  if s.get("grastate") and not s["grastate"].get("wiped")}
        if len(set(states.values())) > 1:
            for h in outliers(states):
                sec = next(s for n, s in members if n.name == h)
                report_on(ctx, h, split,
                          f"cluster {name}: grastate.dat uuid {states[h]} differs from "
                          f"{', '.join(sorted({u for x, u in states.items() if x != h}))} on the other members"
                          f"{stale_note}", resource=f"galera:{name}", evidence=[sec["grastate"].get("evidence")])
        if not [r for r in ctx.outcomes if r.resource == f"galera:{name}"]:
            q0 = primary[0][1] if primary else {}
            ctx.ok(f"cluster {name}: {hosts_text(n.name for n in nodes)} agree"
                   + (f" (group UUID {q0.get('uuid')}, conf_id {q0.get('conf_id')}, members "
                      f"{q0.get('joined')}/{q0.get('total')})" if q0 else "") + f"; {skew_text(nodes)}",
                   resource=f"galera:{name}")


# ------------------------------------------------------------------------------------------------------
SHARED: tuple[tuple[CheckMeta, CheckFn], ...] = ((HA_F01_META, l3ha_single_active), (DB_F01_META, galera_agreement),
                                                 (NET_002_META, conntrack_drift))
OWN: tuple[CheckFn, ...] = (mtu_consistency, physnet_labels, shared_image_cache, console_consistency,
                            chassis_identity)


def fleet_checks() -> dict[str, RegisteredCheck]:
    """Every cross-node check by id. Shared ids keep the metadata their owning module registered."""
    out = {reg.meta.id: reg for reg in REGISTRY.values() if reg.fn in OWN}
    for meta, fn in SHARED:
        registered = REGISTRY.get(meta.id)
        out[meta.id] = RegisteredCheck(registered.meta if registered is not None else meta, fn)
    return out
