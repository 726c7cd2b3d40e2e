from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.facts.bonding import load_bonds, parse_bonding, summary
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

INSIGHTS = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "insights-core-fixtures" / "test_bond"


def _real(name: str) -> Text:
    path = INSIGHTS / name
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return Text(f"proc/net/bonding/{name}", path.read_text(errors="replace"))


def test_802_3ad_bond_from_insights() -> None:
    bond = parse_bonding(_real("BOND_MODE_4.txt"))
    assert bond.is_lacp and bond.mii_status == "up"
    assert [(s.name, s.mii_status, s.aggregator_id) for s in bond.slaves] == [("enp0s9", "up", 1),
                                                                           ("enp0s8", "down", 2)]
    # The nested `details actor lacp pdu:` blocks do not leak into the members.
    assert [s.name for s in bond.down_slaves()] == ["enp0s8"]
    assert bond.slaves[1].status_evidence().excerpt == "Slave Interface: enp0s8 / MII Status: down"


def test_round_robin_bond_from_insights() -> None:
    bond = parse_bonding(_real("BONDINFO_1.txt"))
    assert bond.name == "BONDINFO_1.txt" and bond.mode == "load balancing (round-robin)"
    assert all(s.is_up for s in bond.slaves) and len(bond.slaves) == 2
    assert bond.evidence().line == 4


def test_junk_is_a_parse_error_and_empty_is_empty() -> None:
    with pytest.raises(ParseError):
        parse_bonding(Text("proc/net/bonding/bond0", "hello: world\n"))
    assert parse_bonding(Text("proc/net/bonding/bond0", "")).slaves == ()


def test_loader_distinguishes_no_bond_from_not_collected(tmp_path: Path) -> None:
    node = NodeTree("h")
    node.file("proc/net/dev", "Inter-|   Receive\n")
    node.write(tmp_path / "a")
    assert load_bonds(SosReportView(tmp_path / "a")) == ()
    NodeTree("h").write(tmp_path / "b")
    with pytest.raises(MissingEvidence):
        load_bonds(SosReportView(tmp_path / "b"))
    node.file("proc/net/bonding/bond0", "Bonding Mode: active-backup\nMII Status: up\n\nSlave Interface: eth0\n"
                                        "MII Status: up\n")
    node.write(tmp_path / "c")
    facts = Facts(SosReportView(tmp_path / "c"))
    assert summary(facts) == {"bonds": [{"name": "bond0", "mode": "active-backup", "mii_status": "up",
                                         "slaves": {"eth0": "up"}}]}
