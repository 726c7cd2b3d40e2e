"""Node trees for the fleet tests: the demo cloud's healthy nodes plus the cross-node faults of the tales.

Each helper edits a `NodeTree` the way the fault looks on a real node (the same text formats the demo areas
write); `as_node_root` turns a tree into what an sftp-only account sees on the node itself (file evidence
only: /proc, /sys and configuration files instead of command outputs).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from stackrx.checks.fleet import fleet_checks
from stackrx.demo.areas import ovn_ha
from stackrx.demo.builder import NodeTree
from stackrx.demo.cloud import NODES, DemoNode, build_node, planters
from stackrx.engine import RegisteredCheck, ScanOptions, load_all_checks
from stackrx.facts import Facts
from stackrx.fleet.crossnode import FleetView, run_fleet_check
from stackrx.models import HostSummary, Result
from stackrx.runner import host_summary
from stackrx.sources.sosreport import SosReportView

BY_NAME = {n.name: n for n in NODES}
GALERA_UUID = "8a5f1c0e-4f3e-11ef-9a0b-2e6f0c1d2b3a"
OTHER_UUID = "1b2c3d4e-5f60-11ef-8a9b-0c1d2e3f4a5b"


def node(name: str, *, faults: tuple[str, ...] = (), role: str | None = None, ip: str | None = None) -> NodeTree:
    """A demo node without its planted faults (unless named); other names clone a role (`compute-7`)."""
    base = BY_NAME.get(name)
    if base is None:
        assert role is not None and ip is not None, f"{name}: give role and ip for a node outside the demo"
        base = DemoNode(name, role, ip, ())
    return build_node(base, faults=faults)


def healthy(*names: str) -> dict[str, NodeTree]:
    return {n: node(n) for n in (names or tuple(BY_NAME))}


def write(trees: dict[str, NodeTree], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name, tree in trees.items():
        tree.write(dest / name)
    return dest


# -- cross-node faults ----------------------------------------------------------------------------------------
def second_primary(standby: NodeTree, primary: NodeTree) -> None:
    """HA-F01 split brain: the backup node also says primary and carries the router's addresses."""
    standby.file(f"{ovn_ha.HA_CONFS}/{ovn_ha.ROUTER_ID}/state", "primary")
    standby.namespaces[ovn_ha.NAMESPACE] = dict(primary.namespaces[ovn_ha.NAMESPACE])


def uplink_mtu(tree: NodeTree, mtu: int) -> None:
    planters()["NET-004"](tree)
    next(i for i in tree.interfaces if i.name == "eth1").mtu = mtu


def shared_instances(*computes: NodeTree) -> None:
    """CMP-F01: the same NFS export under every compute's instances_path, removal left on (demo default)."""
    for tree in computes:
        planters()["CMP-001"](tree)


def system_id(tree: NodeTree, value: str) -> None:
    key = "ovs-vsctl list Open_vSwitch"
    tree.commands[key] = re.sub(r"system-id=[^,}]+", f"system-id={value}", tree.commands[key])


def encap_ip(tree: NodeTree, value: str) -> None:
    key = "ovs-vsctl list Open_vSwitch"
    tree.commands[key] = re.sub(r'ovn-encap-ip="[^"]+"', f'ovn-encap-ip="{value}"', tree.commands[key])


def physnet_label(tree: NodeTree, old: str, new: str) -> None:
    """Rename a physnet in the node's mappings (OVS agent, and the OVN chassis when it is one)."""
    path = "etc/neutron/plugins/ml2/openvswitch_agent.ini"
    tree.file(path, tree.files[path].replace(f"bridge_mappings = {old}:", f"bridge_mappings = {new}:"))
    key = "ovs-vsctl list Open_vSwitch"
    if key in tree.commands:
        tree.commands[key] = tree.commands[key].replace(f'"{old}:', f'"{new}:')


def conntrack_max(tree: NodeTree, value: int) -> None:
    tree.sysctl["net.netfilter.nf_conntrack_max"] = str(value)
    tree.sysctl["net.nf_conntrack_max"] = str(value)


QUORUM = ("2026-12-01  8:{minute:02d}:00 0 [Note] WSREP: Quorum results:\n\tversion    = 6,\n\tcomponent  = {comp},\n"
          "\tconf_id    = {conf},\n\tmembers    = {joined}/{total} (joined/total),\n\tact_id     = 12345,\n"
          "\tlast_appl. = 12000,\n\tprotocols  = 2/10/4 (gcs/repl/appl),\n\tvote policy= 0,\n"
          "\tgroup UUID = {uuid}\n")


def galera_member(tree: NodeTree, *, uuid: str = GALERA_UUID, conf: int = 4, joined: int = 3, total: int = 3,
                  comp: str = "PRIMARY", minute: int = 50, grastate: str | None = None) -> None:
    tree.file("etc/mysql/my.cnf", "[mysqld]\nwsrep_on = ON\nwsrep_provider = /usr/lib/galera/libgalera_smm.so\n"
              "wsrep_cluster_name = openstack\nwsrep_cluster_address = gcomm://10.0.0.10,10.0.0.11,10.0.0.12\n")
    tree.file("var/log/mysql/error.log", "2026-12-01  7:00:00 0 [Note] WSREP: Provider paused at ...\n"
              + QUORUM.format(minute=minute, comp=comp, conf=conf, joined=joined, total=total, uuid=uuid))
    tree.file("var/lib/mysql/grastate.dat", f"# GALERA saved state\nversion: 2.1\nuuid:    {grastate or uuid}\n"
              "seqno:   -1\nsafe_to_bootstrap: 0\n")


def console(tree: NodeTree, *, spice: bool, vnc: bool, base_url: str | None = None,
            proxyclient: str | None = None) -> None:
    path = "etc/nova/nova.conf"
    conf = re.sub(r"\n\[vnc\]\n(?:[^\[]*)", "\n", tree.files[path])
    conf += f"\n[vnc]\nenabled = {vnc}\n" + (f"server_proxyclient_address = {proxyclient}\n" if vnc and proxyclient
                                              else "")
    conf += f"\n[spice]\nenabled = {spice}\n"
    if spice and base_url:
        conf += f"html5proxy_base_url = {base_url}\n"
    if spice and proxyclient:
        conf += f"server_proxyclient_address = {proxyclient}\n"
    tree.file(path, conf)


def spice_proxy(tree: NodeTree, port: int = 6082) -> None:
    """A console proxy node: nova-spicehtml5proxy running, its nova.conf."""
    ovn_ha.add_process(tree, "nova", 3310, "/usr/bin/python3 /usr/bin/nova-spicehtml5proxy "
                       "--config-file=/etc/nova/nova.conf")
    tree.file("etc/nova/nova.conf", tree.files.get("etc/nova/nova.conf", "[DEFAULT]\n")
              + f"\n[spice]\nenabled = True\nhtml5proxy_host = 0.0.0.0\nhtml5proxy_port = {port}\n")


def collected_at(tree: NodeTree, when: str) -> None:
    tree.collected = when


# -- file evidence only ---------------------------------------------------------------------------------------
def as_node_root(tree: NodeTree, dest: Path) -> Path:
    """The node as an sftp-only account sees it: its files, plus what the kernel and services keep in files
    (/proc/mounts, /sys/class/net/*/mtu, /proc/sys conntrack values, the OVS system-id, a netplan file naming
    br-ex's port) instead of the command outputs a shell would give."""
    tree.write(dest)
    (dest / "etc").mkdir(exist_ok=True)
    (dest / "etc/hostname").write_text(tree.hostname + "\n")
    mounts = []
    for line in tree.commands.get("mount -l", "").splitlines():
        m = re.match(r"^(\S+) on (\S+) type (\S+) \(([^)]*)\)", line)
        if m:
            mounts.append(f"{m.group(1)} {m.group(2)} {m.group(3)} {m.group(4)} 0 0\n")
    (dest / "proc/sys/net/netfilter").mkdir(parents=True, exist_ok=True)
    (dest / "proc/mounts").write_text("".join(mounts))
    if "net.netfilter.nf_conntrack_max" in tree.sysctl:
        (dest / "proc/sys/net/netfilter/nf_conntrack_max").write_text(tree.sysctl["net.netfilter.nf_conntrack_max"]
                                                                      + "\n")
    for iface in tree.interfaces:
        (dest / f"sys/class/net/{iface.name}").mkdir(parents=True, exist_ok=True)
        (dest / f"sys/class/net/{iface.name}/mtu").write_text(f"{iface.mtu}\n")
    if any(i.name == "eth1" and i.master == "ovs-system" for i in tree.interfaces):
        (dest / "etc/netplan").mkdir(parents=True, exist_ok=True)
        (dest / "etc/netplan/50-ovs.yaml").write_text(
            "network:\n  version: 2\n  ethernets:\n    eth1: {}\n  bridges:\n    br-ex:\n      interfaces: [eth1]\n"
            "      openvswitch: {}\n")
    ids = re.search(r"system-id=([^,}]+)", tree.commands.get("ovs-vsctl list Open_vSwitch", ""))
    if ids:
        (dest / "etc/openvswitch").mkdir(parents=True, exist_ok=True)
        (dest / "etc/openvswitch/system-id.conf").write_text(ids.group(1).strip('"') + "\n")
    if "ovn-controller" in tree.commands.get("ps auxwww", ""):
        (dest / "var/log/ovn").mkdir(parents=True, exist_ok=True)
        (dest / "var/log/ovn/ovn-controller.log").write_text(
            "2026-12-01T08:00:00.000Z|00001|vlog|INFO|opened log file /var/log/ovn/ovn-controller.log\n")
    old = time.time() - 3600  # written an hour before collection, like a node's files (not "just now")
    for path in dest.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (old, old))
    return dest


def report_json(report_path: Path) -> dict[str, object]:
    return dict(json.loads(report_path.read_text()))


def summaries_of(root: Path, names: Iterable[str]) -> list[HostSummary]:
    """Each written tree's host summary (facts only, no checks): what the fleet checks read."""
    out = []
    for name in names:
        view = SosReportView(root / name)
        out.append(host_summary(view, Facts(view)))
    return out


def check(check_id: str) -> RegisteredCheck:
    load_all_checks()
    return fleet_checks()[check_id]


def cross_node(trees: dict[str, NodeTree], dest: Path, check_id: str,
               missing: tuple[str, ...] = ()) -> list[Result]:
    """One cross-node check over these trees, in this process."""
    view = FleetView(summaries_of(write(trees, dest), trees), missing)
    return run_fleet_check(check(check_id), view, ScanOptions())


def failing(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status.value in ("fail", "warn")]
