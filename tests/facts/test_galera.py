from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.galera import load_galera_config, load_my_cnf, parse_grastate, parse_gvwstate, parse_my_cnf
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView
from testkit import REALDATA

GALERA = """[mysqld]
bind-address = 0.0.0.0   # all interfaces
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep-cluster-address="gcomm://10.0.0.11,10.0.0.12:4567,[fd00::13]?pc.wait_prim=no"
[client]
wsrep_provider = not-a-server-group
"""


def test_option_file_rules() -> None:
    rows = parse_my_cnf(Text("g", GALERA + "!includedir /etc/mysql/conf.d/\nskip-name-resolve\n"))
    keys = [(r.group, r.key, r.value) for r in rows]
    assert ("mysqld", "bind-address", "0.0.0.0") in keys
    assert ("client", "!includedir", "/etc/mysql/conf.d/") in keys
    assert ("client", "skip-name-resolve", "") in keys


def test_includes_pointers_and_server_groups(tmp_path: Path) -> None:
    tree = NodeTree("db1")
    tree.file("etc/mysql/my.cnf", "../alternatives/my.cnf")
    tree.file("etc/alternatives/my.cnf", "../mysql/mariadb.cnf")
    tree.file("etc/mysql/mariadb.cnf", "[client-server]\n!includedir /etc/mysql/mariadb.conf.d/\n")
    tree.file("etc/mysql/mariadb.conf.d/60-galera.cnf", GALERA)
    tree.file("etc/mysql/mariadb.conf.d/99-override.cnf", "[galera]\nwsrep_on = OFF\n")
    tree.write(tmp_path)
    view = SosReportView(tmp_path)
    cnf = load_my_cnf(view)
    assert "etc/mysql/mariadb.conf.d/60-galera.cnf" in cnf.files
    assert cnf.get("wsrep_provider").value == "/usr/lib/galera/libgalera_smm.so"  # type: ignore[union-attr]
    config = load_galera_config(view)
    assert config.members == ("10.0.0.11", "10.0.0.12", "fd00::13") and not config.bootstrap_address
    assert not config.is_galera  # wsrep_on = OFF in the later file wins


def test_empty_gcomm_is_a_bootstrap_address(tmp_path: Path) -> None:
    tree = NodeTree("db1")
    tree.file("etc/my.cnf.d/galera.cnf", "[galera]\nwsrep_provider=/usr/lib64/galera/libgalera_smm.so\n"
              "wsrep_cluster_address=gcomm://\n")
    tree.write(tmp_path)
    config = load_galera_config(SosReportView(tmp_path))
    assert config.is_galera and config.bootstrap_address and config.members == ()


def test_real_insights_galera_cnf_has_no_provider(tmp_path: Path) -> None:
    real = REALDATA / "insights-core-fixtures" / "test_galera_cnf" / "GALERA_CNF.txt"
    if not real.is_file():
        pytest.skip("real data not present")
    tree = NodeTree("db")
    tree.file("etc/my.cnf.d/galera.cnf", real.read_text())
    tree.write(tmp_path)
    cnf = load_my_cnf(SosReportView(tmp_path))
    assert cnf.get("key_buffer_size").value == "16M"  # type: ignore[union-attr]  # inline comment stripped
    assert not load_galera_config(SosReportView(tmp_path)).is_galera


def test_grastate_and_gvwstate() -> None:
    state = parse_grastate(Text("var/lib/mysql/grastate.dat", "# GALERA saved state\nversion: 2.1\n"
                                "uuid:    8a5f1c0e-4f3e-11ef-9a0b-2e6f0c1d2b3a\nseqno:   -1\nsafe_to_bootstrap: 1\n"))
    assert state.seqno == -1 and state.safe_to_bootstrap == 1 and state.uuid is not None
    assert state.evidence("safe_to_bootstrap").line == 5
    gvw = parse_gvwstate(Text("g", "my_uuid: aaa\n#vwbeg\nview_id: 3 aaa 5\nbootstrap: 0\nmember: aaa 0\n"
                                   "member: bbb 0\n#vwend\n"))
    assert gvw.members == ("aaa", "bbb") and gvw.my_uuid == "aaa"
    with pytest.raises(ParseError):
        parse_grastate(Text("x", "nothing here"))


def test_no_config_is_missing(tmp_path: Path) -> None:
    NodeTree("x").write(tmp_path)
    with pytest.raises(MissingEvidence):
        load_my_cnf(SosReportView(tmp_path))
