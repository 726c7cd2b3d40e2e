"""Session fixtures for the database tests: one MariaDB with nova's real schema and data, one Galera cluster.

A component that cannot be had fails the run when CI=true and skips (with the reason) elsewhere.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from dbfixtures import (
    ComponentMissing,
    GaleraCluster,
    MariaDB,
    NovaDB,
    add_bloated_cell,
    create_nova_schema,
    ensure_mariadb,
    fill_nova,
    free_ports,
    nova_venv,
    utcnow,
)

ARCHIVING_MODULE = "test_db_archive_plan.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The archive tests let nova-manage move and purge the shared data set for real: they run last, so every
    other test sees the data as filled (restoring 250 tables would cost more than the archive itself)."""
    items.sort(key=lambda item: item.path.name == ARCHIVING_MODULE)


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required test component missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mariadb_installed() -> None:
    try:
        ensure_mariadb()
    except ComponentMissing as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def mariadb(mariadb_installed: None) -> Iterator[MariaDB]:
    server = MariaDB.create("stackrx-mariadb-", port=free_ports(1)[0])
    try:
        server.start()
        server.wait_ready()
        server.add_read_only_user()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def nova_db(mariadb: MariaDB, tmp_path_factory: pytest.TempPathFactory) -> NovaDB:
    try:
        venv = nova_venv()
    except ComponentMissing as exc:
        unavailable(str(exc))
        raise
    work = tmp_path_factory.mktemp("nova")
    nova = create_nova_schema(mariadb, venv, work)
    now = utcnow()
    shape = fill_nova(mariadb, now)
    add_bloated_cell(mariadb, now)
    # Fresh statistics, as a server that has been running a while has them.
    mariadb.sql("ANALYZE TABLE nova.instances, nova.instance_system_metadata, nova_cell0.instances")
    return NovaDB(mariadb, nova, shape, now)


@pytest.fixture(scope="session")
def galera(mariadb_installed: None, nova_db: NovaDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        GaleraCluster]:
    cluster = GaleraCluster()
    try:
        cluster.start()
        # nova's real schema (structure made by its own migrations on the single server), on the cluster.
        schema = tmp_path_factory.mktemp("galera") / "nova-schema.sql"
        with schema.open("w") as fh:
            subprocess.run(["mysqldump", "-h", "127.0.0.1", "-P", str(nova_db.server.port), "-uroot", "--no-data",
                            "--databases", "nova_api", "nova", "nova_cell0"], stdout=fh, check=True, timeout=120)
        with schema.open() as fh:
            subprocess.run(["mariadb", "-h", "127.0.0.1", "-P", str(cluster.nodes[0].port), "-uroot"], stdin=fh,
                           check=True, timeout=120)
        yield cluster
    finally:
        cluster.destroy()
