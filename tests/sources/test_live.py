"""The live view: files in place, allow-listed commands only, timeouts, /proc stand-ins for missing tools."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stackrx.sources import commands, open_target
from stackrx.sources.commands import Command
from stackrx.sources.live import NETNS_NAME, LiveView

PY = sys.executable


def fake(monkeypatch: pytest.MonkeyPatch, key: str, *argv: str) -> None:
    """A test-only allow-list entry (or an existing key pointed at another argv)."""
    monkeypatch.setitem(commands.COMMANDS, key, Command(key, tuple(argv)))


def missing(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    fake(monkeypatch, key, "stackrx-no-such-binary-xyz")


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- files ------------------------------------------------------------------------------------------
def test_reads_proc_in_place() -> None:
    view = LiveView()
    text = view.read_text("proc/version")
    assert text is not None
    assert text.source == "/proc/version"
    assert text.content.startswith("Linux version")
    assert view.exists("proc/self/status")
    assert any(line.startswith("Name:") for line in view.open_lines("/proc/self/status"))
    assert view.kind == "live" and view.target == "live"


def test_root_override_for_files(tmp_path: Path) -> None:
    write(tmp_path, "etc/nova/nova.conf", "[DEFAULT]\ndebug = true\n")
    write(tmp_path, "etc/nova/nova.conf.d/10-x.conf", "[DEFAULT]\n")
    view = LiveView(tmp_path)
    text = view.read_text("etc/nova/nova.conf")
    assert text is not None
    assert text.source == str(tmp_path / "etc/nova/nova.conf")
    assert view.glob("etc/nova/nova.conf.d/*.conf") == ["etc/nova/nova.conf.d/10-x.conf"]
    assert view.listdir("etc/nova") == ["nova.conf", "nova.conf.d"]
    assert view.target == f"live:{tmp_path.resolve()}"


def test_paths_cannot_leave_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "etc/hosts", "127.0.0.1 localhost\n")
    write(tmp_path, "outside", "secret\n")
    os.symlink(tmp_path / "outside", root / "etc" / "link")
    view = LiveView(root)
    assert view.read_text("../outside") is None
    assert view.read_text("etc/../../outside") is None
    assert view.read_text("etc/link") is None
    assert view.glob("etc/*") == ["etc/hosts"]


# -- commands ---------------------------------------------------------------------------------------
def test_runs_allowed_commands() -> None:
    view = LiveView()
    uname = view.command("uname -a")
    assert uname is not None and uname.content.startswith("Linux")
    if uname.source != "os.uname()":
        assert uname.source == "cmd:uname -a"
    addr = view.command("ip -d address")
    if addr is None:
        pytest.skip("iproute2 is not installed")
    assert addr.source == "cmd:ip -d address"
    assert ": lo:" in addr.content


def test_refuses_unknown_keys() -> None:
    view = LiveView()
    with pytest.raises(KeyError, match="unknown logical command"):
        view.command("rm -rf /")
    with pytest.raises(KeyError, match="unknown namespace command"):
        view.netns_command("qrouter-x", "reboot")


def test_commands_run_without_a_shell_in_the_c_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "import os, sys; print(os.environ['LC_ALL'], sys.argv[1:])"
    fake(monkeypatch, "env", PY, "-c", code, "$(id)", ";")
    text = LiveView().command("env")
    assert text is not None
    assert text.content == "C ['$(id)', ';']\n"
    assert text.source.startswith("cmd:") and "'$(id)'" in text.source


def test_a_slow_command_times_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    marker = tmp_path / "grandchild-alive"
    # The child starts a grandchild that would outlive it; the whole process group must be killed.
    late = f"import time; time.sleep(3); open({str(marker)!r}, 'w')"
    code = ("import subprocess, sys, time\n"
            f"subprocess.Popen([sys.executable, '-c', {late!r}])\n"
            "print('partial', flush=True)\n"
            "time.sleep(30)\n")
    fake(monkeypatch, "slow", PY, "-c", code)
    view = LiveView(timeout=0.5)
    start = time.monotonic()
    assert view.command("slow") is None
    assert time.monotonic() - start < 5
    time.sleep(3.5)
    assert not marker.exists(), "the timed-out command's process group was not killed"


def test_missing_binary_and_silent_failure_are_missing_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    missing(monkeypatch, "ovs-vsctl show")
    fake(monkeypatch, "silent-failure", PY, "-c", "import sys; sys.stderr.write('boom'); sys.exit(1)")
    fake(monkeypatch, "noisy-failure", PY, "-c", "import sys; print('partial output'); sys.exit(1)")
    fake(monkeypatch, "empty-success", PY, "-c", "pass")
    view = LiveView()
    assert view.command("ovs-vsctl show") is None
    assert view.command("silent-failure") is None
    noisy = view.command("noisy-failure")
    assert noisy is not None and noisy.content == "partial output\n"
    empty = view.command("empty-success")
    assert empty is not None and empty.content == ""


def test_outputs_are_cached_per_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    fake(monkeypatch, "count", PY, "-c", f"open({str(counter)!r}, 'a').write('x'); print('ran')")
    view = LiveView()
    first = view.command("count")
    assert view.command("count") is first
    assert counter.read_text() == "x"
    assert LiveView().command("count") is not None
    assert counter.read_text() == "xx", "a new view runs again"


# -- /proc stand-ins for tools that are not installed ------------------------------------------------
def test_sysctl_falls_back_to_proc_sys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(tmp_path, "proc/sys/net/ipv4/conf/all/proxy_arp", "1\n")
    write(tmp_path, "proc/sys/net/ipv4/conf/eth0.100/proxy_arp", "0\n")
    write(tmp_path, "proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n")
    write(tmp_path, "proc/sys/net/ipv4/neigh/eth0/retrans_time", "100\n")
    write(tmp_path, "proc/sys/dev/cdrom/info", "CD-ROM information\n\ndrive name:\n")
    write(tmp_path, "proc/sys/kernel/hostname", "compute-1\n")
    write(tmp_path, "proc/sys/kernel/empty", "")
    unreadable = write(tmp_path, "proc/sys/net/ipv4/route/flush", "")
    unreadable.chmod(0o200)
    missing(monkeypatch, "sysctl -a")
    text = LiveView(tmp_path).command("sysctl -a")
    assert text is not None
    assert text.source == str(tmp_path / "proc/sys")
    lines = text.content.splitlines()
    assert "net.ipv4.conf.all.proxy_arp = 1" in lines
    assert "net.ipv4.conf.eth0/100.proxy_arp = 0" in lines
    assert "net.ipv4.tcp_rmem = 4096\t131072\t6291456" in lines
    assert "kernel.hostname = compute-1" in lines
    assert "kernel.empty = " in lines
    assert [ln for ln in lines if ln.startswith("dev.cdrom.info")] == [
        "dev.cdrom.info = CD-ROM information", "dev.cdrom.info = ", "dev.cdrom.info = drive name:"]
    assert not any("retrans_time" in ln for ln in lines), "procps hides the deprecated neigh keys"
    if os.geteuid() != 0:
        assert not any("route.flush" in ln for ln in lines)


def test_sysctl_fallback_on_this_host_has_the_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    missing(monkeypatch, "sysctl -a")
    text = LiveView().command("sysctl -a")
    assert text is not None and text.source == "/proc/sys"
    keys = {line.split(" = ", 1)[0] for line in text.lines()}
    assert {"net.ipv4.conf.all.proxy_arp", "net.ipv4.ip_forward", "kernel.ostype"} <= keys


def test_lsmod_falls_back_to_proc_modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(tmp_path, "proc/modules",
          "vhost_net 32768 1 - Live 0x0000000000000000\n"
          "tap 24576 1 vhost_net, Live 0x0000000000000000\n"
          "geneve 36864 0 - Live 0x0000000000000000\n")
    missing(monkeypatch, "lsmod")
    text = LiveView(tmp_path).command("lsmod")
    assert text is not None
    assert text.content.splitlines() == [
        "Module                  Size  Used by",
        "vhost_net              32768  1",
        "tap                    24576  1 vhost_net",
        "geneve                 36864  0",
    ]


def test_conntrack_stats_fall_back_to_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    header = ("entries  clashres found new invalid ignore delete chainlength insert insert_failed drop "
              "early_drop icmp_error  expect_new expect_create expect_delete search_restart")
    row0 = "00000010  00000000 00000000 00000000 00001b02 0004548e 00000000 00000000 00000000 00000000 " \
           "00000003 00000001 00000000  00000000 00000000 00000000 000026bc"
    row1 = "00000010  00000000 00000000 00000000 0000001e 000434db 00000000 00000000 00000000 00000000 " \
           "00000000 00000000 00000002  00000000 00000000 00000000 0000103f"
    write(tmp_path, "proc/net/stat/nf_conntrack", f"{header}\n{row0}\n{row1}\n")
    missing(monkeypatch, "conntrack -S")
    text = LiveView(tmp_path).command("conntrack -S")
    assert text is not None
    assert text.content.splitlines() == [
        "cpu=0   \tfound=0 invalid=6914 ignore=283790 insert=0 insert_failed=0 drop=3 early_drop=1 error=0 "
        "search_restart=9916 ",
        "cpu=1   \tfound=0 invalid=30 ignore=275675 insert=0 insert_failed=0 drop=0 early_drop=0 error=2 "
        "search_restart=4159 ",
    ]


def test_mount_falls_back_to_proc_mounts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(tmp_path, "proc/self/mounts",
          "/dev/sda1 / ext4 rw,relatime 0 0\n"
          "nfs:/share /var/lib/nova/instances\\040x nfs4 rw,vers=4.2 0 0\n")
    missing(monkeypatch, "mount -l")
    text = LiveView(tmp_path).command("mount -l")
    assert text is not None
    assert text.content.splitlines() == [
        "/dev/sda1 on / type ext4 (rw,relatime)",
        "nfs:/share on /var/lib/nova/instances x type nfs4 (rw,vers=4.2)",
    ]


def test_identity_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("uname -a", "hostname", "date"):
        missing(monkeypatch, key)
    view = LiveView()
    uname = view.command("uname -a")
    assert uname is not None and uname.content.split()[:2] == [os.uname().sysname, os.uname().nodename]
    host = view.command("hostname")
    assert host is not None and host.content.strip() == view.hostname()
    date = view.command("date")
    assert date is not None
    from stackrx.sources.sosreport import parse_date_output

    assert parse_date_output(date.content) == view.collected_at().replace(microsecond=0)


def test_collected_at_is_when_the_view_opened() -> None:
    before = datetime.now(UTC)
    view = LiveView()
    first = view.collected_at()
    assert first.tzinfo is not None
    assert before <= first <= datetime.now(UTC) + timedelta(seconds=1)
    time.sleep(0.01)
    assert view.collected_at() == first


def test_hostname() -> None:
    import socket

    assert LiveView().hostname() == socket.gethostname()


# -- namespaces -------------------------------------------------------------------------------------
def test_namespaces_from_ip_netns_and_run_netns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    listing = "print('qrouter-aaaa (id: 1)'); print('-evil'); print('snat-bbbb')"
    fake(monkeypatch, "ip netns", PY, "-c", listing)
    (tmp_path / "run/netns").mkdir(parents=True)
    for name in ("qdhcp-cccc", "snat-bbbb", "bad name"):
        (tmp_path / "run/netns" / name).touch()
    view = LiveView(tmp_path)
    assert view.namespaces() == ["qdhcp-cccc", "qrouter-aaaa", "snat-bbbb"]


def test_namespace_listing_falls_back_to_run_netns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing(monkeypatch, "ip netns")
    assert LiveView(tmp_path).command("ip netns") is not None
    assert LiveView(tmp_path).namespaces() == []
    (tmp_path / "run/netns").mkdir(parents=True)
    (tmp_path / "run/netns" / "fip-dddd").touch()
    listing = LiveView(tmp_path).command("ip netns")
    assert listing is not None and listing.content == "fip-dddd\n"


@pytest.mark.parametrize("name", ["-n", "--all", "../etc", "a b", "x;reboot", "", "a/b", "q" * 300])
def test_netns_names_are_validated(name: str) -> None:
    assert NETNS_NAME.fullmatch(name) is None


def test_netns_command_runs_only_for_listed_namespaces(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    (tmp_path / "run/netns").mkdir(parents=True)
    (tmp_path / "run/netns" / "qrouter-aaaa").touch()
    missing(monkeypatch, "ip netns")
    calls: list[tuple[str, ...]] = []
    view = LiveView(tmp_path)
    assert view.namespaces() == ["qrouter-aaaa"]  # listing cached before `_run` is replaced

    def record(argv: tuple[str, ...]) -> None:
        calls.append(argv)

    monkeypatch.setattr(view, "_run", record)
    assert view.netns_command("qrouter-zzzz", "sysctl -a") is None
    assert view.netns_command("-n", "sysctl -a") is None
    assert calls == []
    view.netns_command("qrouter-aaaa", "ip -d address")
    assert calls == [("ip", "netns", "exec", "qrouter-aaaa", "ip", "-d", "address")]


def test_open_target_without_a_target_is_live() -> None:
    view = open_target(None)
    assert isinstance(view, LiveView)
    assert view.kind == "live"
