"""The sosreport directory view: sos's file naming, root links, tailed files, the manifest, namespaces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stackrx.sources.commands import COMMANDS, mangle
from stackrx.sources.sosreport import SosReportView, looks_like_sosreport, parse_date_output

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "hotsos"
SUNBEAM = REALDATA / "sunbeam-hypervisor-sosreport"
QROUTER = "qrouter-984c22fd-64b3-4fa1-8ddd-87090f401ce5"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def sos(tmp_path: Path) -> Path:
    (tmp_path / "sos_commands").mkdir()
    return tmp_path


# -- name mangling (CATALOGUE §0, sos _mangle_command) ----------------------------------------------
@pytest.mark.parametrize(("command", "name"), [
    ("ip -d address", "ip_-d_address"),
    ("sysctl -a", "sysctl_-a"),
    ("ovs-vsctl -t 5 list Open_vSwitch", "ovs-vsctl_-t_5_list_Open_vSwitch"),
    (f"ip netns exec {QROUTER} ip -d address show", f"ip_netns_exec_{QROUTER}_ip_-d_address_show"),
    ("/usr/sbin/ip -s -d link", "ip_-s_-d_link"),
    ("/bin/df -al -x autofs", "df_-al_-x_autofs"),
    ("cat /proc/net/dev", "cat_.proc.net.dev"),
    ("ovs-vsctl get Open_vSwitch . other_config", "ovs-vsctl_get_Open_vSwitch_._other_config"),
    ("journalctl --no-pager --unit ovn-controller", "journalctl_--no-pager_--unit_ovn-controller"),
    ("  ls -l /var/lib/nova/  ", "ls_-l_.var.lib.nova"),
])
def test_mangle_matches_sos(command: str, name: str) -> None:
    assert mangle(command) == name


def test_real_compute4_names_are_what_mangle_predicts(compute4: Path) -> None:
    for command, plugin in (("ip -s -d link", "networking"), ("ip -d address", "networking"),
                            ("sysctl -a", "kernel"), ("df -al -x autofs", "filesys"),
                            ("conntrack -S", "conntrack"), ("ip route show table all", "networking")):
        assert (compute4 / "sos_commands" / plugin / mangle(command)).is_file(), command


# -- commands on the real node -------------------------------------------------------------------
def test_compute4_commands_resolve_to_their_sos_files(compute4: Path) -> None:
    view = SosReportView(compute4)
    expected = {
        "sysctl -a": "sos_commands/kernel/sysctl_-a",
        "ip -d address": "sos_commands/networking/ip_-d_address",
        "ip -d link": "sos_commands/networking/ip_-s_-d_link",
        "ip -o addr": "sos_commands/networking/ip_-o_addr",
        "lsmod": "sos_commands/kernel/lsmod",
        "uname -a": "sos_commands/kernel/uname_-a",
        "df -al": "sos_commands/filesys/df_-al_-x_autofs",
        "conntrack -S": "sos_commands/conntrack/conntrack_-S",
        "ip netns": "sos_commands/networking/ip_netns",
    }
    for key, source in expected.items():
        text = view.command(key)
        assert text is not None, key
        assert text.source == source
        assert text.content == (compute4 / source).read_text()
    with pytest.raises(KeyError):
        view.command("rm -rf /")


def test_every_command_key_is_text_or_none(compute4: Path) -> None:
    view = SosReportView(compute4)
    for key in COMMANDS:
        text = view.command(key)
        assert text is None or text.source.startswith("sos_commands/"), key


def test_pointer_files_at_the_root_follow_their_target(compute4: Path) -> None:
    """compute4 was copied without symlinks: its top-level `df` is a file holding the link target."""
    assert (compute4 / "df").read_text().strip() == "sos_commands/filesys/df_-al_-x_autofs"
    view = SosReportView(compute4)
    df = view.read_text("df")
    assert df is not None
    assert df.source == "sos_commands/filesys/df_-al_-x_autofs"
    assert "Filesystem" in df.content


def test_real_root_symlinks_are_followed(sos: Path) -> None:
    write(sos, "sos_commands/process/ps_auxwwwm", "USER PID\nroot 1\n")
    os.symlink("sos_commands/process/ps_auxwwwm", sos / "ps")
    os.remove(sos / "sos_commands/process/ps_auxwwwm")
    write(sos, "sos_commands/process/ps_alxwww.real", "x")
    os.symlink("sos_commands/process/ps_alxwww.real", sos / "ps2")
    view = SosReportView(sos)
    assert view.read_text("ps") is None, "a dangling root link is absent"
    text = view.read_text("ps2")
    assert text is not None and text.source == "sos_commands/process/ps_alxwww.real"


def test_snap_prefixed_command_files() -> None:
    if not SUNBEAM.is_dir():
        pytest.skip(f"real data not present: {SUNBEAM}")
    view = SosReportView(SUNBEAM)
    text = view.command("ovs-vsctl show")
    assert text is not None
    assert text.source == "sos_commands/openvswitch/openstack-hypervisor.ovs-vsctl_-t_5_show"
    listing = view.command("ovs-vsctl list Open_vSwitch")
    assert listing is not None and listing.source.endswith("ovs-vsctl_-t_5_list_Open_vSwitch")


def test_older_command_variants_are_accepted(sos: Path) -> None:
    write(sos, "sos_commands/openvswitch/ovs-vsctl_show", "Bridge br-int\n")
    write(sos, "sos_commands/networking/ip_address", "1: lo: <LOOPBACK>\n")
    view = SosReportView(sos)
    show = view.command("ovs-vsctl show")
    assert show is not None and show.source == "sos_commands/openvswitch/ovs-vsctl_show"
    addr = view.command("ip -d address")
    assert addr is not None and addr.source == "sos_commands/networking/ip_address"
    assert view.command("sysctl -a") is None


# -- sos_strings .tailed ---------------------------------------------------------------------------
def test_tailed_files_stand_in_for_big_logs(sos: Path) -> None:
    write(sos, "sos_strings/logs/var.log.syslog.tailed", "Feb 10 16:00:00 compute4 kernel: tail line\n")
    write(sos, "sos_strings/openstack_nova/var.log.nova.nova-compute.log.tailed", "2022-02-10 INFO nova\n")
    view = SosReportView(sos)
    text = view.read_text("var/log/syslog")
    assert text is not None
    assert text.source == "sos_strings/logs/var.log.syslog.tailed"
    assert list(view.open_lines("var/log/nova/nova-compute.log")) == ["2022-02-10 INFO nova\n"]
    assert view.exists("var/log/syslog")
    assert view.source_name("var/log/syslog") == "sos_strings/logs/var.log.syslog.tailed"
    assert view.read_text("var/log/messages") is None


def test_a_collected_file_wins_over_its_tail(sos: Path) -> None:
    write(sos, "var/log/syslog", "whole file\n")
    write(sos, "sos_strings/logs/var.log.syslog.tailed", "tail\n")
    text = SosReportView(sos).read_text("var/log/syslog")
    assert text is not None and text.content == "whole file\n" and text.source == "var/log/syslog"


# -- manifest.json ----------------------------------------------------------------------------------
def test_manifest_maps_a_command_to_its_file(sos: Path) -> None:
    write(sos, "sos_commands/networking/ip_-d_address", "from the glob\n")
    write(sos, "sos_commands/networking/renamed_by_sos", "from the manifest\n")
    manifest = {"components": {"report": {"plugins": {"networking": {"commands": [
        {"command": "ip", "exec": "ip -d address", "filepath": "sos_commands/networking/renamed_by_sos"},
        {"exec": 42, "filepath": None},
    ]}, "broken": None}}}}
    write(sos, "sos_reports/manifest.json", json.dumps(manifest))
    text = SosReportView(sos).command("ip -d address")
    assert text is not None
    assert text.source == "sos_commands/networking/renamed_by_sos"
    assert text.content == "from the manifest\n"


def test_a_manifest_entry_for_a_missing_file_falls_back_to_the_glob(sos: Path) -> None:
    write(sos, "sos_commands/kernel/sysctl_-a", "kernel.hostname = x\n")
    manifest = {"components": {"report": {"plugins": {"kernel": {"commands": [
        {"exec": "sysctl -a", "filepath": "sos_commands/kernel/gone"}]}}}}}
    write(sos, "sos_reports/manifest.json", json.dumps(manifest))
    text = SosReportView(sos).command("sysctl -a")
    assert text is not None and text.source == "sos_commands/kernel/sysctl_-a"


@pytest.mark.parametrize("junk", ["{not json", "[]", '{"components": []}', ""])
def test_a_broken_manifest_is_ignored(sos: Path, junk: str) -> None:
    write(sos, "sos_commands/kernel/sysctl_-a", "kernel.hostname = x\n")
    write(sos, "sos_reports/manifest.json", junk)
    text = SosReportView(sos).command("sysctl -a")
    assert text is not None and text.source == "sos_commands/kernel/sysctl_-a"


# -- namespaces -------------------------------------------------------------------------------------
def test_namespaces_old_layout_on_compute4(compute4: Path) -> None:
    view = SosReportView(compute4)
    assert view.namespaces() == [
        "fip-32981f34-497a-4fae-914a-8576055c8d0d", QROUTER, "snat-984c22fd-64b3-4fa1-8ddd-87090f401ce5"]
    text = view.netns_command(QROUTER, "ip -d address")
    assert text is not None
    assert text.source == f"sos_commands/networking/ip_netns_exec_{QROUTER}_ip_address_show"
    assert "qr-" in text.content
    assert view.netns_command(QROUTER, "sysctl -a") is None
    assert view.netns_command("qdhcp-nope", "ip -d address") is None
    with pytest.raises(KeyError):
        view.netns_command(QROUTER, "reboot")


def test_namespaces_new_layout(sos: Path) -> None:
    ns = "qrouter-11111111-2222-3333-4444-555555555555"
    base = f"sos_commands/networking/namespaces/{ns}"
    write(sos, f"{base}/ip_netns_exec_{ns}_ip_-d_address_show", "1: lo: <LOOPBACK,UP>\n")
    write(sos, f"{base}/ip_netns_exec_{ns}_sysctl_-a", "net.ipv4.ip_forward = 1\n")
    write(sos, "sos_commands/networking/ip_netns_exec_fip-aaaa_ip_address_show", "2: fg-x\n")
    write(sos, "sos_commands/networking/ip_netns", "ovnmeta-bbbb (id: 3)\n\n")
    view = SosReportView(sos)
    assert view.namespaces() == ["fip-aaaa", "ovnmeta-bbbb", ns]
    sysctl = view.netns_command(ns, "sysctl -a")
    assert sysctl is not None and sysctl.source == f"{base}/ip_netns_exec_{ns}_sysctl_-a"
    addr = view.netns_command(ns, "ip -d address")
    assert addr is not None and addr.content.startswith("1: lo")
    old = view.netns_command("fip-aaaa", "ip -d address")
    assert old is not None and old.content == "2: fg-x\n"


# -- containment ------------------------------------------------------------------------------------
def test_a_symlink_leaving_the_report_is_absent(sos: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    secret = tmp_path_factory.mktemp("outside") / "secret"
    secret.write_text("not part of the report\n")
    (sos / "etc" / "nova").mkdir(parents=True)
    os.symlink(secret, sos / "etc" / "nova" / "nova.conf")
    os.symlink("../../../../../../../../etc/passwd", sos / "etc" / "passwd")
    os.symlink(secret.parent, sos / "etc" / "escape")
    write(sos, "etc/hosts", "127.0.0.1 localhost\n")
    view = SosReportView(sos)
    for path in ("etc/nova/nova.conf", "etc/passwd", "etc/escape/secret", "etc/escape"):
        assert view.read_text(path) is None, path
        assert not view.exists(path), path
        assert view.stat(path) is None, path
        assert list(view.open_lines(path)) == [], path
    assert view.glob("etc/**/*") == ["etc/hosts", "etc/nova"]
    assert view.read_text("../outside/secret") is None
    text = view.read_text("etc/hosts")
    assert text is not None and text.source == "etc/hosts"


def test_a_symlink_inside_the_report_is_followed(sos: Path) -> None:
    write(sos, "etc/nova/nova.conf.real", "[DEFAULT]\n")
    os.symlink("nova.conf.real", sos / "etc" / "nova" / "nova.conf")
    text = SosReportView(sos).read_text("etc/nova/nova.conf")
    assert text is not None and text.content == "[DEFAULT]\n"
    assert text.source == "etc/nova/nova.conf.real"


# -- identity ---------------------------------------------------------------------------------------
def test_hostname_and_collection_time(compute4: Path) -> None:
    view = SosReportView(compute4)
    assert view.hostname() == "compute4"
    when = view.collected_at()
    assert when is not None and when.isoformat() == "2022-02-10T16:19:17+00:00"


def test_collection_time_falls_back_to_the_newest_mtime(sos: Path) -> None:
    old = write(sos, "etc/a", "a")
    new = write(sos, "sos_commands/kernel/uname_-a", "Linux")
    os.utime(old, (1_600_000_000, 1_600_000_000))
    os.utime(new, (1_650_000_000, 1_650_000_000))
    when = SosReportView(sos).collected_at()
    assert when is not None and when.timestamp() == 1_650_000_000
    assert SosReportView(sos).hostname() == sos.name


@pytest.mark.parametrize(("line", "iso"), [
    ("Thu Feb 10 16:19:17 UTC 2022", "2022-02-10T16:19:17+00:00"),
    ("2022-02-10 16:19:17.123456+0100", "2022-02-10T16:19:17.123456+01:00"),
    ("2026-12-02 18:19:22+00:00", "2026-12-02T18:19:22+00:00"),
])
def test_date_formats(line: str, iso: str) -> None:
    parsed = parse_date_output(f"\n{line}\n")
    assert parsed is not None and parsed.isoformat() == iso
    assert parse_date_output("garbage") is None


def test_looks_like_sosreport(tmp_path: Path, compute4: Path) -> None:
    assert looks_like_sosreport(compute4)
    assert not looks_like_sosreport(tmp_path)
    (tmp_path / "sos_reports").mkdir()
    assert looks_like_sosreport(tmp_path)
