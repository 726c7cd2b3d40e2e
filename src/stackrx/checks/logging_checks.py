"""Logging: size/time-rotating handlers shared by several processes (LOG-001), slow API requests in the
services' WSGI access lines (LOG-002)."""

from __future__ import annotations

import itertools
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass

from stackrx.checks.mq import log_window_days
from stackrx.checks.net import signature_hits
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.apilog import SLOW_LIMIT_S, Endpoint, load_api_requests
from stackrx.facts.ini import IniFile, load_config, parse_ini
from stackrx.facts.processes import ServiceProcess, load_service_processes
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind
from stackrx.sources.base import Text

# ---------------------------------------------------------------------------------------------------------
# LOG-001
# ---------------------------------------------------------------------------------------------------------

ROTATING = ("size", "interval")
_HANDLER_CLASS = re.compile(r"(?:logging\.)?handlers\.(?P<cls>RotatingFileHandler|TimedRotatingFileHandler)")
_FILENAME = re.compile(r"""['"](?P<path>/[^'"]+\.log)['"]""")
HORIZON_SETTINGS = ("etc/openstack-dashboard/local_settings.py", "etc/openstack-dashboard/local_settings",
                    "etc/openstack-dashboard/local_settings.d/*.py")
_WSGI_PROCESSES = re.compile(r"\bWSGIDaemonProcess\s+\S+.*?\bprocesses=(?P<n>\d+)", re.IGNORECASE)
_APACHE_CONFS = ("etc/httpd/conf.d/openstack-dashboard.conf", "etc/apache2/conf-enabled/openstack-dashboard.conf",
                 "etc/apache2/conf.d/openstack-dashboard.conf", "etc/apache2/sites-enabled/*")


@dataclass(frozen=True)
class RotatingLog:
    path: str
    handler: str
    evidence: Evidence


def _rotating_in_logging_config(text: Text) -> list[RotatingLog]:
    """Rotating handlers (and their files) in a logging.config file (INI fileConfig, YAML/JSON dictConfig)."""
    out: list[RotatingLog] = []
    lines = text.content.splitlines()
    for lineno, line in enumerate(lines, 1):
        m = _HANDLER_CLASS.search(line)
        if m is None or line.lstrip().startswith("#"):
            continue
        window = "\n".join(lines[max(0, lineno - 4): lineno + 5])
        path = _FILENAME.search(window)
        out.append(RotatingLog(path.group("path").lstrip("/") if path else "?", m.group("cls"),
                               Evidence(source=text.source, line=lineno, excerpt=line.strip()[:300])))
    return out


def _process_config(ctx: CheckContext, proc: ServiceProcess) -> IniFile | None:
    if proc.config_files:
        texts = [t for t in (ctx.view.read_text(f.lstrip("/")) for f in proc.config_files) if t is not None]
        if texts:
            return parse_ini(texts)
    if proc.project is None:
        return None
    try:
        return ctx.facts.get(load_config, proc.project)
    except MissingEvidence:
        return None


def _log_target(proc: ServiceProcess, ini: IniFile | None) -> str | None:
    if proc.log_file is not None:
        return proc.log_file
    if ini is None:
        return None
    log_file = ini.first(("DEFAULT", "log_file"), ("DEFAULT", "logfile"))
    if log_file is None or not log_file.value.strip():
        return None
    name = log_file.value.strip()
    if name.startswith("/"):
        return name.lstrip("/")
    log_dir = ini.first(("DEFAULT", "log_dir"), ("DEFAULT", "logdir"))
    base = log_dir.value.strip() if log_dir is not None and log_dir.value.strip() else ""
    return posixpath.join(base, name).lstrip("/") if base else None


def _rotation(ctx: CheckContext, ini: IniFile | None) -> list[RotatingLog]:
    """Rotating handlers this config asks oslo.log for (log_rotation_type, or a log_config_append file)."""
    if ini is None:
        return []
    append = ini.first(("DEFAULT", "log_config_append"), ("DEFAULT", "log_config"), ("DEFAULT", "log-config"))
    if append is not None and append.value.strip():
        text = ctx.view.read_text(append.value.strip().lstrip("/"))
        return _rotating_in_logging_config(text) if text is not None else []
    kind = ini.get("DEFAULT", "log_rotation_type")
    if kind is not None and kind.value.strip().lower() in ROTATING:
        cls = "RotatingFileHandler" if kind.value.strip().lower() == "size" else "TimedRotatingFileHandler"
        return [RotatingLog("", cls, kind.evidence())]
    return []


def _rotation_out_of_order(ctx: CheckContext, path: str) -> Evidence | None:
    """Live only (sos copies do not keep mtimes): `x.log.N` must be older than `x.log.N-1` and `x.log`."""
    if ctx.view.kind != "live":
        return None
    stats = []
    for index in range(0, 31):
        info = ctx.view.stat(path if index == 0 else f"{path}.{index}")
        if info is None:
            break
        stats.append(info)
    for newer, older in itertools.pairwise(stats):
        if older.mtime > newer.mtime:
            return Evidence(source=older.path, excerpt=f"{older.path} modified after {newer.path}: several writers "
                            "rotated the same file")
    return None


@check(CheckMeta(
    id="LOG-001",
    title="RotatingFileHandler shared by several processes",
    severity=Severity.medium,
    area="logging",
    tale=(
        "A Django application logged through RotatingFileHandler from several worker processes. The rotated "
        "files came out jumbled — hr.log.1 to hr.log.10 overwritten out of order — because the handler is "
        "thread-safe but knows nothing about other processes writing the same file."
    ),
    description=(
        "For every OpenStack service process, finds its log file (--log-file, else log_file/log_dir from the "
        "config files it was started with) and its handler: oslo.log uses RotatingFileHandler for "
        "log_rotation_type = size, TimedRotatingFileHandler for interval and WatchedFileHandler for the "
        "default none; a log_config_append file is read for rotating handler classes and the files they write "
        "(with it, oslo.log ignores log_file and --log-file). Two or more processes "
        "(a parent and its API workers count) writing one rotating file is medium; on a live host, rotations "
        "whose mtimes run backwards are the seed's symptom. Horizon's local_settings LOGGING is checked the "
        "same way against the number of mod_wsgi processes. External logrotate (copytruncate) with the default "
        "handler is fine."
    ),
    risk="Each process rotates on its own: log lines are lost or overwritten and rotated files are out of order.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Let one external rotator own the files: log_rotation_type = none (WatchedFileHandler) with "
            "logrotate, or journald/syslog, or one file per process; restart the services."), commands=[
            "crudini --set /etc/nova/nova.conf DEFAULT log_rotation_type none",
            "crudini --set /etc/nova/nova.conf DEFAULT use_journal true   # alternative",
        ]),
    ],
    references=[
        "oslo.log oslo_log/_options.py (log_rotation_type none|size|interval, max_logfile_size_mb 200, "
        "max_logfile_count 30), oslo_log/log.py (handler selection)",
        "horizon openstack_dashboard/local/local_settings.py.example (NullHandler/StreamHandler)",
        "kolla-ansible cron role (logrotate)",
    ],
    reads={
        "live": ["cmd:ps auxwww", "etc/<svc>/<svc>.conf", "log_config_append files", "var/log/<svc>/*.log*",
                 "etc/openstack-dashboard/local_settings.py"],
        "sosreport": ["sos_commands/process/ps_auxwwwm", "etc/<svc>/<svc>.conf", "log_config_append files",
                      "etc/openstack-dashboard/local_settings*"],
        "kolla": ["etc/kolla/<svc>/<svc>.conf (Kolla rotates with logrotate in the cron container)"],
    },
))
def shared_rotating_handler(ctx: CheckContext) -> None:
    procs = ctx.facts.maybe(load_service_processes)
    if procs is None:
        raise MissingEvidence("sos_commands/process/ps_auxwwwm (cmd: ps auxwww)")
    writers: dict[str, list[ServiceProcess]] = defaultdict(list)
    handlers: dict[str, list[RotatingLog]] = {}
    for proc in procs:
        if proc.project is None:
            continue
        ini = _process_config(ctx, proc)
        rotating = _rotation(ctx, ini)
        named = [r for r in rotating if r.path not in ("", "?")]
        if named:
            # A log_config_append file replaces oslo.log's own setup (log_file and --log-file are ignored): every
            # process started with it writes each file its handlers name.
            for r in named:
                writers[r.path].append(proc)
                handlers.setdefault(r.path, [r])
            continue
        target = _log_target(proc, ini)
        if target is None:
            continue
        writers[target].append(proc)
        handlers.setdefault(target, rotating)
    horizon = _horizon(ctx)
    if not writers and horizon is None:
        raise NotApplicable("no OpenStack service process with a log file on this node")
    for target, group in sorted(writers.items()):
        rotating = handlers.get(target) or []
        if not rotating:
            continue
        disorder = _rotation_out_of_order(ctx, target)
        if len(group) >= 2 or disorder is not None:
            programs = sorted({p.program for p in group})
            ctx.warn(f"{len(group)} process(es) ({', '.join(programs)}) write /{target} through "
                     f"{rotating[0].handler}: each rotates the file on its own", severity=Severity.medium,
                     resource=f"/{target}", evidence=[rotating[0].evidence, *(p.evidence() for p in group[:3]),
                                                     *([disorder] if disorder else [])])
    if horizon is not None:
        rotating, processes, ev = horizon
        if rotating and processes >= 2:
            ctx.warn(f"Horizon logs through {rotating[0].handler} ({rotating[0].path or 'file'}) from {processes} "
                     "mod_wsgi processes", severity=Severity.medium, resource="horizon",
                     evidence=[rotating[0].evidence, *ev])
    if not ctx.outcomes:
        shared = sum(1 for g in writers.values() if len(g) >= 2)
        rotated = sum(1 for t in writers if handlers.get(t))
        ctx.ok(f"{len(writers)} service log file(s), {shared} written by several processes, {rotated} through a "
               "rotating handler: no rotating file has several writers")


def _horizon(ctx: CheckContext) -> tuple[list[RotatingLog], int, list[Evidence]] | None:
    texts = [t for pattern in HORIZON_SETTINGS for path in ctx.view.glob(pattern)
             if (t := ctx.view.read_text(path)) is not None]
    if not texts:
        return None
    rotating = [r for t in texts for r in _rotating_in_logging_config(t)]
    processes = 0
    ev: list[Evidence] = []
    for pattern in _APACHE_CONFS:
        for path in ctx.view.glob(pattern):
            text = ctx.view.read_text(path)
            if text is None:
                continue
            for lineno, line in enumerate(text.content.splitlines(), 1):
                m = _WSGI_PROCESSES.search(line)
                if m and not line.lstrip().startswith("#"):
                    processes = max(processes, int(m.group("n")))
                    ev.append(Evidence(source=text.source, line=lineno, excerpt=line.strip()[:300]))
    return rotating, processes, ev


# ---------------------------------------------------------------------------------------------------------
# LOG-002
# ---------------------------------------------------------------------------------------------------------

P95_LIMIT_S = 5.0
MIN_SAMPLES = 20
_API_LOG = re.compile(r"(?:^|/)(?:nova-api[\w-]*|neutron-server|neutron-api|glance-api|cinder-api|placement-api|"
                      r"keystone[\w-]*|heat-api[\w-]*|octavia-api|manila-api|ironic-api|barbican-api|designate-api|"
                      r"magnum-api|aodh-api|gnocchi-api)[^/]*$"
                      # RDO packages name the API log after its role inside the service's directory.
                      r"|(?:^|/)(?:glance|cinder|manila)/api$|(?:^|/)neutron/server$")
# Transfers and long polls are slow by design.
_EXEMPT = re.compile(r"/file$|/stage$|/import$|/os-getConsoleOutput|/events$")


def _exempt(endpoint: Endpoint) -> bool:
    return bool(_EXEMPT.search(endpoint.template))


@check(CheckMeta(
    id="LOG-002",
    title="Slow API requests in WSGI access logs",
    severity=Severity.medium,
    area="logging",
    tale=(
        "After an upgrade, EC2 RunInstances calls took 138 seconds where they had taken under four on the "
        "previous release. The API's own access lines, with their time: field, showed exactly which call had "
        "become slow and by how much."
    ),
    description=(
        "Reads the eventlet/oslo WSGI access lines (\"GET /path HTTP/1.1\" status: N len: N time: S) of the API "
        "services' logs on this node, groups them by service, method and path template (ids replaced), and "
        "reports templates with at least 20 samples whose 95th percentile exceeds 5 s (medium) and any request "
        "over 60 s (high). Image uploads/downloads and other transfer endpoints are exempt. Correlate with "
        "DB-001 (soft-deleted rows), MQ-001, TEL-003 and LOG-001. Access logs written by Apache or uWSGI use "
        "site-specific formats and are not read."
    ),
    risk="Slow API calls time out clients and automation, and usually point at a database or messaging problem.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Find what the slow template waits on: database row counts (DB-001), RabbitMQ (MQ-001), pollers "
            "hammering the API (TEL-003)."), commands=[
            "grep -E 'time: [0-9]{2,}\\.' /var/log/nova/nova-api.log | tail",
        ]),
    ],
    references=[
        "seed S1 nova-api lines; loghub OpenStack_2k.log real nova-api access lines (signature R-WSGI)",
        "Thresholds (20 samples, p95 5 s, 60 s): CATALOGUE LOG-002",
        "httpd/uWSGI access-log formats UNVERIFIED (site-specific): decided not to parse them",
    ],
    reads={
        "live": ["var/log/nova/nova-api*.log*", "var/log/neutron/neutron-server.log*", "var/log/glance/api.log*",
                 "var/log/cinder/cinder-api.log*"],
        "sosreport": ["var/log/<svc>/*.log*", "var/log/httpd/nova*.log*", "var/log/apache2/nova*.log*"],
        "kolla": ["var/lib/docker/volumes/kolla_logs/_data/<svc>/"],
    },
))
def slow_api_requests(ctx: CheckContext) -> None:
    hits = signature_hits(ctx)
    if hits is None:
        raise MissingEvidence("service logs (var/log/<svc>/*.log*)")
    api_logs = [f.path for f in hits.files if _API_LOG.search(f.path.split(".log")[0])]
    if not api_logs:
        raise NotApplicable("no API service logs (nova-api, neutron-server, glance-api, ...) on this node")
    api = ctx.facts.get(load_api_requests, log_window_days(ctx))
    for endpoint in sorted(api.endpoints.values(), key=lambda e: -e.slowest_s):
        if _exempt(endpoint):
            continue
        name = f"{endpoint.service} {endpoint.method} {endpoint.template}"
        if endpoint.over_limit_count:
            ctx.fail(f"{name}: {endpoint.over_limit_count} request(s) over {SLOW_LIMIT_S:.0f} s, slowest "
                     f"{endpoint.slowest_s:.1f} s ({endpoint.count} in the log window)", severity=Severity.high,
                     resource=name, evidence=[h.evidence() for h in endpoint.over_limit[:3]])
        elif endpoint.count >= MIN_SAMPLES and endpoint.p95 > P95_LIMIT_S:
            ev = [endpoint.slowest.evidence()] if endpoint.slowest is not None else []
            ctx.warn(f"{name}: p95 {endpoint.p95:.1f} s over {endpoint.count} requests (slowest "
                     f"{endpoint.slowest_s:.1f} s)", severity=Severity.medium, resource=name, evidence=ev)
    if not ctx.outcomes:
        ctx.ok(f"{api.requests} API request(s) in {len(api_logs)} API log file(s); no template with p95 over "
               f"{P95_LIMIT_S:.0f} s or any request over {SLOW_LIMIT_S:.0f} s")
