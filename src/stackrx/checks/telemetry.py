"""Telemetry retention: legacy Ceilometer storage and Aodh alarm history kept forever (TEL-001)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence
from stackrx.facts.ini import IniFile, IniValue, as_bool, as_int, as_list, load_config
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind
from stackrx.sources.base import HostView

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
