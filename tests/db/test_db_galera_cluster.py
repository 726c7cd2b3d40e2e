"""DB-003 / DB-005 / DB-F01 against a real three-node Galera cluster on loopback."""

from __future__ import annotations

import pytest
from dbfixtures import GaleraCluster, results_of

from stackrx.cloud.db.runner import run_db
from stackrx.cloud.db.server import DbOptions
from stackrx.models import ScanReport, Severity, Status


def scan(cluster: GaleraCluster, *checks: str) -> ScanReport:
    return run_db(cluster.urls(), DbOptions(), only=list(checks))


def host(cluster: GaleraCluster, i: int) -> str:
    return f"127.0.0.1:{cluster.nodes[i].port}"


@pytest.fixture
def healthy(galera: GaleraCluster) -> GaleraCluster:
    galera.ensure_healthy()
    return galera


def test_healthy_cluster_passes(healthy: GaleraCluster) -> None:
    report = scan(healthy, "DB-003", "DB-F01", "DB-005")
    for i in range(3):
        db003 = results_of(report, "DB-003", host(healthy, i))
        assert [r.status for r in db003] == [Status.passed], db003
        assert "Primary, Synced, ready ON, connected ON, size 3 of 3" in db003[0].message
    f01 = results_of(report, "DB-F01")
    assert [r.status for r in f01] == [Status.passed], f01
    assert "3 of 3 members agree" in f01[0].message
    # nova's own schema (loaded on the cluster) has a primary key on every table, all InnoDB; checked once.
    db005 = results_of(report, "DB-005")
    assert [r.status for r in db005 if r.host == host(healthy, 0)] == [Status.passed]
    assert sum(1 for r in db005 if r.status is Status.skipped and "same Galera cluster" in r.message) == 2


def test_desynced_member_warns(healthy: GaleraCluster) -> None:
    node = healthy.nodes[1]
    node.server.sql("SET GLOBAL wsrep_desync = ON")
    try:
        report = scan(healthy, "DB-003", "DB-F01")
    finally:
        node.server.sql("SET GLOBAL wsrep_desync = OFF")
    db003 = results_of(report, "DB-003", host(healthy, 1))
    assert [(r.status, r.severity) for r in db003] == [(Status.warn, Severity.medium)], db003
    assert "Donor/Desynced" in db003[0].message and "wsrep_desync=ON" in db003[0].message
    assert all(r.status is Status.passed for r in results_of(report, "DB-003", host(healthy, 0)))
    # Still one component: the members agree.
    assert [r.status for r in results_of(report, "DB-F01")] == [Status.passed]


def test_stopped_member_fails(healthy: GaleraCluster) -> None:
    stopped = healthy.nodes[2]
    stopped.server.stop()
    healthy.wait_size(healthy.nodes[0], 2)
    report = scan(healthy, "DB-003", "DB-F01")
    for i in (0, 1):
        db003 = results_of(report, "DB-003", host(healthy, i))
        assert [(r.status, r.severity, r.resource) for r in db003] == [
            (Status.fail, Severity.high, "wsrep_cluster_size")], db003
        assert "size is 2 of 3" in db003[0].message
    down = results_of(report, "DB-003", host(healthy, 2))
    assert [(r.status, r.severity) for r in down] == [(Status.fail, Severity.critical)]
    assert "does not answer" in down[0].message
    f01 = results_of(report, "DB-F01")
    assert [(r.status, r.severity, r.resource) for r in f01] == [(Status.fail, Severity.high, "members")], f01
    assert host(healthy, 2) in f01[0].message


def test_double_bootstrap_is_critical(healthy: GaleraCluster) -> None:
    rogue = healthy.nodes[2]
    healthy.bootstrap_alone(rogue)
    healthy.wait_size(healthy.nodes[0], 2)
    report = scan(healthy, "DB-003", "DB-F01")
    f01 = results_of(report, "DB-F01")
    critical = [r for r in f01 if r.severity is Severity.critical]
    assert critical and critical[0].status is Status.fail, f01
    assert "2 Primary components" in critical[0].message or "2 independent clusters" in critical[0].message
    rogue_health = {r.resource: r for r in results_of(report, "DB-003", host(healthy, 2))}
    assert rogue_health["wsrep_cluster_address"].severity is Severity.high  # empty gcomm://
    assert all(r.severity is Severity.high for r in results_of(report, "DB-003", host(healthy, 0)))


def test_unsafe_tables_on_galera(healthy: GaleraCluster) -> None:
    node = healthy.nodes[0].server
    node.sql("CREATE DATABASE legacy", "CREATE TABLE legacy.nokey (a INT, b VARCHAR(10)) ENGINE=InnoDB",
             "CREATE TABLE legacy.myisam (id INT PRIMARY KEY) ENGINE=MyISAM")
    try:
        report = scan(healthy, "DB-005")
    finally:
        node.sql("DROP DATABASE legacy")
    db005 = {r.resource: r for r in results_of(report, "DB-005", host(healthy, 0))}
    assert db005["legacy.nokey"].status is Status.warn and db005["legacy.nokey"].severity is Severity.medium
    assert db005["legacy.myisam"].status is Status.fail and db005["legacy.myisam"].severity is Severity.high
    assert "MyISAM" in db005["legacy.myisam"].message
    assert len(db005) == 2, sorted(db005)
