"""Installed packages: what is installed on the node, at which version, compared the way the distro does.

Inputs: `dpkg -l` (sos `sos_commands/dpkg/dpkg_-l`, root link `installed-debs`; a live host runs
`dpkg-query -W` with the same first four columns), else `rpm -qa` (sos root link `installed-rpms`, lines
`NVRA  install-date`, or `sos_commands/rpm/package-data`, tab separated, NVRA first).
dpkg rows count only when the package is installed (status `ii`/`hi`/`iU`..., i.e. second letter not `n`
and not config-files-only `rc`). Kolla containers carry their own packages; a Kolla host's list shows
only the host side.

Public API:

    Package(name, version, arch | None, status, source, line)
        `version` as the package manager prints it (`2:21.2.3-0ubuntu1`, `23.2.1-1.el9`);
        .epoch -> int, .upstream -> "21.2.3" (no epoch, no distro revision/release),
        .numeric -> (21, 2, 3) (leading numeric components of upstream), .evidence()
    Packages(family: "deb" | "rpm", packages: dict[name, Package], source)
        .get(name) -> Package | None, `name in pkgs`, len(), iteration (sorted by name),
        .first(*names) -> Package | None (the first installed of several candidate names),
        .matching(regex) -> list[Package] (re.fullmatch on the name),
        .compare(name, version) -> int | None (installed vs `version`: <0 older, 0 same, >0 newer;
            None when not installed), .project(project) -> Package | None (see PROJECT_PACKAGES)
    compare_versions(a, b, family) -> int   # dpkg --compare-versions / rpmvercmp semantics (sign only)
    dpkg_compare(a, b), rpm_compare(a, b) -> int
    parse_dpkg_l(text), parse_rpm_qa(text) -> Packages
    load_packages(view) -> Packages         # dpkg first, then rpm; MissingEvidence when neither
    PROJECT_PACKAGES: project -> candidate package names, Debian/Ubuntu and RDO spellings
    summary(facts) -> {"packages": {"family": ..., "versions": {name: version}}}
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

if TYPE_CHECKING:
    from stackrx.facts import Facts

Family = Literal["deb", "rpm"]

_MAX_LINE = 4096
# `ii  name[:arch]  version  arch  description`; dpkg-query's Status-Abbrev is three characters wide.
_DPKG_ROW = re.compile(
    r"^(?P<status>[uihrpUIHRP][ncUHFWti][ R]?)\s+(?P<name>[a-z0-9][a-z0-9+.\-]*)(?::(?P<march>[\w\-]+))?"
    r"\s+(?P<version>(?:\d+:)?[A-Za-z0-9.+~:\-]+)(?:\s+(?P<arch>[\w\-]+))?(?:\s+.*)?$")
_RPM_ARCHES = frozenset({
    "noarch", "x86_64", "i386", "i486", "i586", "i686", "aarch64", "ppc64le", "ppc64", "s390x", "armv7hl",
    "src", "athlon",
})
_NVR = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)$")

# Which packages carry a project's code, best first (Debian/Ubuntu python3-*, RDO openstack-*, old python-*).
PROJECT_PACKAGES: dict[str, tuple[str, ...]] = {
    "nova": ("python3-nova", "nova-common", "openstack-nova-common", "python-nova"),
    "neutron": ("python3-neutron", "neutron-common", "openstack-neutron-common", "openstack-neutron",
                "python-neutron"),
    "glance": ("python3-glance", "glance-common", "openstack-glance", "python-glance"),
    "cinder": ("python3-cinder", "cinder-common", "openstack-cinder", "python-cinder"),
    "keystone": ("python3-keystone", "keystone", "openstack-keystone", "python-keystone"),
    "swift": ("python3-swift", "swift", "openstack-swift", "python-swift"),
    "ceilometer": ("python3-ceilometer", "ceilometer-common", "openstack-ceilometer-common",
                   "python-ceilometer"),
    "aodh": ("python3-aodh", "aodh-common", "openstack-aodh-common", "python-aodh"),
    "placement": ("python3-placement", "placement-common", "openstack-placement-common"),
    "horizon": ("python3-django-horizon", "openstack-dashboard", "python-django-horizon"),
    "keystonemiddleware": ("python3-keystonemiddleware", "python-keystonemiddleware"),
    "swift3": ("python3-swift3", "python-swift3", "swift-plugin-s3"),
    "openvswitch": ("openvswitch-switch", "openvswitch3.3", "openvswitch3.1", "openvswitch2.17", "openvswitch"),
    "ovn": ("ovn-host", "ovn-central", "ovn-common", "ovn23.09", "ovn22.12", "ovn"),
    "libvirt": ("libvirt-daemon-system", "libvirt-daemon", "libvirt-daemon-kvm"),
    "qemu": ("qemu-system-x86", "qemu-kvm", "qemu-kvm-core"),
    "ceph": ("ceph-common", "ceph-base", "ceph"),
    "mariadb": ("mariadb-server", "mariadb-server-core", "mariadb-server-galera", "mariadb-galera-server"),
    "mysql": ("mysql-server", "mysql-server-core-8.0", "percona-xtradb-cluster-server",
              "percona-xtradb-cluster-server-5.7", "mysql-community-server"),
    "galera": ("galera-4", "galera-3", "galera", "percona-xtradb-cluster-galera-3"),
    "rabbitmq": ("rabbitmq-server",),
    "mongodb": ("mongodb-server", "mongodb-org-server", "mongodb"),
    "apache": ("apache2", "httpd"),
}


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str | None
    status: str
    source: str
    line: int

    @property
    def epoch(self) -> int:
        head, sep, _rest = self.version.partition(":")
        return int(head) if sep and head.isdigit() else 0

    @property
    def upstream(self) -> str:
        rest = self.version.split(":", 1)[1] if re.match(r"^\d+:", self.version) else self.version
        return rest.rsplit("-", 1)[0] if "-" in rest else rest

    @property
    def numeric(self) -> tuple[int, ...]:
        m = re.match(r"^\d+(?:\.\d+)*", self.upstream)
        return tuple(int(p) for p in m.group(0).split(".")) if m else ()

    def evidence(self) -> Evidence:
        arch = f" {self.arch}" if self.arch else ""
        return Evidence(source=self.source, line=self.line, excerpt=f"{self.status} {self.name} {self.version}{arch}")


@dataclass(frozen=True)
class Packages:
    family: Family
    packages: dict[str, Package]
    source: str

    def get(self, name: str) -> Package | None:
        return self.packages.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.packages

    def __len__(self) -> int:
        return len(self.packages)

    def __iter__(self) -> Iterator[Package]:
        return iter(sorted(self.packages.values(), key=lambda p: p.name))

    def first(self, *names: str) -> Package | None:
        for name in names:
            pkg = self.packages.get(name)
            if pkg is not None:
                return pkg
        return None

    def matching(self, regex: str) -> list[Package]:
        pattern = re.compile(regex)
        return [p for p in self if pattern.fullmatch(p.name)]

    def project(self, project: str) -> Package | None:
        return self.first(*PROJECT_PACKAGES.get(project, (project,)))

    def compare(self, name: str, version: str) -> int | None:
        pkg = self.packages.get(name)
        if pkg is None:
            return None
        return compare_versions(pkg.version, version, self.family)


# -- version comparison -------------------------------------------------------------------------------
def _digit(c: str) -> bool:
    return "0" <= c <= "9"


def _alpha(c: str) -> bool:
    return c.isascii() and c.isalpha()


def _dpkg_order(c: str) -> int:
    if _digit(c):
        return 0
    if _alpha(c):
        return ord(c)
    if c == "~":
        return -1
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's lib/dpkg/version.c verrevcmp: alternating non-digit and digit runs, `~` before everything."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not _digit(a[i])) or (j < len(b) and not _digit(b[j])):
            ac = _dpkg_order(a[i]) if i < len(a) and not _digit(a[i]) else 0
            bc = _dpkg_order(b[j]) if j < len(b) and not _digit(b[j]) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        first_diff = 0
        while i < len(a) and _digit(a[i]) and j < len(b) and _digit(b[j]):
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and _digit(a[i]):
            return 1
        if j < len(b) and _digit(b[j]):
            return -1
        if first_diff:
            return first_diff
    return 0


def _deb_split(version: str) -> tuple[int, str, str]:
    epoch = 0
    head, sep, rest = version.partition(":")
    if sep and head.isdigit():
        epoch, version = int(head), rest
    upstream, sep, revision = version.rpartition("-")
    if not sep:
        return epoch, version, ""
    return epoch, upstream, revision


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def dpkg_compare(a: str, b: str) -> int:
    ea, ua, ra = _deb_split(a.strip())
    eb, ub, rb = _deb_split(b.strip())
    if ea != eb:
        return _sign(ea - eb)
    return _sign(_verrevcmp(ua, ub)) or _sign(_verrevcmp(ra, rb))


def _rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmio/rpmvercmp.c: alphanumeric segments, numeric > alpha, `~` sorts before, `^` after."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not (_digit(a[i]) or _alpha(a[i])) and a[i] not in "~^":
            i += 1
        while j < len(b) and not (_digit(b[j]) or _alpha(b[j])) and b[j] not in "~^":
            j += 1
        a_t, b_t = i < len(a) and a[i] == "~", j < len(b) and b[j] == "~"
        if a_t or b_t:
            if not a_t:
                return 1
            if not b_t:
                return -1
            i += 1
            j += 1
            continue
        a_c, b_c = i < len(a) and a[i] == "^", j < len(b) and b[j] == "^"
        if a_c or b_c:
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if not a_c:
                return 1
            if not b_c:
                return -1
            i += 1
            j += 1
            continue
        if i >= len(a) or j >= len(b):
            break
        numeric = _digit(a[i])
        kind = _digit if numeric else _alpha
        si = i
        while i < len(a) and kind(a[i]):
            i += 1
        sj = j
        while j < len(b) and kind(b[j]):
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if not seg_b:
            return 1 if numeric else -1
        if numeric:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def _rpm_split(version: str) -> tuple[int, str, str]:
    epoch = 0
    head, sep, rest = version.partition(":")
    if sep and head.isdigit():
        epoch, version = int(head), rest
    ver, sep, rel = version.rpartition("-")
    return (epoch, ver, rel) if sep else (epoch, version, "")


def rpm_compare(a: str, b: str) -> int:
    ea, va, ra = _rpm_split(a.strip())
    eb, vb, rb = _rpm_split(b.strip())
    if ea != eb:
        return _sign(ea - eb)
    cmp = _rpmvercmp(va, vb)
    if cmp or not ra or not rb:
        return cmp  # a version without release matches any release of that version (rpm's rule)
    return _rpmvercmp(ra, rb)


def compare_versions(a: str, b: str, family: Family) -> int:
    return dpkg_compare(a, b) if family == "deb" else rpm_compare(a, b)


# -- parsers --------------------------------------------------------------------------------------------
def _installed(status: str) -> bool:
    # Desired/Status/Err: only a package whose files are on disk (status i, or half-configured/unpacked
    # states that still run the old files) counts; `rc` and `un` do not.
    return len(status) >= 2 and status[1] in "iUHFWt"


def parse_dpkg_l(text: Text) -> Packages:
    packages: dict[str, Package] = {}
    seen_row = False
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _DPKG_ROW.match(raw)
        if m is None:
            continue
        seen_row = True
        status = m.group("status").strip()
        if not _installed(status):
            continue
        name = m.group("name")
        arch = m.group("arch") or m.group("march")
        packages.setdefault(name, Package(name, m.group("version"), arch, status, text.source, lineno))
    if not seen_row and text.content.strip():
        raise ParseError(text.source, "no dpkg package rows (`ii  name  version  arch ...`)")
    return Packages("deb", packages, text.source)


def _nvra(token: str) -> tuple[str, str, str | None] | None:
    arch: str | None = None
    base = token
    head, dot, tail = token.rpartition(".")
    if dot and tail in _RPM_ARCHES:
        base, arch = head, tail
    m = _NVR.match(base)
    if m is None:
        return None
    return m.group("name"), f"{m.group('version')}-{m.group('release')}", arch


def parse_rpm_qa(text: Text) -> Packages:
    packages: dict[str, Package] = {}
    rows = 0
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or not raw.strip():
            continue
        token = raw.split(None, 1)[0]
        parsed = _nvra(token)
        if parsed is None:
            continue
        rows += 1
        name, version, arch = parsed
        if name == "gpg-pubkey":
            continue  # imported signing keys are listed as packages
        # Multilib: the same name twice (x86_64 and i686) is one package for version questions.
        packages.setdefault(name, Package(name, version, arch, "installed", text.source, lineno))
    if not rows and text.content.strip():
        raise ParseError(text.source, "no `name-version-release.arch` rows")
    return Packages("rpm", packages, text.source)


def load_packages(view: HostView) -> Packages:
    """dpkg first (Debian/Ubuntu), then rpm; a list without installed rows falls through to the other."""
    deb = view.command("dpkg -l")
    if deb is not None and deb.content.strip():
        found = parse_dpkg_l(deb)
        if len(found):
            return found
    rpm = view.command("rpm -qa")
    if rpm is not None and rpm.content.strip():
        return parse_rpm_qa(rpm)
    raise MissingEvidence("sos_commands/dpkg/dpkg_-l or installed-rpms (cmd: dpkg -l / rpm -qa)")


_SUMMARY_PROJECTS = ("nova", "neutron", "glance", "cinder", "keystone", "swift", "ceilometer", "horizon",
                     "openvswitch", "ovn", "libvirt", "qemu", "ceph", "mariadb", "mysql", "rabbitmq")


def summary(facts: Facts) -> dict[str, Any]:
    try:
        pkgs = facts.get(load_packages)
    except (MissingEvidence, ParseError):
        return {}
    versions: dict[str, str] = {}
    for project in _SUMMARY_PROJECTS:
        pkg = pkgs.project(project)
        if pkg is not None:
            versions[pkg.name] = pkg.version
    return {"packages": {"family": pkgs.family, "count": len(pkgs), "versions": versions}}


FUZZ_TARGETS = [parse_dpkg_l, parse_rpm_qa]
