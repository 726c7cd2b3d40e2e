"""A Kolla-Ansible host as a host view: container config, log and data volumes seen at their service paths.

Kolla renders each container's files into `/etc/kolla/<container>/` and copies them to the service's own
path inside the container (kolla-ansible `ansible/roles/*/templates/<container>.json.j2`, checked at
1a68181). This view maps them back, so a check reads `etc/nova/nova.conf` on a Kolla node as on any other:

    etc/kolla/nova-compute/nova.conf                     -> etc/nova/nova.conf
    etc/kolla/neutron-openvswitch-agent/openvswitch_agent.ini
                                                         -> etc/neutron/plugins/ml2/openvswitch_agent.ini
    etc/kolla/mariadb/galera.cnf                         -> etc/mysql/my.cnf (Debian/Ubuntu images)
    var/lib/docker/volumes/kolla_logs/_data/<svc>/       -> var/log/<svc>/   (podman: containers/storage)
    var/lib/docker/volumes/mariadb/_data/                -> var/lib/mysql/

When several containers ship the same logical file (nova-api, nova-conductor and nova-compute all have a
nova.conf), the one that runs this node's own role wins: compute-side containers first, then the network
agents, then control-plane services, one-shot bootstrap containers last. A node only carries its role's
containers, so this picks the compute's nova.conf on a compute and the controller's on a controller; the
others stay readable at their raw `etc/kolla/...` paths and are listed by `providers()`.

The view accepts a host root (it contains `etc/kolla/`; every other host file reads through unchanged) or
the `/etc/kolla` directory alone. Commands come only from a side bundle in sos layout (`sos_commands/`);
without one they are missing evidence.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from datetime import datetime
from pathlib import Path

from stackrx.sources.base import HostView, Text
from stackrx.sources.sosreport import SosReportView

# Container directory -> project (the `etc/<project>/` its files land in). A key ending in "-" is a
# prefix; any other key matches that name and its dashed variants. First match wins.
CONTAINER_PROJECTS: tuple[tuple[str, str], ...] = (
    ("nova-libvirt", "libvirt"),
    ("nova-", "nova"),
    ("ironic-neutron-agent", "neutron"),
    ("neutron-", "neutron"),
    ("ceilometer-", "ceilometer"),
    ("aodh-", "aodh"),
    ("gnocchi-", "gnocchi"),
    ("glance-", "glance"),
    ("cinder-", "cinder"),
    ("heat-", "heat"),
    ("keystone", "keystone"),
    ("placement-", "placement"),
    ("octavia-", "octavia"),
    ("barbican-", "barbican"),
    ("designate-", "designate"),
    ("manila-", "manila"),
    ("ironic-", "ironic"),
    ("swift-", "swift"),
    ("mariadb", "mysql"),
    ("rabbitmq", "rabbitmq"),
    ("haproxy", "haproxy"),
    ("keepalived", "keepalived"),
)

# Files whose in-container path is not `etc/<project>/<file>`.
FILE_PATHS: dict[tuple[str, str], str] = {
    **{("neutron", f): f"etc/neutron/plugins/ml2/{f}" for f in (
        "ml2_conf.ini", "openvswitch_agent.ini", "linuxbridge_agent.ini", "sriov_agent.ini", "ovn_agent.ini",
        "ironic_neutron_agent.ini", "eswitchd.conf")},
    ("neutron", "mlnx_agent.ini"): "etc/neutron/plugins/mlnx/mlnx_agent.ini",
    ("mysql", "galera.cnf"): "etc/mysql/my.cnf",
    ("libvirt", "sasl.conf"): "etc/sasl2/libvirt.conf",
}

# The containers that define a node's own role, best first (see the module docstring).
ROLE_CONTAINERS: tuple[str, ...] = (
    "nova-compute", "nova-compute-ironic", "nova-libvirt", "ceilometer-compute",
    "neutron-openvswitch-agent", "neutron-linuxbridge-agent", "neutron-sriov-agent", "neutron-ovn-agent",
    "neutron-ovn-metadata-agent", "neutron-l3-agent", "neutron-dhcp-agent", "neutron-metadata-agent",
)

# Kolla's instructions to its own entrypoint, present in every container dir: not a service file.
_KOLLA_OWN = frozenset({"config.json"})

VOLUME_DIRS = ("var/lib/docker/volumes", "var/lib/containers/storage/volumes")
# Named volume -> where the containers mount it (kolla-ansible role defaults and group_vars).
DATA_VOLUMES: tuple[tuple[str, str], ...] = (
    ("mariadb", "var/lib/mysql"),
    ("nova_compute", "var/lib/nova"),
    ("neutron_metadata_socket", "var/lib/neutron/kolla"),
    ("libvirtd", "var/lib/libvirt"),
    ("nova_libvirt_qemu", "etc/libvirt/qemu"),
    ("openvswitch_db", "var/lib/openvswitch"),
    ("ovn_nb_db", "var/lib/openvswitch/ovn-nb"),
    ("ovn_sb_db", "var/lib/openvswitch/ovn-sb"),
    ("rabbitmq", "var/lib/rabbitmq"),
    ("glance", "var/lib/glance"),
    ("gnocchi", "var/lib/gnocchi"),
    ("cinder", "var/lib/cinder"),
    ("ceilometer", "var/lib/ceilometer"),
    ("aodh", "var/lib/aodh"),
)
# Where per-service log dirs are found, best first: the volume, then a host copy of /var/log/kolla.
LOG_DIRS = (*(f"{base}/kolla_logs/_data" for base in VOLUME_DIRS), "var/log/kolla")


def project_of(container: str) -> str | None:
    if container.endswith("-ssh"):
        return None  # sshd for migration / key sync: its sshd_config is not the service's
    for key, project in CONTAINER_PROJECTS:
        if key.endswith("-"):
            if container.startswith(key):
                return project
        elif container == key or container.startswith(key + "-"):
            return project
    return None


def logical_path(container: str, name: str) -> str | None:
    """Where `etc/kolla/<container>/<name>` is seen inside the container, relative to its root."""
    project = project_of(container)
    if project is None or name in _KOLLA_OWN:
        return None
    return FILE_PATHS.get((project, name), f"etc/{project}/{name}")


def _rank(container: str) -> tuple[int, int, str]:
    if container in ROLE_CONTAINERS:
        return (0, ROLE_CONTAINERS.index(container), container)
    return (2 if container.endswith("-bootstrap") else 1, 0, container)


def _config_dir(path: Path) -> Path | None:
    if (path / "etc" / "kolla").is_dir():
        return path / "etc" / "kolla"
    try:
        children = list(path.iterdir())
    except OSError:
        return None
    for child in children:
        if child.is_dir() and project_of(child.name) is not None:
            try:
                if any(f.is_file() and f.name not in _KOLLA_OWN for f in child.iterdir()):
                    return path
            except OSError:
                continue
    return None


def looks_like_kolla(path: Path) -> bool:
    """A host root holding etc/kolla/, or an /etc/kolla dir itself (nova-compute/nova.conf, ...)."""
    return _config_dir(path) is not None


class KollaView(HostView):
    kind = "kolla"

    def __init__(self, root: Path, target: str | None = None) -> None:
        super().__init__(target or str(root))
        self.root = root.resolve()
        config = _config_dir(self.root)
        self.host_mode = (self.root / "etc" / "kolla").is_dir()
        self._sos = SosReportView(self.root)
        self._has_sos = (self.root / "sos_commands").is_dir()
        self._files: dict[str, list[Path]] = {}
        self._mounts: dict[str, Path] = {}
        if config is not None:
            self._map_config(config)
            # The raw container files stay readable at etc/kolla/... whichever way the tree was given.
            self._mounts.setdefault("etc/kolla", config)
        if self.host_mode:
            self._map_volumes()
        self._virtual: set[str] = {""}
        for key in (*self._files, *self._mounts):
            parts = key.split("/")
            self._virtual.update("/".join(parts[:i]) for i in range(1, len(parts)))

    # -- the map -----------------------------------------------------------------
    def _map_config(self, config: Path) -> None:
        containers = sorted((d for d in config.iterdir() if d.is_dir() and project_of(d.name)),
                            key=lambda d: _rank(d.name))
        for cdir in containers:
            for entry in sorted(cdir.iterdir()):
                logical = logical_path(cdir.name, entry.name)
                if logical is None:
                    continue
                if entry.is_dir():
                    self._mounts.setdefault(logical, entry)
                else:
                    self._files.setdefault(logical, []).append(entry)

    def _map_volumes(self) -> None:
        for base in VOLUME_DIRS:
            for volume, logical in DATA_VOLUMES:
                data = self.root / base / volume / "_data"
                if data.is_dir():
                    self._mounts.setdefault(logical, data)
        for logs in LOG_DIRS:
            real = self._inside(self.root / logs)
            if real is None or not real.is_dir():
                continue
            for svc in sorted(real.iterdir()):
                if svc.is_dir():
                    self._mounts.setdefault(f"var/log/{svc.name}", svc)

    def providers(self, path: str) -> list[str]:
        """Every container file behind a logical path (`etc/kolla/<container>/<file>`), the one read first."""
        return [f"etc/kolla/{real.parent.name}/{real.name}" for real in self._files.get(_norm(path) or "", [])
                if self._inside(real)]

    # -- paths -------------------------------------------------------------------
    def _inside(self, real: Path) -> Path | None:
        try:
            resolved = real.resolve()
        except (OSError, RuntimeError):
            return None
        if resolved != self.root and self.root not in resolved.parents:
            return None  # a link that leaves the tree is treated as absent
        return resolved if resolved.exists() else None

    def _rel(self, real: Path) -> str:
        return real.relative_to(self.root).as_posix()

    def _mount_for(self, path: str) -> tuple[str, Path] | None:
        hits = [(p, real) for p, real in self._mounts.items() if path == p or path.startswith(p + "/")]
        return max(hits, key=lambda hit: len(hit[0]), default=None)

    def resolve(self, path: str) -> Path | None:
        norm = _norm(path)
        if norm is None:
            return None
        for real in self._files.get(norm, []):
            found = self._inside(real)
            if found is not None:
                return found
        mount = self._mount_for(norm)
        if mount is not None:
            prefix, real = mount
            return self._inside(real / norm[len(prefix):].lstrip("/"))
        if self.host_mode and norm:
            return self._inside(self.root / norm)
        return None

    def exists(self, path: str) -> bool:
        return _norm(path) in self._virtual or self.resolve(path) is not None

    def is_dir(self, path: str) -> bool:
        if _norm(path) in self._virtual:
            return True
        real = self.resolve(path)
        return real is not None and real.is_dir()

    def listdir(self, path: str) -> list[str]:
        norm = _norm(path)
        if norm is None:
            return []
        names: set[str] = set()
        lead = f"{norm}/" if norm else ""
        for key in (*self._files, *self._mounts):
            if key.startswith(lead) and key != norm:
                names.add(key[len(lead):].split("/", 1)[0])
        real = self.resolve(norm) if norm else (self.root if self.host_mode else None)
        if real is not None and real.is_dir():
            with suppress(OSError):
                names.update(p.name for p in real.iterdir())
        return sorted(n for n in names if self.exists(f"{lead}{n}"))

    def glob(self, pattern: str) -> list[str]:
        pattern = pattern.strip("/")
        rx = glob_regex(pattern)
        head = _literal_head(pattern)
        found: set[str] = {p for p in (*self._files, *self._virtual) if p}
        for prefix, real in self._mounts.items():
            segs = prefix.split("/")
            if segs[: len(head)] != head[: len(segs)]:
                continue
            found.add(prefix)
            for dirpath, dirnames, filenames in os.walk(real):
                rel = Path(dirpath).relative_to(real).as_posix()
                base = prefix if rel == "." else f"{prefix}/{rel}"
                found.update(f"{base}/{n}" for n in (*dirnames, *filenames))
        if self.host_mode:
            with suppress(OSError, ValueError):
                found.update(self._rel(p) for p in self.root.glob(pattern))
        return sorted(p for p in found if rx.fullmatch(p) and self.exists(p))

    def source_name(self, path: str) -> str:
        real = self.resolve(path)
        return self._rel(real) if real is not None else path.lstrip("/")

    # -- commands (only from a side bundle in sos layout) ------------------------
    def command(self, key: str) -> Text | None:
        return self._sos.command(key) if self._has_sos else None

    def netns_command(self, namespace: str, key: str) -> Text | None:
        return self._sos.netns_command(namespace, key) if self._has_sos else None

    def namespaces(self) -> list[str]:
        return self._sos.namespaces() if self._has_sos else []

    # -- identity ----------------------------------------------------------------
    def hostname(self) -> str:
        for rel in _HOSTNAME_FILES:
            text = self._sos.read_text(rel)
            if text and text.content.strip():
                return text.content.split()[0]
        # An /etc/kolla copied as <host>/etc/kolla: the host directory names the node.
        if not self.host_mode and self.root.name == "kolla" and self.root.parent.name == "etc":
            return self.root.parent.parent.name
        return self.root.name

    def collected_at(self) -> datetime | None:
        return self._sos.collected_at()


_HOSTNAME_FILES = ("hostname", "sos_commands/host/hostname", "sos_commands/general/hostname", "etc/hostname")


def _norm(path: str) -> str | None:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


def _literal_head(pattern: str) -> list[str]:
    head: list[str] = []
    for seg in pattern.split("/"):
        if any(c in seg for c in "*?["):
            break
        head.append(seg)
    return head


def glob_regex(pattern: str) -> re.Pattern[str]:
    """pathlib-style glob as a regex over logical paths: `*` `?` `[...]` stay in a segment, `**` spans any."""
    segs = pattern.strip("/").split("/")
    out: list[str] = []
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        out.append(_segment_regex(seg) + ("" if last else "/"))
    return re.compile("".join(out))


def _segment_regex(seg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := seg.find("]", i + 2)) != -1:
            body = seg[i + 1 : end].replace("\\", "\\\\")
            neg = body.startswith("!")
            body = body[1:] if neg else body
            if body.startswith("^"):
                body = "\\" + body
            out.append(("[^" if neg else "[") + body + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
