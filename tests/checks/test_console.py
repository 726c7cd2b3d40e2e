from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.areas import compute as demo
from stackrx.demo.builder import Interface, NodeTree
from stackrx.models import Result, Severity, Status
from testkit import failing, scan_dir, scan_tree

GIB = 1024**3
MIB = 1024**2
COMPUTE = "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n"
INST = "var/lib/nova/instances"
DF = (
    "Filesystem     1K-blocks     Used Available Use% Mounted on\n"
    "/dev/vda1       20971520  8388608  12582912  40% /\n"
    "/dev/vdb1       10485760  4194304   6291456  40% /var/lib/nova/instances\n"
)


def node(
    sizes: dict[str, int] | None = None,
    qemu: str | None = None,
    virtlogd: str | None = None,
    nova: str = COMPUTE,
) -> NodeTree:
    tree = NodeTree("compute-x")
    tree.file("etc/nova/nova.conf", nova)
    tree.command("df -al", DF)
    if qemu is not None:
        tree.file("etc/libvirt/qemu.conf", qemu)
    if virtlogd is not None:
        tree.file("etc/libvirt/virtlogd.conf", virtlogd)
    for path, size in (sizes or {}).items():
        tree.sizes[f"{INST}/{path}"] = size
    return tree


def by_status(results: list, status: Status) -> list:  # type: ignore[type-arg]
    return [r for r in results if r.status is status]


def test_huge_console_log_fails_high(tmp_path: Path) -> None:
    results = scan_tree(
        node({"u1/console.log": 5_905_580_032, "u2/console.log": 40_000}), tmp_path, "CON-003"
    )
    r, share = failing(results)
    assert r.status is Status.fail and r.severity is Severity.high
    assert (
        share.severity is Severity.high and "55% of the /var/lib/nova/instances filesystem" in share.message
    )
    assert r.resource == f"/{INST}/u1/console.log" and "5.5 GiB" in r.message and "lower bounds" in r.message
    assert r.evidence[0].source == f"{INST}/u1/console.log" and r.evidence[0].excerpt.startswith(
        "5905580032 bytes"
    )


def test_medium_sized_log_warns(tmp_path: Path) -> None:
    [r] = failing(scan_tree(node({"u1/console.log.1": 150 * MIB}), tmp_path, "CON-003"))
    assert r.status is Status.warn and r.severity is Severity.medium and "≥ 100 MiB" in r.message


def test_console_logs_filling_the_instances_filesystem(tmp_path: Path) -> None:
    sizes = {f"u{i}/console.log": 300 * MIB for i in range(4)}  # 1.2 GiB of a 10 GiB filesystem
    results = failing(scan_tree(node(sizes), tmp_path, "CON-003"))
    share = [r for r in results if r.resource == "/var/lib/nova/instances"]
    assert (
        len(share) == 1
        and share[0].severity is Severity.high
        and "11% of the /var/lib/nova/instances" in share[0].message
    )
    assert share[0].evidence[0].source == "sos_commands/filesys/df_-al_-x_autofs"
    assert len([r for r in results if r.severity is Severity.medium]) == 4


def test_stdio_handler_file_and_loose_virtlogd_limits(tmp_path: Path) -> None:
    qemu = '# stdio_handler = "logd"\nstdio_handler = "file"   # bypass virtlogd\n'
    virtlogd = "max_size = 209715200\nmax_backups = 50\n"
    results = failing(scan_tree(node({"u1/console.log": 1000}, qemu, virtlogd), tmp_path, "CON-003"))
    got = {(r.severity, r.evidence[0].source, r.evidence[0].line) for r in results}
    assert got == {
        (Severity.medium, "etc/libvirt/qemu.conf", 2),
        (Severity.low, "etc/libvirt/virtlogd.conf", 1),
        (Severity.low, "etc/libvirt/virtlogd.conf", 2),
    }


def test_defaults_and_rotated_logs_pass(tmp_path: Path) -> None:
    qemu = '#stdio_handler = "logd"\nstdio_handler = "logd"\n'
    virtlogd = "#max_size = 2097152\nmax_backups = 3\n"
    sizes = {"u1/console.log": 2 * MIB, "u1/console.log.0": 2 * MIB, "u1/console.log.1": 2 * MIB}
    results = scan_tree(node(sizes, qemu, virtlogd), tmp_path, "CON-003")
    assert [r.status for r in results] == [Status.passed]


def test_sosreport_without_console_logs_is_partial(tmp_path: Path) -> None:
    [r] = scan_tree(node(), tmp_path, "CON-003")
    assert r.status is Status.passed and r.message.startswith("partial:")


def test_non_libvirt_driver_or_no_nova_is_skipped(tmp_path: Path) -> None:
    [r] = scan_tree(
        node({"u1/console.log": 2 * GIB}, nova="[DEFAULT]\ncompute_driver = ironic.IronicDriver\n"),
        tmp_path / "a",
        "CON-003",
    )
    assert r.status is Status.skipped and "ironic" in r.message
    NodeTree("empty").write(tmp_path / "b")
    [r] = scan_dir(tmp_path / "b", "CON-003")
    assert r.status is Status.skipped and "etc/nova/nova.conf" in r.message


def test_non_numeric_virtlogd_value_is_ignored(tmp_path: Path) -> None:
    results = scan_tree(node({"u1/console.log": 10}, virtlogd='max_size = "huge"\n'), tmp_path, "CON-003")
    assert [r.status for r in results] == [Status.passed]


def test_compute4_con003_is_partial(compute4: Path) -> None:
    [r] = scan_dir(compute4, "CON-003")
    assert r.status is Status.passed and r.message.startswith(
        "partial: no console logs under /var/lib/nova/instances"
    )


def _demo(*faults: str) -> NodeTree:
    tree = NodeTree("compute-1", collected="Tue Dec  1 09:00:00 UTC 2026")
    tree.interfaces.append(Interface("eth0", addrs=["10.0.0.31/24"]))
    demo.healthy(tree, "compute")
    for fault in faults:
        demo.FAULTS[fault](tree)
    return tree


def test_demo_console_logs(tmp_path: Path) -> None:
    assert not failing(scan_tree(_demo(), tmp_path / "ok", "CON-003"))
    results = failing(scan_tree(_demo("CON-003"), tmp_path / "bad", "CON-003"))
    assert {(r.status, r.severity) for r in results} == {
        (Status.fail, Severity.high),
        (Status.warn, Severity.medium),
    }


COLLECTED = "Thu Feb 10 16:19:17 UTC 2022"
PS_HEADER = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
NOVA_COMPUTE = ("nova", "/usr/bin/python3 /usr/bin/nova-compute --config-file=/etc/nova/nova.conf")
SPICE_PROXY = ("nova", "/usr/bin/python3 /usr/bin/nova-spicehtml5proxy --config-file=/etc/nova/nova.conf")
NOVNC_PROXY = ("nova", "/usr/bin/python3 /usr/bin/nova-novncproxy --config-file=/etc/nova/nova.conf")
QEMU = ("libvirt+", "/usr/bin/qemu-system-x86_64 -name guest=instance-00000001 -spice port=5900,addr=0.0.0.0")
GOOD_COMPUTE = """[DEFAULT]
my_ip = 10.0.0.21
[vnc]
enabled = False
[spice]
enabled = True
agent_enabled = True
server_listen = 0.0.0.0
server_proxyclient_address = 10.0.0.21
html5proxy_base_url = https://console.example.com:6082/spice_auto.html
"""
SS_HEADER = "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n"
IPT_HEAD = "Chain INPUT (policy {policy} 0 packets, 0 bytes)\n pkts bytes target     prot opt in     out     " \
           "source               destination\n"
IPT_TAIL = """
Chain FORWARD (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination

Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination
"""
ESTABLISHED = ("    0     0 ACCEPT     all  --  *      *       0.0.0.0/0            0.0.0.0/0            "
               "state RELATED,ESTABLISHED\n")
ALLOW_6082 = ("    0     0 ACCEPT     tcp  --  *      *       0.0.0.0/0            0.0.0.0/0            "
              "multiport dports 6082 /* Allow SPICE connections for console access */\n")
ALLOW_DISPLAYS = ("    0     0 ACCEPT     tcp  --  *      *       10.0.0.0/24          0.0.0.0/0            "
                  "tcp dpts:5900:6923\n")
SS = "sos_commands/networking/ss_-peaonmi"
IPTABLES = "sos_commands/firewall_tables/iptables_-t_filter_-nvL"


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _by_resource(results: list[Result]) -> dict[str, Result]:
    return {r.resource or "": r for r in results}


def _node(nova: str | None = GOOD_COMPUTE, ps: tuple[tuple[str, str], ...] = (NOVA_COMPUTE,),
          debs: tuple[str, ...] = ()) -> NodeTree:
    node = NodeTree("compute-1", collected=COLLECTED)
    node.interfaces.append(Interface("eth0", addrs=["10.0.0.21/24"]))
    if nova is not None:
        node.file("etc/nova/nova.conf", nova)
    rows = [f"{user} {1000 + i} 0.0 0.1 1000 100 ? Ss Feb09 0:01 {cmd}\n" for i, (user, cmd) in enumerate(ps)]
    node.command("ps auxwww", PS_HEADER + "root 1 0.0 0.0 1 1 ? Ss Feb09 0:01 /sbin/init\n" + "".join(rows))
    if debs:
        node.file("sos_commands/dpkg/dpkg_-l", "".join(f"ii  {name:<30} 2:21.2.4-0ubuntu1 all  OpenStack\n"
                                                      for name in debs))
    return node


def _ss(*rows: tuple[str, str]) -> str:
    return SS_HEADER + "".join(f'tcp   LISTEN 0      100          {local}       0.0.0.0:*     users:(("{proc}",'
                               f"pid=42,fd=5))\n" for local, proc in rows)


def _iptables(policy: str, *rules: str) -> str:
    return IPT_HEAD.format(policy=policy) + "".join(rules) + IPT_TAIL


# ---------------------------------------------------------------------------------------------------------
# CON-001
# ---------------------------------------------------------------------------------------------------------


def test_con001_consistent_compute_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(), tmp_path, "CON-001"))
    assert r.status is Status.passed and "consistent on this compute" in r.message
    assert r.evidence[0].source == "etc/nova/nova.conf" and "spice_auto.html" in r.evidence[0].excerpt


def test_con001_half_configured_compute_fails(tmp_path: Path) -> None:
    nova = "[DEFAULT]\nmy_ip = 10.0.0.21\n[spice]\nenabled = True\nserver_proxyclient_address = 10.9.9.9\n"
    found = _by_resource(failing(scan_tree(_node(nova), tmp_path, "CON-001")))
    assert set(found) == {"vnc.enabled", "spice.server_listen", "spice.server_proxyclient_address",
                          "spice.html5proxy_base_url"}
    vnc = found["vnc.enabled"]
    assert (vnc.status, vnc.severity) == (Status.warn, Severity.medium) and "both consoles" in vnc.message
    assert vnc.evidence[0].excerpt == "[vnc] enabled not set (default True)"
    listen = found["spice.server_listen"]
    assert (listen.status, listen.severity) == (Status.fail, Severity.high) and "loopback" in listen.message
    client = found["spice.server_proxyclient_address"]
    assert client.severity is Severity.high and "10.9.9.9 is not an address of this node" in client.message
    assert client.evidence[0].source == "etc/nova/nova.conf" and client.evidence[0].line == 5
    url = found["spice.html5proxy_base_url"]
    assert url.severity is Severity.high and "still the 127.0.0.1 default" in url.message


@pytest.mark.parametrize("client", ["fd00:0:0:0::21", "compute-1.example.com"])
def test_con001_proxyclient_address_spellings_are_not_flagged(tmp_path: Path, client: str) -> None:
    # An IPv6 address written long-hand is still this node's; a host name cannot be compared at all.
    node = _node(GOOD_COMPUTE.replace("server_proxyclient_address = 10.0.0.21", f"server_proxyclient_address = "
                                      f"{client}"))
    node.interfaces[0].addrs.append("fd00::21/64")
    r = _one(scan_tree(node, tmp_path, "CON-001"))
    assert r.status is Status.passed


def test_con001_url_without_spice_enabled_fails(tmp_path: Path) -> None:
    nova = GOOD_COMPUTE.replace("[spice]\nenabled = True", "[spice]\nenabled = False")
    r = _one(failing(scan_tree(_node(nova), tmp_path, "CON-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "spice.enabled")
    assert "[spice] enabled is false" in r.message and "Unavailable console type" in r.message
    assert [e.excerpt for e in r.evidence][1].endswith("spice_auto.html")


def test_con001_wrong_url_path_fails(tmp_path: Path) -> None:
    nova = GOOD_COMPUTE.replace("6082/spice_auto.html", "6082/vnc_auto.html")
    r = _one(failing(scan_tree(_node(nova), tmp_path, "CON-001")))
    assert r.resource == "spice.html5proxy_base_url" and "does not end in spice_auto.html" in r.message


def test_con001_deprecated_vnc_enabled_is_honoured(tmp_path: Path) -> None:
    nova = GOOD_COMPUTE.replace("[vnc]\nenabled = False\n", "").replace("[DEFAULT]\n", "[DEFAULT]\nvnc_enabled = "
                                                                                     "False\n")
    r = _one(scan_tree(_node(nova), tmp_path, "CON-001"))
    assert r.status is Status.passed


def test_con001_refused_console_type_in_logs_fails(tmp_path: Path) -> None:
    node = _node()
    node.file("var/log/nova/nova-api.log",
              "2022-02-10 15:00:00.000 4242 INFO nova.api.openstack.wsgi [req-1 - - - - -] HTTP exception thrown: "
              "Invalid console type spice-html5\n")
    r = _one(failing(scan_tree(node, tmp_path, "CON-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "console-type")
    assert "1 \"spice-html5\" console request(s) refused" in r.message
    assert r.evidence[0].source == "var/log/nova/nova-api.log" and r.evidence[0].line == 1


def test_con001_proxy_installed_but_not_running_fails(tmp_path: Path) -> None:
    node = _node("[spice]\nenabled = True\n", ps=(), debs=("nova-spiceproxy",))
    r = _one(failing(scan_tree(node, tmp_path, "CON-001")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "nova-spicehtml5proxy")
    assert "installed but not running" in r.message


def test_con001_running_proxy_passes(tmp_path: Path) -> None:
    node = _node("[spice]\nenabled = True\n", ps=(SPICE_PROXY,), debs=("nova-spiceproxy",))
    r = _one(scan_tree(node, tmp_path, "CON-001"))
    assert r.status is Status.passed and "SPICE proxy" in r.message


@pytest.mark.parametrize(("nova", "reason"), [
    (None, "no nova.conf"),
    ("[DEFAULT]\nvnc_enabled = False\nnovnc_enabled = False\n", "SPICE consoles are not configured"),
])
def test_con001_skips_without_spice(tmp_path: Path, nova: str | None, reason: str) -> None:
    r = _one(scan_tree(_node(nova), tmp_path, "CON-001"))
    assert r.status is Status.skipped and reason in r.message


# ---------------------------------------------------------------------------------------------------------
# CON-002
# ---------------------------------------------------------------------------------------------------------

PROXY_NOVA = "[spice]\nenabled = True\nhtml5proxy_port = 6082\n"


def test_con002_running_proxy_not_listening_is_high(tmp_path: Path) -> None:
    node = _node(PROXY_NOVA, ps=(SPICE_PROXY,))
    node.file(SS, _ss(("0.0.0.0:22", "sshd")))
    r = _one(failing(scan_tree(node, tmp_path, "CON-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "nova-spicehtml5proxy:6082")
    assert "runs but nothing listens on 0.0.0.0:6082" in r.message
    assert r.evidence[1].excerpt == "[spice] html5proxy_port = 6082"


def test_con002_installed_proxy_not_listening_is_medium(tmp_path: Path) -> None:
    node = _node("[vnc]\nenabled = True\n", ps=(), debs=("nova-novncproxy",))
    node.file(SS, _ss(("0.0.0.0:22", "sshd")))
    r = _one(failing(scan_tree(node, tmp_path, "CON-002")))
    assert (r.status, r.severity) == (Status.warn, Severity.medium)
    assert "nova-novncproxy is installed but nothing listens on 0.0.0.0:6080" in r.message
    assert r.evidence[0].excerpt == "[vnc] novncproxy_host not set (default 0.0.0.0)"


def test_con002_input_drop_without_allow_warns(tmp_path: Path) -> None:
    node = _node(PROXY_NOVA, ps=(SPICE_PROXY,))
    node.file(SS, _ss(("0.0.0.0:6082", "nova-spicehtml5")))
    node.file(IPTABLES, _iptables("DROP", ESTABLISHED))
    r = _one(failing(scan_tree(node, tmp_path, "CON-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium,
                                                  "nova-spicehtml5proxy:6082:firewall")
    assert "INPUT drops new connections to 6082" in r.message
    assert {e.source for e in r.evidence} == {IPTABLES, SS}


def test_con002_listening_and_allowed_passes(tmp_path: Path) -> None:
    node = _node(PROXY_NOVA, ps=(SPICE_PROXY,))
    node.file(SS, _ss(("0.0.0.0:6082", "nova-spicehtml5")))
    node.file(IPTABLES, _iptables("DROP", ESTABLISHED, ALLOW_6082))
    r = _one(scan_tree(node, tmp_path, "CON-002"))
    assert r.status is Status.passed and r.message == "nova-spicehtml5proxy:6082 listening"


def test_con002_haproxy_in_front_counts_as_listener(tmp_path: Path) -> None:
    node = _node(PROXY_NOVA, ps=(SPICE_PROXY,))
    node.file(SS, _ss(("10.0.0.5:6082", "haproxy")))
    r = _one(scan_tree(node, tmp_path, "CON-002"))
    assert r.status is Status.passed and "(no firewall rules collected)" in r.message


@pytest.mark.parametrize(("rules", "blocked"), [((ESTABLISHED,), True), ((ESTABLISHED, ALLOW_DISPLAYS), False)])
def test_con002_compute_display_ports(tmp_path: Path, rules: tuple[str, ...], blocked: bool) -> None:
    node = _node(ps=(NOVA_COMPUTE, QEMU))
    node.file(SS, _ss(("0.0.0.0:5900", "qemu-system-x86"), ("127.0.0.1:5901", "qemu-system-x86")))
    node.file(IPTABLES, _iptables("DROP", *rules))
    results = scan_tree(node, tmp_path, "CON-002")
    r = _one(results)
    if blocked:
        assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "qemu-display-ports")
        # The loopback-only display cannot be reached from a proxy anyway: only 5900 is named.
        assert "QEMU display port(s) 5900:" in r.message
        assert r.evidence[0].source == IPTABLES and r.evidence[-1].source == SS
    else:
        assert r.status is Status.passed and "2 QEMU display listener(s) listening" in r.message


def test_con002_proxy_without_listener_data_is_missing_evidence(tmp_path: Path) -> None:
    r = _one(scan_tree(_node(PROXY_NOVA, ps=(SPICE_PROXY,)), tmp_path, "CON-002"))
    assert r.status is Status.skipped and r.message.startswith("input missing: sos_commands/networking/ss_-peaonmi")


def test_con002_compute_with_vnc_guests_but_no_listener_data_is_missing_evidence(tmp_path: Path) -> None:
    node = _node("[vnc]\nenabled = True\n", ps=(NOVA_COMPUTE, QEMU))
    r = _one(scan_tree(node, tmp_path, "CON-002"))
    assert r.status is Status.skipped and "QEMU display ports of the running guests" in r.message


def test_con002_compute4_has_no_console_at_all(compute4: Path) -> None:
    # Its guests run with `-display none` ([DEFAULT] vnc_enabled = False), and the sosreport has no ss/netstat.
    r = _one(scan_dir(compute4, "CON-002"))
    assert r.status is Status.skipped and "no console proxy" in r.message


# ---------------------------------------------------------------------------------------------------------
# CON-004
# ---------------------------------------------------------------------------------------------------------

MPM_CONF = "etc/httpd/conf.modules.d/00-mpm.conf"
DASHBOARD_CONF = "etc/httpd/conf.d/openstack-dashboard.conf"
EMBEDDED = """WSGIScriptAlias /dashboard /usr/share/openstack-dashboard/openstack_dashboard/wsgi.py
Alias /dashboard/static /usr/share/openstack-dashboard/static
"""
DAEMON = """WSGIDaemonProcess dashboard processes=3 threads=10 user=apache group=apache
WSGIProcessGroup dashboard
WSGISocketPrefix run/wsgi
""" + EMBEDDED
APACHECTL = "Loaded Modules:\n core_module (static)\n so_module (static)\n {mpm} (shared)\n{extra}"


def _httpd(mpm_lines: str, dashboard: str, apachectl: str | None = None) -> NodeTree:
    node = NodeTree("ctl-1", collected=COLLECTED)
    node.file(MPM_CONF, "# Select the MPM module which should be used by uncommenting exactly one\n" + mpm_lines)
    node.file(DASHBOARD_CONF, dashboard)
    if apachectl is not None:
        node.file("sos_commands/apache/apachectl_-M", apachectl)
    return node


PREFORK = "LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n#LoadModule mpm_event_module " \
          "modules/mod_mpm_event.so\n"
EVENT = "#LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\nLoadModule mpm_event_module " \
        "modules/mod_mpm_event.so\n"


def test_con004_prefork_with_embedded_dashboard_is_low(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_httpd(PREFORK, EMBEDDED), tmp_path, "CON-004")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.low, "mpm:prefork")
    assert "embedded mod_wsgi mode" in r.message
    assert [(e.source, e.line) for e in r.evidence] == [(MPM_CONF, 2), (DASHBOARD_CONF, 1)]


def test_con004_two_mpms_is_medium(tmp_path: Path) -> None:
    both = PREFORK.replace("#LoadModule", "LoadModule")
    r = _one(failing(scan_tree(_httpd(both, DAEMON), tmp_path, "CON-004")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "mpm")
    assert "2 MPM LoadModule lines" in r.message and len(r.evidence) == 2


def test_con004_running_module_list_wins(tmp_path: Path) -> None:
    # The file says event, but `apachectl -M` shows what actually loaded.
    node = _httpd(EVENT, EMBEDDED, APACHECTL.format(mpm="mpm_prefork_module", extra=""))
    r = _one(failing(scan_tree(node, tmp_path, "CON-004")))
    assert r.severity is Severity.low and r.evidence[0].source == "sos_commands/apache/apachectl_-M"


@pytest.mark.parametrize(("extra", "words"), [
    ("", "event MPM is available"),
    (" php7_module (shared)\n", "kept for mod_php"),
])
def test_con004_prefork_with_daemon_mode_passes(tmp_path: Path, extra: str, words: str) -> None:
    node = _httpd(PREFORK, DAEMON, APACHECTL.format(mpm="mpm_prefork_module", extra=extra))
    r = _one(scan_tree(node, tmp_path, "CON-004"))
    assert r.status is Status.passed and words in r.message


def test_con004_event_on_debian_passes(tmp_path: Path) -> None:
    node = NodeTree("ctl-1", collected=COLLECTED)
    node.file("etc/apache2/mods-enabled/mpm_event.load", "LoadModule mpm_event_module "
              "/usr/lib/apache2/modules/mod_mpm_event.so\n")
    node.file("etc/apache2/mods-available/mpm_prefork.load", "LoadModule mpm_prefork_module "
              "/usr/lib/apache2/modules/mod_mpm_prefork.so\n")
    node.file("etc/apache2/conf-enabled/openstack-dashboard.conf", DAEMON.replace("dashboard processes",
                                                                                  "horizon processes")
              .replace("WSGIProcessGroup dashboard", "WSGIProcessGroup horizon"))
    r = _one(scan_tree(node, tmp_path, "CON-004"))
    assert r.status is Status.passed
    assert r.message == "Apache MPM mpm_event_module; dashboard mod_wsgi mode daemon"


def test_con004_without_dashboard_is_not_applicable(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "CON-004"))
    assert r.status is Status.skipped and "no Horizon dashboard" in r.message


def test_con004_dashboard_package_without_apache_config_is_missing_evidence(tmp_path: Path) -> None:
    node = _node(None, ps=(), debs=("openstack-dashboard",))
    r = _one(scan_tree(node, tmp_path, "CON-004"))
    assert r.status is Status.skipped and r.message.startswith("input missing: Apache configuration")
