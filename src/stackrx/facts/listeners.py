"""Listening sockets: who listens on which address and port.

Inputs: `ss -ltnup` on a live host; in a sosreport `ss -peaonmi` (networking plugin; all sockets, memory and
info lines interleaved) or `netstat -W -neopa` (root link `netstat`). Both tools' layouts are accepted:
- ss: `[Netid] State Recv-Q Send-Q Local:Port Peer:Port [users:(("name",pid=N,fd=M))...]`; continuation
  lines (skmem, tcp info) start with whitespace and are skipped;
- netstat: `Proto Recv-Q Send-Q Local Foreign [State] [User Inode] PID/Program ...` (UDP rows have no
  state; `-` when the owner is unknown).
A socket listens when its state is LISTEN (TCP) or, for UDP, when it is bound and unconnected
(`UNCONN`, or netstat's `*` peer). Addresses keep their family: `0.0.0.0`, `::` and `*` are wildcards;
`[v6]`, `%iface` scope suffixes and IPv4-mapped `::ffff:` prefixes are normalised away.

Public API:

    Listener(proto: "tcp" | "udp", address: str, port: int, process: str | None, pid: int | None,
             source, line, excerpt)  .wildcard, .loopback, .evidence()
    Listeners(listeners: tuple[Listener, ...], source)
        .on_port(port, proto="tcp") -> list[Listener], .by_process(regex) -> list[Listener], iteration, len()
    parse_ss(text) -> Listeners ; parse_netstat(text) -> Listeners ; parse_listeners(text) (either)
    load_listeners(view) -> Listeners   # cmd `ss -ltnup`, else `netstat -neopa`
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Cited
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
_EXCERPT = 300
_SS_NETIDS = frozenset({"tcp", "udp", "raw", "u_str", "u_dgr", "u_seq", "nl", "p_raw", "p_dgr", "mptcp",
                        "sctp", "tipc", "v_str", "v_dgr", "xdp", "u_sp"})
_SS_STATES = frozenset({"LISTEN", "UNCONN", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
                        "TIME-WAIT", "CLOSE-WAIT", "LAST-ACK", "CLOSING", "CLOSED", "UNKNOWN"})
_SS_USER = re.compile(r'users:\(\("(?P<name>[^"]+)",pid=(?P<pid>\d+)')
_NETSTAT_PROTOS = frozenset({"tcp", "tcp6", "udp", "udp6", "udpl", "udpl6"})
_PID_PROG = re.compile(r"^(?P<pid>\d+)/(?P<prog>\S+)$")
WILDCARDS = frozenset({"0.0.0.0", "::", "*"})


@dataclass(frozen=True)
class Listener(Cited):
    proto: str
    address: str
    port: int
    process: str | None
    pid: int | None
    source: str
    line: int
    excerpt: str

    @property
    def wildcard(self) -> bool:
        return self.address in WILDCARDS

    @property
    def loopback(self) -> bool:
        return self.address.startswith("127.") or self.address == "::1"


@dataclass(frozen=True)
class Listeners:
    listeners: tuple[Listener, ...]
    source: str

    def __iter__(self) -> Iterator[Listener]:
        return iter(self.listeners)

    def __len__(self) -> int:
        return len(self.listeners)

    def on_port(self, port: int, proto: str = "tcp") -> list[Listener]:
        return [item for item in self.listeners if item.port == port and item.proto == proto]

    def by_process(self, regex: str) -> list[Listener]:
        pattern = re.compile(regex)
        return [item for item in self.listeners if item.process and pattern.search(item.process)]


def split_endpoint(endpoint: str) -> tuple[str, int] | None:
    """`0.0.0.0:3306`, `[::]:22`, `:::22`, `*:80`, `10.0.0.5%eth0:67`, `[::ffff:10.0.0.1]:5672`."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit() or len(port) > 5:
        return None
    host = host.strip("[]")
    host = host.split("%", 1)[0]
    if host.lower().startswith("::ffff:") and "." in host:
        host = host[7:]
    if host in ("", "[::]"):
        host = "::"
    return host, int(port)


def _clip(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= _EXCERPT else line[: _EXCERPT - 3] + "..."


def parse_ss(text: Text) -> Listeners:
    out: list[Listener] = []
    rows = 0
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or not raw.strip() or raw[0] in " \t":
            continue
        tokens = raw.split()
        proto: str | None = None
        if tokens[0] in _SS_NETIDS:
            proto = tokens[0]
            tokens = tokens[1:]
        if len(tokens) < 5 or tokens[0] not in _SS_STATES:
            continue
        rows += 1
        state = tokens[0]
        local = split_endpoint(tokens[3])
        if local is None:
            continue
        if proto is None:
            # Without a Netid column (`ss -lt` alone) TCP lists LISTEN, UDP lists UNCONN.
            proto = "tcp" if state == "LISTEN" else "udp" if state == "UNCONN" else None
        if proto is None or (proto, state) not in (("tcp", "LISTEN"), ("udp", "UNCONN")):
            continue
        user = _SS_USER.search(raw)
        out.append(Listener(proto, local[0], local[1], user.group("name") if user else None,
                            int(user.group("pid")) if user else None, text.source, lineno, _clip(raw)))
    if not rows and text.content.strip() and "State" not in text.content[:4096]:
        raise ParseError(text.source, "no ss socket rows (`[Netid] State Recv-Q Send-Q Local Peer`)")
    return Listeners(tuple(out), text.source)


def parse_netstat(text: Text) -> Listeners:
    out: list[Listener] = []
    rows = 0
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        tokens = raw.split()
        if len(tokens) < 5 or tokens[0] not in _NETSTAT_PROTOS:
            continue
        rows += 1
        proto = "tcp" if tokens[0].startswith("tcp") else "udp"
        local = split_endpoint(tokens[3])
        peer = tokens[4]
        state = tokens[5] if len(tokens) > 5 and not tokens[5].isdigit() else ""
        if local is None:
            continue
        if proto == "tcp" and state != "LISTEN":
            continue
        if proto == "udp" and not peer.endswith(":*"):
            continue
        process: str | None = None
        pid: int | None = None
        for token in tokens[5:]:
            m = _PID_PROG.match(token)
            if m:
                pid, process = int(m.group("pid")), m.group("prog")
                break
        out.append(Listener(proto, local[0], local[1], process, pid, text.source, lineno, _clip(raw)))
    if not rows and text.content.strip() and "Proto" not in text.content[:4096]:
        raise ParseError(text.source, "no netstat socket rows (`Proto Recv-Q Send-Q Local Foreign ...`)")
    return Listeners(tuple(out), text.source)


def parse_listeners(text: Text) -> Listeners:
    head = text.content[:4096]
    if re.search(r"^Proto\s+Recv-Q", head, re.MULTILINE) or re.search(r"^(?:tcp6?|udp6?)\s+\d", head,
                                                                       re.MULTILINE):
        return parse_netstat(text)
    return parse_ss(text)


def load_listeners(view: HostView) -> Listeners:
    for key in ("ss -ltnup", "netstat -neopa"):
        text = view.command(key)
        if text is not None and text.content.strip():
            return parse_listeners(text)
    raise MissingEvidence("sos_commands/networking/ss_-peaonmi or netstat_-W_-neopa (cmd: ss -ltnup)")


FUZZ_TARGETS = [parse_ss, parse_netstat, parse_listeners]
