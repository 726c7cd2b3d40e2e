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
        _cmd("hostname", ("hostname",), root_links=("hostname",)),
        _cmd("date", ("date", "--utc", "+%Y-%m-%d %H:%M:%S+00:00"), "date", "date --utc",
             root_links=("date",)),
        _cmd("uptime", ("uptime",), root_links=("uptime",)),
        _cmd("free", ("free",), root_links=("free",)),
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
