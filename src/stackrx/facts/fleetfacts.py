"""The facts cross-node checks compare, as one JSON-safe block in the host summary (`facts["fleet"]`).

`stackrx fleet` never re-reads a node: the SSH path, the sosreport-directory path and a directory of
per-node `stackrx scan --format json` results all end in `HostSummary.facts["fleet"]`, and the cross-node
checks (NET-F01/F02, CMP-F01, HA-F01, DB-F01, CON-F01, OVN-F01, NET-002 drift) read only that. Every
value that can become a finding keeps its evidence (`{"source", "line", "excerpt"}`, as `Evidence`).

Block layout (every key optional: a section whose inputs are missing is left out):

    identity   {hostname, addresses: [ip...], collected_at}
    services   {running: [name...] | None (no process list), configured: [name...]}
    roles      [compute | network | controller | storage ...]
    neutron    {server: bool, global_physnet_mtu, path_mtu, physical_network_mtus: {physnet: mtu},
                max_header_size, overlay_ip_version, flat_networks: [...], vlan_physnets: [...], evidence: {...}}
    physnets   [{physnet, agent: ovs|linuxbridge|ovn, bridge, device, mtu, evidence: [...]}]
    tunnel     {ip, types, device, mtu, evidence: [...]}
    l3         {agent_mode, routers: {id: {state, raw, keepalived: bool|None, vips: bool|None,
                has_addresses: bool, transition: bool, evidence: [...]}}}
    ovn        {system_id, hostname, encap_ip, encap_type, bridge_mappings: {...}, gateway: bool,
                evidence: {...}, encap_duplicates: [evidence...]}
    nova_compute {instances_path, store: {device, fstype, target, shared, below}, remove_unused, interval,
                min_age, subdirectory, images_type, compute_nodes: [host...], evidence: [...]}
    console    {cell, vnc: {...}, spice: {...}, proxies: [spice|novnc], evidence: {...}}
    galera     {cluster_name, members: [...], quorum: {...}, grastate: {...}, evidence: {...}}
    conntrack  {nf_conntrack_max, evidence}

Where a command could not run (an sftp-only account, a sosreport without a plugin) a few facts fall back to
files the kernel or the service keeps: interface MTUs from `sys/class/net/<dev>/mtu`, OVS uplinks from the
persistent network configuration, the OVS system-id from `etc/openvswitch/system-id.conf`, the conntrack
limit from `proc/sys/net/netfilter/nf_conntrack_max`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from stackrx.checks.compute import image_cache_settings, instances_path, storage_users
from stackrx.errors import MissingEvidence, NotApplicable, ParseError
from stackrx.facts import Facts
from stackrx.facts.galera import ZERO_UUID, load_galera_config, load_grastate
from stackrx.facts.ini import IniFile, IniValue, as_bool, as_dict, as_int, as_list, load_config
from stackrx.facts.iproute import LinkTable, load_links, load_netns_links
from stackrx.facts.keepalived import ACTIVE, HaRouter, load_ha_routers
from stackrx.facts.kernel import ProcessTable, load_processes
from stackrx.facts.logs import Hit, load_signature_hits
from stackrx.facts.mounts import load_df, load_mounts, locate, normpath
from stackrx.facts.netconfig import load_netconfig
from stackrx.facts.ovs import OvsShow, load_open_vswitch, load_ovs_show
from stackrx.facts.sysctl import load_sysctl
from stackrx.models import Evidence
from stackrx.sources.base import HostView

FACTS_VERSION = 1

# Running services, by a regex over the `ps` command line. Names are what the role inference and the
# console / neutron-server checks ask for.
SERVICE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("nova-compute", "nova-compute"),
    ("nova-api", "nova-api"),
    ("nova-conductor", "nova-conductor"),
    ("nova-scheduler", "nova-scheduler"),
    ("nova-spicehtml5proxy", "nova-spicehtml5proxy"),
    ("nova-novncproxy", "nova-novncproxy"),
    ("neutron-server", "neutron-server"),
    ("neutron-l3-agent", "neutron-l3-agent"),
    ("neutron-dhcp-agent", "neutron-dhcp-agent"),
    ("neutron-metadata-agent", "neutron-metadata-agent"),
    ("neutron-openvswitch-agent", "neutron-openvswitch-agent"),
    ("neutron-linuxbridge-agent", "neutron-linuxbridge-agent"),
    ("neutron-ovn-metadata-agent", "neutron-ovn-metadata-agent"),
    ("ovn-controller", "ovn-controller"),
    ("ovn-northd", "ovn-northd"),
    ("ovn-sb-db", "ovnsb_db"),
    ("ovs-vswitchd", "ovs-vswitchd"),
    ("keepalived", "keepalived"),
    ("libvirtd", "(?:libvirtd|virtqemud)"),
    ("qemu", r"qemu-(?:system-\w+|kvm)"),
    ("mariadb", "(?:mariadbd|mysqld)"),
    ("rabbitmq", "rabbitmq-server"),
    ("keystone", r"(?:keystone-all|keystone-wsgi-public|wsgi:keystone[\w-]*)"),
    ("glance-api", "glance-api"),
    ("cinder-volume", "cinder-volume"),
    ("swift-object-server", "swift-object-server"),
    ("ceph-osd", "ceph-osd"),
)
# Whole names only: `nova-api` must not match nova-api-metadata, nor `keystone` a path like keystone-router.
_SERVICE_RES = tuple((name, re.compile(rf"(?<![\w-]){rx}(?![\w-])")) for name, rx in SERVICE_PATTERNS)

ROLE_SERVICES: dict[str, frozenset[str]] = {
    "compute": frozenset({"nova-compute", "libvirtd", "qemu"}),
    "network": frozenset({"neutron-l3-agent", "neutron-dhcp-agent", "neutron-metadata-agent"}),
    "controller": frozenset({"nova-api", "nova-conductor", "nova-scheduler", "neutron-server", "keystone",
                             "glance-api", "mariadb", "rabbitmq", "ovn-northd", "ovn-sb-db",
                             "nova-spicehtml5proxy", "nova-novncproxy"}),
    "storage": frozenset({"cinder-volume", "swift-object-server", "ceph-osd"}),
}
STORAGE_MOUNTS = ("/srv/node/", "/var/lib/ceph/osd/")

_OVS_KERNEL_TYPES = frozenset({"", "system"})
# Per-instance and per-router devices: never a physnet uplink, and too many to read one by one from sysfs.
NOT_UPLINK_PREFIXES = ("tap", "qvo", "qvb", "qbr", "vnet", "qr-", "qg-", "ha-", "sg-", "fg-", "o-hm",
                       "genev_sys", "vxlan_sys", "gre_sys")
SYSTEM_ID_CONF = "etc/openvswitch/system-id.conf"
_SECTION = Callable[[Facts], Any]


def ev(e: Evidence) -> dict[str, Any]:
    return e.model_dump()


def _ini(facts: Facts, service: str) -> IniFile | None:
    try:
        return facts.maybe(load_config, service)
    except ParseError:
        return None


def _text_value(value: IniValue | None) -> str | None:
    return value.value.strip() if value is not None and value.value.strip() else None


# -- identity, services, roles ----------------------------------------------------------------------------
def _links(facts: Facts) -> LinkTable | None:
    try:
        return facts.maybe(load_links)
    except ParseError:
        return None


def identity(facts: Facts) -> dict[str, Any]:
    view = facts.view
    addresses: list[str] = []
    links = _links(facts)
    for _link, addr in links.addresses() if links is not None else []:
        ip = addr.ip
        if ip is not None and not (ip.is_loopback or ip.is_link_local):
            addresses.append(str(ip))
    when = view.collected_at()
    return {"hostname": view.hostname(), "addresses": sorted(set(addresses)),
            "collected_at": when.astimezone(UTC).isoformat() if when else None}


def _processes(facts: Facts) -> ProcessTable | None:
    try:
        return facts.maybe(load_processes)
    except ParseError:
        return None


def running_services(procs: ProcessTable) -> list[str]:
    found: set[str] = set()
    for proc in procs:
        if proc.command.startswith(("grep ", "egrep ", "pgrep ")):
            continue
        found.update(name for name, rx in _SERVICE_RES if rx.search(proc.command))
    return sorted(found)


def configured_services(facts: Facts) -> list[str]:
    """Services whose configuration says this node runs them (the only hint without a process list)."""
    out: set[str] = set()
    nova = _ini(facts, "nova")
    if nova is not None and _text_value(nova.get("DEFAULT", "compute_driver")):
        out.add("nova-compute")
    neutron = _ini(facts, "neutron")
    if neutron is not None and _text_value(neutron.get("database", "connection")):
        out.add("neutron-server")
    if _ini(facts, "l3_agent") is not None:
        out.add("neutron-l3-agent")
    return sorted(out)


def services(facts: Facts) -> dict[str, Any]:
    procs = _processes(facts)
    return {"running": running_services(procs) if procs is not None else None,
            "configured": configured_services(facts)}


def _storage_mounts(facts: Facts) -> bool:
    try:
        mounts = facts.maybe(load_mounts)
        targets = [m.target for m in mounts.mounts] if mounts is not None else []
        if not targets:
            df = facts.maybe(load_df)
            targets = [r.target for r in df.rows] if df is not None else []
    except ParseError:
        return False
    return any(t.startswith(STORAGE_MOUNTS) for t in targets)


def infer_roles(svc: dict[str, Any], *, ha_routers: bool, gateway_chassis: bool, storage_mounts: bool) -> list[str]:
    names = set(svc.get("running") or ()) | set(svc.get("configured") or ())
    roles = {role for role, wanted in ROLE_SERVICES.items() if names & wanted}
    if ha_routers or gateway_chassis:
        roles.add("network")
    if storage_mounts:
        roles.add("storage")
    return sorted(roles)


# -- neutron server options -------------------------------------------------------------------------------
def neutron(facts: Facts) -> dict[str, Any] | None:
    conf = _ini(facts, "neutron")
    ml2 = _ini(facts, "ml2")
    if conf is None and ml2 is None:
        return None
    evidence: dict[str, Any] = {}

    def opt(ini: IniFile | None, section: str, key: str) -> IniValue | None:
        value = ini.get(section, key) if ini is not None else None
        if value is not None:
            evidence[key] = ev(value.evidence())
        return value

    mtus = {k: int(v) for k, v in as_dict(opt(ml2, "ml2", "physical_network_mtus")).items() if v.isdigit()}
    flat = as_list(opt(ml2, "ml2_type_flat", "flat_networks"))
    vlan = [item.split(":", 1)[0] for item in as_list(opt(ml2, "ml2_type_vlan", "network_vlan_ranges"))]
    procs = _processes(facts)
    running = procs is not None and "neutron-server" in running_services(procs)
    db = conf.get("database", "connection") if conf is not None else None
    return {
        "server": running or (procs is None and _text_value(db) is not None),
        "global_physnet_mtu": as_int(opt(conf, "DEFAULT", "global_physnet_mtu"), 1500),
        "path_mtu": as_int(opt(ml2, "ml2", "path_mtu"), 0),
        "physical_network_mtus": mtus,
        "max_header_size": as_int(opt(ml2, "ml2_type_geneve", "max_header_size"), 30),
        "overlay_ip_version": as_int(opt(ml2, "ml2", "overlay_ip_version"), 4),
        "flat_networks": flat if ml2 is not None and ml2.get("ml2_type_flat", "flat_networks") else None,
        "vlan_physnets": [v for v in vlan if v],
        "evidence": evidence,
    }


# -- physnet uplinks and the tunnel endpoint ------------------------------------------------------------
def _sysfs_mtu(view: HostView, device: str) -> tuple[int | None, dict[str, Any] | None]:
    path = f"sys/class/net/{device}/mtu"
    text = view.read_text(path)
    if text is None or not text.content.strip().isdigit():
        return None, None
    return int(text.content.strip()), ev(Evidence(source=text.source, line=1, excerpt=text.content.strip()))


def _device_mtu(facts: Facts, links: LinkTable | None, device: str) -> tuple[int | None, list[dict[str, Any]]]:
    link = links.get(device) if links is not None else None
    if link is not None:
        return link.mtu, [ev(link.evidence())]
    mtu, where = _sysfs_mtu(facts.view, device)
    return mtu, [where] if where else []


def _mappings(facts: Facts) -> list[tuple[str, Evidence, dict[str, str]]]:
    out: list[tuple[str, Evidence, dict[str, str]]] = []
    ovs = _ini(facts, "openvswitch_agent")
    value = ovs.get("ovs", "bridge_mappings") if ovs is not None else None
    if value is not None:
        out.append(("ovs", value.evidence(), as_dict(value)))
    lb = _ini(facts, "linuxbridge_agent")
    value = lb.get("linux_bridge", "physical_interface_mappings") if lb is not None else None
    if value is not None:
        out.append(("linuxbridge", value.evidence(), as_dict(value)))
    ids = _ovn_ids(facts)
    if ids is not None and ids[0].get("ovn-bridge-mappings"):
        mapping: dict[str, str] = {}
        for item in ids[0]["ovn-bridge-mappings"].split(","):
            physnet, sep, bridge = item.partition(":")
            if sep and physnet.strip():
                mapping[physnet.strip()] = bridge.strip()
        out.append(("ovn", ids[1]["ovn-bridge-mappings"], mapping))
    return out


def _bridge_uplinks(facts: Facts, show: OvsShow | None, bridge: str) -> list[tuple[str, Evidence | None]]:
    """Kernel ports of an OVS bridge: `ovs-vsctl show`, else the persistent network configuration."""
    if show is not None:
        br = show.bridge(bridge)
        if br is None:
            return []
        return [(iface.name, port.evidence()) for port in br.ports for iface in port.interfaces
                if iface.type in _OVS_KERNEL_TYPES and iface.name != bridge]
    try:
        netcfg = facts.maybe(load_netconfig)
    except ParseError:
        return []
    if netcfg is None:
        return []
    return [(d.iface, d.evidence()) for d in netcfg.decls if d.kind == "port" and d.value == bridge]


def physnets(facts: Facts) -> list[dict[str, Any]]:
    links = _links(facts)
    try:
        show = facts.maybe(load_ovs_show)
    except ParseError:
        show = None
    out: list[dict[str, Any]] = []
    for agent, where, mapping in _mappings(facts):
        for physnet, target in sorted(mapping.items()):
            if agent == "linuxbridge":
                devices: list[tuple[str, Evidence | None]] = [(target, None)]
                bridge = None
            else:
                devices = _bridge_uplinks(facts, show, target)
                bridge = target
            entry: dict[str, Any] = {"physnet": physnet, "agent": agent, "bridge": bridge, "device": None,
                                     "mtu": None, "evidence": [ev(where)]}
            if not devices:
                out.append(entry)
            for device, port_ev in devices:
                mtu, mtu_ev = _device_mtu(facts, links, device)
                out.append({**entry, "device": device, "mtu": mtu,
                            "evidence": [ev(where), *([ev(port_ev)] if port_ev else []), *mtu_ev]})
    return out


def tunnel(facts: Facts) -> dict[str, Any] | None:
    ip: str | None = None
    types: list[str] = []
    where: Evidence | None = None
    ovs = _ini(facts, "openvswitch_agent")
    if ovs is not None:
        local_ip = ovs.get("ovs", "local_ip")
        types = as_list(ovs.get("agent", "tunnel_types"))
        if local_ip is not None and types:
            ip, where = local_ip.value.strip(), local_ip.evidence()
    ids = _ovn_ids(facts)
    if ip is None and ids is not None and ids[0].get("ovn-encap-ip"):
        ip, where = ids[0]["ovn-encap-ip"].strip(), ids[1]["ovn-encap-ip"]
        types = [t.strip() for t in ids[0].get("ovn-encap-type", "geneve").split(",") if t.strip()]
    if ip is None or where is None:
        return None
    device: str | None = None
    mtu: int | None = None
    evidence = [ev(where)]
    links = _links(facts)
    for link, addr in links.addresses() if links is not None else []:
        if addr.address == ip:
            device, mtu = link.name, link.mtu
            evidence += [ev(link.evidence()), ev(addr.evidence())]
            break
    return {"ip": ip, "types": types, "device": device, "mtu": mtu, "evidence": evidence}


# -- L3 HA routers ------------------------------------------------------------------------------------------
TRANSITION_S = 60.0


def _vips_present(facts: Facts, router: HaRouter) -> bool | None:
    """Whether at least one non-link-local `virtual_ipaddress_excluded` address is up in the namespace."""
    if router.conf is None:
        return None
    try:
        links = facts.maybe(load_netns_links, router.namespace)
    except ParseError:
        return None
    if links is None:
        return None
    up = {addr.ip for _l, addr in links.addresses() if addr.ip is not None}
    return any(e.ip in up for e in router.conf.excluded if not e.is_link_local and e.ip is not None)


def l3(facts: Facts) -> dict[str, Any] | None:
    try:
        routers = facts.get(load_ha_routers)
    except (MissingEvidence, ParseError):
        return None
    conf = _ini(facts, "l3_agent")
    mode = _text_value(conf.get("DEFAULT", "agent_mode")) if conf is not None else None
    if not routers and mode is None:
        return None
    collected = facts.view.collected_at()
    out: dict[str, Any] = {}
    for r in routers:
        evidence = [ev(r.state.evidence())] if r.state else []
        if r.keepalived:
            evidence.append(ev(r.keepalived[0].evidence()))
        mtime = r.state.mtime if r.state else None
        age = collected.timestamp() - mtime if collected is not None and mtime is not None else None
        out[r.router_id] = {
            "state": r.normalised,
            "raw": r.state.raw if r.state else None,
            "keepalived": None if r.keepalived is None else bool(r.keepalived),
            "vips": _vips_present(facts, r),
            "has_addresses": bool(r.conf and [e for e in r.conf.excluded if not e.is_link_local]),
            "transition": age is not None and 0 <= age < TRANSITION_S,
            "evidence": evidence,
        }
    return {"agent_mode": mode or "legacy", "routers": out}


def router_active(router: dict[str, Any]) -> bool:
    """HA-F01's rule: the state file says active and, where known, keepalived runs and the VIPs are up."""
    return (router.get("state") == ACTIVE and router.get("keepalived") is not False
            and router.get("vips") is not False)


# -- OVN chassis identity ---------------------------------------------------------------------------------
def _ovn_ids(facts: Facts) -> tuple[dict[str, str], dict[str, Evidence]] | None:
    try:
        record = facts.maybe(load_open_vswitch)
    except ParseError:
        record = None
    if record is not None:
        ids = record.map("external_ids")
        field = record.get("external_ids")
        if ids and field is not None:
            return ids, {k: field.map_evidence(k) for k in ids}
    text = facts.view.read_text(SYSTEM_ID_CONF)
    if text is not None and text.content.strip():
        value = text.content.strip().splitlines()[0].strip()
        return {"system-id": value}, {"system-id": Evidence(source=text.source, line=1, excerpt=value)}
    return None


def _encap_duplicates(facts: Facts) -> list[dict[str, Any]]:
    try:
        hits = facts.get(load_signature_hits)
    except (MissingEvidence, ParseError):
        return []
    found: list[Hit] = hits.get("R-OVN-ENCAP-DUP")
    return [{**ev(h.evidence()), "ip": h.groups.get("ip")} for h in found[-3:]]


OVN_CONTROLLER_LOGS = ("var/log/ovn/ovn-controller.log", "var/log/openvswitch/ovn-controller.log",
                       "var/log/kolla/openvswitch/ovn-controller.log")


def _is_chassis(facts: Facts, values: dict[str, str]) -> bool:
    """An OVN chassis: ovn-* keys in the OVS database, ovn-controller running, or its log on disk.

    Every Open vSwitch host has a system-id, ML2/OVS nodes included; only chassis register it in OVN.
    """
    if any(k.startswith("ovn-") for k in values):
        return True
    procs = _processes(facts)
    if procs is not None:
        return "ovn-controller" in running_services(procs)
    return any(facts.view.exists(p) for p in OVN_CONTROLLER_LOGS)


def ovn(facts: Facts) -> dict[str, Any] | None:
    ids = _ovn_ids(facts)
    dups = _encap_duplicates(facts)
    values, where = ids if ids is not None else ({}, {})
    if not _is_chassis(facts, values) and not dups:
        return None
    keys = ("system-id", "hostname", "ovn-encap-ip", "ovn-encap-type", "ovn-bridge-mappings", "ovn-cms-options")
    cms = values.get("ovn-cms-options", "")
    mappings = {}
    for item in values.get("ovn-bridge-mappings", "").split(","):
        physnet, sep, bridge = item.partition(":")
        if sep and physnet.strip():
            mappings[physnet.strip()] = bridge.strip()
    return {
        "system_id": values.get("system-id"),
        "hostname": values.get("hostname"),
        "encap_ip": values.get("ovn-encap-ip"),
        "encap_type": values.get("ovn-encap-type"),
        "bridge_mappings": mappings,
        "gateway": "enable-chassis-as-gw" in cms,
        "evidence": {k: ev(where[k]) for k in keys if k in where},
        "encap_duplicates": dups,
    }


# -- nova compute image cache -----------------------------------------------------------------------------
def nova_compute(facts: Facts) -> dict[str, Any] | None:
    nova = _ini(facts, "nova")
    if nova is None:
        return None
    driver = _text_value(nova.get("DEFAULT", "compute_driver"))
    if driver is None or "libvirt" not in driver.lower():
        return None
    path, path_opt = instances_path(nova)
    cache = image_cache_settings(nova)
    my_ip = _text_value(nova.get("DEFAULT", "my_ip")) or ""
    images_type = _text_value(nova.get("libvirt", "images_type")) or "default"
    store: dict[str, Any] | None = None
    evidence = [ev(e) for e in cache.evidence]
    if path_opt is not None:
        evidence.append(ev(path_opt.evidence()))
    try:
        loc = locate(facts, path)
    except (MissingEvidence, ParseError):
        loc = None
    if loc is not None:
        below = normpath(path)[len(normpath(loc.target)):].strip("/") if loc.target != "/" else path.strip("/")
        store = {"device": loc.device, "fstype": loc.fstype, "target": loc.target, "shared": loc.shared,
                 "below": below}
        evidence.append(ev(loc.evidence))
    collected = facts.view.collected_at() or datetime.now(UTC)
    users = storage_users(facts.view, path, collected)
    if users is not None:
        evidence.append(ev(users.evidence))
    return {
        "instances_path": path,
        "store": store,
        "remove_unused": cache.remove,
        "interval": cache.interval,
        "min_age": cache.min_age,
        # `_base_$my_ip` gives each compute its own cache directory: then their passes never collide.
        "subdirectory": cache.subdirectory.replace("${my_ip}", my_ip).replace("$my_ip", my_ip),
        "images_type": images_type.lower(),
        "compute_nodes": list(users.recent) if users is not None else None,
        "evidence": evidence,
    }


# -- console ----------------------------------------------------------------------------------------------
def _url_hostport(url: str | None, default_port: int) -> tuple[str, int] | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else default_port if parts.scheme else 80)


def console(facts: Facts) -> dict[str, Any] | None:
    nova = _ini(facts, "nova")
    if nova is None:
        return None
    evidence: dict[str, Any] = {}
    my_ip = _text_value(nova.get("DEFAULT", "my_ip")) or ""

    def value(section: str, key: str, *aliases: tuple[str, str]) -> str | None:
        found = nova.first((section, key), *aliases)
        if found is None or not found.value.strip():
            return None
        evidence[f"{section}.{key}"] = ev(found.evidence())
        return found.value.strip().replace("$my_ip", my_ip).replace("${my_ip}", my_ip)

    def enabled(section: str, key: str, default: bool, *aliases: tuple[str, str]) -> bool:
        found = nova.first((section, key), *aliases)
        if found is not None:
            evidence[f"{section}.{key}"] = ev(found.evidence())
        return as_bool(found, default)

    transport = value("DEFAULT", "transport_url")
    cell = urlsplit(transport).hostname if transport else None
    procs = _processes(facts)
    running = set(running_services(procs)) if procs is not None else set()
    spice_url = value("spice", "html5proxy_base_url")
    vnc_url = value("vnc", "novncproxy_base_url")
    return {
        "cell": cell,
        "vnc": {"enabled": enabled("vnc", "enabled", True, ("DEFAULT", "vnc_enabled")),
                "base_url": vnc_url, "base": _url_hostport(vnc_url, 6080),
                "proxyclient": value("vnc", "server_proxyclient_address"),
                "proxy_port": as_int(nova.get("vnc", "novncproxy_port"), 6080)},
        "spice": {"enabled": enabled("spice", "enabled", False),
                  "base_url": spice_url, "base": _url_hostport(spice_url, 6082),
                  "proxyclient": value("spice", "server_proxyclient_address"),
                  "proxy_port": as_int(nova.get("spice", "html5proxy_port"), 6082)},
        "proxies": sorted(p for p, svc in (("spice", "nova-spicehtml5proxy"), ("novnc", "nova-novncproxy"))
                          if svc in running),
        "evidence": evidence,
    }


# -- Galera -------------------------------------------------------------------------------------------------
def _quorum(facts: Facts) -> dict[str, Any] | None:
    try:
        hits = facts.get(load_signature_hits)
    except (MissingEvidence, ParseError):
        return None
    found = hits.get("R-GALERA-Q") or hits.older("R-GALERA-Q")
    if not found:
        return None
    last = found[-1]
    g = last.groups
    try:
        joined, total, conf = int(g["j"]), int(g["t"]), int(g["conf"])
    except (KeyError, ValueError):
        return None
    return {"component": g.get("comp"), "conf_id": conf, "joined": joined, "total": total,
            "uuid": g.get("uuid"), "timestamp": last.timestamp.isoformat() if last.timestamp else None,
            "evidence": ev(last.evidence())}


def galera(facts: Facts) -> dict[str, Any] | None:
    try:
        config = facts.maybe(load_galera_config)
    except ParseError:
        config = None
    if config is not None and not config.is_galera:
        config = None
    quorum = _quorum(facts)
    try:
        state = facts.maybe(load_grastate)
    except ParseError:
        state = None
    if config is None and quorum is None and state is None:
        return None
    name = config.cnf.get("wsrep_cluster_name") if config is not None else None
    return {
        "cluster_name": name.value.strip() if name is not None and name.value.strip() else "my_wsrep_cluster",
        "members": list(config.members) if config is not None else [],
        "quorum": quorum,
        "grastate": None if state is None or state.uuid is None else {
            "uuid": state.uuid, "seqno": state.seqno, "safe_to_bootstrap": state.safe_to_bootstrap,
            "wiped": state.uuid == ZERO_UUID, "evidence": ev(state.evidence("uuid"))},
        "evidence": {"wsrep_cluster_address": ev(config.cluster_address.evidence())}
        if config is not None and config.cluster_address is not None else {},
    }


# -- conntrack ------------------------------------------------------------------------------------------------
def conntrack(facts: Facts) -> dict[str, Any] | None:
    try:
        sysctl = facts.maybe(load_sysctl)
    except ParseError:
        sysctl = None
    if sysctl is not None:
        for key in ("net.netfilter.nf_conntrack_max", "net.nf_conntrack_max"):
            entry = sysctl.get(key)
            if entry is not None and entry.as_int() is not None:
                return {"nf_conntrack_max": entry.as_int(), "evidence": ev(entry.evidence())}
    for path in ("proc/sys/net/netfilter/nf_conntrack_max", "proc/sys/net/nf_conntrack_max"):
        text = facts.view.read_text(path)
        if text is not None and text.content.strip().isdigit():
            return {"nf_conntrack_max": int(text.content.strip()),
                    "evidence": ev(Evidence(source=text.source, line=1, excerpt=text.content.strip()))}
    return None


# -- the summary ------------------------------------------------------------------------------------------
SECTIONS: tuple[tuple[str, _SECTION], ...] = (
    ("identity", identity),
    ("services", services),
    ("neutron", neutron),
    ("physnets", physnets),
    ("tunnel", tunnel),
    ("l3", l3),
    ("ovn", ovn),
    ("nova_compute", nova_compute),
    ("console", console),
    ("galera", galera),
    ("conntrack", conntrack),
)


def build(facts: Facts) -> dict[str, Any]:
    """Every section whose inputs exist; a section that cannot be read is left out, never an error."""
    out: dict[str, Any] = {"version": FACTS_VERSION}
    for name, fn in SECTIONS:
        try:
            value = fn(facts)
        except (MissingEvidence, NotApplicable, ParseError):
            continue
        if value not in (None, [], {}):
            out[name] = value
    out["roles"] = infer_roles(out.get("services", {}), ha_routers=bool(out.get("l3", {}).get("routers")),
                               gateway_chassis=bool(out.get("ovn", {}).get("gateway")),
                               storage_mounts=_storage_mounts(facts))
    return out


def summary(facts: Facts) -> dict[str, Any]:
    return {"fleet": build(facts)}


