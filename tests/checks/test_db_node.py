from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import Interface, NodeTree
from stackrx.models import Result, Severity, Status
from testkit import REALDATA, failing, scan_dir, scan_tree

DEBIAN = REALDATA / "debian-defaults"
COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
NOVA_CONF = "etc/nova/nova.conf"
NOVA_DB = "[DEFAULT]\ndebug = false\n\n[database]\nconnection = mysql+pymysql://nova:secret@10.0.0.5/nova\n"
CONDUCTOR = ("nova", "/usr/bin/python3 /usr/bin/nova-conductor --config-file=/etc/nova/nova.conf")
COMPUTE = ("nova", "/usr/bin/python3 /usr/bin/nova-compute --config-file=/etc/nova/nova.conf")
MYSQLD = ("mysql", "/usr/sbin/mariadbd --basedir=/usr --wsrep-new-cluster=0")
UNITS = "sos_commands/systemd/systemctl_list-unit-files"
IPTABLES = "sos_commands/firewall_tables/iptables_-t_filter_-nvL"
NETSTAT = "sos_commands/networking/netstat_-W_-neopa"
GALERA_CNF = "etc/mysql/mariadb.conf.d/60-galera.cnf"


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _real(rel: str) -> str:
    path = DEBIAN / rel
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return path.read_text()


def _node(ps: tuple[tuple[str, str], ...] = (), ip: str = "10.0.0.11/24") -> NodeTree:
    node = NodeTree("db-1", collected=COLLECTED)
    node.interfaces.append(Interface("eth0", addrs=[ip]))
    rows = [f"{user} {1000 + i} 0.0 0.1 1000 100 ? Ssl Nov30 0:01 {cmd}\n" for i, (user, cmd) in enumerate(ps)]
    node.command("ps auxwww", PS_HEADER + "root 1 0.0 0.0 1 1 ? Ss Nov30 0:01 /sbin/init\n" + "".join(rows))
    return node


# -- DB-002 ----------------------------------------------------------------------------------------------
def test_db002_controller_without_archive_job_warns_low(tmp_path: Path) -> None:
    node = _node(ps=(CONDUCTOR,))
    node.file(NOVA_CONF, NOVA_DB)
    node.file("etc/cron.d/nova-archive", "# 0 3 * * * nova nova-manage db archive_deleted_rows --purge\n")
    r = _one(failing(scan_tree(node, tmp_path, "DB-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.low, "archive-job")
    assert "no crontab or systemd job archives/purges soft-deleted rows" in r.message and "DB-001" in r.message
    assert [(e.source, e.line) for e in r.evidence[:1]] == [(NOVA_CONF, 5)]
    assert any("nova-conductor" in e.excerpt for e in r.evidence)


@pytest.mark.parametrize(("path", "line"), [
    ("etc/cron.d/nova-archive", "0 3 * * * nova /usr/bin/nova-manage db archive_deleted_rows --until-complete "
                                "--all-cells --purge"),
    ("var/spool/cron/crontabs/glance", "30 3 * * * glance-manage --config-file /etc/glance/glance-api.conf db "
                                       "purge --age_in_days 90"),
    ("etc/systemd/system/nova-db-purge.service", "ExecStart=/usr/bin/nova-manage db purge --before 2026-09-01 "
                                                 "--all-cells"),
])
def test_db002_scheduled_job_passes(tmp_path: Path, path: str, line: str) -> None:
    node = _node(ps=(CONDUCTOR,))
    node.file(NOVA_CONF, NOVA_DB)
    node.file(path, f"# keep the tables small\n{line}\n")
    r = _one(scan_tree(node, tmp_path, "DB-002"))
    assert r.status is Status.passed and "1 archive/purge job(s) scheduled" in r.message
    assert [(e.source, e.line) for e in r.evidence] == [(path, 2)]


def test_db002_api_process_alone_marks_a_db_owner(tmp_path: Path) -> None:
    node = _node(ps=(("glance", "/usr/bin/python3 /usr/bin/glance-api --config-file=/etc/glance/glance-api.conf"),))
    r = _one(failing(scan_tree(node, tmp_path, "DB-002")))
    assert r.severity is Severity.low and r.evidence[0].source == "sos_commands/process/ps_auxwww"


def test_db002_compute_with_packaged_sqlite_default_is_not_a_db_owner(tmp_path: Path) -> None:
    # Debian's nova-common installs this sample as /etc/nova/nova.conf: [database] connection = sqlite:...
    node = _node(ps=(COMPUTE,))
    node.file(NOVA_CONF, _real("nova-common/usr/share/nova-common/nova.conf"))
    r = _one(scan_tree(node, tmp_path, "DB-002"))
    assert r.status is Status.skipped and "no nova/glance/cinder database connection" in r.message


def test_db002_compute4_is_not_applicable(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "DB-002"))
    assert r.status is Status.skipped and "not applicable" in r.message


# -- DB-004 ----------------------------------------------------------------------------------------------
GRASTATE = "var/lib/mysql/grastate.dat"
MEMBERS = "gcomm://10.0.0.11,10.0.0.12,10.0.0.13"
UNIT_HEADER = "UNIT FILE                              STATE           VENDOR PRESET\n"


def _grastate(seqno: int = -1, safe: int = 0, uuid: str = "5ee99582-bb8d-11e2-b8e3-23de375c1d30") -> str:
    return (f"# GALERA saved state\nversion: 2.1\nuuid:    {uuid}\nseqno:   {seqno}\n"
            f"safe_to_bootstrap: {safe}\n")


def _galera(address: str = MEMBERS, ps: tuple[tuple[str, str], ...] = (MYSQLD,), state: str | None = None,
            units: str = "") -> NodeTree:
    """A Debian MariaDB node: the packaged option files (real) plus a Galera drop-in."""
    node = _node(ps=ps)
    node.file("etc/mysql/mariadb.cnf", _real("mariadb-common/etc/mysql/mariadb.cnf"))
    node.file("etc/mysql/mariadb.conf.d/50-server.cnf",
              _real("mariadb-server/etc/mysql/mariadb.conf.d/50-server.cnf"))
    node.file(GALERA_CNF, "[galera]\nwsrep_on = ON\nwsrep_provider = /usr/lib/galera/libgalera_smm.so\n"
                          f"wsrep_cluster_name = openstack\nwsrep_cluster_address = {address}\n")
    if state is not None:
        node.file(GRASTATE, state)
    node.file(UNITS, UNIT_HEADER + "mariadb.service                        enabled         enabled\n" + units)
    return node


def test_db004_bootstrap_unit_enabled_at_boot_fails_high(tmp_path: Path) -> None:
    node = _galera(state=_grastate(), units="mariadb@bootstrap.service              enabled         enabled\n")
    r = _one(failing(scan_tree(node, tmp_path, "DB-004")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "mariadb@bootstrap.service")
    assert "enabled at boot" in r.message and "bootstraps a new cluster" in r.message
    assert (r.evidence[0].source, r.evidence[0].line, r.evidence[0].excerpt) == (
        UNITS, 3, "mariadb@bootstrap.service enabled")


def test_db004_empty_gcomm_address_fails_high(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_galera(address="gcomm://"), tmp_path, "DB-004")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "wsrep_cluster_address")
    assert "`gcomm://` without members" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == (GALERA_CNF, 5)


def test_db004_disabled_bootstrap_unit_and_running_member_pass(tmp_path: Path) -> None:
    node = _galera(state=_grastate(), units="mariadb@bootstrap.service              disabled        enabled\n")
    r = _one(scan_tree(node, tmp_path, "DB-004"))
    assert r.status is Status.passed and "seqno -1" in r.message and "(mysqld running)" in r.message
    assert r.evidence[0].source == GRASTATE


@pytest.mark.parametrize(("state", "words"), [
    (_grastate(seqno=1234, safe=1), "it is the bootstrap candidate"),
    (_grastate(seqno=-1, safe=0), "run `mysqld --wsrep-recover`"),
    (_grastate(seqno=1200, safe=0), "only the highest may be bootstrapped"),
    (_grastate(uuid="00000000-0000-0000-0000-000000000000"), "full state transfer"),
])
def test_db004_stopped_node_says_how_to_recover(tmp_path: Path, state: str, words: str) -> None:
    r = _one(scan_tree(_galera(ps=(), state=state), tmp_path, "DB-004"))
    assert r.status is Status.passed and words in r.message


def test_db004_packaged_wsrep_cnf_without_provider_is_not_galera(tmp_path: Path) -> None:
    # Debian's sample wsrep.cnf sets wsrep_on=1 but wsrep_provider=none: a plain MariaDB.
    node = _node(ps=(MYSQLD,))
    node.file("etc/mysql/mariadb.cnf", _real("mariadb-common/etc/mysql/mariadb.cnf"))
    node.file("etc/mysql/conf.d/wsrep.cnf", _real("mariadb-server/usr/share/mysql/wsrep.cnf"))
    for check_id in ("DB-004", "DB-006"):
        r = _one(scan_tree(node, tmp_path / check_id, check_id))
        assert r.status is Status.skipped and "wsrep_provider unset or none" in r.message


def test_db004_no_server_config_is_missing_evidence(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(), tmp_path, "DB-004"))
    assert r.status is Status.skipped and "grastate.dat" in r.message and "input missing" in r.message


def test_db004_db006_compute4_client_only_mysql_is_not_applicable(compute4: Path) -> None:
    for r in scan_dir(compute4, "DB-004", "DB-006"):
        assert r.status is Status.skipped and "no Galera/wsrep configuration" in r.message


# -- DB-006 ----------------------------------------------------------------------------------------------
IPT_HEAD = "Chain INPUT (policy {policy} 0 packets, 0 bytes)\n pkts bytes target     prot opt in     out     source" \
           "               destination\n"
IPT_TAIL = ("\nChain FORWARD (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target     prot opt in     out     "
            "source               destination\n\nChain OUTPUT (policy ACCEPT 0 packets, 0 bytes)\n pkts bytes target"
            "     prot opt in     out     source               destination\n")
NETSTAT_HEAD = ("Active Internet connections (servers and established)\nProto Recv-Q Send-Q Local Address           "
                "Foreign Address         State       User       Inode      PID/Program name     Timer\n")


def _rule(target: str, source: str, match: str, iface: str = "*") -> str:
    return f"    0     0 {target:<10} tcp  --  {iface:<6} *       {source:<20} 0.0.0.0/0            {match}\n"


def _listen(address: str, port: int) -> str:
    return (f"tcp        0      0 {address}:{port:<14} 0.0.0.0:*               LISTEN      111        31245      "
            "2045/mariadbd        off (0.00/0/0)\n")


def _ports_node(rules: str = "", policy: str = "ACCEPT", listeners: str | None = None,
                firewall: bool = True) -> NodeTree:
    node = _galera(state=_grastate())
    if firewall:
        node.file(IPTABLES, IPT_HEAD.format(policy=policy) + rules + IPT_TAIL)
    if listeners is not None:
        node.file(NETSTAT, NETSTAT_HEAD + listeners)
    return node


def test_db006_group_port_dropped_between_members_is_critical(tmp_path: Path) -> None:
    rules = _rule("DROP", "10.0.0.0/24", "tcp dpt:4567")
    found = failing(scan_tree(_ports_node(rules), tmp_path, "DB-006"))
    assert [(r.status, r.severity, r.resource) for r in found] == [
        (Status.fail, Severity.critical, "10.0.0.12:4567"), (Status.fail, Severity.critical, "10.0.0.13:4567")]
    r = found[0]
    assert "an INPUT rule drops TCP 4567 (group communication) from member 10.0.0.12" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == (IPTABLES, 3)
    assert r.evidence[-1].source == GALERA_CNF


def test_db006_transfer_ports_closed_by_policy_are_high(tmp_path: Path) -> None:
    rules = (_rule("ACCEPT", "10.0.0.0/24", "multiport dports 3306,4567")
             + _rule("ACCEPT", "0.0.0.0/0", "tcp dpt:22"))
    found = failing(scan_tree(_ports_node(rules, policy="DROP"), tmp_path, "DB-006"))
    assert sorted(r.resource for r in found) == ["10.0.0.12:4444", "10.0.0.12:4568", "10.0.0.13:4444",
                                                 "10.0.0.13:4568"]
    assert {(r.status, r.severity) for r in found} == {(Status.fail, Severity.high)}
    assert any("the INPUT policy drops TCP 4444 (state snapshot transfer (SST))" in r.message for r in found)


def test_db006_wildcard_listener_with_open_input_is_exposed(tmp_path: Path) -> None:
    node = _ports_node(listeners=_listen("0.0.0.0", 3306) + _listen("0.0.0.0", 4567))
    found = failing(scan_tree(node, tmp_path, "DB-006"))
    assert [(r.status, r.severity, r.resource) for r in found] == [
        (Status.warn, Severity.medium, "0.0.0.0:3306"), (Status.warn, Severity.medium, "0.0.0.0:4567")]
    assert "INPUT accepts any source" in found[0].message and found[0].evidence[0].source == NETSTAT


def test_db006_members_allowed_and_others_dropped_passes(tmp_path: Path) -> None:
    rules = (_rule("ACCEPT", "10.0.0.0/24", "multiport dports 3306,4444,4567,4568")
             + _rule("DROP", "0.0.0.0/0", "multiport dports 3306,4444,4567,4568"))
    node = _ports_node(rules, listeners=_listen("0.0.0.0", 3306) + _listen("0.0.0.0", 4567))
    r = _one(scan_tree(node, tmp_path, "DB-006"))
    assert r.status is Status.passed
    assert "2 other member(s) (10.0.0.12, 10.0.0.13); nothing blocks the Galera ports in firewall rules" in r.message


def test_db006_interface_bound_drop_and_cluster_address_bind_are_not_guessed(tmp_path: Path) -> None:
    # The DROP applies to one interface only (unknown which one members use); mysqld binds the cluster address.
    rules = _rule("DROP", "0.0.0.0/0", "tcp dpt:4567", iface="eth1")
    node = _ports_node(rules, listeners=_listen("10.0.0.11", 3306) + _listen("10.0.0.11", 4567))
    r = _one(scan_tree(node, tmp_path, "DB-006"))
    assert r.status is Status.passed


def test_db006_without_firewall_or_listeners_is_missing_evidence(tmp_path: Path) -> None:
    r = _one(scan_tree(_ports_node(firewall=False), tmp_path, "DB-006"))
    assert r.status is Status.skipped and "iptables_-t_filter_-nvL" in r.message


@pytest.mark.parametrize("own", [
    "127.0.1.1 db-1.example.org db-1\n10.0.0.11 db-1.example.org db-1\n",  # Debian: loopback alias first
    "",  # not in /etc/hosts at all: recognised by the node's hostname
])
def test_db006_own_name_in_member_list_is_not_another_member(tmp_path: Path, own: str) -> None:
    # Members are allowed by subnet and everything else is dropped: the node itself must not count as a peer.
    node = _ports_node(_rule("ACCEPT", "10.0.0.0/24", "multiport dports 3306,4444,4567,4568"), policy="DROP")
    node.file(GALERA_CNF, node.files[GALERA_CNF].replace(MEMBERS, "gcomm://db-1.example.org,db-2,db-3"))
    node.file("etc/hosts", f"127.0.0.1 localhost\n{own}10.0.0.12 db-2\n10.0.0.13 db-3\n")
    r = _one(scan_tree(node, tmp_path, "DB-006"))
    assert r.status is Status.passed and "2 other member(s) (db-2, db-3)" in r.message
