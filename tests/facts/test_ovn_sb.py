from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence
from stackrx.facts.ovn_sb import cms_options, is_gateway, load_sb_table, unbound_gateway_ports
from stackrx.facts.ovs_bridge_table import forwards_bpdu, load_ovs_bridge_table
from stackrx.sources.sosreport import SosReportView

CHASSIS = """_uuid               : 1
name                : gw-1
other_config        : {ovn-cms-options="enable-chassis-as-gw,availability-zones=az1"}

_uuid               : 2
name                : cmp-1
external_ids        : {ovn-cms-options=enable-chassis-as-gw}
other_config        : {}

_uuid               : 3
name                : cmp-2
other_config        : {}
"""
PORTS = """_uuid               : 11
chassis             : []
logical_port        : cr-lrp-1
type                : chassisredirect

_uuid               : 12
chassis             : 1
logical_port        : cr-lrp-2
type                : chassisredirect
"""


def test_southbound_tables(tmp_path: Path) -> None:
    node = NodeTree("ctl")
    node.file("sos_commands/ovn_central/ovn-sbctl_--no-leader-only_list_Chassis", CHASSIS)
    node.file("sos_commands/ovn_central/ovn-sbctl_--no-leader-only_list_Port_Binding", PORTS)
    node.file("sos_commands/ovn_central/ovn-sbctl_--no-leader-only_list_Chassis_Private", "_uuid : 9\n")
    node.write(tmp_path)
    view = SosReportView(tmp_path)
    chassis = load_sb_table(view, "Chassis")
    assert [r.text("name") for r in chassis if is_gateway(r)] == ["gw-1", "cmp-1"]
    assert cms_options(chassis.records[0]) == ["enable-chassis-as-gw", "availability-zones=az1"]
    assert [r.text("logical_port") for r in unbound_gateway_ports(load_sb_table(view, "Port_Binding"))] == [
        "cr-lrp-1"]
    with pytest.raises(KeyError):
        load_sb_table(view, "Logical_Flow")


def test_errors_and_absence_are_missing(tmp_path: Path) -> None:
    node = NodeTree("cmp")
    node.file("sos_commands/ovn_central/ovn-sbctl_--no-leader-only_list_Chassis",
              "ovn-sbctl: unix:/var/run/ovn/ovnsb_db.sock: database connection failed (No such file)\n")
    node.write(tmp_path)
    view = SosReportView(tmp_path)
    with pytest.raises(MissingEvidence):
        load_sb_table(view, "Chassis")
    with pytest.raises(MissingEvidence):
        load_sb_table(view, "Port_Binding")


def test_bridge_table_forward_bpdu(compute4: Path) -> None:
    table = load_ovs_bridge_table(SosReportView(compute4))
    assert sorted(r.text("name") or "" for r in table) == ["br-data", "br-ex", "br-int", "br-tun"]
    assert not any(forwards_bpdu(r) for r in table)
