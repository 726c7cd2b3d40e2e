"""Ceilometer polling definitions: `polling.yaml` (Ocata and later) and the interval-bearing `pipeline.yaml`
sources of older releases.

Where: `[polling] cfg_file` (default `polling.yaml`) and `[DEFAULT] pipeline_cfg_file` (default
`pipeline.yaml`) from ceilometer.conf, relative to `etc/ceilometer/`; TripleO's puppet-generated copy; the
Kolla view maps `/etc/kolla/ceilometer-*/polling.yaml` to `etc/ceilometer/`. A pipeline.yaml source only counts
as polling when it carries an `interval` (sources of current pipeline.yaml files do not).

Both files are YAML `sources:` lists of `{name, interval, meters, resources, discovery}`; parsing goes through
the node graph so every value keeps its line number.

Public API:

    PollingSource(name, interval: int | None, meters: tuple[str, ...], discovery: tuple[str, ...],
                  resources: tuple[str, ...], source, line, interval_line)
        .all_meters (meters contains "*"), .evidence()
    PollingFile(kind: "polling" | "pipeline", sources: tuple[PollingSource, ...], source)
    parse_polling(text) -> PollingFile;  parse_pipeline(text) -> PollingFile
    load_polling(view) -> list[PollingFile]   # every file found; MissingEvidence when none
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Literal

import yaml

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.ini import IniFile, load_config
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_EXCERPT = 300
_PUPPET = "var/lib/config-data/puppet-generated/ceilometer/"


@dataclass(frozen=True)
class PollingSource:
    name: str
    interval: int | None
    meters: tuple[str, ...]
    discovery: tuple[str, ...]
    resources: tuple[str, ...]
    source: str
    line: int
    interval_line: int | None

    @property
    def all_meters(self) -> bool:
        return "*" in self.meters

    def evidence(self) -> Evidence:
        meters = ", ".join(self.meters[:6]) + (" ..." if len(self.meters) > 6 else "")
        excerpt = f"source {self.name}: interval {self.interval}, meters [{meters}]"
        return Evidence(source=self.source, line=self.interval_line or self.line, excerpt=excerpt[:_EXCERPT])


@dataclass(frozen=True)
class PollingFile:
    kind: Literal["polling", "pipeline"]
    sources: tuple[PollingSource, ...]
    source: str


def _compose(text: Text) -> yaml.Node | None:
    try:
        node: yaml.Node | None = yaml.compose(text.content, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ParseError(text.source, f"invalid YAML: {str(exc).splitlines()[0][:200]}") from None
    return node


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
            return v
    return None


def _strings(node: yaml.Node | None) -> tuple[str, ...]:
    if isinstance(node, yaml.SequenceNode):
        return tuple(str(n.value) for n in node.value if isinstance(n, yaml.ScalarNode))
    if isinstance(node, yaml.ScalarNode) and node.value:
        return (str(node.value),)
    return ()


def _int(node: yaml.Node | None) -> int | None:
    if not isinstance(node, yaml.ScalarNode):
        return None
    value = str(node.value).strip()
    return int(value) if value.lstrip("-").isdigit() and len(value) < 19 else None


def _parse(text: Text, kind: Literal["polling", "pipeline"]) -> PollingFile:
    root = _compose(text)
    if root is None:
        return PollingFile(kind, (), text.source)
    if not isinstance(root, yaml.MappingNode):
        raise ParseError(text.source, "top level is not a mapping with `sources:`")
    sources_node = _get(root, "sources")
    if sources_node is None:
        if kind == "polling":
            raise ParseError(text.source, "no `sources:` list")
        return PollingFile(kind, (), text.source)
    if not isinstance(sources_node, yaml.SequenceNode):
        raise ParseError(text.source, "`sources:` is not a list")
    sources: list[PollingSource] = []
    for item in sources_node.value:
        if not isinstance(item, yaml.MappingNode):
            continue
        name_node = _get(item, "name")
        name = str(name_node.value) if isinstance(name_node, yaml.ScalarNode) else "?"
        interval_node = _get(item, "interval")
        interval = _int(interval_node)
        if kind == "pipeline" and interval is None:
            continue
        sources.append(PollingSource(
            name, interval, _strings(_get(item, "meters")), _strings(_get(item, "discovery")),
            _strings(_get(item, "resources")), text.source, item.start_mark.line + 1,
            interval_node.start_mark.line + 1 if interval_node is not None else None,
        ))
    return PollingFile(kind, tuple(sources), text.source)


def parse_polling(text: Text) -> PollingFile:
    return _parse(text, "polling")


def parse_pipeline(text: Text) -> PollingFile:
    return _parse(text, "pipeline")


def _file_option(ini: IniFile | None, section: str, key: str, default: str) -> str:
    value = ini.get(section, key) if ini is not None else None
    name = value.value.strip() if value is not None and value.value.strip() else default
    return name.lstrip("/") if name.startswith("/") else posixpath.join("etc/ceilometer", name)


def load_polling(view: HostView) -> list[PollingFile]:
    try:
        ini: IniFile | None = load_config(view, "ceilometer")
    except MissingEvidence:
        ini = None
    wanted = (
        ("polling", _file_option(ini, "polling", "cfg_file", "polling.yaml")),
        ("pipeline", _file_option(ini, "DEFAULT", "pipeline_cfg_file", "pipeline.yaml")),
    )
    files: list[PollingFile] = []
    for kind, path in wanted:
        for candidate in (path, _PUPPET + path):
            text = view.read_text(candidate)
            if text is None:
                continue
            files.append(parse_polling(text) if kind == "polling" else parse_pipeline(text))
            break
    if not files:
        raise MissingEvidence(", ".join(p for _k, p in wanted))
    return files


FUZZ_TARGETS = [parse_polling, parse_pipeline]
