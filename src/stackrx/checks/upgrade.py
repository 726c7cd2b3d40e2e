"""Upgrade leftovers: Kolla MariaDB cluster not re-formed (UPG-001), system tables not upgraded (UPG-002),
Ceph require_osd_release lagging (UPG-003), pending upgrade checks / migrations (UPG-005), removed and
renamed options still configured (UPG-006, table in `checks/data/removed_options.yaml`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from stackrx.checks.net import signature_hits
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.ceilometer_yaml import load_polling
from stackrx.facts.ceph import load_health, load_osd_map, load_versions, release_rank
from stackrx.facts.galera import load_galera_config
from stackrx.facts.ini import IniFile, IniValue, as_list, load_config, parse_ini
from stackrx.facts.logs import Hit
from stackrx.facts.packages import Packages, load_packages
from stackrx.facts.processes import config_files_of, load_container_status, load_service_processes
from stackrx.facts.upgradecheck import load_neutron_revisions, load_upgrade_checks
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind
from stackrx.sources.base import Text

# ---------------------------------------------------------------------------------------------------------
# UPG-001
# ---------------------------------------------------------------------------------------------------------

KOLLA_MARIADB_CONTAINER = "mariadb"


def _hit_time(hit: Hit) -> float:
    return hit.timestamp.timestamp() if hit.timestamp else float("-inf")


@check(CheckMeta(
    id="UPG-001",
    title="Kolla MariaDB cluster not re-formed after upgrade (0 Synced/JOINED)",
    severity=Severity.critical,
    area="upgrade",
    tale=(
        "Going from Pike to Queens with Kolla-Ansible, the MariaDB slaves never came back into the cluster: "
        "the deploy reported zero nodes in the JOINED state and the remaining master was not operational. "
        "Only a recovery-style bootstrap from the right node brought the database back."
    ),
    description=(
        "On a Kolla host with a `mariadb` container: reads `docker ps -a` (sos docker plugin, or the Kolla side "
        "bundle) for the container state and the MariaDB log (kolla_logs volume) for Galera refusing to "
        "bootstrap (\"It may not be safe to bootstrap the cluster from this node\") and for the node reaching "
        "Synced (\"Synchronized with group, ready for connections\"). A container restarting or exited after "
        "such a refusal is a cluster that did not re-form. How many members are Synced cluster-wide is a "
        "fleet/db question; kolla-ansible's own \"MariaDB cluster exists but is stopped\" message is in the "
        "deploy output, not on the node."
    ),
    risk=(
        "With no Synced member every OpenStack API that touches its database fails: the control plane is "
        "down until the cluster is bootstrapped from the member with the latest data."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Look at each member's container and state file.", commands=[
            "docker ps -a --filter name=mariadb",
            "cat /var/lib/docker/volumes/mariadb/_data/grastate.dat",
            "tail -100 /var/lib/docker/volumes/kolla_logs/_data/mariadb/mariadb.log",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Back up, then let kolla-ansible recover the cluster (runs --wsrep-recover on all members, picks "
            "the highest seqno, bootstraps it and waits for Synced); afterwards check UPG-002."), commands=[
            "kolla-ansible mariadb-backup -i <inventory>   # or copy the stopped mariadb volume",
            "kolla-ansible mariadb-recovery -i <inventory>",
        ]),
    ],
    references=[
        "kolla-ansible ansible/roles/mariadb/tasks/{recover_cluster,lookup_cluster,restart_services}.yml, "
        "kolla_ansible/cli/commands.py (mariadb-recovery)",
        "kolla kolla/docker/mariadb-server/extend_start.sh (MARIADB_LOG_DIR=/var/log/kolla/mariadb)",
        "Log wording (catalogue UNVERIFIED, decided): galera replicator_smm.cpp \"It may not be safe to "
        "bootstrap the cluster from this node\" (signature R-GALERA-UNSAFE-BOOTSTRAP); MariaDB "
        "wsrep_synced_cb \"Synchronized with group, ready for connections\" (R-GALERA-SYNCED, source via "
        "find_string)",
    ],
    reads={
        "live": ["cmd:docker ps -a", "var/lib/docker/volumes/kolla_logs/_data/mariadb/mariadb.log"],
        "sosreport": ["sos_commands/docker/docker_ps_-a", "var/log/kolla/mariadb/mariadb.log (side bundle)"],
        "kolla": ["cmd:docker ps -a (side bundle)", "var/lib/docker/volumes/kolla_logs/_data/mariadb/mariadb.log"],
    },
))
def kolla_mariadb_reformed(ctx: CheckContext) -> None:
    containers = ctx.facts.maybe(load_container_status)
    container = containers.get(KOLLA_MARIADB_CONTAINER) if containers is not None else None
    kolla = ctx.view.exists("etc/kolla/mariadb") or ctx.view.exists("var/lib/docker/volumes/mariadb/_data")
    if container is None and not kolla:
        if containers is None:
            raise NotApplicable("no docker container list and no Kolla MariaDB config/volume on this node")
        raise NotApplicable("no `mariadb` container on this node")
    hits = signature_hits(ctx)
    refused: list[Hit] = []
    synced: list[Hit] = []
    if hits is not None and hits.covered("R-GALERA-UNSAFE-BOOTSTRAP"):
        refused = hits.get("R-GALERA-UNSAFE-BOOTSTRAP")
        synced = hits.get("R-GALERA-SYNCED")
    last_refusal = max(refused, key=_hit_time) if refused else None
    recovered = last_refusal is not None and any(_hit_time(s) > _hit_time(last_refusal) for s in synced)
    down = container is not None and container.state in ("restarting", "exited", "dead")
    if container is None:
        state_ev: list[Evidence] = []
        seen = "container state not collected (docker ps -a)"
    else:
        state_ev = [container.evidence()]
        seen = f"container {container.status}"
    if down and last_refusal is not None and not recovered:
        ctx.fail("the mariadb container is " + container.status.lower() + " after Galera refused to bootstrap "  # type: ignore[union-attr]
                 "from this node: the cluster has not re-formed (no Synced member here)", severity=Severity.critical,
                 resource=KOLLA_MARIADB_CONTAINER, evidence=[*state_ev, last_refusal.evidence()])
    elif down:
        assert container is not None
        ctx.fail(f"the mariadb container is {container.status.lower()}: this member is not in the cluster "
                 "(the other members' state is not visible from this node)", severity=Severity.high,
                 resource=KOLLA_MARIADB_CONTAINER, evidence=state_ev)
    elif last_refusal is not None and not recovered:
        ctx.fail(f"Galera refused to bootstrap from this node ({seen}) and the log shows no Synced since: the "
                 "cluster may not have re-formed", severity=Severity.high, resource=KOLLA_MARIADB_CONTAINER,
                 evidence=[*state_ev, last_refusal.evidence()])
    else:
        detail = "; reached Synced after the bootstrap refusal" if recovered else ""
        ctx.ok(f"mariadb {seen}{detail}", evidence=state_ev)


# ---------------------------------------------------------------------------------------------------------
# UPG-002
# ---------------------------------------------------------------------------------------------------------

UPGRADE_SIGNATURES = ("R-MYSQL-UPG", "R-MYSQL-UPG-HINT", "R-MYSQL-BADDEF")
MARKER_FILES = tuple(f"{datadir}/{name}" for datadir in ("var/lib/mysql", "var/lib/docker/volumes/mariadb/_data")
                     for name in ("mysql_upgrade_info", "mariadb_upgrade_info"))
# Kolla's upgrade_mariadb container logs to /var/log/kolla/mariadb/, i.e. the kolla_logs volume on the host.
KOLLA_UPGRADE_LOGS = (
    "var/log/kolla/mariadb/mariadb-upgrade.log",
    "var/lib/docker/volumes/kolla_logs/_data/mariadb/mariadb-upgrade.log",
    "var/lib/containers/storage/volumes/kolla_logs/_data/mariadb/mariadb-upgrade.log",
)
_MAJOR_MINOR = re.compile(r"(\d+)\.(\d+)")


def _server_version(pkgs: Packages | None) -> tuple[str, Evidence] | None:
    if pkgs is None:
        return None
    pkg = pkgs.project("mariadb") or pkgs.project("mysql")
    if pkg is None:
        return None
    return pkg.upstream, pkg.evidence()


@check(CheckMeta(
    id="UPG-002",
    title="mariadb-upgrade / mysql_upgrade not run after a major bump",
    severity=Severity.high,
    area="upgrade",
    tale=(
        "After the database server moved to a new major version, the logs filled with errors about record "
        "field types in the system tables. Nobody had run mysql_upgrade, a step the upgrade notes did not "
        "mention, and the errors only stopped once it had been run."
    ),
    description=(
        "Looks in the MySQL/MariaDB error log for the server's own complaints about old system tables "
        "(\"Column count of mysql.X is wrong\", \"Incorrect definition of table mysql.X\", \"Please use "
        "mariadb-upgrade/mysql_upgrade to fix this error\"), and compares the datadir's upgrade marker "
        "(mysql_upgrade_info, mariadb_upgrade_info on 11.x) with the installed server version. Messages older "
        "than the last Kolla mariadb-upgrade.log entry were logged during the upgrade window and are ignored."
    ),
    risk=(
        "Stale system tables break stored routines, events, privilege changes and statistics; some "
        "operations fail outright until the upgrade step is run."
    ),
    remediation=[
        RemediationStep(kind=StepKind.destructive, text=(
            "Back up, then run the upgrade step on each member (it rewrites the mysql.* system tables)."),
            commands=[
                "mariabackup --backup --target-dir=/var/backup/pre-upgrade   # or mysqldump --all-databases",
                "mariadb-upgrade -u root -p   # mysql_upgrade on older servers",
                "kolla-ansible upgrade -i <inventory> -t mariadb   # Kolla runs it in upgrade_mariadb",
            ]),
    ],
    references=[
        "kolla-ansible ansible/roles/mariadb/tasks/post-upgrade.yml; kolla extend_start.sh (KOLLA_UPGRADE, "
        "mariadb-upgrade.log); kolla commit 3075685d0",
        "MySQL/MariaDB error 1558 ER_COL_COUNT_DOESNT_MATCH_PLEASE_UPDATE (R-MYSQL-UPG); "
        "\"Incorrect definition of table\" wording UNVERIFIED (R-MYSQL-BADDEF, kept as a signature)",
        "Marker file (catalogue UNVERIFIED, decided): datadir mysql_upgrade_info, renamed mariadb_upgrade_info in "
        "MariaDB 11.x (docker-library/mariadb and distro packaging via find_string); sos does not collect it",
        "Kolla 'mariadb-upgrade.log missing after an upgrade run' is not evaluated: a node scan cannot tell "
        "that an upgrade ran",
    ],
    reads={
        "live": ["var/log/mariadb/mariadb.log", "var/log/mysql/error.log", "var/lib/mysql/mysql_upgrade_info",
                 "cmd:dpkg -l / rpm -qa"],
        "sosreport": ["var/log/mariadb/mariadb.log", "var/log/mysqld.log", "var/lib/mysql/*.err",
                      "sos_commands/dpkg/dpkg_-l", "installed-rpms"],
        "kolla": ["var/lib/docker/volumes/kolla_logs/_data/mariadb/{mariadb,mariadb-upgrade}.log",
                  "var/lib/docker/volumes/mariadb/_data/mysql_upgrade_info"],
    },
))
def mysql_upgrade_done(ctx: CheckContext) -> None:
    hits = signature_hits(ctx)
    logs = hits is not None and hits.covered("R-MYSQL-UPG")
    pkgs = ctx.facts.maybe(load_packages)
    server = _server_version(pkgs)
    markers = [t for t in (ctx.view.read_text(p) for p in MARKER_FILES) if t is not None]
    if not logs and not markers:
        config = ctx.facts.maybe(load_galera_config)
        if server is None and (config is None or not config.cnf.values):
            raise NotApplicable("no MySQL/MariaDB server package, server config or log on this node")
        raise MissingEvidence("MySQL/MariaDB error log (var/log/mariadb/mariadb.log, var/log/mysql/error.log)")
    runs = [info.mtime for info in (ctx.view.stat(p) for p in KOLLA_UPGRADE_LOGS) if info is not None]
    cutoff = max(runs) if runs else None
    if logs:
        assert hits is not None
        # MariaDB prints the column-count error and the "Please use" hint on one line: count lines, not matches.
        by_line = {(h.source, h.line): h for sig in UPGRADE_SIGNATURES for h in hits.get(sig)}
        found = sorted(by_line.values(), key=_hit_time)
        current = [h for h in found if cutoff is None or h.timestamp is None or h.timestamp.timestamp() > cutoff]
        if current:
            # Only the first and last KEEP hits per signature are kept: the largest tally bounds the rest.
            total = max(len(current), *(hits.count(s) for s in UPGRADE_SIGNATURES)) if cutoff is None else len(current)
            ctx.fail(f"{total} error(s) about outdated mysql.* system tables in the log window: the upgrade step "
                     "(mariadb-upgrade / mysql_upgrade) has not been run for the running server version",
                     severity=Severity.high, resource="system-tables",
                     evidence=[current[0].evidence(), current[-1].evidence()])
        elif found:
            when = datetime.fromtimestamp(cutoff, tz=UTC) if cutoff is not None else None
            ctx.ok(f"{len(found)} system-table error(s) were logged before the last mariadb-upgrade run "
                   f"({when:%Y-%m-%d %H:%M} UTC)" if when else "system-table errors predate the upgrade run",
                   evidence=[found[-1].evidence()])
    if server is not None:
        for marker in markers:
            recorded = _MAJOR_MINOR.search(marker.content)
            running = _MAJOR_MINOR.search(server[0])
            if recorded and running and recorded.group(0) != running.group(0):
                ctx.fail(f"the datadir was last upgraded for {marker.content.strip()[:40]} but the server "
                         f"package is {server[0]}: run the upgrade step", severity=Severity.high,
                         resource="upgrade-marker",
                         evidence=[Evidence(source=marker.source, line=1, excerpt=marker.content.strip()[:100]),
                                   server[1]])
    if not ctx.outcomes:
        what = "no outdated-system-table errors in the log window" if logs else "upgrade marker matches"
        ctx.ok(what + (f" (server {server[0]})" if server else ""))


# ---------------------------------------------------------------------------------------------------------
# UPG-003
# ---------------------------------------------------------------------------------------------------------


def ceph_applies(ctx: CheckContext) -> None:
    """NotApplicable on nodes without Ceph; MissingEvidence is left to the loaders."""
    if ctx.view.exists("etc/ceph/ceph.conf") or any(
            ctx.view.command(k) is not None for k in ("ceph health detail", "ceph osd dump", "ceph status")):
        return
    pkgs = ctx.facts.maybe(load_packages)
    if pkgs is None or pkgs.project("ceph") is None:
        raise NotApplicable("no etc/ceph/ceph.conf and no ceph packages on this node")


@check(CheckMeta(
    id="UPG-003",
    title="Ceph require_osd_release lags the running OSD release",
    severity=Severity.high,
    area="upgrade",
    tale=(
        "After moving the storage cluster from Jewel to Luminous, the cluster kept behaving like a Jewel one "
        "until someone ran `ceph osd require-osd-release luminous`. The flag then unlocked the new release's "
        "features, and more than half of the objects moved."
    ),
    description=(
        "Reads `ceph health detail` for OSD_UPGRADE_FINISHED (\"all OSDs are running <release> or later but "
        "require_osd_release < <release>\", raised by Ceph since late 2021), and compares `ceph osd dump`'s "
        "require_osd_release with the releases `ceph versions` reports for the OSDs. While OSDs of several "
        "releases run, the upgrade is in progress and the flag must not be raised yet: that is reported as "
        "information only."
    ),
    risk=(
        "Until the flag is raised the cluster keeps the old release's OSD map behaviour and features; old "
        "OSDs can still join. Raising it is irreversible and usually moves data."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Confirm every OSD runs the new release.", commands=[
            "ceph versions", "ceph osd dump | grep require_osd_release",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Irreversible (older OSDs can no longer join): raise the flag once every OSD runs the release; "
            "expect data movement after major upgrades."), commands=["ceph osd require-osd-release <release>"]),
    ],
    references=[
        "sos sos/report/plugins/ceph_mon.py (ceph health detail, osd dump, versions; json_output/)",
        "ceph PR #44090 (OSD_UPGRADE_FINISHED, via search; CATALOGUE UPG-003)",
        "kolla-ansible commit 4e6fe7a6d (Ceph no longer deployed by Kolla since 10.0.0)",
    ],
    reads={
        "live": ["cmd:ceph health detail --format json-pretty", "cmd:ceph osd dump --format json-pretty",
                 "cmd:ceph versions"],
        "sosreport": ["sos_commands/ceph_mon/ceph_health_detail", "sos_commands/ceph_mon/ceph_osd_dump",
                      "sos_commands/ceph_mon/ceph_versions", "sos_commands/ceph_mon/json_output/*"],
        "kolla": ["external Ceph: scan a monitor node"],
    },
))
def ceph_require_osd_release(ctx: CheckContext) -> None:
    ceph_applies(ctx)
    health = ctx.facts.maybe(load_health)
    osd = ctx.facts.maybe(load_osd_map)
    versions = ctx.facts.maybe(load_versions)
    if health is None and (osd is None or versions is None):
        raise MissingEvidence("sos_commands/ceph_mon/ceph_health_detail or ceph_osd_dump + ceph_versions "
                              "(collected on a monitor node)")
    if health is not None:
        finished = health.get("OSD_UPGRADE_FINISHED")
        if finished is not None:
            ctx.fail(f"Ceph reports OSD_UPGRADE_FINISHED: {finished.summary}", severity=Severity.high,
                     resource="require_osd_release", evidence=[finished.evidence()])
            return
    if osd is None or versions is None or osd.require_osd_release is None:
        ctx.ok("no OSD_UPGRADE_FINISHED health check" + ("" if versions else " (ceph versions not collected)"))
        return
    releases = versions.releases("osd")
    required = release_rank(osd.require_osd_release)
    if not releases or required is None:
        ctx.ok(f"require_osd_release {osd.require_osd_release}; OSD releases unknown", evidence=[osd.evidence()])
        return
    if len(releases) > 1:
        ctx.ok(f"upgrade in progress: OSDs run {', '.join(sorted(releases, key=lambda r: release_rank(r) or 0))}; "
               f"keep require_osd_release {osd.require_osd_release} until all run the newest",
               evidence=[osd.evidence(), versions.evidence("osd")])
        return
    running = next(iter(releases))
    rank = release_rank(running)
    if rank is not None and rank > required:
        ctx.fail(f"all OSDs run {running} but require_osd_release is still {osd.require_osd_release}",
                 severity=Severity.high, resource="require_osd_release",
                 evidence=[osd.evidence(), versions.evidence("osd")])
        return
    ctx.ok(f"require_osd_release {osd.require_osd_release} matches the OSDs ({running})", evidence=[osd.evidence()])


# ---------------------------------------------------------------------------------------------------------
# UPG-005
# ---------------------------------------------------------------------------------------------------------


@check(CheckMeta(
    id="UPG-005",
    title="Upgrade status checks / pending online data migrations",
    severity=Severity.high,
    area="upgrade",
    tale=(
        "A Kolla upgrade spent a long time in the nova database migration, and moving networking to OVN "
        "needed `neutron-db-manage upgrade heads` before neutron would work. Each service ships a status "
        "command that says whether such a step is still pending."
    ),
    description=(
        "Reads the services' own readiness checks — `nova-status upgrade check` (also collected by sos), "
        "`neutron-status`, `placement-status`, `cinder-status`, `glance-status` (live) — in oslo.upgradecheck "
        "format (Success / Warning / Failure), and compares `neutron-db-manage current` with `heads` (live). "
        "Run the checks on a node whose config points at the production database; some checks need API "
        "credentials and fail without them."
    ),
    risk=(
        "A pending migration or a failed readiness check means the next upgrade (or some API calls on this "
        "one) will fail: services refuse to start, or start against a schema they do not expect."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Re-run the checks and read their details.", commands=[
            "nova-status upgrade check", "neutron-status upgrade check", "neutron-db-manage current",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Back up the databases, then apply the pending data/schema migrations and re-run the checks."),
            commands=[
                "nova-manage db online_data_migrations   # repeat until it returns 0 (1: more work, 2: errors)",
                "neutron-db-manage upgrade heads",
            ]),
    ],
    references=[
        "nova nova/cmd/status.py (upgradecheck.Code.SUCCESS/WARNING/FAILURE), nova/cmd/manage.py "
        "(online_data_migrations exit codes 0/1/2)",
        "neutron pyproject.toml (neutron-status, neutron-db-manage console scripts)",
        "placement-status/cinder-status/glance-status existence UNVERIFIED in current releases (decided: tried "
        "live; absent commands are simply not reported)",
        "sos sos/report/plugins/openstack_nova.py (nova-status upgrade check, suggest_filename "
        "nova-status_upgrade_check) — so this check also runs on sosreports",
    ],
    reads={
        "live": ["cmd:nova-status upgrade check", "cmd:neutron-status upgrade check",
                 "cmd:placement-status upgrade check", "cmd:cinder-status upgrade check",
                 "cmd:glance-status upgrade check", "cmd:neutron-db-manage current", "cmd:neutron-db-manage heads"],
        "sosreport": ["sos_commands/openstack_nova/nova-status_upgrade_check"],
        "kolla": ["docker exec nova_api nova-status upgrade check (side bundle)"],
    },
))
def upgrade_status_checks(ctx: CheckContext) -> None:
    try:
        checks = ctx.facts.get(load_upgrade_checks)
    except MissingEvidence:
        checks = {}
    revisions = ctx.facts.maybe(load_neutron_revisions)
    if not checks and revisions is None:
        raise MissingEvidence("sos_commands/openstack_nova/nova-status_upgrade_check "
                              "(cmd: <svc>-status upgrade check, neutron-db-manage current/heads)")
    for service, results in sorted(checks.items()):
        for result in results:
            kind = result.result.lower()
            if kind == "failure":
                ctx.fail(f"{service}-status: check '{result.name}' failed: {result.details or 'no details'}",
                         severity=Severity.high, resource=f"{service}:{result.name}", evidence=[result.evidence()])
            elif kind == "warning":
                ctx.warn(f"{service}-status: check '{result.name}' warns: {result.details or 'no details'}",
                         severity=Severity.medium, resource=f"{service}:{result.name}", evidence=[result.evidence()])
    if revisions is not None:
        for project, heads in sorted(revisions.heads.items()):
            current = revisions.current.get(project, {})
            missing = sorted(set(heads) - set(current))
            if missing:
                ev = [Evidence(source=revisions.heads_source, line=heads[r], excerpt=f"{project} head {r}")
                      for r in missing[:3]]
                have = ", ".join(sorted(current)) or "none"
                ctx.fail(f"neutron-db-manage: {project} database is at {have}, not at head {', '.join(missing)}",
                         severity=Severity.high, resource=f"neutron-db:{project}",
                         evidence=[*ev, Evidence(source=revisions.current_source, excerpt=f"current: {have}")])
    if not ctx.outcomes:
        ran = sum(len(v) for v in checks.values())
        ctx.ok(f"{ran} upgrade check(s) passed ({', '.join(sorted(checks)) or 'none'})"
               + ("; neutron database at head" if revisions is not None else ""))


# ---------------------------------------------------------------------------------------------------------
# UPG-006
# ---------------------------------------------------------------------------------------------------------

DATA_FILE = Path(__file__).with_name("data") / "removed_options.yaml"
_INI_SERVICES = frozenset({"nova", "neutron", "ml2", "l3_agent", "linuxbridge_agent", "ceilometer", "aodh"})
_PROJECT_OF = {"ml2": "neutron", "l3_agent": "neutron", "linuxbridge_agent": "neutron"}
_SWIFT_PROXY = ("etc/swift/proxy-server.conf",)
_KOLLA_GLOBALS = "etc/kolla/globals.yml"


@dataclass(frozen=True)
class OptionRow:
    id: str
    service: str
    keys: tuple[tuple[str, str], ...]
    value: re.Pattern[str] | None
    new: tuple[str, str] | None
    new_text: str | None
    change: str
    impact: str
    owner: str | None
    project: str | None
    removed_in: tuple[int, ...] | None
    special: str | None
    reference: str


def _split(spec: str) -> tuple[str, str]:
    section, sep, key = spec.partition("/")
    if not sep:
        return "DEFAULT", spec
    return section, key


def _version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    return tuple(int(p) for p in re.findall(r"\d+", text))


@lru_cache(maxsize=1)
def option_rows() -> tuple[OptionRow, ...]:
    data: Any = yaml.safe_load(DATA_FILE.read_text())
    rows: list[OptionRow] = []
    for raw in data["rows"]:
        keys: list[tuple[str, str]] = []
        if "keys" in raw:
            keys = [(str(raw["section"]), str(k)) for k in raw["keys"]]
        elif "old" in raw:
            keys = [_split(str(raw["old"]))]
        new = str(raw["new"]) if raw.get("new") else None
        rows.append(OptionRow(
            id=str(raw["id"]), service=str(raw["service"]), keys=tuple(keys),
            value=re.compile(str(raw["value"]), re.IGNORECASE) if raw.get("value") else None,
            new=_split(new) if new and "=" not in new else None, new_text=new, change=str(raw["change"]),
            impact=str(raw.get("impact", "behaviour")), owner=raw.get("owner"), project=raw.get("project"),
            removed_in=_version(str(raw["removed_in"])) if raw.get("removed_in") else None,
            special=raw.get("special"), reference=str(raw.get("reference", "")),
        ))
    return tuple(rows)


def effective_config(ctx: CheckContext, service: str) -> IniFile | None:
    """The service's merged config: standard paths, plus any --config-file its running processes were given."""
    texts: list[Text] = []
    if service in _INI_SERVICES:
        try:
            base = ctx.facts.get(load_config, service)
        except MissingEvidence:
            base = None
        seen = set(base.sources) if base is not None else set()
        extra: list[str] = []
        if service == _PROJECT_OF.get(service, service):
            procs = [p for p in ctx.facts.maybe(load_service_processes) or [] if p.project == service]
            extra = [f for f in config_files_of(ctx.view, procs) if f.endswith(".conf") and f not in seen]
        if base is None and not extra:
            return None
        if not extra:
            return base
        texts = [t for t in (ctx.view.read_text(f) for f in [*(base.sources if base else []), *extra]) if t]
    elif service == "swift-proxy":
        paths = [p for p in _SWIFT_PROXY if ctx.view.exists(p)] + ctx.view.glob("etc/swift/proxy-server.conf.d/*.conf")
        texts = [t for t in (ctx.view.read_text(p) for p in paths) if t]
    return parse_ini(texts) if texts else None


def _kolla_globals(ctx: CheckContext, key: str) -> IniValue | None:
    text = ctx.view.read_text(_KOLLA_GLOBALS)
    if text is None:
        return None
    found: IniValue | None = None
    pattern = re.compile(r"^" + re.escape(key) + r"\s*:\s*['\"]?(?P<v>[^'\"#]*?)['\"]?\s*(?:#.*)?$")
    for lineno, line in enumerate(text.content.splitlines(), 1):
        m = pattern.match(line)
        if m:
            found = IniValue(m.group("v"), text.source, lineno, key, "globals.yml")
    return found


def _matches(row: OptionRow, value: IniValue) -> bool:
    if row.value is None:
        return True
    items = as_list(value) or [value.value]
    return any(row.value.search(item) for item in items)


def _found(ctx: CheckContext, row: OptionRow, ini: IniFile | None) -> list[IniValue]:
    out: list[IniValue] = []
    if row.service == "kolla-globals":
        for _section, key in row.keys:
            value = _kolla_globals(ctx, key)
            if value is not None and _matches(row, value):
                out.append(value)
        return out
    if ini is None:
        return out
    for section, key in row.keys:
        sections = ini.sections() if section == "*" else [section]
        for sec in sections:
            value = ini.get(sec, key)
            if value is not None and _matches(row, value):
                out.append(value)
    return out


def _pipeline_intervals(ctx: CheckContext) -> list[Evidence]:
    try:
        files = ctx.facts.get(load_polling)
    except MissingEvidence:
        return []
    has_polling = any(f.kind == "polling" for f in files)
    return [s.evidence() for f in files if f.kind == "pipeline" and not has_polling for s in f.sources]


@check(CheckMeta(
    id="UPG-006",
    title="Removed / renamed / relocated options still configured",
    severity=Severity.medium,
    area="upgrade",
    tale=(
        "Every operator story behind this catalogue was written against Icehouse-to-Queens option names: "
        "image-cache settings in [DEFAULT], nova-network flags, Ceilometer time-to-live, swift3 and the old "
        "s3_token filter. Copied into a current release, some of them are still honoured under an old name, "
        "and some are silently ignored."
    ),
    description=(
        "Compares every parsed config (nova, neutron, ml2, l3_agent, ceilometer, aodh, swift proxy, Kolla "
        "globals.yml; standard paths, TripleO/Kolla copies and the --config-file of running services) with "
        "the table in checks/data/removed_options.yaml. Deprecated aliases still honoured are low (medium when "
        "the old and new names are both set to different values: the new one wins); removed options are "
        "medium when the installed package is at or past the removal release (low for options that no longer "
        "did anything, such as nova-network settings on a Neutron cloud); an option in a service that never "
        "reads it is medium. Without a package list the installed release is unknown and removals are low."
    ),
    risk=(
        "An ignored option means the operator's intent is not applied (an image-cache or retention setting "
        "that does nothing); an alias works today and breaks on the release that drops it."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Rewrite the configs to the current names (see each finding's replacement), remove options that "
            "no longer exist, and restart the services in a maintenance window."), commands=[
            "crudini --del /etc/nova/nova.conf DEFAULT <old_option>",
            "crudini --set /etc/nova/nova.conf <new_section> <new_option> <value>",
        ]),
    ],
    references=[
        "Table: src/stackrx/checks/data/removed_options.yaml (each row names its source)",
        "nova 21.0.0 nova/conf/{imagecache,vnc,api}.py; nova release note remove-nova-network-c02953ba72a1795d",
        "keystone.middleware.s3_token removal release UNVERIFIED (decided: reported as removed whatever the "
        "version — it is importable from no current package)",
        "Version gate: installed package (dpkg/rpm) vs removed_in; containers' own packages are not visible",
    ],
    reads={
        "live": ["etc/nova/nova.conf", "etc/neutron/*.conf", "etc/neutron/*.ini", "etc/ceilometer/*",
                 "etc/aodh/aodh.conf", "etc/swift/proxy-server.conf", "cmd:ps auxwww", "cmd:dpkg -l / rpm -qa"],
        "sosreport": ["etc/nova/nova.conf", "etc/neutron/*", "etc/ceilometer/*", "etc/aodh/*", "etc/swift/*",
                      "sos_commands/process/ps_auxwwwm", "sos_commands/dpkg/dpkg_-l", "installed-rpms"],
        "kolla": ["etc/kolla/*/*.conf", "etc/kolla/globals.yml"],
    },
))
def removed_options(ctx: CheckContext) -> None:
    pkgs = ctx.facts.maybe(load_packages)
    configs: dict[str, IniFile | None] = {}
    looked = 0
    for row in option_rows():
        if row.service not in configs:
            configs[row.service] = effective_config(ctx, row.service)
        ini = configs[row.service]
        if ini is not None or (row.service == "kolla-globals" and ctx.view.exists(_KOLLA_GLOBALS)):
            looked += 1
        if row.special == "pipeline_interval":
            evidence = _pipeline_intervals(ctx)
            names = ["pipeline.yaml source interval"] if evidence else []
        else:
            found = _found(ctx, row, ini)
            evidence = [v.evidence() for v in found]
            names = list(dict.fromkeys(f"[{v.section}] {v.key}" for v in found))
        if not evidence:
            continue
        _report(ctx, row, pkgs, names, evidence, ini)
    if not ctx.outcomes:
        if looked == 0:
            raise MissingEvidence("etc/nova/nova.conf, etc/neutron/neutron.conf, etc/ceilometer/ceilometer.conf, "
                                  "etc/swift/proxy-server.conf (no OpenStack config found)")
        ctx.ok(f"no removed, renamed or misplaced option from the table ({len(option_rows())} rows) in "
               f"{sum(1 for c in configs.values() if c is not None)} config set(s)")


def _installed(pkgs: Packages | None, project: str | None) -> tuple[tuple[int, ...] | None, Evidence | None]:
    if pkgs is None or project is None:
        return None, None
    pkg = pkgs.project(project)
    if pkg is None:
        return None, None
    return pkg.numeric, pkg.evidence()


def _report(ctx: CheckContext, row: OptionRow, pkgs: Packages | None, names: list[str], evidence: list[Evidence],
            ini: IniFile | None) -> None:
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    if row.change == "deprecated":
        new = ini.get(*row.new) if ini is not None and row.new is not None else None
        replacement = f"[{row.new[0]}] {row.new[1]}" if row.new else row.new_text or "the current name"
        if new is not None:
            old_values = {e.excerpt.split(" = ", 1)[-1] for e in evidence}
            if old_values != {new.value}:
                ctx.warn(f"{shown} and {replacement} are both set with different values; {replacement} wins",
                         severity=Severity.medium, resource=row.id, evidence=[*evidence[:5], new.evidence()])
                return
        ctx.warn(f"{shown}: deprecated name, still honoured; use {replacement}", severity=Severity.low,
                 resource=row.id, evidence=evidence[:10])
        return
    if row.change == "misplaced":
        ctx.warn(f"{shown} is set in {row.service}'s config, which never reads it (it is {row.owner})",
                 severity=Severity.medium, resource=row.id, evidence=evidence[:10])
        return
    installed, pkg_ev = _installed(pkgs, row.project)
    since = ".".join(map(str, row.removed_in)) if row.removed_in else None
    if installed is not None and row.removed_in is not None and installed < row.removed_in:
        return  # still a valid option on the installed release
    # An empty value asks for the default: nothing the operator wanted is lost when the option goes away.
    inert = row.impact == "inert" or all(e.excerpt.endswith(" = ") or e.excerpt.endswith("=") for e in evidence)
    if row.removed_in is not None and installed is None:
        ctx.warn(f"{shown}: removed in {row.project} {since}; installed release unknown, so it may be ignored",
                 severity=Severity.low, resource=row.id, evidence=evidence[:10])
        return
    where = f" (removed in {row.project} {since}, installed {'.'.join(map(str, installed or ()))})" if since else ""
    effect = "no longer read; it had no effect on this deployment" if inert else "ignored: its intent is not applied"
    if row.new_text and not inert:
        where += f"; use {f'[{row.new[0]}] {row.new[1]}' if row.new else row.new_text}"
    ctx.warn(f"{shown}: {effect}{where}", severity=Severity.low if inert else Severity.medium, resource=row.id,
             evidence=[*evidence[:10], *([pkg_ev] if pkg_ev else [])])
