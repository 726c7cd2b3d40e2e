"""Which OpenStack services run here and which config files they were started with; systemd unit-file states.

Built on the process table of `stackrx.facts.kernel` (`ps auxwww`, sos `ps_auxwwwm`). For every process whose
program is an OpenStack-style service (`/usr/bin/python3 /usr/bin/nova-compute --config-file=...`,
`nova-api-metadata`, `neutron-server: api worker (...)`, `/usr/bin/neutron-l3-agent ...`), the command line's
`--config-file X` / `--config-file=X` and `--config-dir X` options are collected in order; they are
authoritative over the default paths when present (CATALOGUE §0 config discovery, step 2). A `--config-dir`
stands for every `*.conf` in it, in lexical order, after the `--config-file`s (oslo.config's order).

`systemctl list-unit-files` (sos systemd plugin) gives each unit file's state (enabled, disabled, static,
masked, indirect, generated...).

Public API:

    ServiceProcess(pid, user, program, project | None, config_files: tuple[str, ...],
                   config_dirs: tuple[str, ...], log_file: str | None, command, source, line)  .evidence()
    program_of(command) -> str | None      # basename of the service script, interpreters skipped
    service_processes(table) -> list[ServiceProcess]
    load_service_processes(view) -> list[ServiceProcess]   # MissingEvidence without a process table
    config_files_of(view, processes) -> list[str]          # logical paths, --config-dir expanded
    UnitFile(name, state, source, line)  .evidence()
    parse_unit_files(text) -> dict[str, UnitFile] ; load_unit_files(view)
    ContainerStatus(name, image, status, source, line)  .state ("up", "restarting", "exited", "created",
        "paused", "dead", "unknown"), .exit_code, .evidence()
    parse_docker_ps(text) -> dict[name, ContainerStatus] ; load_container_status(view)   # `docker ps -a`
        (sos `sos_commands/docker/docker_ps_-a`, podman's `podman_ps_-a`); columns found by header offsets
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from stackrx.errors import ParseError
from stackrx.facts.kernel import ProcessTable, load_processes
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_EXCERPT = 300
_MAX_LINE = 64 * 1024
_INTERPRETER = re.compile(r"^(?:python[\d.]*|pypy[\d.]*|uwsgi|/usr/libexec/platform-python[\d.]*|"
                          r"platform-python[\d.]*|sh|bash|dumb-init|tini|sudo)$")
PROJECTS = ("nova", "neutron", "glance", "cinder", "keystone", "heat", "placement", "octavia", "manila",
            "ironic", "aodh", "ceilometer", "gnocchi", "barbican", "designate", "magnum", "swift", "trove")
_PROGRAM = re.compile(r"^(?P<project>" + "|".join(PROJECTS) + r")(?:-[\w-]+)?$")


@dataclass(frozen=True)
class ServiceProcess:
    pid: int
    user: str
    program: str
    project: str | None
    config_files: tuple[str, ...]
    config_dirs: tuple[str, ...]
    log_file: str | None
    """`--log-file` / `--log_file` from the command line (oslo.log CLI option), logical path."""
    command: str
    source: str
    line: int

    def evidence(self) -> Evidence:
        cmd = self.command if len(self.command) <= _EXCERPT else self.command[: _EXCERPT - 3] + "..."
        return Evidence(source=self.source, line=self.line, excerpt=f"{self.user} {self.pid} {cmd}")


def _tokens(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def program_of(command: str) -> str | None:
    tokens = _tokens(command)
    for tok in tokens:
        if tok.startswith("-"):
            return None  # options before any program: an interpreter flag we cannot see past
        base = posixpath.basename(tok.rstrip(":"))
        if _INTERPRETER.match(base):
            continue
        return base or None
    return None


def _options(tokens: list[str], name: str) -> list[str]:
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if tok == name and i + 1 < len(tokens):
            out.append(tokens[i + 1])
        elif tok.startswith(name + "="):
            out.append(tok.split("=", 1)[1])
    return [v for v in out if v]


def service_processes(table: ProcessTable) -> list[ServiceProcess]:
    out: list[ServiceProcess] = []
    for proc in table:
        program = program_of(proc.command)
        if program is None:
            continue
        m = _PROGRAM.match(program)
        tokens = _tokens(proc.command)
        files = _options(tokens, "--config-file")
        dirs = _options(tokens, "--config-dir")
        if m is None and not files and not dirs:
            continue
        logs = _options(tokens, "--log-file") or _options(tokens, "--log_file")
        log_file = posixpath.normpath(logs[-1]).lstrip("/") if logs else None
        out.append(ServiceProcess(proc.pid, proc.user, program, m.group("project") if m else None,
                                  tuple(files), tuple(dirs), log_file, proc.command, proc.source, proc.line))
    return out


def load_service_processes(view: HostView) -> list[ServiceProcess]:
    return service_processes(load_processes(view))


def config_files_of(view: HostView, processes: list[ServiceProcess]) -> list[str]:
    """Every config file the given processes were started with, as logical paths, first seen first."""
    files: list[str] = []
    for proc in processes:
        for path in proc.config_files:
            files.append(posixpath.normpath(path).lstrip("/"))
        for directory in proc.config_dirs:
            files.extend(view.glob(posixpath.normpath(directory).lstrip("/") + "/*.conf"))
    return list(dict.fromkeys(files))


# -- systemd ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitFile:
    name: str
    state: str
    source: str
    line: int

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"{self.name} {self.state}")


_UNIT_ROW = re.compile(r"^\s*(?P<name>[\w@:.\\-]+\.(?:service|socket|target|timer|mount|path|slice|scope|device|"
                       r"automount|swap))\s+(?P<state>[a-z-]+)")


def parse_unit_files(text: Text) -> dict[str, UnitFile]:
    units: dict[str, UnitFile] = {}
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _UNIT_ROW.match(raw)
        if m:
            units[m.group("name")] = UnitFile(m.group("name"), m.group("state"), text.source, lineno)
    if not units and text.content.strip() and "UNIT FILE" not in text.content[:4096]:
        raise ParseError(text.source, "no `unit.service state` rows")
    return units


def load_unit_files(view: HostView) -> dict[str, UnitFile]:
    text = view.required_command("systemctl list-unit-files", "sos_commands/systemd/systemctl_list-unit-files")
    return parse_unit_files(text)


# -- containers -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContainerStatus:
    name: str
    image: str
    status: str
    source: str
    line: int

    @property
    def state(self) -> str:
        low = self.status.lower()
        for prefix, state in (("up", "up"), ("restarting", "restarting"), ("exited", "exited"),
                              ("created", "created"), ("paused", "paused"), ("dead", "dead"),
                              ("removal", "dead")):
            if low.startswith(prefix):
                return "paused" if state == "up" and "(paused)" in low else state
        return "unknown"

    @property
    def exit_code(self) -> int | None:
        m = re.match(r"^(?:Exited|Restarting) \((?P<code>-?\d+)\)", self.status)
        return int(m.group("code")) if m else None

    def evidence(self) -> Evidence:
        excerpt = f"{self.name} {self.image} {self.status}"
        return Evidence(source=self.source, line=self.line, excerpt=excerpt[:_EXCERPT])


def parse_docker_ps(text: Text) -> dict[str, ContainerStatus]:
    out: dict[str, ContainerStatus] = {}
    header: dict[str, int] | None = None
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or not raw.strip():
            continue
        if header is None:
            if "CONTAINER ID" in raw and "STATUS" in raw and "NAMES" in raw:
                header = {col: raw.index(col) for col in ("IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")
                          if col in raw}
            continue
        if len(raw) <= header["STATUS"]:
            continue
        end = header.get("PORTS", header["NAMES"])
        status = raw[header["STATUS"]:end].strip()
        image = raw[header.get("IMAGE", 0):header.get("COMMAND", header["STATUS"])].strip().split(" ")[0]
        names = raw[header["NAMES"]:].strip() if len(raw) > header["NAMES"] else raw.split()[-1]
        if not names or not status:
            continue
        for name in names.split(","):
            out[name] = ContainerStatus(name, image, status, text.source, lineno)
    if header is None and text.content.strip():
        raise ParseError(text.source, "no `CONTAINER ID ... STATUS ... NAMES` header")
    return out


def load_container_status(view: HostView) -> dict[str, ContainerStatus]:
    text = view.required_command("docker ps -a", "sos_commands/docker/docker_ps_-a")
    return parse_docker_ps(text)


FUZZ_TARGETS = [parse_unit_files, parse_docker_ps]
