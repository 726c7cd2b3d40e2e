from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.pktfilter import (
    STP_GROUP,
    bpdu_drop_rules,
    load_firewall_services,
    load_ip_filter,
    mac_bytes,
    parse_ebtables,
    parse_iptables_list,
    parse_iptables_save,
    parse_nft_ruleset,
)
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

INSIGHTS = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "insights-core-fixtures" / "test_iptables"

NFT = """table inet filter {
\tset allowed {
\t\ttype ipv4_addr
\t\telements = { 10.0.0.1, 10.0.0.2 }
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept # handle 4
\t\tip saddr @allowed tcp dport 22 accept # handle 5
\t}
\tchain custom {
\t\tcounter # handle 6
\t}
}
table bridge bpdu {
\tchain fwd {
\t\ttype filter hook forward priority filter; policy accept;
\t\tiifname "tap*" ether daddr 01:80:c2:00:00:00 drop # handle 3
\t}
\tchain in {
\t\ttype filter hook input priority filter; policy accept;
\t\tether daddr 01:80:c2:00:00:00 drop # handle 7
\t}
}
"""
EBTABLES = """Bridge table: filter

Bridge chain: INPUT, entries: 0, policy: ACCEPT

Bridge chain: FORWARD, entries: 2, policy: ACCEPT
-i tap+ -d BGA -j DROP
-d ! 1:80:c2:0:0:0 -j DROP
"""
LIST = """Chain INPUT (policy ACCEPT 18 packets, 1440 bytes)
 pkts bytes target     prot opt in     out     source               destination
   10   600 ACCEPT     all  --  lo     *       0.0.0.0/0            0.0.0.0/0

Chain neutron-openvswi-INPUT (1 references)
 pkts bytes target     prot opt in     out     source               destination
"""


def test_iptables_save_from_insights() -> None:
    path = INSIGHTS / "IPTABLES_SAVE.txt"
    if not path.is_file():
        pytest.skip("real data not present")
    ruleset = parse_iptables_save(Text("sos_commands/firewall_tables/iptables-save", path.read_text()))
    [inp] = [c for c in ruleset.chains_for("ip", "input") if c.table == "filter"]
    assert inp.policy == "ACCEPT" and len(inp.rules) == 7
    assert inp.rules[0].text == "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT" and inp.rules[0].line == 8
    user = next(c for c in ruleset.chains if c.name == "REJECT-LOG")
    assert user.hook is None and user.policy is None


def test_iptables_list_layout() -> None:
    ruleset = parse_iptables_list(Text("sos_commands/firewall_tables/iptables_-t_filter_-nvL", LIST))
    inp, user = ruleset.chains
    assert (inp.hook, inp.policy, len(inp.rules), inp.table) == ("input", "ACCEPT", 1, "filter")
    assert (user.hook, user.policy, user.rules) == (None, None, ())
    with pytest.raises(ParseError):
        parse_iptables_list(Text("x", "not a table\n"))


def test_nft_base_chains_sets_and_bpdu_rules() -> None:
    ruleset = parse_nft_ruleset(Text("sos_commands/firewall_tables/nft_-a_list_ruleset", NFT))
    [inp] = ruleset.chains_for("ip", "input")
    assert (inp.family, inp.policy, len(inp.rules)) == ("inet", "DROP", 2)
    assert inp.rules[1].text == "ip saddr @allowed tcp dport 22 accept"
    custom = next(c for c in ruleset.chains if c.name == "custom")
    assert custom.hook is None
    drops = bpdu_drop_rules(ruleset)
    # The input-hook rule only sees frames for the host: not a forwarding filter.
    assert [(c.name, iif, oif) for c, _r, iif, oif in drops] == [("fwd", "tap*", None)]


def test_ebtables_rules_and_mac_forms() -> None:
    ruleset = parse_ebtables(Text("cmd:ebtables -L", EBTABLES))
    drops = bpdu_drop_rules(ruleset)
    assert [(r.text, iif) for _c, r, iif, _o in drops] == [("-i tap+ -d BGA -j DROP", "tap+")]
    assert mac_bytes("1:80:c2:0:0:0") == STP_GROUP == mac_bytes("BGA") == mac_bytes("01:80:C2:00:00:00")
    assert mac_bytes("01:80:c2") is None


def test_loaders(tmp_path: Path) -> None:
    node = NodeTree("h")
    node.file("sos_commands/firewall_tables/nft_-a_list_ruleset", NFT)
    node.file("sos_commands/firewalld/firewall-cmd_--state", "not running\n")
    node.file("etc/ufw/ufw.conf", "# comment\nENABLED=yes\n")
    node.write(tmp_path / "a")
    view = SosReportView(tmp_path / "a")
    assert [c.name for c in load_ip_filter(view).chains] == ["input", "custom"]
    services = {s.name: s for s in load_firewall_services(view)}
    assert not services["firewalld"].active and services["ufw"].active
    assert services["ufw"].evidence.line == 2
    NodeTree("h").write(tmp_path / "b")
    with pytest.raises(MissingEvidence):
        load_ip_filter(SosReportView(tmp_path / "b"))
