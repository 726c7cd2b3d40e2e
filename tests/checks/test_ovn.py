from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackrx.checks.ovn import edit_distance, parse_remote
from stackrx.demo.areas import ovn_ha
from stackrx.demo.builder import Interface, NodeTree
from stackrx.engine import load_all_checks, scan_host, select_checks
from stackrx.models import Result, Severity, Status
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
