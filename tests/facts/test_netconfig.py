from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.netconfig import (
    load_netconfig,
    parse_ifcfg,
    parse_interfaces,
    parse_netplan,
    parse_nm_keyfile,
)
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView


def _pairs(decls: list) -> list[tuple[str, str, str, int]]:  # type: ignore[type-arg]
    return [(d.kind, d.iface, d.value, d.line) for d in decls]


def test_ifcfg_port_with_address() -> None:
    text = Text("etc/sysconfig/network-scripts/ifcfg-eth0",
                '# eth0\nDEVICE="eth0"\nBRIDGE=br0\nIPADDR=10.0.0.5 # old\nIPADDR1=10.0.0.6\n')
    assert _pairs(parse_ifcfg(text)) == [
        ("address", "eth0", "10.0.0.5", 4), ("address", "eth0", "10.0.0.6", 5), ("port", "eth0", "br0", 3)]


def test_ifcfg_ovs_internal_port_is_addressable() -> None:
    text = Text("etc/sysconfig/network-scripts/ifcfg-vlan50",
                "TYPE=OVSIntPort\nOVS_BRIDGE=br-ex\nIPADDR=1.2.3.4\n")
    assert _pairs(parse_ifcfg(text)) == [("address", "vlan50", "1.2.3.4", 3)]


def test_netplan_ids_and_set_name() -> None:
    text = Text("etc/netplan/50.yaml", "network:\n  ethernets:\n    nic0:\n      set-name: eth5\n"
                                       "      addresses: [10.8.0.5/24]\n  bonds:\n    bond0:\n"
                                       "      interfaces: [nic0, eth6]\n  bridges:\n    br8:\n"
                                       "      interfaces: [bond0]\n      addresses:\n        - 10.8.0.6/24\n"
                                       "      nameservers:\n        addresses: [10.8.0.1]\n")
    assert _pairs(parse_netplan(text)) == [
        ("address", "eth5", "10.8.0.5/24", 5),
        ("port", "eth5", "bond0", 8), ("port", "eth6", "bond0", 8),
        ("address", "br8", "10.8.0.6/24", 13), ("port", "bond0", "br8", 11),
    ]


def test_netplan_invalid_yaml_is_parse_error() -> None:
    with pytest.raises(ParseError, match="YAML"):
        parse_netplan(Text("x.yaml", "network: [unclosed\n"))
    assert parse_netplan(Text("empty.yaml", "")) == []


def test_ifupdown() -> None:
    text = Text("etc/network/interfaces", "auto eth0\niface eth0 inet static\n    address 10.0.0.5/24\n\n"
                                          "iface br0 inet static\n    bridge_ports eth0 eth1\n"
                                          "    address 10.0.0.6/24\n"
                                          "iface eth2 inet manual\n    bond-master bond0\n"
                                          "allow-br-ex eth3\niface eth3 inet manual\n    ovs_bridge br-ex\n"
                                          "    ovs_type OVSPort\n")
    assert _pairs(parse_interfaces(text)) == [
        ("address", "eth0", "10.0.0.5/24", 3), ("port", "eth0", "br0", 6), ("port", "eth1", "br0", 6),
        ("address", "br0", "10.0.0.6/24", 7), ("port", "eth2", "bond0", 9), ("port", "eth3", "br-ex", 12),
    ]


def test_nm_keyfile() -> None:
    text = Text("etc/NetworkManager/system-connections/eno1.nmconnection",
                "[connection]\nid=eno1\ninterface-name=eno1\ncontroller=br0\nport-type=bridge\n\n"
                "[ipv4]\nmethod=manual\naddress1=192.168.1.5/24,192.168.1.1\n")
    assert _pairs(parse_nm_keyfile(text)) == [
        ("address", "eno1", "192.168.1.5/24", 9), ("port", "eno1", "br0", 4)]


def test_loader_pairs_ports_with_addresses(tmp_path: Path) -> None:
    node = NodeTree("n")
    node.file("etc/network/interfaces", "iface br0 inet manual\n    bridge_ports eth0\n")
    node.file("etc/network/interfaces.d/eth0.cfg", "iface eth0 inet static\n    address 10.0.0.5/24\n")
    node.file("etc/sysconfig/network-scripts/ifcfg-lo", "DEVICE=lo\nIPADDR=127.0.0.1\n")
    node.write(tmp_path)
    config = load_netconfig(SosReportView(tmp_path))
    [(port, addresses)] = config.addressed_ports()
    assert (port.iface, port.value, port.source) == ("eth0", "br0", "etc/network/interfaces")
    assert [a.source for a in addresses] == ["etc/network/interfaces.d/eth0.cfg"]
    assert "etc/sysconfig/network-scripts/ifcfg-lo" not in config.files


def test_loader_missing(tmp_path: Path) -> None:
    NodeTree("n").write(tmp_path)
    with pytest.raises(MissingEvidence, match="netplan"):
        load_netconfig(SosReportView(tmp_path))


def test_compute4_netplan(compute4: Path) -> None:
    config = load_netconfig(SosReportView(compute4))
    assert config.files == ("etc/netplan/99-juju.yaml",)
    assert config.addressed_ports() == []
    assert ("port", "ens3", "br-ens3", 46) in _pairs(list(config.decls))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc:-[]{}=#;\n\t .0123/'\"&*!|>")), max_size=300))
def test_fuzz_only_parse_error(content: str) -> None:
    for parser in (parse_ifcfg, parse_netplan, parse_interfaces, parse_nm_keyfile):
        with contextlib.suppress(ParseError):
            parser(Text("fuzz", content))
