"""Running libvirt domains and their network interfaces, from the status XML libvirt keeps per domain.

Input: `run/libvirt/qemu/<name>.xml` (sos libvirt plugin copies /run/libvirt; a live host reads it in
place). The file is the domain definition wrapped in `<domstatus state='running|paused|...' reason='...'>`,
and exists only while the domain is active; its `<interface>` elements name the host device
(`<target dev='tap0e778df8-ca'/>`), the MAC and, for OVS ports, the neutron port id (`interfaceid`). Nova
names the device `tap` + the first 11 characters of the port id (nova.network.model NIC_NAME_LEN = 14).

Public API:

    DomainInterface(device: str, mac: str | None, port_id: str | None, bridge: str | None,
                    queues: int | None, line: int)
    Domain(name: str, uuid: str | None, nova_name: str | None, state: str | None, reason: str | None,
           interfaces: tuple[DomainInterface, ...], source: str)
        .evidence(detail="") (the domstatus line)
    parse_domain_status(text) -> Domain
    load_domains(view) -> tuple[Domain, ...]    # () when run/libvirt/qemu exists without domains;
                                                # MissingEvidence when it was not collected
    device_index(domains) -> dict[str, tuple[Domain, DomainInterface]]
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

STATUS_DIR = "run/libvirt/qemu"
_NOVA_NS = "{http://openstack.org/xmlns/libvirt/nova/1.0}"
# ElementTree has no line numbers: locate the text of an element to cite it.
_DOMSTATUS = re.compile(r"<domstatus\b[^>]*>")


@dataclass(frozen=True)
class DomainInterface:
    device: str
    mac: str | None
    port_id: str | None
    bridge: str | None
    queues: int | None
    line: int


@dataclass(frozen=True)
class Domain:
    name: str
    uuid: str | None
    nova_name: str | None
    state: str | None
    reason: str | None
    interfaces: tuple[DomainInterface, ...]
    source: str
    line: int = 1

    def evidence(self, detail: str = "") -> Evidence:
        base = f"domain {self.name} state={self.state or '?'}" + (f" reason={self.reason}" if self.reason else "")
        return Evidence(source=self.source, line=self.line, excerpt=(f"{base}: {detail}" if detail else base))


def _line(content: str, needle: str) -> int:
    pos = content.find(needle)
    return content.count("\n", 0, pos) + 1 if pos >= 0 else 1


def _attr(elem: ET.Element | None, key: str) -> str | None:
    return elem.get(key) if elem is not None else None


def parse_domain_status(text: Text) -> Domain:
    try:
        root = ET.fromstring(text.content)
    except (ET.ParseError, ValueError) as exc:
        raise ParseError(text.source, f"not XML: {exc}") from None
    domain = root if root.tag == "domain" else root.find("domain")
    if domain is None:
        raise ParseError(text.source, "no <domain> element")
    status = root if root.tag == "domstatus" else None
    name = (domain.findtext("name") or "").strip()
    if not name:
        raise ParseError(text.source, "domain without <name>")
    nova_name = domain.findtext(f"metadata/{_NOVA_NS}instance/{_NOVA_NS}name")
    interfaces: list[DomainInterface] = []
    for iface in domain.iterfind("devices/interface"):
        dev = _attr(iface.find("target"), "dev")
        if not dev:
            continue
        queues = _attr(iface.find("driver"), "queues")
        interfaces.append(DomainInterface(
            dev, _attr(iface.find("mac"), "address"), _attr(iface.find("virtualport/parameters"), "interfaceid"),
            _attr(iface.find("source"), "bridge"), int(queues) if queues and queues.isdigit() else None,
            _line(text.content, f"dev='{dev}'")))
    m = _DOMSTATUS.search(text.content)
    return Domain(name, (domain.findtext("uuid") or "").strip() or None, nova_name.strip() if nova_name else None,
                  _attr(status, "state"), _attr(status, "reason"), tuple(interfaces), text.source,
                  text.content.count("\n", 0, m.start()) + 1 if m else 1)


def load_domains(view: HostView) -> tuple[Domain, ...]:
    paths = view.glob(f"{STATUS_DIR}/*.xml")
    if not paths:
        if view.is_dir(STATUS_DIR) or view.is_dir("run/libvirt"):
            return ()
        raise MissingEvidence(f"{STATUS_DIR}/*.xml (sos libvirt plugin)")
    out: list[Domain] = []
    for path in paths:
        text = view.read_text(path)
        if text is not None and text.content.strip():
            out.append(parse_domain_status(text))
    return tuple(out)


def device_index(domains: tuple[Domain, ...]) -> dict[str, tuple[Domain, DomainInterface]]:
    return {i.device: (d, i) for d in domains for i in d.interfaces}


def summary(facts: Facts) -> dict[str, Any]:
    try:
        domains = facts.get(load_domains)
    except (MissingEvidence, ParseError):
        return {}
    if not domains:
        return {}
    return {"domains": {d.name: {"state": d.state, "interfaces": [i.device for i in d.interfaces]}
                        for d in domains}}


FUZZ_TARGETS = [parse_domain_status]
