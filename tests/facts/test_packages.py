from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.packages import (
    compare_versions,
    dpkg_compare,
    load_packages,
    parse_dpkg_l,
    parse_rpm_qa,
    rpm_compare,
)
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView
from testkit import COMPUTE4

DPKG = """Desired=Unknown/Install/Remove/Purge/Hold
| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend
|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)
||/ Name              Version                Architecture Description
+++-=================-======================-============-=====================
ii  nova-common       2:21.2.3-0ubuntu1      all          OpenStack Compute - common files
ii  libmysqlclient21:amd64 8.0.28-0ubuntu0.20.04.3 amd64  MySQL database client library
rc  old-package       1.0-1                  amd64        removed, config left
hi  ceph-osd          15.2.14-0ubuntu0.20.04.2 amd64      OSD server
"""

RPMS = """openstack-nova-common-23.2.1-1.el9.noarch                   Tue 01 Mar 2022 10:00:00 AM UTC
python3-nova-23.2.1-1.el9.noarch                           Tue 01 Mar 2022 10:00:00 AM UTC
gpg-pubkey-fd431d51-4ae0493b                               Tue 01 Mar 2022 09:00:00 AM UTC
glibc-2.34-28.el9.x86_64                                   Tue 01 Mar 2022 09:00:00 AM UTC
glibc-2.34-28.el9.i686                                     Tue 01 Mar 2022 09:00:00 AM UTC
"""


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("1.0", "1.0", 0), ("1.0~rc1", "1.0", -1), ("2:1.0", "1:9.9", 1), ("1.0a", "1.0", 1),
    ("21.2.3-0ubuntu1", "21.2.3-0ubuntu2", -1), ("1.01", "1.1", 0), ("2:16.4.1-0ubuntu2", "2:16.10.0-0ubuntu1", -1),
    ("1.0+b1", "1.0", 1), ("1.0-1", "1.0-1~bpo1", 1),
])
def test_dpkg_ordering(a: str, b: str, expected: int) -> None:
    assert dpkg_compare(a, b) == expected
    assert dpkg_compare(b, a) == -expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("1.0", "1.0.1", -1), ("1.0~rc1", "1.0", -1), ("1.0^1", "1.0", 1), ("2.18.0-1.el9", "2.17.9-3.el9", 1),
    ("1:1.0-1", "2.0-1", 1), ("1.a", "1.1", -1), ("10.3.9-1", "10.3.10-1", -1), ("1.0-1", "1.0", 0),
])
def test_rpm_ordering(a: str, b: str, expected: int) -> None:
    assert rpm_compare(a, b) == expected
    assert compare_versions(a, b, "rpm") == expected


def test_dpkg_rows_installed_only_with_arch_and_versions() -> None:
    pkgs = parse_dpkg_l(Text("sos_commands/dpkg/dpkg_-l", DPKG))
    assert pkgs.family == "deb" and set(pkgs.packages) == {"nova-common", "libmysqlclient21", "ceph-osd"}
    nova = pkgs.get("nova-common")
    assert nova is not None and nova.epoch == 2 and nova.upstream == "21.2.3" and nova.numeric == (21, 2, 3)
    assert nova.evidence().line == 6 and nova.evidence().source == "sos_commands/dpkg/dpkg_-l"
    assert pkgs.project("nova") is nova and pkgs.compare("ceph-osd", "15.2.14-0ubuntu0.20.04.1") == 1
    assert pkgs.get("libmysqlclient21").arch == "amd64"  # type: ignore[union-attr]


def test_rpm_rows_skip_signing_keys_and_merge_multilib() -> None:
    pkgs = parse_rpm_qa(Text("installed-rpms", RPMS))
    assert pkgs.family == "rpm" and "gpg-pubkey" not in pkgs and len(pkgs) == 3
    nova = pkgs.project("nova")
    assert nova is not None and nova.name == "python3-nova" and nova.upstream == "23.2.1"
    assert pkgs.compare("glibc", "2.34-27.el9") == 1


def test_junk_raises_parse_error_and_missing_lists_are_missing(tmp_path: Path) -> None:
    with pytest.raises(ParseError):
        parse_dpkg_l(Text("x", "this is not dpkg output\n"))
    with pytest.raises(ParseError):
        parse_rpm_qa(Text("y", "hello world\n"))
    NodeTree("empty").write(tmp_path)
    with pytest.raises(MissingEvidence):
        load_packages(SosReportView(tmp_path))


def test_rpm_fallback_through_installed_rpms_root_link(tmp_path: Path) -> None:
    tree = NodeTree("rhel")
    tree.file("installed-rpms", RPMS)
    tree.write(tmp_path)
    pkgs = load_packages(SosReportView(tmp_path))
    assert pkgs.family == "rpm" and pkgs.source == "installed-rpms"


def test_compute4_packages(compute4: Path) -> None:
    assert compute4 == COMPUTE4
    pkgs = load_packages(SosReportView(compute4))
    assert pkgs.family == "deb" and len(pkgs) > 1000
    assert pkgs.project("nova").version == "2:21.2.3-0ubuntu1"  # type: ignore[union-attr]
    assert pkgs.project("neutron").numeric[:2] == (16, 4)  # type: ignore[union-attr]
