"""Linux bonding state: `/proc/net/bonding/<bond>` (sos copies `/proc/net/`; live reads it in place).

Format (bonding driver `bond_procfs.c`): a bond header (`Bonding Mode:`, `MII Status:`, `Currently Active
Slave:`...) followed by one block per member starting `Slave Interface: <name>` with its own `MII Status:`,
`Link Failure Count:`, and for 802.3ad `Aggregator ID:`. Nested 802.3ad detail blocks
(`details actor lacp pdu:`) reuse keys such as `port state:`, which belong to the member, not the bond.

Public API:

    BondSlave(name: str, mii_status: str | None, link_failures: int | None, aggregator_id: int | None,
              source: str, line: int, status_line: int | None)
        .is_up (MII Status up), .evidence() (the `Slave Interface:` line), .status_evidence()
    Bond(name: str, mode: str | None, mii_status: str | None, active_slave: str | None,
         slaves: tuple[BondSlave, ...], source: str, line: int)
        .is_lacp (802.3ad mode), .down_slaves(), .evidence() (the `MII Status:` line of the bond)
    parse_bonding(text) -> Bond                 # one file; the bond is named after the file
    load_bonds(view) -> tuple[Bond, ...]         # proc/net/bonding/*: () when /proc/net was collected but has
                                                 # no bonding dir; MissingEvidence when /proc/net is absent
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
BONDING_GLOB = "proc/net/bonding/*"


@dataclass(frozen=True)
class BondSlave:
    name: str
    mii_status: str | None
    link_failures: int | None
    aggregator_id: int | None
    source: str
    line: int
    status_line: int | None = None

    @property
    def is_up(self) -> bool:
        return (self.mii_status or "").lower() == "up"

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"Slave Interface: {self.name}")

    def status_evidence(self) -> Evidence:
        if self.status_line is None:
            return self.evidence()
        return Evidence(source=self.source, line=self.status_line,
                        excerpt=f"Slave Interface: {self.name} / MII Status: {self.mii_status}")


@dataclass(frozen=True)
class Bond:
    name: str
    mode: str | None
    mii_status: str | None
    active_slave: str | None
    slaves: tuple[BondSlave, ...]
    source: str
    line: int

    @property
    def is_lacp(self) -> bool:
        return "802.3ad" in (self.mode or "")

    def down_slaves(self) -> list[BondSlave]:
        return [s for s in self.slaves if not s.is_up]

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"MII Status: {self.mii_status}")


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def parse_bonding(text: Text) -> Bond:
    name = posixpath.basename(text.source.replace("\\", "/")) or text.source
    mode: str | None = None
    mii: str | None = None
    mii_line = 0
    active: str | None = None
    slaves: list[BondSlave] = []
    current: dict[str, Any] | None = None
    recognised = False

    def close() -> None:
        if current is not None:
            slaves.append(BondSlave(current["name"], current.get("mii"), current.get("failures"),
                                    current.get("agg"), text.source, current["line"], current.get("mii_line")))

    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        # Indented lines are 802.3ad detail blocks (actor/partner PDUs, aggregator info): not the member's own
        # status.
        nested = raw[:1] in (" ", "\t")
        key, value = key.strip(), value.strip()
        if key == "Slave Interface" and value:
            close()
            current = {"name": value.split()[0], "line": lineno}
            recognised = True
            continue
        if nested:
            continue
        if current is None:
            if key == "Bonding Mode":
                mode, recognised = value, True
            elif key == "MII Status" and mii is None:
                mii, mii_line, recognised = value, lineno, True
            elif key == "Currently Active Slave":
                active = value or None
            continue
        if key == "MII Status" and "mii" not in current:
            current["mii"], current["mii_line"] = value, lineno
        elif key == "Link Failure Count":
            current["failures"] = _int(value)
        elif key == "Aggregator ID":
            current["agg"] = _int(value)
    close()
    if not recognised and text.content.strip():
        raise ParseError(text.source, "no `Bonding Mode:` / `Slave Interface:` line found")
    return Bond(name, mode, mii, active, tuple(slaves), text.source, mii_line or 1)


def load_bonds(view: HostView) -> tuple[Bond, ...]:
    paths = [p for p in view.glob(BONDING_GLOB) if not view.is_dir(p)]
    if not paths:
        if view.is_dir("proc/net"):
            return ()
        raise MissingEvidence("proc/net/bonding/* (sos networking plugin copies /proc/net/)")
    bonds: list[Bond] = []
    for path in paths:
        text = view.read_text(path)
        if text is not None:
            bonds.append(parse_bonding(text))
    return tuple(bonds)


def summary(facts: Facts) -> dict[str, Any]:
    try:
        bonds = facts.get(load_bonds)
    except (MissingEvidence, ParseError):
        return {}
    if not bonds:
        return {}
    return {"bonds": [{"name": b.name, "mode": b.mode, "mii_status": b.mii_status,
                       "slaves": {s.name: s.mii_status for s in b.slaves}} for b in bonds]}


FUZZ_TARGETS = [parse_bonding]
