"""The Open vSwitch `Bridge` table (`ovs-vsctl -t 5 list bridge`): per-bridge STP/RSTP and other_config.

`ovs-vsctl show` does not print `other_config`, where `forward-bpdu=true` makes the NORMAL action forward
reserved 01:80:C2:00:00:0x frames (STP BPDUs) instead of dropping them (ovs-vswitchd.conf.db(5)).

Public API:

    load_ovs_bridge_table(view) -> OvsTable   # cmd `ovs-vsctl list bridge` (sos openvswitch, snap-prefixed too)
    forwards_bpdu(record) -> bool             # other_config:forward-bpdu is true
"""

from __future__ import annotations

from stackrx.errors import MissingEvidence
from stackrx.facts.ovs import OvsRecord, OvsTable, parse_ovs_list
from stackrx.sources.base import HostView


def load_ovs_bridge_table(view: HostView) -> OvsTable:
    text = view.command("ovs-vsctl list bridge")
    lines = [ln for ln in text.content.splitlines() if ln.strip()] if text is not None else []
    if text is None or not lines or all(ln.lstrip().startswith(("ovs-vsctl:", "ovsdb-client:")) for ln in lines):
        raise MissingEvidence("sos_commands/openvswitch/ovs-vsctl_-t_5_list_bridge (cmd: ovs-vsctl list bridge)")
    return parse_ovs_list(text)


def forwards_bpdu(record: OvsRecord) -> bool:
    return record.map("other_config").get("forward-bpdu", "").strip().lower() == "true"
