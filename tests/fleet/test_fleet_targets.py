"""Fleet targets: host lists, Ansible inventories (read by ansible-inventory for real), node directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import fleet_scenarios as S
import pytest

from stackrx.errors import UsageError
from stackrx.fleet.evidence import command_path, netns_argv, parse_netns_list, remote_command
from stackrx.fleet.runner import dir_names
from stackrx.fleet.targets import SshHost, limit_hosts, parse_host_list, resolve, validate_host

ANSIBLE = shutil.which("ansible-inventory") or str(Path(__import__("sys").executable).with_name("ansible-inventory"))
needs_ansible = pytest.mark.skipif(not Path(ANSIBLE).exists(), reason="ansible-core not installed")


def test_host_list_lines() -> None:
    hosts = parse_host_list("# fleet\nnode1\nadmin@10.0.0.5:2222\n[2001:db8::7]:22  # v6\n\n", "hosts.txt")
    assert [(h.name, h.address, h.port, h.user, h.error) for h in hosts] == [
        ("node1", "node1", 22, None, None), ("10.0.0.5:2222", "10.0.0.5", 2222, "admin", None),
        ("[2001:db8::7]:22", "2001:db8::7", 22, None, None)]
    assert hosts[1].target == "ssh://admin@10.0.0.5:2222"
    with pytest.raises(UsageError, match=r"hosts\.txt:2"):
        parse_host_list("ok\nnot a host line\n", "hosts.txt")


@pytest.mark.parametrize(("address", "user"), [
    ("127.0.0.1;touch /tmp/x", None), ("$(id)", None), ("-oProxyCommand=sh", None), ("a b", None),
    ("node1", "$(touch /tmp/x)"), ("node1", "-l"), ("node1", "root;id"), ("{{ lookup('pipe','id') }}", None),
])
def test_unsafe_names_are_refused(address: str, user: str | None) -> None:
    host = validate_host(SshHost(name="evil", address=address, user=user))
    assert host.error is not None and ("refused" in host.error or "templated" in host.error)


def test_plain_names_and_addresses_pass() -> None:
    for address in ("compute-1.example.com", "10.0.0.5", "fe80::1%eth0", "2001:db8::7", "node_7"):
        assert validate_host(SshHost(name=address, address=address, user="stack-user.1")).error is None


def test_remote_commands_are_quoted_words_only() -> None:
    assert remote_command(("sysctl", "-a"), sudo=False).startswith("env LC_ALL=C LANG=C PATH=")
    assert remote_command(("sysctl", "-a"), sudo=True).startswith("sudo -n env ")
    assert remote_command(("date", "--utc", "+%Y-%m-%d %H:%M:%S+00:00"), sudo=False).endswith(
        "date --utc '+%Y-%m-%d %H:%M:%S+00:00'")
    assert parse_netns_list("qrouter-1 (id: 0)\n-evil\n$(id)\nsnat-2\n") == ["qrouter-1", "snat-2"]
    with pytest.raises(ValueError):
        netns_argv("a;b", "sysctl -a")
    assert command_path("ip -d address") == "sos_commands/networking/ip_-d_address"
    assert command_path("date") == "sos_commands/date/date"


def test_directory_names_stay_inside_the_save_dir() -> None:
    names = dir_names([SshHost(name=n, address="h") for n in ("../../etc", "a/b", "a_b", ".", "ok")])
    assert list(names.values()) == ["_.._etc", "a_b", "a_b-2", "host", "ok"]


@needs_ansible
def test_ini_inventory_host_vars_and_groups(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.ini"
    inv.write_text(
        "[network]\nnet1 ansible_host=10.0.0.21 ansible_user=ops\n"
        "net2 ansible_host=10.0.0.22 ansible_port=2222\n\n"
        "[compute]\ncmp1 ansible_host=10.0.0.31 ansible_ssh_private_key_file=~/.ssh/cmp\n"
        "here ansible_connection=local\n"
        "evil ansible_host=\"127.0.0.1$(touch /tmp/stackrx-pwned)\" ansible_user=\"x;id\"\n\n"
        "[openstack:children]\nnetwork\ncompute\n\n[compute:vars]\nansible_become=true\n")
    plan = resolve([str(inv)])
    hosts = {h.name: h for h in plan.ssh}
    assert hosts["net1"].address == "10.0.0.21" and hosts["net1"].user == "ops" and hosts["net1"].port == 22
    assert hosts["net2"].port == 2222 and "network" in hosts["net2"].groups and "openstack" in hosts["net2"].groups
    assert hosts["cmp1"].sudo and hosts["cmp1"].key_file and hosts["cmp1"].key_file.endswith("/.ssh/cmp")
    assert hosts["here"].connection == "local"
    assert hosts["evil"].error and "refused" in hosts["evil"].error
    assert [h.name for h in limit_hosts(plan.ssh, ["network", "!net2"])] == ["net1"]
    assert [h.name for h in resolve([str(inv)], ["cmp*"]).ssh] == ["cmp1"]


@needs_ansible
def test_yaml_inventory(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  children:\n    compute:\n      hosts:\n        c1:\n          ansible_host: 10.0.0.31\n"
                   "          ansible_port: 2201\n      vars:\n        ansible_user: heat-admin\n")
    (host,) = resolve([str(inv)]).ssh
    assert (host.name, host.address, host.port, host.user, host.groups) == ("c1", "10.0.0.31", 2201, "heat-admin",
                                                                             ("compute",))


@needs_ansible
def test_broken_inventory_is_a_usage_error(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yml"
    inv.write_text("all: [this is: not: an inventory\n")
    with pytest.raises(UsageError, match="ansible-inventory failed"):
        resolve([str(inv)])


def test_node_directories_tarballs_and_json(tmp_path: Path) -> None:
    nodes = S.write(S.healthy("compute-1", "compute-2"), tmp_path / "nodes")
    shutil.make_archive(str(nodes / "compute-9"), "gztar", root_dir=nodes, base_dir="compute-2")
    (nodes / "compute-3.json").write_text("{}")
    (nodes / "notes.txt").write_text("ignored")
    plan = resolve([str(nodes)])
    assert sorted(p.name for p in plan.trees) == ["compute-1", "compute-2", "compute-9.tar.gz"]
    assert [p.name for p in plan.reports] == ["compute-3.json"]
    assert resolve([str(nodes / "compute-1")]).trees == [nodes / "compute-1"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no sosreport directories"):
        resolve([str(tmp_path / "empty")])
    with pytest.raises(UsageError, match="no such file"):
        resolve([str(tmp_path / "missing")])
