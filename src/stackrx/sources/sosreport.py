"""A sosreport directory as a host view (also the base of extracted tarballs and saved fleet trees)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from stackrx.sources.base import HostView, Text
from stackrx.sources.commands import COMMANDS, NETNS_COMMANDS, mangle

_MAGIC = re.compile(r"[*?[]")
_NS_FILE = re.compile(r"^ip_netns_exec_(?P<ns>[\w.\-]+?)_(?:ip|sysctl|iptables|ip6tables|ss|netstat|conntrack)[_-]")


def looks_like_sosreport(root: Path) -> bool:
    return (root / "sos_commands").is_dir() or (root / "sos_reports").is_dir()


class SosReportView(HostView):
    """A collected snapshot: it does not change while checks read it, so path look-ups are answered once.

    Log discovery and command look-ups ask for the same globs and paths thousands of times per node; walking
    the tree again for each was most of a node's scan time (and so what bounds a thousand-node fleet).
    """

    kind = "sosreport"

    def __init__(self, root: Path, target: str | None = None) -> None:
        super().__init__(target or str(root))
        self.root = root.resolve()
        self._globbed: dict[str, tuple[str, ...]] = {}
        self._resolved: dict[str, Path | None] = {}
        self._listed: dict[str, dict[str, bool]] = {}
        self._hostname: str | None = None

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
        if path not in self._resolved:
            self._resolved[path] = self._resolve_uncached(path)
        return self._resolved[path]

    def _resolve_uncached(self, path: str) -> Path | None:
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
        found = self._globbed.get(pattern)
        if found is None:
            rels = self._match(pattern.lstrip("/"))
            found = self._globbed[pattern] = tuple(sorted(rel for rel in rels if self.resolve(rel) is not None))
        return list(found)

    def _match(self, pattern: str) -> list[str]:
        """pathlib's glob, one path component at a time over cached directory listings (one scandir per
        directory for the whole scan instead of one per pattern); `**` is left to pathlib."""
        parts = [p for p in pattern.split("/") if p]
        if not parts or "**" in parts:
            return [real.relative_to(self.root).as_posix() for real in self.root.glob(pattern)]
        current = [""]
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            nxt: list[str] = []
            for parent in current:
                entries = self._listing(parent)
                if _MAGIC.search(part):
                    names = [n for n in fnmatch.filter(entries, part) if last or entries[n]]
                else:
                    names = [part] if part in entries and (last or entries[part]) else []
                nxt.extend(f"{parent}/{n}" if parent else n for n in names)
            current = nxt
            if not current:
                break
        return current

    def _listing(self, rel_dir: str) -> dict[str, bool]:
        """Entry name → is a directory (following links), for one directory of the report."""
        listed = self._listed.get(rel_dir)
        if listed is None:
            listed = {}
            try:
                with os.scandir(self.root / rel_dir) as it:
                    for entry in it:
                        try:
                            listed[entry.name] = entry.is_dir()
                        except OSError:
                            listed[entry.name] = False
            except OSError:
                pass
            self._listed[rel_dir] = listed
        return listed

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
        if self._hostname is None:
            self._hostname = self._read_hostname()
        return self._hostname

    def _read_hostname(self) -> str:
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
