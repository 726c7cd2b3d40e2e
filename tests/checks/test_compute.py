from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from stackrx.demo.areas import compute as demo
from stackrx.demo.builder import Interface, NodeTree
from stackrx.engine import load_all_checks, scan_host, select_checks
from stackrx.models import Severity, Status
from stackrx.sources.base import HostView, Text
from testkit import failing, scan_dir, scan_tree, statuses

COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
DF_HEADER = "Filesystem     1K-blocks     Used Available Use% Mounted on\n"
LOCAL_MOUNTS = (
    "/dev/vda1 on / type ext4 (rw,relatime)\n/dev/vdb1 on /var/lib/nova/instances type ext4 (rw,relatime)\n"
)
NFS_MOUNTS = (
    "/dev/vda1 on / type ext4 (rw,relatime)\n"
    "10.0.0.41:/export/nova on /var/lib/nova/instances type nfs4 (rw,relatime,vers=4.2,addr=10.0.0.41)\n"
)
COMPUTE = "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\nstate_path = /var/lib/nova\n"


def node(nova: str = COMPUTE, mounts: str | None = NFS_MOUNTS, df: str | None = None) -> NodeTree:
    tree = NodeTree("compute-x", collected=COLLECTED)
    tree.file("etc/nova/nova.conf", nova)
    if mounts is not None:
        tree.command("mount -l", mounts)
    if df is not None:
        tree.command("df -al", df)
    return tree


def only(results: list, check_id: str = "CMP-001"):  # type: ignore[no-untyped-def, type-arg]
    assert results and all(r.check_id == check_id for r in results)
    return results


# -- CMP-001 ---------------------------------------------------------------------------------------------
def test_nfs_instances_with_default_removal_fails_high(tmp_path: Path) -> None:
    [r] = only(scan_tree(node(), tmp_path, "CMP-001"))
    assert r.status is Status.fail and r.severity is Severity.high
    assert (
        "nfs4 filesystem 10.0.0.41:/export/nova" in r.message and "compute_nodes not collected" in r.message
    )
    sources = {(e.source, e.line) for e in r.evidence}
    assert ("sos_commands/filesys/mount_-l", 2) in sources
    assert any("remove_unused_base_images not set (default True)" in e.excerpt for e in r.evidence)


def test_stale_sharing_compute_escalates_to_critical(tmp_path: Path) -> None:
    tree = node()
    tree.file(
        "var/lib/nova/instances/compute_nodes",
        json.dumps({"compute-x": NOW - 300, "compute-y": NOW - 2 * 86400}),
    )
    [r] = only(scan_tree(tree, tmp_path, "CMP-001"))
    assert r.status is Status.fail and r.severity is Severity.critical
    assert "compute-y (48.0 h ago)" in r.message
    assert any(e.source == "var/lib/nova/instances/compute_nodes" for e in r.evidence)


def test_two_recent_registrations_mean_shared_even_on_unknown_fs(tmp_path: Path) -> None:
    tree = node(mounts=LOCAL_MOUNTS)
    tree.file(
        "var/lib/nova/instances/compute_nodes", json.dumps({"compute-x": NOW - 60, "compute-y": NOW - 120})
    )
    [r] = only(scan_tree(tree, tmp_path, "CMP-001"))
    assert r.status is Status.fail and r.severity is Severity.high
    assert "2 computes registered in compute_nodes (compute-x, compute-y)" in r.message


def test_local_instances_pass(tmp_path: Path) -> None:
    [r] = only(scan_tree(node(mounts=LOCAL_MOUNTS), tmp_path, "CMP-001"))
    assert r.status is Status.passed and "local storage" in r.message and "/dev/vdb1" in r.message


def test_rbd_images_type_is_not_at_risk(tmp_path: Path) -> None:
    nova = COMPUTE + "[libvirt]\nimages_type = rbd\n"
    [r] = only(scan_tree(node(nova), tmp_path, "CMP-001"))
    assert r.status is Status.passed and "images_type = rbd" in r.message


def test_removal_disabled_new_and_deprecated_names(tmp_path: Path) -> None:
    for i, nova in enumerate(
        [
            COMPUTE + "[image_cache]\nremove_unused_base_images = False\n",
            COMPUTE + "remove_unused_base_images = false\n",  # pre-Ussuri [DEFAULT] name
            COMPUTE + "image_cache_manager_interval = -1\n",
            COMPUTE + "[image_cache]\nmanager_interval = -1\n",
        ]
    ):
        [r] = only(scan_tree(node(nova), tmp_path / str(i), "CMP-001"))
        assert r.status is Status.passed, nova


def test_new_option_name_wins_over_deprecated_alias(tmp_path: Path) -> None:
    nova = COMPUTE + "remove_unused_base_images = False\n[image_cache]\nremove_unused_base_images = True\n"
    [r] = only(scan_tree(node(nova), tmp_path, "CMP-001"))
    assert r.status is Status.fail
    assert any(e.excerpt == "[image_cache] remove_unused_base_images = True" for e in r.evidence)


def test_instances_path_interpolation(tmp_path: Path) -> None:
    nova = COMPUTE.replace("/var/lib/nova", "/srv/nova") + "instances_path = $state_path/vms\n"
    mounts = "/dev/vda1 on / type ext4 (rw)\nnas:/vms on /srv/nova/vms type nfs (rw)\n"
    [r] = only(scan_tree(node(nova, mounts), tmp_path, "CMP-001"))
    assert r.status is Status.fail and r.resource == "/srv/nova/vms"


def test_df_fallback_recognises_an_export(tmp_path: Path) -> None:
    df = DF_HEADER + "/dev/vda1 100 10 90 10% /\nnas:/nova 1000 100 900 10% /var/lib/nova/instances\n"
    [r] = only(scan_tree(node(mounts=None, df=df), tmp_path, "CMP-001"))
    assert r.status is Status.fail and "network filesystem nas:/nova" in r.message
    assert r.evidence[0].source == "sos_commands/filesys/df_-al_-x_autofs"


def test_not_a_compute_node_or_no_evidence_is_skipped(tmp_path: Path) -> None:
    [r] = only(scan_tree(node("[DEFAULT]\nmy_ip = 10.0.0.10\n"), tmp_path / "a", "CMP-001"))
    assert r.status is Status.skipped and "compute_driver" in r.message
    [r] = only(
        scan_tree(node("[DEFAULT]\ncompute_driver = ironic.IronicDriver\n"), tmp_path / "b", "CMP-001")
    )
    assert r.status is Status.skipped
    [r] = only(scan_tree(node(mounts=None), tmp_path / "c", "CMP-001"))
    assert r.status is Status.skipped and "mount -l" in r.message
    [r] = only(scan_dir(_empty(tmp_path / "d"), "CMP-001"))
    assert r.status is Status.skipped and "etc/nova/nova.conf" in r.message


def _empty(root: Path) -> Path:
    NodeTree("empty").write(root)
    return root


def test_compute4_cmp001_passes(compute4: Path) -> None:
    [r] = only(scan_dir(compute4, "CMP-001"))
    assert r.status is Status.passed and "images_type = rbd" in r.message
    assert r.evidence[0].source == "etc/nova/nova.conf" and r.evidence[0].line == 82


# -- demo ------------------------------------------------------------------------------------------------
def demo_compute(*faults: str) -> NodeTree:
    tree = NodeTree("compute-1", collected=COLLECTED)
    tree.interfaces.append(Interface("eth0", addrs=["10.0.0.31/24"]))
    demo.healthy(tree, "compute")
    for fault in faults:
        demo.FAULTS[fault](tree)
    return tree


def test_demo_healthy_compute_and_planted_cmp001(tmp_path: Path) -> None:
    assert not failing(scan_tree(demo_compute(), tmp_path / "ok", "CMP-001"))
    [r] = only(scan_tree(demo_compute("CMP-001"), tmp_path / "bad", "CMP-001"))
    assert r.status is Status.fail and r.severity is Severity.critical and "compute-4" in r.message
    assert statuses(scan_tree(demo_compute("CMP-001"), tmp_path / "bad2", "STO-003")) == {Status.passed}


# -- CMP-002 ---------------------------------------------------------------------------------------------
INST = "/var/lib/nova/instances"
IMAGE = "6c4a3f2e-1b7d-4e59-9a0c-3d2f8e1b5a77"
BASE = demo.base_file(IMAGE)
CACHE = "nova.virt.libvirt.imagecache [req-1 - - - - -]"


def cmp2_node(log: list[str], xml: dict[str, str] | None = None, qemu_log: str | None = None) -> NodeTree:
    tree = NodeTree("compute-x", collected=COLLECTED)
    tree.file("etc/nova/nova.conf", COMPUTE)
    tree.file("var/log/nova/nova-compute.log", "".join(f"{line}\n" for line in log))
    for path, text in (xml or {}).items():
        tree.file(path, text)
    if qemu_log is not None:
        tree.file("var/log/libvirt/qemu/instance-00000001.log", qemu_log)
    return tree


RUNNING = {"run/libvirt/qemu/instance-00000001.xml": demo.domain_xml("instance-00000001", "u-1", IMAGE)}


def test_removed_base_still_in_a_running_backing_chain_is_critical(tmp_path: Path) -> None:
    log = [f"2026-12-01 08:40:01.447 2931 INFO {CACHE} Removing base, swap or ephemeral file: {BASE}"]
    [r] = only(scan_tree(cmp2_node(log, RUNNING), tmp_path, "CMP-002"), "CMP-002")
    assert r.status is Status.fail and r.severity is Severity.critical and r.resource == BASE
    assert "instance-00000001 still uses it" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("var/log/nova/nova-compute.log", 1)
    assert r.evidence[1].source == "run/libvirt/qemu/instance-00000001.xml"


def test_removal_and_backing_error_on_the_same_file_are_one_finding(tmp_path: Path) -> None:
    log = [f"2026-12-01 08:40:01.447 2931 INFO {CACHE} Removing base or swap file: {BASE}"]
    qemu = (
        f"2026-12-01T08:50:00.000000Z qemu-system-x86_64: -blockdev x: Could not open backing file: "
        f"Could not open '{BASE}': No such file or directory\n"
    )
    [r] = only(scan_tree(cmp2_node(log, qemu_log=qemu), tmp_path, "CMP-002"), "CMP-002")
    assert r.status is Status.fail and "already failed to open it (1 log lines)" in r.message
    assert {e.source for e in r.evidence} == {
        "var/log/nova/nova-compute.log",
        "var/log/libvirt/qemu/instance-00000001.log",
    }


def test_backing_error_alone_is_critical(tmp_path: Path) -> None:
    log = [
        f"2026-12-01 08:52:13.901 2931 ERROR nova.compute.manager [req-2 - - - - -] libvirt.libvirtError: "
        f"Cannot access backing file '{BASE}' of storage file '{INST}/u-1/disk' (as uid:64055, gid:108): "
        "No such file or directory"
    ]
    [r] = only(scan_tree(cmp2_node(log, RUNNING), tmp_path, "CMP-002"), "CMP-002")
    assert r.status is Status.fail and r.severity is Severity.critical
    assert "cannot open backing file" in r.message and "instance-00000001" in r.message


def test_legitimate_removal_and_unknown_base_lines_pass(tmp_path: Path) -> None:
    other = f"{INST}/_base/{'0' * 40}"
    log = [
        f"2026-12-01 08:40:01.000 2931 WARNING {CACHE} Unknown base file: {BASE}",
        f"2026-12-01 08:40:01.447 2931 INFO {CACHE} Removing base or swap file: {other}",
    ]
    [r] = only(scan_tree(cmp2_node(log, RUNNING), tmp_path / "a", "CMP-002"), "CMP-002")
    assert r.status is Status.passed and "1 base files removed" in r.message
    [r] = only(scan_tree(cmp2_node(log[:1], RUNNING), tmp_path / "b", "CMP-002"), "CMP-002")
    assert r.status is Status.passed and r.message == "no problem found"


def persistent_xml(driver: str) -> str:
    return (
        f'<domain><name>instance-00000007</name><metadata><nova:root type="image" uuid="{IMAGE}"/></metadata>'
        f"<devices><disk type='file' device='disk'><driver name='qemu' type='{driver}' cache='none'/>"
        f"<source file='{INST}/u-7/disk'/></disk></devices></domain>"
    )


def test_persistent_definition_matches_by_image_sha1_and_legacy_size_suffix(tmp_path: Path) -> None:
    log = [f"2012-12-19 12:10:59 INFO {CACHE} Removing base file: {BASE}_10"]
    tree = cmp2_node(log, {"etc/libvirt/qemu/instance-00000007.xml": persistent_xml("qcow2")})
    [r] = only(scan_tree(tree, tmp_path, "CMP-002"), "CMP-002")
    # Years before the log window: the instance still breaks on its next restart.
    assert r.status is Status.fail and "instance-00000007" in r.message


def test_flat_raw_copy_does_not_need_its_base(tmp_path: Path) -> None:
    log = [f"2026-12-01 08:40:01.447 2931 INFO {CACHE} Removing base or swap file: {BASE}"]
    tree = cmp2_node(log, {"etc/libvirt/qemu/instance-00000007.xml": persistent_xml("raw")})
    [r] = only(scan_tree(tree, tmp_path, "CMP-002"), "CMP-002")
    assert r.status is Status.passed


def test_volume_backed_instance_has_no_base_dependency(tmp_path: Path) -> None:
    bfv = (
        f'<domain><name>instance-00000008</name><nova:root type="image" uuid="{IMAGE}"/>'
        "<disk type='block'><source dev='/dev/sdc'/></disk></domain>"
    )
    log = [f"2026-12-01 08:40:01.447 2931 INFO {CACHE} Removing base or swap file: {BASE}"]
    [r] = only(
        scan_tree(cmp2_node(log, {"run/libvirt/qemu/instance-00000008.xml": bfv}), tmp_path, "CMP-002"),
        "CMP-002",
    )
    assert r.status is Status.passed


def test_cmp002_without_nova_logs_is_skipped(tmp_path: Path) -> None:
    tree = NodeTree("compute-x", collected=COLLECTED)
    tree.file("var/log/syslog", "Dec  1 08:00:00 compute-x systemd[1]: Started Session 1.\n")
    [r] = only(scan_tree(tree, tmp_path, "CMP-002"), "CMP-002")
    assert r.status is Status.skipped and "R-IMGCACHE-RM" in r.message


def test_compute4_cmp002_passes(compute4: Path) -> None:
    [r] = only(scan_dir(compute4, "CMP-002"), "CMP-002")
    assert r.status is Status.passed


def _qcow2(backing: str) -> bytes:
    name = backing.encode()
    header = b"QFI\xfb" + (3).to_bytes(4, "big") + (72).to_bytes(8, "big") + len(name).to_bytes(4, "big")
    return header.ljust(72, b"\0") + name


class _LiveDir(HostView):
    kind = "live"

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    def resolve(self, path: str) -> Path | None:
        real = self.root / path.lstrip("/")
        return real if real.exists() else None

    def glob(self, pattern: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern.lstrip("/")))

    def command(self, key: str) -> Text | None:
        return None

    def hostname(self) -> str:
        return "live"


def test_live_qcow2_header_with_missing_backing_file(tmp_path: Path) -> None:
    (tmp_path / "etc/nova").mkdir(parents=True)
    (tmp_path / "etc/nova/nova.conf").write_text(COMPUTE)
    (tmp_path / "var/lib/nova/instances/_base").mkdir(parents=True)
    (tmp_path / "var/lib/nova/instances/_base/present").write_bytes(b"raw")
    for uuid, backing in (("u-1", f"{INST}/_base/gone"), ("u-2", f"{INST}/_base/present")):
        (tmp_path / f"var/lib/nova/instances/{uuid}").mkdir()
        (tmp_path / f"var/lib/nova/instances/{uuid}/disk").write_bytes(_qcow2(backing))
    checks = select_checks(load_all_checks(), only=["CMP-002"])
    [r] = scan_host(_LiveDir(tmp_path), checks)
    assert r.status is Status.fail and r.severity is Severity.critical
    assert r.resource == "/var/lib/nova/instances/u-1/disk" and f"{INST}/_base/gone" in r.message


def test_demo_healthy_compute_and_planted_cmp002(tmp_path: Path) -> None:
    [ok] = only(scan_tree(demo_compute(), tmp_path / "ok", "CMP-002"), "CMP-002")
    assert ok.status is Status.passed and "none referenced" in ok.message
    [bad] = only(scan_tree(demo_compute("CMP-002"), tmp_path / "bad", "CMP-002"), "CMP-002")
    assert (
        bad.status is Status.fail and bad.severity is Severity.critical and "instance-0000002a" in bad.message
    )
    assert "already failed to open it" in bad.message


def test_cmp002_not_applicable_off_compute_nodes(tmp_path: Path) -> None:
    tree = cmp2_node(
        [f"2026-12-01 08:40:01.447 2931 INFO {CACHE} Removing base or swap file: {BASE}"], RUNNING
    )
    tree.file("etc/nova/nova.conf", "[DEFAULT]\nmy_ip = 10.0.0.10\n")
    [r] = only(scan_tree(tree, tmp_path, "CMP-002"), "CMP-002")
    assert r.status is Status.skipped and "not applicable" in r.message
