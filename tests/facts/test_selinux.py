from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.selinux import load_os_release, load_selinux, parse_os_release, parse_sestatus
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

SESTATUS = """SELinux status:                 enabled
SELinuxfs mount:                /sys/fs/selinux
Current mode:                   permissive
Mode from config file:          enforcing
"""


def test_sestatus_modes() -> None:
    enabled, mode, config, evidence = parse_sestatus(Text("sos_commands/selinux/sestatus", SESTATUS))
    assert (enabled, mode, config) == (True, "permissive", "enforcing")
    assert [e.line for e in evidence] == [1, 3, 4]
    assert parse_sestatus(Text("s", "SELinux status:                 disabled\n"))[:3] == (False, "disabled", None)
    with pytest.raises(ParseError):
        parse_sestatus(Text("s", "garbage\n"))


def test_loader_combines_sestatus_and_config(tmp_path: Path) -> None:
    node = NodeTree("h")
    node.file("sos_commands/selinux/sestatus", SESTATUS)
    node.file("etc/selinux/config", "SELINUX=enforcing\nSELINUX=permissive # later wins\n")
    node.write(tmp_path / "a")
    state = load_selinux(SosReportView(tmp_path / "a"))
    assert (state.mode, state.config_mode) == ("permissive", "permissive")
    assert state.evidence[-1].line == 2
    NodeTree("h").write(tmp_path / "b")
    with pytest.raises(MissingEvidence):
        load_selinux(SosReportView(tmp_path / "b"))


def test_os_release_family(tmp_path: Path) -> None:
    rhel = parse_os_release(Text("etc/os-release", 'ID="rocky"\nID_LIKE="rhel centos fedora"\n'))
    assert rhel.rhel_family and rhel.like == ("rhel", "centos", "fedora")
    assert not parse_os_release(Text("etc/os-release", "ID=ubuntu\nID_LIKE=debian\n")).rhel_family
    legacy = parse_os_release(Text("etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n"))
    assert legacy.rhel_family
    node = NodeTree("h")
    node.file("etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n")
    node.write(tmp_path)
    assert load_os_release(SosReportView(tmp_path)).rhel_family
