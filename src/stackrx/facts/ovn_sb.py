"""OVN southbound database tables as sos ovn_central collects them on a node that runs the SB database.

sos ovn_central runs `ovn-sbctl --no-leader-only list <table>` for every table of the SB schema (older sos:
`ovn-sbctl list <table>`), so `Chassis` and `Port_Binding` are there on central nodes; a live central node
runs the same commands. The `list` output is the ovsdb record format `stackrx.facts.ovs.parse_ovs_list`
reads. Neutron reads a chassis' `ovn-cms-options` from `other_config`, falling back to `external_ids` for
OVN older than 22.09 (neutron `common/ovn/utils.py get_ovn_chassis_other_config`).

Public API:

    load_sb_table(view, table) -> OvsTable         # "Chassis" or "Port_Binding"; MissingEvidence when absent,
                                                   # empty or an ovn-sbctl error (no SB database here)
    cms_options(record) -> list[str]               # a Chassis' ovn-cms-options, split on commas
    is_gateway(record) -> bool                      # enable-chassis-as-gw among them
    unbound_gateway_ports(table) -> list[OvsRecord] # Port_Binding rows of type chassisredirect, chassis empty
"""

from __future__ import annotations

from stackrx.errors import MissingEvidence
from stackrx.facts.ovs import OvsRecord, OvsTable, parse_ovs_list
from stackrx.sources.base import HostView
from stackrx.sources.commands import mangle

GATEWAY_OPTION = "enable-chassis-as-gw"
TABLES = ("Chassis", "Port_Binding")


def load_sb_table(view: HostView, table: str) -> OvsTable:
    if table not in TABLES:
        raise KeyError(f"unsupported southbound table {table!r}")
    key = f"ovn-sbctl list {table}"
    text = view.command(key)
    lines = [ln for ln in text.content.splitlines() if ln.strip()] if text is not None else []
    if text is None or not lines or all(ln.lstrip().startswith("ovn-sbctl:") for ln in lines):
        name = mangle(f"ovn-sbctl --no-leader-only list {table}")
        raise MissingEvidence(f"sos_commands/ovn_central/{name} (cmd: {key}; the OVN southbound database "
                              "does not run on this node)")
    return parse_ovs_list(text)


def cms_options(record: OvsRecord) -> list[str]:
    raw = record.map("other_config").get("ovn-cms-options") or record.map("external_ids").get("ovn-cms-options")
    return [o.strip() for o in (raw or "").split(",") if o.strip()]


def is_gateway(record: OvsRecord) -> bool:
    return GATEWAY_OPTION in cms_options(record)


def unbound_gateway_ports(table: OvsTable) -> list[OvsRecord]:
    return [r for r in table if r.text("type") == "chassisredirect" and not r.text("chassis")]
