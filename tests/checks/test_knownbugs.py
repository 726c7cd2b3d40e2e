from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stackrx.checks import knownbugs
from stackrx.demo.builder import NodeTree
from stackrx.models import Result, Severity, Status
from testkit import COMPUTE4, failing, scan_dir, scan_tree

DPKG_HEADER = """Desired=Unknown/Install/Remove/Purge/Hold
| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend
|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)
||/ Name           Version                  Architecture Description
+++-==============-========================-============-=================================
ii  bash           5.0-6ubuntu1.1           amd64        GNU Bourne Again SHell
"""

# A table of our own, so these tests pin the check's logic and not the advisories of the day.
TABLE: dict[str, Any] = {"entries": [{
    "id": "TEST-1", "project": "demo", "title": "demo flaw", "severity": "critical",
    "link": "https://example.org/advisory", "advice": "upgrade demo",
    "packages": {"deb": ["demo-common"], "rpm": ["demo-common"]},
    "affected": [
        {"scheme": "upstream", "introduced": "0", "fixed": "2.0.0"},
        {"scheme": "deb", "distro": "ubuntu focal", "introduced": "2:3.0", "fixed": "2:3.0.1-1ubuntu0.2"},
        {"scheme": "rpm", "distro": "el9", "introduced": "3.0", "fixed": "1:3.0.1-2.el9"},
    ],
}]}


@pytest.fixture
def demo_table(monkeypatch: pytest.MonkeyPatch) -> None:
    entries, errors = knownbugs.parse_table(TABLE)
    assert not errors
    monkeypatch.setattr(knownbugs, "load_table", lambda: (entries, errors))


def _deb(tmp_path: Path, version: str) -> list[Result]:
    node = NodeTree("cmp-1")
    row = f"ii  demo-common    {version:<24} all          demo\n"
    node.file("sos_commands/dpkg/dpkg_-l", DPKG_HEADER + row)
    return scan_tree(node, tmp_path, "UPG-007")


def _rpm(tmp_path: Path, nevra: str) -> list[Result]:
    node = NodeTree("cmp-1")
    node.file("installed-rpms", "bash-5.1.8-9.el9.x86_64                                     Mon 30 Nov 2026\n"
              f"{nevra:<59} Mon 30 Nov 2026\n")
    return scan_tree(node, tmp_path, "UPG-007")


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def test_affected_upstream_version_fails_with_entry_severity(tmp_path: Path, demo_table: None) -> None:
    r = _one(failing(_deb(tmp_path, "2:1.5-0ubuntu1")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.critical, "TEST-1")
    assert "demo flaw" in r.message and "fixed upstream in 2.0.0" in r.message and "changelog" in r.message
    assert "https://example.org/advisory" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("sos_commands/dpkg/dpkg_-l", 7)
    assert "demo-common 2:1.5-0ubuntu1" in r.evidence[0].excerpt


def test_fixed_upstream_version_passes(tmp_path: Path, demo_table: None) -> None:
    r = _one(_deb(tmp_path, "2:2.0.0-0ubuntu1"))
    assert r.status is Status.passed and "none in an affected range" in r.message


def test_lower_epoch_is_below_the_distro_range(tmp_path: Path, demo_table: None) -> None:
    # 1:3.0.1 sorts before 2:3.0 in dpkg order although its upstream number is higher.
    assert _one(_deb(tmp_path, "1:3.0.1-1ubuntu0.1")).status is Status.passed


def test_tilde_backport_build_is_still_affected(tmp_path: Path, demo_table: None) -> None:
    # Cloud-archive style `~cloud0` sorts before the plain fixed build in dpkg order.
    r = _one(failing(_deb(tmp_path, "2:3.0.1-1ubuntu0.2~cloud0")))
    assert "fixed in 2:3.0.1-1ubuntu0.2 for ubuntu focal" in r.message


def test_exact_distro_fix_passes(tmp_path: Path, demo_table: None) -> None:
    assert _one(_deb(tmp_path, "2:3.0.1-1ubuntu0.2")).status is Status.passed


def test_rpm_nevra_below_fixed_release_fails(tmp_path: Path, demo_table: None) -> None:
    r = _one(failing(_rpm(tmp_path, "demo-common-3.0.1-1.el9.noarch")))
    assert r.severity is Severity.critical and "fixed in 1:3.0.1-2.el9 for el9" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("installed-rpms", 2)


@pytest.mark.parametrize("nevra", ["demo-common-3.0.1-2.el9.noarch", "demo-common-3.0.1-10.el9.x86_64"])
def test_rpm_fixed_or_later_release_passes(tmp_path: Path, demo_table: None, nevra: str) -> None:
    # -10 is after -2 in rpm order (numeric segments), not before as a string compare would say.
    assert _one(_rpm(tmp_path, nevra)).status is Status.passed


def test_no_package_list_is_skipped(tmp_path: Path, demo_table: None) -> None:
    r = _one(scan_tree(NodeTree("cmp-1"), tmp_path, "UPG-007"))
    assert r.status is Status.skipped


# -- the real table ---------------------------------------------------------------------------------------
def test_whole_table_is_valid() -> None:
    raw = yaml.safe_load(knownbugs.DATA_FILE.read_text())
    entries, errors = knownbugs.parse_table(raw)
    assert errors == ()
    assert len(entries) == len(raw["entries"]) >= 7
    for entry in entries:
        assert entry.link.startswith("https://") and entry.advice and entry.title
        assert entry.severity in Severity
        for rng in entry.affected:
            for family in knownbugs._SCHEME_FAMILIES[rng.scheme]:
                low = knownbugs.parse_version(rng.introduced, family)
                assert knownbugs.parse_version(rng.fixed, family) > low, (entry.id, rng)


@pytest.mark.parametrize(("row", "fragment"), [
    ({"link": None}, "`link` must be a non-empty string"),
    ({"link": "http://insecure"}, "https"),
    ({"severity": "severe"}, "severity 'severe'"),
    ({"affected": [{"scheme": "upstream", "introduced": "2.0", "fixed": "1.0"}]}, "not above introduced"),
    ({"affected": [{"scheme": "deb", "introduced": "0", "fixed": "1.0"}]}, "must name its `distro`"),
    ({"affected": [{"scheme": "deb", "distro": "x", "introduced": "0", "fixed": "1.0^post"}]}, "not a valid"),
    ({"packages": {"apk": ["x"]}}, "not deb or rpm"),
])
def test_malformed_row_is_reported_not_raised(row: dict[str, Any], fragment: str) -> None:
    bad = {**TABLE["entries"][0], "id": "BAD", **row}
    entries, errors = knownbugs.parse_table({"entries": [bad, TABLE["entries"][0]]})
    assert [e.id for e in entries] == ["TEST-1"]
    assert len(errors) == 1 and fragment in errors[0] and "BAD" in errors[0]


def test_malformed_table_does_not_break_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "known_bugs.yaml"
    bad = {**TABLE["entries"][0], "id": "BAD", "severity": "severe"}
    path.write_text(yaml.safe_dump({"entries": [bad, TABLE["entries"][0]]}))
    monkeypatch.setattr(knownbugs, "DATA_FILE", path)
    knownbugs.load_table.cache_clear()
    try:
        r = _one(failing(_deb(tmp_path / "node", "2:1.5-0ubuntu1")))
        assert r.resource == "TEST-1"
    finally:
        knownbugs.load_table.cache_clear()


@pytest.mark.skipif(not COMPUTE4.exists(), reason="real sosreport not present")
def test_compute4_focal_ussuri_node() -> None:
    found = {r.resource: r for r in failing(scan_dir(COMPUTE4, "UPG-007"))}
    assert set(found) == {"CVE-2023-2088-nova", "CVE-2023-2088-os-brick", "CVE-2026-46448-nova",
                          "CVE-2026-24708-nova"}
    nova = found["CVE-2023-2088-nova"]
    assert nova.severity is Severity.high and "python3-nova 2:21.2.3-0ubuntu1" in nova.message
    assert {e.source for e in nova.evidence} == {"sos_commands/dpkg/dpkg_-l"}
    # ceph-common 15.2.14 is past the Octopus fix (15.2.11): no finding.
    assert "CVE-2021-20288-ceph" not in found
