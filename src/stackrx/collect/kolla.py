"""The Kolla side bundle: what sos leaves out on a Kolla-Ansible host, as a tarball laid out like a sosreport.

sos has no Kolla plugin, and its openstack_* plugins are gated on host packages a Kolla node does not
have, so a sosreport of such a node lacks the service configs, logs and container state. The bundle holds

    etc/kolla/...                                       rendered container configs, at their host paths
    var/lib/docker/volumes/kolla_logs/_data/...         service logs (podman: var/lib/containers/storage/...)
    var/lib/.../volumes/mariadb/_data/{grastate,gvwstate}.dat
    var/lib/.../volumes/neutron_metadata_socket/_data/ha_confs/...   L3HA router state and keepalived.conf
    sos_commands/<plugin>/<sos file name>               allow-listed commands: docker/podman ps -a and inspect
                                                        of every container, ovs-vsctl, ip (per namespace too),
                                                        sysctl, lsmod, uname, dmesg, mount, df, ps, firewall
    sos_commands/date/date                              the collection time (UTC)
    sos_logs/stackrx-collect.json                       every item: collected, tailed, skipped or not collected

File names come from `stackrx.sources.commands` (the logical keys and sos's own mangling), so the readers
that open a sosreport find each output where they already look. A log larger than the cap keeps its end,
as sos does: the tail (from the first line start) goes to `sos_strings/kolla/<a.b.c>.tailed` and the host
path becomes a relative link to it, so both a path lookup and a sos_strings lookup find it.

Commands run from a fixed list as argument vectors (never a shell), with LC_ALL=C, TZ=UTC and a timeout; one that
is not installed, times out or fails without output is recorded as not collected, never an error. Nothing
on the host is changed. The tarball holds raw configs with their passwords, as a sosreport does, so it is
created 0600 and only renamed into place once complete.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import socket
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from stackrx import __version__
from stackrx.collect import DEFAULT_MAX_LOG_BYTES
from stackrx.errors import UsageError
from stackrx.sources.base import MAX_TEXT_BYTES
from stackrx.sources.commands import COMMAND_TIMEOUT_S, COMMANDS, NETNS_COMMANDS, mangle
from stackrx.sources.kolla import VOLUME_DIRS
from stackrx.sources.live import NETNS_NAME, Ran, run_bounded

# Container engines Kolla deploys with, in the order of VOLUME_DIRS (docker, then podman).
ENGINES = ("docker", "podman")
GALERA_STATE_FILES = ("grastate.dat", "gvwstate.dat")
# Host commands by logical key, with the sos plugin directory that holds each.
# The host-level ones are what sos would also collect; they make a bundle scannable on its own (roles from ps,
# conntrack and proxy_arp from sysctl, VLAN chains and MTUs from ip -d link, kernel drops from dmesg).
HOST_COMMANDS: tuple[tuple[str, str], ...] = (
    ("hostname", "host"),
    ("uptime", "host"),
    ("ip -d address", "networking"),
    ("ip -d link", "networking"),
    ("ip route show table all", "networking"),
    ("ip netns", "networking"),
    ("conntrack -S", "networking"),
    ("ovs-vsctl show", "openvswitch"),
    ("ovs-vsctl list Open_vSwitch", "openvswitch"),
    ("ovs-vsctl list-br", "openvswitch"),
    ("ovs-vsctl list bridge", "openvswitch"),
    ("ovs-vsctl list interface", "openvswitch"),
    ("sysctl -a", "kernel"),
    ("lsmod", "kernel"),
    ("uname -a", "kernel"),
    ("dmesg", "kernel"),
    ("mount -l", "filesys"),
    ("df -al", "filesys"),
    ("ps auxwww", "process"),
    ("free", "memory"),
    ("nft list ruleset", "firewall_tables"),
    ("iptables-save", "firewall_tables"),
)
# Per network namespace (L3HA VIPs live on qr-/qg- ports inside qrouter-*): the first sos spelling is written.
NETNS_KEYS = ("ip -d address",)
MANIFEST = "sos_logs/stackrx-collect.json"
TAILED_DIR = "sos_strings/kolla"

COLLECTED, TAILED, SKIPPED, NOT_COLLECTED = "collected", "tailed", "skipped", "not collected"

_COMPRESSED = (".gz", ".xz", ".bz2", ".zst", ".lz4")
# ip and ovs tools often live in sbin, which a non-login PATH lacks; only sbin is added, never bin dirs.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}")
_MODES = ((".tar.xz", "w:xz"), (".txz", "w:xz"), (".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar.bz2", "w:bz2"),
          (".tbz2", "w:bz2"), (".tar", "w"))
_ALIGN_WINDOW = 64 * 1024

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Item:
    """One thing the bundle tried to take: a host path or a command line, and what became of it."""

    what: str
    status: str
    detail: str = ""
    file: str = ""


@dataclass
class Summary:
    output: Path
    top: str
    items: list[Item] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def not_collected(self) -> list[Item]:
        return [i for i in self.items if i.status == NOT_COLLECTED]


def compression_mode(output: Path) -> str:
    for suffix, mode in _MODES:
        if output.name.endswith(suffix):
            return mode
    raise UsageError(f"{output}: the bundle name must end in .tar.xz, .tar.gz, .tar.bz2 or .tar")


def default_output(now: datetime) -> Path:
    return Path.cwd() / f"kolla-bundle-{_safe_name(socket.gethostname())}-{now:%Y%m%d%H%M%S}.tar.xz"


def collect_kolla(output: Path, root: Path = Path("/"), *, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
                  timeout: float = COMMAND_TIMEOUT_S, progress: Progress | None = None,
                  now: datetime | None = None) -> Summary:
    """Write the bundle to `output` (refused if it exists); UsageError for anything the operator must fix."""
    mode = compression_mode(output)
    real_root = root.resolve()
    if not real_root.is_dir():
        raise UsageError(f"{root}: not a directory")
    if not _is_kolla_host(real_root):
        raise UsageError(f"{root}: no etc/kolla and no kolla_logs volume: not a Kolla-Ansible host")
    if output.exists() or output.is_symlink():
        raise UsageError(f"{output}: already exists; remove it or give another --output")
    if not output.parent.is_dir():
        raise UsageError(f"{output.parent}: no such directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)  # mkstemp already does; stated so a umask or future change cannot widen it
        with os.fdopen(fd, "wb") as fh:
            collector = _Collector(real_root, Path(tmp), max_log_bytes, timeout, progress, now or datetime.now(UTC))
            summary = collector.run(fh, mode, output)
        os.replace(tmp, output)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    return summary


def _is_kolla_host(root: Path) -> bool:
    return (root / "etc" / "kolla").is_dir() or any((root / base / "kolla_logs").is_dir() for base in VOLUME_DIRS)


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", text.strip()).strip("._-")[:64] or "localhost"


def sos_file(plugin: str, argv: tuple[str, ...], subdir: str = "") -> str:
    """Where sos keeps a command's output: sos_commands/<plugin>/[<subdir>/]<mangled command line>."""
    return posixpath.join("sos_commands", plugin, subdir, mangle(" ".join(argv)))


# -- commands -------------------------------------------------------------------------------------------
class _Runner:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
        self.path = os.pathsep.join(dict.fromkeys([*path, *_SBIN]))

    def run(self, argv: tuple[str, ...]) -> Ran:
        # TZ=UTC: human-readable stamps (dmesg -T, ps START) then share the bundle's UTC collection time.
        return run_bounded(argv, self.path, self.timeout, env={"TZ": "UTC"})


# -- the archive ----------------------------------------------------------------------------------------
class _Exactly:
    """`size` bytes of a file: growth after the stat is cut off, a shrink (rotated mid-read) padded with
    newlines, so the tar header written beforehand always matches its data."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self._fh = fh
        self._left = size
        self.short = False

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n < 0 else min(n, self._left)
        data = self._fh.read(want)
        if len(data) < want:
            self.short = True
            data += b"\n" * (want - len(data))
        self._left -= len(data)
        return data


class _Archive:
    def __init__(self, tar: tarfile.TarFile, top: str) -> None:
        self.tar = tar
        self.top = top

    def _info(self, rel: str, mtime: float) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{self.top}/{rel}")
        info.mode = 0o600
        info.mtime = int(mtime)
        return info

    def add_bytes(self, rel: str, data: bytes, mtime: float) -> None:
        info = self._info(rel, mtime)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def add_stream(self, rel: str, fh: IO[bytes], size: int, mtime: float) -> bool:
        """Returns False when the file shrank while it was read (the padding is then in the bundle)."""
        info = self._info(rel, mtime)
        info.size = size
        reader = _Exactly(fh, size)
        self.tar.addfile(info, reader)
        return not reader.short

    def add_link(self, rel: str, target_rel: str, mtime: float) -> None:
        info = self._info(rel, mtime)
        info.type = tarfile.SYMTYPE
        info.mode = 0o777
        info.linkname = posixpath.relpath(target_rel, posixpath.dirname(rel))
        self.tar.addfile(info)


# -- the collector --------------------------------------------------------------------------------------
class _Collector:
    def __init__(self, root: Path, partial: Path, max_log_bytes: int, timeout: float, progress: Progress | None,
                 now: datetime) -> None:
        self.root = root
        partial_stat = os.stat(partial)
        self.partial = (partial_stat.st_dev, partial_stat.st_ino)
        self.max_log_bytes = max_log_bytes
        self.runner = _Runner(timeout)
        self.progress = progress
        self.now = now.astimezone(UTC)
        self.items: list[Item] = []
        self.archive: _Archive | None = None

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def run(self, fh: IO[bytes], mode: str, output: Path) -> Summary:
        self.say("running hostname")
        host = self.runner.run(COMMANDS["hostname"].argv)
        name = host.output.decode("utf-8", "replace").split()[0] if host.output and host.output.split() else ""
        top = f"kolla-bundle-{_safe_name(name or socket.gethostname())}-{self.now:%Y%m%d%H%M%S}"
        with _open_tar(fh, mode) as tar:
            self.archive = _Archive(tar, top)
            stamp = self.now.timestamp()
            self.archive.add_bytes("sos_commands/date/date", f"{self.now:%Y-%m-%d %H:%M:%S}+00:00\n".encode(), stamp)
            self._store(("hostname",), "host", host)
            self._files()
            self._host_commands()
            self._containers()
            summary = Summary(output, top, self.items)
            manifest = {
                "collector": "stackrx collect --kolla", "version": __version__,
                "collected_at": self.now.isoformat(), "root": str(self.root), "max_log_bytes": self.max_log_bytes,
                "items": [asdict(i) for i in self.items],
            }
            self.archive.add_bytes(MANIFEST, json.dumps(manifest, indent=1).encode(), stamp)
        return summary

    # -- files ---------------------------------------------------------------------------------------
    def _files(self) -> None:
        self._tree("etc/kolla", cap=None)
        self._file("etc/hostname", cap=None)
        for base in VOLUME_DIRS:
            self._tree(f"{base}/kolla_logs/_data", cap=self.max_log_bytes)
            for name in GALERA_STATE_FILES:
                self._file(f"{base}/mariadb/_data/{name}", cap=None)
            # L3HA state files and keepalived.conf per router (HA-001, HA-F01); small, unlike the rest of state_path.
            self._tree(f"{base}/neutron_metadata_socket/_data/ha_confs", cap=self.max_log_bytes)

    def _tree(self, rel_top: str, cap: int | None) -> None:
        top = self.root / rel_top
        if not top.is_dir():
            return
        self.say(f"collecting /{rel_top}")
        for rel in self._walk(top):
            self._file(f"{rel_top}/{rel}" if rel else rel_top, cap)

    def _walk(self, top: Path) -> Iterator[str]:
        def failed(exc: OSError) -> None:
            self._record(str(exc.filename or top), SKIPPED, exc.strerror or str(exc))

        for dirpath, dirnames, filenames in os.walk(top, onerror=failed):
            dirnames.sort()
            base = Path(dirpath).relative_to(top).as_posix()
            for name in sorted(filenames):
                yield name if base == "." else f"{base}/{name}"

    def _file(self, rel: str, cap: int | None) -> None:
        real = self.root / rel
        shown = "/" + rel
        if not os.path.lexists(real):
            return
        if os.path.islink(real):
            target = Path(os.path.realpath(real))
            if (target != self.root and self.root not in target.parents) or not target.is_file():
                self._record(shown, SKIPPED, "symlink to something outside the root or not a regular file")
                return
        elif not real.is_file():
            self._record(shown, SKIPPED, "not a regular file")
            return
        try:
            with open(real, "rb") as fh:
                st = os.fstat(fh.fileno())
                if (st.st_dev, st.st_ino) == self.partial:
                    return  # the bundle being written, when --output points into a collected tree
                self._copy(rel, fh, st.st_size, st.st_mtime, cap)
        except OSError as exc:
            self._record(shown, SKIPPED, exc.strerror or str(exc))

    def _copy(self, rel: str, fh: IO[bytes], size: int, mtime: float, cap: int | None) -> None:
        assert self.archive is not None
        shown = "/" + rel
        limit = cap if cap is not None else MAX_TEXT_BYTES
        if size <= limit:
            whole = self.archive.add_stream(rel, fh, size, mtime)
            self._record(shown, COLLECTED, "" if whole else "shrank while read (end padded)", rel)
            return
        if cap is None or rel.endswith(_COMPRESSED):
            # The end of a compressed stream cannot be read on its own (sos skips such files too).
            self._record(shown, SKIPPED, f"{size} bytes, over the {limit}-byte cap")
            return
        start = _tail_start(fh, size, cap)
        fh.seek(start)
        tailed = f"{TAILED_DIR}/{rel.replace('/', '.')}.tailed"
        whole = self.archive.add_stream(tailed, fh, size - start, mtime)
        self.archive.add_link(rel, tailed, mtime)
        detail = f"last {size - start} of {size} bytes" + ("" if whole else "; shrank while read (end padded)")
        self._record(shown, TAILED, detail, tailed)

    # -- commands ------------------------------------------------------------------------------------
    def _store(self, argv: tuple[str, ...], plugin: str, ran: Ran, subdir: str = "") -> bool:
        assert self.archive is not None
        line = " ".join(argv)
        if ran.output is None:
            self._record(line, NOT_COLLECTED, ran.reason)
            return False
        rel = sos_file(plugin, argv, subdir)
        self.archive.add_bytes(rel, ran.output, self.now.timestamp())
        self._record(line, COLLECTED, ran.reason, rel)
        return True

    def _command(self, argv: tuple[str, ...], plugin: str, subdir: str = "") -> Ran:
        self.say(f"running {' '.join(argv)}")
        ran = self.runner.run(argv)
        self._store(argv, plugin, ran, subdir)
        return ran

    def _host_commands(self) -> None:
        for key, plugin in HOST_COMMANDS:
            ran = self._command(COMMANDS[key].argv, plugin)
            if key == "ip netns" and ran.output is not None:
                self._namespaces(ran.output)

    def _namespaces(self, listing: bytes) -> None:
        names = [line.split()[0] for line in listing.decode("utf-8", "replace").splitlines() if line.strip()]
        for ns in dict.fromkeys(n for n in names if NETNS_NAME.fullmatch(n)):
            for key in NETNS_KEYS:
                variant = NETNS_COMMANDS[key][1][0]
                self._command(("ip", "netns", "exec", ns, *variant.split()), "networking", f"namespaces/{ns}")

    def _containers(self) -> None:
        # The engine whose volumes hold Kolla's logs first; the first that answers `ps -a` is the one Kolla uses
        # (a podman-docker shim would otherwise list every container twice).
        order = sorted(zip(ENGINES, VOLUME_DIRS, strict=True),
                       key=lambda ev: not (self.root / ev[1] / "kolla_logs").is_dir())
        for engine, _volumes in order:
            ps = (engine, *COMMANDS["docker ps -a"].argv[1:])
            if self._command(ps, engine).output is None:
                continue
            listed = self.runner.run((engine, "ps", "-a", "--format", "{{.Names}}"))
            if listed.output is None:
                self._record(f"{engine} inspect", NOT_COLLECTED, f"container names: {listed.reason}")
                return
            names = [n for n in listed.output.decode("utf-8", "replace").split() if _CONTAINER_NAME.fullmatch(n)]
            self.say(f"running {engine} inspect on {len(names)} containers")
            for name in dict.fromkeys(names):
                self._store((engine, "inspect", name), engine, self.runner.run((engine, "inspect", name)),
                            "containers")
            return

    def _record(self, what: str, status: str, detail: str = "", file: str = "") -> None:
        self.items.append(Item(what, status, detail, file))


def _open_tar(fh: IO[bytes], mode: str) -> tarfile.TarFile:
    pax = tarfile.PAX_FORMAT
    if mode == "w:xz":
        # A low preset: logs compress well anyway, and the default one is several times slower.
        return tarfile.open(fileobj=fh, mode="w:xz", preset=3, format=pax)
    if mode == "w:gz":
        return tarfile.open(fileobj=fh, mode="w:gz", format=pax)
    if mode == "w:bz2":
        return tarfile.open(fileobj=fh, mode="w:bz2", format=pax)
    return tarfile.open(fileobj=fh, mode="w", format=pax)


def _tail_start(fh: IO[bytes], size: int, cap: int) -> int:
    """Offset of the kept tail: the last `cap` bytes, moved up to the next line start when one is near."""
    start = size - cap
    fh.seek(start)
    window = fh.read(min(_ALIGN_WINDOW, cap))
    newline = window.find(b"\n")
    if 0 <= newline < len(window) - 1:
        return start + newline + 1
    return start
