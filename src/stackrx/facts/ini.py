"""oslo.config-style INI files: what an OpenStack service would actually read.

Rules (oslo_config.iniparser / cfg): `#` and `;` start comment lines only (inline `#` is part of the value);
an indented line continues the previous value; a key repeated in one section keeps every value (MultiStrOpt)
and the last wins for single-valued options; files later in the list override earlier ones
(`<svc>.conf`, then `<svc>.conf.d/*.conf` in lexical order); booleans are case-insensitive
`true/1/on/yes` and `false/0/off/no`; sos masks secrets as `*********`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no"}
MASKED = "*********"


@dataclass(frozen=True)
class IniValue:
    value: str
    source: str
    line: int
    key: str
    section: str

    @property
    def masked(self) -> bool:
        """sos replaced the secret with asterisks: the option is set, its value unknown."""
        return bool(self.value) and set(self.value) == {"*"}

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=f"[{self.section}] {self.key} = {self.value}")


@dataclass
class IniFile:
    """One or more files merged; each (section, key) keeps every value it was given, in read order."""

    sources: list[str] = field(default_factory=list)
    _values: dict[tuple[str, str], list[IniValue]] = field(default_factory=dict)
    _sections: list[str] = field(default_factory=list)

    def feed(self, text: Text) -> None:
        self.sources.append(text.source)
        section: str | None = None
        last: tuple[str, str] | None = None
        for lineno, raw in enumerate(text.content.splitlines(), 1):
            line = raw.rstrip("\r\n")
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if line[:1] in " \t" and last is not None:
                prev = self._values[last][-1]
                self._values[last][-1] = IniValue(
                    (prev.value + "\n" + stripped).strip(), prev.source, prev.line, prev.key, prev.section
                )
                continue
            if stripped.startswith("["):
                if not stripped.endswith("]"):
                    raise ParseError(text.source, f"line {lineno}: unterminated section header {stripped[:60]!r}")
                section = stripped[1:-1].strip()
                if section.lower() == "default":
                    section = "DEFAULT"
                if section not in self._sections:
                    self._sections.append(section)
                last = None
                continue
            sep = _separator(stripped)
            if sep < 0:
                # oslo rejects such a line; sos-trimmed or hand-edited files have them: keep going.
                last = None
                continue
            if section is None:
                section = "DEFAULT"
            key = stripped[:sep].strip()
            value = stripped[sep + 1 :].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            ident = (section, key.lower())
            self._values.setdefault(ident, []).append(IniValue(value, text.source, lineno, key, section))
            last = ident

    # -- lookups ---------------------------------------------------------------
    def sections(self) -> list[str]:
        return list(self._sections)

    def has_section(self, section: str) -> bool:
        return _norm(section) in self._sections

    def all(self, section: str, key: str) -> list[IniValue]:
        return list(self._values.get((_norm(section), key.lower()), []))

    def get(self, section: str, key: str, *, default_fallback: bool = False) -> IniValue | None:
        values = self._values.get((_norm(section), key.lower()))
        if values:
            return values[-1]
        if default_fallback and _norm(section) != "DEFAULT":
            return self.get("DEFAULT", key)
        return None

    def first(self, *candidates: tuple[str, str]) -> IniValue | None:
        """The first (section, key) that is set: new option names before deprecated aliases."""
        for section, key in candidates:
            found = self.get(section, key)
            if found is not None:
                return found
        return None

    def items(self, section: str) -> list[IniValue]:
        sec = _norm(section)
        return [vals[-1] for (s, _k), vals in self._values.items() if s == sec]


def _norm(section: str) -> str:
    return "DEFAULT" if section.lower() == "default" else section


def _separator(line: str) -> int:
    positions = [p for p in (line.find("="), line.find(":")) if p > 0]
    return min(positions) if positions else -1


def as_bool(value: IniValue | None, default: bool) -> bool:
    if value is None or value.masked:
        return default
    low = value.value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return default


def as_int(value: IniValue | None, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value.value.strip())
    except ValueError:
        return default


def as_list(value: IniValue | None) -> list[str]:
    """oslo ListOpt: comma separated, blanks dropped."""
    if value is None:
        return []
    return [v.strip() for v in value.value.replace("\n", ",").split(",") if v.strip()]


def as_dict(value: IniValue | None) -> dict[str, str]:
    """oslo DictOpt and neutron mapping lists (`physnet1:br-ex,physnet2:br-vlan`)."""
    out: dict[str, str] = {}
    for item in as_list(value):
        k, sep, v = item.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


def parse_ini(texts: Iterable[Text]) -> IniFile:
    ini = IniFile()
    for text in texts:
        ini.feed(text)
    return ini


# Where each service keeps its files, relative to the node root (kolla views map /etc/kolla here too).
SERVICE_FILES: dict[str, tuple[str, ...]] = {
    "nova": ("etc/nova/nova.conf", "etc/nova/nova-compute.conf"),
    "neutron": ("etc/neutron/neutron.conf",),
    "ml2": ("etc/neutron/plugins/ml2/ml2_conf.ini",),
    "openvswitch_agent": ("etc/neutron/plugins/ml2/openvswitch_agent.ini", "etc/neutron/openvswitch_agent.ini"),
    "linuxbridge_agent": ("etc/neutron/plugins/ml2/linuxbridge_agent.ini", "etc/neutron/linuxbridge_agent.ini"),
    "l3_agent": ("etc/neutron/l3_agent.ini",),
    "ovn": ("etc/neutron/ovn.ini", "etc/neutron/plugins/ml2/ovn.ini"),
    "ceilometer": ("etc/ceilometer/ceilometer.conf",),
    "aodh": ("etc/aodh/aodh.conf",),
}


def config_files(view: HostView, service: str) -> list[str]:
    files: list[str] = []
    base = SERVICE_FILES.get(service, (f"etc/{service}/{service}.conf",))
    for path in base:
        if view.exists(path):
            files.append(path)
        files.extend(view.glob(f"{path}.d/*.conf"))
    # TripleO keeps the effective files under puppet-generated; they override the host copies.
    for path in base:
        generated = f"var/lib/config-data/puppet-generated/{service.split('_')[0]}/{path}"
        if view.exists(generated):
            files.append(generated)
    return files


def load_config(view: HostView, service: str) -> IniFile:
    """The merged config of a service, or MissingEvidence naming the files looked for."""
    files = config_files(view, service)
    texts = [t for t in (view.read_text(f) for f in files) if t is not None]
    if not texts:
        looked = ", ".join(SERVICE_FILES.get(service, (f"etc/{service}/{service}.conf",)))
        raise MissingEvidence(looked)
    return parse_ini(texts)
