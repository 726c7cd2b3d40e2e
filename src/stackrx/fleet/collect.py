"""SSH collection: one asyncssh connection per host, its evidence saved as a sosreport-shaped tree.

Safety rules:
- Host keys are verified against known_hosts (an explicit file, else ~/.ssh/known_hosts). With
  `accept_new_host_keys` a host that has no entry at all is trusted and recorded (OpenSSH's
  StrictHostKeyChecking=accept-new); a host whose recorded key differs is always refused.
- Only the argv lists of the command allow-list run, each word shell-quoted (`evidence.remote_command`);
  namespace names from `ip netns` must match the namespace-name pattern first. Nothing typed into an
  inventory (host, user) ever becomes part of a command string: it only feeds the connection parameters,
  and it is validated before that (`targets.validate_host`).
- Names the remote side returns (directory listings) never leave the tree being written: a name with a
  `/`, `.` / `..` or a NUL is skipped, and every local path is checked to stay inside the host's directory.
- Every command has a timeout, every host a connect/login timeout and an overall deadline; output and the
  bytes read per host are capped. A failure is the host's result, never the run's.
- Configuration files are saved with secrets masked (`stackrx.redact`), as sos masks them.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

from stackrx import __version__
from stackrx.facts.fleetfacts import NOT_UPLINK_PREFIXES
from stackrx.fleet import evidence
from stackrx.fleet.targets import SshHost
from stackrx.redact import redact
from stackrx.sources.commands import COMMANDS, NETNS_COMMANDS

MAX_OUTPUT = 64 * 1024 * 1024
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class CollectOptions:
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    host_timeout: float = 600.0
    known_hosts: str | None = None
    accept_new_host_keys: bool = False
    identity_files: tuple[str, ...] = ()
    sudo: bool = False
    channels: int = 4
    """Concurrent sessions on one connection (sshd's MaxSessions defaults to 10)."""


@dataclass
class Collected:
    """What one host gave; `status` complete | partial | failed | interrupted."""

    host: SshHost
    root: Path
    status: str = "failed"
    error: str | None = None
    seconds: float = 0.0
    files: int = 0
    bytes: int = 0
    commands: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def meta(self, started: datetime) -> dict[str, Any]:
        return {"tool": "stackrx", "version": __version__, "inventory_name": self.host.name,
                "target": self.host.target, "status": self.status, "error": self.error,
                "started": started.isoformat(), "seconds": round(self.seconds, 3), "files": self.files,
                "bytes": self.bytes, "commands": self.commands, "missing_commands": self.missing,
                "notes": self.notes}


class _Trust(asyncssh.SSHClient):
    """accept-new: trust a host key only when known_hosts has no key at all for that host."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        known = asyncssh.read_known_hosts(str(self.known_hosts))
        trusted = asyncssh.match_known_hosts(known, host, addr, port if port != 22 else None)
        if any(trusted[:3]):
            return False  # a recorded key (or a revocation) that does not match: never replaced silently
        name = host if port == 22 else f"[{host}]:{port}"
        algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
        with self.known_hosts.open("a") as fh:
            fh.write(f"{name} {algorithm} {blob}\n")
        return True


def describe_error(exc: BaseException, opts: CollectOptions) -> str:
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        hint = "" if opts.accept_new_host_keys else " (unknown host: --accept-new-host-keys trusts new hosts)"
        return f"host key not verified: {exc.reason}{hint}; a changed key is never accepted"
    if isinstance(exc, asyncssh.PermissionDenied):
        return f"authentication failed: {exc.reason}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"timed out (connect/login {opts.connect_timeout:g} s, host {opts.host_timeout:g} s)"
    if isinstance(exc, asyncssh.ConnectionLost):
        return f"connection lost: {exc.reason}"
    if isinstance(exc, asyncssh.Error):
        return f"{type(exc).__name__}: {exc.reason}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _inside(root: Path, rel: str) -> Path:
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") or "\x00" in p for p in parts):
        raise ValueError(f"unsafe path {rel!r}")
    dest = root.joinpath(*parts)
    if root.resolve() not in dest.resolve().parents:
        raise ValueError(f"path {rel!r} leaves the tree")
    return dest


def _write(root: Path, rel: str, data: bytes, mtime: float | None = None) -> int:
    dest = _inside(root, rel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if rel.startswith("etc/"):
        data = redact(data.decode("utf-8", errors="replace")).encode()
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    if mtime is not None:
        os.utime(dest, (mtime, mtime))
    return len(data)


class _Host:
    """One host's collection over one connection."""

    def __init__(self, conn: asyncssh.SSHClientConnection, out: Collected, opts: CollectOptions) -> None:
        self.conn = conn
        self.out = out
        self.opts = opts
        self.sudo = opts.sudo or out.host.sudo
        self.sessions = asyncio.Semaphore(opts.channels)
        self.sftp: asyncssh.SFTPClient | None = None
        self.budget = evidence.HOST_BYTE_BUDGET

    # -- commands --------------------------------------------------------------------------------------
    async def run(self, argv: tuple[str, ...], *, sudo: bool | None = None) -> tuple[int | None, bytes]:
        """(exit status, stdout) of one allow-list argv; (None, b"") on timeout."""
        command = evidence.remote_command(argv, self.sudo if sudo is None else sudo)
        async with self.sessions:
            proc = await self.conn.create_process(command, stdin=asyncssh.DEVNULL, stderr=asyncssh.DEVNULL,
                                                  encoding=None)
            chunks: list[bytes] = []
            total = 0
            try:
                async with asyncio.timeout(self.opts.command_timeout):
                    while data := await proc.stdout.read(_CHUNK):
                        total += len(data)
                        if total > MAX_OUTPUT:
                            break
                        chunks.append(data)
                    await proc.wait_closed()
            except TimeoutError:
                proc.close()
                return None, b""
            finally:
                proc.close()
            return proc.exit_status, b"".join(chunks)

    async def command(self, key: str) -> None:
        status, data = await self.run(COMMANDS[key].argv)
        if status is None:
            self.out.missing[key] = f"timed out after {self.opts.command_timeout:g} s"
        elif status != 0 and not data.strip():
            self.out.missing[key] = f"exit status {status}, no output"
        else:
            self.out.bytes += _write(self.out.root, evidence.command_path(key), data)
            self.out.commands.append(key)

    async def netns(self, namespace: str, key: str) -> None:
        status, data = await self.run(evidence.netns_argv(namespace, key))
        if status is not None and (status == 0 or data.strip()):
            self.out.bytes += _write(self.out.root, evidence.netns_path(namespace, key), data)

    async def commands(self) -> None:
        status, data = await self.run(COMMANDS["hostname"].argv)
        if status != 0:
            # An sftp-only account (ForceCommand internal-sftp) or no shell: file evidence only.
            reason = "timed out" if status is None else f"exit status {status}"
            self.out.notes.append(f"commands could not run ({reason}); file evidence only")
            self.out.missing.update({k: f"commands unavailable ({reason})" for k in evidence.COMMAND_KEYS})
            return
        self.out.bytes += _write(self.out.root, evidence.command_path("hostname"), data)
        self.out.bytes += _write(self.out.root, "hostname", data)
        self.out.commands.append("hostname")
        await asyncio.gather(*(self.command(k) for k in evidence.COMMAND_KEYS if k != "hostname"))
        listing = self.out.root / evidence.command_path("ip netns")
        if listing.is_file():
            names = evidence.parse_netns_list(listing.read_text(errors="replace"))
            await asyncio.gather(*(self.netns(ns, key) for ns in names for key in NETNS_COMMANDS))

    # -- files -----------------------------------------------------------------------------------------
    async def _read(self, remote: str, size: int | None, max_bytes: int, tail: bool) -> bytes | None:
        assert self.sftp is not None
        async with self.sftp.open(remote, "rb") as fh:
            if size and size > max_bytes:
                if not tail:
                    self.out.notes.append(f"/{remote.lstrip('/')} skipped: {size} bytes over {max_bytes}")
                    return None
                data: bytes = await fh.read(max_bytes, size - max_bytes)
                return data[data.find(b"\n") + 1:] if b"\n" in data else data
            if size:
                chunk: bytes = await fh.read(min(size, max_bytes))
                return chunk
            # /proc and /sys report size 0: read until EOF.
            parts: list[bytes] = []
            total = 0
            while total < max_bytes:
                part: bytes = await fh.read(min(_CHUNK, max_bytes - total))
                if not part:
                    break
                parts.append(part)
                total += len(part)
            return b"".join(parts)

    async def _sudo_read(self, remote: str, max_bytes: int) -> bytes | None:
        status, data = await self.run(("cat", "--", remote), sudo=True)
        return data[:max_bytes] if status == 0 else None

    async def fetch(self, rel: str, max_bytes: int, tail: bool = False,
                    attrs: asyncssh.SFTPAttrs | None = None) -> None:
        if self.budget <= 0 or self.sftp is None:
            return
        remote = "/" + rel
        try:
            st = attrs or await self.sftp.stat(remote)
            if st.permissions is not None and not stat.S_ISREG(st.permissions):
                return
            # Kernel files report 0 or a page as their size, whatever they hold: read them to EOF.
            size = 0 if rel.startswith(("proc/", "sys/")) else st.size
            async with self.sessions:
                data = await self._read(remote, size, max_bytes, tail)
        except asyncssh.SFTPNoSuchFile:
            return
        except asyncssh.SFTPPermissionDenied:
            if not self.sudo:
                self.out.notes.append(f"{remote}: permission denied (--sudo reads it as root)")
                return
            st = asyncssh.SFTPAttrs()
            data = await self._sudo_read(remote, max_bytes)
        except asyncssh.SFTPError as exc:
            self.out.notes.append(f"{remote}: {exc.reason}")
            return
        if data is None:
            return
        self.budget -= len(data)
        self.out.bytes += _write(self.out.root, rel, data, st.mtime)
        self.out.files += 1

    async def _listing(self, rel: str) -> list[tuple[str, asyncssh.SFTPAttrs]]:
        assert self.sftp is not None
        try:
            names = await self.sftp.readdir("/" + rel)
        except asyncssh.SFTPPermissionDenied:
            if self.sudo:
                return await self._sudo_listing(rel)
            self.out.notes.append(f"/{rel}: permission denied (--sudo reads it as root)")
            return []
        except asyncssh.SFTPError:
            return []
        out: list[tuple[str, asyncssh.SFTPAttrs]] = []
        for entry in names:
            name = entry.filename if isinstance(entry.filename, str) else entry.filename.decode(errors="replace")
            if name in (".", "..") or "/" in name or "\x00" in name:
                continue
            out.append((name, entry.attrs))
        return out

    async def _sudo_listing(self, rel: str) -> list[tuple[str, asyncssh.SFTPAttrs]]:
        status, data = await self.run(("ls", "-1A", "--", "/" + rel), sudo=True)
        if status != 0:
            return []
        return [(n, asyncssh.SFTPAttrs()) for n in data.decode(errors="replace").splitlines()
                if n and n not in (".", "..") and "/" not in n]

    async def tree(self, spec: evidence.Tree, rel: str | None = None, depth: int = 0,
                   seen: list[int] | None = None) -> None:
        rel = rel or spec.path
        seen = seen if seen is not None else [0]
        jobs = []
        for name, attrs in await self._listing(rel):
            child = f"{rel}/{name}"
            mode = attrs.permissions
            if mode is None or stat.S_ISLNK(mode):
                try:
                    attrs = await self.sftp.stat("/" + child) if self.sftp else attrs
                except asyncssh.SFTPError:
                    continue
                if attrs.permissions is not None and stat.S_ISDIR(attrs.permissions):
                    continue  # symlinked directories are not followed (loops, leaving the tree)
                mode = attrs.permissions
            if mode is not None and stat.S_ISDIR(mode):
                if depth + 1 < spec.depth:
                    jobs.append(self.tree(spec, child, depth + 1, seen))
                continue
            if spec.suffixes and not name.endswith(spec.suffixes):
                continue
            seen[0] += 1
            if seen[0] > spec.max_files:
                self.out.notes.append(f"/{spec.path}: more than {spec.max_files} files, the rest skipped")
                break
            jobs.append(self.fetch(child, spec.max_bytes, spec.tail, attrs if mode is not None else None))
        await asyncio.gather(*jobs)

    async def logs(self, spec: evidence.Logs, rel: str | None = None, depth: int = 0) -> None:
        await self.tree(evidence.Tree(rel or spec.path, depth=spec.depth, suffixes=spec.suffixes,
                               max_bytes=spec.tail_bytes, tail=True, max_files=200), None, depth)

    async def sysfs_mtus(self) -> None:
        """Interface MTUs from sysfs when `ip` could not run (file evidence only)."""
        for name, _attrs in await self._listing(evidence.SYSFS_NET):
            if not name.startswith(NOT_UPLINK_PREFIXES):
                await self.fetch(f"{evidence.SYSFS_NET}/{name}/mtu", 64)

    async def files(self) -> None:
        try:
            self.sftp = await self.conn.start_sftp_client()
        except (asyncssh.Error, OSError) as exc:
            self.out.notes.append(f"sftp unavailable ({describe_error(exc, self.opts)}): no file evidence")
            return
        await asyncio.gather(*(self.tree(t) for t in evidence.TREES),
                             *(self.fetch(f.path, f.max_bytes) for f in evidence.FILES),
                             *(self.fetch(f.path, f.max_bytes, tail=True) for f in evidence.LOG_FILES),
                             *(self.logs(spec) for spec in evidence.LOGS))
        await self._instances_users()

    async def _instances_users(self) -> None:
        """nova's compute_nodes file lives in instances_path, which nova.conf may move."""
        from stackrx.checks.compute import instances_path
        from stackrx.errors import MissingEvidence, ParseError
        from stackrx.facts.ini import load_config
        from stackrx.sources.sosreport import SosReportView

        try:
            path, _opt = instances_path(load_config(SosReportView(self.out.root), "nova"))
        except (MissingEvidence, ParseError):
            return
        rel = f"{path.strip('/')}/compute_nodes"
        if not (self.out.root / rel).exists():
            await self.fetch(rel, 1024 * 1024)


async def collect_host(host: SshHost, root: Path, opts: CollectOptions) -> Collected:
    """Collect one host into `root` (created); never raises for the host's own failures."""
    out = Collected(host, root)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    (root / "sos_commands").mkdir(exist_ok=True)
    try:
        async with asyncio.timeout(opts.host_timeout):
            conn = await asyncssh.connect(**_connect_args(host, opts))
            async with conn:
                worker = _Host(conn, out, opts)
                out.status = "partial"
                await asyncio.gather(worker.commands(), worker.files())
                if "ip -d link" not in out.commands and worker.sftp is not None:
                    await worker.sysfs_mtus()
                if conn.is_closed():
                    # The link dropped mid-way: each later read failed into a note, so what is here is partial.
                    out.error = "connection lost during collection"
                elif out.commands or out.files:
                    out.status = "complete"
                else:
                    # No shell and no sftp (e.g. a broken ChrootDirectory): logged in, yet no evidence at all.
                    out.status = "failed"
                    out.error = "nothing collected: " + "; ".join(out.notes)
    except asyncio.CancelledError:
        out.status = "interrupted" if out.status == "partial" else "failed"
        out.error = "interrupted"
        raise
    except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
        out.error = describe_error(exc, opts)
    finally:
        out.seconds = time.monotonic() - t0
        # Written last: its mtime is the collection time when the node's `date` could not run.
        (root / evidence.COLLECT_META).write_text(json.dumps(out.meta(started), indent=1) + "\n")
    return out


def _connect_args(host: SshHost, opts: CollectOptions) -> dict[str, Any]:
    args: dict[str, Any] = {
        "host": host.address, "port": host.port,
        "connect_timeout": opts.connect_timeout, "login_timeout": opts.connect_timeout,
        "keepalive_interval": 15, "keepalive_count_max": 3,
    }
    if host.user:
        args["username"] = host.user
    keys = ((host.key_file,) if host.key_file else ()) + opts.identity_files
    if keys:
        args["client_keys"] = list(keys)
    known = Path(opts.known_hosts).expanduser() if opts.known_hosts else Path("~/.ssh/known_hosts").expanduser()
    if opts.accept_new_host_keys:
        known.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        known.touch(mode=0o600, exist_ok=True)
        args["client_factory"] = lambda: _Trust(known)
        args["known_hosts"] = str(known)
    elif opts.known_hosts:
        args["known_hosts"] = str(known)
    return args
