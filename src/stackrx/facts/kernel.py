"""Kernel and process facts: loaded modules (`lsmod`), the running kernel (`uname -a`), the process table.

Public API:

    Module(name: str, size: int, used: int, used_by: tuple[str, ...], source: str, line: int)
        .evidence()
    Lsmod(modules: dict[str, Module], source: str)
        .get(name) -> Module | None, `name in lsmod` (a `-` in the name matches `_`, as modprobe does), len()
    parse_lsmod(text) -> Lsmod
    load_lsmod(view) -> Lsmod                 # cmd `lsmod` (sos_commands/kernel/lsmod, root `lsmod`)

    Uname(kernel_name: str, hostname: str, release: str, version: tuple[int, ...], build: str,
          machine: str | None, distro: str | None, distro_release: str | None, source: str, line: int)
        `version`: numeric prefix of the release (`5.4.0-97-generic` -> (5, 4, 0, 97)); the first two
            items always exist. `distro` is a hint from the release and build strings: `rhel` (elN),
            `fedora` (fcN), `ubuntu`, `debian`, `suse`, or None; `distro_release` e.g. "7" for el7.
        .at_least(major, minor) -> bool, .is_enterprise_backport -> bool (RHEL/CentOS-style elN kernel,
            where upstream version numbers understate the feature set), .evidence()
    parse_uname(text) -> Uname
    load_uname(view) -> Uname                 # cmd `uname -a` (sos_commands/kernel/uname_-a, root `uname`)

    Process(pid: int, user: str, command: str, source: str, line: int)
        .evidence()
    ProcessTable(processes: tuple[Process, ...], source: str)
        .matching(regex) -> list[Process] (search in the command line), iteration, len()
    parse_ps(text) -> ProcessTable            # `ps auxwww`, `ps auxwwwm` (thread rows skipped), `ps alxwww`
    load_processes(view) -> ProcessTable      # cmd `ps auxwww` (sos_commands/process/ps_auxwwwm, root `ps`)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
_EXCERPT = 300
_MODULE_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9_\-]{1,64})\s+(?P<size>\d{1,12})\s+(?P<used>-?\d{1,9})(?:\s+(?P<by>\S.*))?$")
_MACHINE = re.compile(r"x86_64|i[3-6]86|aarch64|ppc64le|ppc64|s390x|armv\w+")
_SUMMARY_MODULES = (
    "openvswitch", "geneve", "vxlan", "nf_conntrack", "nf_nat", "br_netfilter", "bonding", "8021q")
_RELEASE_NUM = re.compile(r"^(\d{1,4})\.(\d{1,4})(?:\.(\d{1,6}))?(?:[-.](\d{1,9}))?")


def _clip(s: str) -> str:
    return s if len(s) <= _EXCERPT else s[: _EXCERPT - 3] + "..."


# -- lsmod ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Module:
    name: str
    size: int
    used: int
    used_by: tuple[str, ...]
    source: str
    line: int

    def evidence(self) -> Evidence:
        by = f" {','.join(self.used_by)}" if self.used_by else ""
        return Evidence(source=self.source, line=self.line,
                        excerpt=_clip(f"{self.name} {self.size} {self.used}{by}"))


def _modname(name: str) -> str:
    return name.replace("-", "_")


@dataclass(frozen=True)
class Lsmod:
    modules: dict[str, Module]
    source: str

    def get(self, name: str) -> Module | None:
        return self.modules.get(_modname(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _modname(name) in self.modules

    def __len__(self) -> int:
        return len(self.modules)


def parse_lsmod(text: Text) -> Lsmod:
    modules: dict[str, Module] = {}
    header = False
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        line = raw.strip()
        if line.startswith("Module") and "Size" in line:
            header = True
            continue
        m = _MODULE_LINE.match(line)
        if not m:
            continue
        users = (m.group("by") or "").replace(" ", ",").split(",")
        by = tuple(b for b in users if b and b != "[permanent]")
        name = _modname(m.group("name"))
        modules[name] = Module(name, int(m.group("size")), int(m.group("used")), by, text.source, lineno)
    if not modules and not header and text.content.strip():
        raise ParseError(text.source, "no `Module Size Used by` header and no module line")
    return Lsmod(modules, text.source)


def load_lsmod(view: HostView) -> Lsmod:
    text = view.required_command("lsmod", "sos_commands/kernel/lsmod")
    return parse_lsmod(text)


# -- uname -a -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Uname:
    kernel_name: str
    hostname: str
    release: str
    version: tuple[int, ...]
    build: str
    machine: str | None
    distro: str | None
    distro_release: str | None
    source: str
    line: int

    def at_least(self, major: int, minor: int) -> bool:
        return self.version[:2] >= (major, minor)

    @property
    def is_enterprise_backport(self) -> bool:
        return self.distro == "rhel"

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line,
                        excerpt=_clip(f"{self.kernel_name} {self.hostname} {self.release} {self.build}"))


def _distro(release: str, build: str) -> tuple[str | None, str | None]:
    el = re.search(r"\.el(\d+)", release)
    if el:
        return "rhel", el.group(1)
    fc = re.search(r"\.fc(\d+)", release)
    if fc:
        return "fedora", fc.group(1)
    if "Ubuntu" in build or re.search(r"-(generic|lowlatency|aws|azure|gcp|kvm|oracle)\b", release):
        return "ubuntu", None
    if "Debian" in build or re.search(r"-(amd64|arm64|cloud-amd64|rt-amd64)$", release):
        return "debian", None
    if re.search(r"-default$", release) or "SUSE" in build:
        return "suse", None
    return None, None


def parse_uname(text: Text) -> Uname:
    """The first line that has a kernel name, host name and a numeric release."""
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        parts = raw.split()
        if len(parts) < 3 or not re.fullmatch(r"[A-Za-z][\w\-/]{0,31}", parts[0]):
            continue
        m = _RELEASE_NUM.match(parts[2])
        if not m:
            continue
        version = tuple(int(g) for g in m.groups() if g is not None)
        build = " ".join(parts[3:])
        machine = None
        tail = [p for p in parts[3:] if _MACHINE.fullmatch(p)]
        if tail:
            machine = tail[0]
        distro, distro_release = _distro(parts[2], build)
        return Uname(parts[0], parts[1], parts[2], version, build, machine, distro, distro_release,
                     text.source, lineno)
    raise ParseError(text.source, "no `uname -a` line with a numeric kernel release")


def load_uname(view: HostView) -> Uname:
    text = view.required_command("uname -a", "sos_commands/kernel/uname_-a")
    return parse_uname(text)


# -- ps -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Process:
    pid: int
    user: str
    command: str
    source: str
    line: int

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line,
                        excerpt=_clip(f"{self.user} {self.pid} {self.command}"))


@dataclass(frozen=True)
class ProcessTable:
    processes: tuple[Process, ...]
    source: str

    def __iter__(self) -> Iterator[Process]:
        return iter(self.processes)

    def __len__(self) -> int:
        return len(self.processes)

    def matching(self, regex: str | re.Pattern[str]) -> list[Process]:
        pattern = re.compile(regex) if isinstance(regex, str) else regex
        return [p for p in self.processes if pattern.search(p.command)]


def parse_ps(text: Text) -> ProcessTable:
    processes: list[Process] = []
    columns: list[str] | None = None
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or not raw.strip():
            continue
        fields = raw.split()
        if "PID" in fields and fields[-1] in ("COMMAND", "CMD", "ARGS"):
            columns = fields
            continue
        if columns is None or len(fields) < len(columns):
            continue
        split = raw.split(None, len(columns) - 1)
        row = dict(zip(columns, split, strict=False))
        pid = row.get("PID", "")
        if not pid.isdigit() or len(pid) > 10:
            continue  # `ps m` prints each thread as a row with `-` in place of the PID
        command = split[-1].strip()
        if command == "-":
            continue
        user = row.get("USER", row.get("UID", ""))
        processes.append(Process(int(pid), user, command, text.source, lineno))
    if columns is None and text.content.strip():
        raise ParseError(text.source, "no ps header line (USER/UID ... PID ... COMMAND)")
    return ProcessTable(tuple(processes), text.source)


def load_processes(view: HostView) -> ProcessTable:
    text = view.required_command("ps auxwww", "sos_commands/process/ps_auxwwwm")
    return parse_ps(text)


def summary(facts: Facts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        uname = facts.get(load_uname)
        out["kernel"] = {"release": uname.release, "distro": uname.distro}
    except (MissingEvidence, ParseError):
        pass
    try:
        lsmod = facts.get(load_lsmod)
        out["kernel_modules"] = sorted(m for m in _SUMMARY_MODULES if m in lsmod)
    except (MissingEvidence, ParseError):
        pass
    return out


FUZZ_TARGETS = [parse_lsmod, parse_uname, parse_ps]
