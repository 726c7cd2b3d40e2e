"""facts["fleet"]: what each node contributes to the cross-node checks, from sosreports and from files only."""

from __future__ import annotations

import json
from pathlib import Path

import fleet_scenarios as S

from stackrx.demo.areas import ovn_ha
from stackrx.facts import Facts
from stackrx.facts.fleetfacts import build, infer_roles, router_active, summary
from stackrx.runner import host_summary
from stackrx.sources.sosreport import SosReportView


def facts_of(tmp_path: Path, name: str, tree: S.NodeTree | None = None) -> dict:  # type: ignore[type-arg]
    root = (tree or S.node(name)).write(tmp_path / name)
    return build(Facts(SosReportView(root)))


def test_roles_and_services_are_inferred(tmp_path: Path) -> None:
    expected = {"controller-1": ["controller"], "network-1": ["network"], "compute-1": ["compute"],
                "storage-1": ["storage"]}
    for name, roles in expected.items():
        f = facts_of(tmp_path, name)
        assert f["roles"] == roles, name
    net = facts_of(tmp_path, "network-2")
    assert "neutron-l3-agent" in net["services"]["running"]
    # keepalived's own name only: neutron-keepalived-state-change is not keepalived.
    assert infer_roles({"running": ["neutron-keepalived-state-change"], "configured": []}, ha_routers=False,
                       gateway_chassis=False, storage_mounts=False) == []


def test_network_node_facts(tmp_path: Path) -> None:
    f = facts_of(tmp_path, "network-1")
    assert f["identity"] == {"hostname": "network-1", "addresses": ["10.0.0.21"],
                             "collected_at": "2026-12-01T09:00:00+00:00"}
    assert [(p["physnet"], p["bridge"], p["device"], p["mtu"]) for p in f["physnets"]] == [
        ("physnet1", "br-ex", "eth1", 1500)]
    assert f["tunnel"]["ip"] == "10.0.0.21" and f["tunnel"]["device"] == "eth0" and f["tunnel"]["mtu"] == 1500
    router = f["l3"]["routers"][ovn_ha.ROUTER_ID]
    assert router["state"] == "active" and router["keepalived"] is True and router["vips"] is True
    assert router_active(router)
    assert "ovn" not in f  # an ML2/OVS node has a system-id but is no OVN chassis
    assert f["conntrack"]["nf_conntrack_max"] == 262144


def test_compute_facts(tmp_path: Path) -> None:
    tree = S.node("compute-1")
    S.shared_instances(tree)
    f = facts_of(tmp_path, "compute-1", tree)
    assert f["ovn"]["system_id"] == "compute-1" and f["ovn"]["encap_ip"] == "10.0.0.31"
    assert f["ovn"]["evidence"]["system-id"]["source"].endswith("ovs-vsctl_-t_5_list_Open_vSwitch")
    nova = f["nova_compute"]
    assert nova["store"] == {"device": "10.0.0.41:/export/nova-instances", "fstype": "nfs4",
                             "target": "/var/lib/nova/instances", "shared": True, "below": ""}
    assert nova["remove_unused"] is True and nova["interval"] == 2400 and nova["subdirectory"] == "_base"
    assert nova["compute_nodes"] == ["compute-1"]
    assert f["console"]["vnc"]["enabled"] is True and f["console"]["spice"]["enabled"] is False


def test_galera_facts(tmp_path: Path) -> None:
    tree = S.node("controller-1")
    S.galera_member(tree)
    g = facts_of(tmp_path, "controller-1", tree)["galera"]
    assert g["cluster_name"] == "openstack" and g["members"] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    assert g["quorum"]["uuid"] == S.GALERA_UUID and g["quorum"]["total"] == 3 and g["quorum"]["conf_id"] == 4
    assert g["quorum"]["evidence"]["source"] == "var/log/mysql/error.log"
    assert g["grastate"]["uuid"] == S.GALERA_UUID and g["grastate"]["wiped"] is False


def test_file_only_node_falls_back_to_sysfs_proc_and_system_id_conf(tmp_path: Path) -> None:
    """What an sftp-only collection leaves: no command output at all."""
    tree = S.node("compute-2")
    S.uplink_mtu(tree, 1400)
    root = S.as_node_root(tree, tmp_path / "root")
    saved = tmp_path / "saved"
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] not in ("sos_commands", "hostname"):
            (saved / rel).parent.mkdir(parents=True, exist_ok=True)
            (saved / rel).write_bytes(path.read_bytes())
    (saved / "sos_commands").mkdir()
    f = build(Facts(SosReportView(saved)))
    assert f["identity"]["hostname"] == "compute-2"
    assert [(p["device"], p["mtu"]) for p in f["physnets"]] == [("eth1", 1400)]
    assert f["physnets"][0]["evidence"][-1]["source"] == "sys/class/net/eth1/mtu"
    assert f["ovn"]["system_id"] == "compute-2"
    assert f["ovn"]["evidence"]["system-id"]["source"] == "etc/openvswitch/system-id.conf"
    assert f["conntrack"]["evidence"]["source"] == "proc/sys/net/netfilter/nf_conntrack_max"
    assert f["nova_compute"]["store"]["device"] == "/dev/vdb1"  # from proc/mounts
    assert f["services"]["running"] is None and f["roles"] == ["compute"]


def test_summary_is_json_and_auto_discovered(tmp_path: Path) -> None:
    root = S.node("network-2").write(tmp_path / "n")
    view = SosReportView(root)
    facts = Facts(view)
    block = summary(facts)["fleet"]
    json.dumps(block)
    assert host_summary(view, facts).facts["fleet"]["roles"] == block["roles"]


def test_real_compute4_facts(compute4: Path) -> None:
    f = build(Facts(SosReportView(compute4)))
    assert f["identity"]["hostname"] == "compute4"
    assert "compute" in f["roles"] and "network" in f["roles"]
    assert f["l3"]["agent_mode"] == "dvr_snat"
    assert [(p["physnet"], p["device"], p["mtu"]) for p in f["physnets"]] == [("physnet1", "ens7", 1500)]
    assert f["nova_compute"]["images_type"] == "rbd"
    # nova-api-metadata is not nova-api, keystone-mysql-router is not keystone.
    assert "nova-api" not in f["services"]["running"]
