from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.libvirt_domains import device_index, load_domains, parse_domain_status
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView


def test_compute4_running_domain(compute4: Path) -> None:
    [domain] = load_domains(SosReportView(compute4))
    assert (domain.name, domain.state, domain.reason, domain.nova_name) == (
        "instance-00000001", "running", "migrated", "focal-161303-1")
    [iface] = domain.interfaces
    assert (iface.device, iface.mac, iface.port_id, iface.bridge) == (
        "tap0e778df8-ca", "fa:16:3e:a7:45:cb", "0e778df8-ca29-490b-8d54-e238b1e0be1c", "br-int")
    assert domain.line == 8 and iface.line > domain.line
    assert set(device_index((domain,))) == {"tap0e778df8-ca"}


def test_definition_without_status_and_bad_xml() -> None:
    plain = parse_domain_status(Text("etc/libvirt/qemu/x.xml", "<domain><name>x</name><devices/></domain>"))
    assert plain.state is None and plain.interfaces == ()
    with pytest.raises(ParseError):
        parse_domain_status(Text("x", "<domstatus><domain>"))
    with pytest.raises(ParseError):
        parse_domain_status(Text("x", "<other/>"))


def test_not_collected(tmp_path: Path) -> None:
    (tmp_path / "sos_commands").mkdir()
    with pytest.raises(MissingEvidence):
        load_domains(SosReportView(tmp_path))
    (tmp_path / "run/libvirt/qemu").mkdir(parents=True)
    assert load_domains(SosReportView(tmp_path)) == ()
