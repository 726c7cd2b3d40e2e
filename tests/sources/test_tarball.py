"""Sosreport tarballs: real compute4 reads the same packed as unpacked; hostile archives are refused."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stackrx.engine import load_all_checks, scan_host
from stackrx.errors import UsageError
from stackrx.sources import open_target
from stackrx.sources.commands import COMMANDS, NETNS_COMMANDS
from stackrx.sources.sosreport import SosReportView
from stackrx.sources.tarball import HEADER_ALLOWANCE, TarballView, open_tarball

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
COMPUTE4 = REALDATA / "hotsos" / "openstack-compute4-sosreport"
TOP = "sosreport-compute4-2022-02-10-abcdef"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point mkdtemp at a directory of our own, so every byte the extractor writes can be accounted for."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# -- the real report, packed three ways -------------------------------------------
@pytest.fixture(scope="module", params=["w:xz", "w:gz", "w", "w:bz2"], ids=["xz", "gz", "tar", "bz2"])
def packed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not COMPUTE4.is_dir():
        pytest.skip(f"real data not present: {COMPUTE4}")
    mode: str = request.param
    suffix = {"w:xz": ".tar.xz", "w:gz": ".tar.gz", "w": ".tar", "w:bz2": ".tar.bz2"}[mode]
    out = tmp_path_factory.mktemp("packed") / f"{TOP}{suffix}"
    with tarfile.open(out, mode) as tf:  # type: ignore[call-overload]
        tf.add(COMPUTE4, arcname=TOP)
    return out


@pytest.fixture
def both(packed: Path) -> Iterator[tuple[TarballView, SosReportView]]:
    view = open_tarball(packed)
    try:
        yield view, SosReportView(COMPUTE4)
    finally:
        view.close()


def test_tarball_reads_exactly_like_the_directory(both: tuple[TarballView, SosReportView],
                                                  packed: Path) -> None:
    tar, directory = both
    assert tar.target == str(packed)
    assert tar.root.name == TOP
    paths = directory.glob("**/*")
    assert len(paths) > 200
    assert tar.glob("**/*") == paths
    for path in paths:
        assert tar.read_text(path) == directory.read_text(path), path
        assert tar.listdir(path) == directory.listdir(path), path
    for key in COMMANDS:
        assert tar.command(key) == directory.command(key), key
    assert tar.command("sysctl -a") is not None
    assert tar.namespaces() == directory.namespaces() != []
    for ns in directory.namespaces():
        for key in NETNS_COMMANDS:
            assert tar.netns_command(ns, key) == directory.netns_command(ns, key)
    assert tar.hostname() == directory.hostname() == "compute4"
    assert tar.collected_at() == directory.collected_at()


def test_sources_are_relative_to_the_sos_root(both: tuple[TarballView, SosReportView]) -> None:
    tar, _ = both
    df = tar.command("df -al")
    assert df is not None
    assert df.source == "sos_commands/filesys/df_-al_-x_autofs"
    conf = tar.read_text("etc/nova/nova.conf")
    assert conf is not None and conf.source == "etc/nova/nova.conf"


def test_checks_give_the_same_results(both: tuple[TarballView, SosReportView]) -> None:
    tar, directory = both
    checks = list(load_all_checks().values())
    assert scan_host(tar, checks) == scan_host(directory, checks)


def test_extraction_is_private_and_close_removes_it(packed: Path, private_tmp: Path) -> None:
    view = open_tarball(packed)
    assert view.workdir.parent == private_tmp
    assert stat.S_IMODE(view.workdir.stat().st_mode) == 0o700
    for path in view.workdir.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        assert mode & 0o077 == 0, f"{path} is readable by others ({oct(mode)})"
    view.close()
    assert not view.workdir.exists()
    assert list(private_tmp.iterdir()) == []
    view.close()  # idempotent


def test_open_target_picks_the_tarball_view(packed: Path) -> None:
    view = open_target(str(packed))
    try:
        assert isinstance(view, TarballView)
        assert view.hostname() == "compute4"
    finally:
        view.close()


def test_temp_dir_is_removed_at_interpreter_exit(tmp_path: Path) -> None:
    if not COMPUTE4.is_dir():
        pytest.skip(f"real data not present: {COMPUTE4}")
    archive = tmp_path / "c4.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(COMPUTE4 / "sos_commands" / "kernel", arcname=f"{TOP}/sos_commands/kernel")
    code = ("import sys; from pathlib import Path; from stackrx.sources.tarball import open_tarball; "
            "v = open_tarball(Path(sys.argv[1])); print(v.workdir); assert v.workdir.is_dir()")
    out = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True, text=True,
                         check=True)
    workdir = Path(out.stdout.strip())
    assert workdir.name.startswith("stackrx-sos-")
    assert not workdir.exists()


# -- hostile archives --------------------------------------------------------------
Member = tuple[tarfile.TarInfo, bytes | None]


def reg(name: str, data: bytes = b"x\n") -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def node(name: str, kind: bytes, linkname: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, None


def sos_skeleton() -> list[Member]:
    return [reg(f"{TOP}/sos_commands/kernel/uname_-a", b"Linux evil 5.15.0 x86_64 GNU/Linux\n")]


def build(path: Path, members: list[Member], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def refused(archive: Path, private_tmp: Path, **caps: int) -> str:
    """Open a hostile archive: it must raise UsageError, leave nothing behind, and write nothing outside."""
    outside = archive.parent.parent
    before = snapshot(outside) - {p for p in snapshot(outside) if p.startswith(private_tmp.name + "/")}
    with pytest.raises(UsageError) as err:
        open_tarball(archive, **caps)
    assert list(private_tmp.iterdir()) == [], "the temp dir was not cleaned up"
    assert snapshot(outside) == before | {private_tmp.name}, "something was written outside the temp dir"
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(archive))
    return message


@pytest.fixture
def hostile(tmp_path: Path) -> Callable[[str, list[Member]], Path]:
    (tmp_path / "in").mkdir()

    def make(name: str, members: list[Member], mode: str = "w:gz") -> Path:
        return build(tmp_path / "in" / name, members, mode)

    return make


def test_refuses_path_traversal(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("trav.tar.gz", [*sos_skeleton(), reg("../x"), reg(f"{TOP}/../../x")])
    message = refused(archive, private_tmp)
    assert "member '../x'" in message and "'..'" in message
    assert not (private_tmp / "x").exists() and not (private_tmp.parent / "x").exists()


def test_refuses_an_absolute_member(hostile: Callable[..., Path], private_tmp: Path, tmp_path: Path) -> None:
    target = tmp_path / "abs-target"
    archive = hostile("abs.tar.gz", [*sos_skeleton(), reg(str(target))])
    message = refused(archive, private_tmp)
    assert f"member {str(target)!r} is an absolute path" in message
    assert not target.exists()


def test_refuses_a_symlink_that_leaves(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("sym.tar.gz", [*sos_skeleton(), node(f"{TOP}/etc", tarfile.SYMTYPE, "../../../etc"),
                                     reg(f"{TOP}/etc/passwd", b"root::0:0::/:/bin/sh\n")])
    message = refused(archive, private_tmp)
    assert f"member '{TOP}/etc' is a symlink to '../../../etc', which leaves the archive" in message


def test_refuses_an_absolute_symlink(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("abs-sym.tar.gz", [*sos_skeleton(), node(f"{TOP}/etc", tarfile.SYMTYPE, "/etc")])
    assert "is a symlink to the absolute path '/etc'" in refused(archive, private_tmp)


def test_refuses_a_symlink_chain_that_escapes_only_when_resolved(hostile: Callable[..., Path],
                                                                  private_tmp: Path) -> None:
    # Each link alone looks harmless (lexically inside); followed together they climb out of the root.
    archive = hostile("chain.tar.gz", [*sos_skeleton(),
                                       node(f"{TOP}/a/b/s", tarfile.SYMTYPE, "../.."),
                                       node(f"{TOP}/a/b/t", tarfile.SYMTYPE, "s/../../..")])
    message = refused(archive, private_tmp)
    assert f"member '{TOP}/a/b/t' is a symlink that resolves outside the archive" in message


def test_refuses_writing_through_a_symlink(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("through.tar.gz", [*sos_skeleton(), node(f"{TOP}/d", tarfile.SYMTYPE, "."),
                                         reg(f"{TOP}/d/x")])
    assert f"would be written through the symlink '{TOP}/d'" in refused(archive, private_tmp)


@pytest.mark.parametrize("linkname", ["/etc/passwd", "../../etc/passwd", f"{TOP}/never-extracted"])
def test_refuses_a_hard_link_outside(hostile: Callable[..., Path], private_tmp: Path, linkname: str) -> None:
    archive = hostile("hard.tar.gz", [*sos_skeleton(), node(f"{TOP}/etc/shadow", tarfile.LNKTYPE, linkname)])
    message = refused(archive, private_tmp)
    assert f"member '{TOP}/etc/shadow' is a hard link to {linkname!r}" in message


def test_a_hard_link_inside_is_kept(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("hard-ok.tar.gz", [*sos_skeleton(), reg(f"{TOP}/etc/hostname", b"evil\n"),
                                         node(f"{TOP}/hostname", tarfile.LNKTYPE, f"{TOP}/etc/hostname")])
    view = open_tarball(archive)
    try:
        assert view.hostname() == "evil"
    finally:
        view.close()


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE],
                         ids=["chr", "blk", "fifo"])
def test_refuses_device_nodes_and_fifos(hostile: Callable[..., Path], private_tmp: Path, kind: bytes) -> None:
    archive = hostile("dev.tar.gz", [*sos_skeleton(), node(f"{TOP}/dev/null", kind)])
    assert f"member '{TOP}/dev/null' is a device node or FIFO" in refused(archive, private_tmp)


def test_refuses_a_compression_bomb(hostile: Callable[..., Path], private_tmp: Path) -> None:
    big = b"\0" * (64 * 1024 * 1024)
    archive = hostile("bomb.tar.gz", [*sos_skeleton(), reg(f"{TOP}/var/log/huge", big)])
    assert archive.stat().st_size < 1024 * 1024, "a bomb is small on disk"
    message = refused(archive, private_tmp, max_bytes=8 * 1024 * 1024)
    assert f"member '{TOP}/var/log/huge' declares 67108864 bytes" in message
    assert "8.0 MiB cap" in message


def test_the_size_cap_counts_all_members(hostile: Callable[..., Path], private_tmp: Path) -> None:
    many = [reg(f"{TOP}/var/log/part{i}", b"y" * 100_000) for i in range(20)]
    archive = hostile("sum.tar.gz", [*sos_skeleton(), *many])
    assert "past the 1.0 MiB cap" in refused(archive, private_tmp, max_bytes=1024 * 1024)


def test_refuses_too_many_members(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("many.tar.gz", [*sos_skeleton(), *(reg(f"{TOP}/f{i}") for i in range(60))])
    assert "exceeds the cap of 50 members" in refused(archive, private_tmp, max_members=50)


def test_counts_bytes_written_not_only_the_header(hostile: Callable[..., Path], private_tmp: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that yields more than the header declared (a lying header) is stopped at the declared size."""
    archive = hostile("liar.tar.gz", [*sos_skeleton(), reg(f"{TOP}/small", b"12345678")])
    real_extractfile = tarfile.TarFile.extractfile

    def lying(self: tarfile.TarFile, member: str | tarfile.TarInfo) -> io.BytesIO | None:
        name = member.name if isinstance(member, tarfile.TarInfo) else member
        if name.endswith("/small"):
            return io.BytesIO(b"\0" * (4 * 1024 * 1024))
        src = real_extractfile(self, member)
        return io.BytesIO(src.read()) if src is not None else None

    monkeypatch.setattr(tarfile.TarFile, "extractfile", lying)
    message = refused(archive, private_tmp)
    assert f"member '{TOP}/small' holds more data than the 8 bytes its header declares" in message


def test_refuses_an_oversized_header(hostile: Callable[..., Path], private_tmp: Path) -> None:
    """A pax header is read into memory whole by tarfile: one larger than the allowance is refused first."""
    info, data = reg(f"{TOP}/etc/motd")
    info.pax_headers = {"comment": "z" * (2 * HEADER_ALLOWANCE)}
    archive = hostile("pax.tar.gz", [*sos_skeleton(), (info, data)])
    assert "followed by oversized headers" in refused(archive, private_tmp)


def test_refuses_a_truncated_archive(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("whole.tar.gz", [*sos_skeleton(), reg(f"{TOP}/var/log/syslog", os.urandom(200_000))])
    cut = archive.with_name("cut.tar.gz")
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert "corrupt or truncated archive" in refused(cut, private_tmp)


def test_refuses_a_tarball_without_sos_commands(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("notsos.tar.gz", [reg("backup/etc/hosts")])
    assert "no sos_commands/ directory inside" in refused(archive, private_tmp)


def test_refuses_two_reports_in_one(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("two.tar.gz", [reg("a/sos_commands/x"), reg("b/sos_commands/x")])
    assert "several sosreports in one archive (a, b)" in refused(archive, private_tmp)


def test_refuses_zstd_with_a_hint(tmp_path: Path, private_tmp: Path) -> None:
    (tmp_path / "in").mkdir()
    archive = tmp_path / "in" / "x.tar.zst"
    archive.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    assert "zstd -d x.tar.zst" in refused(archive, private_tmp)


def test_a_later_member_replaces_an_earlier_one(hostile: Callable[..., Path], private_tmp: Path) -> None:
    archive = hostile("dup.tar.gz", [*sos_skeleton(), reg(f"{TOP}/etc/hostname", b"first\n"),
                                     reg(f"{TOP}/etc/hostname", b"second\n")])
    view = open_tarball(archive)
    try:
        assert view.hostname() == "second"
    finally:
        view.close()


def test_a_symlink_inside_the_archive_is_kept(hostile: Callable[..., Path], private_tmp: Path) -> None:
    link = node(f"{TOP}/uname", tarfile.SYMTYPE, "sos_commands/kernel/uname_-a")
    archive = hostile("link-ok.tar.gz", [*sos_skeleton(), link])
    view = open_tarball(archive)
    try:
        text = view.command("uname -a")
        assert text is not None and text.content.startswith("Linux evil")
    finally:
        view.close()
