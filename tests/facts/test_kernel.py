from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.facts.kernel import (
    FUZZ_TARGETS,
    Uname,
    load_lsmod,
    load_processes,
    load_uname,
    parse_lsmod,
    parse_ps,
    parse_uname,
    summary,
)
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
COMPUTE4 = REALDATA / "hotsos" / "openstack-compute4-sosreport"
INSIGHTS = REALDATA / "insights-core-fixtures"


def _real(path: Path) -> Text:
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return Text(path.name, path.read_text(errors="replace"))


def test_lsmod_insights_fixture() -> None:
    lsmod = parse_lsmod(_real(INSIGHTS / "test_lsmod/LSMODINFO.txt"))
    bridge = lsmod.get("bridge")
    assert bridge is not None and bridge.size == 119560 and bridge.used == 1
    assert bridge.used_by == ("ebtable_broute",)
    ebtables = lsmod.get("ebtables")
    assert ebtables is not None and ebtables.used_by == ("ebtable_broute", "ebtable_nat", "ebtable_filter")
    assert "nf_nat_masquerade_ipv4" in lsmod and "nf-nat-masquerade-ipv4" in lsmod  # modprobe's -/_ rule
    assert "geneve" not in lsmod
    assert bridge.evidence().line == 12


def test_lsmod_compute4_and_junk() -> None:
    lsmod = parse_lsmod(_real(COMPUTE4 / "sos_commands/kernel/lsmod"))
    assert len(lsmod) == 119
    ovs = lsmod.get("openvswitch")
    assert ovs is not None and ovs.line == 52
    assert "nf_conntrack" in lsmod and "nf_nat" in lsmod and "geneve" not in lsmod
    assert len(parse_lsmod(Text("x", "Module                  Size  Used by\n"))) == 0
    with pytest.raises(ParseError):
        parse_lsmod(Text("x", "this is not lsmod\n"))


def test_uname_compute4_and_insights_lines() -> None:
    uname = parse_uname(_real(COMPUTE4 / "sos_commands/kernel/uname_-a"))
    assert (uname.hostname, uname.release, uname.version) == ("compute4", "5.4.0-97-generic", (5, 4, 0, 97))
    assert uname.distro == "ubuntu" and uname.machine == "x86_64" and uname.at_least(4, 6)
    assert not uname.is_enterprise_backport
    lines = _real(INSIGHTS / "test_uname/uname_a_lines.txt").content.splitlines()
    parsed: dict[str, Uname | None] = {}
    for line in lines:
        try:
            parsed[line] = parse_uname(Text("u", line))
        except ParseError:
            parsed[line] = None
    el7 = parsed["Linux rhel7box 3.10.0-229.el7.x86_64 #1 SMP Mon Mar 3 13:32:45 EST 2014 x86_64 x86_64 x86_64 "
                 "GNU/Linux"]
    assert el7 is not None and el7.distro == "rhel" and el7.distro_release == "7" and el7.version[:2] == (3, 10)
    assert el7.is_enterprise_backport and not el7.at_least(4, 6)
    el5 = parsed["Linux map1a 2.6.18-53.el5PAE #1 SMP Wed Oct 10 16:48:18 EDT 2007 i686 i686 i386 GNU/Linux"]
    assert el5 is not None and el5.machine == "i686" and el5.distro_release == "5"
    for bad in ("Linux localhost.localdomain", "Linux 2.6.32-279.el6.x86_64", "2.6.32-279.el6.x86_64",
                "Linux bad-nvr 2", ""):
        assert parsed[bad] is None, bad


def test_uname_foreman_debug_prefix_skipped() -> None:
    uname = parse_uname(_real(INSIGHTS / "test_uname/UNAME_FOREMAN_DEBUG.txt"))
    assert uname.hostname == "qqhrycsq2" and uname.line == 2 and uname.distro_release == "6"


def test_ps_auxwwwm_threads_skipped() -> None:
    procs = parse_ps(_real(COMPUTE4 / "sos_commands/process/ps_auxwwwm"))
    assert all(p.command != "-" for p in procs)
    keepalived = procs.matching(r"^keepalived ")
    assert [p.pid for p in keepalived] == [1775813, 1775814]
    assert keepalived[0].user == "root" and keepalived[0].line == 1803
    assert procs.matching("ovn-controller") == []


def test_ps_alx_format_and_junk() -> None:
    text = Text("ps", "F   UID     PID    PPID PRI  NI    VSZ   RSS WCHAN  STAT TTY        TIME COMMAND\n"
                      "4     0       1       0  20   0 168000 11000 -      Ss   ?          0:01 /sbin/init splash\n")
    procs = parse_ps(text)
    assert [(p.pid, p.user, p.command) for p in procs] == [(1, "0", "/sbin/init splash")]
    with pytest.raises(ParseError):
        parse_ps(Text("ps", "no header\n1 2 3\n"))


def test_loaders(tmp_path: Path) -> None:
    node = NodeTree("n1", kernel="4.4.0-210-generic")
    node.modules.extend(["openvswitch", "geneve"])
    node.write(tmp_path / "n1")
    view = SosReportView(tmp_path / "n1")
    assert load_uname(view).version[:2] == (4, 4)
    assert "geneve" in load_lsmod(view)
    with pytest.raises(MissingEvidence, match="ps_auxwwwm"):
        load_processes(view)
    assert summary(Facts(view)) == {"kernel": {"release": "4.4.0-210-generic", "distro": "ubuntu"},
                                    "kernel_modules": ["geneve", "openvswitch"]}
    (tmp_path / "empty").mkdir()
    empty = SosReportView(tmp_path / "empty")
    with pytest.raises(MissingEvidence, match="lsmod"):
        load_lsmod(empty)
    with pytest.raises(MissingEvidence, match="uname"):
        load_uname(empty)
    assert summary(Facts(empty)) == {}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parsers_only_raise_parse_error(content: str) -> None:
    for parser in FUZZ_TARGETS:
        for body in (content, "USER PID COMMAND\nModule Size Used by\n" + content):
            with contextlib.suppress(ParseError):
                parser(Text("fuzz", body))
