"""Ceph cluster facts as a monitor/admin node sees them: health checks, OSD map flags, pools, daemon versions.

Inputs (sos ceph_mon plugin: text under `sos_commands/ceph_mon/`, JSON under `.../json_output/` with
`--format json-pretty`; older sos kept both side by side in `sos_commands/ceph/`; a live host runs the JSON
form): `ceph health detail`, `ceph status`, `ceph osd dump`, `ceph osd pool ls detail`, `ceph versions`.

Text forms understood:
- health detail: `HEALTH_WARN summary`, then per check `[WRN] CODE: summary` (Octopus+) or `CODE summary`
  (Luminous–Nautilus), detail lines indented below it;
- osd dump / pool ls detail: `require_osd_release <name>` and `pool <id> '<name>' ... application a,b`;
- versions: JSON (`{"osd": {"ceph version 15.2.14 (...) octopus (stable)": 12}, ...}`) — ceph prints it so
  without a format flag.

Public API:

    RELEASES: tuple of release names in order (argonaut ... tentacle); release_rank(name) -> int | None;
    release_of_version("15.2.14") -> "octopus"
    HealthCheck(code, severity, summary, details: tuple[str, ...], source, line)  .evidence()
    CephHealth(status, checks: dict[code, HealthCheck], source)  .get(code)
    parse_health(text) -> CephHealth          # health detail or status, text or JSON
    load_health(view) -> CephHealth           # `ceph health detail`, else `ceph status`
    Pool(pool_id, name, applications: tuple[str, ...], source, line)  .evidence()
    OsdMap(require_osd_release: str | None, pools: tuple[Pool, ...], source, line)  .evidence()
    parse_osd_dump(text) -> OsdMap ; load_osd_map(view)  (osd dump, else pool ls detail for pools only)
    DaemonVersions(by_type: dict[type, dict[release, count]], source)  .releases(type) -> set[str]
    parse_versions(text) -> DaemonVersions ; load_versions(view)
    summary(facts) -> {"ceph": {"health": ..., "checks": [...], "require_osd_release": ...}}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

if TYPE_CHECKING:
    from stackrx.facts import Facts

RELEASES = (
    "argonaut", "bobtail", "cuttlefish", "dumpling", "emperor", "firefly", "giant", "hammer", "infernalis",
    "jewel", "kraken", "luminous", "mimic", "nautilus", "octopus", "pacific", "quincy", "reef", "squid",
    "tentacle",
)
# Major version -> release name, from Infernalis (9) on, when Ceph switched to major-number releases.
_MAJOR = {9 + i: name for i, name in enumerate(RELEASES[RELEASES.index("infernalis"):])}
_MAX_LINE = 64 * 1024
_EXCERPT = 300
_CHECK_NEW = re.compile(r"^\[(?P<sev>WRN|ERR|INF)\] (?P<code>[A-Z][A-Z0-9_]+): (?P<summary>.*)$")
_CHECK_OLD = re.compile(r"^(?P<code>[A-Z][A-Z0-9_]{2,}) (?P<summary>\S.*)$")
_STATUS = re.compile(r"^(?P<status>HEALTH_(?:OK|WARN|ERR))\b")
_POOL = re.compile(r"^pool (?P<id>\d+) '(?P<name>[^']*)'")
_APPLICATION = re.compile(r"\bapplication (?P<apps>[\w.,-]+)")
_STATUS_NESTED = re.compile(r"^health: (?P<status>HEALTH_(?:OK|WARN|ERR))\b")
_REQUIRE = re.compile(r"^require_osd_release (?P<r>\w+)")
_VERSION_KEY = re.compile(r"ceph version (?P<v>\d+\.\d+\.\d+)\S*(?: \([0-9a-f]+\))?(?: (?P<name>[a-z]+))?")


def _clip(s: str) -> str:
    s = s.strip()
    return s if len(s) <= _EXCERPT else s[: _EXCERPT - 3] + "..."


def release_rank(name: str | None) -> int | None:
    if not name:
        return None
    low = name.strip().lower()
    return RELEASES.index(low) if low in RELEASES else None


def release_of_version(version: str) -> str | None:
    m = re.match(r"^(?:\d+:)?(\d+)\.", version.strip())
    if m is None:
        return None
    major = int(m.group(1))
    if major in _MAJOR:
        return _MAJOR[major]
    if major == 0:
        minor = re.match(r"^(?:\d+:)?0\.(\d+)", version.strip())
        legacy = {48: "argonaut", 56: "bobtail", 61: "cuttlefish", 67: "dumpling", 72: "emperor",
                  80: "firefly", 87: "giant", 94: "hammer"}
        return legacy.get(int(minor.group(1))) if minor else None
    return None


def _json(text: Text) -> Any | None:
    body = text.content.strip()
    if not body.startswith(("{", "[")):
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ParseError(text.source, "invalid JSON") from None


# -- health ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HealthCheck:
    code: str
    severity: str
    summary: str
    details: tuple[str, ...]
    source: str
    line: int | None

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=_clip(f"{self.code}: {self.summary}"))


@dataclass(frozen=True)
class CephHealth:
    status: str | None
    checks: dict[str, HealthCheck]
    source: str

    def get(self, code: str) -> HealthCheck | None:
        return self.checks.get(code)


def _health_json(text: Text, data: Any) -> CephHealth:
    if not isinstance(data, dict):
        raise ParseError(text.source, "ceph health JSON is not an object")
    nested = data.get("health")
    health: dict[str, Any] = nested if isinstance(nested, dict) else data
    status = health.get("status") if isinstance(health.get("status"), str) else None
    checks: dict[str, HealthCheck] = {}
    raw = health.get("checks")
    if isinstance(raw, dict):
        for code, body in raw.items():
            if not isinstance(body, dict):
                continue
            summary = body.get("summary")
            message = summary.get("message", "") if isinstance(summary, dict) else str(summary or "")
            details = tuple(str(d.get("message", "")) for d in body.get("detail", []) or []
                            if isinstance(d, dict))
            checks[str(code)] = HealthCheck(str(code), str(body.get("severity", "")), str(message), details,
                                            text.source, None)
    if status is None and not checks:
        raise ParseError(text.source, "no `status`/`checks` in ceph health JSON")
    return CephHealth(status, checks, text.source)


def parse_health(text: Text) -> CephHealth:
    data = _json(text)
    if data is not None:
        return _health_json(text, data)
    status: str | None = None
    checks: dict[str, HealthCheck] = {}
    current: tuple[str, str, str, int] | None = None
    details: list[str] = []

    def close() -> None:
        if current is not None:
            code, sev, summary, line = current
            checks[code] = HealthCheck(code, sev, summary, tuple(details), text.source, line)

    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or not raw.strip():
            continue
        line = raw.rstrip()
        stripped = line.strip()
        if status is None:
            m = _STATUS.match(stripped) or _STATUS_NESTED.match(stripped)
            if m:
                status = m.group("status")
                continue
        # `ceph status` text nests health under "health:" with indented checks.
        m = _CHECK_NEW.match(stripped)
        if m is None and not line.startswith((" ", "\t")):
            m = _CHECK_OLD.match(stripped)
        if m is not None and not stripped.startswith("HEALTH_"):
            close()
            sev = {"WRN": "HEALTH_WARN", "ERR": "HEALTH_ERR", "INF": "HEALTH_INFO"}.get(
                m.groupdict().get("sev") or "", "")
            current, details = (m.group("code"), sev, m.group("summary"), lineno), []
            continue
        if current is not None and line.startswith((" ", "\t")):
            details.append(stripped)
    close()
    if status is None and not checks:
        raise ParseError(text.source, "no HEALTH_OK/WARN/ERR status and no health check codes")
    return CephHealth(status, checks, text.source)


def load_health(view: HostView) -> CephHealth:
    for key in ("ceph health detail", "ceph status"):
        text = view.command(key)
        if text is not None and text.content.strip():
            return parse_health(text)
    raise MissingEvidence("sos_commands/ceph_mon/ceph_health_detail (cmd: ceph health detail)")


# -- osd map / pools -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pool:
    pool_id: int
    name: str
    applications: tuple[str, ...]
    source: str
    line: int | None
    excerpt: str

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.excerpt)


@dataclass(frozen=True)
class OsdMap:
    require_osd_release: str | None
    pools: tuple[Pool, ...]
    source: str
    line: int | None
    has_osd_map: bool
    """False when only a pool listing was available (no require_osd_release known)."""

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line,
                        excerpt=f"require_osd_release {self.require_osd_release}")


def _pools_json(text: Text, items: Any) -> list[Pool]:
    pools: list[Pool] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        name = item.get("pool_name", item.get("name"))
        pid = item.get("pool", item.get("pool_id", -1))
        apps = item.get("application_metadata")
        names = tuple(sorted(apps)) if isinstance(apps, dict) else ()
        if isinstance(name, str):
            pool_id = pid if isinstance(pid, int) else -1
            pools.append(Pool(pool_id, name, names, text.source, None,
                              _clip(f"pool {pool_id} '{name}' application_metadata {json.dumps(apps)}")))
    return pools


def parse_osd_dump(text: Text) -> OsdMap:
    data = _json(text)
    if data is not None:
        if isinstance(data, list):
            return OsdMap(None, tuple(_pools_json(text, data)), text.source, None, False)
        if not isinstance(data, dict):
            raise ParseError(text.source, "osd dump JSON is not an object")
        required = data.get("require_osd_release")
        return OsdMap(required if isinstance(required, str) else None, tuple(_pools_json(text, data.get("pools"))),
                      text.source, None, "epoch" in data or "require_osd_release" in data)
    release: str | None = None
    release_line: int | None = None
    pools: list[Pool] = []
    osd_map = False
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        line = raw.strip()
        if line.startswith(("epoch ", "fsid ")):
            osd_map = True
        m = _REQUIRE.match(line)
        if m:
            release, release_line, osd_map = m.group("r"), lineno, True
            continue
        m = _POOL.match(line)
        if m:
            app = _APPLICATION.search(line)
            apps = tuple(a for a in (app.group("apps") if app else "").split(",") if a)
            pools.append(Pool(int(m.group("id")), m.group("name"), apps, text.source, lineno, _clip(line)))
    if not osd_map and not pools:
        raise ParseError(text.source, "no `require_osd_release`, `epoch` or `pool N 'name'` lines")
    return OsdMap(release, tuple(pools), text.source, release_line, osd_map)


def load_osd_map(view: HostView) -> OsdMap:
    for key in ("ceph osd dump", "ceph osd pool ls detail"):
        text = view.command(key)
        if text is not None and text.content.strip():
            return parse_osd_dump(text)
    raise MissingEvidence("sos_commands/ceph_mon/ceph_osd_dump (cmd: ceph osd dump)")


# -- versions --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DaemonVersions:
    by_type: dict[str, dict[str, int]]
    """daemon type (mon, mgr, osd, mds, rgw, overall) -> release name -> daemon count"""
    versions: dict[str, dict[str, int]]
    """daemon type -> version string (15.2.14) -> count"""
    source: str

    def releases(self, daemon: str) -> set[str]:
        return set(self.by_type.get(daemon, {}))

    def evidence(self, daemon: str) -> Evidence:
        counts = ", ".join(f"{v}: {n}" for v, n in sorted(self.versions.get(daemon, {}).items()))
        return Evidence(source=self.source, excerpt=_clip(f"{daemon}: {counts}"))


def parse_versions(text: Text) -> DaemonVersions:
    data = _json(text)
    if not isinstance(data, dict):
        raise ParseError(text.source, "`ceph versions` output is not a JSON object")
    by_type: dict[str, dict[str, int]] = {}
    versions: dict[str, dict[str, int]] = {}
    for daemon, entries in data.items():
        if not isinstance(entries, dict):
            continue
        for key, count in entries.items():
            m = _VERSION_KEY.search(str(key))
            if m is None or not isinstance(count, int):
                continue
            release = m.group("name") if m.group("name") in RELEASES else release_of_version(m.group("v"))
            if release is None:
                continue
            by_type.setdefault(str(daemon), {})
            by_type[str(daemon)][release] = by_type[str(daemon)].get(release, 0) + count
            versions.setdefault(str(daemon), {})
            versions[str(daemon)][m.group("v")] = versions[str(daemon)].get(m.group("v"), 0) + count
    return DaemonVersions(by_type, versions, text.source)


def load_versions(view: HostView) -> DaemonVersions:
    text = view.required_command("ceph versions", "sos_commands/ceph_mon/ceph_versions")
    return parse_versions(text)


def summary(facts: Facts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        health = facts.get(load_health)
        out.update(health=health.status, checks=sorted(health.checks))
    except (MissingEvidence, ParseError):
        pass
    try:
        osd = facts.get(load_osd_map)
        if osd.require_osd_release:
            out["require_osd_release"] = osd.require_osd_release
    except (MissingEvidence, ParseError):
        pass
    return {"ceph": out} if out else {}


FUZZ_TARGETS = [parse_health, parse_osd_dump, parse_versions]
