"""Database node checks: soft-deleted row archiving scheduled (DB-002), Galera state files and bootstrap
safety (DB-004), Galera ports between members (DB-006).

A node scan sees configs, state files, crontabs, listeners and the firewall; the row ages (DB-001), the live
wsrep status (DB-003) and the other members' files (DB-F01) belong to the db and fleet modes, and each
result says what it could not see."""

from __future__ import annotations

import ipaddress
import re
import socket

from stackrx.checks.telemetry import CRON_GLOBS, active_lines
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.firewall import Firewall, load_firewall
from stackrx.facts.galera import ZERO_UUID, GaleraConfig, GraState, load_galera_config, load_grastate
from stackrx.facts.ini import IniFile, load_config
from stackrx.facts.iproute import load_links
from stackrx.facts.kernel import ProcessTable, load_processes
from stackrx.facts.listeners import Listener, Listeners, load_listeners
from stackrx.facts.processes import load_unit_files, program_of
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind
from stackrx.sources.base import HostView

# ---------------------------------------------------------------------------------------------------------
# DB-002
# ---------------------------------------------------------------------------------------------------------

# Global options may come before the command, with their value as the next word (`--config-file FILE`).
_OPTS = r"(?:--\S+(?:\s+[^-\s]\S*)?\s+)*"
ARCHIVE_JOB = re.compile(rf"archive_deleted_rows|nova-manage\s+{_OPTS}db\s+purge|glance-manage\s+{_OPTS}"
                         rf"db(?:\s+|_)purge|cinder-manage\s+{_OPTS}db\s+purge")
_UNIT_GLOBS = ("etc/systemd/system/*.service", "etc/systemd/system/*.timer", "usr/lib/systemd/system/*.service",
               "lib/systemd/system/*.service")
_CONTROLLER_PROGRAMS = re.compile(r"^(?:nova-(?:api|conductor|scheduler)|glance-api|cinder-(?:api|scheduler))$")
_DB_SERVICES = ("nova", "glance", "cinder")
_SQLITE = re.compile(r"^\s*sqlite(?:\+\w+)?:", re.IGNORECASE)


def _db_connection(ini: IniFile) -> Evidence | None:
    for section in ("database", "api_database"):
        value = ini.get(section, "connection")
        # Distribution packages ship a placeholder sqlite URL (Debian nova-common) that every compute keeps.
        if value is not None and value.value.strip() and not _SQLITE.match(value.value):
            return value.evidence()
    return None


def controller_evidence(ctx: CheckContext) -> list[Evidence]:
    """Why this node runs services that own the nova/glance/cinder databases (empty: it does not)."""
    found: list[Evidence] = []
    for service in _DB_SERVICES:
        try:
            ini = ctx.facts.get(load_config, service)
        except MissingEvidence:
            continue
        ev = _db_connection(ini)
        if ev is not None:
            found.append(ev)
    table = ctx.facts.maybe(load_processes)
    if table is not None:
        for proc in table:
            program = program_of(proc.command)
            if program and _CONTROLLER_PROGRAMS.match(program):
                found.append(proc.evidence())
                break
    return found


def archive_jobs(view: HostView) -> list[Evidence]:
    return [ev for line, ev in active_lines(view, (*CRON_GLOBS, *_UNIT_GLOBS)) if ARCHIVE_JOB.search(line)]


@check(CheckMeta(
    id="DB-002",
    title="No periodic archive/purge of soft-deleted rows",
    severity=Severity.medium,
    area="db",
    tale=(
        "Nobody had ever cleaned the nova database. A year of deleted instances stayed in the tables as "
        "soft-deleted rows, every query walked past them, and the EC2 API slowed to minutes per call until "
        "the rows were removed by hand."
    ),
    description=(
        "On a node that owns a nova, glance or cinder database (a [database]/[api_database] connection, or "
        "an API/conductor/scheduler process), looks for a crontab line or systemd unit running `nova-manage "
        "db archive_deleted_rows`, `nova-manage db purge`, `glance-manage db purge` or `cinder-manage db "
        "purge`. The catalogue's medium needs DB-001's oldest soft-deleted row to be older than 90 days; a "
        "node scan cannot see row ages, so a missing job alone is reported as low. Jobs run from an external "
        "scheduler (Rundeck, AWX) are invisible here: mute the finding for such nodes."
    ),
    risk=(
        "Soft-deleted rows are never removed by the services themselves: tables grow for ever, queries and "
        "migrations slow down, and the eventual clean-up becomes a long, locking operation."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Schedule archiving (it only moves soft-deleted rows to shadow tables, then purges them)."),
            commands=[
                "echo '0 3 * * * nova /usr/bin/nova-manage db archive_deleted_rows --before \"$(date -d "
                "\"-90 days\" +\\%F)\" --until-complete --all-cells --purge >> /var/log/nova/db-archive.log 2>&1' "
                "> /etc/cron.d/nova-db-archive",
                "echo '30 3 * * * glance /usr/bin/glance-manage db purge --age_in_days 90' > "
                "/etc/cron.d/glance-db-purge",
            ]),
    ],
    references=[
        "nova nova/cmd/manage.py (archive_deleted_rows --before/--until-complete/--all-cells/--purge)",
        "glance glance/cmd/manage.py (db purge --age_in_days / --max_rows)",
        "CATALOGUE DB-002: medium needs DB-001 > 90 days; decided: node scans report low (row age not visible)",
    ],
    reads={
        "live": ["etc/cron*", "var/spool/cron/*", "etc/systemd/system/*", "etc/nova/nova.conf", "cmd:ps auxwww"],
        "sosreport": ["etc/cron*", "var/spool/cron/*", "etc/systemd/system/*", "etc/nova/nova.conf",
                      "sos_commands/process/ps_auxwwwm"],
        "kolla": ["etc/kolla/nova-*/nova.conf", "host crontabs"],
    },
))
def db_archive_scheduled(ctx: CheckContext) -> None:
    why = controller_evidence(ctx)
    if not why:
        raise NotApplicable("no nova/glance/cinder database connection or API/conductor process on this node")
    jobs = archive_jobs(ctx.view)
    if jobs:
        ctx.ok(f"{len(jobs)} archive/purge job(s) scheduled", evidence=jobs[:5])
        return
    ctx.warn("no crontab or systemd job archives/purges soft-deleted rows on this database-owning node "
             "(row ages are not visible in a node scan; `stackrx db` reports them as DB-001)",
             severity=Severity.low, resource="archive-job", evidence=why[:3])


# ---------------------------------------------------------------------------------------------------------
# DB-004
# ---------------------------------------------------------------------------------------------------------

_MYSQLD = re.compile(r"(?:^|/)(?:mysqld|mariadbd)(?:\s|$)")
_BOOTSTRAP_UNIT = re.compile(r"bootstrap", re.IGNORECASE)
_DB_UNIT = re.compile(r"^(?:mysql|mysqld|mariadb|galera)", re.IGNORECASE)


def galera_node(ctx: CheckContext) -> tuple[GaleraConfig | None, GraState | None]:
    """The node's Galera config and grastate.dat; NotApplicable when it has neither wsrep config nor state."""
    try:
        config: GaleraConfig | None = ctx.facts.get(load_galera_config)
    except MissingEvidence:
        config = None
    try:
        state: GraState | None = ctx.facts.get(load_grastate)
    except MissingEvidence:
        state = None
    if (config is None or not config.is_galera) and state is None:
        if config is None:
            raise MissingEvidence("etc/mysql/my.cnf, etc/my.cnf(.d), var/lib/mysql/grastate.dat")
        raise NotApplicable("no Galera/wsrep configuration (wsrep_provider unset or none) and no grastate.dat")
    return config, state


def mysqld_running(table: ProcessTable | None) -> bool | None:
    if table is None:
        return None
    return bool(table.matching(_MYSQLD))


@check(CheckMeta(
    id="DB-004",
    title="Galera state files / bootstrap safety",
    severity=Severity.high,
    area="db",
    tale=(
        "The Galera bootstrap service is meant for the day a cluster is created, not for a node joining it "
        "later. Left enabled at boot, or with an empty cluster address, a restarted node forms a cluster of "
        "its own; after a full outage, nobody knew which node held the latest data."
    ),
    description=(
        "Reads grastate.dat (uuid, seqno, safe_to_bootstrap), the server option files and the systemd unit "
        "file states. Flags a bootstrap unit (mysql@bootstrap.service and the like) enabled at boot and a "
        "persistent `wsrep_cluster_address = gcomm://` with no member, both of which bootstrap a new cluster "
        "on every start. For a stopped node it says whether this node may be bootstrapped (safe_to_bootstrap: "
        "1) or needs `--wsrep-recover` first; whether *no* member or *two* members are safe to bootstrap is "
        "a fleet question (DB-F01) that one node cannot answer."
    ),
    risk=(
        "Two bootstrapped nodes are two independent clusters accepting different writes (split brain); "
        "bootstrapping from a node that was not the last to leave loses the transactions it never saw."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Compare the state files of all members before any bootstrap.",
                        commands=["cat /var/lib/mysql/grastate.dat", "systemctl list-unit-files | grep -i bootstrap"]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Disable bootstrap units and remove `gcomm://` overrides; when the whole cluster is down, run "
            "`mysqld --wsrep-recover` on every member, set safe_to_bootstrap: 1 only on the one with the highest "
            "seqno, bootstrap it, then start the others (Kolla: kolla-ansible mariadb-recovery)."), commands=[
            "systemctl disable mysql@bootstrap.service",
            "mysqld --wsrep-recover   # on every stopped member; note the recovered position",
            "sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' /var/lib/mysql/grastate.dat   # chosen node only",
            "galera_new_cluster   # MariaDB; PXC: systemctl start mysql@bootstrap",
            "kolla-ansible mariadb-recovery -i <inventory>",
        ]),
    ],
    references=[
        "kolla-ansible ansible/roles/mariadb/tasks/recover_cluster.yml (edits safe_to_bootstrap)",
        "sos sos/report/plugins/mysql.py (grastate.dat, gvwstate.dat, option files)",
        "Node-level decision: 'all members stopped / >= 2 safe_to_bootstrap' needs every member's file (fleet)",
    ],
    reads={
        "live": ["var/lib/mysql/grastate.dat", "etc/mysql/**/*.cnf", "etc/my.cnf.d/*.cnf",
                 "cmd:systemctl list-unit-files", "cmd:ps auxwww"],
        "sosreport": ["var/lib/mysql/grastate.dat", "var/lib/percona-xtradb-cluster/grastate.dat", "etc/mysql/*",
                      "sos_commands/systemd/systemctl_list-unit-files", "sos_commands/process/ps_auxwwwm"],
        "kolla": ["var/lib/docker/volumes/mariadb/_data/grastate.dat", "etc/kolla/mariadb/galera.cnf"],
    },
))
def galera_bootstrap_safety(ctx: CheckContext) -> None:
    config, state = galera_node(ctx)
    units = ctx.facts.maybe(load_unit_files)
    if units is not None:
        for unit in units.values():
            if _BOOTSTRAP_UNIT.search(unit.name) and _DB_UNIT.match(unit.name) and unit.state == "enabled":
                ctx.fail(f"{unit.name} is enabled at boot: every reboot of this node bootstraps a new cluster "
                         "instead of joining the existing one", severity=Severity.high, resource=unit.name,
                         evidence=[unit.evidence()])
    if config is not None and config.bootstrap_address:
        assert config.cluster_address is not None
        ctx.fail("wsrep_cluster_address is `gcomm://` without members in a persistent config: every start of "
                 "this server bootstraps a new cluster", severity=Severity.high, resource="wsrep_cluster_address",
                 evidence=[config.cluster_address.evidence()])
    if state is None:
        if not ctx.outcomes:
            ctx.ok("Galera configured; no grastate.dat collected (never started, or datadir elsewhere)")
        return
    running = mysqld_running(ctx.facts.maybe(load_processes))
    seqno = state.seqno
    if state.uuid is None or state.uuid == ZERO_UUID:
        ctx.ok("grastate.dat has no cluster uuid (wiped or never joined): this node will take a full state "
               "transfer when it joins", evidence=[state.evidence("uuid")])
    elif running is False:
        if state.safe_to_bootstrap == 1:
            ctx.ok(f"mysqld is stopped and this node was the last to leave (safe_to_bootstrap: 1, seqno {seqno}): "
                   "it is the bootstrap candidate — check that no other member also has safe_to_bootstrap: 1 "
                   "(fleet check DB-F01)", evidence=[state.evidence("safe_to_bootstrap"), state.evidence("seqno")])
        elif seqno == -1:
            ctx.ok("mysqld is stopped after an unclean shutdown (seqno: -1, safe_to_bootstrap: 0): run "
                   "`mysqld --wsrep-recover` to learn its position before choosing a bootstrap node",
                   evidence=[state.evidence("seqno")])
        else:
            ctx.ok(f"mysqld is stopped (seqno {seqno}, safe_to_bootstrap: 0): compare seqno with the other "
                   "members; only the highest may be bootstrapped", evidence=[state.evidence("seqno")])
    elif not ctx.outcomes:
        ctx.ok(f"grastate.dat uuid {state.uuid}, seqno {seqno}, safe_to_bootstrap {state.safe_to_bootstrap}"
               f"{' (mysqld running)' if running else ''}; no bootstrap unit or gcomm:// override",
               evidence=[state.evidence("uuid")])


# ---------------------------------------------------------------------------------------------------------
# DB-006
# ---------------------------------------------------------------------------------------------------------

GROUP_PORT = 4567
TRANSFER_PORTS = (4444, 4568)
CLIENT_PORT = 3306
# A documentation address (RFC 5737) stands for "a host that is not a member" when reading INPUT rules.
OUTSIDER = "203.0.113.77"
CONNECT_TIMEOUT_S = 2.0


def _hosts_file(view: HostView) -> dict[str, list[str]]:
    text = view.read_text("etc/hosts")
    names: dict[str, list[str]] = {}
    if text is None:
        return names
    for line in text.content.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2:
            for name in parts[1:]:
                names.setdefault(name.lower(), []).append(parts[0])
    return names


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _addresses(view: HostView, member: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(member))]
    except ValueError:
        return _hosts_file(view).get(member.lower(), [])


def _member_ip(view: HostView, member: str) -> str | None:
    # Debian maps the host's own name to 127.0.1.1; peers reach a member on its routable address.
    addresses = _addresses(view, member)
    routable = [a for a in addresses if not _loopback(a)]
    return next(iter(routable or addresses), None)


def _is_self(view: HostView, member: str, local: set[str]) -> bool:
    addresses = _addresses(view, member)
    if any(a in local or _loopback(a) for a in addresses):
        return True
    try:
        ipaddress.ip_address(member)
        return False
    except ValueError:
        pass
    host = view.hostname().lower().split(".")[0]
    return bool(host) and member.lower().split(".")[0] == host


def _local_ips(ctx: CheckContext) -> set[str]:
    links = ctx.facts.maybe(load_links)
    if links is None:
        return set()
    return {a.address for _link, a in links.addresses()}


def _probe(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


@check(CheckMeta(
    id="DB-006",
    title="Galera ports: open between members, not exposed beyond",
    severity=Severity.critical,
    area="db",
    tale=(
        "Building a Percona XtraDB cluster meant opening MySQL, state-transfer and group-communication ports "
        "between the three nodes; SELinux had been set to permissive during the install. A node whose "
        "firewall drops a peer's group traffic never joins, and one that answers the whole network exposes "
        "the database."
    ),
    description=(
        "For a Galera member, reads the member list from wsrep_cluster_address and evaluates the node's INPUT "
        "chain (iptables) for a new TCP connection from each other member to 4567 (group communication), "
        "4568 (IST) and 4444 (SST): a rule that certainly drops or rejects it is reported; rules that depend "
        "on interfaces or ipsets are not guessed. 4444/4568 only listen during transfers, so rules are "
        "checked, not listeners. A mysqld listening on a wildcard address for 3306/4567 while INPUT accepts "
        "any source is reported as exposure. On a live host each member's 4567 is also probed with a TCP "
        "connect. Port 873 (rsync daemon) is not a Galera requirement."
    ),
    risk=(
        "A blocked 4567 keeps a node out of the cluster (or splits it); blocked 4444/4568 make the next "
        "rejoin fail its state transfer. An exposed 3306/4567 invites anyone on the network to the database "
        "and to the replication stream."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Allow the Galera ports from the other members only, and persist it.",
                        commands=[
                            "iptables -I INPUT -p tcp -s <member-ip> -m multiport --dports 3306,4444,4567,4568 "
                            "-j ACCEPT",
                            "iptables-save > /etc/sysconfig/iptables   # or netfilter-persistent save",
                        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Close broad exposure: bind mysqld to the cluster address (bind-address, gmcast.listen_addr) and "
            "restart it in a window, or add a DROP for non-members after the member ACCEPTs (changes "
            "forwarding state)."), commands=[
            "iptables -A INPUT -p tcp -m multiport --dports 3306,4567 -j DROP",
        ]),
    ],
    references=[
        "Percona XtraDB Cluster docs, ports 3306/4444/4567/4568 (via docs search, CATALOGUE DB-006)",
        "kolla-ansible ansible/group_vars/all/mariadb.yml (mariadb_wsrep_port 4567, mariadb_ist_port 4568, "
        "mariadb_sst_port 4444)",
        "873/tcp: treated as not required (CATALOGUE DB-006, partially verified)",
        "Cloud security groups (PXC inside VMs) and nftables-only rulesets are not visible to this check",
    ],
    reads={
        "live": ["etc/mysql/**/*.cnf", "cmd:iptables -t filter -nvL", "cmd:ss -ltnup", "tcp connect member:4567"],
        "sosreport": ["etc/mysql/*", "etc/my.cnf.d/*", "sos_commands/firewall_tables/iptables_-t_filter_-nvL",
                      "sos_commands/networking/netstat_-W_-neopa", "sos_commands/networking/ss_-peaonmi"],
        "kolla": ["etc/kolla/mariadb/galera.cnf", "side bundle: iptables, ss"],
    },
))
def galera_ports(ctx: CheckContext) -> None:
    config, _state = galera_node(ctx)
    if config is None or not config.is_galera:
        raise NotApplicable("grastate.dat present but no wsrep configuration collected: member list unknown")
    local = _local_ips(ctx)
    firewall = ctx.facts.maybe(load_firewall)
    listeners = ctx.facts.maybe(load_listeners)
    if firewall is None and listeners is None and ctx.view.kind != "live":
        raise MissingEvidence("sos_commands/firewall_tables/iptables_-t_filter_-nvL, "
                              "sos_commands/networking/netstat_-W_-neopa (firewall and listeners)")
    members = [m for m in config.members if not _is_self(ctx.view, m, local)]
    cluster_ev = [config.cluster_address.evidence()] if config.cluster_address is not None else []
    if firewall is not None:
        _member_rules(ctx, firewall, members, cluster_ev)
    if ctx.view.kind == "live":
        for member in members:
            if not _probe(member, GROUP_PORT):
                ctx.fail(f"TCP connect from this node to {member}:{GROUP_PORT} failed: group communication with "
                         "that member is blocked or it is down", severity=Severity.critical,
                         resource=f"{member}:{GROUP_PORT}", evidence=cluster_ev)
    if listeners is not None:
        _exposure(ctx, firewall, listeners)
    if not ctx.outcomes:
        seen = "firewall rules" if firewall is not None else "listeners only (no firewall rules collected)"
        ctx.ok(f"{len(members)} other member(s) ({', '.join(members) or 'none listed'}); nothing blocks the Galera "
               f"ports in {seen}", evidence=cluster_ev)


def _member_rules(ctx: CheckContext, firewall: Firewall, members: list[str], cluster_ev: list[Evidence]) -> None:
    for member in members:
        src = _member_ip(ctx.view, member)
        for port, severity, what in ((GROUP_PORT, Severity.critical, "group communication"),
                                     (TRANSFER_PORTS[1], Severity.high, "incremental state transfer (IST)"),
                                     (TRANSFER_PORTS[0], Severity.high, "state snapshot transfer (SST)")):
            verdict = firewall.verdict("tcp", port, src)
            if verdict.action in ("DROP", "REJECT") and verdict.certain:
                how = "the INPUT policy" if verdict.rule is None else "an INPUT rule"
                ctx.fail(f"{how} {verdict.action.lower()}s TCP {port} ({what}) from member {member}"
                         f"{'' if src else ' (any source)'}", severity=severity, resource=f"{member}:{port}",
                         evidence=[*verdict.evidence(), *cluster_ev])


def _exposure(ctx: CheckContext, firewall: Firewall | None, listeners: Listeners) -> None:
    exposed: list[Listener] = []
    for port in (CLIENT_PORT, GROUP_PORT):
        for item in listeners.on_port(port):
            if not item.wildcard or (item.process and not re.search(r"mysql|maria|galera", item.process)):
                continue
            if firewall is not None:
                verdict = firewall.verdict("tcp", port, OUTSIDER)
                if verdict.action != "ACCEPT" or not verdict.certain:
                    continue
            exposed.append(item)
    for item in exposed:
        rules = "no firewall rules were collected" if firewall is None else "INPUT accepts any source"
        ctx.warn(f"mysqld listens on {item.address}:{item.port} (all addresses) and {rules}: reachable from "
                 "beyond the cluster members (cloud security groups, if any, are not visible here)",
                 severity=Severity.medium, resource=f"{item.address}:{item.port}", evidence=[item.evidence()])
