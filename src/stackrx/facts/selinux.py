"""SELinux state and the distribution family of the node.

Inputs: `sestatus` (sos selinux plugin; `SELinux status:`, `Current mode:`, `Mode from config file:`), on a
live host also `/sys/fs/selinux/enforce` (`1` enforcing, `0` permissive; absent when SELinux is disabled or
not built in), and the persistent `etc/selinux/config` (`SELINUX=enforcing|permissive|disabled`). The
distribution comes from `etc/os-release` (`ID`, `ID_LIKE`), else `etc/redhat-release`.

Public API:

    SelinuxState(enabled: bool | None, mode: str | None, config_mode: str | None, evidence: tuple[Evidence, ...])
        `mode`: enforcing / permissive / disabled (the running state); `config_mode`: the SELINUX= value
        (the state after the next boot). None when that source was not collected.
    parse_sestatus(text) -> tuple[bool | None, str | None, str | None, list[Evidence]]
    parse_selinux_config(text) -> tuple[str | None, Evidence | None]
    load_selinux(view) -> SelinuxState    # MissingEvidence when neither sestatus, enforce nor config exist
    OsRelease(id: str | None, like: tuple[str, ...], pretty: str | None, source: str)
        .rhel_family -> bool (rhel, centos, fedora, rocky, almalinux, ol in ID or ID_LIKE)
    parse_os_release(text) -> OsRelease
    load_os_release(view) -> OsRelease    # etc/os-release, usr/lib/os-release, else etc/redhat-release
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
MODES = frozenset({"enforcing", "permissive", "disabled"})
_RHEL_IDS = frozenset({"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "scientific", "eurolinux"})
_STATUS = re.compile(r"^(?P<key>SELinux status|Current mode|Mode from config file)\s*:\s*(?P<value>\S+)")
_CONFIG = re.compile(r"^\s*SELINUX\s*=\s*(?P<value>[\"']?\w+[\"']?)\s*(?:#.*)?$")
_OS_KEY = re.compile(r"^(?P<key>[A-Z_]+)=(?P<value>.*)$")


@dataclass(frozen=True)
class SelinuxState:
    enabled: bool | None
    mode: str | None
    config_mode: str | None
    evidence: tuple[Evidence, ...]


def parse_sestatus(text: Text) -> tuple[bool | None, str | None, str | None, list[Evidence]]:
    enabled: bool | None = None
    mode: str | None = None
    config: str | None = None
    evidence: list[Evidence] = []
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _STATUS.match(raw.strip())
        if not m:
            continue
        key, value = m.group("key"), m.group("value").lower()
        evidence.append(Evidence(source=text.source, line=lineno, excerpt=" ".join(raw.split())))
        if key == "SELinux status":
            enabled = value == "enabled"
            if not enabled:
                mode = "disabled"
        elif key == "Current mode" and value in MODES:
            mode = value
        elif key == "Mode from config file" and value in MODES:
            config = value
    if enabled is None and mode is None and text.content.strip():
        raise ParseError(text.source, "no `SELinux status:` line: not sestatus output")
    return enabled, mode, config, evidence


def parse_selinux_config(text: Text) -> tuple[str | None, Evidence | None]:
    """The last `SELINUX=` assignment (the file is sourced like shell, later lines win)."""
    found: tuple[str | None, Evidence | None] = (None, None)
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _CONFIG.match(raw)
        if m:
            value = m.group("value").strip("\"'").lower()
            if value in MODES:
                found = (value, Evidence(source=text.source, line=lineno, excerpt=raw.strip()))
    return found


def load_selinux(view: HostView) -> SelinuxState:
    enabled: bool | None = None
    mode: str | None = None
    config: str | None = None
    evidence: list[Evidence] = []
    status = view.command("sestatus")
    if status is not None and status.content.strip():
        enabled, mode, config, evidence = parse_sestatus(status)
    if mode is None:
        enforce = view.read_text("sys/fs/selinux/enforce")
        if enforce is not None and enforce.content.strip() in ("0", "1"):
            enabled = True
            mode = "enforcing" if enforce.content.strip() == "1" else "permissive"
            evidence.append(Evidence(source=enforce.source, line=1, excerpt=enforce.content.strip()))
    conf = view.read_text("etc/selinux/config")
    if conf is not None:
        value, ev = parse_selinux_config(conf)
        if value is not None and ev is not None:
            config = value
            evidence.append(ev)
    if mode is None and config is None:
        raise MissingEvidence("sos_commands/selinux/sestatus or etc/selinux/config (cmd: sestatus)")
    return SelinuxState(enabled, mode, config, tuple(evidence))


@dataclass(frozen=True)
class OsRelease:
    id: str | None
    like: tuple[str, ...]
    pretty: str | None
    source: str

    @property
    def rhel_family(self) -> bool:
        return bool({self.id or "", *self.like} & _RHEL_IDS)


def parse_os_release(text: Text) -> OsRelease:
    values: dict[str, str] = {}
    for raw in text.content.splitlines():
        if len(raw) > _MAX_LINE:
            continue
        m = _OS_KEY.match(raw.strip())
        if m:
            values[m.group("key")] = m.group("value").strip().strip("\"'")
    if not values:
        first = text.content.strip().splitlines()[0][:200] if text.content.strip() else ""
        # redhat-release is one free-text line ("Red Hat Enterprise Linux release 9.2 (Plow)").
        low = first.lower()
        if "red hat" in low or "centos" in low or "rocky" in low or "alma" in low or "fedora" in low:
            return OsRelease("rhel", ("rhel", "fedora"), first, text.source)
        if first:
            raise ParseError(text.source, "no KEY=value line: not an os-release file")
        return OsRelease(None, (), None, text.source)
    like = tuple(v.lower() for v in values.get("ID_LIKE", "").split() if v)
    return OsRelease(values.get("ID", "").lower() or None, like, values.get("PRETTY_NAME"), text.source)


def load_os_release(view: HostView) -> OsRelease:
    for path in ("etc/os-release", "usr/lib/os-release", "etc/redhat-release"):
        text = view.read_text(path)
        if text is not None and text.content.strip():
            return parse_os_release(text)
    raise MissingEvidence("etc/os-release or etc/redhat-release")


def summary(facts: Facts) -> dict[str, Any]:
    try:
        state = facts.get(load_selinux)
    except (MissingEvidence, ParseError):
        return {}
    return {"selinux": {"mode": state.mode, "config": state.config_mode}}


FUZZ_TARGETS = [parse_sestatus, parse_selinux_config, parse_os_release]
