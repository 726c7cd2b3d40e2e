"""Installed package versions with a published security fix or known bug pending (UPG-007).

The advisories are data (`checks/data/known_bugs.yaml`); versions are compared with `univers`, which
implements dpkg's and rpm's ordering (epochs, `~`, `^`, revisions), not with a local comparator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from univers.versions import DebianVersion, InvalidVersion, RpmVersion, Version

from stackrx.engine import CheckContext, check
from stackrx.facts.packages import Family, Package, Packages, load_packages
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

DATA_FILE = Path(__file__).with_name("data") / "known_bugs.yaml"

Scheme = Literal["upstream", "deb", "rpm"]
_SCHEMES: dict[str, Scheme] = {"upstream": "upstream", "deb": "deb", "rpm": "rpm"}
_SCHEME_FAMILIES: dict[Scheme, tuple[Family, ...]] = {"upstream": ("deb", "rpm"), "deb": ("deb",), "rpm": ("rpm",)}
_FAMILIES: frozenset[str] = frozenset({"deb", "rpm"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Range:
    scheme: Scheme
    introduced: str
    fixed: str
    distro: str | None


@dataclass(frozen=True)
class Entry:
    id: str
    project: str
    title: str
    severity: Severity
    link: str
    published: date
    advice: str
    packages: dict[str, tuple[str, ...]]
    affected: tuple[Range, ...]


def parse_version(text: str, family: Family) -> Version:
    """A comparable version in the family's ordering; InvalidVersion (a ValueError) when it is not one."""
    return DebianVersion(text) if family == "deb" else RpmVersion(text)


def _strip_epoch(version: str) -> str:
    head, sep, rest = version.partition(":")
    return rest if sep and head.isdigit() else version


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: `{key}` must be a non-empty string")
    return value.strip()


def _published(raw: dict[str, Any], where: str) -> date:
    value = raw.get("published")
    # YAML reads an unquoted 2023-05-10 as a date and a quoted one as text: take both, but only a bare day.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{where}: `published` must be a YYYY-MM-DD date, not {value!r}")


def _range(raw: Any, where: str) -> Range:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a range must be a mapping")
    name = _text(raw, "scheme", where)
    if name not in _SCHEMES:
        raise ValueError(f"{where}: scheme {name!r} is not one of {sorted(_SCHEMES)}")
    scheme = _SCHEMES[name]
    introduced, fixed = _text(raw, "introduced", where), _text(raw, "fixed", where)
    distro = raw.get("distro")
    if scheme != "upstream" and not (isinstance(distro, str) and distro.strip()):
        raise ValueError(f"{where}: a {scheme} range must name its `distro`")
    for family in _SCHEME_FAMILIES[scheme]:
        try:
            low, high = parse_version(introduced, family), parse_version(fixed, family)
        except InvalidVersion as exc:
            raise ValueError(f"{where}: {exc}") from exc
        if not high > low:
            raise ValueError(f"{where}: fixed {fixed!r} is not above introduced {introduced!r} ({family} order)")
    return Range(scheme, introduced, fixed, distro.strip() if isinstance(distro, str) else None)


def parse_entry(raw: Any, index: int) -> Entry:
    """One table row, checked field by field; ValueError names the row and the field."""
    where = f"entry {index}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be a mapping")
    where = f"entry {index} ({raw.get('id', '?')})"
    severity = _text(raw, "severity", where)
    if severity not in Severity.__members__:
        raise ValueError(f"{where}: severity {severity!r} is not one of {list(Severity.__members__)}")
    link = _text(raw, "link", where)
    if not link.startswith("https://"):
        raise ValueError(f"{where}: link must be an https URL")
    published = _published(raw, where)
    packages_raw = raw.get("packages")
    if not isinstance(packages_raw, dict) or not packages_raw:
        raise ValueError(f"{where}: `packages` must map deb/rpm to package names")
    packages: dict[str, tuple[str, ...]] = {}
    for family, names in packages_raw.items():
        if family not in _FAMILIES:
            raise ValueError(f"{where}: package family {family!r} is not deb or rpm")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"{where}: packages.{family} must be a non-empty list of names")
        packages[family] = tuple(names)
    ranges_raw = raw.get("affected")
    if not isinstance(ranges_raw, list) or not ranges_raw:
        raise ValueError(f"{where}: `affected` must list at least one range")
    affected = tuple(_range(r, f"{where} affected[{i}]") for i, r in enumerate(ranges_raw))
    for rng in affected:
        if rng.scheme != "upstream" and rng.scheme not in packages:
            raise ValueError(f"{where}: a {rng.scheme} range but no {rng.scheme} package names")
    return Entry(id=_text(raw, "id", where), project=_text(raw, "project", where), title=_text(raw, "title", where),
                 severity=Severity(severity), link=link, published=published, advice=_text(raw, "advice", where),
                 packages=packages, affected=affected)


def parse_table(data: Any) -> tuple[tuple[Entry, ...], tuple[str, ...]]:
    """Good entries and one error per bad row: a bad row is dropped, never fatal to a scan (the tests fail on it)."""
    rows = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return (), ("top level must be a mapping with an `entries` list",)
    entries: list[Entry] = []
    errors: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(rows):
        try:
            entry = parse_entry(raw, index)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if entry.id in seen:
            errors.append(f"entry {index}: duplicate id {entry.id!r}")
            continue
        seen.add(entry.id)
        entries.append(entry)
    return tuple(entries), tuple(errors)


@lru_cache(maxsize=1)
def load_table() -> tuple[tuple[Entry, ...], tuple[str, ...]]:
    try:
        data = yaml.safe_load(DATA_FILE.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return (), (f"{DATA_FILE.name}: {exc}",)
    return parse_table(data)


def _installed_version(pkg: Package, rng: Range, family: Family) -> str:
    if rng.scheme == "upstream":
        return pkg.upstream
    # `rpm -qa` prints name-version-release without the epoch, so an epoch in the table cannot be matched.
    return pkg.version if family == "deb" else _strip_epoch(pkg.version)


def matching_range(pkg: Package, entry: Entry, family: Family) -> Range | None:
    """The first range of `entry` that holds the installed version, in the family's ordering."""
    for rng in entry.affected:
        if rng.scheme not in ("upstream", family):
            continue
        low, high = rng.introduced, rng.fixed
        if rng.scheme == "rpm":
            low, high = _strip_epoch(low), _strip_epoch(high)
        try:
            installed = parse_version(_installed_version(pkg, rng, family), family)
            if parse_version(low, family) <= installed < parse_version(high, family):
                return rng
        except InvalidVersion:
            continue  # an installed version the family's grammar rejects cannot be placed in a range
    return None


@dataclass(frozen=True)
class Hit:
    entry: Entry
    packages: tuple[tuple[Package, Range], ...]


def evaluate(pkgs: Packages, entries: tuple[Entry, ...]) -> list[Hit]:
    hits: list[Hit] = []
    for entry in entries:
        found: list[tuple[Package, Range]] = []
        for name in entry.packages.get(pkgs.family, ()):
            pkg = pkgs.get(name)
            if pkg is None:
                continue
            rng = matching_range(pkg, entry, pkgs.family)
            if rng is not None:
                found.append((pkg, rng))
        if found:
            hits.append(Hit(entry, tuple(found)))
    return hits


def _collection_day(collected: datetime) -> date:
    return (collected.astimezone(UTC) if collected.tzinfo else collected).date()


def split_by_collection(hits: list[Hit], collected: datetime | None) -> tuple[list[Hit], list[Hit]]:
    """Hits to raise, and hits whose advisory came out after the data was collected (only mentioned).

    A snapshot is judged on the day it was taken: a fix published later did not exist yet, so the node was not
    behind then. The advisory's own day still counts as known; an unknown collection time raises everything.
    """
    if collected is None:
        return hits, []
    day = _collection_day(collected)
    return [h for h in hits if h.entry.published <= day], [h for h in hits if h.entry.published > day]


def _later_note(later: list[Hit], collected: datetime) -> str:
    many = len(later) > 1
    return (f"{len(later)} advisor{'ies' if many else 'y'} published after this snapshot was collected "
            f"({_collection_day(collected).isoformat()}) also match{'' if many else 'es'} its versions: re-scan the "
            f"node as it is now: {', '.join(h.entry.id for h in later)}")


def _evidence(hits: list[Hit]) -> list[Evidence]:
    seen: dict[tuple[str, int | None], Evidence] = {}
    for hit in hits:
        for pkg, _rng in hit.packages:
            ev = pkg.evidence()
            seen.setdefault((ev.source, ev.line), ev)
    return list(seen.values())


def _describe(hit: Hit) -> str:
    installed = ", ".join(f"{pkg.name} {pkg.version}" for pkg, _rng in hit.packages)
    rng = hit.packages[0][1]
    if rng.scheme == "upstream":
        where = (f"fixed upstream in {rng.fixed}; a distribution back-port keeps the upstream number, so confirm "
                 "with the package changelog")
    else:
        # The table's trailing `~` only makes rebuilds such as `~cloud0` sort as fixed; it is not the version.
        where = f"fixed in {rng.fixed.rstrip('~')} for {rng.distro}"
    return f"installed {installed} is in an affected range ({where})"


@check(CheckMeta(
    id="UPG-007",
    title="Installed package version has a known bug or security fix pending",
    severity=Severity.high,
    area="upgrade",
    tale=(
        "Several of the tales end with a fix that already existed upstream: the node was simply running a "
        "version from before it. An operator reading logs rarely checks the advisory list for the exact "
        "package build on each host."
    ),
    description=(
        "Reads the installed package list (dpkg -l, installed-rpms or rpm -qa) and compares each package named "
        "in checks/data/known_bugs.yaml with that entry's affected ranges, using dpkg ordering for deb hosts "
        "and rpm ordering for rpm hosts (epochs, `~` pre-releases, revisions). Ranges marked `upstream` compare "
        "only the upstream part of the version, so a distribution that back-ported the fix without a new "
        "upstream release still matches: the message says so. One finding per matched advisory, with the "
        "package-list line of every affected package as evidence. Each advisory carries its publication date: "
        "on a snapshot, an advisory published after the collection day is not raised (the node was not behind "
        "yet) but named in the pass message so the node can be re-scanned as it is now; when the collection "
        "time is unknown every match is raised and the message says so."
    ),
    risk=(
        "The node runs code with a published flaw: depending on the entry, a tenant can reach another tenant's "
        "volume, bypass scheduling limits, destroy host data or disrupt the Ceph cluster."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Read the advisory linked in the finding and confirm with the distribution changelog whether the "
            "installed build already carries the fix."), commands=[
            "apt changelog <package> | grep -m5 CVE    # Debian/Ubuntu",
            "rpm -q --changelog <package> | grep -m5 CVE    # RHEL/RDO",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Upgrade the package in a maintenance window and restart the services that load it (for nova, "
            "os-brick and cinder: the API and compute/volume agents)."), commands=[
            "apt-get install --only-upgrade <package>   # or: dnf upgrade <package>",
        ]),
    ],
    references=[
        "Table: src/stackrx/checks/data/known_bugs.yaml (each entry links its advisory)",
        "Version ordering: univers DebianVersion / RpmVersion (dpkg and rpm comparison rules)",
    ],
    reads={
        "live": ["cmd:dpkg-query -W", "cmd:rpm -qa"],
        "sosreport": ["sos_commands/dpkg/dpkg_-l (installed-debs)", "installed-rpms", "sos_commands/rpm/package-data"],
    },
))
def known_bugs(ctx: CheckContext) -> None:
    pkgs = ctx.facts.get(load_packages)
    entries, _errors = load_table()
    collected = ctx.collected_at()
    hits, later = split_by_collection(evaluate(pkgs, entries), collected)
    unknown = ("" if collected is not None else
               " The collection time is unknown, so this advisory may have been published after the data was taken.")
    for hit in hits:
        ctx.report(hit.entry.severity,
                   f"{hit.entry.id}: {hit.entry.title}; {_describe(hit)}. Advice: {hit.entry.advice} "
                   f"Advisory: {hit.entry.link} (published {hit.entry.published.isoformat()}).{unknown}",
                   resource=hit.entry.id, evidence=[pkg.evidence() for pkg, _rng in hit.packages])
    note = _later_note(later, collected) if later and collected is not None else ""
    if not hits:
        ctx.ok(f"{len(pkgs)} installed {pkgs.family} packages checked against {len(entries)} advisories: "
               f"none in an affected range{'; ' + note if note else ''}", evidence=_evidence(later))
    elif note:
        ctx.ok(note, resource="published-after-collection", evidence=_evidence(later))
