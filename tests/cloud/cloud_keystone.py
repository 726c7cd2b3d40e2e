"""A real Keystone for the `cloud` tests: SQLite backend, fernet tokens, served by gunicorn on loopback.

The venv comes from scripts/setup/keystone-venv.sh (built once, cached). Bootstrapping creates the admin
user, project and the identity endpoints; the caller registers the other services afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "setup" / "keystone-venv.sh"
ADMIN_PASSWORD = "s3cret-Adm1n-pw"  # asserted never to appear in stackrx output
REGION = "RegionOne"


class KeystoneUnavailable(RuntimeError):
    """The venv could not be built or the server did not become ready."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keystone_venv() -> Path:
    try:
        out = subprocess.run(["bash", str(SETUP)], check=True, capture_output=True, text=True, timeout=900)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        stderr = getattr(exc, "stderr", "") or ""
        raise KeystoneUnavailable(f"{SETUP.name} failed: {stderr[-2000:]}") from exc
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class Keystone:
    venv: Path
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3/"

    @property
    def conf(self) -> Path:
        return self.workdir / "keystone.conf"

    @property
    def log(self) -> Path:
        return self.workdir / "gunicorn.log"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "OS_KEYSTONE_CONFIG_FILES": str(self.conf), "PYTHONWARNINGS": "ignore"}

    def _manage(self, *args: str) -> None:
        cmd = [str(self.venv / "bin" / "keystone-manage"), "--config-file", str(self.conf), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env=self._env(), timeout=300)
        if done.returncode != 0:
            raise KeystoneUnavailable(f"keystone-manage {args[0]} exited {done.returncode}: {done.stderr[-2000:]}")

    def bootstrap(self) -> None:
        keys = {name: self.workdir / name for name in ("fernet-keys", "receipt-keys", "credential-keys")}
        for path in keys.values():
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.conf.write_text(
            "[DEFAULT]\n"
            f"log_file = {self.workdir / 'keystone.log'}\n"
            "[database]\n"
            f"connection = sqlite:///{self.workdir / 'keystone.db'}\n"
            "[token]\nprovider = fernet\n"
            # Token validation and catalog lookups are cached in-process: each check's calls stay fast.
            "[cache]\nenabled = true\nbackend = oslo_cache.dict\n"
            # bcrypt's cheapest cost: every test authenticates, and hashing is not what is under test.
            "[identity]\npassword_hash_rounds = 4\n"
            f"[fernet_tokens]\nkey_repository = {keys['fernet-keys']}\n"
            f"[fernet_receipts]\nkey_repository = {keys['receipt-keys']}\n"
            f"[credential]\nkey_repository = {keys['credential-keys']}\n"
        )
        self._manage("db_sync")
        self._manage("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
        self._manage("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
        self._manage("bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
                     "--bootstrap-admin-url", self.url, "--bootstrap-internal-url", self.url,
                     "--bootstrap-public-url", self.url, "--bootstrap-region-id", REGION)

    def start(self, ready_timeout: float = 90.0) -> None:
        # One worker: Keystone's in-process cache must not differ between workers; threads serve in parallel.
        cmd = [str(self.venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
               "--threads", "4", "--timeout", "60", "--no-control-socket", "--pythonpath", str(Path(__file__).parent),
               "keystone_wsgi:application"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self._env(),
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KeystoneUnavailable(f"gunicorn exited {self.proc.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise KeystoneUnavailable(f"keystone not ready after {ready_timeout:.0f}s: {self._log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"
