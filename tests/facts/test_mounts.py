from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.facts.mounts import (
    FUZZ_TARGETS,
    is_shared,
    list_files,
    load_df,
    load_df_inodes,
    load_log_listing,
    load_mounts,
    locate,
    mount_for,
    normpath,
    parse_df,
    parse_ls_recursive,
    parse_mount_l,
    parse_proc_mounts,
    summary,
)
from stackrx.sources.base import HostView, Text
from stackrx.sources.sosreport import SosReportView

MOUNT_L = """\
sysfs on /sys type sysfs (rw,nosuid,nodev,noexec,relatime)
/dev/vda1 on / type ext4 (rw,relatime) [cloudimg-rootfs]
mount: /proc: permission denied
10.0.0.41:/export/nova on /var/lib/nova/instances type nfs4 (rw,relatime,vers=4.2,addr=10.0.0.41)
/dev/sdb on /srv/my disk type xfs (rw,noatime)
/dev/vdc on /var/lib/nova/instances type ext4 (rw)
"""


def test_mount_l_fields_labels_and_stacking() -> None:
    table = parse_mount_l(Text("sos_commands/filesys/mount_-l", MOUNT_L))
    assert [m.target for m in table.mounts] == [
        "/sys",
        "/",
        "/var/lib/nova/instances",
        "/srv/my disk",
        "/var/lib/nova/instances",
    ]
    root = table.at("/")
    assert root is not None and root.fstype == "ext4" and root.label == "cloudimg-rootfs" and root.line == 2
    assert root.options == ("rw", "relatime")
    # The later mount on the same point is the one on top.
    top = table.mount_for("/var/lib/nova/instances/_base/abc")
    assert top is not None and top.device == "/dev/vdc" and top.line == 6 and not top.shared
    nfs = table.mounts[2]
    assert nfs.shared and nfs.evidence().excerpt.startswith("10.0.0.41:/export/nova on")
    spaced = table.mount_for("/srv/my disk/objects")
    assert spaced is not None and spaced.device == "/dev/sdb"


def test_proc_mounts_unescapes_octal() -> None:
    text = Text("proc/mounts", "/dev/sdb /srv/my\\040disk xfs rw,noatime 0 0\nrootfs / rootfs rw 0 0\njunk\n")
    table = parse_proc_mounts(text)
    assert [m.target for m in table.mounts] == ["/srv/my disk", "/"]
    assert table.mounts[0].fstype == "xfs" and table.mounts[0].line == 1


def test_mount_for_matches_whole_components_only() -> None:
    table = parse_mount_l(Text("m", "/dev/a on / type ext4 (rw)\n/dev/b on /var/lib/no type ext4 (rw)\n"))
    found = table.mount_for("/var/lib/nova/instances")
    assert found is not None and found.target == "/"
    assert mount_for(table.mounts, "var/lib/no/x/") is table.mounts[1]
    assert normpath("var//lib/nova/instances/") == "/var/lib/nova/instances"


def _compute4_view(compute4: Path) -> SosReportView:
    return SosReportView(compute4)


def test_compute4_df(compute4: Path) -> None:
    df = load_df(_compute4_view(compute4))
    assert df.source == "sos_commands/filesys/df_-al_-x_autofs" and not df.inodes and not df.typed
    assert len(df.rows) == 53
    root = df.at("/")
    assert root is not None and root.filesystem == "/dev/vda2" and root.usage == 9 and root.line == 7
    assert root.total == 308585260 * 1024 and root.used == 25514372 * 1024
    inst = df.mount_for("/var/lib/nova/instances/_base")
    assert inst is not None and inst.target == "/var/lib/nova/instances" and inst.filesystem == "/dev/dm-2"
    assert inst.usage == 2
    sysfs = df.at("/sys")
    assert sysfs is not None and sysfs.pct is None and sysfs.usage is None
    snap = df.at("/snap/lxd/22358")
    assert snap is not None and snap.usage == 100
    # Duplicated nsfs lines for one namespace: the later line is the visible mount.
    ns = [r for r in df.rows if r.target.endswith("snat-984c22fd-64b3-4fa1-8ddd-87090f401ce5")]
    assert len(ns) == 2 and df.at(ns[0].target) is ns[1]


def test_compute4_has_no_mount_table_nor_inodes(compute4: Path) -> None:
    view = _compute4_view(compute4)
    with pytest.raises(MissingEvidence, match="mount -l"):
        load_mounts(view)
    with pytest.raises(MissingEvidence, match="df -ali"):
        load_df_inodes(view)
    located = locate(Facts(view), "/var/lib/nova/instances")
    assert located.device == "/dev/dm-2" and located.fstype is None and located.shared is False
    assert located.evidence.source == "sos_commands/filesys/df_-al_-x_autofs" and located.evidence.line == 44


def test_compute4_log_listing(compute4: Path) -> None:
    view = _compute4_view(compute4)
    listing = load_log_listing(view)
    assert listing.roots == ("/var/log",) and len(listing.entries) == 82
    top = listing.largest_files("/var/log", 3)
    assert [e.path for e in top] == [
        "/var/log/neutron/neutron-openvswitch-agent.log",
        "/var/log/lastlog",
        "/var/log/nova/nova-compute.log",
    ]
    assert top[0].size == 46 * 1024 * 1024 and top[0].approximate and top[0].line == 141
    assert all(not e.is_dir for e in top)
    nova = listing.under("/var/log/nova")
    assert {e.path.rsplit("/", 1)[-1] for e in nova} >= {"nova-compute.log", "nova-compute.log.1"}
    assert list_files(view, "/var/log/nova").source == listing.source
    with pytest.raises(MissingEvidence, match="/var/lib/nova/instances"):
        list_files(view, "/var/lib/nova/instances")


def test_compute4_summary(compute4: Path) -> None:
    facts = summary(Facts(_compute4_view(compute4)))
    targets = {f["target"]: f["use_pct"] for f in facts["filesystems"]}
    assert targets["/"] == 9 and targets["/var/lib/nova/instances"] == 2
    assert "/snap/lxd/22358" not in targets and "/sys" not in targets
    assert "shared_mounts" not in facts


def test_df_wrapped_long_device_name() -> None:
    text = Text(
        "df",
        """\
Filesystem           1K-blocks      Used Available Use% Mounted on
/dev/mapper/vg_root-lv_root
                      51475068  48898240   2576828  95% /
tmpfs                  1962112         0   1962112   0% /dev/shm
""",
    )
    df = parse_df(text)
    root = df.at("/")
    assert root is not None and root.filesystem == "/dev/mapper/vg_root-lv_root" and root.usage == 95
    assert root.line == 2 and root.excerpt.startswith("/dev/mapper/vg_root-lv_root 51475068")
    assert df.at("/dev/shm") is not None


def test_df_typed_posix_human_and_inodes() -> None:
    typed = parse_df(
        Text(
            "df",
            "Filesystem     Type  1K-blocks  Used Available Use% Mounted on\n"
            "/dev/vda1      ext4   1000   960   40  96% /\n",
        )
    )
    row = typed.at("/")
    assert typed.typed and row is not None and row.fstype == "ext4" and row.usage == 96
    posix = parse_df(
        Text(
            "df",
            "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
            "srv:/vol/a            2000      1500       500      75% /mnt/a b\n",
        )
    )
    prow = posix.at("/mnt/a b")
    assert prow is not None and prow.total == 2000 * 1024 and is_shared(prow.fstype, prow.filesystem)
    human = parse_df(
        Text(
            "df",
            "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda1       1.5G  1.0G  512M  67% /boot\n",
        )
    )
    hrow = human.at("/boot")
    assert hrow is not None and hrow.total == int(1.5 * 1024**3) and hrow.avail == 512 * 1024**2
    inodes = parse_df(
        Text(
            "df",
            "Filesystem      Inodes  IUsed   IFree IUse% Mounted on\n"
            "/dev/vda1      1000000 960000   40000   96% /\n"
            "btrfs0               -      -       -     - /data\n",
        )
    )
    irow = inodes.at("/")
    assert inodes.inodes and irow is not None and irow.total == 1_000_000 and irow.usage == 96
    brow = inodes.at("/data")
    assert brow is not None and brow.total is None and brow.usage is None


def test_df_usage_computed_when_not_printed() -> None:
    df = parse_df(
        Text("df", "Filesystem 512-blocks Used Available Capacity Mounted on\n/dev/a 100 50 25 - /x\n")
    )
    row = df.at("/x")
    assert row is not None and row.total == 100 * 512 and row.usage == 67


def test_df_without_header_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no df header"):
        parse_df(Text("df", "df: cannot read table of mounted file systems\n"))


def test_loaders_name_what_is_missing(tmp_path: Path) -> None:
    NodeTree("empty").write(tmp_path / "empty")
    view = SosReportView(tmp_path / "empty")
    with pytest.raises(MissingEvidence, match="cmd:df -al"):
        load_df(view)
    with pytest.raises(MissingEvidence, match="proc/mounts"):
        load_mounts(view)
    with pytest.raises(MissingEvidence):
        locate(Facts(view), "/")


def test_load_df_rejects_inode_table_and_empty_output(tmp_path: Path) -> None:
    tree = NodeTree("n")
    tree.command("df -al", "Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/a 10 1 9 10% /\n")
    tree.command("df -ali", "")
    tree.write(tmp_path)
    view = SosReportView(tmp_path)
    with pytest.raises(ParseError, match="expected block usage"):
        load_df(view)
    with pytest.raises(MissingEvidence, match="empty"):
        load_df_inodes(view)


def test_mount_table_from_proc_mounts_when_no_mount_l(tmp_path: Path) -> None:
    tree = NodeTree("n")
    tree.file(
        "proc/mounts", "server:/exp /var/lib/nova/instances nfs4 rw,relatime 0 0\n/dev/vda1 / ext4 rw 0 0\n"
    )
    tree.command("df -al", "Filesystem 1K-blocks Used Available Use% Mounted on\n/dev/vda1 100 10 90 10% /\n")
    tree.write(tmp_path)
    view = SosReportView(tmp_path)
    table = load_mounts(view)
    assert table.source == "proc/mounts"
    located = locate(Facts(view), "/var/lib/nova/instances/_base")
    assert located.fstype == "nfs4" and located.shared and located.evidence.line == 1


def test_ls_listing_variants() -> None:
    text = Text(
        "ls",
        """\
/var/log/:
total 12
   4 drwxr-xr-x.  2 root root system_u:object_r:var_log_t:s0 4096 Jan  2  2024 .
   8 -rw-r-----.  1 root adm  system_u:object_r:var_log_t:s0 7340032 2024-01-02 10:00 messages
crw-rw----   1 root tty  4, 1 Feb 10 16:18 tty1
lrwxrwxrwx   1 root root    9 Feb 10 16:18 current -> messages
-rw-r--r--   1 1000 1000  123 Feb 10 16:18 name with  spaces.log

/var/log/sub:
-rw-r--r--   1 root root  2.5K Feb 10 16:18 a.log
""",
    )
    listing = parse_ls_recursive(text)
    by_name = {e.path: e for e in listing.entries}
    assert by_name["/var/log/messages"].size == 7340032 and not by_name["/var/log/messages"].approximate
    assert by_name["/var/log/tty1"].size == 0
    assert "/var/log/current" in by_name
    assert by_name["/var/log/name with  spaces.log"].size == 123
    assert by_name["/var/log/sub/a.log"].size == 2560 and by_name["/var/log/sub/a.log"].approximate
    assert listing.covers("/var/log/sub") and not listing.covers("/var/lib")


class _LiveDir(HostView):
    """A live-kind view over a plain directory (what the live source does for files)."""

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


def test_list_files_walks_a_live_directory(tmp_path: Path) -> None:
    base = tmp_path / "var" / "lib" / "mysql"
    (base / "nova").mkdir(parents=True)
    with (base / "ibdata1").open("wb") as fh:
        fh.truncate(3 * 1024**3)
    (base / "nova" / "instances.ibd").write_bytes(b"x" * 100)
    view = _LiveDir(tmp_path)
    listing = list_files(view, "/var/lib/mysql")
    top = listing.largest_files("/var/lib/mysql")
    assert [e.path for e in top] == ["/var/lib/mysql/ibdata1", "/var/lib/mysql/nova/instances.ibd"]
    assert top[0].size == 3 * 1024**3 and not top[0].approximate
    with pytest.raises(MissingEvidence):
        list_files(view, "/var/lib/rabbitmq")


def test_fuzz_targets_listed() -> None:
    assert set(FUZZ_TARGETS) == {parse_mount_l, parse_proc_mounts, parse_df, parse_ls_recursive}


_TOKENS = st.sampled_from(
    [
        "/",
        "a",
        ":",
        "%",
        "-",
        "0",
        "9",
        " ",
        "\t",
        "\n",
        ".",
        "\\",
        "(",
        ")",
        "[",
        "]",
        "K",
        " on ",
        " type ",
        "Filesystem ",
        "Mounted on",
        "-rw-r--r-- 1 a b ",
        "Feb 10 16:18 ",
        "/var/log:\n",
    ]
)
_LINEISH = st.lists(_TOKENS, max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=600), _LINEISH))
def test_parsers_raise_only_parse_error(content: str) -> None:
    for parser in FUZZ_TARGETS:
        with contextlib.suppress(ParseError):
            parser(Text("fuzz", content))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["/dev/sda1", "srv:/x", "tmpfs", "/dev/mapper/" + "v" * 30]),
            st.integers(0, 10**12),
            st.integers(0, 10**12),
            st.sampled_from(["/", "/var", "/a b"]),
        )
    )
)
def test_df_round_trip(rows: list[tuple[str, int, int, str]]) -> None:
    lines = ["Filesystem 1K-blocks Used Available Use% Mounted on"]
    for device, used, avail, target in rows:
        pct = f"{-(-used * 100 // (used + avail))}%" if used + avail else "-"
        lines.append(f"{device} {used + avail} {used} {avail} {pct} {target}")
    df = parse_df(Text("df", "\n".join(lines)))
    assert len(df.rows) == len(rows)
    for row, (device, used, avail, target) in zip(df.rows, rows, strict=True):
        assert (row.filesystem, row.used, row.avail, row.target) == (
            device,
            used * 1024,
            avail * 1024,
            target,
        )
