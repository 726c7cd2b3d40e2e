"""Kolla host trees: container config, logs and data volumes read at the paths the services use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackrx.facts.ini import load_config
from stackrx.sources import open_target
from stackrx.sources.kolla import KollaView, glob_regex, logical_path, looks_like_kolla, project_of

DOCKER = "var/lib/docker/volumes"
PODMAN = "var/lib/containers/storage/volumes"
ROUTER = "984c22fd-64b3-4fa1-8ddd-87090f401ce5"
OVS_INI = "[ovs]\nbridge_mappings = physnet1:br-ex\n"


def write(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def kolla_host(root: Path, volumes: str = DOCKER) -> Path:
    """A hyperconverged-ish node: nova-compute next to nova-api, neutron agents next to neutron-server."""
    k = "etc/kolla"
    write(root, "etc/hostname", "compute-1\n")
    write(root, f"{k}/globals.yml", "kolla_base_distro: ubuntu\n")
    write(root, f"{k}/nova-compute/nova.conf",
          "[DEFAULT]\nhost = compute-1\n[libvirt]\nimages_type = qcow2\n")
    write(root, f"{k}/nova-compute/config.json", '{"command": "nova-compute"}')
    write(root, f"{k}/nova-api/nova.conf", "[DEFAULT]\nhost = api\n")
    write(root, f"{k}/nova-compute-bootstrap/nova.conf", "[DEFAULT]\nhost = bootstrap\n")
    write(root, f"{k}/nova-libvirt/qemu.conf", 'max_files = 32768\n')
    write(root, f"{k}/nova-libvirt/libvirtd.conf", 'listen_tcp = 1\n')
    write(root, f"{k}/nova-libvirt/sasl.conf", "mech_list: scram-sha-256\n")
    write(root, f"{k}/nova-ssh/sshd_config", "Port 8022\n")
    write(root, f"{k}/neutron-server/ml2_conf.ini", "[ml2]\nmechanism_drivers = openvswitch,l2population\n")
    write(root, f"{k}/neutron-server/neutron.conf", "[DEFAULT]\nhost = server\n")
    write(root, f"{k}/neutron-openvswitch-agent/openvswitch_agent.ini", OVS_INI)
    write(root, f"{k}/neutron-openvswitch-agent/neutron.conf", "[DEFAULT]\nhost = ovs-agent\n")
    write(root, f"{k}/neutron-l3-agent/l3_agent.ini", "[DEFAULT]\nagent_mode = dvr\n")
    write(root, f"{k}/neutron-l3-agent/neutron.conf", "[DEFAULT]\nhost = l3-agent\n")
    write(root, f"{k}/mariadb/galera.cnf", "[mysqld]\nwsrep_on = ON\n")
    write(root, f"{k}/ceilometer-compute/ceilometer.conf", "[DEFAULT]\nhost = ceilo-compute\n")
    write(root, f"{k}/ceilometer-compute/polling.yaml", "sources: []\n")
    write(root, f"{k}/ceilometer-central/ceilometer.conf", "[DEFAULT]\nhost = ceilo-central\n")
    write(root, f"{k}/ceilometer-central/pollsters.d/a.yaml", "- name: a\n")
    write(root, f"{k}/aodh-evaluator/aodh.conf", "[database]\nalarm_history_time_to_live = 86400\n")
    write(root, f"{k}/aodh-api/aodh.conf", "[database]\nalarm_history_time_to_live = -1\n")
    write(root, f"{k}/fluentd/fluentd.conf", "<source>\n")
    write(root, f"{volumes}/kolla_logs/_data/nova/nova-compute.log", "2026-12-01 08:00:00.000 7 INFO nova\n")
    write(root, f"{volumes}/kolla_logs/_data/mariadb/mariadb.log", "2026-12-01  8:00:00 0 [Note] WSREP\n")
    write(root, f"{volumes}/mariadb/_data/grastate.dat", "# GALERA saved state\nseqno: -1\n")
    write(root, f"{volumes}/nova_compute/_data/instances/_base/abc", "")
    write(root, f"{volumes}/neutron_metadata_socket/_data/ha_confs/{ROUTER}/state", "primary")
    write(root, f"{volumes}/openvswitch_db/_data/conf.db", "OVSDB JSON\n")
    write(root, f"{volumes}/ovn_sb_db/_data/ovnsb.db", "OVSDB JSON\n")
    write(root, "var/log/syslog", "Dec  1 08:00:00 compute-1 kernel: hello\n")
    write(root, "var/log/nova/nova-compute.log", "stale pre-kolla log\n")
    return root


@pytest.fixture
def host(tmp_path: Path) -> Path:
    return kolla_host(tmp_path / "compute-1")


def read(view: KollaView, path: str) -> tuple[str, str]:
    text = view.read_text(path)
    assert text is not None, path
    return text.source, text.content


# -- the container table -------------------------------------------------------------------------------
@pytest.mark.parametrize(("container", "name", "logical"), [
    ("nova-compute", "nova.conf", "etc/nova/nova.conf"),
    ("nova-api", "nova.conf", "etc/nova/nova.conf"),
    ("neutron-openvswitch-agent", "openvswitch_agent.ini", "etc/neutron/plugins/ml2/openvswitch_agent.ini"),
    ("neutron-linuxbridge-agent", "linuxbridge_agent.ini", "etc/neutron/plugins/ml2/linuxbridge_agent.ini"),
    ("neutron-server", "ml2_conf.ini", "etc/neutron/plugins/ml2/ml2_conf.ini"),
    ("neutron-l3-agent", "l3_agent.ini", "etc/neutron/l3_agent.ini"),
    ("neutron-dhcp-agent", "dnsmasq.conf", "etc/neutron/dnsmasq.conf"),
    ("neutron-ovn-metadata-agent", "neutron_ovn_metadata_agent.ini",
     "etc/neutron/neutron_ovn_metadata_agent.ini"),
    ("ironic-neutron-agent", "ironic_neutron_agent.ini", "etc/neutron/plugins/ml2/ironic_neutron_agent.ini"),
    ("mariadb", "galera.cnf", "etc/mysql/my.cnf"),
    ("ceilometer-notification", "ceilometer.conf", "etc/ceilometer/ceilometer.conf"),
    ("aodh-listener", "aodh.conf", "etc/aodh/aodh.conf"),
    ("nova-libvirt", "qemu.conf", "etc/libvirt/qemu.conf"),
    ("nova-libvirt", "libvirtd.conf", "etc/libvirt/libvirtd.conf"),
    ("nova-libvirt", "sasl.conf", "etc/sasl2/libvirt.conf"),
    ("keystone-fernet", "keystone.conf", "etc/keystone/keystone.conf"),
    ("glance-api", "glance-api.conf", "etc/glance/glance-api.conf"),
    ("nova-compute", "config.json", None),
    ("nova-ssh", "sshd_config", None),
    ("fluentd", "fluentd.conf", None),
    ("mariabackup", "my.cnf", None),
])
def test_logical_paths(container: str, name: str, logical: str | None) -> None:
    assert logical_path(container, name) == logical


def test_project_names_need_a_whole_word() -> None:
    assert project_of("keystone") == project_of("keystone-httpd") == "keystone"
    assert project_of("keystonex") is None
    assert project_of("haproxy-ssh") is None
    assert project_of("novacompute") is None


# -- a host root ---------------------------------------------------------------------------------------
def test_config_files_appear_at_service_paths(host: Path) -> None:
    view = KollaView(host)
    assert view.kind == "kolla" and view.target == str(host)
    assert read(view, "etc/neutron/plugins/ml2/openvswitch_agent.ini") == (
        "etc/kolla/neutron-openvswitch-agent/openvswitch_agent.ini", OVS_INI)
    assert read(view, "etc/neutron/plugins/ml2/ml2_conf.ini")[0] == "etc/kolla/neutron-server/ml2_conf.ini"
    assert read(view, "etc/neutron/l3_agent.ini")[0] == "etc/kolla/neutron-l3-agent/l3_agent.ini"
    assert read(view, "etc/mysql/my.cnf")[0] == "etc/kolla/mariadb/galera.cnf"
    assert read(view, "etc/libvirt/qemu.conf")[0] == "etc/kolla/nova-libvirt/qemu.conf"
    assert read(view, "/etc/libvirt/libvirtd.conf")[0] == "etc/kolla/nova-libvirt/libvirtd.conf"
    assert view.read_text("etc/nova/config.json") is None
    assert view.read_text("etc/ssh/sshd_config") is None
    raw = read(view, "etc/kolla/nova-api/nova.conf")
    assert raw[1] == "[DEFAULT]\nhost = api\n", "raw paths stay readable"
    assert read(view, "var/log/syslog")[0] == "var/log/syslog", "other host files read through"


def test_the_nodes_own_role_wins_when_containers_share_a_file(host: Path) -> None:
    view = KollaView(host)
    assert read(view, "etc/nova/nova.conf")[0] == "etc/kolla/nova-compute/nova.conf"
    assert view.providers("etc/nova/nova.conf") == [
        "etc/kolla/nova-compute/nova.conf", "etc/kolla/nova-api/nova.conf",
        "etc/kolla/nova-compute-bootstrap/nova.conf"]
    assert read(view, "etc/neutron/neutron.conf")[0] == "etc/kolla/neutron-openvswitch-agent/neutron.conf"
    assert read(view, "etc/ceilometer/ceilometer.conf")[0] == "etc/kolla/ceilometer-compute/ceilometer.conf"
    assert view.providers("etc/nowhere.conf") == []


def test_a_controller_reads_its_control_plane_copy(tmp_path: Path) -> None:
    write(tmp_path, "etc/kolla/nova-api/nova.conf", "[DEFAULT]\nhost = api\n")
    write(tmp_path, "etc/kolla/nova-scheduler/nova.conf", "[DEFAULT]\nhost = scheduler\n")
    write(tmp_path, "etc/kolla/neutron-server/neutron.conf", "[DEFAULT]\nhost = server\n")
    write(tmp_path, "etc/kolla/aodh-api/aodh.conf", "[DEFAULT]\n")
    view = KollaView(tmp_path)
    assert read(view, "etc/nova/nova.conf")[0] == "etc/kolla/nova-api/nova.conf"
    assert read(view, "etc/neutron/neutron.conf")[0] == "etc/kolla/neutron-server/neutron.conf"


def test_the_ini_loader_works_on_kolla(host: Path) -> None:
    view = KollaView(host)
    nova = load_config(view, "nova")
    value = nova.get("libvirt", "images_type")
    assert value is not None and value.value == "qcow2"
    assert value.source == "etc/kolla/nova-compute/nova.conf"
    ovs = load_config(view, "openvswitch_agent").get("ovs", "bridge_mappings")
    assert ovs is not None and ovs.value == "physnet1:br-ex"
    ttl = load_config(view, "aodh").get("database", "alarm_history_time_to_live")
    assert ttl is not None and ttl.source == "etc/kolla/aodh-api/aodh.conf", "same tier: alphabetical"


def test_virtual_directories_list_and_glob(host: Path) -> None:
    view = KollaView(host)
    assert view.is_dir("etc/nova") and view.exists("etc/neutron/plugins")
    assert view.listdir("etc/neutron") == ["l3_agent.ini", "neutron.conf", "plugins"]
    assert view.listdir("etc/neutron/plugins/ml2") == ["ml2_conf.ini", "openvswitch_agent.ini"]
    assert view.glob("etc/neutron/**/*.ini") == [
        "etc/neutron/l3_agent.ini", "etc/neutron/plugins/ml2/ml2_conf.ini",
        "etc/neutron/plugins/ml2/openvswitch_agent.ini"]
    assert view.glob("etc/ceilometer/*") == [
        "etc/ceilometer/ceilometer.conf", "etc/ceilometer/polling.yaml", "etc/ceilometer/pollsters.d"]
    assert view.glob("etc/ceilometer/pollsters.d/*.yaml") == ["etc/ceilometer/pollsters.d/a.yaml"]
    assert "etc/hostname" in view.glob("etc/*")
    assert view.glob("etc/nova/nova.conf.d/*.conf") == []
    assert view.stat("etc/nova/nova.conf") is not None


def test_logs_come_from_the_kolla_logs_volume(host: Path) -> None:
    view = KollaView(host)
    assert read(view, "var/log/nova/nova-compute.log") == (
        f"{DOCKER}/kolla_logs/_data/nova/nova-compute.log", "2026-12-01 08:00:00.000 7 INFO nova\n")
    assert list(view.open_lines("var/log/mariadb/mariadb.log")) == ["2026-12-01  8:00:00 0 [Note] WSREP\n"]
    assert view.glob("var/log/*/*.log") == ["var/log/mariadb/mariadb.log", "var/log/nova/nova-compute.log"]
    assert view.listdir("var/log") == ["mariadb", "nova", "syslog"]


def test_data_volumes_are_mounted_where_the_containers_see_them(host: Path) -> None:
    view = KollaView(host)
    assert read(view, "var/lib/mysql/grastate.dat")[0] == f"{DOCKER}/mariadb/_data/grastate.dat"
    assert view.is_dir("var/lib/nova/instances/_base")
    assert view.listdir("var/lib/nova/instances/_base") == ["abc"]
    state = read(view, f"var/lib/neutron/kolla/ha_confs/{ROUTER}/state")
    assert state == (f"{DOCKER}/neutron_metadata_socket/_data/ha_confs/{ROUTER}/state", "primary")
    assert view.glob("var/lib/neutron/kolla/ha_confs/*/state") == [
        f"var/lib/neutron/kolla/ha_confs/{ROUTER}/state"]
    assert view.exists("var/lib/openvswitch/conf.db")
    assert read(view, "var/lib/openvswitch/ovn-sb/ovnsb.db")[0] == f"{DOCKER}/ovn_sb_db/_data/ovnsb.db"
    assert view.listdir("var/lib/openvswitch") == ["conf.db", "ovn-sb"]


def test_podman_volumes(tmp_path: Path) -> None:
    view = KollaView(kolla_host(tmp_path / "n", volumes=PODMAN))
    log = read(view, "var/log/nova/nova-compute.log")
    assert log[0] == f"{PODMAN}/kolla_logs/_data/nova/nova-compute.log"
    assert read(view, "var/lib/mysql/grastate.dat")[0] == f"{PODMAN}/mariadb/_data/grastate.dat"


def test_a_host_copy_of_var_log_kolla_is_used(tmp_path: Path) -> None:
    write(tmp_path, "etc/kolla/nova-compute/nova.conf", "[DEFAULT]\n")
    write(tmp_path, "var/log/kolla/nova/nova-compute.log", "copied\n")
    view = KollaView(tmp_path)
    assert read(view, "var/log/nova/nova-compute.log") == ("var/log/kolla/nova/nova-compute.log", "copied\n")


def test_links_that_leave_the_tree_are_absent(host: Path, tmp_path: Path) -> None:
    write(tmp_path, "secret.conf", "[DEFAULT]\npassword = hunter2\n")
    os.symlink(tmp_path / "secret.conf", host / "etc/kolla/nova-compute/nova-secret.conf")
    os.symlink("/etc", host / f"{DOCKER}/kolla_logs/_data/etc")
    view = KollaView(host)
    assert view.read_text("etc/nova/nova-secret.conf") is None
    assert not view.exists("var/log/etc/passwd")
    assert view.read_text("var/log/etc/passwd") is None
    assert view.read_text("etc/../../secret.conf") is None
    assert "etc/nova/nova-secret.conf" not in view.glob("etc/nova/*")


# -- the /etc/kolla directory alone -------------------------------------------------------------------
def test_the_etc_kolla_directory_alone(host: Path) -> None:
    view = KollaView(host / "etc" / "kolla")
    source, content = read(view, "etc/nova/nova.conf")
    assert source == "nova-compute/nova.conf", "evidence is named relative to what the operator gave"
    assert "host = compute-1" in content
    assert read(view, "etc/neutron/plugins/ml2/ml2_conf.ini")[0] == "neutron-server/ml2_conf.ini"
    assert view.providers("etc/nova/nova.conf")[0] == "etc/kolla/nova-compute/nova.conf"
    assert read(view, "etc/kolla/nova-api/nova.conf")[0] == "nova-api/nova.conf"
    assert view.read_text("var/log/syslog") is None, "no host files without a host root"
    assert view.read_text("nova-compute/nova.conf") is None
    assert view.hostname() == "compute-1", "named after the host directory holding etc/kolla"
    assert view.command("sysctl -a") is None


# -- commands --------------------------------------------------------------------------------------------
def test_commands_are_missing_without_a_side_bundle(host: Path) -> None:
    view = KollaView(host)
    assert view.command("sysctl -a") is None
    assert view.command("ip -d address") is None
    assert view.namespaces() == []
    assert view.netns_command("qrouter-x", "ip -d address") is None
    assert view.hostname() == "compute-1"
    assert view.collected_at() is not None


def test_commands_come_from_a_sos_side_bundle(host: Path) -> None:
    write(host, "sos_commands/kernel/sysctl_-a", "net.ipv4.conf.all.proxy_arp = 0\n")
    write(host, "sos_commands/docker/docker_ps_-a", "CONTAINER ID   IMAGE\n")
    write(host, f"sos_commands/networking/ip_netns_exec_qrouter-{ROUTER}_ip_address_show", "1: lo\n")
    write(host, "sos_commands/date/date", "Tue Dec  1 09:00:00 UTC 2026\n")
    view = KollaView(host)
    text = view.command("sysctl -a")
    assert text is not None and text.source == "sos_commands/kernel/sysctl_-a"
    assert view.namespaces() == [f"qrouter-{ROUTER}"]
    ns = view.netns_command(f"qrouter-{ROUTER}", "ip -d address")
    assert ns is not None and ns.content == "1: lo\n"
    when = view.collected_at()
    assert when is not None and when.isoformat() == "2026-12-01T09:00:00+00:00"
    assert read(view, "etc/nova/nova.conf")[0] == "etc/kolla/nova-compute/nova.conf"


# -- detection -------------------------------------------------------------------------------------------
def test_looks_like_kolla(host: Path, tmp_path: Path, compute4: Path) -> None:
    assert looks_like_kolla(host)
    assert looks_like_kolla(host / "etc" / "kolla")
    assert not looks_like_kolla(compute4)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not looks_like_kolla(empty)
    only_json = tmp_path / "only-json"
    write(only_json, "nova-compute/config.json", "{}")
    assert not looks_like_kolla(only_json)
    unrelated = tmp_path / "unrelated"
    write(unrelated, "docs/nova.conf", "")
    assert not looks_like_kolla(unrelated)


def test_open_target_picks_kolla(host: Path) -> None:
    assert isinstance(open_target(str(host)), KollaView)
    assert isinstance(open_target(str(host / "etc" / "kolla")), KollaView)


@pytest.mark.parametrize(("pattern", "path", "hit"), [
    ("etc/nova/*.conf", "etc/nova/nova.conf", True),
    ("etc/nova/*.conf", "etc/nova/sub/nova.conf", False),
    ("etc/**/*.ini", "etc/x.ini", True),
    ("etc/**/*.ini", "etc/neutron/plugins/ml2/ml2_conf.ini", True),
    ("var/log/nova/nova-compute.log*", "var/log/nova/nova-compute.log.1.gz", True),
    ("var/log/*/[!m]*.log", "var/log/mariadb/mariadb.log", False),
    ("var/log/*/[!m]*.log", "var/log/nova/nova-api.log", True),
    ("etc/ne?tron/*", "etc/neutron/neutron.conf", True),
    ("etc/nova+/x", "etc/nova+/x", True),
])
def test_glob_regex(pattern: str, path: str, hit: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(path)) is hit
