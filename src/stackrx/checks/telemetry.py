"""Telemetry: legacy Ceilometer storage and Aodh alarm history kept forever (TEL-001), the disk under the
telemetry database (TEL-002) and how hard the pollers poll (TEL-003)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stackrx.checks.mq import log_window_days
from stackrx.checks.net import signature_hits
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.apilog import load_api_requests
from stackrx.facts.ceilometer_yaml import PollingFile, load_polling
from stackrx.facts.ini import IniFile, IniValue, as_bool, as_int, as_list, load_config
from stackrx.facts.mounts import human_size, load_df
from stackrx.facts.packages import load_packages
from stackrx.facts.telemetry_store import gnocchi_storage, mongo_db_path, parse_du, parse_mongo_stats
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind
from stackrx.sources.base import HostView

# ---------------------------------------------------------------------------------------------------------
# TEL-001
# ---------------------------------------------------------------------------------------------------------

# The cron plugin of sos copies these; TripleO keeps service crontabs under puppet-generated.
CRON_GLOBS = (
    "etc/crontab", "etc/cron.d/*", "etc/cron.hourly/*", "etc/cron.daily/*", "etc/cron.weekly/*",
    "etc/cron.monthly/*", "var/spool/cron/*", "var/spool/cron/crontabs/*",
    "var/lib/config-data/puppet-generated/*/var/spool/cron/*",
)
_SCHEME = re.compile(r"^\s*(?P<scheme>[A-Za-z][\w+.-]*)://")
_SQL_SCHEMES = ("mysql", "mariadb", "postgresql", "postgres", "sqlite", "oracle", "mssql")


def backend(value: IniValue | None) -> str | None:
    """`sql`, `mongodb`, another scheme, or None when unset or masked beyond recognition."""
    if value is None or not value.value.strip():
        return None
    m = _SCHEME.match(value.value)
    if m is None:
        return None
    scheme = m.group("scheme").lower().split("+", 1)[0]
    return "sql" if scheme in _SQL_SCHEMES else scheme


def active_lines(view: HostView, patterns: Iterable[str]) -> Iterator[tuple[str, Evidence]]:
    """Every uncommented, non-empty line (stripped) of the files matching `patterns`, with its evidence."""
    for text in view.read_files(patterns):
        for lineno, line in enumerate(text.content.splitlines(), 1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                yield stripped, Evidence(source=text.source, line=lineno, excerpt=stripped[:300])


def cron_job(view: HostView, command: str) -> Evidence | None:
    """The first uncommented crontab line running `command`."""
    return next((ev for line, ev in active_lines(view, CRON_GLOBS) if command in line), None)


def _maybe_config(ctx: CheckContext, service: str) -> IniFile | None:
    try:
        return ctx.facts.get(load_config, service)
    except MissingEvidence:
        return None


def _evidence(ini: IniFile, opt: IniValue | None, section: str, key: str, default: str) -> Evidence:
    if opt is not None:
        return opt.evidence()
    return Evidence(source=ini.sources[0] if ini.sources else "",
                    excerpt=f"[{section}] {key} not set (default {default})")


@dataclass(frozen=True)
class LegacyStorage:
    """Why a ceilometer.conf stores samples in Ceilometer's own database (removed in Queens)."""

    evidence: tuple[Evidence, ...]
    connection: IniValue | None


def legacy_storage(ini: IniFile) -> LegacyStorage | None:
    keys = ("meter_dispatchers", "meter_dispatcher", "dispatcher")
    dispatchers = [v for v in (ini.get("DEFAULT", k) for k in keys) if v is not None]
    names = {d.lower() for v in dispatchers for d in as_list(v)}
    connection = ini.first(("database", "metering_connection"), ("database", "connection"))
    if connection is not None and not connection.value.strip():
        connection = None
    if "database" in names:
        found = [v.evidence() for v in dispatchers] + ([connection.evidence()] if connection else [])
        return LegacyStorage(tuple(found), connection)
    # An explicit dispatcher list without `database` (e.g. gnocchi only) never writes the DB, even with a
    # connection string left behind; an unset list defaulted to ['database'] on releases that had it.
    if connection is not None and not dispatchers:
        return LegacyStorage((connection.evidence(),), connection)
    return None


@check(CheckMeta(
    id="TEL-001",
    title="Telemetry storage TTL unset (legacy Ceilometer DB, Aodh history)",
    severity=Severity.high,
    area="telemetry",
    tale=(
        "Ceilometer, left at its defaults, kept every sample and event it ever received in MongoDB. Nine "
        "months later the database had taken 99% of the controller's disk and the control node failed; "
        "setting a time-to-live, expiring old documents and rebuilding the database was the way out."
    ),
    description=(
        "For Ceilometer releases that still store samples themselves ([database] connection / "
        "metering_connection, or a `database` dispatcher), checks the effective [database] "
        "metering_time_to_live (deprecated alias time_to_live; the new name wins). For Aodh, checks "
        "[database] alarm_history_time_to_live while record_history is on. A TTL on an SQL backend only "
        "works when the expirer runs: ceilometer-expirer / aodh-expirer must appear in a crontab."
    ),
    risk=(
        "With TTL -1 (the default) telemetry data is kept forever: the database grows until its disk is "
        "full, which on a controller takes down every service sharing that disk."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Set a retention and run the expirer daily.", commands=[
            "crudini --set /etc/ceilometer/ceilometer.conf database metering_time_to_live 604800",
            "crudini --set /etc/aodh/aodh.conf database alarm_history_time_to_live 2592000",
            "echo '0 3 * * * aodh /usr/bin/aodh-expirer' > /etc/cron.d/aodh-expirer",
            "systemctl restart ceilometer-collector aodh-api",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Reclaiming space already used deletes telemetry data (see TEL-002): back up the database "
            "first."),
            commands=["ceilometer-expirer", "aodh-expirer"]),
    ],
    references=[
        "ceilometer commit 9323f07f9 (storage drivers and DB dispatcher removed in 10.0.0 Queens; parent "
        "ceilometer/storage/__init__.py: metering_time_to_live default -1, alias time_to_live)",
        "ceilometer ceilometer/pipeline/data/pipeline.yaml (gnocchi:// publisher)",
        "aodh aodh/storage/__init__.py (alarm_history_time_to_live default -1), aodh/service.py "
        "(record_history), setup.cfg (aodh-expirer)",
        "event_time_to_live is UNVERIFIED and not evaluated; MongoDB TTL-index expiry without cron is "
        "UNVERIFIED: no cron finding for MongoDB backends",
        "prior art: risu plugins/core/openstack/ceilometer/expiration.sh",
    ],
    reads={
        "live": ["etc/ceilometer/ceilometer.conf", "etc/aodh/aodh.conf", *CRON_GLOBS],
        "sosreport": ["etc/ceilometer/ceilometer.conf", "etc/aodh/aodh.conf", *CRON_GLOBS],
        "kolla": ["etc/kolla/ceilometer-*/ceilometer.conf", "etc/kolla/aodh-*/aodh.conf"],
    },
))
def telemetry_ttl(ctx: CheckContext) -> None:
    ceilometer = _maybe_config(ctx, "ceilometer")
    aodh = _maybe_config(ctx, "aodh")
    if ceilometer is None and aodh is None:
        raise MissingEvidence("etc/ceilometer/ceilometer.conf, etc/aodh/aodh.conf")
    if ceilometer is not None:
        _ceilometer(ctx, ceilometer)
    if aodh is not None:
        _aodh(ctx, aodh)


def _ceilometer(ctx: CheckContext, ini: IniFile) -> None:
    legacy = legacy_storage(ini)
    if legacy is None:
        ctx.ok("ceilometer only publishes (no own database storage): retention is the Gnocchi archive policy "
               "(TEL-002)", resource="ceilometer")
        return
    ttl_opt = ini.first(("database", "metering_time_to_live"), ("database", "time_to_live"))
    ttl = as_int(ttl_opt, -1)
    ttl_ev = _evidence(ini, ttl_opt, "database", "metering_time_to_live", "-1")
    if ttl <= 0:
        ctx.fail(f"legacy Ceilometer stores samples in its own database with metering_time_to_live = {ttl}: "
                 "samples are kept forever and the database grows until its disk is full",
                 severity=Severity.high, resource="ceilometer", evidence=[*legacy.evidence, ttl_ev])
        return
    kind = backend(legacy.connection)
    if kind == "sql":
        job = cron_job(ctx.view, "ceilometer-expirer")
        if job is None:
            ctx.warn(f"metering_time_to_live = {ttl} on an SQL backend, but no crontab runs "
                     "ceilometer-expirer: expired samples are never deleted", severity=Severity.medium,
                     resource="ceilometer", evidence=[*legacy.evidence, ttl_ev])
            return
        ctx.ok(f"metering_time_to_live = {ttl} and ceilometer-expirer is scheduled", resource="ceilometer",
               evidence=[ttl_ev, job])
        return
    ctx.ok(f"metering_time_to_live = {ttl} ({kind or 'backend not recorded'})", resource="ceilometer",
           evidence=[ttl_ev])


def _aodh(ctx: CheckContext, ini: IniFile) -> None:
    record = ini.get("DEFAULT", "record_history")
    if not as_bool(record, True):
        assert record is not None
        ctx.ok("aodh record_history = False: no alarm history is stored", resource="aodh",
               evidence=[record.evidence()])
        return
    ttl_opt = ini.get("database", "alarm_history_time_to_live")
    ttl = as_int(ttl_opt, -1)
    ttl_ev = _evidence(ini, ttl_opt, "database", "alarm_history_time_to_live", "-1")
    if ttl <= 0:
        ctx.warn(f"aodh alarm_history_time_to_live = {ttl}: alarm history is kept forever",
                 severity=Severity.medium, resource="aodh", evidence=[ttl_ev])
        return
    kind = backend(ini.get("database", "connection"))
    if kind == "sql":
        job = cron_job(ctx.view, "aodh-expirer")
        if job is None:
            ctx.warn(f"alarm_history_time_to_live = {ttl} on an SQL backend, but no crontab runs "
                     "aodh-expirer: expired alarm history is never deleted", severity=Severity.medium,
                     resource="aodh", evidence=[ttl_ev])
            return
        ctx.ok(f"alarm_history_time_to_live = {ttl} and aodh-expirer is scheduled", resource="aodh",
               evidence=[ttl_ev, job])
        return
    ctx.ok(f"alarm_history_time_to_live = {ttl} ({kind or 'backend not recorded'})", resource="aodh",
           evidence=[ttl_ev])


# ---------------------------------------------------------------------------------------------------------
# TEL-002
# ---------------------------------------------------------------------------------------------------------

FULL_PCT = 85
BLOAT_RATIO = 2.0
# WiredTiger preallocates: small databases always look bloated.
BLOAT_MIN_BYTES = 1024**3
_HIGH_POLICIES = ("ceilometer-high", "ceilometer-high-rate", "high")


def _mount_usage(ctx: CheckContext, path: str, what: str, extra: list[Evidence]) -> bool:
    """Report the filesystem holding `path` when it is FULL_PCT% used; True when something was reported."""
    df = ctx.facts.maybe(load_df)
    if df is None:
        return False
    row = df.mount_for(path)
    if row is None or row.usage is None:
        return False
    if row.usage >= FULL_PCT:
        ctx.fail(f"the filesystem holding {what} ({path}, mounted at {row.target}) is {row.usage}% full: the "
                 "database stops accepting writes when it fills", severity=Severity.high, resource=path,
                 evidence=[row.evidence(), *extra])
        return True
    ctx.ok(f"{what} at {path}: filesystem {row.target} {row.usage}% used", resource=path,
           evidence=[row.evidence(), *extra])
    return False


@check(CheckMeta(
    id="TEL-002",
    title="Telemetry database disk growth (MongoDB / Gnocchi)",
    severity=Severity.high,
    area="telemetry",
    tale=(
        "Ceilometer's MongoDB grew until it nearly filled the controller. Deleting old meters did not give "
        "the space back — MongoDB keeps the files it has — and only a dump, drop and restore of the "
        "database recovered the disk."
    ),
    description=(
        "Finds the telemetry store of this node: MongoDB's dbPath (mongod.conf, default /var/lib/mongodb; "
        "size from `du -sh`), Gnocchi's file storage (file_basepath, default /var/lib/gnocchi). The filesystem "
        "holding it at 85% or more is high. On a live host, MongoDB's ceilometer database with storageSize at "
        "least twice its dataSize (and over 1 GiB) is medium: space freed by deletes is not returned. "
        "Ceilometer configured with a 1-second archive policy is information. Gnocchi's measure backlog needs "
        "two API samples (not visible to a node scan); Ceph-backed Gnocchi only shows cluster-wide usage."
    ),
    risk=(
        "A full disk stops the telemetry database and, on a shared controller disk, every service next to it "
        "(the seed's control node failed this way)."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Lower retention (TEL-001, a smaller archive policy for high-cardinality metrics) and reduce "
            "meters (TEL-003)."), commands=[
            "gnocchi archive-policy list",
            "gnocchi archive-policy-rule list",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Reclaim MongoDB space (blocks the database; back up first): compact the collections, or dump, drop "
            "and restore."), commands=[
            "mongo ceilometer --eval 'db.runCommand({compact: \"meter\"})'",
            "mongodump --db ceilometer --out /var/backup/ceilometer && mongo ceilometer --eval 'db.dropDatabase()' "
            "&& mongorestore /var/backup/ceilometer",
        ]),
    ],
    references=[
        "gnocchi gnocchi/archive_policy.py; ceilometer ceilometer/publisher/data/gnocchi_resources.yaml "
        "(archive_policy_default ceilometer-low; ceilometer-high 1 s granularity)",
        "sos sos/report/plugins/mongodb.py (du -sh /var/lib/mongodb/)",
        "Gnocchi /v1/status field names UNVERIFIED: backlog not evaluated in node scans",
        "MongoDB repairDatabase removal version UNVERIFIED: not recommended here",
    ],
    reads={
        "live": ["etc/mongod.conf", "cmd:du -sh /var/lib/mongodb", "cmd:mongo ceilometer stats",
                 "etc/gnocchi/gnocchi.conf", "cmd:df -al", "etc/ceilometer/*"],
        "sosreport": ["etc/mongod.conf", "etc/mongodb.conf", "sos_commands/mongodb/du_-sh_.var.lib.mongodb",
                      "etc/gnocchi/gnocchi.conf", "sos_commands/filesys/df_-al_-x_autofs", "etc/ceilometer/*"],
        "kolla": ["etc/kolla/gnocchi-*/gnocchi.conf", "var/lib/docker/volumes/gnocchi/_data"],
    },
))
def telemetry_store_growth(ctx: CheckContext) -> None:
    mongo = mongo_db_path(ctx.view)
    gnocchi = gnocchi_storage(ctx.view)
    pkgs = ctx.facts.maybe(load_packages)
    has_mongo = mongo is not None or (pkgs is not None and pkgs.project("mongodb") is not None) \
        or ctx.view.command("du -sh /var/lib/mongodb") is not None
    if not has_mongo and gnocchi is None:
        raise NotApplicable("no MongoDB or Gnocchi storage on this node")
    if has_mongo:
        path = mongo.path if mongo is not None else "/var/lib/mongodb"
        extra = [mongo.evidence] if mongo is not None else []
        du = ctx.view.command("du -sh /var/lib/mongodb")
        if du is not None and du.content.strip():
            size, du_ev = parse_du(du)
            extra.append(Evidence(source=du_ev.source, line=du_ev.line,
                                  excerpt=f"{du_ev.excerpt} ({human_size(size)})"))
        _mount_usage(ctx, path, "MongoDB", extra)
        stats = ctx.view.command("mongo ceilometer stats")
        if stats is not None and stats.content.strip():
            parsed = parse_mongo_stats(stats)
            if parsed.storage_size > BLOAT_MIN_BYTES and parsed.data_size > 0 and \
                    parsed.storage_size / parsed.data_size >= BLOAT_RATIO:
                ctx.warn(f"MongoDB ceilometer database uses {human_size(parsed.storage_size)} on disk for "
                         f"{human_size(parsed.data_size)} of data: deleted documents' space is not returned",
                         severity=Severity.medium, resource="mongodb:ceilometer", evidence=[parsed.evidence])
    if gnocchi is not None:
        if gnocchi.path is not None:
            _mount_usage(ctx, gnocchi.path, "Gnocchi file storage", [gnocchi.evidence])
        else:
            ctx.ok(f"Gnocchi stores measures in {gnocchi.driver}: usage is the backend's (e.g. `ceph df` for the "
                   "pool), not visible here", evidence=[gnocchi.evidence])
    _archive_policy(ctx)
    if not ctx.outcomes and ctx.facts.maybe(load_df) is None:
        raise MissingEvidence("sos_commands/filesys/df_-al_-x_autofs (cmd: df -al)")


def _archive_policy(ctx: CheckContext) -> None:
    try:
        ini = ctx.facts.get(load_config, "ceilometer")
    except MissingEvidence:
        return
    policy = ini.first(("dispatcher_gnocchi", "archive_policy"), ("DEFAULT", "archive_policy"))
    if policy is not None and policy.value.strip() in _HIGH_POLICIES:
        ctx.ok(f"Ceilometer writes with archive policy {policy.value.strip()} (1-second granularity): review "
               "whether that resolution is needed", resource="archive_policy", evidence=[policy.evidence()])


# ---------------------------------------------------------------------------------------------------------
# TEL-003
# ---------------------------------------------------------------------------------------------------------

MIN_INTERVAL = 60
WILDCARD_MIN_INTERVAL = 300
SERVERS_DETAIL_RATE = 1.0
# A burst in a log that only just started must not read as a sustained rate.
MIN_RATE_SPAN_S = 3600.0


@check(CheckMeta(
    id="TEL-003",
    title="Telemetry polling load (interval, meters, discovery method)",
    severity=Severity.medium,
    area="telemetry",
    tale=(
        "Ceilometer's compute pollers asked nova for the instance list on every cycle, and the polling "
        "interval set for one meter ended up applied to all of them. The result was a heavy, steady load on "
        "the Nova API's CPU until intervals and meter lists were tuned per need."
    ),
    description=(
        "Reads polling.yaml (or, before Ocata, the interval-bearing sources of pipeline.yaml) and the "
        "ceilometer.conf [compute] instance_discovery_method. Any source polling every meter ('*') more often "
        "than every 300 s is medium, any interval under 60 s is high; a long interval (even a week) used to "
        "rely on notifications is fine. `naive` discovery asks nova-api for every instance (low here: it "
        "matters beyond about 20 computes, a count a node scan cannot see). In nova-api logs on this node, "
        "GET servers/detail at one request per second or more, over the time the logs cover (at least an "
        "hour), is reported (low: the caller's identity is not resolvable from the log alone). With the "
        "Prometheus exporter enabled, short intervals are information only."
    ),
    risk=(
        "Aggressive polling multiplies API calls and hypervisor queries on every compute: nova-api CPU, "
        "libvirt and the message bus all pay for samples nobody reads."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Poll every 300-600 s with explicit meter lists, use libvirt_metadata discovery, and restart the "
            "polling agents."), commands=[
            "crudini --set /etc/ceilometer/ceilometer.conf compute instance_discovery_method libvirt_metadata",
            "# polling.yaml: sources: - name: some_pollsters / interval: 300 / meters: [cpu, memory.usage, ...]",
            "systemctl restart ceilometer-polling   # ceilometer-agent-compute / -central on older packages",
        ]),
    ],
    references=[
        "ceilometer ceilometer/polling/manager.py ([polling] cfg_file polling.yaml since 8.0.0), "
        "ceilometer/compute/discovery.py (instance_discovery_method: libvirt_metadata default, naive, "
        "workload_partitioning), etc/ceilometer/polling*.yaml (interval 300)",
        "ceilometer commit faac031a9 (shuffle_time_before_polling_task removed in 10.0.0)",
        "Thresholds (300 s with '*', 60 s, 20 computes, 1 req/s): CATALOGUE TEL-003",
    ],
    reads={
        "live": ["etc/ceilometer/polling.yaml", "etc/ceilometer/pipeline.yaml", "etc/ceilometer/ceilometer.conf",
                 "var/log/nova/nova-api.log*"],
        "sosreport": ["etc/ceilometer/*", "var/log/nova/nova-api.log*"],
        "kolla": ["etc/kolla/ceilometer-compute/polling.yaml", "etc/kolla/ceilometer-central/polling.yaml"],
    },
))
def polling_load(ctx: CheckContext) -> None:
    try:
        ini = ctx.facts.get(load_config, "ceilometer")
    except MissingEvidence:
        ini = None
    try:
        files: list[PollingFile] = ctx.facts.get(load_polling)
    except MissingEvidence:
        if ini is None:
            raise NotApplicable("no ceilometer.conf, polling.yaml or pipeline.yaml on this node") from None
        files = []
    exporter = ini is not None and as_bool(ini.get("polling", "enable_prometheus_exporter"), False)
    has_polling = any(f.kind == "polling" for f in files)
    sources = [s for f in files if f.kind == "polling" or not has_polling for s in f.sources]
    for src in sources:
        if src.interval is None:
            continue
        if exporter and src.interval < WILDCARD_MIN_INTERVAL:
            ctx.ok(f"source {src.name} polls every {src.interval} s for the Prometheus exporter",
                   resource=f"source:{src.name}", evidence=[src.evidence()])
        elif src.interval < MIN_INTERVAL:
            ctx.fail(f"source {src.name} polls every {src.interval} s (under {MIN_INTERVAL} s): constant load on "
                     "nova-api, libvirt and the message bus", severity=Severity.high, resource=f"source:{src.name}",
                     evidence=[src.evidence()])
        elif src.interval < WILDCARD_MIN_INTERVAL and src.all_meters:
            ctx.warn(f"source {src.name} polls every meter ('*') every {src.interval} s", severity=Severity.medium,
                     resource=f"source:{src.name}", evidence=[src.evidence()])
    if ini is not None:
        method = ini.get("compute", "instance_discovery_method")
        if method is not None and method.value.strip().lower() == "naive":
            ctx.warn("[compute] instance_discovery_method = naive: each compute poller lists all instances "
                     "through nova-api (heavy beyond about 20 computes; the compute count is not visible from "
                     "one node)", severity=Severity.low, resource="instance_discovery_method",
                     evidence=[method.evidence()])
    _servers_detail_rate(ctx)
    if not ctx.outcomes:
        where = ", ".join(f.source for f in files) or "shipped defaults (interval 300 s)"
        ctx.ok(f"{len(sources)} polling source(s), none too frequent ({where})")


def _servers_detail_rate(ctx: CheckContext) -> None:
    hits = signature_hits(ctx)
    if hits is None or not hits.count("R-WSGI") or hits.window_start is None or hits.collected_at is None:
        return
    api = ctx.facts.get(load_api_requests, log_window_days(ctx))
    # The rate is over the time the API logs cover, which is often shorter than the window (rotation).
    first = next((h.timestamp for h in hits.get("R-WSGI") if h.timestamp is not None), None)
    start = max(hits.window_start, first) if first is not None else hits.window_start
    seconds = max((hits.collected_at - start).total_seconds(), MIN_RATE_SPAN_S)
    for (service, method, template), endpoint in api.endpoints.items():
        if method != "GET" or not service.startswith("nova-api") or not template.endswith("/servers/detail"):
            continue
        rate = endpoint.count / seconds
        if rate >= SERVERS_DETAIL_RATE:
            ev = [endpoint.slowest.evidence()] if endpoint.slowest is not None else []
            ctx.warn(f"{service}: {endpoint.count} GET servers/detail requests in {seconds / 3600:.1f} h of logs "
                     f"({rate:.1f}/s): typical of naive-discovery pollers (the caller cannot be resolved from the "
                     "log)",
                     severity=Severity.low, resource=f"{service}:servers/detail", evidence=ev)
