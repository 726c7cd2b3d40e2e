"""DB-001 on nova's real schema filled with live and soft-deleted rows, and its thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from dbfixtures import BLOATED_DELETED, BLOATED_INSTANCES, NovaDB, checksums, results_of

from stackrx.cli import cli
from stackrx.cloud.db.counting import EXACT, Measured
from stackrx.cloud.db.inventory import Table
from stackrx.cloud.db.runner import run_db
from stackrx.cloud.db.server import DbOptions
from stackrx.cloud.db.softdeleted import SchemaStats, TableStat, schema_findings
from stackrx.models import ScanReport, Severity, Status


@pytest.fixture(scope="module")
def report(nova_db: NovaDB) -> ScanReport:
    return run_db([nova_db.api_url], DbOptions(), only=["DB-001"])


def test_bloated_cell_fails_high(report: ScanReport, nova_db: NovaDB) -> None:
    host = f"127.0.0.1:{nova_db.server.port}"
    failing = [r for r in results_of(report, "DB-001", host) if r.status is Status.fail]
    assert [(r.resource, r.severity) for r in failing] == [("nova_cell2.instances", Severity.high)], failing
    msg = failing[0].message
    assert f"{BLOATED_DELETED:,} of {BLOATED_INSTANCES:,} instances are soft-deleted" in msg
    ev = failing[0].evidence[0]
    assert ev.source == f"sql:{host}/nova_cell2.instances" and "[exact]" in ev.excerpt
    # The remediation is the concrete plan: backup, archive with the counts, purge.
    texts = [s.text for s in failing[0].remediation]
    assert "Back up" in texts[0] and "Predicted:" in texts[1] and "nova_cell2.instances" in texts[1]


def test_counts_per_cell_and_service(report: ScanReport, nova_db: NovaDB) -> None:
    facts = report.hosts[0].facts
    assert facts["cells"] == {"nova": "cell1", "nova_cell0": "cell0"}
    sd = facts["soft_deleted"]
    assert set(sd) == {"nova", "nova_cell0", "nova_cell2", "glance"}  # nova_api has no `deleted` column
    cell1 = sd["nova"]["tables"]
    assert cell1["instances"]["soft_deleted"] == nova_db.shape.soft_deleted_instances["nova"]
    assert cell1["instances"]["total"] == nova_db.shape.instances["nova"]
    ism = cell1["instance_system_metadata"]
    assert ism["total"] == nova_db.shape.ism_rows == 100_000
    # 100 live instances x 2 old rows + 300 deleted instances x 245 (5 residue rows each stay undeleted).
    assert ism["soft_deleted"] == 100 * 2 + 300 * 245
    assert ism["method"] == EXACT
    assert sd["nova"]["shadow"]["shadow_instances"]["rows"] == 25
    assert sd["glance"]["tables"]["images"]["soft_deleted"] == 200  # boolean deleted column counts too
    oldest = datetime.fromisoformat(cell1["instances"]["oldest_deleted_at"])
    assert nova_db.now - timedelta(days=701) <= oldest <= nova_db.now - timedelta(days=120)
    assert report.hosts[0].metrics["db.nova.soft_deleted_rows"] > 70_000


def test_summary_names_ec2_tokens_and_release(report: ScanReport) -> None:
    summaries = {r.resource: r.message for r in results_of(report, "DB-001") if r.status is Status.passed}
    assert "400 EC2_client_token rows" in summaries["nova"]
    assert "nova 24.0.0 (Xena) or later" in summaries["nova"]
    assert "(exact counts)" in summaries["nova"]
    assert summaries["glance"].startswith("glance: 200 soft-deleted rows")


def test_big_tables_are_sampled_not_scanned(nova_db: NovaDB) -> None:
    report = run_db([nova_db.api_url], DbOptions(exact_limit=50_000), only=["DB-001"])
    ism = report.hosts[0].facts["soft_deleted"]["nova"]["tables"]["instance_system_metadata"]
    assert ism["method"].startswith("estimated: ") and "windows" in ism["method"]
    true_dead = 100 * 2 + 300 * 245
    # Deleted rows come in runs of 250 (one instance): 20 windows still land within 15 %.
    assert abs(ism["soft_deleted"] - true_dead) <= 0.15 * true_dead, ism
    assert abs(ism["total"] - 100_000) <= 0.02 * 100_000, ism
    small = report.hosts[0].facts["soft_deleted"]["nova"]["tables"]["instances"]
    assert small["method"] == EXACT
    summary = next(r for r in results_of(report, "DB-001") if r.resource == "nova")
    assert "estimated or not counted" in summary.message


# -- thresholds, on synthetic measurements -----------------------------------------------------------------
def _table(name: str, schema: str = "nova") -> Table:
    return Table(schema, name, "InnoDB", "BASE TABLE", 0, 0, frozenset({"id", "deleted", "deleted_at"}), ("id",), "id")


def _stats(kind: str = "nova-cell", shadow_rows: int = 0, **tables: tuple[int, int]) -> SchemaStats:
    now = datetime(2026, 12, 1)
    stats = tuple(TableStat(_table(n), Measured(f"nova.{n}", total, (dead, now - timedelta(days=200)), EXACT),
                            True, False) for n, (total, dead) in tables.items())
    shadow = (Measured("nova.shadow_instances", shadow_rows, (), EXACT),)
    return SchemaStats("db:3306", "nova", kind, "cell1", now, stats, shadow, None)


@pytest.mark.parametrize(("total", "dead", "expected"), [
    (200_000, 100_000, [Severity.high]),  # 100,000 soft-deleted: high whatever the ratio
    (110_000, 99_999, [Severity.high]),  # >= 10,000 at >= 90 %
    (11_200, 10_080, [Severity.high]),  # exactly 90 %
    (11_000, 9_900, []),  # 90 % but fewer than 10,000 rows
    (20_000, 10_000, []),  # 50 %: ordinary churn
])
def test_instances_thresholds(total: int, dead: int, expected: list[Severity]) -> None:
    findings = schema_findings(_stats(instances=(total, dead)))
    assert [f.severity for f in findings if f.resource == "nova.instances"] == expected


def test_system_metadata_and_shadow_thresholds() -> None:
    findings = schema_findings(_stats(shadow_rows=1_000_000, instance_system_metadata=(3_000_000, 1_000_000)))
    by_resource = {f.resource: f.severity for f in findings}
    assert by_resource == {"nova.instance_system_metadata": Severity.high, "nova.shadow_*": Severity.medium}
    quiet = schema_findings(_stats(shadow_rows=999_999, instance_system_metadata=(3_000_000, 999_999)))
    assert quiet == []


def test_other_services_get_a_generic_medium() -> None:
    findings = schema_findings(_stats(kind="other", images=(2_000_000, 1_500_000)))
    assert [(f.resource, f.severity) for f in findings] == [("nova.images", Severity.medium)]
    # nova's instance rules do not apply to another service's tables.
    assert schema_findings(_stats(kind="other", instances=(200_000, 150_000))) == []


def test_checks_and_plans_leave_every_table_unchanged(nova_db: NovaDB) -> None:
    """Reading is the default: every DB check, exact and estimated counts and the archive plan change no row."""
    schemas = ("nova_api", "nova", "nova_cell0", "nova_cell2", "glance")
    before = checksums(nova_db.server, schemas)
    assert len(before) > 200  # nova's real schema: every base table of the API and cell databases
    for count in ("auto", "exact", "estimate"):
        run_db([nova_db.api_url], DbOptions(count=count))
    out = CliRunner().invoke(cli, ["db", nova_db.api_url, "--plan", "--count", "exact"])
    assert out.exit_code in (0, 3), out.output
    assert "archive_deleted_rows" in out.output
    assert checksums(nova_db.server, schemas) == before
