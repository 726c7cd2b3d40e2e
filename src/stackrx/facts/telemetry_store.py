"""Where telemetry data is stored on this node and how big it is: MongoDB (legacy Ceilometer) and Gnocchi.

Inputs:
- MongoDB data path: `etc/mongod.conf` (YAML `storage: dbPath:`) or `etc/mongodb.conf` (old `dbpath=` lines),
  default `/var/lib/mongodb`; `du -sh /var/lib/mongodb/` (sos mongodb plugin) for its size; live only,
  `db.getSiblingDB("ceilometer").stats()` printed by the mongo shell (`"dataSize" : N`, `"storageSize" : N`,
  values possibly wrapped in `NumberLong(...)`).
- Gnocchi: `[storage] driver` (file, ceph, swift, redis, s3) and `file_basepath` (default `/var/lib/gnocchi`) from
  `etc/gnocchi/gnocchi.conf`.

Public API:

    MongoPath(path, evidence)   ; mongo_db_path(view) -> MongoPath | None (None: no mongod config at all)
    parse_du(text) -> (bytes, Evidence)
    MongoStats(data_size, storage_size, evidence) ; parse_mongo_stats(text) -> MongoStats
    GnocchiStorage(driver, path | None, evidence) ; gnocchi_storage(view) -> GnocchiStorage | None
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.ini import load_config
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

MONGO_CONFIGS = ("etc/mongod.conf", "etc/mongodb.conf")
MONGO_DEFAULT = "/var/lib/mongodb"
GNOCCHI_DEFAULT = "/var/lib/gnocchi"
_DU = re.compile(r"^(?P<n>\d+(?:[.,]\d+)?)(?P<unit>[KMGTPE]?)\s+(?P<path>\S.*)$")
_UNIT = {"": 1024, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5, "E": 1024**6}
_STAT = re.compile(r'"(?P<key>dataSize|storageSize)"\s*:\s*(?:NumberLong\(\s*"?)?(?P<n>\d+(?:\.\d+)?)')


@dataclass(frozen=True)
class MongoPath:
    path: str
    evidence: Evidence


def mongo_db_path(view: HostView) -> MongoPath | None:
    for conf in MONGO_CONFIGS:
        text = view.read_text(conf)
        if text is None:
            continue
        in_storage = False
        for lineno, raw in enumerate(text.content.splitlines(), 1):
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            if re.match(r"^storage\s*:", line):
                in_storage = True
                continue
            if not line.startswith((" ", "\t")):
                in_storage = False
            m = re.match(r"^\s+dbPath\s*:\s*['\"]?(?P<p>[^'\"]+)['\"]?\s*$", line) if in_storage else None
            m = m or re.match(r"^\s*dbpath\s*=\s*(?P<p>\S+)", line)
            if m:
                return MongoPath(m.group("p").rstrip("/") or "/", Evidence(source=text.source, line=lineno,
                                                                          excerpt=raw.strip()))
        return MongoPath(MONGO_DEFAULT, Evidence(source=text.source,
                                                 excerpt=f"no dbPath set (default {MONGO_DEFAULT})"))
    return None


def parse_du(text: Text) -> tuple[int, Evidence]:
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        m = _DU.match(raw.strip())
        if m:
            # No suffix: plain `du -s` counts KiB blocks.
            size = float(m.group("n").replace(",", ".")) * _UNIT[m.group("unit")]
            return int(size), Evidence(source=text.source, line=lineno, excerpt=raw.strip()[:200])
    raise ParseError(text.source, "no `SIZE PATH` line")


@dataclass(frozen=True)
class MongoStats:
    data_size: int
    storage_size: int
    evidence: Evidence


def parse_mongo_stats(text: Text) -> MongoStats:
    found: dict[str, int] = {}
    first: int | None = None
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        for m in _STAT.finditer(raw):
            found.setdefault(m.group("key"), int(float(m.group("n"))))
            first = first or lineno
    if "dataSize" not in found or "storageSize" not in found:
        raise ParseError(text.source, "no dataSize/storageSize in the mongo stats output")
    excerpt = f"dataSize {found['dataSize']}, storageSize {found['storageSize']}"
    return MongoStats(found["dataSize"], found["storageSize"], Evidence(source=text.source, line=first,
                                                                         excerpt=excerpt))


@dataclass(frozen=True)
class GnocchiStorage:
    driver: str
    path: str | None
    evidence: Evidence


def gnocchi_storage(view: HostView) -> GnocchiStorage | None:
    try:
        ini = load_config(view, "gnocchi")
    except MissingEvidence:
        return None
    driver = ini.get("storage", "driver")
    name = driver.value.strip().lower() if driver is not None and driver.value.strip() else "file"
    ev = driver.evidence() if driver is not None else Evidence(
        source=ini.sources[0] if ini.sources else "", excerpt="[storage] driver not set (default file)")
    if name != "file":
        return GnocchiStorage(name, None, ev)
    base = ini.get("storage", "file_basepath")
    path = base.value.strip() if base is not None and base.value.strip() else GNOCCHI_DEFAULT
    return GnocchiStorage(name, path, base.evidence() if base is not None else ev)


FUZZ_TARGETS = [parse_du, parse_mongo_stats]
