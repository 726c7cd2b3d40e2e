"""Real MariaDB / Galera servers on loopback, nova's own schema, and a soft-deleted data set with known shape.

Used by the tests in this directory (session fixtures in conftest.py) and by bench/db_softdeleted.py. Servers are
started by scripts/setup/mariadb.sh; nova comes from the venv built by scripts/setup/nova-venv.sh.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymysql

REPO = Path(__file__).resolve().parents[2]
MARIADB_SH = REPO / "scripts" / "setup" / "mariadb.sh"
NOVA_VENV_SH = REPO / "scripts" / "setup" / "nova-venv.sh"
GALERA_PROVIDER = "/usr/lib/galera/libgalera_smm.so"
RO_USER, RO_PASSWORD = "stackrx", "stackrx-ro"


class ComponentMissing(RuntimeError):
    """A real component (MariaDB, Galera, nova) cannot be had on this machine."""


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ensure_mariadb() -> None:
    proc = subprocess.run([str(MARIADB_SH), "install"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise ComponentMissing(f"MariaDB/Galera not installable: {proc.stderr.strip() or proc.stdout.strip()}")


def nova_venv() -> Path:
    proc = subprocess.run([str(NOVA_VENV_SH)], capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise ComponentMissing(f"nova venv could not be built: {proc.stderr[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@dataclass
class MariaDB:
    """One mariadbd in its own directory, on 127.0.0.1:port, owned (and run) by `user`."""

    root: Path
    port: int
    user: str = "root"
    extra: list[str] = field(default_factory=list)
    pid: int | None = None

    @classmethod
    def create(cls, prefix: str, user: str = "root", init: bool = True, **kw: object) -> MariaDB:
        base = Path(tempfile.mkdtemp(prefix=prefix))
        base.chmod(0o755)  # mysql (Galera nodes) must reach its datadir
        server = cls(base, **kw)  # type: ignore[arg-type]
        server.user = user
        if init:
            _run([str(MARIADB_SH), "init", str(base), user])
        else:
            shutil.chown(base, user)
        return server

    def start(self, *options: str) -> None:
        out = _run([str(MARIADB_SH), "start", str(self.root), str(self.port), *self.extra, *options])
        self.pid = int(out.strip().splitlines()[-1])

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.pid is not None and not _alive(self.pid):
                raise RuntimeError(f"mariadbd on {self.port} died:\n{self.log_tail()}")
            try:
                self.connect().close()
                return
            except pymysql.err.OperationalError as exc:
                last = exc
                time.sleep(0.2)
        raise TimeoutError(f"mariadbd on {self.port} not ready ({last}):\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        log = self.root / "error.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:]) if log.exists() else ""

    def connect(self, user: str = "root", password: str = "", database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.port, user=user, password=password, database=database,
                               autocommit=True, connect_timeout=3, read_timeout=120)

    def url(self, database: str = "", user: str = RO_USER, password: str = RO_PASSWORD) -> str:
        auth = f"{user}:{password}@" if password else f"{user}@"
        return f"mysql+pymysql://{auth}127.0.0.1:{self.port}/{database}"

    def sql(self, *statements: str) -> list[tuple[object, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                rows: list[tuple[object, ...]] = []
                for st in statements:
                    cur.execute(st)
                    rows = list(cur.fetchall())
                return rows
        finally:
            conn.close()

    def add_read_only_user(self) -> None:
        self.sql(f"CREATE USER IF NOT EXISTS '{RO_USER}'@'127.0.0.1' IDENTIFIED BY '{RO_PASSWORD}'",
                 f"GRANT SELECT ON *.* TO '{RO_USER}'@'127.0.0.1'")

    def stop(self, signal: str = "TERM") -> None:
        if self.pid is None:
            return
        subprocess.run([str(MARIADB_SH), "stop", str(self.root), signal], capture_output=True, timeout=120)
        self.pid = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by the shell that started it) counts as dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return proc.stdout


# -- Galera ------------------------------------------------------------------------------------------------
@dataclass
class GaleraNode:
    server: MariaDB
    gcomm_port: int
    ist_port: int
    sst_port: int
    split: bool = False  # bootstrapped as a cluster of its own (double bootstrap scenario)

    @property
    def port(self) -> int:
        return self.server.port

    def status(self) -> dict[str, str]:
        rows = self.server.sql("SHOW GLOBAL STATUS LIKE 'wsrep_%'")
        return {str(k): str(v) for k, v in rows}


class GaleraCluster:
    """Three nodes on loopback, run as user mysql (rsync SST drops privileges and fails as root)."""

    def __init__(self, size: int = 3) -> None:
        self.nodes: list[GaleraNode] = []
        ports = free_ports(4 * size)
        for i in range(size):
            p, g, ist, sst = ports[4 * i: 4 * i + 4]
            server = MariaDB.create(f"stackrx-galera{i + 1}-", user="mysql", init=(i == 0), port=p)
            self.nodes.append(GaleraNode(server, g, ist, sst))
        self.address = "gcomm://" + ",".join(f"127.0.0.1:{n.gcomm_port}" for n in self.nodes)

    def options(self, node: GaleraNode, address: str | None = None, gcomm_port: int | None = None) -> list[str]:
        gport = gcomm_port or node.gcomm_port
        return [
            "--wsrep-on=ON", f"--wsrep-provider={GALERA_PROVIDER}", "--wsrep-cluster-name=stackrx-test",
            f"--wsrep-cluster-address={address if address is not None else self.address}",
            f"--wsrep-node-address=127.0.0.1:{gport}", f"--wsrep-node-incoming-address=127.0.0.1:{node.port}",
            f"--wsrep-sst-receive-address=127.0.0.1:{node.sst_port}",
            f"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:{gport};"
            f"ist.recv_addr=127.0.0.1:{node.ist_port};gcache.size=16M",
            "--wsrep-sst-method=rsync", "--binlog-format=ROW", "--innodb-autoinc-lock-mode=2",
            "--default-storage-engine=InnoDB", "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
        ]

    def start(self) -> None:
        first = self.nodes[0]
        first.server.start(*self.options(first), "--wsrep-new-cluster")
        first.server.wait_ready()
        self.wait_synced(first)
        first.server.add_read_only_user()
        for node in self.nodes[1:]:
            self.start_node(node)

    def start_node(self, node: GaleraNode) -> None:
        node.server.start(*self.options(node))
        self.wait_synced(node, timeout=120)

    def bootstrap_alone(self, node: GaleraNode) -> None:
        """The operator's mistake: stop a member and bootstrap it as a new cluster (empty gcomm://, forced
        safe_to_bootstrap) while the others keep running. Its gmcast port moves so the two cannot meet."""
        node.server.stop()
        grastate = node.server.root / "data" / "grastate.dat"
        grastate.write_text(grastate.read_text().replace("safe_to_bootstrap: 0", "safe_to_bootstrap: 1"))
        node.server.start(*self.options(node, "gcomm://", free_ports(1)[0]), "--wsrep-new-cluster")
        node.split = True
        self.wait_synced(node)

    def ensure_healthy(self) -> None:
        """Bring every member back: restart stopped ones, re-join a split one with a full state transfer."""
        for node in self.nodes:
            if node.split:
                node.server.stop()
                for name in ("grastate.dat", "gvwstate.dat", "galera.cache"):
                    (node.server.root / "data" / name).unlink(missing_ok=True)
                node.split = False
            if node.server.pid is None:
                self.start_node(node)
        for node in self.nodes:
            if node.server.sql("SELECT @@GLOBAL.wsrep_desync")[0][0] in (1, "1", "ON"):
                node.server.sql("SET GLOBAL wsrep_desync = OFF")
            self.wait_synced(node)
            self.wait_size(node, len(self.nodes))

    def wait_synced(self, node: GaleraNode, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.server.pid is not None and not _alive(node.server.pid):
                raise RuntimeError(f"galera node {node.port} died:\n{node.server.log_tail()}")
            try:
                if node.status().get("wsrep_local_state_comment") == "Synced":
                    return
            except pymysql.err.Error:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"galera node {node.port} not Synced:\n{node.server.log_tail()}")

    def wait_size(self, node: GaleraNode, size: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.status().get("wsrep_cluster_size") == str(size):
                return
            time.sleep(0.3)
        raise TimeoutError(f"galera node {node.port} never saw size {size}: {node.status()}")

    def urls(self) -> list[str]:
        return [n.server.url() for n in self.nodes]

    def destroy(self) -> None:
        for node in reversed(self.nodes):
            node.server.destroy()


# -- nova's schema -------------------------------------------------------------------------------------------
@dataclass
class Nova:
    venv: Path
    conf: Path

    def manage(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        return subprocess.run([str(self.venv / "bin" / "nova-manage"), "--config-file", str(self.conf), *args],
                              capture_output=True, text=True, timeout=timeout, env=env)

    def archive(self, before: str) -> tuple[int, dict[str, int]]:
        """Run archive_deleted_rows --until-complete --all-cells; (exit code, rows per table as printed)."""
        proc = self.manage("db", "archive_deleted_rows", "--before", before, "--until-complete", "--max_rows",
                           "1000", "--all-cells", "--verbose")
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"archive_deleted_rows exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-3000:]}")
        return proc.returncode, parse_manage_table(proc.stdout)


def parse_manage_table(stdout: str) -> dict[str, int]:
    """The `| Table | Number of Rows Archived |` table nova-manage prints with --verbose."""
    out: dict[str, int] = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[1].isdigit():
            out[cells[0]] = int(cells[1])
    return out


def create_nova_schema(server: MariaDB, venv: Path, workdir: Path) -> Nova:
    server.sql("CREATE DATABASE nova_api", "CREATE DATABASE nova", "CREATE DATABASE nova_cell0")
    base = f"mysql+pymysql://root@127.0.0.1:{server.port}"
    conf = workdir / "nova.conf"
    conf.write_text(f"[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:1/\n"
                    f"[api_database]\nconnection = {base}/nova_api\n[database]\nconnection = {base}/nova\n")
    nova = Nova(venv, conf)
    for args in (("api_db", "sync"), ("cell_v2", "map_cell0", "--database_connection", f"{base}/nova_cell0"),
                 ("cell_v2", "create_cell", "--name=cell1"), ("db", "sync")):
        proc = nova.manage(*args)
        if proc.returncode != 0:
            raise RuntimeError(f"nova-manage {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return nova


# -- the data set ------------------------------------------------------------------------------------------
def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass
class Shape:
    """What the data set holds, for assertions (counts per cell schema)."""

    instances: dict[str, int] = field(default_factory=dict)
    soft_deleted_instances: dict[str, int] = field(default_factory=dict)
    ism_rows: int = 0


def _insert(cur: pymysql.cursors.Cursor, table: str, columns: list[str], rows: Iterable[tuple[object, ...]],
            batch: int = 5000) -> None:
    sql = f"INSERT INTO {table} ({', '.join(f'`{c}`' for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            cur.executemany(sql, chunk)
            chunk = []
    if chunk:
        cur.executemany(sql, chunk)


def fill_nova(server: MariaDB, now: datetime, *, live: int = 100, old: int = 250, recent: int = 50,
              ism_per_instance: int = 250, seed: int = 7) -> Shape:
    """Instances live / deleted long ago / deleted recently, with children in several states (see comments)."""
    rng = random.Random(seed)
    shape = Shape()
    conn = server.connect()
    cur = conn.cursor()
    cur.execute("SELECT id FROM nova_api.cell_mappings WHERE name = 'cell1'")
    cell1_id = cur.fetchone()[0]  # type: ignore[index]
    cur.execute("SELECT id FROM nova_api.cell_mappings WHERE name = 'cell0'")
    cell0_id = cur.fetchone()[0]  # type: ignore[index]
    cur.execute("INSERT INTO nova_api.instance_groups (uuid, name, project_id) VALUES (%s, 'g', 'p')",
                (str(uuidlib.UUID(int=rng.getrandbits(128))),))
    group_id = cur.lastrowid
    for schema, cell_id, n_live, n_old, n_recent in (("nova", cell1_id, live, old, recent),
                                                     ("nova_cell0", cell0_id, 5, 15, 3)):
        instances = []  # (uuid, created, deleted_at or None)
        for kind, count in (("live", n_live), ("old", n_old), ("recent", n_recent)):
            for _ in range(count):
                u = str(uuidlib.UUID(int=rng.getrandbits(128)))
                if kind == "live":
                    created, deleted_at = now - timedelta(days=rng.randint(1, 500)), None
                elif kind == "old":
                    deleted_at = now - timedelta(days=rng.randint(120, 700), seconds=rng.randint(0, 86000))
                    created = deleted_at - timedelta(days=rng.randint(1, 30))
                else:
                    deleted_at = now - timedelta(days=rng.randint(1, 40))
                    created = deleted_at - timedelta(days=rng.randint(1, 30))
                instances.append((u, created, deleted_at))
        rng.shuffle(instances)  # ids do not follow deletion order, as in life
        for u, created, deleted_at in instances:
            cur.execute(f"INSERT INTO {schema}.instances (uuid, created_at, vm_state, deleted, deleted_at) "
                        "VALUES (%s, %s, %s, 0, %s)", (u, created, "deleted" if deleted_at else "active", deleted_at))
            if deleted_at:
                cur.execute(f"UPDATE {schema}.instances SET deleted = id WHERE uuid = %s", (u,))
        shape.instances[schema] = len(instances)
        shape.soft_deleted_instances[schema] = n_old + n_recent
        _children(cur, schema, instances, now, rng, ism_per_instance)
        if schema == "nova":
            shape.ism_rows = len(instances) * ism_per_instance
        # API DB rows nova-manage deletes for archived instances.
        _insert(cur, "nova_api.instance_mappings", ["instance_uuid", "cell_id", "project_id"],
                ((u, cell_id, "p") for u, _c, _d in instances))
        _insert(cur, "nova_api.request_specs", ["instance_uuid", "spec"], ((u, "{}") for u, _c, _d in instances))
        _insert(cur, "nova_api.instance_group_member", ["instance_uuid", "group_id"],
                ((u, group_id) for u, _c, _d in instances[::7]))
    _unrelated_parents(cur, now)
    _other_service(cur, now, rng)
    cur.close()
    conn.close()
    return shape


def _children(cur: pymysql.cursors.Cursor, schema: str, instances: list[tuple[str, datetime, datetime | None]],
              now: datetime, rng: random.Random, ism_per_instance: int) -> None:
    ism: list[tuple[object, ...]] = []
    extra, caches, bdms, actions, faults, meta = [], [], [], [], [], []
    for u, created, deleted_at in instances:
        for k in range(ism_per_instance):
            key = "EC2_client_token" if k == 0 else f"key{k}"
            if deleted_at is None:
                # A few rows of a live instance were deleted long ago (an old image property): archived on
                # their own, the instance stays.
                dead = k < 2
                ism.append((u, key, "v", created, now - timedelta(days=300) if dead else None, 1 if dead else 0))
            elif k < 5:
                # Residue: rows nova forgot to soft-delete; they go with their instance all the same.
                ism.append((u, key, "v", created, None, 0))
            else:
                ism.append((u, key, "v", created, deleted_at, 1))
        # instance_extra is never soft-deleted here: it moves only through its foreign key.
        extra.append((u, created, None, 0))
        caches.append((u, created, deleted_at, 1 if deleted_at else 0))
        bdms.append((u, created, deleted_at, 1 if deleted_at else 0))
        meta.append((u, "m", "v", created, deleted_at, 1 if deleted_at else 0))
        for _ in range(2):
            actions.append((u, "create", created))
        if rng.random() < 0.2:
            faults.append((u, 500, created, deleted_at, 1 if deleted_at else 0))
    _insert(cur, f"{schema}.instance_system_metadata",
            ["instance_uuid", "key", "value", "created_at", "deleted_at", "deleted"], ism)
    _insert(cur, f"{schema}.instance_extra", ["instance_uuid", "created_at", "deleted_at", "deleted"], extra)
    _insert(cur, f"{schema}.instance_info_caches", ["instance_uuid", "created_at", "deleted_at", "deleted"], caches)
    _insert(cur, f"{schema}.block_device_mapping", ["instance_uuid", "created_at", "deleted_at", "deleted"], bdms)
    _insert(cur, f"{schema}.instance_metadata",
            ["instance_uuid", "key", "value", "created_at", "deleted_at", "deleted"], meta)
    _insert(cur, f"{schema}.instance_faults", ["instance_uuid", "code", "created_at", "deleted_at", "deleted"],
            faults)
    _insert(cur, f"{schema}.instance_actions", ["instance_uuid", "action", "start_time"], actions)
    cur.execute(f"UPDATE {schema}.instance_actions a JOIN {schema}.instances i ON i.uuid = a.instance_uuid "
                "SET a.created_at = i.created_at, a.deleted = 0")
    cur.execute(f"INSERT INTO {schema}.instance_actions_events (event, action_id, created_at, deleted) "
                f"SELECT 'compute__do_build', id, created_at, 0 FROM {schema}.instance_actions")
    # Soft-delete marks `deleted = id` (oslo.db); the rows flagged 1 above get their own id now.
    for table in ("instance_system_metadata", "instance_info_caches", "block_device_mapping", "instance_metadata",
                  "instance_faults"):
        cur.execute(f"UPDATE {schema}.{table} SET deleted = id WHERE deleted = 1")


def _unrelated_parents(cur: pymysql.cursors.Cursor, now: datetime) -> None:
    """Non-instance parents: a deleted compute node with (undeleted) PCI devices, a deleted security group
    with rules, a deleted quota usage with reservations, a deleted service, a task_log row, and rows archived
    (and never purged) earlier."""
    old = now - timedelta(days=400)
    cur.execute("INSERT INTO nova.compute_nodes (vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, "
                "local_gb_used, hypervisor_type, hypervisor_version, cpu_info, host, hypervisor_hostname, "
                "created_at, deleted_at, deleted) VALUES "
                "(8, 1024, 10, 0, 0, 0, 'QEMU', 1, '{}', 'c1', 'c1', %s, NULL, 0), "
                "(8, 1024, 10, 0, 0, 0, 'QEMU', 1, '{}', 'c2', 'c2', %s, %s, 0)", (old, old, old))
    cur.execute("UPDATE nova.compute_nodes SET deleted = id WHERE deleted_at IS NOT NULL")
    cur.execute("SELECT id FROM nova.compute_nodes WHERE host = 'c2'")
    node = cur.fetchone()[0]  # type: ignore[index]
    _insert(cur, "nova.pci_devices", ["compute_node_id", "address", "product_id", "vendor_id", "dev_type", "label",
                                      "status", "created_at", "deleted"],
            [(node, f"0000:0{i}:00.0", "1111", "8086", "type-PCI", "l", "available", old, 0) for i in range(3)])
    # A deleted nova-network security group without rules (with rules nova's archive crashes: see
    # test_archive_blocked_by_security_group_rules).
    cur.execute("INSERT INTO nova.security_groups (name, project_id, created_at, deleted_at, deleted) VALUES "
                "('old', 'p', %s, %s, 0), ('live', 'p', %s, NULL, 0)", (old, old, old))
    cur.execute("UPDATE nova.security_groups SET deleted = id WHERE deleted_at IS NOT NULL")
    cur.execute("INSERT INTO nova.security_group_rules (parent_group_id, protocol, created_at, deleted) "
                "SELECT id, 'tcp', created_at, 0 FROM nova.security_groups WHERE deleted = 0")
    cur.execute("INSERT INTO nova.quota_usages (resource, in_use, reserved, created_at, deleted_at, deleted) "
                "VALUES ('cores', 0, 0, %s, %s, 0)", (old, old))
    usage = cur.lastrowid
    cur.execute("UPDATE nova.quota_usages SET deleted = id")
    _insert(cur, "nova.reservations", ["uuid", "usage_id", "delta", "created_at", "deleted"],
            [(str(uuidlib.uuid4()), usage, 1, old, 0) for _ in range(4)])
    cur.execute("INSERT INTO nova.services (host, `binary`, topic, report_count, created_at, deleted_at, deleted) "
                "VALUES ('c2', 'nova-compute', 'compute', 0, %s, %s, 0)", (old, old))
    cur.execute("UPDATE nova.services SET deleted = id WHERE deleted_at IS NOT NULL")
    cur.execute("INSERT INTO nova.task_log (task_name, state, host, period_beginning, period_ending, message, "
                "created_at, updated_at, deleted) VALUES ('instance_usage_audit', 'DONE', 'c1', %s, %s, 'ok', %s, "
                "%s, 0)", (old, old, old, old))
    # Archived by an earlier run and never purged: ids far above the live range so archiving cannot collide.
    _insert(cur, "nova.shadow_instances", ["id", "uuid", "created_at", "deleted_at", "deleted"],
            [(10_000_000 + i, str(uuidlib.uuid4()), old, old, 10_000_000 + i) for i in range(25)])


def _other_service(cur: pymysql.cursors.Cursor, now: datetime, rng: random.Random) -> None:
    """A glance-like schema: boolean `deleted`, string primary key."""
    cur.execute("CREATE DATABASE glance")
    cur.execute("CREATE TABLE glance.images (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255), created_at DATETIME, "
                "deleted_at DATETIME, deleted TINYINT(1) NOT NULL) ENGINE=InnoDB")
    rows = []
    for i in range(300):
        dead = i % 3 != 0
        rows.append((str(uuidlib.UUID(int=rng.getrandbits(128))), f"img{i}", now - timedelta(days=500),
                     now - timedelta(days=200) if dead else None, 1 if dead else 0))
    _insert(cur, "glance.images", ["id", "name", "created_at", "deleted_at", "deleted"], rows)


BLOATED_INSTANCES, BLOATED_DELETED = 11_000, 10_200


def add_bloated_cell(server: MariaDB, now: datetime) -> None:
    """`nova_cell2`: a cell schema (not in cell_mappings) whose instances are 93 % soft-deleted, above
    DB-001's 10,000-row ratio threshold. Built from nova's own table definitions."""
    server.sql(
        "CREATE DATABASE nova_cell2",
        "CREATE TABLE nova_cell2.instances LIKE nova.instances",
        "CREATE TABLE nova_cell2.shadow_instances LIKE nova.shadow_instances",
        f"INSERT INTO nova_cell2.instances (uuid, created_at, deleted, deleted_at) "
        f"SELECT UUID(), '{now - timedelta(days=900):%Y-%m-%d}', 0, NULL FROM nova_cell2.seq_1_to_{BLOATED_INSTANCES}",
        f"UPDATE nova_cell2.instances SET deleted = id, deleted_at = created_at + INTERVAL (id % 500) DAY "
        f"ORDER BY id LIMIT {BLOATED_DELETED}",
        "ANALYZE TABLE nova_cell2.instances",
    )


def checksums(server: MariaDB, schemas: Iterable[str]) -> dict[str, object]:
    """CHECKSUM TABLE of every base table in `schemas` (changes with any row change)."""
    names = server.sql("SELECT CONCAT('`', table_schema, '`.`', table_name, '`') FROM information_schema.tables "
                       "WHERE table_type = 'BASE TABLE' AND table_schema IN ("
                       + ", ".join(f"'{s}'" for s in schemas) + ") ORDER BY 1")
    out: dict[str, object] = {}
    for (name,) in names:
        for row in server.sql(f"CHECKSUM TABLE {name}"):
            out[str(row[0])] = row[1]
    return out


# -- reading reports ---------------------------------------------------------------------------------------
def results_of(report: object, check_id: str, host: str | None = None) -> list[object]:
    from stackrx.models import ScanReport

    assert isinstance(report, ScanReport)
    return [r for r in report.results if r.check_id == check_id and (host is None or r.host == host)]


@dataclass
class NovaDB:
    server: MariaDB
    nova: Nova
    shape: Shape
    now: datetime

    @property
    def before(self) -> str:
        """The archive cut-off every test uses (stackrx's default: 90 days before now)."""
        return f"{(self.now - timedelta(days=90)):%Y-%m-%d}"

    @property
    def api_url(self) -> str:
        return self.server.url("nova_api")
