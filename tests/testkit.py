"""Shared test helpers: build a node tree, scan it, look at one check's results.

A module of its own, not conftest: several test folders have a conftest.py, and `from conftest import`
would pick whichever of them was imported first.
"""

from __future__ import annotations

from pathlib import Path

from stackrx.demo.builder import NodeTree
from stackrx.engine import load_all_checks, scan_host, select_checks
from stackrx.models import Result, Status
from stackrx.sources.sosreport import SosReportView

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
COMPUTE4 = REALDATA / "hotsos" / "openstack-compute4-sosreport"


def scan_tree(tree: NodeTree, root: Path, *check_ids: str) -> list[Result]:
    """Write `tree` under `root` as a sosreport and run the named checks on it."""
    tree.write(root)
    return scan_dir(root, *check_ids)


def scan_dir(root: Path, *check_ids: str) -> list[Result]:
    checks = select_checks(load_all_checks(), only=check_ids)
    assert checks, f"no registered check matches {check_ids}"
    return scan_host(SosReportView(root), checks)


def statuses(results: list[Result]) -> set[Status]:
    return {r.status for r in results}


def failing(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status in (Status.fail, Status.warn)]
