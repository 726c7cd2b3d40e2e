"""What `stackrx fleet TARGETS...` was pointed at, resolved into SSH hosts, node trees and JSON results.

A target is one of:
- an Ansible inventory (INI, YAML, a directory with group_vars/host_vars, or an inventory script), read with
  `ansible-inventory -i INV --list`, ansible-core's documented JSON interface (`_meta.hostvars`, group vars
  merged): `ansible_host`, `ansible_port`, `ansible_user`, `ansible_ssh_private_key_file`,
  `ansible_connection` (ssh / smart / paramiko, or local: this host, scanned live), `ansible_become`
  (sudo -n for files only root can read);
- a host list file, one `[user@]host[:port]` per line (`[v6addr]:port` for IPv6, `#` comments);
- a directory of nodes: sosreport directories, tarballs, Kolla trees, trees saved by `--save`, and/or
  per-node JSON results of `stackrx scan --format json` (one directory may mix them);
- one sosreport directory, tarball or JSON result.

Host names, addresses and users from inventories are validated (`validate_host`): an entry that does not
look like a host name or an IP address, or a user name with shell syntax, is refused and reported as that
host's error; it is never used, neither for a connection nor anywhere else.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stackrx.errors import UsageError
from stackrx.fleet.evidence import COLLECT_META
from stackrx.sources import TARBALL_SUFFIXES
from stackrx.sources.sosreport import looks_like_sosreport

_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,251}[A-Za-z0-9_])?$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
# `[user@]host[:port]`; IPv6 in brackets when a port follows. Broad on purpose: what it lets through is
# judged by validate_host and reported, so a typo shows up as that host's error, not as a silent skip.
_HOST_LINE = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[0-9A-Fa-f.%]*:[0-9A-Fa-f:.%]*)\]"
                        r"|(?P<host>[^:\s\[\]]+|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*))(?::(?P<port>\d{1,5}))?$")
_SSH_CONNECTIONS = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh",
                              "ansible.builtin.paramiko_ssh"})
_LOCAL_CONNECTIONS = frozenset({"local", "ansible.builtin.local"})
INVENTORY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class SshHost:
    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    sudo: bool = False
    groups: tuple[str, ...] = ()
    connection: str = "ssh"
    """ssh, or local (this host, read in place)."""
    error: str | None = None
    """Why this entry is refused; it is then reported, never contacted."""

    @property
    def target(self) -> str:
        if self.connection == "local":
            return "local"
        user = f"{self.user}@" if self.user else ""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"ssh://{user}{address}:{self.port}"


@dataclass
class Plan:
    ssh: list[SshHost] = field(default_factory=list)
    trees: list[Path] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ssh) + len(self.trees) + len(self.reports)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    return True


def validate_host(host: SshHost) -> SshHost:
    """The entry, or the entry with `error` set when a field could smuggle syntax into anything."""
    if host.connection == "local":
        return host
    if host.connection not in _SSH_CONNECTIONS:
        return replace(host, error=f"ansible_connection {host.connection!r} is not supported (ssh or local)")
    if "{{" in host.address or (host.user and "{{" in host.user):
        return replace(host, error="templated ansible_host/ansible_user: render the inventory first")
    if not (_HOSTNAME.match(host.address) or _is_address(host.address)):
        return replace(host, error=f"refused: {host.address!r} is neither a host name nor an IP address")
    if host.user is not None and not _USER.match(host.user):
        return replace(host, error=f"refused: {host.user!r} is not a valid user name")
    if not 0 < host.port < 65536:
        return replace(host, error=f"refused: port {host.port} out of range")
    return host


def parse_host_line(line: str) -> SshHost | None:
    m = _HOST_LINE.match(line.strip())
    if m is None:
        return None
    address = m.group("v6") or m.group("host")
    port = int(m.group("port")) if m.group("port") else 22
    shown = f"[{address}]" if ":" in address else address
    name = f"{shown}:{port}" if m.group("port") else address
    return SshHost(name=name, address=address, port=port, user=m.group("user"))


def parse_host_list(text: str, source: str) -> list[SshHost]:
    """`[user@]host[:port]` per line; a line that is not one is an error naming the file and line."""
    hosts: list[SshHost] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        host = parse_host_line(line)
        if host is None:
            raise UsageError(f"{source}:{lineno}: not `[user@]host[:port]`: {line[:80]!r}")
        hosts.append(validate_host(host))
    return hosts


def _looks_like_host_list(text: str) -> bool:
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    return bool(lines) and all(parse_host_line(ln) is not None for ln in lines)


def _ansible_inventory_exe() -> str:
    found = shutil.which("ansible-inventory")
    if found:
        return found
    sibling = Path(sys.executable).with_name("ansible-inventory")
    if sibling.is_file():
        return str(sibling)
    raise UsageError("reading an Ansible inventory needs ansible-core (`pip install 'ansible-core>=2.19,<2.20'`); "
                     "or give a plain host list file, one [user@]host[:port] per line")


def load_ansible_inventory(path: Path) -> list[SshHost]:
    with tempfile.TemporaryDirectory(prefix="stackrx-ansible-") as tmp:
        env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="True", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCAL_TEMP=tmp, ANSIBLE_DEPRECATION_WARNINGS="False")
        try:
            proc = subprocess.run([_ansible_inventory_exe(), "-i", str(path), "--list"], capture_output=True,
                                  text=True, timeout=INVENTORY_TIMEOUT_S, env=env, stdin=subprocess.DEVNULL,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise UsageError(f"{path}: ansible-inventory did not answer within {INVENTORY_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot run ansible-inventory: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "ERROR" in ln), lines[0] if lines else f"exit {proc.returncode}")
        raise UsageError(f"{path}: ansible-inventory failed: {reason[:300]}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise UsageError(f"{path}: ansible-inventory printed no JSON") from None
    return hosts_from_inventory(data)


def _groups_of(data: dict[str, Any]) -> dict[str, list[str]]:
    """host -> every group containing it, nested groups resolved from `all` down."""
    out: dict[str, list[str]] = {}

    def walk(group: str, trail: tuple[str, ...]) -> None:
        if group in trail:
            return
        body = data.get(group) or {}
        for host in body.get("hosts") or ():
            out.setdefault(host, [])
            out[host].extend(g for g in (*trail, group) if g not in out[host] and g != "all")
        for child in body.get("children") or ():
            walk(child, (*trail, group))

    walk("all", ())
    for host in (data.get("_meta") or {}).get("hostvars") or {}:
        out.setdefault(host, [])
    return out


def hosts_from_inventory(data: dict[str, Any]) -> list[SshHost]:
    hostvars: dict[str, dict[str, Any]] = (data.get("_meta") or {}).get("hostvars") or {}
    hosts: list[SshHost] = []
    for name, groups in sorted(_groups_of(data).items()):
        v = hostvars.get(name) or {}

        def first(*keys: str, default: Any = None, v: dict[str, Any] = v) -> Any:
            return next((v[k] for k in keys if v.get(k) not in (None, "")), default)

        connection = str(first("ansible_connection", default="ssh"))
        key = first("ansible_ssh_private_key_file", "ansible_private_key_file")
        try:
            port = int(first("ansible_port", "ansible_ssh_port", default=22))
        except (TypeError, ValueError):
            hosts.append(SshHost(name=name, address=name, groups=tuple(groups),
                                 error=f"ansible_port {first('ansible_port', 'ansible_ssh_port')!r} is not a number"))
            continue
        become = str(first("ansible_become", default="false")).lower() in ("true", "yes", "1", "on")
        method = str(first("ansible_become_method", default="sudo"))
        host = SshHost(
            name=name,
            address=str(first("ansible_host", "ansible_ssh_host", default=name)),
            port=port,
            user=None if first("ansible_user", "ansible_ssh_user") is None else str(first("ansible_user",
                                                                                          "ansible_ssh_user")),
            key_file=str(Path(str(key)).expanduser()) if key else None,
            sudo=become and method == "sudo",
            groups=tuple(groups),
            connection="local" if connection in _LOCAL_CONNECTIONS else connection,
        )
        hosts.append(validate_host(host))
    return hosts


def limit_hosts(hosts: Iterable[SshHost], patterns: Iterable[str]) -> list[SshHost]:
    """Ansible-style --limit: host names or group names, shell wildcards allowed, `!x` excludes."""
    wanted = [p for p in patterns if p and not p.startswith("!")]
    excluded = [p[1:] for p in patterns if p.startswith("!")]

    def match(host: SshHost, pats: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(n, p) for p in pats for n in (host.name, *host.groups))

    return [h for h in hosts if (not wanted or match(h, wanted)) and not match(h, excluded)]


def _node_dir(path: Path) -> bool:
    return looks_like_sosreport(path) or (path / "etc" / "kolla").is_dir() or (path / COLLECT_META).is_file()


def _inventory_dir(path: Path) -> bool:
    return (path / "group_vars").is_dir() or (path / "host_vars").is_dir()


def resolve(targets: Iterable[str], limit: Iterable[str] = ()) -> Plan:
    plan = Plan()
    for target in targets:
        path = Path(target)
        if not path.exists():
            raise UsageError(f"{target}: no such file or directory")
        if path.is_dir():
            if _node_dir(path):
                plan.trees.append(path)
            elif _inventory_dir(path):
                plan.ssh.extend(load_ansible_inventory(path))
            else:
                _scan_directory(path, plan)
        elif path.name.endswith(TARBALL_SUFFIXES):
            plan.trees.append(path)
        elif path.suffix == ".json":
            plan.reports.append(path)
        else:
            plan.ssh.extend(_hosts_file(path))
    patterns = list(limit)
    if patterns:
        plan.ssh = limit_hosts(plan.ssh, patterns)
    seen: set[str] = set()
    unique: list[SshHost] = []
    for host in plan.ssh:
        if host.name not in seen:
            seen.add(host.name)
            unique.append(host)
    plan.ssh = unique
    if not len(plan):
        raise UsageError("no host to look at" + (f" (--limit {','.join(patterns)} matched none)" if patterns else ""))
    return plan


def _scan_directory(path: Path, plan: Plan) -> None:
    before = len(plan)
    for child in sorted(path.iterdir()):
        if (child.is_dir() and _node_dir(child)) or (child.is_file() and child.name.endswith(TARBALL_SUFFIXES)):
            plan.trees.append(child)
        elif child.is_file() and child.suffix == ".json":
            plan.reports.append(child)
    if len(plan) == before:
        raise UsageError(f"{path}: no sosreport directories, tarballs or JSON results inside (and not an "
                         "Ansible inventory directory with group_vars/ or host_vars/)")


def _hosts_file(path: Path) -> list[SshHost]:
    executable = os.access(path, os.X_OK)
    if not executable and path.suffix not in (".yml", ".yaml", ".ini", ".cfg"):
        try:
            text = path.read_text(errors="replace")[: 8 * 1024 * 1024]
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror or exc}") from None
        if _looks_like_host_list(text):
            return parse_host_list(text, str(path))
    return load_ansible_inventory(path)
