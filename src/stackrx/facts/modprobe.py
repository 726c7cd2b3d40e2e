"""Kernel module configuration that takes effect at boot: modules-load.d lists and modprobe.d options.

systemd-modules-load loads every module named in `modules-load.d/*.conf` early in boot (files by name
across `/etc`, `/run`, `/usr/local/lib`, `/usr/lib`, `/lib`; a file in an earlier directory hides a file of
the same name in a later one); Debian also reads `/etc/modules`. modprobe applies `options <module>
key=value ...` lines from `modprobe.d/*.conf` (same precedence) when the module is loaded, later lines
overriding earlier ones. A module loaded before its options file existed (or from the initramfs) keeps the
old parameters until it is reloaded.

Public API:

    ModuleLoad(module: str, source: str, line: int)  .evidence()
    ModuleOption(module: str, key: str, value: str, source: str, line: int)  .evidence()
    ModuleConfig(loads: tuple[ModuleLoad, ...], options: tuple[ModuleOption, ...], files: tuple[str, ...])
        .load_of(module) -> ModuleLoad | None, .option(module, key) -> ModuleOption | None (the last one)
    parse_modules_load(text) -> tuple[ModuleLoad, ...]
    parse_modprobe(text) -> tuple[ModuleOption, ...]
    load_module_config(view) -> ModuleConfig    # MissingEvidence when none of those files exist
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackrx.errors import MissingEvidence
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_DIRS = ("etc", "run", "usr/local/lib", "usr/lib", "lib")
_MODULE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_MAX_LINE = 64 * 1024


def _modname(name: str) -> str:
    return name.replace("-", "_")


@dataclass(frozen=True)
class ModuleLoad:
    module: str
    source: str
    line: int

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.module)


@dataclass(frozen=True)
class ModuleOption:
    module: str
    key: str
    value: str
    source: str
    line: int

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"options {self.module} {self.key}={self.value}")


@dataclass(frozen=True)
class ModuleConfig:
    loads: tuple[ModuleLoad, ...]
    options: tuple[ModuleOption, ...]
    files: tuple[str, ...]

    def load_of(self, module: str) -> ModuleLoad | None:
        want = _modname(module)
        return next((m for m in self.loads if _modname(m.module) == want), None)

    def option(self, module: str, key: str) -> ModuleOption | None:
        want = _modname(module)
        found = [o for o in self.options if _modname(o.module) == want and o.key == key]
        return found[-1] if found else None


def _content_lines(text: Text) -> list[tuple[int, str]]:
    out = []
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or len(raw) > _MAX_LINE:
            continue
        out.append((lineno, line))
    return out


def parse_modules_load(text: Text) -> tuple[ModuleLoad, ...]:
    """One module name per line (`/etc/modules` allows arguments after it, modules-load.d does not)."""
    out: list[ModuleLoad] = []
    for lineno, line in _content_lines(text):
        name = line.split()[0]
        if _MODULE.match(name):
            out.append(ModuleLoad(name, text.source, lineno))
    return tuple(out)


def parse_modprobe(text: Text) -> tuple[ModuleOption, ...]:
    """`options <module> key=value [key=value ...]`; other directives are not options."""
    out: list[ModuleOption] = []
    for lineno, line in _content_lines(text):
        words = line.split()
        if len(words) < 3 or words[0] != "options" or not _MODULE.match(words[1]):
            continue
        for word in words[2:]:
            key, sep, value = word.partition("=")
            if sep and key:
                out.append(ModuleOption(words[1], key, value.strip("\"'"), text.source, lineno))
    return tuple(out)


def _ordered(view: HostView, sub: str) -> list[str]:
    chosen: dict[str, str] = {}
    for base in _DIRS:
        for path in view.glob(f"{base}/{sub}/*.conf"):
            chosen.setdefault(path.rsplit("/", 1)[-1], path)
    return [chosen[name] for name in sorted(chosen)]


def load_module_config(view: HostView) -> ModuleConfig:
    files: list[str] = []
    loads: list[ModuleLoad] = []
    options: list[ModuleOption] = []
    for path in [*_ordered(view, "modules-load.d"), "etc/modules"]:
        text = view.read_text(path)
        # Debian links modules-load.d/modules.conf to /etc/modules: one file, read once.
        if text is not None and text.source not in files:
            files.append(text.source)
            loads.extend(parse_modules_load(text))
    for path in _ordered(view, "modprobe.d"):
        text = view.read_text(path)
        if text is not None:
            files.append(text.source)
            options.extend(parse_modprobe(text))
    if not files:
        raise MissingEvidence("etc/modules-load.d/*.conf, etc/modules or etc/modprobe.d/*.conf")
    return ModuleConfig(tuple(loads), tuple(options), tuple(files))


FUZZ_TARGETS = [parse_modules_load, parse_modprobe]
