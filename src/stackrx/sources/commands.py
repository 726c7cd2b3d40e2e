"""The allow-list of logical commands: what a live host may run, and where sos stores the same output.

A live scan runs only these argv lists (never a shell string), each with a timeout. A sosreport maps the
same key to the files sos writes, using sos's own name mangling plus the older and variant names seen in
real reports (`ovs-vsctl -t 5 show`, snap-prefixed `openstack-hypervisor.ovs-vsctl_...`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    key: str
    argv: tuple[str, ...]
    sos: tuple[str, ...] = field(default_factory=tuple)
    """Globs relative to the sos root, tried in order. Empty: derived from the key by `mangle`."""
    root_links: tuple[str, ...] = field(default_factory=tuple)
    """Top-level sos names (`uname`, `lsmod`) that point at the same output."""


_SOS_PREFIX = re.compile(r"^(?:/usr/bin/|/usr/sbin/|/bin/|/sbin/)")
_NON_NAME = re.compile(r"[^\w\-./]+")


def mangle(command: str) -> str:
    """sos's file name for a command (sos/report/plugins/__init__.py::_mangle_command, same rules)."""
    name = _SOS_PREFIX.sub("", command)
    name = _NON_NAME.sub("_", name)
    name = name.replace("/", ".")
    return name.strip(" ._-")


def _sos_globs(*commands: str) -> tuple[str, ...]:
    globs: list[str] = []
    for cmd in commands:
        m = mangle(cmd)
        globs.append(f"sos_commands/*/{m}")
        # Snap-packaged services (Sunbeam, MicroStack) prefix the snap name: `openstack-hypervisor.ovs-...`.
        globs.append(f"sos_commands/*/*.{m}")
    return tuple(globs)


def _cmd(key: str, argv: tuple[str, ...], *sos_variants: str, root_links: tuple[str, ...] = ()) -> Command:
    return Command(key, argv, _sos_globs(*(sos_variants or (key,))), root_links)


def _sos_json(key: str, argv: tuple[str, ...], *variants: str) -> Command:
    """ceph: sos stores each command as text and again as `--format json-pretty` under `json_output/`
    (ceph_mon plugin); older sos put the json files beside the text ones. JSON is tried first."""
    globs: list[str] = []
    for cmd in (f"{key} --format json-pretty", *variants):
        m = mangle(cmd)
        globs += [f"sos_commands/*/json_output/{m}", f"sos_commands/*/{m}"]
    return Command(key, argv, tuple(globs))


# Inputs of the MQ/DB/UPG/STO/CON/TEL/IMG/LOG node checks (sos plugin names checked at sos 5c7e63e:
# rabbitmq, networking, firewall_tables, ceph_mon, apache, dpkg, rpm, docker, podman, systemd, openstack_*).
_NODE_CATALOGUE: tuple[Command, ...] = (
    _cmd("rabbitmqctl report", ("rabbitmqctl", "report")),
    _cmd("rabbitmqctl status", ("rabbitmqctl", "status")),
    _cmd("rabbitmqctl cluster_status", ("rabbitmqctl", "cluster_status")),
    _cmd("ss -ltnup", ("ss", "-ltnup"), "ss -peaonmi", "ss -ltnup", "ss -tulpn"),
    _cmd("netstat -neopa", ("netstat", "-W", "-neopa"), "netstat -W -neopa", "netstat -neopa",
         "netstat -tulpn", root_links=("netstat",)),
    _cmd("iptables -nvL", ("iptables", "-t", "filter", "-nvL"), "iptables -t filter -nvL", "iptables -vnxL",
         "iptables -nvL"),
    _cmd("iptables-save", ("iptables-save",), "iptables-save", "iptables-save -c"),
    _sos_json("ceph health detail", ("ceph", "health", "detail", "--format", "json-pretty"),
              "ceph health detail"),
    _sos_json("ceph osd dump", ("ceph", "osd", "dump", "--format", "json-pretty"), "ceph osd dump"),
    _sos_json("ceph osd pool ls detail", ("ceph", "osd", "pool", "ls", "detail", "--format", "json-pretty"),
              "ceph osd pool ls detail"),
    _sos_json("ceph status", ("ceph", "status", "--format", "json-pretty"), "ceph status", "ceph -s"),
    _cmd("ceph versions", ("ceph", "versions")),
    _cmd("dpkg -l", ("dpkg-query", "-W", "-f=${db:Status-Abbrev} ${binary:Package} ${Version} ${Architecture}\n"),
         "dpkg -l", root_links=("installed-debs",)),
    # sos runs `sh -c 'rpm --nodigest -qa --qf=... | sort -V'` (root link installed-rpms) and the tab
    # separated package-data; a live host prints the same NVRA + date lines.
    Command("rpm -qa", ("rpm", "--nodigest", "-qa", "--qf", "%-59{NVRA} %{INSTALLTIME:date}\n"),
            ("sos_commands/rpm/package-data", "sos_commands/rpm/sh_-c_rpm_--nodigest_-qa*"),
            ("installed-rpms",)),
    _cmd("apachectl -M", ("apachectl", "-M"), "apachectl -M", "httpd -M", "apache2ctl -M"),
    _cmd("docker ps -a", ("docker", "ps", "-a"), "docker ps -a", "podman ps -a"),
    _cmd("systemctl list-unit-files", ("systemctl", "list-unit-files", "--no-pager"),
         "systemctl list-unit-files"),
    # openstack_nova collects `nova-status upgrade check` under this suggested name; the others run live only.
    _cmd("nova-status upgrade check", ("nova-status", "upgrade", "check")),
    _cmd("neutron-status upgrade check", ("neutron-status", "upgrade", "check")),
    _cmd("placement-status upgrade check", ("placement-status", "upgrade", "check")),
    _cmd("cinder-status upgrade check", ("cinder-status", "upgrade", "check")),
    _cmd("glance-status upgrade check", ("glance-status", "upgrade", "check")),
    _cmd("neutron-db-manage current", ("neutron-db-manage", "current")),
    _cmd("neutron-db-manage heads", ("neutron-db-manage", "heads")),
    _cmd("du -sh /var/lib/mongodb", ("du", "-sh", "/var/lib/mongodb/"), "du -sh /var/lib/mongodb/",
         "du -sh /var/lib/mongodb"),
    # Live only (sos's mongodb plugin runs no query): legacy Ceilometer's database sizes.
    _cmd("mongo ceilometer stats", ("mongo", "--quiet", "--eval",
                                    'printjson(db.getSiblingDB("ceilometer").stats())')),
)

COMMANDS: dict[str, Command] = {
    c.key: c
    for c in (
        _cmd("sysctl -a", ("sysctl", "-a")),
        _cmd("ip -d address", ("ip", "-d", "address"), "ip -d address", "ip -d addr", "ip address"),
        _cmd("ip -d link", ("ip", "-d", "link"), "ip -s -d link", "ip -d link", "ip -s -d link show", "ip link"),
        _cmd("ip -o addr", ("ip", "-o", "addr"), "ip -o addr", root_links=("ip_addr",)),
        _cmd("ip route show table all", ("ip", "route", "show", "table", "all")),
        _cmd("ip netns", ("ip", "netns"), "ip netns", "ip netns list"),
        _cmd("ovs-vsctl show", ("ovs-vsctl", "-t", "5", "show"), "ovs-vsctl -t 5 show", "ovs-vsctl show"),
        _cmd("ovs-vsctl list Open_vSwitch", ("ovs-vsctl", "-t", "5", "list", "Open_vSwitch"),
             "ovs-vsctl -t 5 list Open_vSwitch", "ovs-vsctl list Open_vSwitch"),
        _cmd("ovs-vsctl list-br", ("ovs-vsctl", "-t", "5", "list-br"), "ovs-vsctl -t 5 list-br", "ovs-vsctl list-br"),
        _cmd("ovs-vsctl list interface", ("ovs-vsctl", "-t", "5", "list", "interface"),
             "ovs-vsctl -t 5 list interface", "ovs-vsctl list interface", "ovs-vsctl -t 5 list Interface"),
        _cmd("lsmod", ("lsmod",), root_links=("lsmod",)),
        _cmd("uname -a", ("uname", "-a"), root_links=("uname",)),
        _cmd("df -al", ("df", "-al", "-x", "autofs"), "df -al -x autofs", "df -alP", "df -al",
             root_links=("df",)),
        _cmd("df -ali", ("df", "-ali", "-x", "autofs"), "df -ali -x autofs", "df -aliP", "df -ali"),
        _cmd("mount -l", ("mount", "-l"), "mount -l", root_links=("mount",)),
        _cmd("conntrack -S", ("conntrack", "-S")),
        _cmd("dmesg", ("dmesg", "-T"), "dmesg", "dmesg -T"),
        _cmd("ps auxwww", ("ps", "auxwww"), "ps auxwwwm", "ps auxwww", "ps alxwww", root_links=("ps",)),
        _cmd("ovs-vsctl list bridge", ("ovs-vsctl", "-t", "5", "list", "bridge"), "ovs-vsctl -t 5 list bridge",
             "ovs-vsctl list bridge", "ovs-vsctl -t 5 list Bridge"),
        # Central OVN databases (sos ovn_central: `ovn-sbctl --no-leader-only list <table>` per schema table).
        _cmd("ovn-sbctl list Chassis", ("ovn-sbctl", "--no-leader-only", "list", "Chassis"),
             "ovn-sbctl --no-leader-only list Chassis", "ovn-sbctl list Chassis"),
        _cmd("ovn-sbctl list Port_Binding", ("ovn-sbctl", "--no-leader-only", "list", "Port_Binding"),
             "ovn-sbctl --no-leader-only list Port_Binding", "ovn-sbctl list Port_Binding"),
        # sos firewall_tables; ebtables is live only (sos collects the nft view of bridge rules instead).
        _cmd("nft list ruleset", ("nft", "-a", "list", "ruleset"), "nft -a list ruleset", "nft list ruleset"),
        _cmd("ebtables -L", ("ebtables", "-L"), "ebtables -L"),
        _cmd("sestatus", ("sestatus",), "sestatus", "sestatus -v"),
        _cmd("systemctl list-units", ("systemctl", "list-units", "--all", "--no-pager"),
             "systemctl list-units --all", "systemctl list-units"),
        _cmd("hostname", ("hostname",), root_links=("hostname",)),
        _cmd("date", ("date", "--utc", "+%Y-%m-%d %H:%M:%S+00:00"), "date", "date --utc",
             root_links=("date",)),
        _cmd("uptime", ("uptime",), root_links=("uptime",)),
        _cmd("free", ("free",), root_links=("free",)),
        *_NODE_CATALOGUE,
    )
}

# Inside a network namespace a live host runs `ip netns exec NS <argv>`; sos names the file
# `ip_netns_exec_<ns>_<mangled>` (older layout: directly under sos_commands/networking/).
NETNS_COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sysctl -a": (("sysctl", "-a"), ("sysctl -a",)),
    "ip -d address": (("ip", "-d", "address"), ("ip -d address show", "ip address show", "ip -d address")),
    "conntrack -S": (("conntrack", "-S"), ("conntrack -S",)),
}

COMMAND_TIMEOUT_S = 10.0
