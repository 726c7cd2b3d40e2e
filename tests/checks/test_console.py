from __future__ import annotations

from pathlib import Path

from stackrx.demo.areas import compute as demo
from stackrx.demo.builder import Interface, NodeTree
from stackrx.models import Severity, Status
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
