from __future__ import annotations

from pathlib import Path

from stackrx.demo.areas import compute as demo
from stackrx.demo.builder import Interface, NodeTree
from stackrx.models import Severity, Status
from testkit import failing, scan_dir, scan_tree

HEADER = "Filesystem     1K-blocks     Used Available Use% Mounted on\n"
IHEADER = "Filesystem      Inodes  IUsed   IFree IUse% Mounted on\n"
ROOT = "/dev/vda1       20971520  8388608  12582912  40% /\n"


def row(device: str, pct: int, target: str, size_k: int = 1_000_000) -> str:
    used = size_k * pct // 100
    return f"{device} {size_k} {used} {size_k - used} {pct}% {target}\n"


def node(df: str, inodes: str | None = None, mounts: str | None = None) -> NodeTree:
    tree = NodeTree("node-x")
    tree.command("df -al", df)
    if inodes is not None:
        tree.command("df -ali", inodes)
    if mounts is not None:
        tree.command("mount -l", mounts)
    return tree


def test_swift_device_at_97_percent_is_critical(tmp_path: Path) -> None:
    df = HEADER + ROOT + row("/dev/sdb", 97, "/srv/node/sdb") + row("/dev/sdc", 40, "/srv/node/sdc")
    [r] = failing(scan_tree(node(df), tmp_path, "STO-003"))
    assert r.status is Status.fail and r.severity is Severity.critical and r.resource == "/srv/node/sdb"
    assert "97% of its space used" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("sos_commands/filesys/df_-al_-x_autofs", 3)


def test_thresholds_high_and_below(tmp_path: Path) -> None:
    df = HEADER + ROOT + row("/dev/vdb1", 85, "/var/lib/mysql") + row("/dev/vdc1", 84, "/var/log")
    results = scan_tree(node(df), tmp_path, "STO-003")
    [r] = failing(results)
    assert r.severity is Severity.high and r.resource == "/var/lib/mysql"
    ok = [x for x in results if x.status is Status.passed]
    assert ok and "/var/log 84%" in ok[0].message


def test_inodes_exhausted_is_critical(tmp_path: Path) -> None:
    df = HEADER + ROOT + row("/dev/vdb1", 30, "/var/lib/nova/instances")
    inodes = IHEADER + "/dev/vda1 1000 100 900 10% /\n/dev/vdb1 1000 960 40 96% /var/lib/nova/instances\n"
    [r] = failing(scan_tree(node(df, inodes), tmp_path, "STO-003"))
    assert r.severity is Severity.critical and "96% of its inodes used" in r.message
    assert r.evidence[0].source == "sos_commands/filesys/df_-ali_-x_autofs" and r.evidence[0].line == 3


def test_read_only_images_small_tmpfs_and_pseudo_fs_are_ignored(tmp_path: Path) -> None:
    df = (
        HEADER
        + ROOT
        + row("/dev/sr0", 100, "/srv/node/cdrom")
        + row("tmpfs", 99, "/var/lib/rabbitmq", 32768)
        + "sysfs 0 0 0 - /var/lib/gnocchi\n"
        + row("/dev/loop3", 100, "/var/lib/docker/volumes/snap")
    )
    mounts = "/dev/sr0 on /srv/node/cdrom type iso9660 (ro)\n"
    results = scan_tree(node(df, mounts=mounts), tmp_path, "STO-003")
    assert [r.status for r in results] == [Status.passed]
    assert "/ 40%" in results[0].message and "inode usage not collected" in results[0].message


def test_large_tmpfs_is_still_checked(tmp_path: Path) -> None:
    df = HEADER + ROOT + row("tmpfs", 99, "/var/lib/rabbitmq", 4_000_000)
    [r] = failing(scan_tree(node(df), tmp_path, "STO-003"))
    assert r.severity is Severity.critical and "tmpfs" in r.message


def test_shared_export_reported_once(tmp_path: Path) -> None:
    df = (
        HEADER
        + ROOT
        + row("nas:/openstack", 96, "/var/lib/nova/instances")
        + row("nas:/openstack", 96, "/var/lib/glance/images")
    )
    [r] = failing(scan_tree(node(df), tmp_path, "STO-003"))
    assert r.resource == "nas:/openstack" and "attribute it to the fleet" in r.message
    assert "/var/lib/glance/images" in r.message and "/var/lib/nova/instances" in r.message


def test_bind_mount_and_overlay_duplicates_reported_once(tmp_path: Path) -> None:
    df = (
        HEADER
        + row("/dev/vda1", 96, "/")
        + row("/dev/vda1", 96, "/var/lib/docker")
        + row("overlay", 96, "/var/lib/containers")
    )
    mounts = "overlay on /var/lib/containers type overlay (rw)\n"
    [r] = failing(scan_tree(node(df, mounts=mounts), tmp_path, "STO-003"))
    assert r.resource == "/" and "also mounted at /var/lib/docker, /var/lib/containers" in r.message


def test_top_offenders_from_the_log_listing(tmp_path: Path) -> None:
    tree = node(HEADER + row("/dev/vda1", 98, "/"))
    tree.file(
        "sos_commands/logs/ls_-alRh_.var.log",
        """/var/log/:
total 12G
-rw-r-----  1 syslog adm  11G Dec  1 08:59 syslog
-rw-r-----  1 syslog adm 1.2M Dec  1 08:59 kern.log
""",
    )
    [r] = failing(scan_tree(tree, tmp_path, "STO-003"))
    assert "largest: /var/log/syslog 11.0 GiB" in r.message
    assert any(e.source == "sos_commands/logs/ls_-alRh_.var.log" and e.line == 3 for e in r.evidence)


def test_wrapped_df_line(tmp_path: Path) -> None:
    df = HEADER + "/dev/mapper/vg_root-lv_root\n               1000000 990000 10000  99% /\n"
    [r] = failing(scan_tree(node(df), tmp_path, "STO-003"))
    assert r.severity is Severity.critical and "/dev/mapper/vg_root-lv_root" in r.message


def test_configured_instances_path_is_of_interest(tmp_path: Path) -> None:
    tree = node(HEADER + ROOT + row("/dev/vdb", 95, "/srv/instances"))
    tree.file("etc/nova/nova.conf", "[DEFAULT]\ninstances_path = /srv/instances\n")
    [r] = failing(scan_tree(tree, tmp_path, "STO-003"))
    assert r.resource == "/srv/instances" and "/srv/instances/_base" in r.message


def test_no_df_is_skipped(tmp_path: Path) -> None:
    NodeTree("empty").write(tmp_path)
    [r] = scan_dir(tmp_path, "STO-003")
    assert r.status is Status.skipped and "cmd:df -al" in r.message


def test_compute4_sto003_passes(compute4: Path) -> None:
    [r] = scan_dir(compute4, "STO-003")
    assert r.status is Status.passed
    assert r.message == (
        "filesystems holding OpenStack paths are below 85%: / 9%, /var/lib/nova/instances 2% "
        "(inode usage not collected)"
    )


def _demo(role: str, *faults: str) -> NodeTree:
    tree = NodeTree(f"{role}-1", collected="Tue Dec  1 09:00:00 UTC 2026")
    tree.interfaces.append(Interface("eth0", addrs=["10.0.0.41/24"]))
    demo.healthy(tree, role)
    for fault in faults:
        demo.FAULTS[fault](tree)
    return tree


def test_demo_filesystems(tmp_path: Path) -> None:
    for role, target in (
        ("storage", "/srv/node/sdb"),
        ("controller", "/var/lib/mysql"),
        ("compute", "/var/lib/nova/instances"),
        ("network", "/"),
    ):
        assert not failing(scan_tree(_demo(role), tmp_path / role, "STO-003")), role
        [r] = failing(scan_tree(_demo(role, "STO-003"), tmp_path / f"{role}-bad", "STO-003"))
        assert r.severity is Severity.critical and r.resource == target, role
