"""Loopback OpenSSH servers for the fleet tests and bench: chrooted sftp-only nodes, an exec host, a host
killed mid-run (its own PID namespace), a port that accepts and never speaks, a closed port.

Needs /usr/sbin/sshd (Debian `openssh-server`) and root: chroot directories must be root-owned at every
component, so the node trees live under /srv/stackrx-test/<run>/ (never under pytest's tmp_path).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

SSHD = Path("/usr/sbin/sshd")
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
SRV = Path("/srv/stackrx-test")


def available() -> str | None:
    """None when loopback sshd instances can run here, else why not."""
    if not SSHD.is_file():
        return "/usr/sbin/sshd missing (Debian package openssh-server)"
    if os.geteuid() != 0:
        return "needs root (sshd ChrootDirectory, its own host keys)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    name: str
    port: int
    host_key: asyncssh.SSHKey
    proc: subprocess.Popen[bytes]
    chroot: Path | None

    def kill(self) -> None:
        """SIGKILL the whole server (with pid_ns, its sessions die with it)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def known_hosts_line(self, key: asyncssh.SSHKey | None = None) -> str:
        algorithm, blob = (key or self.host_key).export_public_key("openssh").decode().split()[:2]
        return f"[127.0.0.1]:{self.port} {algorithm} {blob}\n"


@dataclass
class SshdLab:
    workdir: Path
    client_key: Path = field(init=False)
    authorized: Path = field(init=False)
    run_root: Path = field(init=False)
    servers: list[Sshd] = field(default_factory=list)
    silent: list[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = self.workdir / "id_ed25519"
        key.write_private_key(str(self.client_key))
        self.client_key.chmod(0o600)
        self.run_root = SRV / uuid.uuid4().hex[:10]
        self.run_root.mkdir(parents=True, mode=0o755)
        for p in (SRV, self.run_root):
            p.chmod(0o755)
        # sshd reads it as the logging-in user: world-readable, outside the root-only temp dir.
        self.authorized = self.run_root / "authorized_keys"
        key.write_public_key(str(self.authorized))
        self.authorized.chmod(0o644)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    USER = "stackrx-fleet"

    def chroot_dir(self, name: str) -> Path:
        """Where a chrooted node's files go (root-owned, 0755 at every level)."""
        path = self.run_root / name
        path.mkdir(mode=0o755, exist_ok=True)
        path.chmod(0o755)
        # sshd checks every component; a bad one only shows as a session dying after login, so say it here.
        for part in (path, *path.parents):
            st = part.stat()
            if st.st_uid != 0 or st.st_mode & 0o022:
                raise RuntimeError(f"{part}: a chroot path component must be root-owned, not group/world-writable")
        return path

    def start(self, name: str, *, chroot: Path | None = None, pid_ns: bool = False) -> Sshd:
        port = free_port()
        conf_dir = self.workdir / f"sshd-{name}"
        conf_dir.mkdir(exist_ok=True)
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        key_path = conf_dir / "host_ed25519"
        host_key.write_private_key(str(key_path))
        key_path.chmod(0o600)
        lines = [f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {key_path}", f"PidFile {conf_dir}/pid",
                 f"AuthorizedKeysFile {self.authorized}", "UsePAM no", "StrictModes no",
                 "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                 "Subsystem sftp internal-sftp", "MaxStartups 200", "MaxSessions 30", "LogLevel ERROR"]
        if chroot is not None:
            lines += [f"ChrootDirectory {chroot}", "ForceCommand internal-sftp"]
        config = conf_dir / "sshd_config"
        config.write_text("\n".join(lines) + "\n")
        argv = [str(SSHD), "-D", "-e", "-f", str(config)]
        if pid_ns:
            argv = [UNSHARE, "--pid", "--fork", "--kill-child", "--mount-proc", *argv]
        log = (conf_dir / "log").open("wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        server = Sshd(name, port, host_key, proc, chroot)
        self.servers.append(server)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd {name} exited: {(conf_dir / 'log').read_text()[-400:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return server
            time.sleep(0.02)
        raise RuntimeError(f"sshd {name} did not listen on {port}")

    def silent_port(self) -> int:
        """A port whose connections are accepted by the kernel and never answered."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        self.silent.append(s)
        return int(s.getsockname()[1])

    def known_hosts(self, path: Path, servers: list[Sshd]) -> Path:
        path.write_text("".join(s.known_hosts_line() for s in servers))
        return path

    def stop(self) -> None:
        for server in self.servers:
            if server.proc.poll() is None:
                server.proc.terminate()
                try:
                    server.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    server.kill()
        for s in self.silent:
            s.close()
        shutil.rmtree(self.run_root, ignore_errors=True)
