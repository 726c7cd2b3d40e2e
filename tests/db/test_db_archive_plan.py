"""The archive plan's predicted rows against what nova-manage really archives and purges (nova's own code)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
from dbfixtures import NovaDB

from stackrx.cloud.db.runner import run_db
from stackrx.cloud.db.server import DbOptions
from stackrx.models import ScanReport, StepKind

MAPPED = ("cell0.", "cell1.", "API_DB.")  # nova-manage --all-cells archives the cells of cell_mappings only
_PURGED = re.compile(r"Deleted (\d+) rows from (\S+) based on timestamp column")


def plan_report(db: NovaDB) -> ScanReport:
    return run_db([db.api_url], DbOptions(before=date.fromisoformat(db.before)), only=["DB-001"])


def predicted(report: ScanReport) -> tuple[dict[str, int], int]:
    moves: dict[str, int] = {}
    purge = 0
    for host in report.hosts:
        for plan in host.facts.get("archive_plan", []):
            if not plan["cell"]:
                continue
            for key, move in plan["moves"].items():
                moves[key] = move["moved"]
                purge += move["purged"]
            for key, n in plan["api_deletes"].items():
                moves[key] = moves.get(key, 0) + n
            purge += sum(plan["shadow_purge"].values())
    return moves, purge


@dataclass
class ArchiveRun:
    report: ScanReport
    exit_code: int
    moved: dict[str, int]
    purged: int


@pytest.fixture(scope="module")
def archive_run(nova_db: NovaDB) -> ArchiveRun:
    """Predict, then let nova-manage archive and purge for real (this module runs last: see conftest)."""
    report = plan_report(nova_db)
    code, moved = nova_db.nova.archive(nova_db.before)
    purge = nova_db.nova.manage("db", "purge", "--before", nova_db.before, "--all-cells", "--verbose")
    assert purge.returncode == 0, purge.stdout + purge.stderr[-2000:]
    purged = sum(int(m.group(1)) for m in _PURGED.finditer(purge.stdout))
    return ArchiveRun(report, code, moved, purged)


def test_prediction_matches_what_nova_archives(archive_run: ArchiveRun, nova_db: NovaDB) -> None:
    expected, _ = predicted(archive_run.report)
    assert archive_run.exit_code == 1  # 1 = rows were archived
    # Every table nova printed, with the same count (cells through cell_mappings, API-DB clean-up included).
    assert archive_run.moved == expected
    # The unmapped cell schema is planned too, and the plan says nova-manage will not reach it.
    cell2 = [p for h in archive_run.report.hosts for p in h.facts["archive_plan"] if p["schema"] == "nova_cell2"]
    assert cell2 and cell2[0]["moves"]["nova_cell2.instances"]["moved"] > 0
    # The data set exercises every rule: own rows, children moved with their instance whatever their state,
    # nested children (events of actions), non-instance parents, and the API DB clean-up.
    for key in ("cell1.instances", "cell1.instance_extra", "cell1.instance_actions_events", "cell1.pci_devices",
                "cell1.reservations", "cell0.instances", "API_DB.instance_mappings", "API_DB.request_specs",
                "API_DB.instance_group_member"):
        assert expected.get(key), key
    plan = archive_run.report.hosts[0].facts["archive_plan"][0]
    ism = plan["moves"]["cell1.instance_system_metadata"]
    assert ism["moved"] > ism["own"], "residue rows of archived instances move although not soft-deleted"
    assert plan["exact"] is True


def test_prediction_matches_what_nova_purges(archive_run: ArchiveRun) -> None:
    _, expected = predicted(archive_run.report)
    assert archive_run.purged == expected > 0


def test_plan_steps_are_backup_then_archive_then_purge(archive_run: ArchiveRun, nova_db: NovaDB) -> None:
    steps = archive_run.report.hosts[0].facts["archive_steps"]
    assert [s["kind"] for s in steps] == [StepKind.safe.value, StepKind.destructive.value,
                                          StepKind.destructive.value]
    assert steps[0]["commands"][0].startswith("mysqldump ") and "--single-transaction" in steps[0]["commands"][0]
    assert steps[1]["commands"] == [f"nova-manage db archive_deleted_rows --before {nova_db.before} --until-complete "
                                    "--max_rows 1000 --all-cells --verbose"]
    assert steps[2]["commands"] == [f"nova-manage db purge --before {nova_db.before} --all-cells --verbose"]
    assert "cell1.instance_system_metadata" in steps[1]["text"] and "API_DB.instance_mappings" in steps[1]["text"]


def test_kolla_plan_runs_in_containers(nova_db: NovaDB) -> None:
    report = run_db([nova_db.api_url], DbOptions(kolla=True), only=["DB-001"])
    commands = [c for s in report.hosts[0].facts["archive_steps"] for c in s["commands"]]
    assert commands[0].startswith("docker exec mariadb mysqldump")
    assert all(c.startswith("docker exec nova_api nova-manage db ") for c in commands[1:])


def test_archive_blocked_by_security_group_rules(archive_run: ArchiveRun, nova_db: NovaDB) -> None:
    """nova's FK walk lists security_group_rules once per foreign key to security_groups: the plan says so
    before nova-manage aborts on it. Runs after the real archive, so only this group is left to archive."""
    nova_db.server.sql(
        "INSERT INTO nova.security_groups (name, project_id, created_at, deleted_at, deleted) "
        "VALUES ('gone', 'p', '2024-01-01', '2024-01-02', 0)",
        "UPDATE nova.security_groups SET deleted = id WHERE name = 'gone'",
        "INSERT INTO nova.security_group_rules (parent_group_id, protocol, created_at, deleted) "
        "SELECT id, 'tcp', created_at, 0 FROM nova.security_groups WHERE name = 'gone'")
    report = plan_report(nova_db)
    plan = next(p for p in report.hosts[0].facts["archive_plan"] if p["schema"] == "nova")
    assert any("security_group_rules" in b and "DBDuplicateEntry" in b for b in plan["blockers"]), plan
    steps = report.hosts[0].facts["archive_steps"]
    assert steps[1]["kind"] == "SAFE" and "DBDuplicateEntry" in steps[1]["text"]
    proc = nova_db.nova.manage("db", "archive_deleted_rows", "--before", nova_db.before, "--until-complete",
                               "--all-cells")
    assert proc.returncode == 255 and "DBDuplicateEntry" in proc.stdout + proc.stderr
