"""What a fleet run collects from each host over SSH, and where it lands in the saved sosreport-shaped tree.

One place for the whole evidence list, so what is fetched matches what the node checks and the fleet facts
read (`reads` of the checks, `stackrx.facts.fleetfacts`):

- commands: the keys of the allow-list `stackrx.sources.commands.COMMANDS` (all but those that query service
  databases or cluster APIs, `NOT_COLLECTED`), each run as its fixed argv, plus the per-namespace commands of
  `NETNS_COMMANDS` for each namespace `ip netns` lists (names validated);
- files: configuration trees (nova, neutron, libvirt, telemetry, MySQL, sysctl, network configuration,
  Kolla), neutron's L3 HA state directories, libvirt domain XML, Galera and OVS state files, a few /proc
  files (mounts, conntrack limits, uptime);
- logs: the tail of each current service log (never rotations), bounded per file and per host.

Saved layout (what `SosReportView` reads): commands under `sos_commands/<plugin>/<sos name>` with sos's own
name mangling, namespaced ones under `sos_commands/networking/namespaces/<ns>/`, files at their path
relative to `/`, a root `hostname`, and `stackrx-collect.json` with what was and was not collected.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from stackrx.sources.commands import COMMANDS, NETNS_COMMANDS, mangle
from stackrx.sources.live import NETNS_NAME

COLLECT_META = "stackrx-collect.json"

# sos plugin directory by the tool a command runs (sos/report/plugins/*.py at the catalogue's commit). Only
# the file name matters to the readers (they glob `sos_commands/*/<name>`); the directory keeps saved trees
# looking like what sos writes.
SOS_PLUGIN: dict[str, str] = {
    "sysctl": "kernel", "lsmod": "kernel", "uname": "kernel", "dmesg": "kernel",
    "ip": "networking", "ss": "networking", "netstat": "networking",
    "ovs-vsctl": "openvswitch", "ovn-sbctl": "ovn_central",
    "df": "filesys", "mount": "filesys", "du": "filesys",
    "conntrack": "conntrack", "ps": "process", "hostname": "host", "uptime": "host", "date": "date",
    "free": "memory", "rabbitmqctl": "rabbitmq", "nft": "firewall_tables", "ebtables": "firewall_tables",
    "iptables": "firewall_tables", "iptables-save": "firewall_tables", "sestatus": "selinux",
    "systemctl": "systemd", "dpkg-query": "dpkg", "rpm": "rpm", "apachectl": "apache", "docker": "docker",
}
# Allow-list commands a fleet run does not send to every host: they query service databases or cluster APIs
# (slow, or hanging where those are unreachable). A node scan (`stackrx scan`, contrib/ansible) or
# `stackrx db` / `stackrx cloud` cover what they feed.
NOT_COLLECTED = frozenset({"nova-status", "neutron-status", "placement-status", "cinder-status", "glance-status",
                           "neutron-db-manage", "mongo", "ceph"})
COMMAND_KEYS: tuple[str, ...] = tuple(k for k, c in COMMANDS.items() if c.argv[0] not in NOT_COLLECTED)


# Tools live in sbin, which a non-login PATH of an unprivileged user often lacks; the locale is fixed so
# the parsers see the formats they were written for. A fixed prefix: nothing in it comes from inventories.
REMOTE_ENV = ("env", "LC_ALL=C", "LANG=C", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
MAX_NAMESPACES = 2000
"""A network node with more routers than this still gets its first MAX_NAMESPACES namespaces read."""


def remote_command(argv: tuple[str, ...], sudo: bool) -> str:
    """The exec string for an allow-list argv: every word shell-quoted, so no word can become syntax."""
    words = (("sudo", "-n") if sudo else ()) + REMOTE_ENV + argv
    return shlex.join(words)


def command_path(key: str) -> str:
    """Where sos keeps this command's output: the name of the argv actually run when it is one sos uses for
    the key, else the first of sos's names (`date --utc +%Y...` is saved as sos's `date`)."""
    spec = COMMANDS[key]
    ran = mangle(shlex.join(spec.argv))
    names = [g for g in spec.sos if not g.rsplit("/", 1)[-1].startswith("*.")] or [f"sos_commands/*/{ran}"]
    chosen = next((g for g in names if g.rsplit("/", 1)[-1] == ran), names[0])
    parts = chosen.split("/")
    if parts[1] == "*":
        parts[1] = SOS_PLUGIN.get(spec.argv[0], spec.argv[0])
    return "/".join(parts)


def netns_argv(namespace: str, key: str) -> tuple[str, ...]:
    if not NETNS_NAME.fullmatch(namespace):
        raise ValueError(f"not a network namespace name: {namespace!r}")
    return ("ip", "netns", "exec", namespace, *NETNS_COMMANDS[key][0])


def netns_path(namespace: str, key: str) -> str:
    name = mangle(shlex.join(("ip", "netns", "exec", namespace, *NETNS_COMMANDS[key][0])))
    return f"sos_commands/networking/namespaces/{namespace}/{name}"


def parse_netns_list(output: str) -> list[str]:
    """`ip netns` lines (`qrouter-<id> (id: 3)`): valid names only, at most MAX_NAMESPACES."""
    names: list[str] = []
    for line in output.splitlines():
        token = line.split(maxsplit=1)[0] if line.strip() else ""
        if NETNS_NAME.fullmatch(token) and token not in names:
            names.append(token)
    return names[:MAX_NAMESPACES]


@dataclass(frozen=True)
class Tree:
    """A directory copied recursively (symlinked directories are not followed)."""

    path: str
    depth: int = 4
    max_files: int = 2000
    max_bytes: int = 4 * 1024 * 1024
    suffixes: tuple[str, ...] = ()
    """Only files ending so (empty: all)."""
    tail: bool = False
    """Files over max_bytes keep their last max_bytes (logs) instead of being skipped (configs)."""


@dataclass(frozen=True)
class File:
    path: str
    max_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class Logs:
    """Current log files of a directory (no rotations), the tail of each."""

    path: str
    suffixes: tuple[str, ...] = (".log",)
    tail_bytes: int = 2 * 1024 * 1024
    depth: int = 2


CONFIG_SUFFIXES = (".conf", ".ini", ".cnf", ".yaml", ".yml", ".json", ".cfg", ".xml", ".d")
TREES: tuple[Tree, ...] = (
    Tree("etc/nova", suffixes=CONFIG_SUFFIXES),
    Tree("etc/neutron", suffixes=CONFIG_SUFFIXES),
    Tree("etc/libvirt", depth=3),
    Tree("etc/ceilometer"),
    Tree("etc/aodh"),
    Tree("etc/gnocchi"),
    Tree("etc/mysql", suffixes=(".cnf",)),
    Tree("etc/my.cnf.d", suffixes=(".cnf",)),
    Tree("etc/openvswitch", depth=1, suffixes=(".conf",)),
    Tree("etc/sysctl.d", depth=1),
    Tree("usr/lib/sysctl.d", depth=1),
    Tree("run/sysctl.d", depth=1),
    Tree("etc/modules-load.d", depth=1),
    Tree("etc/modprobe.d", depth=1),
    Tree("etc/netplan", depth=1),
    Tree("etc/network", depth=2),
    Tree("etc/sysconfig/network-scripts", depth=1, suffixes=()),
    Tree("etc/NetworkManager/system-connections", depth=1),
    Tree("etc/cron.d", depth=1),
    Tree("etc/kolla", depth=3, suffixes=CONFIG_SUFFIXES),
    Tree("var/lib/neutron/ha_confs", depth=2, max_bytes=1024 * 1024, tail=True),
    Tree("var/lib/neutron/kolla/ha_confs", depth=2, max_bytes=1024 * 1024, tail=True),
    Tree("run/libvirt/qemu", depth=1, suffixes=(".xml",)),
)
FILES: tuple[File, ...] = tuple(File(p) for p in (
    "etc/hostname", "etc/os-release", "etc/my.cnf", "etc/sysctl.conf",
    "var/lib/mysql/grastate.dat", "var/lib/mysql/gvwstate.dat",
    "var/lib/nova/instances/compute_nodes",
    "proc/mounts", "proc/uptime", "proc/modules",
    "proc/sys/net/netfilter/nf_conntrack_max", "proc/sys/net/netfilter/nf_conntrack_count",
    "proc/sys/net/netfilter/nf_conntrack_buckets", "proc/sys/net/nf_conntrack_max",
))
LOGS: tuple[Logs, ...] = (
    Logs("var/log/nova"),
    Logs("var/log/neutron"),
    Logs("var/log/mysql", suffixes=(".log", ".err")),
    Logs("var/log/mariadb", suffixes=(".log", ".err")),
    Logs("var/lib/mysql", suffixes=(".err",), depth=1),
    Logs("var/log/ovn"),
    Logs("var/log/openvswitch"),
    Logs("var/log/libvirt", depth=3),
    Logs("var/log/kolla", depth=3),
    Logs("var/log/rabbitmq"),
)
LOG_FILES: tuple[File, ...] = tuple(File(p, 2 * 1024 * 1024) for p in (
    "var/log/kern.log", "var/log/syslog", "var/log/messages"))
HOST_BYTE_BUDGET = 256 * 1024 * 1024
"""Everything read from one host together; beyond it files are skipped and the collection says so."""

SYSFS_NET = "sys/class/net"
