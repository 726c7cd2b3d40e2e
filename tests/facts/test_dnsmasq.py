from __future__ import annotations

from pathlib import Path

from stackrx.demo.builder import NodeTree
from stackrx.facts.dnsmasq import load_dhcp_events, parse_dnsmasq_log
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

LINES = ("Nov 30 08:00:00 net-1 dnsmasq-dhcp[4811]: DHCPREQUEST(tap5c1a2b3c-4d) 10.0.1.15 fa:16:3e:12:34:56\n"
         "Nov 30 08:00:00 net-1 dnsmasq-dhcp[4811]: 3612345678 DHCPACK(tap5c1a2b3c-4d) 10.0.1.15 FA:16:3E:12:34:56 vm\n"
         "Nov 30 08:00:01 net-1 dnsmasq-dhcp[4811]: DHCP, IP range 10.0.1.2 -- 10.0.1.254, lease time 1d\n")


def test_parse_lines() -> None:
    events = parse_dnsmasq_log(Text("var/log/syslog", LINES))
    assert [(e.type, e.ip, e.line) for e in events] == [("REQUEST", "10.0.1.15", 1)]
    # The signature is case sensitive on the hex MAC (dnsmasq prints lower case): an upper-case line is not read.


def test_loader_window_and_base_log_dir(tmp_path: Path) -> None:
    node = NodeTree("net-1", collected="Tue Dec  1 09:00:00 UTC 2026")
    node.file("var/log/syslog", LINES.replace("Nov 30", "Dec  1") + LINES.replace("Nov 30", "Nov  2"))
    node.file("etc/neutron/dhcp_agent.ini", "[DEFAULT]\ndnsmasq_base_log_dir = /var/log/dnsmasq\n")
    node.file("var/log/dnsmasq/net-a/dhcp_dns_log", LINES.replace("Nov 30", "Dec  1"))
    node.write(tmp_path)
    log = load_dhcp_events(SosReportView(tmp_path))
    assert log.covered
    assert sorted((e.source, e.line) for e in log.events) == [("var/log/dnsmasq/net-a/dhcp_dns_log", 1),
                                                               ("var/log/syslog", 1)]
    assert "var/log/dnsmasq/net-a/dhcp_dns_log" in log.sources


def test_uncovered_without_logs(tmp_path: Path) -> None:
    NodeTree("h").write(tmp_path)
    log = load_dhcp_events(SosReportView(tmp_path))
    assert not log.covered and log.events == ()
