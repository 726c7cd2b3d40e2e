"""`stackrx collect --kolla` on a fake Kolla host root with fake docker/podman/ovs-vsctl/ip on PATH.

The ovs-vsctl and ip outputs are the real ones of the hotsos compute4 sosreport; the docker inspect records
are hand-written in Docker's own JSON shape (no real capture is in realdata).
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stackrx.cli import cli
from stackrx.collect.kolla import HOST_COMMANDS, MANIFEST, collect_kolla
from stackrx.facts.container_inspect import load_containers
from stackrx.models import ScanReport, Severity, Status
from stackrx.sources.tarball import open_tarball
from testkit import COMPUTE4

# The fake host tools answer with compute4's real command outputs.
pytestmark = pytest.mark.skipif(not COMPUTE4.is_dir(), reason=f"real data not present: {COMPUTE4}")

NOW = datetime(2026, 12, 1, 9, 30, 0, tzinfo=UTC)
DOCKER = "var/lib/docker/volumes"
PODMAN = "var/lib/containers/storage/volumes"
ROUTER_ID = "984c22fd-64b3-4fa1-8ddd-87090f401ce5"
ROUTER_NS = f"qrouter-{ROUTER_ID}"
NAMESPACES = (ROUTER_NS, "fip-32981f34-497a-4fae-914a-8576055c8d0d", "snat-984c22fd-64b3-4fa1-8ddd-87090f401ce5")
CAP = 4096
SOS = COMPUTE4 / "sos_commands"
LOG_LINE = "2026-12-01 08:{m:02d}:{s:02d}.000 7 INFO nova.compute.manager [-] line {i:05d} of the compute log\n"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def kolla_root(root: Path, volumes: str = DOCKER, nova_extra: str = "") -> Path:
    k = "etc/kolla"
    write(root, "etc/hostname", "compute-1\n")
    write(root, f"{k}/globals.yml", "kolla_base_distro: ubuntu\n")
    write(root, f"{k}/nova-compute/nova.conf",
          "[DEFAULT]\nhost = compute-1\ntransport_url = rabbit://openstack:s3cret@ctl:5672//\n" + nova_extra)
    write(root, f"{k}/nova-compute/config.json", '{"command": "nova-compute"}')
    write(root, f"{k}/neutron-l3-agent/l3_agent.ini", "[DEFAULT]\nagent_mode = dvr_snat\n")
    write(root, f"{k}/mariadb/galera.cnf", "[mysqld]\nwsrep_on = ON\n")
    lines = "".join(LOG_LINE.format(m=i // 60 % 60, s=i % 60, i=i) for i in range(200))
    write(root, f"{volumes}/kolla_logs/_data/nova/nova-compute.log", lines)
    write(root, f"{volumes}/kolla_logs/_data/neutron/neutron-l3-agent.log", "2026-12-01 08:00:00.000 9 INFO l3\n")
    write(root, f"{volumes}/mariadb/_data/grastate.dat",
          "# GALERA saved state\nversion: 2.1\nuuid:    5981f182-a4cc-11e6-98cc-77fabedd360d\nseqno:   -1\n"
          "safe_to_bootstrap: 0\n")
    write(root, f"{volumes}/neutron_metadata_socket/_data/ha_confs/{ROUTER_ID}/state", "primary\n")
    write(root, f"{volumes}/neutron_metadata_socket/_data/ha_confs/{ROUTER_ID}/keepalived.conf",
          "vrrp_instance VR_1 {\n    state BACKUP\n    interface ha-0a1b2c3d-4e\n    virtual_router_id 1\n}\n")
    write(root, f"{volumes}/mariadb/_data/gvwstate.dat",
          "my_uuid: 8f7b0a4e-a4cc-11e6-8b44-b6b8f6c7b8a9\n#vwbeg\nview_id: 3 8f7b0a4e-a4cc-11e6-8b44-b6b8f6c7b8a9 5\n"
          "bootstrap: 0\nmember: 8f7b0a4e-a4cc-11e6-8b44-b6b8f6c7b8a9 0\n#vwend\n")
    return root


def _inspect(name: str, image: str, *, apparmor: str = "docker-default", privileged: bool = False) -> str:
    record = {
        "Id": f"{abs(hash(name)):064x}"[:64], "Created": "2026-11-10T08:12:44.101Z", "Path": "dumb-init",
        "Args": ["--single-child", "--", "kolla_start"],
        "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False, "Pid": 4242,
                  "ExitCode": 0, "StartedAt": "2026-11-29T07:00:01.1Z"},
        "Image": "sha256:" + "ab" * 32, "Name": f"/{name}", "RestartCount": 0, "Driver": "overlay2",
        "AppArmorProfile": apparmor,
        "HostConfig": {"Binds": ["/etc/kolla/x/:/var/lib/kolla/config_files/:ro", "kolla_logs:/var/log/kolla/"],
                       "NetworkMode": "host", "Privileged": privileged, "SecurityOpt": None, "PidMode": ""},
        "Mounts": [{"Type": "bind", "Source": "/run/netns", "Destination": "/run/netns", "Mode": "shared",
                    "RW": True, "Propagation": "shared"},
                   {"Type": "volume", "Name": "kolla_logs", "Source": "/var/lib/docker/volumes/kolla_logs/_data",
                    "Destination": "/var/log/kolla", "Driver": "local", "Mode": "", "RW": True, "Propagation": ""}],
        "Config": {"Hostname": "compute-1", "Image": image, "Labels": {"kolla_version": "18.1.0"}},
    }
    return json.dumps([record], indent=4) + "\n"


def _ps(rows: list[tuple[str, str, str]]) -> str:
    head = f"{'CONTAINER ID':<15}{'IMAGE':<64}{'COMMAND':<25}{'CREATED':<15}{'STATUS':<32}{'PORTS':<10}NAMES\n"
    body = "".join(f"{name[:12].ljust(12, '0'):<15}{image:<64}{chr(34) + 'dumb-init --single-…' + chr(34):<25}"
                   f"{'3 weeks ago':<15}{status:<32}{'':<10}{name}\n" for name, image, status in rows)
    return head + body


def fake_tool(bindir: Path, data: Path, name: str, answers: dict[str, str], *, sleep_on: str = "") -> None:
    """A shell script answering fixed argument strings with fixed output (absolute paths: PATH is only bindir)."""
    cases = []
    for i, (args, out) in enumerate(answers.items()):
        src = write(data, f"{name}-{i}.out", out)
        cases.append(f"  {shlex.quote(args)}) exec /bin/cat {shlex.quote(str(src))} ;;")
    if sleep_on:
        cases.insert(0, f"  {shlex.quote(sleep_on)}) exec /bin/sleep 5 ;;")
    script = bindir / name
    script.write_text("#!/bin/sh\ncase \"$*\" in\n" + "\n".join(cases)
                      + f"\n  *) echo \"{name}: no such object: $*\" >&2; exit 1 ;;\nesac\n")
    script.chmod(0o755)


def dmesg_lines(*bodies: str) -> str:
    """`dmesg -T` lines stamped a few minutes before now (the bundle's collection time is the real clock)."""
    now = datetime.now(UTC)
    return "".join(f"[{now - timedelta(minutes=len(bodies) - i):%a %b %e %H:%M:%S %Y}] {body}\n"
                   for i, body in enumerate(bodies))


HEALTHY_DMESG = dmesg_lines("EXT4-fs (vda1): re-mounted. Opts: discard", "br-int: port 2(tap3) entered forwarding")


def fake_bin(tmp: Path, *, engine: str | None = "docker", mariadb: str = "Restarting (1) 12 seconds ago",
             l3_privileged: bool = False, slow_ovs: bool = False, dmesg: str = HEALTHY_DMESG) -> Path:
    bindir, data = tmp / "bin", tmp / "data"
    bindir.mkdir()
    ovs = {f"-t 5 {sub}": (SOS / "openvswitch" / f"ovs-vsctl_-t_5_{sub.replace(' ', '_')}").read_text()
           for sub in ("show", "list Open_vSwitch", "list-br", "list bridge", "list interface")}
    fake_tool(bindir, data, "ovs-vsctl", ovs, sleep_on="-t 5 list interface" if slow_ovs else "")
    net = SOS / "networking"
    fake_tool(bindir, data, "ip", {
        "-d address": (net / "ip_-d_address").read_text(), "netns": (net / "ip_netns").read_text(),
        "-d link": (net / "ip_-s_-d_link").read_text(),
        "route show table all": (net / "ip_route_show_table_all").read_text(),
        **{f"netns exec {ns} ip -d address show": (net / f"ip_netns_exec_{ns}_ip_address_show").read_text()
           for ns in NAMESPACES},
    })
    fake_tool(bindir, data, "hostname", {"": "compute-1\n"})
    # Host-level commands answer with compute4's real outputs (mount: compute4's sos has none).
    for tool, args, rel in (("uptime", "", "host/uptime"), ("conntrack", "-S", "conntrack/conntrack_-S"),
                            ("sysctl", "-a", "kernel/sysctl_-a"), ("lsmod", "", "kernel/lsmod"),
                            ("uname", "-a", "kernel/uname_-a"), ("df", "-al -x autofs", "filesys/df_-al_-x_autofs"),
                            ("ps", "auxwww", "process/ps_auxwwwm"), ("free", "", "memory/free")):
        fake_tool(bindir, data, tool, {args: (SOS / rel).read_text()})
    fake_tool(bindir, data, "mount", {"-l": "/dev/vda1 on / type ext4 (rw,relatime) [cloudimg-rootfs]\n"})
    fake_tool(bindir, data, "dmesg", {"-T": dmesg})
    # dmesg -T prints local time: the collector must ask for UTC, the zone of the bundle's own clock.
    (bindir / "dmesg").write_text((bindir / "dmesg").read_text().replace(
        'case "$*" in', '[ "$TZ" = UTC ] || { echo "dmesg: TZ=$TZ, expected UTC" >&2; exit 1; }\ncase "$*" in', 1))
    fake_tool(bindir, data, "nft", {"-a list ruleset": "table inet filter { # handle 1\n}\n"})
    fake_tool(bindir, data, "iptables-save", {"": "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"})
    if engine:
        images = {"nova_compute": "quay.io/openstack.kolla/nova-compute:2024.1-ubuntu-jammy",
                  "neutron_l3_agent": "quay.io/openstack.kolla/neutron-l3-agent:2024.1-ubuntu-jammy",
                  "mariadb": "quay.io/openstack.kolla/mariadb-server:2024.1-ubuntu-jammy"}
        status = {"nova_compute": "Up 2 days (healthy)", "neutron_l3_agent": "Up 2 days (healthy)",
                  "mariadb": mariadb}
        fake_tool(bindir, data, engine, {
            "ps -a": _ps([(n, images[n], status[n]) for n in images]),
            "ps -a --format {{.Names}}": "".join(f"{n}\n" for n in images),
            **{f"inspect {n}": _inspect(n, img, privileged=n == "nova_compute" or (l3_privileged and n == "neutron_l3_agent"))
               for n, img in images.items()},
        })
    return bindir


def collect(root: Path, out: Path, bindir: Path, *extra: str) -> Result:
    args = ["collect", "--kolla", "--root", str(root), "--output", str(out), "--max-log-bytes", str(CAP), *extra]
    return CliRunner().invoke(cli, args, env={"PATH": str(bindir)})


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, Result]:
    root = kolla_root(tmp_path / "host")
    out = tmp_path / "compute-1-kolla.tar.xz"
    result = collect(root, out, fake_bin(tmp_path))
    return out, result


def members(out: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(out) as tar:
        infos = tar.getmembers()
    tops = {i.name.split("/", 1)[0] for i in infos}
    assert len(tops) == 1, tops
    return {i.name.split("/", 1)[1]: i for i in infos}


def read_member(out: Path, rel: str) -> str:
    with tarfile.open(out) as tar:
        top = tar.getnames()[0].split("/", 1)[0]
        fh = tar.extractfile(f"{top}/{rel}")
        assert fh is not None, rel
        return fh.read().decode()


# -- (a) layout, mode, log cap -------------------------------------------------------------------------
def test_layout_in_sos_naming_and_mode_0600(bundle: tuple[Path, Result]) -> None:
    out, result = bundle
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "mode 0600" in result.stderr and "not collected" not in result.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert not list(out.parent.glob(f".{out.name}*")), "no partial file left behind"
    names = members(out)
    for rel in ("etc/kolla/nova-compute/nova.conf", "etc/kolla/neutron-l3-agent/l3_agent.ini",
                "etc/kolla/mariadb/galera.cnf", "etc/kolla/globals.yml",
                f"{DOCKER}/kolla_logs/_data/neutron/neutron-l3-agent.log",
                f"{DOCKER}/mariadb/_data/grastate.dat", f"{DOCKER}/mariadb/_data/gvwstate.dat",
                "sos_commands/date/date", "sos_commands/host/hostname",
                "sos_commands/docker/docker_ps_-a", "sos_commands/docker/containers/docker_inspect_mariadb",
                "sos_commands/docker/containers/docker_inspect_neutron_l3_agent",
                "sos_commands/openvswitch/ovs-vsctl_-t_5_show",
                "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch",
                "sos_commands/networking/ip_-d_address", "sos_commands/networking/ip_netns",
                f"sos_commands/networking/namespaces/{ROUTER_NS}/ip_netns_exec_{ROUTER_NS}_ip_-d_address_show",
                MANIFEST):
        assert rel in names, rel
    assert "secret" not in " ".join(names) and "s3cret" in read_member(out, "etc/kolla/nova-compute/nova.conf")
    for ns in NAMESPACES:
        assert f"sos_commands/networking/namespaces/{ns}/ip_netns_exec_{ns}_ip_-d_address_show" in names
    manifest = json.loads(read_member(out, MANIFEST))
    assert manifest["max_log_bytes"] == CAP and {i["status"] for i in manifest["items"]} == {"collected", "tailed"}


def test_big_log_keeps_its_tail_like_sos_tailed(bundle: tuple[Path, Result], tmp_path: Path) -> None:
    out, _ = bundle
    log = f"{DOCKER}/kolla_logs/_data/nova/nova-compute.log"
    original = (tmp_path / "host" / log).read_text()
    assert len(original) > CAP
    names = members(out)
    link = names[log]
    tailed = f"sos_strings/kolla/{log.replace('/', '.')}.tailed"
    assert link.issym() and link.linkname.endswith(tailed) and link.linkname.startswith("../")
    kept = read_member(out, tailed)
    assert len(kept) <= CAP and original.endswith(kept)
    assert kept.startswith("2026-12-01 ") and "line 00199 " in kept.splitlines()[-1], "whole lines, last one kept"
    entry = next(i for i in json.loads(read_member(out, MANIFEST))["items"] if i["what"] == f"/{log}")
    assert entry["status"] == "tailed" and f"of {len(original)} bytes" in entry["detail"]


def test_names_are_the_ones_the_sos_reader_looks_up(bundle: tuple[Path, Result]) -> None:
    out, _ = bundle
    view = open_tarball(out)
    try:
        for key, _plugin in (*HOST_COMMANDS, ("docker ps -a", "docker")):
            assert view.command(key) is not None, key
        assert ROUTER_NS in view.namespaces()
        # Kolla's state_path volume maps onto neutron's state path: the L3HA state files are where HA-001 looks.
        state = view.read_text(f"var/lib/neutron/kolla/ha_confs/{ROUTER_ID}/state")
        assert state is not None and state.content.strip() == "primary"
        ns_out = view.netns_command(ROUTER_NS, "ip -d address")
        assert ns_out is not None and "qr-" in ns_out.content
        when = view.collected_at()
        assert when is not None and abs((datetime.now(UTC) - when).total_seconds()) < 600
        assert {c.name for c in load_containers(view)} == {"nova_compute", "neutron_l3_agent", "mariadb"}
        # The capped log reads through its host path (the link) and by sos's .tailed lookup.
        text = view.read_text(f"{DOCKER}/kolla_logs/_data/nova/nova-compute.log")
        assert text is not None and text.source.startswith("sos_strings/kolla/")
    finally:
        view.close()


# -- (b) the bundle scans like a sosreport ---------------------------------------------------------------
def scan(out: Path, *checks: str) -> ScanReport:
    result = CliRunner().invoke(cli, ["scan", str(out), "--format", "json", "--only", ",".join(checks)])
    assert result.exit_code in (0, 3), result.output
    return ScanReport.model_validate_json(result.stdout)


def by_check(report: ScanReport, check_id: str) -> list[tuple[Status, Severity, str, list[str]]]:
    return [(r.status, r.severity, r.message, [e.source for e in r.evidence])
            for r in report.results if r.check_id == check_id]


def test_scan_of_the_bundle_finds_container_faults(bundle: tuple[Path, Result]) -> None:
    out, _ = bundle
    report = scan(out, "UPG-001", "OVN-006")
    [(status, severity, message, sources)] = by_check(report, "UPG-001")
    assert (status, severity) == (Status.fail, Severity.high)
    assert "mariadb container is restarting" in message and "sos_commands/docker/docker_ps_-a" in sources
    ovn6 = by_check(report, "OVN-006")
    assert any(s is Status.warn and "neutron_l3_agent" in m and "docker-default" in m
               and "sos_commands/docker/containers/docker_inspect_neutron_l3_agent" in src
               for s, _sev, m, src in ovn6), ovn6


def test_scan_of_a_healthy_bundle_passes(tmp_path: Path) -> None:
    root = kolla_root(tmp_path / "host")
    out = tmp_path / "ok.tar.gz"
    bindir = fake_bin(tmp_path, mariadb="Up 2 days (healthy)", l3_privileged=True)
    assert collect(root, out, bindir).exit_code == 0
    report = scan(out, "UPG-001", "OVN-006")
    assert [s for s, *_ in by_check(report, "UPG-001")] == [Status.passed]
    assert [s for s, *_ in by_check(report, "OVN-006")] == [Status.passed]


def test_scan_reads_the_kolla_nova_conf_inside_the_bundle(tmp_path: Path) -> None:
    root = kolla_root(tmp_path / "host", nova_extra="[workarounds]\ndisable_deep_image_inspection = True\n")
    out = tmp_path / "fault.tar.xz"
    assert collect(root, out, fake_bin(tmp_path)).exit_code == 0
    [(status, severity, message, sources)] = by_check(scan(out, "IMG-002"), "IMG-002")
    assert (status, severity) == (Status.warn, Severity.medium)
    assert "disable_deep_image_inspection" in message and sources == ["etc/kolla/nova-compute/nova.conf"]


# -- (c) missing binaries, podman, timeouts, refusals --------------------------------------------------
def test_bundle_alone_carries_the_host_evidence_for_conntrack_drops(tmp_path: Path) -> None:
    """dmesg, sysctl and conntrack -S come with the bundle, so NET-001 judges a Kolla host without a sosreport."""
    root = kolla_root(tmp_path / "host")
    drops = dmesg_lines(*["nf_conntrack: nf_conntrack: table full, dropping packet"] * 3)
    out = tmp_path / "drops.tar.gz"
    assert collect(root, out, fake_bin(tmp_path, dmesg=drops)).exit_code == 0
    [(status, severity, message, sources)] = by_check(scan(out, "NET-001"), "NET-001")
    assert (status, severity) == (Status.fail, Severity.critical), message
    assert "sos_commands/kernel/dmesg_-T" in sources and "3" in message


def test_bundle_with_a_quiet_kernel_log_passes_net001(bundle: tuple[Path, Result]) -> None:
    out, _ = bundle
    [(status, _sev, message, sources)] = by_check(scan(out, "NET-001"), "NET-001")
    assert status is Status.passed, message
    assert any(src.startswith("sos_commands/kernel/") for src in sources), sources


def test_missing_docker_is_recorded_not_fatal(tmp_path: Path) -> None:
    root = kolla_root(tmp_path / "host")
    out = tmp_path / "b.tar.xz"
    result = collect(root, out, fake_bin(tmp_path, engine=None))
    assert result.exit_code == 0, result.stderr
    assert "not collected: docker ps -a: docker not found on PATH" in result.stderr
    assert "not collected: podman ps -a: podman not found on PATH" in result.stderr
    names = members(out)
    assert "etc/kolla/nova-compute/nova.conf" in names and "sos_commands/networking/ip_-d_address" in names
    assert not any(n.startswith(("sos_commands/docker", "sos_commands/podman")) for n in names)
    report = scan(out, "UPG-001")
    assert all(r.status is not Status.error for r in report.results)


def test_podman_host(tmp_path: Path) -> None:
    root = kolla_root(tmp_path / "host", volumes=PODMAN)
    out = tmp_path / "p.tar"
    assert collect(root, out, fake_bin(tmp_path, engine="podman")).exit_code == 0
    names = members(out)
    assert "sos_commands/podman/podman_ps_-a" in names
    assert "sos_commands/podman/containers/podman_inspect_nova_compute" in names
    assert f"{PODMAN}/kolla_logs/_data/neutron/neutron-l3-agent.log" in names
    assert f"{PODMAN}/mariadb/_data/grastate.dat" in names
    view = open_tarball(out)
    try:
        assert view.command("docker ps -a") is not None
    finally:
        view.close()


def test_timeout_is_recorded_and_progress_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = kolla_root(tmp_path / "host")
    monkeypatch.setenv("PATH", str(fake_bin(tmp_path, slow_ovs=True)))
    said: list[str] = []
    summary = collect_kolla(tmp_path / "t.tar.xz", root, max_log_bytes=CAP, timeout=0.3, progress=said.append,
                            now=NOW)
    [slow] = [i for i in summary.not_collected if i.what.startswith("ovs-vsctl")]
    assert slow.what == "ovs-vsctl -t 5 list interface" and "timed out" in slow.detail
    assert "collecting /etc/kolla" in said and "running docker ps -a" in said
    assert read_member(tmp_path / "t.tar.xz", "sos_commands/date/date") == "2026-12-01 09:30:00+00:00\n"


def test_refusals_are_one_line_errors(tmp_path: Path) -> None:
    root = kolla_root(tmp_path / "host")
    bindir = fake_bin(tmp_path)
    existing = write(tmp_path, "old.tar.xz", "keep me")
    cases = [
        (collect(root, existing, bindir), "already exists"),
        (collect(root, tmp_path / "b.zip", bindir), "must end in .tar.xz"),
        (collect(tmp_path / "bin", tmp_path / "c.tar.xz", bindir), "not a Kolla-Ansible host"),
        (CliRunner().invoke(cli, ["collect", "--output", str(tmp_path / "d.tar.xz")]), "--kolla"),
    ]
    for result, words in cases:
        assert result.exit_code == 1, result.output
        assert words in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert existing.read_text() == "keep me"
