"""Host packet filters: iptables (save and list formats), nftables, ebtables, and the firewall services.

Inputs: `iptables-save`, `iptables -t filter -nvL` / `iptables -vnxL` (sos firewall_tables), `nft -a list
ruleset` (sos firewall_tables; it also shows iptables-nft and ebtables-nft rules), `ebtables -L` (live only:
sos does not collect legacy ebtables), `firewall-cmd --state` (sos firewalld), `etc/ufw/ufw.conf`, and the
unit list for firewalld.

Public API:

    Rule(text: str, source: str, line: int)  .evidence()
    Chain(family: str, table: str, name: str, hook: str | None, policy: str | None, rules: tuple[Rule, ...],
          source: str, line: int)
        `family`: ip / ip6 / inet / bridge / arp / netdev; `hook`: the netfilter hook of a base chain
        (iptables built-in chains map INPUT -> input ...), None for a user chain. `policy` upper-case.
        .evidence() (the chain header line)
    Ruleset(chains: tuple[Chain, ...], source: str)
        .chains_for(family, hook) -> list[Chain] (`inet` chains count for ip and ip6)
    parse_iptables_save(text), parse_iptables_list(text), parse_nft_ruleset(text), parse_ebtables(text)
        -> Ruleset
    mac_bytes(token) -> tuple[int, ...] | None     # `01:80:c2:00:00:00`, ebtables' `1:80:c2:0:0:0`, `BGA`
    bpdu_drop_rules(ruleset) -> list[tuple[Chain, Rule, str | None, str | None]]
        (rules in bridge-family forwarding chains that drop frames to the STP group address 01:80:c2:00:00:00,
        with their input / output interface patterns, None = any)
    load_ip_filter(view) -> Ruleset       # cmd `iptables-save`, else `iptables -nvL`, else the nft ip/inet view
    load_bridge_filters(view) -> list[Ruleset]   # cmd `nft list ruleset` and cmd `ebtables -L` (each if present)
    FirewallService(name: str, active: bool, evidence: Evidence)
    load_firewall_services(view) -> list[FirewallService]   # firewalld and ufw, whatever says anything
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
_EXCERPT = 300
_BUILTIN_HOOKS = {"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward", "OUTPUT": "output",
                  "POSTROUTING": "postrouting", "BROUTING": "brouting"}
STP_GROUP = (0x01, 0x80, 0xC2, 0x00, 0x00, 0x00)


@dataclass(frozen=True)
class Rule:
    text: str
    source: str
    line: int

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=self.text[:_EXCERPT])


@dataclass(frozen=True)
class Chain:
    family: str
    table: str
    name: str
    hook: str | None
    policy: str | None
    rules: tuple[Rule, ...]
    source: str
    line: int
    header: str = ""

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, line=self.line, excerpt=(self.header or self.name)[:_EXCERPT])


@dataclass(frozen=True)
class Ruleset:
    chains: tuple[Chain, ...]
    source: str

    def chains_for(self, family: str, hook: str) -> list[Chain]:
        families = {family, "inet"} if family in ("ip", "ip6") else {family}
        return [c for c in self.chains if c.family in families and c.hook == hook]


@dataclass
class _Building:
    family: str
    table: str
    name: str
    hook: str | None
    policy: str | None
    line: int
    header: str
    rules: list[Rule]

    def done(self, source: str) -> Chain:
        return Chain(self.family, self.table, self.name, self.hook, self.policy, tuple(self.rules), source,
                     self.line, self.header)


def _lines(text: Text) -> list[tuple[int, str]]:
    return [(n, raw.strip()) for n, raw in enumerate(text.content.splitlines(), 1) if len(raw) <= _MAX_LINE]


# -- iptables -------------------------------------------------------------------------------------------
_SAVE_CHAIN = re.compile(r"^:(?P<name>\S+)\s+(?P<policy>\S+)(?:\s+\[\d+:\d+\])?$")
_SAVE_RULE = re.compile(r"^-A\s+(?P<name>\S+)(?:\s+(?P<rest>.*))?$")


def parse_iptables_save(text: Text) -> Ruleset:
    """`*table`, `:CHAIN POLICY [pkts:bytes]`, `-A CHAIN ...`, `COMMIT` (iptables-save / ip6tables-save)."""
    family = "ip6" if "ip6tables" in text.source else "ip"
    table = ""
    chains: dict[tuple[str, str], _Building] = {}
    recognised = False
    for lineno, line in _lines(text):
        if line.startswith("*") and len(line) > 1 and " " not in line:
            table, recognised = line[1:], True
            continue
        m = _SAVE_CHAIN.match(line)
        if m and table:
            name = m.group("name")
            policy = m.group("policy").upper()
            hook = _BUILTIN_HOOKS.get(name)
            chains[(table, name)] = _Building(family, table, name, hook, None if policy == "-" else policy,
                                              lineno, line, [])
            continue
        m = _SAVE_RULE.match(line)
        if m and table:
            key = (table, m.group("name"))
            chain = chains.get(key)
            if chain is None:
                chain = chains[key] = _Building(family, table, key[1], _BUILTIN_HOOKS.get(key[1]), None, lineno,
                                                line, [])
            chain.rules.append(Rule(line, text.source, lineno))
    if not recognised and text.content.strip():
        raise ParseError(text.source, "no `*table` line: not iptables-save output")
    return Ruleset(tuple(c.done(text.source) for c in chains.values()), text.source)


_LIST_CHAIN = re.compile(r"^Chain\s+(?P<name>\S+)\s+\((?:policy\s+(?P<policy>\w+)[^)]*|\d+\s+references?)\)")


def parse_iptables_list(text: Text) -> Ruleset:
    """`iptables [-t filter] -nvL` / `-vnxL`: `Chain INPUT (policy ACCEPT 0 packets, 0 bytes)`, a column
    header, one line per rule; a blank line ends the chain."""
    family = "ip6" if "ip6tables" in text.source else "ip"
    m_table = re.search(r"-t_([a-z]+)", text.source)
    table = m_table.group(1) if m_table else "filter"
    chains: list[_Building] = []
    current: _Building | None = None
    for lineno, line in _lines(text):
        m = _LIST_CHAIN.match(line)
        if m:
            name = m.group("name")
            policy = m.group("policy")
            current = _Building(family, table, name, _BUILTIN_HOOKS.get(name) if policy else None,
                                policy.upper() if policy else None, lineno, line, [])
            chains.append(current)
            continue
        if current is None or not line:
            if not line:
                current = None
            continue
        if line.split()[:1] in (["pkts"], ["target"]):
            continue  # the column header (`-v` starts with pkts, without -v with target)
        current.rules.append(Rule(line, text.source, lineno))
    if not chains and text.content.strip():
        raise ParseError(text.source, "no `Chain NAME (...)` line: not iptables -L output")
    return Ruleset(tuple(c.done(text.source) for c in chains), text.source)


# -- nftables -------------------------------------------------------------------------------------------
_NFT_TABLE = re.compile(r"^table\s+(?P<family>\w+)\s+(?P<name>\S+)\s*\{$")
_NFT_CHAIN = re.compile(r"^chain\s+(?P<name>\S+)\s*\{$")
_NFT_HOOK = re.compile(r"\btype\s+\w+\s+hook\s+(?P<hook>\w+)\b")
_NFT_POLICY = re.compile(r"\bpolicy\s+(?P<policy>\w+)\s*;")
_NFT_HANDLE = re.compile(r"\s*#\s*handle\s+\d+\s*$")


def parse_nft_ruleset(text: Text) -> Ruleset:
    """`nft [-a] list ruleset`: `table <family> <name> {`, `chain <name> {`, the base-chain line
    `type filter hook input priority 0; policy accept;`, rules, closing braces; sets/maps are skipped."""
    chains: list[_Building] = []
    family = table = ""
    current: _Building | None = None
    depth = 0
    skip_depth: int | None = None  # inside a set/map/flowtable block
    recognised = False
    for lineno, line in _lines(text):
        if not line:
            continue
        opens, closes = line.endswith("{"), line == "}" or (line.endswith("}") and "{" not in line)
        if skip_depth is not None:
            depth += (1 if opens else 0) - (1 if closes else 0)
            if depth < skip_depth:
                skip_depth = None
            continue
        m = _NFT_TABLE.match(line)
        if m and depth == 0:
            family, table, depth, recognised = m.group("family"), m.group("name"), 1, True
            continue
        m = _NFT_CHAIN.match(line)
        if m and depth == 1:
            current = _Building(family, table, m.group("name"), None, None, lineno, line, [])
            chains.append(current)
            depth = 2
            continue
        if opens and depth >= 1:
            skip_depth, depth = depth + 1, depth + 1
            continue
        if closes:
            depth = max(0, depth - 1)
            if depth < 2:
                current = None
            continue
        if current is None:
            continue
        hook = _NFT_HOOK.search(line)
        if hook:
            current.hook = hook.group("hook")
            current.header = f"{current.header} {line}"
            policy = _NFT_POLICY.search(line)
            current.policy = policy.group("policy").upper() if policy else "ACCEPT"
            continue
        current.rules.append(Rule(_NFT_HANDLE.sub("", line), text.source, lineno))
    if not recognised and text.content.strip():
        raise ParseError(text.source, "no `table <family> <name> {` line: not nft list ruleset output")
    return Ruleset(tuple(c.done(text.source) for c in chains), text.source)


# -- ebtables -------------------------------------------------------------------------------------------
_EB_TABLE = re.compile(r"^Bridge table:\s*(?P<table>\w+)")
_EB_CHAIN = re.compile(r"^Bridge chain:\s*(?P<name>[^,\s]+),\s*entries:\s*\d+,\s*policy:\s*(?P<policy>\w+)")


def parse_ebtables(text: Text) -> Ruleset:
    """`ebtables [-t table] -L`: `Bridge table: filter`, `Bridge chain: FORWARD, entries: 1, policy: ACCEPT`,
    then one rule per line (`-i tap+ -d BGA -j DROP`)."""
    table = "filter"
    chains: list[_Building] = []
    current: _Building | None = None
    for lineno, line in _lines(text):
        m = _EB_TABLE.match(line)
        if m:
            table, current = m.group("table"), None
            continue
        m = _EB_CHAIN.match(line)
        if m:
            name = m.group("name")
            current = _Building("bridge", table, name, _BUILTIN_HOOKS.get(name), m.group("policy").upper(),
                                lineno, line, [])
            chains.append(current)
            continue
        if current is not None and line.startswith("-"):
            current.rules.append(Rule(line, text.source, lineno))
    if not chains and text.content.strip():
        raise ParseError(text.source, "no `Bridge chain:` line: not ebtables -L output")
    return Ruleset(tuple(c.done(text.source) for c in chains), text.source)


# -- BPDU filtering -------------------------------------------------------------------------------------
_MAC = re.compile(r"^[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5}$")
_NFT_DADDR = re.compile(r"\bether\s+daddr\s+(?P<mac>[0-9A-Fa-f:]{11,17})(?:/[0-9A-Fa-f:]+)?")
_EB_DADDR = re.compile(r"(?:^|\s)(?:-d|--dst|--destination)\s+(?P<neg>!\s*)?(?P<mac>[0-9A-Fa-f:]{11,17}|BGA)"
                       r"(?:/[0-9A-Fa-f:]+)?")
_NFT_STP = re.compile(r"\bstp\s+type\b|\bether\s+type\s+stp\b")
_NFT_IIF = re.compile(r'\biifname\s+"?(?P<pat>[^"\s;]+)"?')
_NFT_OIF = re.compile(r'\boifname\s+"?(?P<pat>[^"\s;]+)"?')
_EB_IIF = re.compile(r"(?:^|\s)(?:-i|--in-interface|--in-if)\s+(?P<pat>[^!\s]\S*)")
_EB_OIF = re.compile(r"(?:^|\s)(?:-o|--out-interface|--out-if)\s+(?P<pat>[^!\s]\S*)")
_DROP = re.compile(r"(?:^|\s)(?:drop|-j\s+DROP)(?:\s|$)")
_FORWARD_HOOKS = frozenset({"prerouting", "forward", "brouting"})


def mac_bytes(token: str) -> tuple[int, ...] | None:
    if token.upper() == "BGA":  # ebtables' name for the Bridge Group Address
        return STP_GROUP
    if not _MAC.match(token):
        return None
    return tuple(int(part, 16) for part in token.split(":"))


def bpdu_drop_rules(ruleset: Ruleset) -> list[tuple[Chain, Rule, str | None, str | None]]:
    out: list[tuple[Chain, Rule, str | None, str | None]] = []
    for chain in ruleset.chains:
        if chain.family != "bridge" or (chain.hook is not None and chain.hook not in _FORWARD_HOOKS):
            continue
        for rule in chain.rules:
            if not _DROP.search(rule.text):
                continue
            nft = _NFT_DADDR.search(rule.text)
            eb = _EB_DADDR.search(rule.text)
            mac = mac_bytes(nft.group("mac")) if nft else mac_bytes(eb.group("mac")) if eb and not eb.group(
                "neg") else None
            if mac != STP_GROUP and not _NFT_STP.search(rule.text):
                continue
            iif = _NFT_IIF.search(rule.text) or _EB_IIF.search(rule.text)
            oif = _NFT_OIF.search(rule.text) or _EB_OIF.search(rule.text)
            out.append((chain, rule, iif.group("pat") if iif else None, oif.group("pat") if oif else None))
    return out


# -- loaders --------------------------------------------------------------------------------------------
def _nft_ip_view(ruleset: Ruleset) -> Ruleset:
    chains = tuple(c for c in ruleset.chains if c.family in ("ip", "inet"))
    return Ruleset(chains, ruleset.source)


def load_ip_filter(view: HostView) -> Ruleset:
    text = view.command("iptables-save")
    if text is not None and text.content.strip():
        return parse_iptables_save(text)
    text = view.command("iptables -nvL")
    if text is not None and text.content.strip():
        return parse_iptables_list(text)
    text = view.command("nft list ruleset")
    if text is not None and text.content.strip():
        return _nft_ip_view(parse_nft_ruleset(text))
    raise MissingEvidence("sos_commands/firewall_tables/iptables_-t_filter_-nvL, iptables-save or "
                          "nft_-a_list_ruleset (cmd: iptables-save / iptables -t filter -nvL / nft list ruleset)")


def load_bridge_filters(view: HostView) -> list[Ruleset]:
    out: list[Ruleset] = []
    nft = view.command("nft list ruleset")
    if nft is not None and nft.content.strip():
        out.append(parse_nft_ruleset(nft))
    eb = view.command("ebtables -L")
    if eb is not None and eb.content.strip():
        out.append(parse_ebtables(eb))
    return out


@dataclass(frozen=True)
class FirewallService:
    name: str
    active: bool
    evidence: Evidence


_UNIT = re.compile(r"^\W*(?P<unit>[\w@.\-]+\.service)\s+(?P<load>\S+)\s+(?P<active>\S+)\s+(?P<sub>\S+)")
_UFW_ENABLED = re.compile(r"^\s*ENABLED\s*=\s*(?P<v>\S+)", re.MULTILINE)


def _service_from_units(view: HostView, unit: str) -> FirewallService | None:
    text = view.command("systemctl list-units")
    if text is None:
        return None
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        m = _UNIT.match(raw)
        if m and m.group("unit") == unit:
            return FirewallService(unit.removesuffix(".service"), m.group("active") == "active",
                                   Evidence(source=text.source, line=lineno, excerpt=" ".join(raw.split())[:200]))
    # list-units without --all (what sos runs) omits inactive units: absence means not running.
    return FirewallService(unit.removesuffix(".service"), False,
                           Evidence(source=text.source, excerpt=f"{unit} not in the active unit list"))


def load_firewall_services(view: HostView) -> list[FirewallService]:
    out: list[FirewallService] = []
    state = next((view.read_text(p) for p in view.glob("sos_commands/firewalld/firewall-cmd_--state")), None)
    if state is not None and state.content.strip():
        first = state.content.strip().splitlines()[0].strip()
        out.append(FirewallService("firewalld", first == "running",
                                   Evidence(source=state.source, line=1, excerpt=first[:200])))
    elif view.exists("etc/firewalld/firewalld.conf"):
        unit = _service_from_units(view, "firewalld.service")
        if unit is not None:
            out.append(unit)
    ufw = view.read_text("etc/ufw/ufw.conf")
    if ufw is not None:
        m = _UFW_ENABLED.search(ufw.content)
        if m:
            value = m.group("v").strip("\"'").lower()
            line = ufw.content[: m.start()].count("\n") + 1
            out.append(FirewallService("ufw", value == "yes",
                                       Evidence(source=ufw.source, line=line, excerpt=f"ENABLED={value}")))
    return out


def summary(facts: Facts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        ruleset = facts.get(load_ip_filter)
    except (MissingEvidence, ParseError):
        return out
    inputs = ruleset.chains_for("ip", "input")
    if inputs:
        out["input_policy"] = {f"{c.family} {c.table} {c.name}": {"policy": c.policy, "rules": len(c.rules)}
                               for c in inputs}
    return out


FUZZ_TARGETS = [parse_iptables_save, parse_iptables_list, parse_nft_ruleset, parse_ebtables]
