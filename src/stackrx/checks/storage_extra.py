"""Object and block storage: Swift S3 middleware (STO-002), Ceph pools without an application tag (STO-004)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackrx.checks.upgrade import ceph_applies
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.ceph import OsdMap, Pool, load_health, load_osd_map, release_rank
from stackrx.facts.ini import IniFile, IniValue, parse_ini
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
