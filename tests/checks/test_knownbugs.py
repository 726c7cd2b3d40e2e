from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackrx.checks import knownbugs
from stackrx.demo.builder import NodeTree
from stackrx.models import Result, Severity, Status
from stackrx.sources.sosreport import SosReportView
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
    "link": "https://example.org/advisory", "published": "2021-06-01", "advice": "upgrade demo",
    "packages": {"deb": ["demo-common"], "rpm": ["demo-common"]},
    "affected": [
        {"scheme": "upstream", "introduced": "0", "fixed": "2.0.0"},
        {"scheme": "deb", "distro": "ubuntu focal", "introduced": "2:3.0", "fixed": "2:3.0.1-1ubuntu0.2"},
        {"scheme": "rpm", "distro": "el9", "introduced": "3.0", "fixed": "1:3.0.1-2.el9"},
    ],
}]}


# NodeTree's default `date` output: the day its snapshots are taken.
SNAPSHOT_DAY = "2022-02-10"


def _use_table(monkeypatch: pytest.MonkeyPatch, *rows: dict[str, Any]) -> None:
    entries, errors = knownbugs.parse_table({"entries": list(rows)})
    assert not errors
    monkeypatch.setattr(knownbugs, "load_table", lambda: (entries, errors))


@pytest.fixture
def demo_table(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_table(monkeypatch, *TABLE["entries"])


def _sos_date(when: datetime) -> str:
    return when.strftime("%a %b %d %H:%M:%S UTC %Y")


def _deb(tmp_path: Path, version: str, collected: str | None = None) -> list[Result]:
    node = NodeTree("cmp-1")
    if collected is not None:
        node.collected = collected
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


# -- judging on the collection day -------------------------------------------------------------------------
def _dated(published: str, **extra: Any) -> dict[str, Any]:
    return {**TABLE["entries"][0], "published": published, **extra}


def test_advisory_published_after_the_snapshot_passes_with_a_note(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # The node was not behind on the day the sosreport was taken: mention the match, raise nothing.
    _use_table(monkeypatch, _dated("2023-05-10"))
    r = _one(_deb(tmp_path, "2:1.5-0ubuntu1"))
    assert (r.status, r.severity) == (Status.passed, Severity.info)
    assert "none in an affected range" in r.message
    assert (f"1 advisory published after this snapshot was collected ({SNAPSHOT_DAY}) also matches its versions: "
            "re-scan the node as it is now: TEST-1") in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("sos_commands/dpkg/dpkg_-l", 7)


def test_snapshot_collected_after_the_advisory_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_table(monkeypatch, _dated("2023-05-10"))
    r = _one(failing(_deb(tmp_path, "2:1.5-0ubuntu1", collected="Wed Jun 14 09:00:00 UTC 2023")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.critical, "TEST-1")
    assert "published 2023-05-10" in r.message and "unknown" not in r.message
    assert r.evidence[0].source == "sos_commands/dpkg/dpkg_-l"


def test_advisory_of_the_collection_day_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Same day: the fix may already have been out when the data was taken, so the match counts.
    _use_table(monkeypatch, _dated(SNAPSHOT_DAY))
    assert _one(failing(_deb(tmp_path, "2:1.5-0ubuntu1"))).resource == "TEST-1"


def test_live_like_view_collected_now_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A live scan's collection time is the scan itself: every published advisory is already out.
    _use_table(monkeypatch, _dated(date.today().isoformat()))
    r = _one(failing(_deb(tmp_path, "2:1.5-0ubuntu1", collected=_sos_date(datetime.now(UTC)))))
    assert (r.status, r.severity) == (Status.fail, Severity.critical) and "after this snapshot" not in r.message


def test_unknown_collection_time_reports_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SosReportView, "collected_at", lambda self: None)
    _use_table(monkeypatch, _dated("2026-06-16"))
    r = _one(failing(_deb(tmp_path, "2:1.5-0ubuntu1")))
    assert (r.status, r.resource) == (Status.fail, "TEST-1")
    assert "collection time is unknown" in r.message and "published 2026-06-16" in r.message


def test_raised_and_later_advisories_are_reported_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_table(monkeypatch, _dated("2021-06-01"), _dated("2024-01-02", id="TEST-2"), _dated("2025-03-04", id="TEST-3"))
    results = _deb(tmp_path, "2:1.5-0ubuntu1")
    assert [r.resource for r in failing(results)] == ["TEST-1"]
    note = [r for r in results if r.status is Status.passed]
    assert len(note) == 1 and note[0].resource == "published-after-collection"
    assert "2 advisories published after this snapshot was collected (2022-02-10) also match its versions" in \
        note[0].message and note[0].message.endswith("TEST-2, TEST-3")


# -- the real table ---------------------------------------------------------------------------------------
def test_whole_table_is_valid() -> None:
    raw = yaml.safe_load(knownbugs.DATA_FILE.read_text())
    entries, errors = knownbugs.parse_table(raw)
    assert errors == ()
    assert len(entries) == len(raw["entries"]) >= 7
    for entry in entries:
        assert entry.link.startswith("https://") and entry.advice and entry.title
        assert entry.severity in Severity
        assert isinstance(entry.published, date) and entry.published <= date.today(), entry.id
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
    ({"published": None}, "`published` must be a YYYY-MM-DD date"),
    ({"published": "2023-13-01"}, "`published` must be a YYYY-MM-DD date"),
    ({"published": "10 May 2023"}, "`published` must be a YYYY-MM-DD date"),
    ({"published": datetime(2023, 5, 10, 12, 0)}, "`published` must be a YYYY-MM-DD date"),
])
def test_malformed_row_is_reported_not_raised(row: dict[str, Any], fragment: str) -> None:
    bad = {**TABLE["entries"][0], "id": "BAD", **row}
    entries, errors = knownbugs.parse_table({"entries": [bad, TABLE["entries"][0]]})
    assert [e.id for e in entries] == ["TEST-1"]
    assert len(errors) == 1 and fragment in errors[0] and "BAD" in errors[0]


def test_row_without_published_date_is_a_bad_row() -> None:
    bad = {k: v for k, v in TABLE["entries"][0].items() if k != "published"} | {"id": "BAD"}
    entries, errors = knownbugs.parse_table({"entries": [bad, TABLE["entries"][0]]})
    assert [e.id for e in entries] == ["TEST-1"]
    assert len(errors) == 1 and "BAD" in errors[0] and "`published` must be a YYYY-MM-DD date" in errors[0]


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


def test_distro_entries_carry_no_upstream_range_for_their_family() -> None:
    # An upstream range would also match the distro's fixed builds (first match wins), undoing the distro row.
    entries, _errors = knownbugs.parse_table(yaml.safe_load(knownbugs.DATA_FILE.read_text()))
    for entry in entries:
        schemes = {rng.scheme for rng in entry.affected}
        if schemes - {"upstream"}:
            assert "upstream" not in schemes, entry.id
            assert set(entry.packages) <= schemes, entry.id


# Taken after every advisory of the table was published, so the real rows are raised, not only mentioned.
RECENT = "Mon Nov 30 10:00:00 UTC 2026"


def _deb_pkgs(tmp_path: Path, *rows: tuple[str, str], collected: str = RECENT) -> list[Result]:
    node = NodeTree("cmp-1", collected=collected)
    node.file("sos_commands/dpkg/dpkg_-l", DPKG_HEADER + "".join(
        f"ii  {name:<28} {version:<32} amd64        pkg\n" for name, version in rows))
    return scan_tree(node, tmp_path, "UPG-007")


def test_real_table_ubuntu_openvswitch_build_before_usn_fails(tmp_path: Path) -> None:
    r = _one(failing(_deb_pkgs(tmp_path, ("openvswitch-common", "2.13.8-0ubuntu1.3"),
                               ("openvswitch-switch", "2.13.8-0ubuntu1.3"))))
    assert (r.resource, r.status, r.severity) == ("USN-6690-1-openvswitch", Status.fail, Severity.high)
    assert "for ubuntu focal" in r.message and "USN-6690-1" in r.message and "ICMPv6" in r.message
    assert [e.line for e in r.evidence] == [7, 8]
    assert {e.source for e in r.evidence} == {"sos_commands/dpkg/dpkg_-l"}


@pytest.mark.parametrize("version", [
    "2.13.8-0ubuntu1.4",                # the focal build named by the notice
    "2.13.8-0ubuntu1.4~cloud0",         # its Cloud Archive rebuild carries the same patch
    "2.17.9-0ubuntu0.22.04.1",          # the jammy fix
    "2.15.0+ds1-2+deb11u5",             # a Debian series no row covers
])
def test_real_table_ubuntu_openvswitch_fixed_or_other_series_passes(tmp_path: Path, version: str) -> None:
    assert _one(_deb_pkgs(tmp_path, ("openvswitch-common", version))).status is Status.passed


def test_real_table_debian_nova_row_ignores_ubuntu_epoch_3_builds(tmp_path: Path) -> None:
    # Other nova rows are upstream-only and match both builds; only this row must tell them apart.
    debian = {r.resource: r for r in failing(_deb_pkgs(tmp_path / "deb", ("python3-nova", "2:26.2.2-1~deb12u2")))}
    r = debian["CVE-2024-32498-nova-debian"]
    assert (r.status, r.severity) == (Status.fail, Severity.high) and "for debian bookworm" in r.message
    # Ubuntu's kinetic Zed build has epoch 3: above the Debian range although the upstream number matches.
    ubuntu = {r.resource for r in failing(_deb_pkgs(tmp_path / "ubu", ("python3-nova", "3:26.1.0-0ubuntu2.2")))}
    assert "CVE-2024-32498-nova-debian" not in ubuntu
    fixed = {r.resource for r in failing(_deb_pkgs(tmp_path / "fix", ("python3-nova", "2:26.2.2-1~deb12u3")))}
    assert "CVE-2024-32498-nova-debian" not in fixed


def _rpm_pkgs(tmp_path: Path, nevra: str) -> list[Result]:
    node = NodeTree("ctl-1", collected=RECENT)
    node.file("installed-rpms", f"{nevra:<59} Mon 07 Jan 2019\n")
    return scan_tree(node, tmp_path, "UPG-007")


def test_real_table_el7_keepalived_before_rhsa_fails(tmp_path: Path) -> None:
    r = _one(failing(_rpm_pkgs(tmp_path, "keepalived-1.3.5-6.el7.x86_64")))
    assert (r.resource, r.status, r.severity) == ("CVE-2018-19115-keepalived-el7", Status.warn, Severity.medium)
    assert "fixed in 1.3.5-8.el7_6 for el7" in r.message and "RHSA-2019:0022" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("installed-rpms", 1)


@pytest.mark.parametrize("nevra", ["keepalived-1.3.5-8.el7_6.x86_64", "keepalived-1.3.5-19.el7.x86_64",
                                   "keepalived-2.1.5-6.el8.x86_64"])
def test_real_table_el7_keepalived_fixed_or_el8_passes(tmp_path: Path, nevra: str) -> None:
    assert _one(_rpm_pkgs(tmp_path, nevra)).status is Status.passed


# -- OVN rows: Ubuntu notices for Ubuntu builds, the upstream advisories for RDO/RHEL and the rest ------------
OVN_UBUNTU = {"CVE-2024-2182-ovn-ubuntu", "CVE-2025-0650-ovn-ubuntu"}
OVN_2026 = {"CVE-2026-5265-ovn", "CVE-2026-5367-ovn"}


def _ovn_deb(tmp_path: Path, version: str, collected: str = RECENT) -> list[Result]:
    return _deb_pkgs(tmp_path, ("ovn-common", version), ("ovn-host", version), collected=collected)


def test_real_table_ubuntu_ovn_build_before_the_usns_fails(tmp_path: Path) -> None:
    results = {r.resource: r for r in failing(_ovn_deb(tmp_path, "22.03.3-0ubuntu0.22.04.1"))}
    # 22.03.3 already has the CVE-2023-3153 fix; the 2026 advisories match on the upstream number alone.
    assert set(results) == OVN_UBUNTU | OVN_2026
    acl = results["CVE-2025-0650-ovn-ubuntu"]
    assert (acl.status, acl.severity) == (Status.fail, Severity.high)
    assert "fixed in 22.03.3-0ubuntu0.22.04.5 for ubuntu jammy" in acl.message and "USN-7396-1" in acl.message
    assert sorted(e.line for e in acl.evidence) == [7, 8]
    bfd = results["CVE-2024-2182-ovn-ubuntu"]
    assert (bfd.status, bfd.severity) == (Status.warn, Severity.medium)
    assert "fixed in 22.03.3-0ubuntu0.22.04.2 for ubuntu jammy" in bfd.message and "USN-6691-1" in bfd.message


@pytest.mark.parametrize("version", [
    "22.03.3-0ubuntu0.22.04.5",         # the jammy build of USN-7396-1, past USN-6691-1 too
    "22.03.3-0ubuntu0.22.04.5~cloud0",  # its Cloud Archive rebuild
    "24.03.2-0ubuntu0.24.04.2",         # the noble fix
    "23.03.1-1~deb12u2",                # Debian bookworm: no Ubuntu row covers it
])
def test_real_table_ubuntu_ovn_fixed_or_other_build_passes_the_usn_rows(tmp_path: Path, version: str) -> None:
    raised = {r.resource for r in failing(_ovn_deb(tmp_path, version))}
    assert not raised & OVN_UBUNTU and "CVE-2023-3153-ovn" not in raised


def test_real_table_ovn_snapshot_is_judged_on_its_collection_day(tmp_path: Path) -> None:
    # A focal build from before both USNs: on 2024-06-01 only what was published by then is raised.
    results = _ovn_deb(tmp_path, "20.03.2-0ubuntu0.20.04.4", collected=_sos_date(datetime(2024, 6, 1, 10, tzinfo=UTC)))
    assert {r.resource for r in failing(results)} == {"CVE-2023-3153-ovn", "CVE-2024-2182-ovn-ubuntu"}
    note = [r for r in results if r.resource == "published-after-collection"]
    assert len(note) == 1 and note[0].status is Status.passed
    later = note[0].message.rsplit("re-scan the node as it is now: ", 1)[1].split(", ")
    assert set(later) == {"CVE-2025-0650-ovn-ubuntu"} | OVN_2026


def test_real_table_ovn_snapshot_older_than_every_ovn_advisory_passes(tmp_path: Path) -> None:
    r = _one(_ovn_deb(tmp_path, "20.03.2-0ubuntu0.20.04.4", collected=_sos_date(datetime(2022, 2, 10, 16, tzinfo=UTC))))
    assert r.status is Status.passed and "5 advisories published after this snapshot" in r.message
    later = set(r.message.rsplit("re-scan the node as it is now: ", 1)[1].split(", "))
    assert later == {"CVE-2023-3153-ovn", "CVE-2025-0650-ovn-ubuntu", "CVE-2024-2182-ovn-ubuntu"} | OVN_2026


@pytest.mark.parametrize(("nevra", "raised", "fixed"), [
    # A Fast Datapath build still numbered 22.03.0: every row matches its upstream part and says to read the changelog.
    ("ovn22.03-host-22.03.0-37.el8fdp.x86_64",
     {"CVE-2023-3153-ovn", "CVE-2024-2182-ovn", "CVE-2025-0650-ovn"} | OVN_2026, "22.03.8"),
    ("ovn24.03-host-24.03.1-36.el9fdp.x86_64", {"CVE-2025-0650-ovn"} | OVN_2026, "24.03.5"),
])
def test_real_table_rpm_ovn_before_the_upstream_fix_fails(tmp_path: Path, nevra: str, raised: set[str],
                                                           fixed: str) -> None:
    results = {r.resource: r for r in failing(_rpm_pkgs(tmp_path, nevra))}
    assert set(results) == raised
    acl = results["CVE-2025-0650-ovn"]
    assert (acl.status, acl.severity) == (Status.fail, Severity.high)
    assert f"fixed upstream in {fixed};" in acl.message and "changelog" in acl.message
    assert "oss-security/2025/01/22" in acl.message and acl.evidence[0].source == "installed-rpms"


def test_real_table_rpm_ovn_with_every_fix_passes(tmp_path: Path) -> None:
    assert _one(_rpm_pkgs(tmp_path, "ovn24.03-host-24.03.8-31.el9s.x86_64")).status is Status.passed


@pytest.mark.skipif(not COMPUTE4.exists(), reason="real sosreport not present")
def test_compute4_snapshot_is_not_behind_on_its_collection_day() -> None:
    # Collected 2022-02-10: every advisory its versions match came out later (USN-5307-1 on 2022-02-28 is the
    # first), so the node was up to date with the table on that day; the pass message names them all.
    results = scan_dir(COMPUTE4, "UPG-007")
    assert failing(results) == []
    r = _one(results)
    assert (r.status, r.severity) == (Status.passed, Severity.info)
    later = {"CVE-2023-2088-nova", "CVE-2023-2088-os-brick", "CVE-2026-46448-nova", "CVE-2026-24708-nova",
             "CVE-2022-37394-nova-ubuntu", "CVE-2024-40767-nova-ubuntu", "USN-6690-1-openvswitch", "USN-5307-1-qemu",
             "USN-5399-1-libvirt"}
    assert "9 advisories published after this snapshot was collected (2022-02-10) also match its versions" in r.message
    # Exactly these: neutron 16.4.1 already has the OSSA-2021-001/005 fixes (published before the snapshot),
    # ceph-common 15.2.14 is past the Octopus fix of CVE-2021-20288, and this node runs no neutron-server.
    assert set(r.message.rsplit("re-scan the node as it is now: ", 1)[1].split(", ")) == later
    assert {e.source for e in r.evidence} == {"sos_commands/dpkg/dpkg_-l"}
    assert any("qemu-system-x86 1:4.2-3ubuntu6.19" in e.excerpt for e in r.evidence)
    assert any("python3-nova 2:21.2.3-0ubuntu1" in e.excerpt for e in r.evidence)
