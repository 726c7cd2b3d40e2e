"""Apache httpd facts for the dashboard: which MPM is loaded, whether PHP is, and how mod_wsgi runs Horizon.

Inputs: `apachectl -M` (sos apache plugin `sos_commands/apache/apachectl_-M`: `Loaded Modules:` then
` name_module (static|shared)`), and the config files: RHEL `etc/httpd/conf/httpd.conf`,
`etc/httpd/conf.modules.d/*.conf` (`00-mpm.conf`), `etc/httpd/conf.d/*.conf`; Debian/Ubuntu
`etc/apache2/apache2.conf`, `etc/apache2/mods-enabled/*.load`, `conf-enabled/*.conf`, `sites-enabled/*`
(sos copies `/etc/apache2/*`; the horizon plugin adds `conf.d/openstack-dashboard.conf` and `sites-available/`).
Directives are case-insensitive; `#` lines are comments. The running module list wins over the files when both
are present (the files may hold several MPM lines of which `apachectl -M` shows the one that loaded).

Public API:

    Directive(name, args: tuple[str, ...], source, line, excerpt)  .evidence()
    ApacheConfig(directives: tuple[Directive, ...], files: tuple[str, ...])
        .load_modules() -> list[Directive] (LoadModule), .mpm_loads() -> list[Directive],
        .all(name) -> list[Directive]
    parse_apache_conf(text) -> tuple[Directive, ...]
    LoadedModules(names: frozenset[str], source, lines: dict[name, int])  .mpm -> str | None, .evidence(name)
    parse_apachectl_m(text) -> LoadedModules
    load_apache_config(view) -> ApacheConfig    # MissingEvidence when no httpd/apache2 config exists
    load_loaded_modules(view) -> LoadedModules  # cmd `apachectl -M`
    WsgiApp(script_alias: Directive, daemon: Directive | None, group: Directive | None)
        .daemon_mode, .processes, .threads
    wsgi_apps(config, marker="dashboard|horizon") -> list[WsgiApp]
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Cited, Evidence
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
_EXCERPT = 300
CONFIG_GLOBS = (
    "etc/httpd/conf/httpd.conf", "etc/httpd/conf.modules.d/*.conf", "etc/httpd/conf.d/*.conf",
    "etc/apache2/apache2.conf", "etc/apache2/mods-enabled/*.load", "etc/apache2/mods-enabled/*.conf",
    "etc/apache2/conf-enabled/*.conf", "etc/apache2/sites-enabled/*", "etc/apache2/conf.d/*.conf",
)
_MODULE_ROW = re.compile(r"^\s*(?P<name>\w+_module)\s+\((?:static|shared)\)\s*$")


@dataclass(frozen=True)
class Directive(Cited):
    name: str
    args: tuple[str, ...]
    source: str
    line: int
    excerpt: str


def _split(args: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(args, comments=False, posix=True))
    except ValueError:
        return tuple(args.split())


def parse_apache_conf(text: Text) -> tuple[Directive, ...]:
    out: list[Directive] = []
    pending = ""
    start = 0
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            pending = ""
            continue
        line = raw.strip()
        if pending:
            line = pending + " " + line
        elif not line or line.startswith("#"):
            continue
        else:
            start = lineno
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        pending = ""
        if line.startswith("</"):
            continue
        body = line[1:-1] if line.startswith("<") and line.endswith(">") else line
        name, _, rest = body.partition(" ")
        if not re.fullmatch(r"[A-Za-z][\w:-]*", name):
            continue
        out.append(Directive(name.lower(), _split(rest.strip()), text.source, start, line[:_EXCERPT]))
    return tuple(out)


@dataclass(frozen=True)
class ApacheConfig:
    directives: tuple[Directive, ...]
    files: tuple[str, ...]

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.directives if d.name == name.lower()]

    def load_modules(self) -> list[Directive]:
        return [d for d in self.all("loadmodule") if d.args]

    def mpm_loads(self) -> list[Directive]:
        return [d for d in self.load_modules() if d.args[0].startswith("mpm_")]


def load_apache_config(view: HostView) -> ApacheConfig:
    directives: list[Directive] = []
    files: list[str] = []
    for text in view.read_files(CONFIG_GLOBS):
        files.append(text.source)
        directives.extend(parse_apache_conf(text))
    if not files:
        raise MissingEvidence("etc/httpd/conf/httpd.conf, etc/httpd/conf.modules.d/*.conf, "
                              "etc/apache2/apache2.conf, etc/apache2/mods-enabled/*.load")
    return ApacheConfig(tuple(directives), tuple(files))


@dataclass(frozen=True)
class LoadedModules:
    names: frozenset[str]
    source: str
    lines: dict[str, int]

    @property
    def mpm(self) -> str | None:
        mpms = sorted(n for n in self.names if n.startswith("mpm_"))
        return mpms[0] if mpms else None

    def evidence(self, name: str) -> Evidence:
        kind = "static" if name in ("core_module", "so_module") else "shared"
        return Evidence(source=self.source, line=self.lines.get(name), excerpt=f"{name} ({kind})")


def parse_apachectl_m(text: Text) -> LoadedModules:
    names: set[str] = set()
    lines: dict[str, int] = {}
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        m = _MODULE_ROW.match(raw)
        if m:
            names.add(m.group("name"))
            lines.setdefault(m.group("name"), lineno)
    if not names and text.content.strip():
        raise ParseError(text.source, "no `name_module (static|shared)` rows")
    return LoadedModules(frozenset(names), text.source, lines)


def load_loaded_modules(view: HostView) -> LoadedModules:
    text = view.required_command("apachectl -M", "sos_commands/apache/apachectl_-M")
    return parse_apachectl_m(text)


@dataclass(frozen=True)
class WsgiApp:
    script_alias: Directive
    daemon: Directive | None
    group: Directive | None

    @property
    def daemon_mode(self) -> bool:
        return self.daemon is not None and self.group is not None

    def _option(self, key: str) -> int | None:
        if self.daemon is None:
            return None
        for arg in self.daemon.args[1:]:
            k, _, v = arg.partition("=")
            if k == key and v.isdigit():
                return int(v)
        return None

    @property
    def processes(self) -> int | None:
        return self._option("processes")

    @property
    def threads(self) -> int | None:
        return self._option("threads")


def wsgi_apps(config: ApacheConfig, marker: str = r"dashboard|horizon") -> list[WsgiApp]:
    """Each WSGIScriptAlias whose target matches `marker`, with the daemon process group of its file."""
    pattern = re.compile(marker, re.IGNORECASE)
    apps: list[WsgiApp] = []
    for alias in config.all("wsgiscriptalias"):
        if not any(pattern.search(a) for a in alias.args):
            continue
        same_file = [d for d in config.directives if d.source == alias.source]
        groups = [d for d in same_file if d.name == "wsgiprocessgroup" and d.args]
        daemons = [d for d in same_file if d.name == "wsgidaemonprocess" and d.args]
        group = groups[0] if groups else None
        daemon = next((d for d in daemons if group is not None and d.args[0] == group.args[0]), None)
        apps.append(WsgiApp(alias, daemon, group))
    return apps


FUZZ_TARGETS = [parse_apache_conf, parse_apachectl_m]
