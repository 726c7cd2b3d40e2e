from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackrx.checks.ovn import edit_distance, parse_remote
from stackrx.demo.areas import ovn_ha
from stackrx.demo.builder import Interface, NodeTree
from stackrx.engine import load_all_checks, scan_host, select_checks
from stackrx.models import Result, Severity, Status
from stackrx.sources.base import HostView, Text
from stackrx.sources.sosreport import SosReportView
from testkit import REALDATA, failing, scan_dir, scan_tree

SUNBEAM = REALDATA / "hotsos" / "sunbeam-hypervisor-sosreport"
PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
OVN_CONTROLLER = "root 1502 0.0 0.1 1 1 ? Ss Feb09 0:04 ovn-controller unix:/var/run/openvswitch/db.sock --detach\n"
MODULES = ["openvswitch", "geneve", "nf_conntrack", "nf_nat", "udp_tunnel"]


def _ids(**overrides: str | None) -> dict[str, str]:
    ids = {"system-id": "hv-1", "hostname": "hv-1", "ovn-remote": "tcp:10.0.0.10:6642",
           "ovn-encap-type": "geneve", "ovn-encap-ip": "10.0.0.31", "ovn-bridge-mappings": "physnet1:br-ex"}
    for key, value in overrides.items():
        key = key.replace("_", "-")
        if value is None:
            ids.pop(key, None)
        else:
            ids[key] = value
    return ids


def _render(ids: dict[str, str]) -> str:
    body = ", ".join(f'"{k}"="{v}"' for k, v in ids.items())
    return ("_uuid               : 5b1c2d3e-0000-4000-8000-000000000031\n"
            f"external_ids        : {{{body}}}\n"
            'ovs_version         : "2.17.9"\n')


def _chassis(ids: dict[str, str] | None = None, *, controller: bool = True, ps: bool = True,
             modules: list[str] | None = None, genev_dev: bool = True, kernel: str = "5.4.0-97-generic",
             datapath: str = "system") -> NodeTree:
    node = NodeTree("hv-1", kernel=kernel)
    node.interfaces.append(Interface("eth0", addrs=["10.0.0.31/24"]))
    if genev_dev:
        node.interfaces.append(Interface("genev_sys_6081", kind="geneve", mtu=65000, master="ovs-system"))
    node.command("ovs-vsctl list Open_vSwitch", _render(_ids() if ids is None else ids))
    node.command("ovs-vsctl show", "5b1c2d3e-0000-4000-8000-000000000031\n    Bridge br-int\n"
                 f"        fail_mode: secure\n        datapath_type: {datapath}\n"
                 "        Port br-int\n            Interface br-int\n                type: internal\n")
    if ps:
        node.command("ps auxwww", PS_HEADER + "root 1 0.0 0.0 1 1 ? Ss Feb09 0:01 /sbin/init\n"
                     + (OVN_CONTROLLER if controller else ""))
    node.modules.extend(MODULES if modules is None else modules)
    return node


def _ml2_ovs_node() -> NodeTree:
    node = NodeTree("ovs-compute")
    node.interfaces.append(Interface("eth0", addrs=["10.0.0.40/24"]))
    node.command("ovs-vsctl list Open_vSwitch", _render({"system-id": "1b2c", "hostname": "ovs-compute"}))
    node.command("ps auxwww", PS_HEADER + "neutron 2011 0.0 0.1 1 1 ? Ss Feb09 0:04 /usr/bin/python3 "
                 "/usr/bin/neutron-openvswitch-agent --config-file=/etc/neutron/neutron.conf\n")
    node.file("etc/neutron/plugins/ml2/openvswitch_agent.ini", "[agent]\ntunnel_types = vxlan\n")
    node.modules.extend(["openvswitch", "vxlan", "nf_conntrack", "nf_nat"])
    return node


def _statuses(results: list[Result]) -> list[Status]:
    return [r.status for r in results]


# -- helpers ---------------------------------------------------------------------------------------------
def test_parse_remote_and_edit_distance() -> None:
    tcp = parse_remote("tcp:10.0.0.10:6642")
    assert tcp is not None and (tcp.protocol, tcp.host, tcp.port) == ("tcp", "10.0.0.10", 6642)
    v6 = parse_remote("ssl:[fd00::10]:16642")
    assert v6 is not None and (v6.host, v6.port) == ("fd00::10", 16642)
    bare = parse_remote("tcp:sb.example.org")
    assert bare is not None and bare.port == 6642
    unix = parse_remote("unix:/run/ovn/ovnsb_db.sock")
    assert unix is not None and unix.path == "/run/ovn/ovnsb_db.sock"
    for bad in ("10.0.0.10:6642", "ptcp:6642", "tcp:", "tcp:1.2.3.4:99999", "http://x:6642", "tcp:a b:1"):
        assert parse_remote(bad) is None, bad
    assert edit_distance("ovn-encap type", "ovn-encap-type") == 1
    assert edit_distance("ovn-remtoe", "ovn-remote") == 2
    assert edit_distance("ovn-encap-tos", "ovn-encap-type") == 3


# -- OVN-001 ---------------------------------------------------------------------------------------------
def test_ovn001_complete_chassis_passes(tmp_path: Path) -> None:
    results = scan_tree(_chassis(), tmp_path, "OVN-001")
    assert _statuses(results) == [Status.passed]
    assert "ovn-encap-ip=10.0.0.31" in results[0].message


def test_ovn001_seed_typo_and_missing_keys(tmp_path: Path) -> None:
    ids = _ids(ovn_encap_ip=None, ovn_encap_type=None)
    ids["ovn-encap type"] = "geneve"
    results = scan_tree(_chassis(ids), tmp_path, "OVN-001")
    bad = {r.resource: r for r in failing(results)}
    assert set(bad) == {"ovn-encap-type", "ovn-encap-ip", "ovn-encap type"}
    assert bad["ovn-encap-ip"].severity == Severity.critical and "missing" in bad["ovn-encap-ip"].message
    typo = bad["ovn-encap type"]
    assert typo.status == Status.fail and typo.severity == Severity.high
    assert "probably a typo of 'ovn-encap-type'" in typo.message
    ev = typo.evidence[0]
    assert ev.source == "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch" and ev.line == 2
    assert ev.excerpt == "external_ids:ovn-encap type=geneve"


def test_ovn001_bare_type_key_and_near_miss(tmp_path: Path) -> None:
    ids = _ids()
    ids["type"] = "geneve"
    ids["ovn-remtoe"] = "tcp:10.0.0.10:6642"
    results = scan_tree(_chassis(ids), tmp_path, "OVN-001")
    assert sorted(r.resource for r in failing(results)) == ["ovn-remtoe", "type"]
    assert all(r.severity == Severity.high for r in failing(results))


def test_ovn001_known_keys_are_not_typos(tmp_path: Path) -> None:
    """Trap: real ovn-controller keys near the watched ones (ovn-encap-tos, probe intervals, per-chassis
    `<key>-<system-id>` overrides) must not be called typos."""
    ids = _ids()
    ids.update({"ovn-encap-tos": "0", "ovn-remote-probe-interval": "60000", "ovn-encap-ip-hv-1": "10.0.0.31",
                "ovn-cms-options": "enable-chassis-as-gw", "ovn-monitor-all": "true"})
    assert _statuses(scan_tree(_chassis(ids), tmp_path, "OVN-001")) == [Status.passed]


def test_ovn001_encap_ip_not_local(tmp_path: Path) -> None:
    results = scan_tree(_chassis(_ids(ovn_encap_ip="10.0.0.99")), tmp_path, "OVN-001")
    (bad,) = failing(results)
    assert bad.severity == Severity.critical and bad.resource == "ovn-encap-ip"
    assert "10.0.0.99 is not configured on any interface" in bad.message
    assert bad.evidence[0].excerpt == "external_ids:ovn-encap-ip=10.0.0.99"


def test_ovn001_encap_type_vs_ml2_geneve(tmp_path: Path) -> None:
    node = _chassis(_ids(ovn_encap_type="vxlan"))
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini", "[ml2]\ntenant_network_types = geneve,vlan\n")
    (bad,) = failing(scan_tree(node, tmp_path / "geneve", "OVN-001"))
    assert bad.severity == Severity.critical and "lacks geneve" in bad.message
    assert bad.evidence[1].source == "etc/neutron/plugins/ml2/ml2_conf.ini" and bad.evidence[1].line == 2
    # Trap: vxlan encap is fine when ML2 does not allocate geneve tenant networks.
    node = _chassis(_ids(ovn_encap_type="vxlan"))
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini", "[ml2]\ntenant_network_types = vxlan\n")
    assert _statuses(scan_tree(node, tmp_path / "vxlan", "OVN-001")) == [Status.passed]


def test_ovn001_malformed_remote(tmp_path: Path) -> None:
    results = scan_tree(_chassis(_ids(ovn_remote="tcp:10.0.0.10:6642,10.0.0.11:6642")), tmp_path, "OVN-001")
    (bad,) = failing(results)
    assert bad.severity == Severity.critical and "'10.0.0.11:6642' is not tcp:HOST:PORT" in bad.message


def test_ovn001_ml2_ovs_node_skipped(tmp_path: Path) -> None:
    results = scan_tree(_ml2_ovs_node(), tmp_path, "OVN-001")
    assert _statuses(results) == [Status.skipped] and "not an OVN chassis" in results[0].message


def test_ovn001_missing_inputs(tmp_path: Path) -> None:
    node = NodeTree("bare")
    results = scan_tree(node, tmp_path / "bare", "OVN-001")
    assert _statuses(results) == [Status.skipped] and "input missing" in results[0].message
    node = NodeTree("ovn-no-db")
    node.command("ps auxwww", PS_HEADER + OVN_CONTROLLER)
    results = scan_tree(node, tmp_path / "nodb", "OVN-001")
    assert _statuses(results) == [Status.skipped] and "ovn-controller" in results[0].message


def test_ovn001_deployment_in_progress_is_medium(tmp_path: Path) -> None:
    """Trap: keys half set while ovn-controller is not running yet = initial deployment, not a dead chassis."""
    results = scan_tree(_chassis(_ids(ovn_remote=None), controller=False), tmp_path, "OVN-001")
    (bad,) = failing(results)
    assert bad.status == Status.warn and bad.severity == Severity.medium
    assert "deployment in progress" in bad.message


def test_ovn001_southbound_registration(tmp_path: Path) -> None:
    node = _chassis()
    node.file("sos_commands/ovn_central/ovn-sbctl_show",
              'Chassis hv-2\n    hostname: hv-2\n    Encap geneve\n        ip: "10.0.0.32"\n')
    (bad,) = failing(scan_tree(node, tmp_path / "absent", "OVN-001"))
    assert bad.severity == Severity.critical and "system-id hv-1 is not a Chassis" in bad.message
    node.file("sos_commands/ovn_central/ovn-sbctl_show",
              'Chassis hv-1\n    hostname: hv-1\n    Encap geneve\n        ip: "10.0.0.31"\n')
    assert _statuses(scan_tree(node, tmp_path / "present", "OVN-001")) == [Status.passed]


class _LiveLike(SosReportView):
    """A sosreport tree read as if it were the live host, so the TCP probe runs (loopback only)."""

    kind = "live"


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


def _closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _scan_live(root: Path) -> list[Result]:
    return scan_host(_LiveLike(root), select_checks(load_all_checks(), only=["OVN-001"]))


def test_ovn001_live_tcp_probe(tmp_path: Path, listener: int) -> None:
    _chassis(_ids(ovn_remote=f"tcp:127.0.0.1:{listener}")).write(tmp_path / "up")
    assert _statuses(_scan_live(tmp_path / "up")) == [Status.passed]
    closed = _closed_port()
    _chassis(_ids(ovn_remote=f"ssl:127.0.0.1:{closed}")).write(tmp_path / "down")
    (bad,) = failing(_scan_live(tmp_path / "down"))
    assert bad.severity == Severity.critical and f"127.0.0.1:{closed}" in bad.message
    assert bad.evidence[-1].source == f"tcp-connect:127.0.0.1:{closed}"
    # A sosreport never probes: the same tree is judged on its text only.
    assert _statuses(scan_dir(tmp_path / "down", "OVN-001")) == [Status.passed]


# -- OVN-003 ---------------------------------------------------------------------------------------------
def test_ovn003_healthy_chassis_passes(tmp_path: Path) -> None:
    assert _statuses(scan_tree(_chassis(), tmp_path, "OVN-003")) == [Status.passed]


def test_ovn003_geneve_module_missing(tmp_path: Path) -> None:
    node = _chassis(modules=["openvswitch", "nf_conntrack", "nf_nat"], genev_dev=False)
    (bad,) = failing(scan_tree(node, tmp_path, "OVN-003"))
    assert bad.status == Status.fail and bad.severity == Severity.high and bad.resource == "geneve"
    assert "geneve module is not loaded and no genev_sys_* device" in bad.message
    assert bad.evidence[-1].source == "sos_commands/kernel/lsmod"


def test_ovn003_genev_device_proves_geneve(tmp_path: Path) -> None:
    """Trap: a genev_sys device exists only when geneve works (module loaded or built in)."""
    node = _chassis(modules=["openvswitch", "nf_conntrack", "nf_nat"], genev_dev=True)
    assert _statuses(scan_tree(node, tmp_path, "OVN-003")) == [Status.passed]


def test_ovn003_datapath_modules_missing(tmp_path: Path) -> None:
    node = _chassis(modules=["geneve", "nf_conntrack"])
    (bad,) = failing(scan_tree(node, tmp_path, "OVN-003"))
    assert bad.severity == Severity.high and "openvswitch, nf_nat" in bad.message


def test_ovn003_userspace_datapath_skipped(tmp_path: Path) -> None:
    node = _chassis(modules=[], genev_dev=False, datapath="netdev")
    results = scan_tree(node, tmp_path, "OVN-003")
    assert _statuses(results) == [Status.skipped] and "userspace datapath" in results[0].message


def test_ovn003_old_kernel_nat(tmp_path: Path) -> None:
    node = _chassis(kernel="4.4.0-210-generic")
    (bad,) = failing(scan_tree(node, tmp_path / "mapped", "OVN-003"))
    assert bad.severity == Severity.high and "kernel 4.4.0-210-generic < 4.6" in bad.message
    assert bad.evidence[0].source == "sos_commands/kernel/uname_-a"
    # No external network on this chassis: OVN does no NAT here.
    node = _chassis(_ids(ovn_bridge_mappings=None), kernel="4.4.0-210-generic")
    assert _statuses(scan_tree(node, tmp_path / "internal", "OVN-003")) == [Status.passed]


def test_ovn003_rhel_backport_is_info(tmp_path: Path) -> None:
    node = _chassis(kernel="3.10.0-1160.el7.x86_64")
    results = scan_tree(node, tmp_path, "OVN-003")
    assert _statuses(results) == [Status.passed]
    assert results[0].severity == Severity.info and "enterprise kernel" in results[0].message


def test_ovn003_ml2_ovs_geneve_agent_applies(tmp_path: Path) -> None:
    node = _ml2_ovs_node()
    node.file("etc/neutron/plugins/ml2/openvswitch_agent.ini", "[agent]\ntunnel_types = geneve\n")
    (bad,) = failing(scan_tree(node, tmp_path, "OVN-003"))
    assert "OVS agent tunnel_types include geneve" in bad.message


def test_ovn003_ml2_ovs_vxlan_skipped(tmp_path: Path) -> None:
    results = scan_tree(_ml2_ovs_node(), tmp_path, "OVN-003")
    assert _statuses(results) == [Status.skipped] and "no geneve in use" in results[0].message


# -- demo and real data ----------------------------------------------------------------------------------
def _demo_compute(name: str = "compute-2") -> NodeTree:
    node = NodeTree(name)
    node.interfaces.append(Interface("eth0", addrs=[f"10.0.0.3{name[-1]}/24"]))
    ovn_ha.healthy(node, "compute")
    return node


def test_demo_compute_healthy_and_faults(tmp_path: Path) -> None:
    assert failing(scan_tree(_demo_compute(), tmp_path / "healthy", "OVN-001", "OVN-003")) == []
    node = _demo_compute("compute-1")
    ovn_ha.FAULTS["OVN-001"](node)
    assert {r.resource for r in failing(scan_tree(node, tmp_path / "ovn001", "OVN-001"))} == {
        "ovn-encap-type", "ovn-encap-ip", "ovn-encap type"}
    node = _demo_compute()
    ovn_ha.FAULTS["OVN-003"](node)
    (bad,) = failing(scan_tree(node, tmp_path / "ovn003", "OVN-003"))
    assert bad.resource == "geneve"


def test_compute4_ml2_ovs_not_applicable(compute4: Path) -> None:
    """compute4 runs neutron-openvswitch-agent with VXLAN (external_ids only hostname/rundir/system-id, no
    ovn-controller in ps_auxwwwm): neither OVN check applies."""
    results = scan_dir(compute4, "OVN-001", "OVN-003")
    assert _statuses(results) == [Status.skipped, Status.skipped]
    assert all("not applicable" in r.message for r in results)


def test_sunbeam_chassis_evaluated() -> None:
    if not SUNBEAM.is_dir():
        pytest.skip(f"real data not present: {SUNBEAM}")
    results = {r.check_id: r for r in scan_dir(SUNBEAM, "OVN-001", "OVN-003")}
    assert results["OVN-001"].status == Status.passed
    assert "system-id=noble-sunbeam.lxd" in results["OVN-001"].message
    assert "not verified: ovn-encap-ip is local" in results["OVN-001"].message  # no ip address output
    # The sunbeam report has no lsmod, uname or ip link output.
    assert results["OVN-003"].status == Status.skipped and "input missing" in results["OVN-003"].message


COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _ps(*commands: str) -> str:
    rows = [f"root {1000 + i} 0.0 0.1 1000 100 ? Ss Nov30 0:01 {c}\n" for i, c in enumerate(commands)]
    return PS_HEADER + "".join(rows)


def _open_vswitch(**ids: str) -> str:
    rendered = ", ".join(f'{k}="{v}"' for k, v in ids.items())
    return f"_uuid               : 5b1c2d3e-0000-4000-8000-000000000031\nexternal_ids        : {{{rendered}}}\n"


SHOW = """5b1c2d3e-0000-4000-8000-000000000031
    Bridge br-int
        fail_mode: secure
        Port br-int
            Interface br-int
                type: internal
{br_int}    Bridge br-ex
        Port br-ex
            Interface br-ex
                type: internal
{br_ex}    ovs_version: "3.3.0"
"""
ETH1 = "        Port eth1\n            Interface eth1\n"
PROVNET = "9d3c1b2a-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
OVN_PATCH_INT = (f"        Port patch-br-int-to-provnet-{PROVNET}\n"
                 f"            Interface patch-br-int-to-provnet-{PROVNET}\n"
                 f"                type: patch\n                options: {{peer=patch-provnet-{PROVNET}-to-br-int}}\n")
OVN_PATCH_EX = (f"        Port patch-provnet-{PROVNET}-to-br-int\n"
                f"            Interface patch-provnet-{PROVNET}-to-br-int\n"
                f"                type: patch\n                options: {{peer=patch-br-int-to-provnet-{PROVNET}}}\n")
ML2_PATCH_INT = ("        Port int-br-ex\n            Interface int-br-ex\n                type: patch\n"
                 "                options: {peer=phy-br-ex}\n")
ML2_PATCH_EX = ("        Port phy-br-ex\n            Interface phy-br-ex\n                type: patch\n"
                "                options: {peer=int-br-ex}\n")


def _gw_chassis(*, cms: str | None = "enable-chassis-as-gw", mappings: str | None = "physnet1:br-ex",
                uplink: bool = True, br_ex: bool = True, ps: tuple[str, ...] = ("ovn-controller unix:db.sock",),
                br_int_extra: str = "", br_ex_extra: str = "") -> NodeTree:
    node = NodeTree("gw-1", collected=COLLECTED)
    node.interfaces.append(Interface("eth0", addrs=["10.0.0.21/24"]))
    ids = {"system-id": "gw-1", "ovn-remote": "tcp:10.0.0.10:6642", "ovn-encap-type": "geneve",
           "ovn-encap-ip": "10.0.0.21"}
    if cms is not None:
        ids["ovn-cms-options"] = cms
    if mappings is not None:
        ids["ovn-bridge-mappings"] = mappings
    node.command("ovs-vsctl list Open_vSwitch", _open_vswitch(**ids))
    show = SHOW.format(br_int=br_int_extra, br_ex=(ETH1 if uplink else "") + br_ex_extra)
    if not br_ex:
        show = show.split("    Bridge br-ex")[0] + '    ovs_version: "3.3.0"\n'
    node.command("ovs-vsctl show", show)
    node.command("ps auxwww", _ps(*ps))
    return node


# ---------------------------------------------------------------------------------------------------------
# OVN-002
# ---------------------------------------------------------------------------------------------------------

def test_ovn002_gateway_with_mapping_and_uplink_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_gw_chassis(), tmp_path, "OVN-002"))
    assert r.status is Status.passed
    assert "gateway chassis" in r.message and "physnet1 on br-ex via eth1" in r.message


def test_ovn002_gateway_without_mappings_is_high(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_gw_chassis(mappings=None), tmp_path, "OVN-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "ovn-bridge-mappings")
    assert r.evidence[0].excerpt == "external_ids:ovn-cms-options=enable-chassis-as-gw"


def test_ovn002_mapped_bridge_missing(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_gw_chassis(br_ex=False), tmp_path, "OVN-002")))
    assert r.resource == "br-ex" and "does not exist in OVS" in r.message


def test_ovn002_bridge_without_physical_port(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_gw_chassis(uplink=False, br_ex_extra=OVN_PATCH_EX), tmp_path / "a", "OVN-002")))
    assert (r.severity, r.resource) == (Severity.high, "br-ex")
    assert "no physical uplink" in r.message and "not collected" not in r.message
    node = _gw_chassis(uplink=False)
    node.interfaces.clear()
    r = _one(failing(scan_tree(node, tmp_path / "b", "OVN-002")))
    assert "unless it carries a host-routed address: ip address not collected" in r.message


def test_ovn002_host_routed_bridge_is_accepted(tmp_path: Path) -> None:
    node = _gw_chassis(uplink=False)
    node.interfaces.append(Interface("br-ex", kind="openvswitch", addrs=["172.16.2.1/24"]))
    r = _one(scan_tree(node, tmp_path, "OVN-002"))
    assert r.status is Status.passed and "host-routed external network" in r.message


def test_ovn002_compute_mappings_are_fine_and_not_gateway_noted(tmp_path: Path) -> None:
    r = _one(scan_tree(_gw_chassis(cms=None), tmp_path, "OVN-002"))
    assert r.status is Status.passed and "not gateway-capable" in r.message
    assert "southbound database or the fleet view" in r.message


SB_CHASSIS = """_uuid               : 1
name                : cmp-1
hostname            : cmp-1
other_config        : {{{cms1}}}

_uuid               : 2
name                : cmp-2
hostname            : cmp-2
external_ids        : {{{cms2}}}
other_config        : {{}}
"""
SB_PORTS = """_uuid               : 11
chassis             : []
logical_port        : cr-lrp-5f1c0a9e
type                : chassisredirect

_uuid               : 12
chassis             : 2
logical_port        : cr-lrp-77aa
type                : chassisredirect

_uuid               : 13
chassis             : []
logical_port        : 0e778df8-ca29-490b-8d54-e238b1e0be1c
type                : ""
"""


def _central(cms1: str = "", cms2: str = "", ports: str | None = None) -> NodeTree:
    node = NodeTree("ctl-1", collected=COLLECTED)
    node.command("ps auxwww", _ps("ovn-northd --ovnnb-db=unix:nb.sock"))
    node.file("sos_commands/ovn_central/ovn-sbctl_--no-leader-only_list_Chassis", SB_CHASSIS.format(cms1=cms1,
                                                                                                   cms2=cms2))
    if ports is not None:
        node.file("sos_commands/ovn_central/ovn-sbctl_--no-leader-only_list_Port_Binding", ports)
    return node


def test_ovn002_no_gateway_chassis_in_the_southbound_is_critical(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_central(), tmp_path, "OVN-002")))
    assert (r.severity, r.resource) == (Severity.critical, "southbound:Chassis")
    assert "none of the 2 chassis" in r.message and "cmp-1, cmp-2" in r.message


@pytest.mark.parametrize(("cms1", "cms2"), [('ovn-cms-options="enable-chassis-as-gw"', ""),
                                            ("", 'ovn-cms-options="enable-chassis-as-gw,availability-zones=az1"')])
def test_ovn002_gateway_in_other_config_or_legacy_external_ids(tmp_path: Path, cms1: str, cms2: str) -> None:
    r = _one(scan_tree(_central(cms1, cms2), tmp_path, "OVN-002"))
    assert r.status is Status.passed and "1 of 2 chassis gateway-capable" in r.message


def test_ovn002_unbound_gateway_port(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_central('ovn-cms-options="enable-chassis-as-gw"', ports=SB_PORTS), tmp_path,
                               "OVN-002")))
    assert (r.severity, r.resource) == (Severity.high, "southbound:Port_Binding")
    assert "1 router gateway port(s)" in r.message and "cr-lrp-5f1c0a9e" in r.message
    assert r.evidence[0].line == 1


def test_ovn002_plain_node_is_not_applicable(tmp_path: Path) -> None:
    node = NodeTree("plain", collected=COLLECTED)
    node.command("ps auxwww", _ps("/sbin/init"))
    r = _one(scan_tree(node, tmp_path, "OVN-002"))
    assert r.status is Status.skipped and "not an OVN chassis" in r.message


def test_ovn002_sunbeam_gateway_br_ex_has_no_uplink() -> None:
    if not SUNBEAM.is_dir():
        pytest.skip("sunbeam sosreport not present")
    r = _one(scan_dir(SUNBEAM, "OVN-002"))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "br-ex")
    assert "administratively down" in r.message


def test_ovn002_compute4(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "OVN-002"))
    assert r.status is Status.skipped and "not an OVN chassis" in r.message


# ---------------------------------------------------------------------------------------------------------
# OVN-004
# ---------------------------------------------------------------------------------------------------------

def _ml2(body: str, ps: tuple[str, ...] = ("neutron-server --config-file=/etc/neutron/neutron.conf",)) -> NodeTree:
    node = NodeTree("ctl-1", collected=COLLECTED)
    node.file("etc/neutron/plugins/ml2/ml2_conf.ini", body)
    node.command("ps auxwww", _ps(*ps))
    return node


ML2_OVN = "[ml2]\nmechanism_drivers = ovn\ntype_drivers = local,flat,vlan,geneve\ntenant_network_types = geneve\n"


def test_ovn004_default_geneve_header_is_high(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_ml2(ML2_OVN), tmp_path, "OVN-004")))
    assert (r.severity, r.resource) == (Severity.high, "max_header_size")
    assert "max_header_size is 30" in r.message
    assert r.evidence[0].excerpt == "[ml2_type_geneve] max_header_size not set (default 30)"


def test_ovn004_server_exit_in_the_log_is_critical(tmp_path: Path) -> None:
    node = _ml2(ML2_OVN + "[ml2_type_geneve]\nmax_header_size = 30\n")
    node.file("var/log/neutron/neutron-server.log",
              "2026-12-01 08:00:00.000 777 CRITICAL neutron.plugins.ml2.drivers.ovn.mech_driver.mech_driver [-] "
              "Geneve max_header_size set too low for OVN (30 vs 38)\n")
    r = _one(failing(scan_tree(node, tmp_path, "OVN-004")))
    assert r.severity is Severity.critical and "logged that it exits" in r.message
    assert r.evidence[0].source == "etc/neutron/plugins/ml2/ml2_conf.ini" and r.evidence[0].line == 6
    assert r.evidence[-1].source == "var/log/neutron/neutron-server.log"


def test_ovn004_header_38_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_ml2(ML2_OVN + "[ml2_type_geneve]\nmax_header_size = 38\n"), tmp_path, "OVN-004"))
    assert r.status is Status.passed and "geneve max_header_size 38" in r.message
    assert "live hosts only" in r.message


def test_ovn004_vxlan_only_ovn_is_not_flagged(tmp_path: Path) -> None:
    body = "[ml2]\nmechanism_drivers = ovn\ntype_drivers = flat,vlan,vxlan\nproject_network_types = vxlan\n"
    r = _one(scan_tree(_ml2(body), tmp_path, "OVN-004"))
    assert r.status is Status.passed


def test_ovn004_geneve_projects_without_the_driver(tmp_path: Path) -> None:
    body = "[ml2]\nmechanism_drivers = ovn\ntype_drivers = flat,vlan\ntenant_network_types = geneve\n"
    r = _one(failing(scan_tree(_ml2(body), tmp_path, "OVN-004")))
    assert (r.severity, r.resource) == (Severity.high, "type_drivers")
    assert "tenant_network_types asks for geneve" in r.message


@pytest.mark.parametrize(("agent", "flagged"), [(False, True), (True, False)])
def test_ovn004_metadata_agent_on_an_all_in_one(tmp_path: Path, agent: bool, flagged: bool) -> None:
    body = ML2_OVN + "[ml2_type_geneve]\nmax_header_size = 38\n[ovn]\novn_metadata_enabled = True\n"
    ps = ("neutron-server", "/usr/bin/python3 /usr/bin/nova-compute --config-file=/etc/nova/nova.conf",
          *(("/usr/bin/python3 /usr/bin/neutron-ovn-metadata-agent",) if agent else ()))
    results = scan_tree(_ml2(body, ps), tmp_path, "OVN-004")
    if flagged:
        r = _one(failing(results))
        assert (r.severity, r.resource) == (Severity.high, "ovn_metadata_enabled")
    else:
        assert _one(results).status is Status.passed


def test_ovn004_not_ovn_is_not_applicable(tmp_path: Path) -> None:
    r = _one(scan_tree(_ml2("[ml2]\nmechanism_drivers = openvswitch\n"), tmp_path, "OVN-004"))
    assert r.status is Status.skipped


class _LiveConfig(HostView):
    kind = "live"

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    def resolve(self, path: str) -> Path | None:
        real = self.root / path
        return real if real.exists() else None

    def glob(self, pattern: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern))

    def command(self, key: str) -> Text | None:
        return None

    def hostname(self) -> str:
        return "live-ctl"


def test_ovn004_live_unreachable_databases(tmp_path: Path) -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    try:
        up = listening.getsockname()[1]
        cfg = tmp_path / "etc/neutron/plugins/ml2/ml2_conf.ini"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(ML2_OVN + "[ml2_type_geneve]\nmax_header_size = 38\n[ovn]\n"
                       f"ovn_nb_connection = tcp:127.0.0.1:{dead_port}\n"
                       f"ovn_sb_connection = tcp:127.0.0.1:{up},tcp:127.0.0.1:{dead_port}\n")
        results = scan_host(_LiveConfig(tmp_path), select_checks(load_all_checks(), only=["OVN-004"]))
    finally:
        listening.close()
    by = {r.resource: r for r in results}
    assert by["ovn_nb_connection"].severity is Severity.critical
    assert by["ovn_sb_connection"].severity is Severity.high and "1 of 2" in by["ovn_sb_connection"].message


def test_ovn004_compute4(compute4: Path) -> None:
    assert _one(scan_dir(compute4, "OVN-004")).status is Status.skipped


# ---------------------------------------------------------------------------------------------------------
# OVN-005
# ---------------------------------------------------------------------------------------------------------

def _mountinfo(count: int, fstype: str = "tmpfs", nsfs: int = 0, base: int = 100) -> str:
    lines = ["22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw"]
    lines += [f"{base + i} 22 0:{50 + i % 200} / /run/x{i} rw shared:{i + 2} - {fstype} {fstype} rw"
              for i in range(count)]
    lines += [f"{9000 + i} 22 0:4 net:[4026532{i:03d}] /run/netns/qrouter-{i // 2} rw shared:900 - nsfs nsfs rw"
              for i in range(nsfs)]
    return "\n".join(lines) + "\n"


def _mount_node(mountinfo: str, mount_max: int | None = None, namespaces: int = 0) -> NodeTree:
    node = NodeTree("net-1", collected=COLLECTED)
    node.file("proc/self/mountinfo", mountinfo)
    if mount_max is not None:
        node.sysctl["fs.mount-max"] = str(mount_max)
    if namespaces:
        node.command("ip netns", "".join(f"qrouter-{i} (id: {i})\n" for i in range(namespaces)))
    return node


def test_ovn005_small_table_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_mount_node(_mountinfo(20, nsfs=4), 100000, namespaces=2), tmp_path, "OVN-005"))
    assert r.status is Status.passed and "4 nsfs mounts for 2 namespaces" in r.message


def test_ovn005_many_mounts_is_high(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_mount_node(_mountinfo(12000), 100000), tmp_path, "OVN-005")))
    assert (r.severity, r.resource) == (Severity.high, "host mount table")
    assert r.evidence[0].source == "proc/self/mountinfo" and "tmpfs 12000" in r.evidence[0].excerpt


def test_ovn005_half_of_mount_max_is_critical(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_mount_node(_mountinfo(12000), 20000), tmp_path, "OVN-005")))
    assert r.severity is Severity.critical and "50% of fs.mount-max 20000" in r.message


def test_ovn005_overlay_mounts_are_counted_not_flagged(tmp_path: Path) -> None:
    r = _one(scan_tree(_mount_node(_mountinfo(12000, fstype="overlay"), 100000), tmp_path, "OVN-005"))
    assert r.status is Status.passed and "12001 mounts" in r.message


def test_ovn005_unknown_limit_uses_30000(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_mount_node(_mountinfo(30500, fstype="overlay")), tmp_path, "OVN-005")))
    assert r.severity is Severity.critical and "30000 (fs.mount-max unknown)" in r.message


def test_ovn005_nsfs_propagation_loop(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_mount_node(_mountinfo(10, nsfs=12), 100000, namespaces=2), tmp_path, "OVN-005")))
    assert (r.severity, r.resource) == (Severity.critical, "/run/netns")
    assert "12 nsfs mounts under /run/netns for 2 network namespaces" in r.message


def test_ovn005_container_namespace_is_counted(tmp_path: Path) -> None:
    node = _mount_node(_mountinfo(10), 100000)
    node.file("proc/4242/mountinfo", _mountinfo(60000, fstype="nsfs"))
    r = _one(failing(scan_tree(node, tmp_path, "OVN-005")))
    assert (r.severity, r.resource) == (Severity.critical, "mount namespace of pid 4242")


def _inspect(name: str, mounts: list[dict[str, object]], profile: str = "unconfined",
             privileged: bool = True) -> str:
    return json.dumps([{"Name": f"/{name}", "AppArmorProfile": profile, "State": {"Running": True},
                        "HostConfig": {"Privileged": privileged, "SecurityOpt": None}, "Mounts": mounts}], indent=4)


NETNS_SHARED = {"Type": "bind", "Source": "/run/netns", "Destination": "/run/netns", "RW": True,
                "Propagation": "shared"}


@pytest.mark.parametrize(("mounts", "flagged"), [([NETNS_SHARED], False),
                                                 ([{**NETNS_SHARED, "Propagation": "rprivate"}], True),
                                                 ([], True)])
def test_ovn005_network_container_netns_bind(tmp_path: Path, mounts: list[dict[str, object]], flagged: bool) -> None:
    node = _mount_node(_mountinfo(10), 100000)
    node.file("sos_commands/docker/containers/docker_inspect_neutron_l3_agent", _inspect("neutron_l3_agent", mounts))
    node.file("sos_commands/docker/containers/docker_inspect_horizon", _inspect("horizon", []))
    results = scan_tree(node, tmp_path, "OVN-005")
    if flagged:
        r = _one(failing(results))
        assert (r.severity, r.resource) == (Severity.high, "neutron_l3_agent")
        assert r.evidence[0].source == "sos_commands/docker/containers/docker_inspect_neutron_l3_agent"
    else:
        assert _one(results).status is Status.passed


def test_ovn005_compute4(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "OVN-005"))
    assert r.status is Status.passed and "6 nsfs mounts for 3 namespaces" in r.message


# ---------------------------------------------------------------------------------------------------------
# OVN-006
# ---------------------------------------------------------------------------------------------------------

DENIED = ('Dec  1 08:10:00 net-1 kernel: [ 91.2] audit: type=1400 audit(1764576600.1:42): apparmor="DENIED" '
          'operation="mount" info="failed flags match" error=-13 profile="{profile}" name="/run/netns/qrouter-1" '
          'pid=4411 comm="ip" flags="rw, bind"\n')


def _containers(profile: str = "docker-default", privileged: bool = False, kern: str = "") -> NodeTree:
    node = NodeTree("net-1", collected=COLLECTED)
    node.file("sos_commands/docker/containers/docker_inspect_neutron_dhcp_agent",
              _inspect("neutron_dhcp_agent", [NETNS_SHARED], profile=profile, privileged=privileged))
    node.file("var/log/kern.log", kern or "Dec  1 07:00:00 net-1 kernel: [1.0] Linux version\n")
    return node


def test_ovn006_default_profile_unprivileged_is_medium(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_containers(), tmp_path, "OVN-006")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "neutron_dhcp_agent")
    assert "AppArmorProfile docker-default, Privileged False" in r.evidence[0].excerpt


def test_ovn006_privileged_or_unconfined_passes(tmp_path: Path) -> None:
    assert _one(scan_tree(_containers(privileged=True), tmp_path / "a", "OVN-006")).status is Status.passed
    assert _one(scan_tree(_containers(profile="unconfined"), tmp_path / "b", "OVN-006")).status is Status.passed


def test_ovn006_mount_denial_for_a_container_profile_is_high(tmp_path: Path) -> None:
    node = _containers(privileged=True, kern=DENIED.format(profile="docker-default"))
    r = _one(failing(scan_tree(node, tmp_path, "OVN-006")))
    assert (r.severity, r.resource) == (Severity.high, "apparmor")
    assert r.evidence[0].source == "var/log/kern.log" and r.evidence[0].line == 1


def test_ovn006_lxd_denials_are_ignored(tmp_path: Path) -> None:
    node = _containers(privileged=True, kern=DENIED.format(profile="lxd-juju-1_</var/snap/lxd/common/lxd>"))
    r = _one(scan_tree(node, tmp_path, "OVN-006"))
    assert r.status is Status.passed and "1 denial(s) for other profiles ignored" in r.message


def test_ovn006_selinux_host_is_not_applicable(tmp_path: Path) -> None:
    r = _one(scan_tree(_containers(profile=""), tmp_path, "OVN-006"))
    assert r.status is Status.skipped and "SELinux or podman" in r.message


def test_ovn006_compute4_lxd_denials_do_not_count(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "OVN-006"))
    assert r.status is Status.skipped
    assert "AppArmor mount denial(s) for non-container profiles ignored" in r.message


# ---------------------------------------------------------------------------------------------------------
# OVN-007
# ---------------------------------------------------------------------------------------------------------

def test_ovn007_ml2_pair_beside_provnet_pair(tmp_path: Path) -> None:
    node = _gw_chassis(cms=None, br_int_extra=OVN_PATCH_INT + ML2_PATCH_INT, br_ex_extra=OVN_PATCH_EX + ML2_PATCH_EX)
    r = _one(failing(scan_tree(node, tmp_path, "OVN-007")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "br-ex<->br-int")
    assert {e.excerpt.split()[1] for e in r.evidence} >= {"int-br-ex", f"patch-br-int-to-provnet-{PROVNET}"}


def test_ovn007_ovs_agent_on_a_chassis(tmp_path: Path) -> None:
    node = _gw_chassis(cms=None, br_int_extra=OVN_PATCH_INT, br_ex_extra=OVN_PATCH_EX,
                       ps=("ovn-controller unix:db.sock", "/usr/bin/python3 /usr/bin/neutron-openvswitch-agent"))
    r = _one(failing(scan_tree(node, tmp_path, "OVN-007")))
    assert r.resource == "neutron-openvswitch-agent" and "migration" in r.message


def test_ovn007_clean_chassis_passes(tmp_path: Path) -> None:
    node = _gw_chassis(cms=None, br_int_extra=OVN_PATCH_INT, br_ex_extra=OVN_PATCH_EX)
    r = _one(scan_tree(node, tmp_path, "OVN-007"))
    assert r.status is Status.passed and "no neutron-openvswitch-agent process" in r.message


def test_ovn007_ml2_ovs_node_is_not_applicable(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "OVN-007"))
    assert r.status is Status.skipped and "ovn-remote not set" in r.message


def test_ovn007_sunbeam() -> None:
    if not SUNBEAM.is_dir():
        pytest.skip("sunbeam sosreport not present")
    assert _one(scan_dir(SUNBEAM, "OVN-007")).status is Status.passed
