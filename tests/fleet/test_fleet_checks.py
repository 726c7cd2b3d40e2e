"""Cross-node checks over demo node trees: each check's failing and passing case and its catalogue traps."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import fleet_scenarios as S

from stackrx.demo.areas import ovn_ha
from stackrx.engine import ScanOptions
from stackrx.fleet.crossnode import FleetView, run_fleet_check
from stackrx.models import Severity, Status

NET = ("network-1", "network-2")
COMPUTES = ("compute-1", "compute-2", "compute-3")


def by_host(results: list) -> dict[str, list]:  # type: ignore[type-arg]
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for r in S.failing(results):
        out.setdefault(r.host, []).append(r)
    return out


def passed(results: list) -> list:  # type: ignore[type-arg]
    return [r for r in results if r.status is Status.passed]


# -- HA-F01 -----------------------------------------------------------------------------------------------
def test_ha_f01_one_primary_passes(tmp_path: Path) -> None:
    results = S.cross_node(S.healthy(*NET), tmp_path, "HA-F01")
    assert not S.failing(results)
    assert "active on network-1, standby on network-2" in passed(results)[0].message


def test_ha_f01_two_primaries_is_critical_split_brain(tmp_path: Path) -> None:
    trees = S.healthy(*NET)
    S.second_primary(trees["network-2"], trees["network-1"])
    found = by_host(S.cross_node(trees, tmp_path, "HA-F01"))
    assert set(found) == set(NET)
    r = found["network-2"][0]
    assert r.severity is Severity.critical and r.status is Status.fail
    assert "split brain" in r.message and r.resource == f"router {ovn_ha.ROUTER_ID}"
    assert r.evidence[0].source.endswith(f"ha_confs/{ovn_ha.ROUTER_ID}/state") and r.evidence[0].line == 1


def test_ha_f01_snapshots_minutes_apart_are_not_called_split_brain(tmp_path: Path) -> None:
    trees = S.healthy(*NET)
    S.second_primary(trees["network-2"], trees["network-1"])
    S.collected_at(trees["network-2"], "Tue Dec  1 09:10:00 UTC 2026")
    found = by_host(S.cross_node(trees, tmp_path, "HA-F01"))
    assert {r.severity for rs in found.values() for r in rs} == {Severity.medium}
    assert "inconsistent snapshot" in found["network-1"][0].message and "600 s apart" in found["network-1"][0].message


def test_ha_f01_failover_in_progress_is_not_judged(tmp_path: Path) -> None:
    trees = S.healthy(*NET)
    S.second_primary(trees["network-2"], trees["network-1"])
    root = S.write(trees, tmp_path / "nodes")
    collected = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
    state = root / "network-2" / ovn_ha.HA_CONFS / ovn_ha.ROUTER_ID / "state"
    os.utime(state, (collected - 20, collected - 20))
    view = FleetView(S.summaries_of(root, NET))
    results = run_fleet_check(S.check("HA-F01"), view, ScanOptions())
    assert not S.failing(results)
    assert "failover in progress" in passed(results)[0].message


def test_ha_f01_no_active_instance(tmp_path: Path) -> None:
    trees = S.healthy(*NET)
    trees["network-1"].file(f"{ovn_ha.HA_CONFS}/{ovn_ha.ROUTER_ID}/state", "backup")
    trees["network-1"].namespaces[ovn_ha.NAMESPACE] = dict(trees["network-2"].namespaces[ovn_ha.NAMESPACE])
    found = by_host(S.cross_node(trees, tmp_path / "a", "HA-F01"))
    assert {r.severity for rs in found.values() for r in rs} == {Severity.critical}
    assert "no active instance among 2 hosts" in found["network-1"][0].message
    # A host of the run that could not be collected may hold the active instance: high, and said so.
    found = by_host(S.cross_node(trees, tmp_path / "b", "HA-F01", missing=("network-3",)))
    assert {r.severity for rs in found.values() for r in rs} == {Severity.high}
    assert "could not be collected" in found["network-2"][0].message


def test_ha_f01_rogue_master_is_named_when_no_state_file_says_primary(tmp_path: Path) -> None:
    trees = {"network-1": S.node("network-1", faults=("HA-001",)), "network-2": S.node("network-2")}
    found = by_host(S.cross_node(trees, tmp_path, "HA-F01"))
    assert "network-1 carries the router's addresses" in found["network-2"][0].message


def test_ha_f01_ignores_dvr_agents(tmp_path: Path) -> None:
    trees = S.healthy(*NET)
    dvr = S.node("compute-1")
    dvr.file("etc/neutron/l3_agent.ini", "[DEFAULT]\nagent_mode = dvr\n")
    dvr.file(f"{ovn_ha.HA_CONFS}/{ovn_ha.ROUTER_ID}/state", "primary")
    trees["compute-1"] = dvr
    results = S.cross_node(trees, tmp_path, "HA-F01")
    assert not S.failing(results)


# -- NET-F01 ----------------------------------------------------------------------------------------------
def test_net_f01_uplink_mtu_drift_names_the_odd_host(tmp_path: Path) -> None:
    trees = S.healthy(*NET, *COMPUTES)
    S.uplink_mtu(trees["compute-2"], 1400)
    found = by_host(S.cross_node(trees, tmp_path, "NET-F01"))
    assert list(found) == ["compute-2"]
    r = found["compute-2"][0]
    assert r.severity is Severity.high and r.resource == "physnet:physnet1"
    assert "MTU 1400" in r.message and "1500" in r.message
    assert any(e.source.endswith("openvswitch_agent.ini") for e in r.evidence)
    assert any(e.source.endswith("ip_-s_-d_link") for e in r.evidence)


def test_net_f01_agreeing_mtus_pass(tmp_path: Path) -> None:
    results = S.cross_node(S.healthy(*NET, *COMPUTES), tmp_path, "NET-F01")
    assert not S.failing(results)
    assert "physnet physnet1 on 5 hosts" in passed(results)[0].message


def test_net_f01_hosts_without_the_physnet_are_not_compared(tmp_path: Path) -> None:
    trees = S.healthy(*NET, *COMPUTES)
    jumbo = S.node("compute-7", role="compute", ip="10.0.0.37")
    S.physnet_label(jumbo, "physnet1", "physnet9")
    S.uplink_mtu(jumbo, 9000)
    trees["compute-7"] = jumbo
    results = S.cross_node(trees, tmp_path, "NET-F01")
    assert not S.failing(results)


def _server(tree: S.NodeTree, mtu: int, physnet_mtus: str = "") -> None:
    ovn_ha.add_process(tree, "neutron", 2200, "/usr/bin/python3 /usr/bin/neutron-server "
                       "--config-file=/etc/neutron/neutron.conf")
    tree.file("etc/neutron/neutron.conf", f"[DEFAULT]\ncore_plugin = ml2\nglobal_physnet_mtu = {mtu}\n")
    if physnet_mtus:
        ml2 = tree.files["etc/neutron/plugins/ml2/ml2_conf.ini"]
        tree.file("etc/neutron/plugins/ml2/ml2_conf.ini", ml2.replace("path_mtu = 0", f"path_mtu = 0\n"
                                                                      f"physical_network_mtus = {physnet_mtus}"))


def _controllers(n: int) -> dict[str, S.NodeTree]:
    return {f"controller-{i}": S.node(f"controller-{i}", role="controller", ip=f"10.0.0.{9 + i}")
            for i in range(1, n + 1)}


def test_net_f01_neutron_servers_disagreeing_on_mtu_options(tmp_path: Path) -> None:
    trees = _controllers(3)
    for name, mtu in (("controller-1", 1500), ("controller-2", 1500), ("controller-3", 9000)):
        _server(trees[name], mtu)
    found = by_host(S.cross_node(trees, tmp_path, "NET-F01"))
    assert list(found) == ["controller-3"]
    r = found["controller-3"][0]
    assert r.resource == "neutron:global_physnet_mtu" and "9000" in r.message
    assert r.evidence[0].source == "etc/neutron/neutron.conf" and r.evidence[0].line == 3


def test_net_f01_uplinks_below_the_servers_physnet_mtu(tmp_path: Path) -> None:
    trees = {**_controllers(2), **S.healthy(*NET)}
    for name in ("controller-1", "controller-2"):
        _server(trees[name], 1500, physnet_mtus="physnet1:9000")
    found = by_host(S.cross_node(trees, tmp_path, "NET-F01"))
    assert set(found) == set(NET)
    assert "give its networks MTU 9000" in found["network-1"][0].message


# -- NET-F02 ----------------------------------------------------------------------------------------------
def test_net_f02_label_spelling_variant(tmp_path: Path) -> None:
    trees = S.healthy(*NET, *COMPUTES)
    S.physnet_label(trees["compute-3"], "physnet1", "Physnet1")
    found = by_host(S.cross_node(trees, tmp_path, "NET-F02"))
    assert "compute-3" in found
    r = next(r for r in found["compute-3"] if r.resource == "physnet:Physnet1")
    assert r.severity is Severity.high and "'physnet1'" in r.message
    assert r.evidence and r.evidence[0].source.endswith("openvswitch_agent.ini")


def test_net_f02_physnet_missing_on_one_l3_node(tmp_path: Path) -> None:
    trees = S.healthy(*NET)
    ini = "etc/neutron/plugins/ml2/openvswitch_agent.ini"
    net2 = trees["network-2"]
    net2.file(ini, net2.files[ini].replace("physnet1:br-ex", "physnet1:br-ex,physnet2:br-ex2"))
    found = by_host(S.cross_node(trees, tmp_path, "NET-F02"))
    assert list(found) == ["network-1"]
    assert found["network-1"][0].resource == "physnet:physnet2"
    assert "not here" in found["network-1"][0].message


def test_net_f02_distinct_labels_are_not_typos_and_agreement_passes(tmp_path: Path) -> None:
    trees = S.healthy(*NET, *COMPUTES)
    S.physnet_label(trees["compute-3"], "physnet1", "physnet2")  # a compute hosting another provider net
    results = S.cross_node(trees, tmp_path, "NET-F02")
    assert not S.failing(results)
    assert "physnet labels agree" in passed(results)[0].message


def test_net_f02_servers_disagree_on_flat_networks(tmp_path: Path) -> None:
    trees = _controllers(3)
    for name, flat in (("controller-1", "physnet1"), ("controller-2", "physnet1"), ("controller-3", "physnet2")):
        _server(trees[name], 1500)
        ml2 = trees[name].files["etc/neutron/plugins/ml2/ml2_conf.ini"]
        trees[name].file("etc/neutron/plugins/ml2/ml2_conf.ini", ml2 + f"\n[ml2_type_flat]\nflat_networks = {flat}\n")
    found = by_host(S.cross_node(trees, tmp_path, "NET-F02"))
    assert list(found) == ["controller-3"]
    assert found["controller-3"][0].resource == "neutron:flat_networks"


# -- CMP-F01 ----------------------------------------------------------------------------------------------
def test_cmp_f01_two_cleaners_on_one_export(tmp_path: Path) -> None:
    trees = S.healthy(*COMPUTES)
    S.shared_instances(trees["compute-1"], trees["compute-2"])
    found = by_host(S.cross_node(trees, tmp_path, "CMP-F01"))
    assert set(found) == {"compute-1", "compute-2"}
    r = found["compute-1"][0]
    assert r.severity is Severity.critical and "10.0.0.41:/export/nova-instances" in r.message
    assert any(e.source.endswith("mount_-l") for e in r.evidence)
    assert any(e.source == "etc/nova/nova.conf" for e in r.evidence)


def test_cmp_f01_local_instances_pass(tmp_path: Path) -> None:
    results = S.cross_node(S.healthy(*COMPUTES), tmp_path, "CMP-F01")
    assert not S.failing(results)
    assert "no shared instances store" in passed(results)[0].message


def _export(tree: S.NodeTree, old: str, new: str) -> None:
    for key in ("mount -l", "df -al", "df -ali"):
        tree.commands[key] = tree.commands[key].replace(old, new)


def test_cmp_f01_same_server_other_export_is_another_store(tmp_path: Path) -> None:
    trees = S.healthy(*COMPUTES)
    S.shared_instances(trees["compute-1"], trees["compute-2"])
    _export(trees["compute-2"], "/export/nova-instances", "/export/other")
    assert not S.failing(S.cross_node(trees, tmp_path, "CMP-F01"))


def test_cmp_f01_only_one_janitor_or_per_host_cache_is_fine(tmp_path: Path) -> None:
    trees = S.healthy(*COMPUTES)
    S.shared_instances(trees["compute-1"], trees["compute-2"])
    conf = trees["compute-2"].files["etc/nova/nova.conf"]
    trees["compute-2"].file("etc/nova/nova.conf", conf.replace("[image_cache]\n", "[image_cache]\nmanager_interval = -1\n"))
    assert not S.failing(S.cross_node(trees, tmp_path / "a", "CMP-F01"))
    trees = S.healthy(*COMPUTES)
    S.shared_instances(trees["compute-1"], trees["compute-2"])
    for name in ("compute-1", "compute-2"):
        conf = trees[name].files["etc/nova/nova.conf"]
        trees[name].file("etc/nova/nova.conf", conf.replace("[image_cache]\n", "[image_cache]\nsubdirectory_name = _base_$my_ip\n"))
    assert not S.failing(S.cross_node(trees, tmp_path / "b", "CMP-F01"))


def test_cmp_f01_same_export_under_different_paths_is_mutual_blindness(tmp_path: Path) -> None:
    trees = S.healthy(*COMPUTES)
    S.shared_instances(trees["compute-1"], trees["compute-2"])
    c2 = trees["compute-2"]
    conf = c2.files["etc/nova/nova.conf"].replace("instances_path = /var/lib/nova/instances",
                                                  "instances_path = /srv/nova/instances")
    c2.file("etc/nova/nova.conf", conf.replace("[image_cache]\n", "[image_cache]\nmanager_interval = -1\n"))
    _export(c2, " on /var/lib/nova/instances ", " on /srv/nova/instances ")
    _export(c2, "% /var/lib/nova/instances", "% /srv/nova/instances")
    found = by_host(S.cross_node(trees, tmp_path, "CMP-F01"))
    assert set(found) == {"compute-1", "compute-2"}
    assert "different compute_nodes files" in found["compute-2"][0].message


# -- OVN-F01 ----------------------------------------------------------------------------------------------
def test_ovn_f01_duplicate_system_id(tmp_path: Path) -> None:
    trees = S.healthy(*COMPUTES)
    S.system_id(trees["compute-3"], "compute-1")
    found = by_host(S.cross_node(trees, tmp_path, "OVN-F01"))
    assert set(found) == {"compute-1", "compute-3"}
    r = found["compute-3"][0]
    assert r.severity is Severity.critical and r.resource == "ovn:system-id:compute-1"
    assert r.evidence[0].source.endswith("ovs-vsctl_-t_5_list_Open_vSwitch") and r.evidence[0].line


def test_ovn_f01_duplicate_encap_ip_and_the_log_signature(tmp_path: Path) -> None:
    trees = S.healthy(*COMPUTES)
    S.encap_ip(trees["compute-2"], "10.0.0.33")
    trees["compute-1"].file("var/log/ovn/ovn-controller.log", (
        '2026-12-01T08:31:35.834Z|00313|ovsdb_idl|WARN|transaction error: {"details":"Transaction causes multiple '
        'rows in \\"Encap\\" table to have identical values (geneve and \\"10.0.0.31\\") for index on columns '
        '\\"type\\" and \\"ip\\".","error":"constraint violation"}\n'))
    found = by_host(S.cross_node(trees, tmp_path, "OVN-F01"))
    assert {r.resource for r in found["compute-2"]} == {"ovn:ovn-encap-ip:10.0.0.33"}
    assert {r.resource for r in found["compute-1"]} == {"ovn:encap:10.0.0.31"}
    assert found["compute-1"][0].evidence[0].source == "var/log/ovn/ovn-controller.log"


def test_ovn_f01_distinct_chassis_pass_and_ml2_ovs_nodes_are_not_chassis(tmp_path: Path) -> None:
    trees = S.healthy(*NET, *COMPUTES)
    S.system_id(trees["network-2"], "00005e5e-0000-4000-8000-000000000015")  # same as network-1: not OVN
    results = S.cross_node(trees, tmp_path, "OVN-F01")
    assert not S.failing(results)
    assert passed(results)[0].message.startswith("3 OVN chassis")


# -- CON-F01 ----------------------------------------------------------------------------------------------
VIP_URL = "https://console.example.com:6082/spice_auto.html"


def _spice_computes(base_url: str = VIP_URL) -> dict[str, S.NodeTree]:
    trees = S.healthy(*COMPUTES)
    for i, name in enumerate(COMPUTES):
        S.console(trees[name], spice=True, vnc=False, base_url=base_url, proxyclient=f"10.0.0.{31 + i}")
    return trees


def test_con_f01_agreeing_computes_behind_a_vip_pass(tmp_path: Path) -> None:
    results = S.cross_node(_spice_computes(), tmp_path, "CON-F01")
    assert not S.failing(results)


def test_con_f01_one_compute_still_on_vnc(tmp_path: Path) -> None:
    trees = _spice_computes()
    S.console(trees["compute-3"], spice=False, vnc=True)
    found = by_host(S.cross_node(trees, tmp_path, "CON-F01"))
    assert list(found) == ["compute-3"]
    assert found["compute-3"][0].severity is Severity.high and "vnc" in found["compute-3"][0].message


def test_con_f01_duplicate_proxyclient_and_url_drift(tmp_path: Path) -> None:
    trees = _spice_computes()
    S.console(trees["compute-2"], spice=True, vnc=False, base_url=VIP_URL, proxyclient="10.0.0.31")
    S.console(trees["compute-3"], spice=True, vnc=False, base_url="https://old.example.com:6082/spice_auto.html",
              proxyclient="10.0.0.33")
    found = by_host(S.cross_node(trees, tmp_path, "CON-F01"))
    assert {r.resource for r in found["compute-1"]} == {"console:spice:proxyclient"}
    assert {(r.resource, r.severity) for r in found["compute-3"]} == {("console:spice:base_url", Severity.medium)}


def test_con_f01_url_at_a_scanned_node_without_proxy_or_on_the_wrong_port(tmp_path: Path) -> None:
    trees = {**_spice_computes("http://10.0.0.10:6082/spice_auto.html"), "controller-1": S.node("controller-1")}
    found = by_host(S.cross_node(trees, tmp_path / "a", "CON-F01"))
    assert "runs no nova-spicehtml5proxy" in found["compute-1"][0].message
    trees = {**_spice_computes("http://10.0.0.10:6083/spice_auto.html"), "controller-1": S.node("controller-1")}
    S.spice_proxy(trees["controller-1"], port=6082)
    found = by_host(S.cross_node(trees, tmp_path / "b", "CON-F01"))
    assert "uses port 6083" in found["compute-2"][0].message and "listens on 6082" in found["compute-2"][0].message


def test_con_f01_cells_are_compared_separately(tmp_path: Path) -> None:
    trees = _spice_computes()
    S.console(trees["compute-3"], spice=False, vnc=True)
    conf = trees["compute-3"].files["etc/nova/nova.conf"]
    trees["compute-3"].file("etc/nova/nova.conf", conf.replace("@10.0.0.10:5672", "@10.9.0.10:5672"))
    assert not S.failing(S.cross_node(trees, tmp_path, "CON-F01"))


# -- DB-F01 -----------------------------------------------------------------------------------------------
def _galera(*specs: dict[str, object]) -> dict[str, S.NodeTree]:
    trees = _controllers(len(specs))
    for (_name, tree), spec in zip(trees.items(), specs, strict=True):
        S.galera_member(tree, **spec)  # type: ignore[arg-type]
    return trees


def test_db_f01_members_agree(tmp_path: Path) -> None:
    results = S.cross_node(_galera({}, {}, {}), tmp_path, "DB-F01")
    assert not S.failing(results)
    assert S.GALERA_UUID in passed(results)[0].message and "3/3" in passed(results)[0].message


def test_db_f01_double_bootstrap(tmp_path: Path) -> None:
    trees = _galera({}, {}, {"uuid": S.OTHER_UUID, "conf": 1, "joined": 1, "total": 1})
    found = by_host(S.cross_node(trees, tmp_path, "DB-F01"))
    assert set(found) == {"controller-1", "controller-2", "controller-3"}
    r = next(r for r in found["controller-3"] if "two independent clusters" in r.message)
    assert r.severity is Severity.critical and r.evidence[0].source == "var/log/mysql/error.log"
    assert any(x.resource == "galera:openstack" and "grastate.dat" in x.message for x in found["controller-3"])


def test_db_f01_non_primary_and_stale_view(tmp_path: Path) -> None:
    trees = _galera({}, {}, {"comp": "NON-PRIMARY", "conf": 5, "joined": 1, "total": 1})
    found = by_host(S.cross_node(trees, tmp_path / "a", "DB-F01"))
    assert any("NON-PRIMARY" in r.message and r.severity is Severity.critical for r in found["controller-3"])
    # Same cluster, one member's last view 40 minutes older: it missed a change (high, not critical).
    trees = _galera({}, {}, {"conf": 3, "total": 2, "joined": 2, "minute": 10})
    found = by_host(S.cross_node(trees, tmp_path / "b", "DB-F01"))
    assert [r.severity for r in found["controller-3"]] == [Severity.high]
    assert "missed a later membership change" in found["controller-3"][0].message


def test_db_f01_wiped_node_grastate_is_ignored(tmp_path: Path) -> None:
    trees = _galera({}, {}, {"grastate": "00000000-0000-0000-0000-000000000000"})
    assert not S.failing(S.cross_node(trees, tmp_path, "DB-F01"))


# -- NET-002 drift ----------------------------------------------------------------------------------------
def test_net_002_drift_within_a_role(tmp_path: Path) -> None:
    trees = S.healthy(*NET, *COMPUTES)
    S.conntrack_max(trees["compute-3"], 65536)
    S.conntrack_max(trees["network-1"], 1048576)
    S.conntrack_max(trees["network-2"], 1048576)  # another role may differ from the computes
    found = by_host(S.cross_node(trees, tmp_path, "NET-002"))
    assert list(found) == ["compute-3"]
    r = found["compute-3"][0]
    assert r.severity is Severity.low and r.status is Status.warn and "262144" in r.message
    assert r.evidence[0].source.endswith("sysctl_-a")


def test_net_002_uniform_passes(tmp_path: Path) -> None:
    results = S.cross_node(S.healthy(*COMPUTES), tmp_path, "NET-002")
    assert not S.failing(results)
    assert "uniform" in passed(results)[0].message


def test_checks_without_inputs_are_skipped_not_passed(tmp_path: Path) -> None:
    trees = {"storage-1": S.node("storage-1")}
    for check_id in ("HA-F01", "CMP-F01", "CON-F01", "OVN-F01", "DB-F01", "NET-F01"):
        results = S.cross_node(trees, tmp_path / check_id, check_id)
        assert [r.status for r in results] == [Status.skipped], check_id
