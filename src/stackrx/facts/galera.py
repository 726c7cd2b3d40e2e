"""MySQL/MariaDB/Galera node facts: server option files, wsrep settings, grastate.dat / gvwstate.dat.

Option files (MySQL/MariaDB syntax, not oslo): `[group]` headers, `key = value` or a bare `key`, `-` and `_`
equivalent in names, `#`/`;` comments (also after a value, outside quotes), `!include FILE` and
`!includedir DIR` (every `*.cnf` in lexical order). Discovery starts at `etc/mysql/my.cnf` (Debian/Ubuntu;
the Kolla view maps `/etc/kolla/mariadb/galera.cnf` there) and `etc/my.cnf` (RHEL), follows the includes, and
also reads the usual include dirs when the top file is absent, plus TripleO's
`var/lib/config-data/puppet-generated/mysql/etc/my.cnf.d/`. Copied sos trees sometimes hold a symlink as a
tiny file whose content is the link target (`../alternatives/my.cnf`); such a file is followed. Only the
groups the server reads count: mysqld, server, mariadb, galera, and their `-<version>` variants; the last
assignment wins.

A node is a Galera member when `wsrep_provider` names a library (not `none`) and `wsrep_on` is not off.

grastate.dat (`uuid:`, `seqno:`, `safe_to_bootstrap:`) from `var/lib/mysql/` or
`var/lib/percona-xtradb-cluster/`; gvwstate.dat (`my_uuid:`, `view_id:`, `member:` lines) beside it.

Public API:

    CnfValue(key, value, group, source, line)  .evidence()
    MyCnf(files: tuple[str, ...], values: dict[key, CnfValue])   # keys normalised to `_`
        .get(key) -> CnfValue | None, .flag(key) -> bool | None (ON/1/TRUE vs OFF/0/FALSE)
    parse_my_cnf(text) -> list of (group, key, value, line) rows; load_my_cnf(view) -> MyCnf
    GaleraConfig(cnf: MyCnf, provider, cluster_address: CnfValue | None, members: tuple[str, ...],
                 bootstrap_address: bool)  .is_galera, .evidence()
    galera_config(cnf) -> GaleraConfig;  load_galera_config(view) -> GaleraConfig
    GraState(uuid, seqno: int | None, safe_to_bootstrap: int | None, version, source, lines: dict[field, int])
        .evidence(field) ; parse_grastate(text) -> GraState
    GvwState(my_uuid, view_id, members: tuple[str, ...], source)  ; parse_gvwstate(text) -> GvwState
    load_grastate(view) -> GraState ; load_gvwstate(view) -> GvwState   (MissingEvidence when absent)
    summary(facts) -> {"galera": {...}}
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

if TYPE_CHECKING:
    from stackrx.facts import Facts

_MAX_LINE = 64 * 1024
_MAX_FILES = 200
_SERVER_GROUP = re.compile(r"^(?:mysqld|server|mariadb|galera|mariadbd)(?:-[\d.]+)?$")
_TOP_FILES = ("etc/mysql/my.cnf", "etc/my.cnf", "etc/mysql/mariadb.cnf")
_FALLBACK_DIRS = ("etc/mysql/conf.d", "etc/mysql/mariadb.conf.d", "etc/mysql/percona-xtradb-cluster.conf.d",
                  "etc/my.cnf.d", "var/lib/config-data/puppet-generated/mysql/etc/my.cnf.d")
GRASTATE_PATHS = ("var/lib/mysql/grastate.dat", "var/lib/percona-xtradb-cluster/grastate.dat")
GVWSTATE_PATHS = ("var/lib/mysql/gvwstate.dat", "var/lib/percona-xtradb-cluster/gvwstate.dat")
_TRUE = {"on", "1", "true", "yes"}
_FALSE = {"off", "0", "false", "no"}


@dataclass(frozen=True)
class CnfValue:
    key: str
    value: str
    group: str
    source: str
    line: int

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"[{self.group}] {self.key} = {self.value}")


@dataclass(frozen=True)
class MyCnf:
    files: tuple[str, ...]
    values: dict[str, CnfValue]

    def get(self, key: str) -> CnfValue | None:
        return self.values.get(_norm(key))

    def flag(self, key: str) -> bool | None:
        value = self.get(key)
        if value is None:
            return None
        low = value.value.strip().lower()
        if low in _TRUE or low == "":
            return True  # a bare option name switches a boolean on
        if low in _FALSE:
            return False
        return None


def _norm(key: str) -> str:
    return key.strip().lower().replace("-", "_")


def _strip_comment(value: str) -> str:
    out: list[str] = []
    quote: str | None = None
    for i, c in enumerate(value):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "#;" and (i == 0 or value[i - 1] in " \t"):
            break
        out.append(c)
    text = "".join(out).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text


@dataclass(frozen=True)
class CnfRow:
    group: str | None
    key: str
    value: str
    line: int


def parse_my_cnf(text: Text) -> list[CnfRow]:
    """Rows in file order; `!include`/`!includedir` come back as keys `!include`/`!includedir`."""
    rows: list[CnfRow] = []
    group: str | None = None
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("!"):
            directive, _, arg = line.partition(" ")
            if directive in ("!include", "!includedir") and arg.strip():
                rows.append(CnfRow(group, directive, arg.strip(), lineno))
            continue
        if line.startswith("["):
            end = line.find("]")
            if end > 1:
                group = line[1:end].strip().lower()
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not key or " " in key or "\t" in key:
            continue
        rows.append(CnfRow(group, key, _strip_comment(value) if sep else "", lineno))
    return rows


def _pointer(view: HostView, path: str, text: Text) -> str | None:
    """A copied symlink: the file holds only a relative path to another file in the tree."""
    body = text.content.strip()
    if len(body) > 200 or "\n" in body or "=" in body or "[" in body or not body:
        return None
    target = posixpath.normpath(posixpath.join(posixpath.dirname(path), body)) if not body.startswith("/") \
        else body.lstrip("/")
    if target.startswith("..") or target == path or not view.exists(target) or view.is_dir(target):
        return None
    return target


def _logical(path: str) -> str:
    return posixpath.normpath(path).lstrip("/")


@dataclass
class _Reader:
    view: HostView
    files: list[str] = field(default_factory=list)
    values: dict[str, CnfValue] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def read(self, path: str, depth: int = 0) -> None:
        if path in self.seen or depth > 10 or len(self.seen) >= _MAX_FILES:
            return
        self.seen.add(path)
        text = self.view.read_text(path)
        if text is None:
            return
        target = _pointer(self.view, path, text)
        if target is not None:
            self.read(target, depth + 1)
            return
        self.files.append(text.source)
        for row in parse_my_cnf(text):
            if row.key == "!include":
                self.read(_logical(row.value), depth + 1)
            elif row.key == "!includedir":
                self.read_dir(_logical(row.value), depth + 1)
            elif row.group is not None and _SERVER_GROUP.match(row.group):
                key = _norm(row.key)
                self.values[key] = CnfValue(key, row.value, row.group, text.source, row.line)

    def read_dir(self, directory: str, depth: int) -> None:
        for path in self.view.glob(f"{directory}/*.cnf"):
            self.read(path, depth)


def load_my_cnf(view: HostView) -> MyCnf:
    reader = _Reader(view)
    for top in _TOP_FILES:
        if view.exists(top):
            reader.read(top)
    for directory in _FALLBACK_DIRS:
        reader.read_dir(directory, 1)
    if not reader.files:
        raise MissingEvidence(", ".join((*_TOP_FILES, *(f"{d}/*.cnf" for d in _FALLBACK_DIRS))))
    return MyCnf(tuple(reader.files), dict(reader.values))


@dataclass(frozen=True)
class GaleraConfig:
    cnf: MyCnf
    provider: CnfValue | None
    wsrep_on: CnfValue | None
    cluster_address: CnfValue | None
    members: tuple[str, ...]
    bootstrap_address: bool
    """`gcomm://` with no host: every start of this server bootstraps a new cluster."""

    @property
    def is_galera(self) -> bool:
        if self.provider is None or self.provider.value.strip().lower() in ("", "none"):
            return False
        return self.cnf.flag("wsrep_on") is not False

    def evidence(self) -> list[Evidence]:
        return [v.evidence() for v in (self.provider, self.wsrep_on, self.cluster_address) if v is not None]


def _members(address: str) -> tuple[str, ...]:
    """Hosts of `gcomm://a,b:4567,c?pc.wait_prim=no` (port and options dropped, IPv6 brackets kept off)."""
    m = re.match(r"^\s*gcomm://(?P<hosts>[^?]*)", address)
    if m is None:
        return ()
    hosts: list[str] = []
    for part in m.group("hosts").split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("["):
            hosts.append(part[1 : part.find("]")] if "]" in part else part[1:])
        elif part.count(":") == 1:
            hosts.append(part.split(":", 1)[0])
        else:
            hosts.append(part)
    return tuple(h for h in hosts if h)


def galera_config(cnf: MyCnf) -> GaleraConfig:
    address = cnf.get("wsrep_cluster_address")
    members = _members(address.value) if address is not None else ()
    bootstrap = address is not None and re.fullmatch(r"\s*gcomm://\s*(?:\?.*)?", address.value) is not None
    return GaleraConfig(cnf, cnf.get("wsrep_provider"), cnf.get("wsrep_on"), address, members, bootstrap)


def load_galera_config(view: HostView) -> GaleraConfig:
    return galera_config(load_my_cnf(view))


# -- state files -----------------------------------------------------------------------------------------
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class GraState:
    uuid: str | None
    seqno: int | None
    safe_to_bootstrap: int | None
    version: str | None
    source: str
    lines: dict[str, int]
    excerpts: dict[str, str]

    def evidence(self, name: str) -> Evidence:
        return Evidence(source=self.source, line=self.lines.get(name), excerpt=self.excerpts.get(name, ""))


def _kv(text: Text) -> Iterator[tuple[int, str, str, str]]:
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if sep:
            yield lineno, key.strip().lower(), value.strip(), line


def _signed(value: str) -> int | None:
    return int(value) if re.fullmatch(r"-?\d{1,20}", value) else None


def parse_grastate(text: Text) -> GraState:
    fields: dict[str, str] = {}
    lines: dict[str, int] = {}
    excerpts: dict[str, str] = {}
    for lineno, key, value, line in _kv(text):
        if key in ("uuid", "seqno", "safe_to_bootstrap", "version"):
            fields[key], lines[key], excerpts[key] = value, lineno, line[:200]
    if "uuid" not in fields and "seqno" not in fields:
        if text.content.strip():
            raise ParseError(text.source, "no `uuid:` / `seqno:` lines (not a grastate.dat)")
        raise ParseError(text.source, "empty grastate.dat")
    uuid = fields.get("uuid", "").lower()
    return GraState(
        uuid if _UUID.match(uuid) else None, _signed(fields.get("seqno", "")),
        _signed(fields.get("safe_to_bootstrap", "")), fields.get("version"), text.source, lines, excerpts,
    )


@dataclass(frozen=True)
class GvwState:
    my_uuid: str | None
    view_id: str | None
    members: tuple[str, ...]
    source: str
    line: int | None


def parse_gvwstate(text: Text) -> GvwState:
    my_uuid: str | None = None
    view_id: str | None = None
    members: list[str] = []
    first: int | None = None
    for lineno, key, value, _line in _kv(text):
        if key == "my_uuid":
            my_uuid, first = value.split()[0] if value else None, first or lineno
        elif key == "view_id":
            view_id = value
        elif key == "member" and value:
            members.append(value.split()[0])
    if my_uuid is None and not members:
        raise ParseError(text.source, "no `my_uuid:` / `member:` lines (not a gvwstate.dat)")
    return GvwState(my_uuid, view_id, tuple(members), text.source, first)


def _first(view: HostView, paths: tuple[str, ...]) -> Text | None:
    for path in paths:
        text = view.read_text(path)
        if text is not None:
            return text
    return None


def load_grastate(view: HostView) -> GraState:
    text = _first(view, GRASTATE_PATHS)
    if text is None:
        raise MissingEvidence(" or ".join(GRASTATE_PATHS))
    return parse_grastate(text)


def load_gvwstate(view: HostView) -> GvwState:
    text = _first(view, GVWSTATE_PATHS)
    if text is None:
        raise MissingEvidence(" or ".join(GVWSTATE_PATHS))
    return parse_gvwstate(text)


def summary(facts: Facts) -> dict[str, Any]:
    try:
        config = facts.get(load_galera_config)
    except (MissingEvidence, ParseError):
        return {}
    if not config.is_galera:
        return {}
    out: dict[str, Any] = {"members": list(config.members)}
    try:
        state = facts.get(load_grastate)
        out.update(uuid=state.uuid, seqno=state.seqno, safe_to_bootstrap=state.safe_to_bootstrap)
    except (MissingEvidence, ParseError):
        pass
    return {"galera": out}


FUZZ_TARGETS = [parse_my_cnf, parse_grastate, parse_gvwstate]
