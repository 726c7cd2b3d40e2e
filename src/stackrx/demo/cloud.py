"""The demo cloud: seven sosreport-shaped nodes, generated from code, with planted tale faults.

The story: an ML2/OVS cloud whose network nodes run L3HA routers, half-way through a migration to OVN
(the computes are already OVN chassis). Each faulty node has a healthy twin of the same role, so a reader
can diff the two trees and see exactly what the planted fault is. Tests use the same corpus.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from stackrx.demo.builder import Interface, NodeTree

COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
AREAS = ("net", "ovn_ha", "compute")  # healthy() order: later areas append to what earlier ones built


@dataclass(frozen=True)
class DemoNode:
    name: str
    role: str
    ip: str
    faults: tuple[str, ...]
    twin: str = ""


NODES: tuple[DemoNode, ...] = (
    DemoNode("controller-1", "controller", "10.0.0.10", ("TEL-001", "STO-003")),
    DemoNode("network-1", "network", "10.0.0.21", ("HA-001", "NET-001", "SEC-001"), twin="network-2"),
    DemoNode("network-2", "network", "10.0.0.22", ()),
    DemoNode("compute-1", "compute", "10.0.0.31", ("CMP-001", "CMP-002", "CON-003", "NET-003", "NET-006", "OVN-001"),
             twin="compute-3"),
    DemoNode("compute-2", "compute", "10.0.0.32", ("NET-004", "NET-005", "OVN-003"), twin="compute-3"),
    DemoNode("compute-3", "compute", "10.0.0.33", ()),
    DemoNode("storage-1", "storage", "10.0.0.41", ("STO-003",)),
)


def _areas() -> list[ModuleType]:
    return [importlib.import_module(f"stackrx.demo.areas.{name}") for name in AREAS]


def planters() -> dict[str, Callable[[NodeTree], None]]:
    out: dict[str, Callable[[NodeTree], None]] = {}
    for module in _areas():
        out.update(module.FAULTS)
    return out


def build_node(node: DemoNode, *, faults: tuple[str, ...] | None = None) -> NodeTree:
    tree = NodeTree(hostname=node.name, collected=COLLECTED)
    tree.interfaces.append(Interface("lo", kind="loopback", mtu=65536, addrs=["127.0.0.1/8", "::1/128 host"],
                                     mac="00:00:00:00:00:00"))
    tree.interfaces.append(Interface("eth0", addrs=[f"{node.ip}/24"], mac=f"52:54:00:00:00:{node.ip.split('.')[-1]}"))
    for module in _areas():
        module.healthy(tree, node.role)
    plant = planters()
    for check_id in node.faults if faults is None else faults:
        plant[check_id](tree)
    return tree


def build_demo_cloud(dest: Path) -> list[Path]:
    """Write every node under `dest/<name>/` and return their roots."""
    dest.mkdir(parents=True, exist_ok=True)
    return [build_node(node).write(dest / node.name) for node in NODES]
