"""Kernel parameters: the running values (`sysctl -a`, per network namespace) and the persisted ones.

Public API:

    SysctlEntry(key: str, value: str, source: str, line: int)
        .evidence() -> Evidence, .as_int() -> int | None
    Sysctl(entries: dict[str, SysctlEntry], sources: tuple[str, ...])
        .get(key) -> SysctlEntry | None, .value(key) -> str | None, .as_int(key) -> int | None,
        .prefixed(prefix) -> list[SysctlEntry], `key in sysctl`, len()
        .conf(iface, leaf) -> SysctlEntry | None   # net.ipv4.conf.<iface>.<leaf>, `.` in names as `/`
    parse_sysctl(text) -> Sysctl          # `sysctl -a` output and sysctl.conf / sysctl.d files alike
    load_sysctl(view) -> Sysctl           # init netns: cmd `sysctl -a` (sos_commands/kernel/sysctl_-a)
    load_netns_sysctl(view, ns) -> Sysctl # `ip netns exec <ns> sysctl -a`
    PersistedSysctl(files: tuple[str, ...], entries: tuple[SysctlEntry, ...])
        .effective() -> dict[str, SysctlEntry] (last assignment wins), .get(key) -> SysctlEntry | None,
        .all(key) -> list[SysctlEntry] (every assignment, in application order)
    load_sysctl_files(view) -> PersistedSysctl   # etc/sysctl.d, run/sysctl.d, usr/lib/sysctl.d, lib/sysctl.d,
                                                 # then etc/sysctl.conf; MissingEvidence when none exist
    iface_key(iface) -> str                      # interface name as it appears inside a sysctl key

Keys are normalised to the dotted form; a file key written with slashes (`net/ipv4/ip_forward`) is
converted the way systemd-sysctl and procps do (swap `/` and `.`). A value is kept verbatim (stripped):
neither systemd-sysctl nor `sysctl -p` treat a trailing `# ...` as a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_KEY = re.compile(r"^[A-Za-z0-9_][\w.\-/:@+*]*$")
_MAX_LINE = 64 * 1024
# systemd-sysctl directories, highest priority first; a file name in an earlier one masks later ones.
SYSCTL_DIRS = ("etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d")


@dataclass(frozen=True)
class SysctlEntry:
    key: str
    value: str
    source: str
    line: int

    def as_int(self) -> int | None:
        token = self.value.split()[0] if self.value.split() else ""
        if re.fullmatch(r"-?\d{1,19}", token):
            return int(token)
        return None

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"{self.key} = {self.value}")


def normalise_key(key: str) -> str:
    key = key.strip().lstrip("-")  # `-key = value` in sysctl.d means "ignore failure"
    first = re.search(r"[./]", key)
    if first is not None and first.group() == "/":
        key = key.translate(str.maketrans("./", "/."))
    return key


def iface_key(iface: str) -> str:
    """`eth0.100` is `eth0/100` inside `net.ipv4.conf.eth0/100.proxy_arp` (the kernel's name has a dot)."""
    return iface.replace(".", "/")


@dataclass(frozen=True)
class Sysctl:
    entries: dict[str, SysctlEntry]
    sources: tuple[str, ...]

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> SysctlEntry | None:
        return self.entries.get(key)

    def value(self, key: str) -> str | None:
        entry = self.entries.get(key)
        return entry.value if entry else None

    def as_int(self, key: str) -> int | None:
        entry = self.entries.get(key)
        return entry.as_int() if entry else None

    def prefixed(self, prefix: str) -> list[SysctlEntry]:
        return [e for k, e in self.entries.items() if k.startswith(prefix)]

    def conf(self, iface: str, leaf: str, family: str = "ipv4") -> SysctlEntry | None:
        return self.entries.get(f"net.{family}.conf.{iface_key(iface)}.{leaf}")


def _entries(text: Text) -> list[SysctlEntry]:
    out: list[SysctlEntry] = []
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        stripped = raw.strip()
        if not stripped or stripped[0] in "#;" or "=" not in stripped:
            continue  # comments, `sysctl: permission denied on key ...` notes, banners
        key, _, value = stripped.partition("=")
        key = normalise_key(key)
        if not _KEY.match(key):
            continue
        out.append(SysctlEntry(key, value.strip(), text.source, lineno))
    return out


def parse_sysctl(text: Text) -> Sysctl:
    """`key = value` lines; junk lines are skipped, a repeated key keeps its last value."""
    entries = _entries(text)
    if not entries and text.content.strip() and not _only_comments(text.content):
        raise ParseError(text.source, "no `key = value` line found")
    return Sysctl({e.key: e for e in entries}, (text.source,))


def _only_comments(content: str) -> bool:
    return all(not line.strip() or line.strip()[0] in "#;" for line in content.splitlines())


def load_sysctl(view: HostView) -> Sysctl:
    text = view.command("sysctl -a")
    if text is None:
        raise MissingEvidence("sos_commands/kernel/sysctl_-a (cmd: sysctl -a)")
    return parse_sysctl(text)


def load_netns_sysctl(view: HostView, ns: str) -> Sysctl:
    text = view.netns_command(ns, "sysctl -a")
    if text is None:
        raise MissingEvidence(f"sos_commands/networking/namespaces/{ns}/ip_netns_exec_{ns}_sysctl_-a"
                              f" (cmd: ip netns exec {ns} sysctl -a)")
    return parse_sysctl(text)


@dataclass(frozen=True)
class PersistedSysctl:
    files: tuple[str, ...]
    entries: tuple[SysctlEntry, ...]

    def effective(self) -> dict[str, SysctlEntry]:
        return {e.key: e for e in self.entries}

    def get(self, key: str) -> SysctlEntry | None:
        return self.effective().get(key)

    def all(self, key: str) -> list[SysctlEntry]:
        return [e for e in self.entries if e.key == key]


def sysctl_file_order(view: HostView) -> list[str]:
    """Files in the order systemd-sysctl applies them: by file name across directories, then sysctl.conf."""
    chosen: dict[str, str] = {}
    for directory in SYSCTL_DIRS:
        for path in view.glob(f"{directory}/*.conf"):
            chosen.setdefault(path.rsplit("/", 1)[-1], path)
    ordered = [chosen[name] for name in sorted(chosen)]
    if view.exists("etc/sysctl.conf"):
        ordered.append("etc/sysctl.conf")
    return ordered


def load_sysctl_files(view: HostView) -> PersistedSysctl:
    files: list[str] = []
    entries: list[SysctlEntry] = []
    for path in sysctl_file_order(view):
        text = view.read_text(path)
        if text is None:
            continue
        files.append(text.source)
        entries.extend(_entries(text))
    if not files:
        raise MissingEvidence("etc/sysctl.conf or etc/sysctl.d/*.conf")
    return PersistedSysctl(tuple(files), tuple(entries))


_SUMMARY_KEYS = (
    "net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_buckets", "net.nf_conntrack_max",
    "net.ipv4.ip_forward", "net.ipv4.conf.all.proxy_arp",
)


def summary(facts: Facts) -> dict[str, Any]:
    try:
        sysctl = facts.get(load_sysctl)
    except (MissingEvidence, ParseError):
        return {}
    values = {key: sysctl.value(key) for key in _SUMMARY_KEYS if key in sysctl}
    out: dict[str, Any] = {"sysctl": values} if values else {}
    count = sysctl.as_int("net.netfilter.nf_conntrack_count")
    limit = sysctl.as_int("net.netfilter.nf_conntrack_max") or sysctl.as_int("net.nf_conntrack_max")
    if count is not None and limit:
        # Trend material: NET-001 forecasts when the table fills from these readings.
        out["metrics"] = {"nf_conntrack_count": float(count), "nf_conntrack_max": float(limit),
                          "nf_conntrack_ratio": count / limit}
    return out


FUZZ_TARGETS = [parse_sysctl]
