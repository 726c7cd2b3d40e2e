from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.models import Result, Severity, Status
from testkit import failing, scan_dir, scan_tree

COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
DPKG_HEADER = ("Desired=Unknown/Install/Remove/Purge/Hold\n"
               "||/ Name                Version                    Architecture Description\n"
               "+++-===================-==========================-============-=================\n")


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _node() -> NodeTree:
    return NodeTree("ctl-1", collected=COLLECTED)


def _dpkg(*rows: tuple[str, str]) -> str:
    return DPKG_HEADER + "".join(f"ii  {name:<19} {version:<26} all          pkg\n" for name, version in rows)


# -- UPG-001 ----------------------------------------------------------------------------------------------

DOCKER_PS = "sos_commands/docker/docker_ps_-a"
KOLLA_MARIADB_LOG = "var/lib/docker/volumes/kolla_logs/_data/mariadb/mariadb.log"
REFUSED = ("2026-11-30  8:00:00 0 [ERROR] WSREP: It may not be safe to bootstrap the cluster from this node. It was "
           "not the last one to leave the cluster and may not contain all the updates.\n")
SYNCED = "2026-11-30  8:05:00 0 [Note] WSREP: Synchronized with group, ready for connections\n"


def _docker_ps(status: str) -> str:
    return ("CONTAINER ID   IMAGE                              COMMAND                  CREATED       "
            f"STATUS{' ' * 30}PORTS     NAMES\n"
            "a1b2c3d4e5f6   kolla/mariadb-server:2023.1        \"dumb-init -- kolla_st\"  2 hours ago   "
            f"{status:<36}          mariadb\n")


def test_upg001_restarting_after_bootstrap_refusal_is_critical(tmp_path: Path) -> None:
    node = _node()
    node.file(DOCKER_PS, _docker_ps("Restarting (1) 10 seconds ago"))
    node.file(KOLLA_MARIADB_LOG, REFUSED)
    r = _one(failing(scan_tree(node, tmp_path, "UPG-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.critical, "mariadb")
    assert "restarting" in r.message and "has not re-formed" in r.message
    assert [e.source for e in r.evidence] == [DOCKER_PS, KOLLA_MARIADB_LOG]
    assert "safe to bootstrap" in r.evidence[1].excerpt


def test_upg001_exited_container_without_log_is_high(tmp_path: Path) -> None:
    node = _node()
    node.file(DOCKER_PS, _docker_ps("Exited (1) 3 minutes ago"))
    r = _one(failing(scan_tree(node, tmp_path, "UPG-001")))
    assert (r.status, r.severity) == (Status.fail, Severity.high)
    assert "exited" in r.message and "not in the cluster" in r.message
    assert r.evidence[0].source == DOCKER_PS


def test_upg001_refusal_without_container_list_is_high(tmp_path: Path) -> None:
    node = _node()
    node.file("etc/kolla/mariadb/galera.cnf", "[mysqld]\nwsrep_on = ON\n")
    node.file(KOLLA_MARIADB_LOG, REFUSED)
    r = _one(failing(scan_tree(node, tmp_path, "UPG-001")))
    assert (r.status, r.severity) == (Status.fail, Severity.high)
    assert "refused to bootstrap" in r.message and "container state not collected" in r.message
    assert r.evidence[0].source == KOLLA_MARIADB_LOG


def test_upg001_synced_after_refusal_passes(tmp_path: Path) -> None:
    # Kolla restarts members one by one: a refusal followed by Synced is a member that came back.
    node = _node()
    node.file(DOCKER_PS, _docker_ps("Up 2 hours (healthy)"))
    node.file(KOLLA_MARIADB_LOG, REFUSED + SYNCED)
    r = _one(scan_tree(node, tmp_path, "UPG-001"))
    assert r.status is Status.passed and "reached Synced after the bootstrap refusal" in r.message
    assert r.evidence[0].source == DOCKER_PS


def test_upg001_compute4_is_not_applicable(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "UPG-001"))
    assert r.status is Status.skipped and "no docker container list" in r.message


# -- UPG-002 ----------------------------------------------------------------------------------------------

MYSQL_LOG = "var/log/mysql/error.log"
COL_COUNT = ("2026-11-30  8:00:00 0 [ERROR] Column count of mysql.proc is wrong. Expected 21, found 20. Created "
             "with MariaDB 100108, now running 100611. Please use mariadb-upgrade to fix this error\n")
CLEAN_LOG = "2026-11-30  8:00:00 0 [Note] /usr/sbin/mariadbd: ready for connections.\n"
MARIADB_106 = ("mariadb-server", "1:10.6.12-0ubuntu0.22.04.1")


def test_upg002_column_count_errors_fail(tmp_path: Path) -> None:
    node = _node()
    node.file(MYSQL_LOG, COL_COUNT + COL_COUNT.replace("8:00:00", "8:30:00").replace("proc", "event"))
    node.file("sos_commands/dpkg/dpkg_-l", _dpkg(MARIADB_106))
    r = _one(failing(scan_tree(node, tmp_path, "UPG-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "system-tables")
    # Each line matches both the column-count and the "Please use" signature: two lines, not four errors.
    assert r.message.startswith("2 error(s) about outdated mysql.* system tables")
    assert "mariadb-upgrade" in r.message
    assert [e.source for e in r.evidence] == [MYSQL_LOG, MYSQL_LOG]
    assert "mysql.proc" in r.evidence[0].excerpt and "mysql.event" in r.evidence[1].excerpt


def test_upg002_errors_before_the_kolla_upgrade_run_pass(tmp_path: Path) -> None:
    kolla = "var/lib/docker/volumes/kolla_logs/_data/mariadb"
    node = _node()
    node.file(f"{kolla}/mariadb.log", COL_COUNT)
    node.file(f"{kolla}/mariadb-upgrade.log", "Phase 7/7: Running 'FLUSH PRIVILEGES'\nOK\n")
    node.write(tmp_path)
    after = datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp()
    os.utime(tmp_path / kolla / "mariadb-upgrade.log", (after, after))
    r = _one(scan_dir(tmp_path, "UPG-002"))
    assert r.status is Status.passed and "logged before the last mariadb-upgrade run (2026-11-30 09:00 UTC)" in r.message
    assert r.evidence[0].source == f"{kolla}/mariadb.log"


@pytest.mark.parametrize("marker", ["var/lib/mysql/mysql_upgrade_info",
                                    "var/lib/docker/volumes/mariadb/_data/mariadb_upgrade_info"])
def test_upg002_marker_behind_server_fails(tmp_path: Path, marker: str) -> None:
    node = _node()
    node.file(marker, "10.3.39-MariaDB")
    node.file("sos_commands/dpkg/dpkg_-l", _dpkg(MARIADB_106))
    r = _one(failing(scan_tree(node, tmp_path, "UPG-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "upgrade-marker")
    assert "last upgraded for 10.3.39-MariaDB" in r.message and "package is 10.6.12" in r.message
    assert [e.source for e in r.evidence] == [marker, "sos_commands/dpkg/dpkg_-l"]


def test_upg002_clean_log_passes(tmp_path: Path) -> None:
    node = _node()
    node.file(MYSQL_LOG, CLEAN_LOG)
    node.file("var/lib/mysql/mariadb_upgrade_info", "10.6.12-MariaDB")
    node.file("sos_commands/dpkg/dpkg_-l", _dpkg(MARIADB_106))
    r = _one(scan_tree(node, tmp_path, "UPG-002"))
    assert r.status is Status.passed
    assert r.message == "no outdated-system-table errors in the log window (server 10.6.12)"


def test_upg002_server_without_log_is_missing_evidence(tmp_path: Path) -> None:
    node = _node()
    node.file("sos_commands/dpkg/dpkg_-l", _dpkg(MARIADB_106))
    r = _one(scan_tree(node, tmp_path, "UPG-002"))
    assert r.status is Status.skipped and "input missing" in r.message and "error log" in r.message


def test_upg002_compute4_is_not_applicable(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "UPG-002"))
    assert r.status is Status.skipped and "no MySQL/MariaDB server package" in r.message


# -- UPG-003 ----------------------------------------------------------------------------------------------

CEPH = "sos_commands/ceph_mon"
HEALTH_OK = "HEALTH_OK\n"
HEALTH_FINISHED = ("HEALTH_WARN all OSDs are running octopus or later but require_osd_release < octopus\n"
                   "[WRN] OSD_UPGRADE_FINISHED: all OSDs are running octopus or later but require_osd_release "
                   "< octopus\n")
OCTOPUS = "ceph version 15.2.14 (cd3bb7e87a2f62c1b862ff3fd8b1eec13391a5be) octopus (stable)"
NAUTILUS = "ceph version 14.2.22 (ca74598065096e6fcbd8433c8779a2be0c889351) nautilus (stable)"


def _ceph_node(health: str | None, required: str | None = None, osds: dict[str, int] | None = None) -> NodeTree:
    node = _node()
    node.file("etc/ceph/ceph.conf", "[global]\nfsid = 8a5f1c0e-4f3e-11ef-9a0b-2e6f0c1d2b3a\n")
    if health is not None:
        node.file(f"{CEPH}/ceph_health_detail", health)
    if required is not None:
        node.file(f"{CEPH}/ceph_osd_dump", f"epoch 1234\nfsid 8a5f1c0e\nrequire_osd_release {required}\n")
    if osds is not None:
        body = ", ".join(f'"{v}": {n}' for v, n in osds.items())
        node.file(f"{CEPH}/ceph_versions", f'{{"mon": {{"{OCTOPUS}": 3}}, "osd": {{{body}}}}}\n')
    return node


def test_upg003_health_check_fails(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_ceph_node(HEALTH_FINISHED), tmp_path, "UPG-003")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "require_osd_release")
    assert "OSD_UPGRADE_FINISHED" in r.message and "require_osd_release < octopus" in r.message
    assert r.evidence[0].source == f"{CEPH}/ceph_health_detail" and r.evidence[0].line == 2


def test_upg003_flag_behind_uniform_osds_fails(tmp_path: Path) -> None:
    # Ceph before Dec 2021 raises no health check: the versions comparison must catch it.
    node = _ceph_node(HEALTH_OK, "nautilus", {OCTOPUS: 12})
    r = _one(failing(scan_tree(node, tmp_path, "UPG-003")))
    assert (r.status, r.severity) == (Status.fail, Severity.high)
    assert r.message == "all OSDs run octopus but require_osd_release is still nautilus"
    assert [e.source for e in r.evidence] == [f"{CEPH}/ceph_osd_dump", f"{CEPH}/ceph_versions"]


def test_upg003_mixed_releases_is_an_upgrade_in_progress(tmp_path: Path) -> None:
    node = _ceph_node(HEALTH_OK, "nautilus", {OCTOPUS: 10, NAUTILUS: 2})
    r = _one(scan_tree(node, tmp_path, "UPG-003"))
    assert r.status is Status.passed and "upgrade in progress: OSDs run nautilus, octopus" in r.message


def test_upg003_matching_flag_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_ceph_node(HEALTH_OK, "octopus", {OCTOPUS: 12}), tmp_path, "UPG-003"))
    assert r.status is Status.passed and r.message == "require_osd_release octopus matches the OSDs (octopus)"
    assert r.evidence[0].source == f"{CEPH}/ceph_osd_dump"


def test_upg003_no_ceph_is_not_applicable(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(), tmp_path, "UPG-003"))
    assert r.status is Status.skipped and "no etc/ceph/ceph.conf" in r.message


def test_upg003_compute4_client_without_monitor_output_is_missing(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "UPG-003"))
    assert r.status is Status.skipped and "input missing" in r.message and "monitor node" in r.message


# -- UPG-005 ----------------------------------------------------------------------------------------------

NOVA_STATUS = "sos_commands/openstack_nova/nova-status_upgrade_check"
RULE = "+" + "-" * 70 + "+\n"


def _status_table(*rows: tuple[str, str, str]) -> str:
    out = RULE + "| Upgrade Check Results" + " " * 49 + "|\n" + RULE
    for name, result, details in rows:
        out += f"| Check: {name:<62}|\n| Result: {result:<61}|\n| Details: {details:<60}|\n" + RULE
    return out


def test_upg005_failure_and_warning(tmp_path: Path) -> None:
    node = _node()
    node.file(NOVA_STATUS, _status_table(
        ("Cells v2", "Success", "None"),
        ("Placement API", "Failure", "Placement service credentials do not work."),
        ("Older than N-1 computes", "Warning", "Current Nova version does not support computes older"),
    ))
    found = {r.resource: r for r in failing(scan_tree(node, tmp_path, "UPG-005"))}
    assert set(found) == {"nova:Placement API", "nova:Older than N-1 computes"}
    fail = found["nova:Placement API"]
    assert (fail.status, fail.severity) == (Status.fail, Severity.high)
    assert "check 'Placement API' failed: Placement service credentials do not work." in fail.message
    assert fail.evidence[0].source == NOVA_STATUS and fail.evidence[0].line == 9
    warn = found["nova:Older than N-1 computes"]
    assert (warn.status, warn.severity) == (Status.warn, Severity.medium) and "warns:" in warn.message


def test_upg005_neutron_database_behind_head(tmp_path: Path) -> None:
    node = _node()
    node.file("sos_commands/neutron/neutron-db-manage_current",
              "Running current for neutron ...\n5c85685d616d\n  OK\n")
    node.file("sos_commands/neutron/neutron-db-manage_heads",
              "Running heads for neutron ...\nc3e9d13c4367 (contract)\n  OK\n")
    r = _one(failing(scan_tree(node, tmp_path, "UPG-005")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "neutron-db:neutron")
    assert "neutron database is at 5c85685d616d, not at head c3e9d13c4367" in r.message
    assert r.evidence[0].source == "sos_commands/neutron/neutron-db-manage_heads" and r.evidence[0].line == 2


def test_upg005_all_checks_succeed(tmp_path: Path) -> None:
    node = _node()
    node.file(NOVA_STATUS, _status_table(("Cells v2", "Success", "None"), ("Placement API", "Success", "None")))
    r = _one(scan_tree(node, tmp_path, "UPG-005"))
    assert r.status is Status.passed and r.message == "2 upgrade check(s) passed (nova)"


def test_upg005_json_output(tmp_path: Path) -> None:
    node = _node()
    node.file(NOVA_STATUS, '[{"check": "Cells v2", "result": 2, "details": "No host mappings found"}]\n')
    r = _one(failing(scan_tree(node, tmp_path, "UPG-005")))
    assert (r.severity, r.resource) == (Severity.high, "nova:Cells v2") and "No host mappings found" in r.message


@pytest.mark.parametrize("empty", [False, True])
def test_upg005_without_status_output_is_missing(tmp_path: Path, empty: bool) -> None:
    node = _node()
    if empty:
        node.file(NOVA_STATUS, "\n")
    r = _one(scan_tree(node, tmp_path, "UPG-005"))
    assert r.status is Status.skipped and "nova-status_upgrade_check" in r.message


# -- UPG-006 ----------------------------------------------------------------------------------------------

NOVA_CONF = "etc/nova/nova.conf"
DPKG = "sos_commands/dpkg/dpkg_-l"


def _nova_node(conf: str, nova: str | None = "2:21.2.3-0ubuntu1") -> NodeTree:
    node = _node()
    node.file(NOVA_CONF, conf)
    if nova is not None:
        node.file(DPKG, _dpkg(("nova-common", nova)))
    return node


def test_upg006_compute4_old_names(compute4: Path) -> None:
    """Each finding on the real node was checked against nova 21.2.3 / neutron 16.4.1 (see removed_options.yaml)."""
    found = {r.resource: r for r in failing(scan_dir(compute4, "UPG-006"))}
    assert set(found) == {"nova-vnc-enabled", "nova-dhcp-domain", "nova-network-options", "nova-ec2-options",
                          "neutron-external-network-bridge", "neutron-gateway-external-network-id"}
    assert {(r.status, r.severity) for r in found.values()} == {(Status.warn, Severity.low)}
    assert "deprecated name, still honoured; use [vnc] enabled" in found["nova-vnc-enabled"].message
    assert "use [api] dhcp_domain" in found["nova-dhcp-domain"].message
    net = found["nova-network-options"]
    assert net.message.startswith("[DEFAULT] firewall_driver, [DEFAULT] force_dhcp_release, [DEFAULT] use_neutron")
    assert "no longer read" in net.message and "(removed in nova 21.0.0, installed 21.2.3)" in net.message
    assert net.evidence[-1].source == DPKG and "python3-nova 2:21.2.3" in net.evidence[-1].excerpt
    assert "(removed in nova 13.0.0, installed 21.2.3)" in found["nova-ec2-options"].message
    bridge = found["neutron-external-network-bridge"]
    # Empty values ask for the default: nothing is lost, so low rather than medium.
    assert bridge.evidence[0].source == "etc/neutron/l3_agent.ini" and bridge.evidence[0].line == 12
    assert "(removed in neutron 14.0.0, installed 16.4.1)" in bridge.message


def test_upg006_removed_option_with_intent_is_medium(tmp_path: Path) -> None:
    node = _nova_node("[DEFAULT]\nmy_ip = 10.0.0.5\ndefault_floating_pool = public\n")
    r = _one(failing(scan_tree(node, tmp_path, "UPG-006")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "nova-default-floating-pool")
    assert r.message == ("[DEFAULT] default_floating_pool: ignored: its intent is not applied (removed in nova "
                         "21.0.0, installed 21.2.3); use [neutron] default_floating_pool")
    assert [e.source for e in r.evidence] == [NOVA_CONF, DPKG] and r.evidence[0].line == 3


def test_upg006_removal_after_installed_release_passes(tmp_path: Path) -> None:
    # Train (20.x) still reads nova-network options: the version gate must keep them quiet.
    node = _nova_node("[DEFAULT]\nfirewall_driver = nova.virt.firewall.NoopFirewallDriver\n", nova="2:20.6.1-0ubuntu1")
    r = _one(scan_tree(node, tmp_path, "UPG-006"))
    assert r.status is Status.passed and r.message.startswith("no removed, renamed or misplaced option")


def test_upg006_removal_with_unknown_release_is_low(tmp_path: Path) -> None:
    node = _nova_node("[DEFAULT]\nfirewall_driver = nova.virt.firewall.NoopFirewallDriver\n", nova=None)
    r = _one(failing(scan_tree(node, tmp_path, "UPG-006")))
    assert (r.severity, r.resource) == (Severity.low, "nova-network-options")
    assert "removed in nova 21.0.0; installed release unknown" in r.message


def test_upg006_alias_and_new_name_disagree_is_medium(tmp_path: Path) -> None:
    node = _nova_node("[DEFAULT]\nimage_cache_manager_interval = 600\n[image_cache]\nmanager_interval = 2400\n")
    r = _one(failing(scan_tree(node, tmp_path, "UPG-006")))
    assert (r.severity, r.resource) == (Severity.medium, "nova-image-cache-interval")
    assert "[image_cache] manager_interval are both set with different values; [image_cache] manager_interval wins" \
        in r.message
    assert [e.line for e in r.evidence] == [2, 4]


def test_upg006_option_in_the_wrong_service_is_medium(tmp_path: Path) -> None:
    node = _node()
    node.file("etc/ceilometer/ceilometer.conf", "[DEFAULT]\nevaluation_interval = 60\n")
    r = _one(failing(scan_tree(node, tmp_path, "UPG-006")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "ceilometer-evaluation-interval")
    assert "never reads it (it is aodh [evaluator] evaluation_interval)" in r.message
    assert r.evidence[0].source == "etc/ceilometer/ceilometer.conf"


def test_upg006_current_names_pass(tmp_path: Path) -> None:
    node = _nova_node("[DEFAULT]\nmy_ip = 10.0.0.5\n[vnc]\nenabled = True\n[api]\ndhcp_domain = example.org.\n")
    r = _one(scan_tree(node, tmp_path, "UPG-006"))
    assert r.status is Status.passed and "in 1 config set(s)" in r.message


def test_upg006_without_config_is_missing(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(), tmp_path, "UPG-006"))
    assert r.status is Status.skipped and "no OpenStack config found" in r.message
