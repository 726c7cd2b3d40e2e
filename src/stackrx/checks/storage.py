"""Storage: Swift S3 middleware (STO-002), disk space and inodes on the paths OpenStack services write to
(STO-003), Ceph pools without an application tag (STO-004)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stackrx.checks.compute import instances_path
from stackrx.checks.upgrade import ceph_applies
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.ceph import OsdMap, Pool, load_health, load_osd_map, release_rank
from stackrx.facts.ini import IniFile, IniValue, load_config, parse_ini
from stackrx.facts.mounts import (
    DfRow,
    DfTable,
    FileEntry,
    MountTable,
    human_size,
    is_shared,
    list_files,
    load_df,
    load_df_inodes,
    load_mounts,
    normpath,
)
from stackrx.facts.packages import load_packages
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

# ---------------------------------------------------------------------------------------------------------
# STO-002
# ---------------------------------------------------------------------------------------------------------

PROXY_FILES = ("etc/swift/proxy-server.conf", "var/lib/config-data/puppet-generated/swift/etc/swift/proxy-server.conf")
# Middleware roles by factory (the filter's section name is the operator's choice).
_ROLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("s3api", re.compile(r"egg:swift#s3api\b|swift\.common\.middleware\.s3api\.s3api:filter_factory")),
    ("swift3", re.compile(r"egg:swift3#swift3\b|swift3\.middleware:filter_factory")),
    ("s3token", re.compile(r"egg:swift#s3token\b|swift\.common\.middleware\.s3api\.s3token:filter_factory")),
    ("kmw_s3token", re.compile(r"keystonemiddleware\.s3_token:filter_factory")),
    ("keystone_s3token", re.compile(r"keystone\.middleware\.s3_token\b")),
    ("swift3_s3token", re.compile(r"egg:swift3#s3token\b|swift3\.s3_token_middleware:filter_factory")),
    ("authtoken", re.compile(r"egg:keystonemiddleware#auth_token\b|keystonemiddleware\.auth_token:filter_factory"
                             r"|keystone\.middleware\.auth_token\b")),
    ("keystoneauth", re.compile(r"egg:swift#keystoneauth\b|swift\.common\.middleware\.keystoneauth:filter_factory")),
    ("tempauth", re.compile(r"egg:swift#tempauth\b|swift\.common\.middleware\.tempauth:filter_factory")),
    ("slo", re.compile(r"egg:swift#slo\b|swift\.common\.middleware\.slo:filter_factory")),
)
_S3TOKEN_ROLES = frozenset({"s3token", "kmw_s3token", "keystone_s3token", "swift3_s3token"})
_AUTH_ROLES = frozenset({"keystoneauth", "tempauth", *_S3TOKEN_ROLES})
# Filters that are never authentication: anything else after s3api may be third-party auth.
_KNOWN_SWIFT = re.compile(r"egg:(?:swift|keystonemiddleware)#|swift\.common\.middleware\.")
# The in-tree keystone middleware of early releases (s3_token, auth_token, ec2_token): no package ships it now.
_KEYSTONE_INTREE = re.compile(r"\bkeystone\.middleware\.")


@dataclass(frozen=True)
class Filter:
    name: str
    role: str | None
    factory: IniValue | None


def _factory(ini: IniFile, name: str) -> IniValue | None:
    section = f"filter:{name}"
    return ini.first((section, "use"), (section, "paste.filter_factory"))


def _role(factory: IniValue | None) -> str | None:
    if factory is None:
        return None
    for role, pattern in _ROLES:
        if pattern.search(factory.value):
            return role
    return None


def load_proxy_config(ctx: CheckContext) -> IniFile:
    paths = [p for p in PROXY_FILES if ctx.view.exists(p)] + ctx.view.glob("etc/swift/proxy-server.conf.d/*.conf")
    texts = [t for t in (ctx.view.read_text(p) for p in paths) if t is not None]
    if not texts:
        raise NotApplicable("no etc/swift/proxy-server.conf: not a Swift proxy node")
    return parse_ini(texts)


def _pipeline(ini: IniFile) -> tuple[IniValue | None, list[Filter]]:
    value = ini.get("pipeline:main", "pipeline")
    if value is None:
        return None, []
    names = value.value.split()
    return value, [Filter(n, _role(_factory(ini, n)), _factory(ini, n)) for n in names]


def _position(filters: list[Filter], roles: frozenset[str] | set[str]) -> int | None:
    return next((i for i, f in enumerate(filters) if f.role in roles), None)


@check(CheckMeta(
    id="STO-002",
    title="S3 middleware factory / pipeline (swift3, s3token, s3api)",
    severity=Severity.high,
    area="storage",
    tale=(
        "Getting the S3 API to work on Swift took a proxy pipeline with swift3 and s3token filters, and the "
        "s3token filter factory had to come from keystonemiddleware — not from keystone.middleware as older "
        "guides said. One wrong module path or filter order and every S3 request fails."
    ),
    description=(
        "Reads the Swift proxy pipeline and classifies each filter by its factory. Flags factories that no "
        "current package provides (keystone.middleware.*), keystonemiddleware.s3_token (removed in "
        "keystonemiddleware 12.0.0), the old swift3 egg on swift >= 2.18 (s3api replaces it), an s3api with "
        "no authentication after it, s3token not placed between s3api and keystoneauth, s3api before "
        "authtoken, and swift's s3token without the Keystone version in auth_uri. Without slo, s3api disables "
        "multipart uploads (information)."
    ),
    risk=(
        "An unimportable factory stops swift-proxy from starting; a wrong order or auth_uri makes every S3 "
        "request fail authentication (s3api's own pipeline check refuses to start on missing filters)."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Edit proxy-server.conf: s3api after authtoken, s3token before keystoneauth, both from swift; "
            "auth_uri with /v3."), commands=[
            "pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl "
            "ratelimit authtoken s3api s3token keystoneauth copy container-quotas account-quotas slo dlo "
            "versioned_writes symlink proxy-logging proxy-server",
            "[filter:s3api] use = egg:swift#s3api",
            "[filter:s3token] use = egg:swift#s3token / auth_uri = http://<keystone>:5000/v3",
        ]),
        RemediationStep(kind=StepKind.destructive, text="Restart the proxy to load the new pipeline.",
                        commands=["systemctl restart swift-proxy   # openstack-swift-proxy on RHEL"]),
    ],
    references=[
        "swift etc/proxy-server.conf-sample; swift/common/middleware/s3api/s3api.py (check_pipeline, "
        "auth_pipeline_check); swift setup.cfg (egg:swift#s3api, egg:swift#s3token); swift commit 636b922f3 "
        "(swift3 imported as s3api in 2.18.0)",
        "keystonemiddleware release note remove-ec2-s3-token-middleware-e0b9b63428224600.yaml (12.0.0, "
        "commit 479aa41)",
        "keystone.middleware.s3_token removal release UNVERIFIED (decided: not importable from any current "
        "package → high regardless of version)",
        "authtoken delay_auth_decision for S3 UNVERIFIED: not evaluated",
    ],
    reads={
        "live": ["etc/swift/proxy-server.conf", "etc/swift/proxy-server.conf.d/*.conf", "cmd:dpkg -l / rpm -qa"],
        "sosreport": ["etc/swift/proxy-server.conf", "sos_commands/dpkg/dpkg_-l", "installed-rpms"],
        "kolla": ["etc/kolla/swift-proxy-server/proxy-server.conf (UNVERIFIED path)"],
    },
))
def swift_s3_pipeline(ctx: CheckContext) -> None:
    ini = load_proxy_config(ctx)
    pipeline, filters = _pipeline(ini)
    if pipeline is None:
        raise MissingEvidence("[pipeline:main] pipeline in etc/swift/proxy-server.conf")
    pkgs = ctx.facts.maybe(load_packages)
    kmw = pkgs.project("keystonemiddleware") if pkgs is not None else None
    swift = pkgs.project("swift") if pkgs is not None else None
    for f in filters:
        ev = [f.factory.evidence(), pipeline.evidence()] if f.factory is not None else [pipeline.evidence()]
        if f.factory is not None and _KEYSTONE_INTREE.search(f.factory.value):
            # The module alone: `module.path:filter_factory` reads as a secret key/value to the redactor.
            module = f.factory.value.split(":", 1)[0].strip()
            ctx.fail(f"filter {f.name} loads {module} (keystone.middleware), which no current package provides: "
                     "the proxy cannot load it", severity=Severity.high, resource=f"filter:{f.name}", evidence=ev)
        elif f.role == "kmw_s3token":
            if kmw is None or kmw.numeric >= (12,):
                ver = f"keystonemiddleware {kmw.version} installed" if kmw else "keystonemiddleware version unknown"
                severity = Severity.high if kmw is not None else Severity.medium
                ctx.report(severity, f"filter {f.name} uses keystonemiddleware.s3_token, removed in "
                           f"keystonemiddleware 12.0.0 ({ver}); use egg:swift#s3token", resource=f"filter:{f.name}",
                           evidence=[*ev, *([kmw.evidence()] if kmw else [])])
            else:
                ctx.warn(f"filter {f.name} uses keystonemiddleware.s3_token (deprecated location, gone in "
                         f"keystonemiddleware 12.0.0; {kmw.version} installed): migrate to egg:swift#s3token",
                         severity=Severity.medium, resource=f"filter:{f.name}", evidence=[*ev, kmw.evidence()])
        elif f.role == "swift3":
            if swift is not None and swift.numeric >= (2, 18):
                ctx.warn(f"filter {f.name} uses the swift3 egg, replaced by egg:swift#s3api since swift 2.18.0 "
                         f"({swift.version} installed)", severity=Severity.medium, resource=f"filter:{f.name}",
                         evidence=[*ev, swift.evidence()])
            elif swift is None:
                ctx.warn(f"filter {f.name} uses the swift3 egg (replaced by egg:swift#s3api in swift 2.18.0; "
                         "installed swift version unknown)", severity=Severity.low, resource=f"filter:{f.name}",
                         evidence=ev)
    _order(ctx, ini, pipeline, filters)
    if not ctx.outcomes:
        roles = [f.role for f in filters if f.role]
        if "s3api" not in roles and "swift3" not in roles:
            ctx.ok("no S3 middleware in the proxy pipeline", evidence=[pipeline.evidence()])
        else:
            ctx.ok("S3 middleware factories and order are consistent", evidence=[pipeline.evidence()])


def _order(ctx: CheckContext, ini: IniFile, pipeline: IniValue, filters: list[Filter]) -> None:
    s3api = _position(filters, {"s3api"})
    if s3api is None:
        return
    ev = [pipeline.evidence()]
    after = filters[s3api + 1:]
    third_party = [f for f in after if f.role is None and f.factory is not None
                   and not _KNOWN_SWIFT.search(f.factory.value) and f.name != "proxy-server"]
    if not any(f.role in _AUTH_ROLES for f in after) and not third_party:
        ctx.fail("s3api has no authentication middleware after it (s3token + keystoneauth, or tempauth): S3 "
                 "requests cannot be authenticated", severity=Severity.high, resource="pipeline:s3api", evidence=ev)
    keystoneauth = _position(filters, {"keystoneauth"})
    token = _position(filters, set(_S3TOKEN_ROLES))
    if keystoneauth is not None and (token is None or token > keystoneauth or token < s3api):
        where = ("is missing" if token is None else f"comes after keystoneauth ({filters[token].name})"
                 if token > keystoneauth else f"comes before s3api ({filters[token].name})")
        ctx.fail(f"s3token {where}: with keystoneauth, s3token must sit between s3api and keystoneauth to validate "
                 "S3 signatures against Keystone", severity=Severity.high, resource="pipeline:s3token", evidence=ev)
    authtoken = _position(filters, {"authtoken"})
    if authtoken is not None and s3api < authtoken:
        ctx.fail(f"s3api ({filters[s3api].name}) comes before authtoken: it must follow auth_token",
                 severity=Severity.high, resource="pipeline:s3api", evidence=ev)
    if token is not None and filters[token].role == "s3token":
        section = f"filter:{filters[token].name}"
        uri = ini.first((section, "auth_uri"), (section, "www_authenticate_uri"))
        legacy = [v for v in (ini.get(section, k) for k in ("auth_host", "auth_port", "auth_protocol")) if v]
        if uri is None and legacy:
            ctx.fail(f"[{section}] has only auth_host/auth_port/auth_protocol: swift's s3token needs auth_uri with "
                     "the Keystone version (http://<keystone>:5000/v3)", severity=Severity.high,
                     resource=f"{section}.auth_uri", evidence=[v.evidence() for v in legacy])
        elif uri is not None and not re.search(r"/v3/?$", uri.value.strip()):
            ctx.fail(f"[{section}] auth_uri = {uri.value} lacks the Keystone API version (/v3), which swift's "
                     "s3token requires", severity=Severity.high, resource=f"{section}.auth_uri",
                     evidence=[uri.evidence()])
    if _position(filters, {"slo"}) is None:
        ctx.ok("s3api without slo: multipart uploads are disabled (s3api warns at startup)", evidence=ev)


# ---------------------------------------------------------------------------------------------------------
# STO-003
# ---------------------------------------------------------------------------------------------------------

PATHS_OF_INTEREST = (
    "/", "/var", "/var/log", "/var/lib/mysql", "/var/lib/mongodb", "/var/lib/rabbitmq",
    "/var/lib/nova/instances", "/var/lib/nova/instances/_base", "/var/lib/glance/images", "/var/lib/gnocchi",
    "/var/lib/docker", "/var/lib/containers",
)
# Every filesystem mounted below these is of interest (swift devices, ceph mons, Kolla named volumes).
MOUNT_PREFIXES = ("/srv/node/", "/var/lib/ceph/mon/", "/var/lib/docker/volumes/",
                  "/var/lib/containers/storage/volumes/")
# Never "full" in a way that matters: read-only images (snap squashfs, ISOs) are 100% by construction.
SKIP_FSTYPES = frozenset({"squashfs", "iso9660"})
_TMPFS = frozenset({"tmpfs", "devtmpfs", "ramfs"})
SMALL_TMPFS = 64 * 1024**2
CRITICAL_PCT = 95
HIGH_PCT = 85
# Directories too large to walk on a live host; their top offenders come from the narrower paths.
_NO_WALK = frozenset({"/", "/var"})


@dataclass
class Filesystem:
    row: DfRow
    fstype: str | None
    paths: list[str] = field(default_factory=list)
    also_mounted_at: list[str] = field(default_factory=list)

    @property
    def shared(self) -> bool:
        return bool(is_shared(self.fstype, self.row.filesystem))


def _fstype(row: DfRow, mounts: MountTable | None) -> str | None:
    if row.fstype:
        return row.fstype
    if mounts is not None:
        mount = mounts.at(row.target)
        if mount is not None:
            return mount.fstype
    return row.filesystem if row.filesystem in _TMPFS else None


def _skipped(row: DfRow, fstype: str | None) -> bool:
    if not row.total or row.usage is None:
        return True  # pseudo filesystems (proc, cgroup, nsfs) have no size
    if fstype in SKIP_FSTYPES:
        return True
    if fstype is None and row.filesystem.startswith("/dev/loop"):
        return True  # without a type column these are the snap squashfs images
    return fstype in _TMPFS and row.total < SMALL_TMPFS


def interesting_paths(ctx: CheckContext) -> list[str]:
    paths = list(PATHS_OF_INTEREST)
    try:
        nova = ctx.facts.get(load_config, "nova")
    except MissingEvidence:
        return paths
    path, _ = instances_path(nova)
    return [*paths, path, f"{path}/_base"] if path not in paths else paths


def filesystems_of_interest(ctx: CheckContext, df: DfTable, mounts: MountTable | None) -> list[Filesystem]:
    chosen: dict[DfRow, Filesystem] = {}

    def add(row: DfRow, path: str) -> None:
        fs = chosen.get(row)
        if fs is None:
            fs = chosen[row] = Filesystem(row, _fstype(row, mounts))
        if path not in fs.paths:
            fs.paths.append(path)

    for path in interesting_paths(ctx):
        row = df.mount_for(path)
        if row is not None:
            add(row, normpath(path))
    for row in df.rows:
        target = normpath(row.target)
        if any(target.startswith(prefix) for prefix in MOUNT_PREFIXES) and df.at(row.target) is row:
            add(row, target)

    out: list[Filesystem] = []
    for fs in chosen.values():
        if _skipped(fs.row, fs.fstype):
            continue
        same = next((seen for seen in out if _same_filesystem(seen, fs)), None)
        if same is None:
            out.append(fs)
            continue
        same.paths.extend(p for p in fs.paths if p not in same.paths)
        same.also_mounted_at.append(fs.row.target)
    return out


def _same_filesystem(a: Filesystem, b: Filesystem) -> bool:
    """One filesystem seen twice: a shared export under two mount points, a bind mount, or an overlay whose
    numbers are those of the filesystem below it."""
    if a.shared and b.shared:
        return a.row.filesystem == b.row.filesystem
    numbers = (a.row.total, a.row.used, a.row.avail) == (b.row.total, b.row.used, b.row.avail)
    return numbers and (a.row.filesystem == b.row.filesystem or "overlay" in (a.fstype, b.fstype))


def _severity(pct: int) -> Severity | None:
    if pct >= CRITICAL_PCT:
        return Severity.critical
    if pct >= HIGH_PCT:
        return Severity.high
    return None


def _largest(ctx: CheckContext, df: DfTable, fs: Filesystem) -> list[FileEntry]:
    """The ten largest files this filesystem holds under its paths of interest, when a listing exists."""
    found: dict[str, FileEntry] = {}
    for path in [*fs.paths, "/var/log"]:
        if path in _NO_WALK or df.mount_for(path) is not fs.row:
            continue
        try:
            listing = ctx.facts.get(list_files, path)
        except MissingEvidence:
            continue
        for entry in listing.largest_files(path):
            if df.mount_for(entry.path) is fs.row:
                found[entry.path] = entry
    return sorted(found.values(), key=lambda e: (-e.size, e.path))[:10]


@check(CheckMeta(
    id="STO-003",
    title="Filesystem space / inodes on OpenStack state & log paths",
    severity=Severity.critical,
    area="storage",
    tale=(
        "Operators of one cloud found that overflowing logs were their most common incident; in another, "
        "Ceilometer's MongoDB reached 99% of the controller's disk and the control node went down with it. A "
        "single runaway guest console log of several gigabytes did the same on a compute."
    ),
    description=(
        "Maps each OpenStack state and log path (/, /var, /var/log, MySQL, MongoDB, RabbitMQ, nova instances "
        "and _base, Glance, Gnocchi, swift /srv/node/*, ceph mons, container volumes) to the filesystem "
        "holding it (longest mount prefix in df) and applies usage thresholds to blocks and inodes. "
        "Read-only images (squashfs, iso9660), small tmpfs and duplicate bind/overlay mounts are ignored; a "
        "shared export is reported once."
    ),
    risk=(
        "A full filesystem stops MySQL/Galera, RabbitMQ and every service logging to it, often at once; a "
        "full instances filesystem pauses guests on write (I/O errors) and blocks new builds."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Find the consumers and verify log rotation.", commands=[
            "df -PT; df -PTi",
            "du -xsh /var/log/* /var/lib/* 2>/dev/null | sort -h | tail -20",
            "logrotate -d /etc/logrotate.conf",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "On Kolla hosts the cron container rotates logs: check cron_logrotate_rotation_interval "
            "(weekly), cron_logrotate_rotation_count (6) and cron_logrotate_log_maxsize (100M) in "
            "globals.yml."),
            commands=["docker exec cron cat /etc/logrotate.conf"]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Freeing space deletes data: old logs, MySQL binary logs (PURGE BINARY LOGS BEFORE ...), "
            "telemetry "
            "data (TEL-002) or soft-deleted rows (DB-001). Back up first."), commands=[
            "mysql -e \"PURGE BINARY LOGS BEFORE NOW() - INTERVAL 3 DAY\"",
            "find /var/log -name '*.gz' -mtime +30 -delete",
        ]),
    ],
    references=[
        "sos filesys.py (df -al -x autofs, df -ali -x autofs, mount -l), logs.py (ls -alRh /var/log), "
        "mysql.py, mongodb.py",
        "kolla-ansible ansible/roles/cron/defaults/main.yml (logrotate defaults)",
        "'≥ 75 % and growing' (medium) needs usage history: not evaluated on a single snapshot",
    ],
    reads={
        "live": ["cmd:df -al", "cmd:df -ali", "cmd:mount -l", "var/log (walk)", "etc/nova/nova.conf"],
        "sosreport": ["sos_commands/filesys/df_-al_-x_autofs", "sos_commands/filesys/df_-ali_-x_autofs",
                      "sos_commands/filesys/mount_-l", "sos_commands/logs/ls_-alRh_.var.log"],
        "kolla": ["cmd:df -al", "cmd:df -ali", "var/lib/docker/volumes/*"],
    },
))
def filesystem_usage(ctx: CheckContext) -> None:
    df = ctx.facts.get(load_df)
    inodes = ctx.facts.maybe(load_df_inodes)
    mounts = ctx.facts.maybe(load_mounts)
    healthy: list[str] = []
    for fs in filesystems_of_interest(ctx, df, mounts):
        row = fs.row
        block_pct = row.usage or 0
        inode_row = inodes.at(row.target) if inodes is not None else None
        inode_pct = inode_row.usage if inode_row is not None and inode_row.total else None
        findings: list[tuple[Severity, str, Evidence]] = []
        sev = _severity(block_pct)
        if sev is not None:
            findings.append((sev, f"{block_pct}% of its space used ({human_size(row.used or 0)} of "
                                  f"{human_size(row.total or 0)})", row.evidence()))
        if inode_pct is not None and inode_row is not None:
            isev = _severity(inode_pct)
            if isev is not None:
                findings.append((isev, f"{inode_pct}% of its inodes used", inode_row.evidence()))
        if not findings:
            inode_note = f", inodes {inode_pct}%" if inode_pct is not None else ""
            healthy.append(f"{row.target} {block_pct}%{inode_note}")
            continue
        severity = max((f[0] for f in findings), key=lambda s: s.rank)
        holds = ", ".join(fs.paths)
        where = f" (also mounted at {', '.join(fs.also_mounted_at)})" if fs.also_mounted_at else ""
        kind = fs.fstype or "network"
        shared = f"; shared {kind} filesystem: every client reports it, attribute it to the fleet"
        shared = shared if fs.shared else ""
        evidence = [f[2] for f in findings]
        top = _largest(ctx, df, fs)
        if top:
            evidence.extend(e.evidence() for e in top)
        biggest = f"; largest: {', '.join(f'{e.path} {human_size(e.size)}' for e in top[:3])}" if top else ""
        ctx.report(severity, f"{row.target} ({row.filesystem}{', ' + fs.fstype if fs.fstype else ''}) has "
                             f"{' and '.join(f[1] for f in findings)}; it holds "
                             f"{holds}{where}{shared}{biggest}",
                   resource=row.filesystem if fs.shared else row.target, evidence=evidence)
    if healthy:
        inode_note = "" if inodes is not None else " (inode usage not collected)"
        ctx.ok(f"filesystems holding OpenStack paths are below {HIGH_PCT}%: {', '.join(healthy)}{inode_note}")


# ---------------------------------------------------------------------------------------------------------
# STO-004
# ---------------------------------------------------------------------------------------------------------

_LUMINOUS = release_rank("luminous")


def _tags_expected(osd: OsdMap) -> bool:
    """Application tags exist from Luminous on; older clusters have none on any pool."""
    rank = release_rank(osd.require_osd_release)
    if rank is not None and _LUMINOUS is not None:
        return rank >= _LUMINOUS
    return any(p.applications for p in osd.pools)


@check(CheckMeta(
    id="STO-004",
    title="Ceph pools without application tag (POOL_APP_NOT_ENABLED)",
    severity=Severity.medium,
    area="storage",
    tale=(
        "After the Luminous upgrade the storage cluster sat in HEALTH_WARN: one pool carried no application "
        "tag. Tagging it with `ceph osd pool application enable` cleared the warning."
    ),
    description=(
        "Reads `ceph health detail` for POOL_APP_NOT_ENABLED and the pool list (`ceph osd dump` / `ceph osd "
        "pool ls detail`) for pools whose application metadata is empty. Pre-Luminous clusters have no "
        "application tags at all and are not flagged. A pool created a moment ago may not be tagged yet."
    ),
    risk=(
        "The cluster stays in HEALTH_WARN, which hides new warnings behind an old one; tools that act per "
        "application (rbd, rgw, cephfs) do not recognise the pool."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Tag each pool with its application (OpenStack's volumes, images, vms, backups pools are rbd)."),
            commands=["ceph osd pool application enable <pool> rbd", "rbd pool init <pool>"]),
    ],
    references=[
        "Ceph/Red Hat/IBM docs POOL_APP_NOT_ENABLED (via search; CATALOGUE STO-004)",
        "sos sos/report/plugins/ceph_mon.py (ceph health detail, osd pool ls detail, json_output/)",
    ],
    reads={
        "live": ["cmd:ceph health detail --format json-pretty", "cmd:ceph osd dump --format json-pretty"],
        "sosreport": ["sos_commands/ceph_mon/ceph_health_detail", "sos_commands/ceph_mon/ceph_osd_dump",
                      "sos_commands/ceph_mon/ceph_osd_pool_ls_detail", "sos_commands/ceph_mon/json_output/*"],
        "kolla": ["external Ceph: scan a monitor node"],
    },
))
def ceph_pool_application(ctx: CheckContext) -> None:
    ceph_applies(ctx)
    health = ctx.facts.maybe(load_health)
    osd = ctx.facts.maybe(load_osd_map)
    if health is None and osd is None:
        raise MissingEvidence("sos_commands/ceph_mon/ceph_health_detail or ceph_osd_dump (collected on a monitor)")
    untagged: list[Pool] = []
    if osd is not None and _tags_expected(osd):
        untagged = [p for p in osd.pools if not p.applications]
    check_ = health.get("POOL_APP_NOT_ENABLED") if health is not None else None
    if check_ is not None:
        details = "; ".join(check_.details[:5])
        ctx.warn(f"Ceph health POOL_APP_NOT_ENABLED: {check_.summary}" + (f" ({details})" if details else ""),
                 severity=Severity.medium, resource="POOL_APP_NOT_ENABLED",
                 evidence=[check_.evidence(), *(p.evidence() for p in untagged[:5])])
        return
    for pool in untagged:
        ctx.warn(f"pool {pool.name} has no application tag", severity=Severity.medium, resource=f"pool:{pool.name}",
                 evidence=[pool.evidence()])
    if not ctx.outcomes:
        pools = f"{len(osd.pools)} pool(s) tagged" if osd is not None else "pool list not collected"
        ev: list[Evidence] = [osd.evidence()] if osd is not None and osd.require_osd_release else []
        ctx.ok(f"no POOL_APP_NOT_ENABLED; {pools}", evidence=ev)
