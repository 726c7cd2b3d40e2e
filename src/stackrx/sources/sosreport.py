"""A sosreport directory as a host view (also the base of extracted tarballs and saved fleet trees)."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from stackrx.sources.base import HostView, Text
from stackrx.sources.commands import COMMANDS, NETNS_COMMANDS, mangle

_NS_FILE = re.compile(r"^ip_netns_exec_(?P<ns>[\w.\-]+?)_(?:ip|sysctl|iptables|ip6tables|ss|netstat|conntrack)[_-]")


def looks_like_sosreport(root: Path) -> bool:
    return (root / "sos_commands").is_dir() or (root / "sos_reports").is_dir()


class SosReportView(HostView):
    kind = "sosreport"

    def __init__(self, root: Path, target: str | None = None) -> None:
        super().__init__(target or str(root))
        self.root = root.resolve()

    # -- paths -----------------------------------------------------------------
    def _inside(self, real: Path) -> Path | None:
        try:
            resolved = real.resolve()
        except (OSError, RuntimeError):
            return None
        if resolved != self.root and self.root not in resolved.parents:
            return None  # a link that leaves the report is treated as absent
        return resolved if resolved.exists() else None

    def resolve(self, path: str) -> Path | None:
        path = path.lstrip("/")
        real = self._inside(self.root / path)
        if real is not None:
            return self._follow_pointer(real) if "/" not in path else real
        return self._tailed(path)

    def _follow_pointer(self, real: Path) -> Path:
        """Top-level names like `df` may be a link or, in copied trees, a file holding the link target."""
        try:
            if real.is_file() and real.stat().st_size < 256:
                target = real.read_text(errors="replace").strip()
                if target.startswith("sos_commands/") and "\n" not in target:
                    pointed = self._inside(self.root / target)
                    if pointed is not None and pointed.is_file():
                        return pointed
        except OSError:
            pass
        return real

    def _tailed(self, path: str) -> Path | None:
        """sos keeps only the tail of big files, under `sos_strings/<plugin>/<a.b.c>.tailed`."""
        strings = self.root / "sos_strings"
        if not strings.is_dir():
            return None
        flat = path.replace("/", ".") + ".tailed"
        for plugin in sorted(strings.iterdir()):
            cand = self._inside(plugin / flat)
            if cand is not None:
                return cand
        return None

    def glob(self, pattern: str) -> list[str]:
        out: list[str] = []
        for real in self.root.glob(pattern.lstrip("/")):
            if self._inside(real) is not None:
                out.append(real.relative_to(self.root).as_posix())
        return sorted(out)

    def source_name(self, path: str) -> str:
        real = self.resolve(path)
        if real is not None:
            try:
                return real.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return path.lstrip("/")

    # -- commands --------------------------------------------------------------
    @cached_property
    def _manifest(self) -> dict[str, str]:
        """Command string → file, from `sos_reports/manifest.json` (sos ≥ 4)."""
        path = self.root / "sos_reports" / "manifest.json"
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(errors="replace"))
        except (OSError, ValueError):
            return {}
        out: dict[str, str] = {}
        plugins: object = data
        for level in ("components", "report", "plugins"):
            plugins = plugins.get(level) if isinstance(plugins, dict) else None
        if not isinstance(plugins, dict):
            return {}
        for plugin in plugins.values():
            commands = plugin.get("commands") if isinstance(plugin, dict) else None
            for cmd in commands if isinstance(commands, list) else []:
                if isinstance(cmd, dict) and isinstance(cmd.get("exec"), str) and isinstance(cmd.get("filepath"), str):
                    out[" ".join(mangle(cmd["exec"]).split())] = cmd["filepath"]
        return out

    def _command_file(self, key: str) -> str | None:
        spec = COMMANDS.get(key)
        if spec is None:
            raise KeyError(f"unknown logical command {key!r}")
        for glob in spec.sos:
            name = glob.rsplit("/", 1)[-1]
            if name in self._manifest and self.exists(self._manifest[name]):
                return self._manifest[name]
            hits = [h for h in self.glob(glob) if self.resolve(h) is not None and not self.is_dir(h)]
            if hits:
                return hits[0]
        for link in spec.root_links:
            real = self.resolve(link)
            if real is not None and real.is_file():
                return real.relative_to(self.root).as_posix()
        return None

    def command(self, key: str) -> Text | None:
        path = self._command_file(key)
        return self.read_text(path) if path else None

    def namespaces(self) -> list[str]:
        names: set[str] = set()
        ns_dir = self.root / "sos_commands" / "networking" / "namespaces"
        if ns_dir.is_dir():
            names.update(p.name for p in ns_dir.iterdir() if p.is_dir())
        net = self.root / "sos_commands" / "networking"
        if net.is_dir():
            for p in net.iterdir():
                m = _NS_FILE.match(p.name)
                if m:
                    names.add(m.group("ns"))
        listing = self.command("ip netns")
        if listing:
            for line in listing.lines():
                if line.strip():
                    names.add(line.split()[0])
        return sorted(names)

    def netns_command(self, namespace: str, key: str) -> Text | None:
        spec = NETNS_COMMANDS.get(key)
        if spec is None:
            raise KeyError(f"unknown namespace command {key!r}")
        for variant in spec[1]:
            name = mangle(f"ip netns exec {namespace} {variant}")
            # Networking keeps them under namespaces/<ns>/ (older sos: flat); other plugins (conntrack) flat too.
            for pattern in (f"sos_commands/*/namespaces/{namespace}/{name}", f"sos_commands/*/{name}"):
                for rel in self.glob(pattern):
                    text = self.read_text(rel)
                    if text is not None:
                        return text
        return None

    # -- identity --------------------------------------------------------------
    def hostname(self) -> str:
        for rel in ("hostname", "sos_commands/host/hostname", "sos_commands/general/hostname", "etc/hostname"):
            text = self.read_text(rel)
            if text and text.content.strip():
                return text.content.strip().splitlines()[0].strip()
        return self.root.name

    def collected_at(self) -> datetime | None:
        for key in ("date",):
            text = self.command(key)
            if text:
                parsed = parse_date_output(text.content)
                if parsed:
                    return parsed
        newest = 0.0
        for dirpath, _dirs, files in os.walk(self.root):
            for f in files:
                try:
                    newest = max(newest, os.lstat(os.path.join(dirpath, f)).st_mtime)
                except OSError:
                    continue
        return datetime.fromtimestamp(newest, tz=UTC) if newest else None


_DATE_FORMATS = ("%a %b %d %H:%M:%S %Z %Y", "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z", "%a %d %b %Y %H:%M:%S %Z")


def parse_date_output(content: str) -> datetime | None:
    """`date` as sos records it; the first line that parses wins (UTC assumed when no zone)."""
    for line in content.splitlines():
        line = line.strip()
        for fmt in _DATE_FORMATS:
            try:
                value = datetime.strptime(line, fmt)
            except ValueError:
                continue
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None
