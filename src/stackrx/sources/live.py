"""The host this runs on, read-only.

Files are read in place (`etc/x` is `/etc/x`). Commands are only the argv lists of the allow-list in
`stackrx.sources.commands`, run without a shell, with `LC_ALL=C` and a timeout; whatever cannot run
(binary missing, timeout, failure without output) is missing evidence, never an error. When a command is
not installed but the kernel exposes the same data in /proc, the view renders that data in the command's
own format so the same parsers apply (`sysctl -a` from /proc/sys, `lsmod` from /proc/modules...).

`root` relocates files and those /proc fallbacks (for tests); commands always run on this host.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stackrx.sources import commands
from stackrx.sources.base import MAX_TEXT_BYTES, HostView, Text

# What `ip netns` accepts and neutron creates (qrouter-<uuid>, fip-, snat-, qdhcp-, ovnmeta-): no leading
# dash, so a name can never be taken for an option of `ip netns exec`.
NETNS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}")
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")
_PROC_VALUE_BYTES = 1024 * 1024
# procps leaves these (superseded by the *_ms variants) out of `sysctl -a`.
_SYSCTL_DEPRECATED = frozenset({"base_reachable_time", "retrans_time"})


class LiveView(HostView):
    kind = "live"

    def __init__(self, root: Path | str = "/", *, timeout: float | None = None) -> None:
        self.root = Path(root).resolve()
        super().__init__("live" if self.root == Path("/") else f"live:{self.root}")
        self.timeout = commands.COMMAND_TIMEOUT_S if timeout is None else timeout
        self._started = datetime.now(UTC)
        self._outputs: dict[str, Text | None] = {}
        self._netns_outputs: dict[tuple[str, str], Text | None] = {}
        path = os.environ.get("PATH", "").split(os.pathsep)
        # Diagnostic tools (ip, sysctl, ovs-vsctl) live in sbin, which a non-login PATH often lacks.
        self._path = os.pathsep.join(dict.fromkeys([p for p in path if p] + list(_SBIN)))

    # -- files -----------------------------------------------------------------
    def _inside(self, path: str) -> Path | None:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            return None
        real = self.root.joinpath(*parts)
        try:
            resolved = real.resolve()
        except (OSError, RuntimeError):
            return None
        if resolved != self.root and self.root not in resolved.parents:
            return None
        return real if resolved.exists() else None

    def resolve(self, path: str) -> Path | None:
        return self._inside(path)

    def glob(self, pattern: str) -> list[str]:
        out: list[str] = []
        try:
            for real in self.root.glob(pattern.lstrip("/")):
                rel = real.relative_to(self.root).as_posix()
                if self._inside(rel) is not None:
                    out.append(rel)
        except OSError:
            pass
        return sorted(out)

    def source_name(self, path: str) -> str:
        return str(self.root.joinpath(path.lstrip("/")))

    # -- commands --------------------------------------------------------------
    def command(self, key: str) -> Text | None:
        spec = commands.COMMANDS.get(key)
        if spec is None:
            raise KeyError(f"unknown logical command {key!r}")
        if key not in self._outputs:
            text = self._run(spec.argv)
            if text is None and key in _FALLBACKS:
                text = _FALLBACKS[key](self)
            self._outputs[key] = text
        return self._outputs[key]

    def namespaces(self) -> list[str]:
        names: set[str] = set()
        listing = self.command("ip netns")
        if listing is not None:
            names.update(line.split()[0] for line in listing.lines() if line.strip())
        names.update(self.listdir("run/netns"))
        return sorted(n for n in names if NETNS_NAME.fullmatch(n))

    def netns_command(self, namespace: str, key: str) -> Text | None:
        spec = commands.NETNS_COMMANDS.get(key)
        if spec is None:
            raise KeyError(f"unknown namespace command {key!r}")
        if not NETNS_NAME.fullmatch(namespace) or namespace not in self.namespaces():
            return None
        ident = (namespace, key)
        if ident not in self._netns_outputs:
            self._netns_outputs[ident] = self._run(("ip", "netns", "exec", namespace, *spec[0]))
        return self._netns_outputs[ident]

    def _run(self, argv: tuple[str, ...]) -> Text | None:
        ran = run_bounded(argv, self._path, self.timeout)
        if ran.output is None:
            return None
        return Text(f"cmd:{shlex.join(argv)}", ran.output.decode("utf-8", errors="replace"))

    # -- identity --------------------------------------------------------------
    def hostname(self) -> str:
        name = socket.gethostname().strip()
        if name:
            return name
        text = self.read_text("etc/hostname")
        if text is not None and text.content.strip():
            return text.content.split()[0]
        return "localhost"

    def collected_at(self) -> datetime:
        """When this view was opened: one instant for every check's log window."""
        return self._started


@dataclass(frozen=True)
class Ran:
    """A command's output (None when it is missing, could not start, timed out or failed silently) and why."""

    output: bytes | None
    reason: str = ""


def run_bounded(argv: tuple[str, ...], path: str, timeout: float, env: dict[str, str] | None = None) -> Ran:
    """Run an allow-listed argv without a shell: LC_ALL=C, a timeout, at most MAX_TEXT_BYTES of output kept."""
    exe = shutil.which(argv[0], path=path)
    if exe is None:
        return Ran(None, f"{argv[0]} not found on PATH")
    full_env = dict(os.environ, LC_ALL="C", LANG="C", PATH=path, **(env or {}))
    # Output goes to files, not pipes: memory stays bounded, and a grandchild that keeps a pipe open
    # cannot make us wait past the timeout.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen([exe, *argv[1:]], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=full_env, start_new_session=True)
        except OSError as exc:
            return Ran(None, f"cannot run {argv[0]}: {exc.strerror or exc}")
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return Ran(None, f"timed out after {timeout:g}s")
        out.seek(0)
        data = out.read(MAX_TEXT_BYTES)
        err.seek(0)
        first = err.read(4096).decode("utf-8", errors="replace").strip().splitlines()
    if code != 0 and not data.strip():
        why = first[0] if first else "no output"
        return Ran(None, f"exit {code}: {why}"[:300])
    return Ran(data, f"exit {code}" if code else "")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


# -- /proc renderings of commands that are not installed --------------------------
def _sysctl_from_proc(view: LiveView) -> Text | None:
    """`sysctl -a` format: `key = value`, dotted keys (a dot inside a name, as in eth0.100, shown as `/`)."""
    base = view.root / "proc" / "sys"
    if not base.is_dir():
        return None
    lines: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        rel = Path(dirpath).relative_to(base).parts
        for fname in sorted(filenames):
            if fname in _SYSCTL_DEPRECATED:
                continue
            try:
                with open(os.path.join(dirpath, fname), "rb") as fh:
                    raw = fh.read(_PROC_VALUE_BYTES)
            except OSError:
                continue  # write-only (route.flush) or unreadable (stable_secret): sysctl skips them too
            key = ".".join(p.replace(".", "/") for p in (*rel, fname))
            values = raw.decode("utf-8", errors="replace").splitlines() or [""]
            lines.extend(f"{key} = {v}" for v in values)
    return Text(str(base), "\n".join(lines) + "\n") if lines else None


def _lsmod_from_proc(view: LiveView) -> Text | None:
    text = _read_proc(view, "proc/modules")
    if text is None:
        return None
    lines = ["Module                  Size  Used by"]
    for row in text.lines():
        fields = row.split()
        if len(fields) < 4:
            continue
        name, size, refs, users = fields[:4]
        line = f"{name:<19} {size:>8}  {refs}"
        holders = "" if users == "-" else users.strip(",")
        lines.append(f"{line} {holders}" if holders else line)
    return Text(text.source, "\n".join(lines) + "\n")


def _uname(view: LiveView) -> Text | None:
    u = os.uname()
    return Text("os.uname()", f"{u.sysname} {u.nodename} {u.release} {u.version} {u.machine} GNU/Linux\n")


def _hostname(view: LiveView) -> Text | None:
    return Text("socket.gethostname()", view.hostname() + "\n")


def _date(view: LiveView) -> Text | None:
    return Text("clock", view.collected_at().strftime("%Y-%m-%d %H:%M:%S+00:00") + "\n")


def _netns_from_run(view: LiveView) -> Text | None:
    # `ip` creates /run/netns with the first namespace: without it there are none to list.
    names = [n for n in view.listdir("run/netns") if NETNS_NAME.fullmatch(n)]
    return Text(view.source_name("run/netns"), "".join(f"{n}\n" for n in names))


_OCTAL = re.compile(r"\\([0-7]{3})")


def _mount_from_proc(view: LiveView) -> Text | None:
    """`mount -l` format (`SRC on DIR type FS (OPTS)`) from /proc/self/mounts, octal escapes decoded."""
    text = _read_proc(view, "proc/self/mounts")
    if text is None:
        return None
    lines = []
    for row in text.lines():
        fields = [_OCTAL.sub(lambda m: chr(int(m.group(1), 8)), f) for f in row.split()]
        if len(fields) >= 4:
            lines.append(f"{fields[0]} on {fields[1]} type {fields[2]} ({fields[3]})")
    return Text(text.source, "\n".join(lines) + "\n")


# /proc/net/stat/nf_conntrack column → the name `conntrack -S` prints for it, in its order.
_CONNTRACK_STATS = (("found", "found"), ("invalid", "invalid"), ("ignore", "ignore"), ("insert", "insert"),
                    ("insert_failed", "insert_failed"), ("drop", "drop"), ("early_drop", "early_drop"),
                    ("icmp_error", "error"), ("search_restart", "search_restart"))


def _conntrack_from_proc(view: LiveView) -> Text | None:
    """`conntrack -S` per-CPU lines from the kernel's hex table (conntrack-tools is often not installed)."""
    text = _read_proc(view, "proc/net/stat/nf_conntrack")
    if text is None:
        return None
    rows = text.lines()
    if not rows:
        return None
    header = rows[0].split()
    lines = []
    for cpu, row in enumerate(rows[1:]):
        try:
            values = dict(zip(header, (int(v, 16) for v in row.split()), strict=True))
        except ValueError:
            continue
        stats = " ".join(f"{shown}={values[col]}" for col, shown in _CONNTRACK_STATS if col in values)
        lines.append(f"cpu={cpu:<4}\t{stats} ")
    return Text(text.source, "\n".join(lines) + "\n") if lines else None


def _read_proc(view: LiveView, path: str) -> Text | None:
    text = view.read_text(path)
    return text if text is not None and text.content.strip() else None


_FALLBACKS: dict[str, Callable[[LiveView], Text | None]] = {
    "sysctl -a": _sysctl_from_proc,
    "lsmod": _lsmod_from_proc,
    "uname -a": _uname,
    "hostname": _hostname,
    "date": _date,
    "ip netns": _netns_from_run,
    "mount -l": _mount_from_proc,
    "conntrack -S": _conntrack_from_proc,
}
