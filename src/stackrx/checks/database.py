"""Database checks run by `stackrx db URL...`: soft-deleted row bloat (DB-001), Galera node health (DB-003),
tables Galera cannot replicate safely (DB-005), Galera agreement across members (DB-F01).

Their host views are database servers (`stackrx.cloud.db.server.DbView`); on a node scan they do not run.
"""

from __future__ import annotations

from stackrx.cloud.db.archive import load_archive_plans, steps_for
from stackrx.cloud.db.finding import Finding
from stackrx.cloud.db.galera import (
    Member,
    agreement_findings,
    agreement_summary,
    load_galera,
    node_findings,
    node_summary,
    read_status,
)
from stackrx.cloud.db.inventory import SYSTEM_SCHEMAS, db_view, load_inventory
from stackrx.cloud.db.server import ClusterView, DbError, DbUnreachable
from stackrx.cloud.db.softdeleted import load_soft_deleted, schema_findings, schema_summary
from stackrx.engine import CheckContext, check
from stackrx.errors import NotApplicable
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, Status, StepKind

STATUS_QUERY = "SHOW GLOBAL STATUS LIKE 'wsrep_%'"


def _report(ctx: CheckContext, findings: list[Finding]) -> None:
    for f in findings:
        ctx.report(f.severity, f.message, resource=f.resource, evidence=f.evidence)


@check(CheckMeta(
    id="DB-001",
    title="Nova soft-deleted row bloat",
    severity=Severity.high,
    area="db",
    tale=(
        "After moving from Grizzly to Havana, an operator watched EC2 RunInstances requests climb from four "
        "seconds to well over two minutes while nova-api swallowed all 48 GB of a controller's memory. Nothing "
        "was broken: the database simply still held every instance ever deleted, more than a million system "
        "metadata rows and 300,000 dead or errored instances, and every client-token lookup waded through "
        "them. Removing the old rows fixed it, but the hand-written `deleted=1` SQL used then would miss "
        "almost every deleted row of a modern schema."
    ),
    description=(
        "Counts soft-deleted rows (`deleted <> 0`) per table in the nova API database, every cell database "
        "found through nova_api.cell_mappings, and any other schema with a `deleted` column; records the oldest "
        "deletion, shadow-table sizes and EC2_client_token metadata rows. Small tables are counted exactly; "
        "tables estimated above --exact-limit rows (or whose count hits the statement time limit) are sampled "
        "over primary-key windows, and each count says which. Thresholds (heuristic): instances soft-deleted ≥ "
        "100,000, or ≥ 10,000 at ≥ 90 % of the table → high; instance_system_metadata soft-deleted ≥ "
        "1,000,000 → high; shadow_* ≥ 1,000,000 rows → medium (archived, never purged); another service's "
        "table ≥ 1,000,000 soft-deleted rows → medium. For nova cells it predicts, per table, what "
        "`nova-manage db archive_deleted_rows --before DATE` will move (child rows of archived instances "
        "included) and what the purge then deletes."
    ),
    risk=(
        "Every list, lookup and quota query of nova filters on `deleted = 0` over tables that only grow: API "
        "calls slow down, memory use of the API workers rises, backups and schema migrations take longer. "
        "Hand-written DELETEs orphan child rows and API-database mappings."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Count per table (read-only; what this check runs).", commands=[
            "mysql -e \"SELECT COUNT(*), SUM(deleted<>0), MIN(IF(deleted<>0, deleted_at, NULL)) FROM nova.instances\"",
            "mysql -e \"SELECT table_schema, table_name, table_rows FROM information_schema.tables "
            "WHERE table_name LIKE 'shadow\\_%' ORDER BY table_rows DESC LIMIT 20\"",
        ]),
        RemediationStep(kind=StepKind.safe, text="Back up the nova databases before archiving.", commands=[
            "mysqldump --single-transaction --routines --databases nova_api nova nova_cell0 > nova-db-backup.sql",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Archive soft-deleted rows older than 90 days into the shadow tables, then purge those (flags per "
            "release: --until-complete ≥ 15.0.0, db purge ≥ 18.0.0, --before/--all-cells ≥ 20.0.0; exit code 1 "
            "= rows archived). On Kolla run it in the nova_api container (`docker exec nova_api nova-manage "
            "...`). Never DELETE from instances by hand."), commands=[
            "nova-manage db archive_deleted_rows --before \"$(date -d '-90 days' +%F)\" --until-complete "
            "--max_rows 1000 --all-cells --verbose",
            "nova-manage db purge --before \"$(date -d '-90 days' +%F)\" --all-cells --verbose",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Schedule it (see DB-002); keep rows younger than what usage/billing consumers still read "
            "(task_log is only archived with --task-log)."), commands=[]),
    ],
    references=[
        "nova nova/db/main/api.py (archive_deleted_rows, _archive_deleted_rows_for_table, _get_fk_stmts, "
        "purge_shadow_tables) at 00a0304; FK walk since commit becb94ae64 (23.0.0 Wallaby)",
        "nova nova/cmd/manage.py (archive_deleted_rows exit codes 0/1/2/3/4, API_DB cleanup, purge --before)",
        "nova nova/db/main/models.py (REMOVED_TABLES, SoftDeleteMixin tables)",
        "oslo.db oslo_db/sqlalchemy/models.py SoftDeleteMixin.soft_delete (deleted = id)",
        "nova release note remove_ec2_and_objectstore_api-4ccb539db1d171fa.yaml (in-tree EC2 API removed in "
        "Mitaka)",
        "Thresholds are the catalogue's heuristics (tune per site)",
    ],
    modes=["db"],
    reads={"db": [
        "information_schema.tables / columns / key_column_usage",
        "SELECT COUNT(*), SUM(deleted <> 0), MIN(IF(deleted <> 0, deleted_at, NULL)) per table (or sampled)",
        "nova_api.cell_mappings (cells)", "<cell>.alembic_version / migrate_version (release)",
    ]},
))
def soft_deleted_rows(ctx: CheckContext) -> None:
    view = db_view(ctx.view)
    stats = ctx.facts.get(load_soft_deleted)
    if not stats:
        raise NotApplicable(f"no schema on {view.hostname()} has a table with a `deleted` column")
    plans = ctx.facts.get(load_archive_plans) if any(s.kind == "nova-cell" for s in stats) else []
    steps = steps_for(view, plans)
    for s in stats:
        first = len(ctx.outcomes)
        _report(ctx, schema_findings(s))
        if s.kind == "nova-cell" and steps:
            for i in range(first, len(ctx.outcomes)):
                if ctx.outcomes[i].status in (Status.fail, Status.warn):
                    ctx.outcomes[i] = ctx.outcomes[i].model_copy(update={"remediation": steps})
        ctx.ok(schema_summary(s), resource=s.schema,
               evidence=[t.evidence(s.server) for t in s.tables if t.soft_deleted][:8])


@check(CheckMeta(
    id="DB-003",
    title="Galera node health (Primary / Synced / ready / size)",
    severity=Severity.critical,
    area="db",
    tale=(
        "One operator ran three Percona masters and made `wsrep_cluster_size` reading 3 the test of a healthy "
        "database. Another finished a Kolla upgrade only to find MariaDB up with not a single member joined: "
        "the cluster existed in the configuration and nowhere else."
    ),
    description=(
        "Per server: wsrep_cluster_status must be Primary, wsrep_ready and wsrep_connected ON (critical "
        "otherwise); wsrep_local_state_comment Synced (Donor/Desynced → medium; Joining/Joined/Initialized → "
        "medium, high when the server has been up ≥ 10 minutes and is still not Synced, since one sample cannot "
        "show persistence); cluster size against the hosts of wsrep_cluster_address (size 1 of N>1 or ≤ N/2 → "
        "critical, < N → high); an empty `gcomm://` → high; flow control paused > 10 % or receive queue "
        "average > 10 → medium. An unreachable server is critical."
    ),
    risk=(
        "A non-Primary node refuses writes and every OpenStack service pointed at it fails; a cluster below "
        "quorum stops at the next failure; an empty gcomm:// bootstraps a second cluster on restart."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Inspect every member (and DB-006 ports, DB-004 state files) before "
                        "acting.", commands=[
            "mysql -N -e \"SHOW GLOBAL STATUS LIKE 'wsrep_%'\"",
            "mysql -N -e \"SHOW GLOBAL VARIABLES LIKE 'wsrep_cluster_address'\"",
            "docker exec mariadb mysql -uroot -p\"$database_password\" -e \"SHOW GLOBAL STATUS LIKE 'wsrep_%'\"",
        ]),
        RemediationStep(kind=StepKind.safe, text="A node desynced on purpose (backup) rejoins when released.",
                        commands=["mysql -e \"SET GLOBAL wsrep_desync = OFF\""]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Single node out of the cluster: restart its MariaDB (it may take a full SST that replaces its "
            "datadir)."), commands=["systemctl restart mariadb", "docker restart mariadb"]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Whole cluster down: back up, then recover from the node with the highest seqno only (Kolla does "
            "this: --wsrep-recover, safe_to_bootstrap on one node, bootstrap, wait for Synced)."), commands=[
            "kolla-ansible mariadb-backup -i <inventory>",
            "kolla-ansible mariadb-recovery -i <inventory>",
            "mysqld --wsrep-recover  # on each node: note the seqno; bootstrap only the highest with "
            "galera_new_cluster",
        ]),
    ],
    references=[
        "kolla-ansible ansible/roles/mariadb/tasks/{check,recover_cluster,lookup_cluster}.yml",
        "kolla-ansible kolla_ansible/cli/commands.py (mariadb-recovery)",
        "Percona XtraDB Cluster docs (bootstrap, ports)",
        "wsrep_local_recv_queue_avg > 10 threshold UNVERIFIED (heuristic, kept as medium)",
    ],
    modes=["db"],
    reads={"db": [STATUS_QUERY, "SHOW GLOBAL VARIABLES (wsrep_on, wsrep_provider, wsrep_cluster_address, "
                  "wsrep_desync)", "SHOW GLOBAL STATUS LIKE 'Uptime'"]},
))
def galera_node_health(ctx: CheckContext) -> None:
    view = db_view(ctx.view)
    try:
        st = ctx.facts.get(load_galera)
    except DbUnreachable as exc:
        ctx.fail(f"database server does not answer: {exc.reason}", severity=Severity.critical,
                 resource="connection", evidence=[Evidence(source=f"sql:{view.hostname()}", excerpt=exc.reason)])
        return
    findings = node_findings(st)
    _report(ctx, findings)
    if not findings:
        ctx.ok(node_summary(st), evidence=st.evidence("wsrep_cluster_status", "wsrep_local_state_comment",
                                                      "wsrep_cluster_size"))


@check(CheckMeta(
    id="DB-005",
    title="Tables without primary key / non-InnoDB under Galera",
    severity=Severity.medium,
    area="db",
    tale=(
        "An operator picked Percona XtraDB Cluster in part because it coped with tables lacking a primary key, "
        "while warning that Galera really wants one on every table. A table without a key, or on an engine "
        "Galera does not replicate, quietly differs from node to node."
    ),
    description=(
        "On a Galera node, lists base tables outside the system schemas that have no PRIMARY KEY (medium) or "
        "are not InnoDB (high: only InnoDB is replicated). Checked once per cluster."
    ),
    risk=(
        "Galera certifies and applies rows by key: without one, DELETEs are unsupported and rows can differ "
        "between nodes; a MyISAM/Aria/MEMORY table is not replicated at all, so a failover serves other data."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="List the tables (what this check runs).", commands=[
            "mysql -e \"SELECT t.table_schema, t.table_name, t.engine FROM information_schema.tables t LEFT JOIN "
            "information_schema.table_constraints c ON c.table_schema = t.table_schema AND c.table_name = "
            "t.table_name AND c.constraint_type = 'PRIMARY KEY' WHERE t.table_type = 'BASE TABLE' AND "
            "t.table_schema NOT IN ('mysql','information_schema','performance_schema','sys') AND "
            "(c.constraint_name IS NULL OR t.engine <> 'InnoDB')\"",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Schema change (coordinate with the owning project, back up first): add a surrogate primary key, "
            "convert to InnoDB."), commands=[
            "ALTER TABLE <schema>.<table> ADD COLUMN id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY",
            "ALTER TABLE <schema>.<table> ENGINE=InnoDB",
        ]),
        RemediationStep(kind=StepKind.safe, text="Refuse new key-less tables (check the services' migrations "
                        "first).", commands=["innodb_force_primary_key = ON  # [mysqld] in galera.cnf"]),
    ],
    references=[
        "MariaDB Galera known limitations (primary keys, InnoDB only, wsrep_replicate_myisam) via docs search",
        "MariaDB innodb_force_primary_key, wsrep_certify_nonPK (default ON); MDEV-24830",
    ],
    modes=["db"],
    reads={"db": ["information_schema.tables", "information_schema.key_column_usage", STATUS_QUERY]},
))
def galera_unsafe_tables(ctx: CheckContext) -> None:
    view = db_view(ctx.view)
    try:
        ctx.facts.get(load_galera)
    except DbUnreachable as exc:
        raise NotApplicable(f"{view.hostname()} does not answer: {exc.reason}") from None
    if view.counted_on:
        raise NotApplicable(f"same Galera cluster as {view.counted_on}: tables are checked there, once")
    inv = ctx.facts.get(load_inventory)
    checked = 0
    for t in sorted(inv.tables.values(), key=lambda t: t.label):
        if t.table_type not in ("BASE TABLE", "SYSTEM VERSIONED") or t.schema in SYSTEM_SCHEMAS:
            continue
        checked += 1
        ev = [Evidence(source=f"sql:{view.hostname()} information_schema.tables",
                       excerpt=f"{t.label} engine={t.engine or '?'} primary_key={','.join(t.primary_key) or 'none'} "
                       f"rows~{t.rows_estimate:,}")]
        if t.engine.lower() != "innodb":
            ctx.fail(f"{t.label} uses {t.engine or 'no engine'}: Galera replicates only InnoDB, this table differs "
                     "per node", severity=Severity.high, resource=t.label, evidence=ev)
        elif not t.primary_key:
            ctx.warn(f"{t.label} has no primary key: Galera cannot apply DELETEs safely and rows may differ "
                     "between nodes", severity=Severity.medium, resource=t.label, evidence=ev)
    if not any(r.status in (Status.fail, Status.warn) for r in ctx.outcomes):
        ctx.ok(f"all {checked} tables outside the system schemas are InnoDB with a primary key")


@check(CheckMeta(
    id="DB-F01",
    title="Galera cluster agreement across nodes",
    severity=Severity.critical,
    area="db",
    tale=(
        "Each Galera node can look fine on its own while the members disagree about who belongs to the "
        "cluster. The Kolla upgrade where no MariaDB node rejoined is the mild case; a recovery that "
        "bootstraps a second node, leaving two Primary components that both accept writes, is the dangerous one."
    ),
    description=(
        "Across every member URL given: all reachable members must report the same wsrep_cluster_state_uuid, "
        "wsrep_cluster_conf_id and wsrep_cluster_size (critical otherwise; two Primary components = double "
        "bootstrap / split brain); differing wsrep_incoming_addresses → high; a given member that is "
        "unreachable or outside the Primary component → high; no Primary at all → critical."
    ),
    risk="Two Primary components accept diverging writes: data loss when they are merged back.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Compare the members side by side.", commands=[
            "for h in db1 db2 db3; do mysql -h $h -N -e \"SHOW GLOBAL STATUS WHERE Variable_name IN "
            "('wsrep_cluster_state_uuid','wsrep_cluster_conf_id','wsrep_cluster_size','wsrep_cluster_status')\"; "
            "done",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Split / double bootstrap: stop writes to the smaller side, back it up, stop it and let it rejoin "
            "the surviving cluster with a full SST; never bootstrap two nodes."), commands=[
            "mysqldump --single-transaction --all-databases > split-side-backup.sql",
            "systemctl stop mariadb && rm -f /var/lib/mysql/grastate.dat && systemctl start mariadb",
        ]),
    ],
    references=[
        "galera gcs 'Quorum results' (component, conf_id, members, group UUID)",
        "kolla-ansible ansible/roles/mariadb/tasks/lookup_cluster.yml",
    ],
    modes=["fleet", "db"],
    reads={"db": [STATUS_QUERY + " on every member URL"]},

))
def galera_agreement(ctx: CheckContext) -> None:
    if not isinstance(ctx.view, ClusterView):
        raise NotApplicable("needs the member URLs of one cluster (`stackrx db URL1 URL2 ...`)")
    members: list[Member] = []
    for m in ctx.view.members:
        try:
            st = read_status(m)
        except DbError as exc:
            members.append(Member(m.hostname(), error=exc.reason))
            continue
        if st.is_galera:
            members.append(Member(m.hostname(), st))
    if sum(1 for m in members if m.status is not None) < 1 or len(members) < 2:
        raise NotApplicable(f"needs two or more Galera members, {len(members)} given or reachable")
    findings = agreement_findings(members)
    _report(ctx, findings)
    if not findings:
        ctx.ok(agreement_summary(members))
