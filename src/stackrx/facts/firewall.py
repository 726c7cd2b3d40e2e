"""What the host firewall (iptables filter table) does to a new inbound TCP/UDP connection.

`stackrx.facts.pktfilter` keeps rules as text for listings; this module gives them match semantics.
Inputs: `iptables -t filter -nvL` (sos firewall_tables plugin; also `iptables -vnxL`), `iptables -nL` layouts
(with or without the pkts/bytes/in/out columns), or `iptables-save` (`*filter` table only). nftables-only
rulesets are not evaluated (the loader reports them as missing evidence).

Evaluation (`Firewall.verdict`) follows one hypothetical NEW packet through INPUT: rules are matched on
protocol, source address, destination port (`dpt:`, `dpts:`, `multiport dports`, `--dport(s)`) and
conntrack state (a rule limited to ESTABLISHED/RELATED never matches a new connection); jumps to user
chains are followed (RETURN comes back), LOG and other non-terminal targets are passed. A rule with a
condition that cannot be decided here (input interface, ipset, mac, string, negations other than source)
"may match": the verdict then carries `certain=False`, so checks only assert a block they can prove.

Public API:

    Rule(chain, target, proto, source, source_negated, in_iface, dports: tuple[(lo, hi)] | None,
         states: frozenset[str] | None, undecided: tuple[str, ...], source_file, line, excerpt)  .evidence()
    Chain(name, policy: str | None, rules: tuple[Rule, ...], source, line)  .evidence()
    Firewall(chains: dict[name, Chain], source)
        .verdict(proto, dport, src=None, chain="INPUT") -> Verdict(action, certain, rule | None, chain)
        .input_policy -> str | None, .rules_in(chain)
    parse_iptables_list(text) ; parse_iptables_save(text) ; parse_firewall(text) -> Firewall
    load_firewall(view) -> Firewall     # cmd `iptables -nvL`, else `iptables-save`
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass

from stackrx.errors import MissingEvidence, ParseError
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

_MAX_LINE = 64 * 1024
_EXCERPT = 300
TERMINAL = frozenset({"ACCEPT", "DROP", "REJECT"})
_NON_TERMINAL = frozenset({"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "NOTRACK", "AUDIT", "TRACE",
                           "CHECKSUM", "TCPMSS", "SET", ""})
_CHAIN_HEAD = re.compile(r"^Chain (?P<name>\S+) \((?:policy (?P<policy>[A-Z]+)|(?P<refs>\d+) references?)")
_PORT_RANGE = re.compile(r"^\d{1,5}(?::\d{1,5})?$")
_PROTOCOLS = {"0": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}
_STATES = re.compile(r"(?:NEW|RELATED|ESTABLISHED|INVALID|UNTRACKED|SNAT|DNAT)(?:,[A-Z]+)*")

PortRange = tuple[int, int]


@dataclass(frozen=True)
class Rule:
    chain: str
    target: str
    proto: str
    source: str
    source_negated: bool
    in_iface: str | None
    dports: tuple[PortRange, ...] | None
    states: frozenset[str] | None
    undecided: tuple[str, ...]
    source_file: str
    line: int
    excerpt: str

    def evidence(self) -> Evidence:
        return Evidence(source=self.source_file, line=self.line, excerpt=self.excerpt)


@dataclass(frozen=True)
class Chain:
    name: str
    policy: str | None
    rules: tuple[Rule, ...]
    source: str
    line: int

    def evidence(self) -> Evidence:
        policy = f"policy {self.policy}" if self.policy else "user chain"
        return Evidence(source=self.source, line=self.line, excerpt=f"Chain {self.name} ({policy})")


@dataclass(frozen=True)
class Verdict:
    action: str
    """ACCEPT, DROP or REJECT (a policy of DROP counts as DROP)."""
    certain: bool
    rule: Rule | None
    """The deciding rule; None when the chain policy decided."""
    chain: Chain | None

    def evidence(self) -> list[Evidence]:
        if self.rule is not None:
            return [self.rule.evidence()]
        return [self.chain.evidence()] if self.chain is not None else []


def _ports(spec: str) -> tuple[PortRange, ...] | None:
    out: list[PortRange] = []
    for part in spec.split(","):
        part = part.strip()
        if not _PORT_RANGE.match(part):
            return None
        lo, _, hi = part.partition(":")
        out.append((int(lo), int(hi or lo)))
    return tuple(out)


def _clip(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= _EXCERPT else s[: _EXCERPT - 3] + "..."


_UNDECIDED_PREFIXES = ("!", "match-set", "MAC", "mac", "STRING", "physdev", "owner", "recent", "addrtype",
                       "length", "hashlimit", "connlimit", "iprange", "string")


def _extras(extra: str) -> tuple[tuple[PortRange, ...] | None, frozenset[str] | None, list[str]]:
    """Matches from the free-text column of `iptables -L` (`tcp dpt:22`, `multiport dports 1,2`, ...)."""
    text = re.sub(r"/\*.*?\*/", " ", extra)  # comments never restrict
    dports: tuple[PortRange, ...] | None = None
    states: frozenset[str] | None = None
    undecided: list[str] = []
    tokens = text.split()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith(("dpt:", "dpts:")):
            dports = _ports(tok.split(":", 1)[1])
            if dports is None:
                undecided.append(tok)
        elif tok == "dports" and i + 1 < len(tokens):
            dports = _ports(tokens[i + 1])
            if dports is None:
                undecided.append(f"dports {tokens[i + 1]}")
            i += 1
        elif _STATES.fullmatch(tok):
            states = frozenset(tok.split(","))
        elif tok.startswith(_UNDECIDED_PREFIXES):
            undecided.append(tok)
        # Everything else (protocol echo `tcp`, source ports `spt:`, `reject-with`, LOG prefixes) does not
        # decide a new inbound connection's fate.
        i += 1
    return dports, states, undecided


def parse_iptables_list(text: Text) -> Firewall:
    chains: dict[str, Chain] = {}
    name: str | None = None
    policy: str | None = None
    head_line = 0
    rules: list[Rule] = []
    columns: list[str] | None = None

    def close() -> None:
        if name is not None:
            chains[name] = Chain(name, policy, tuple(rules), text.source, head_line)

    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE or not raw.strip():
            continue
        m = _CHAIN_HEAD.match(raw)
        if m:
            close()
            name, policy, head_line, rules, columns = m.group("name"), m.group("policy"), lineno, [], None
            continue
        if name is None:
            continue
        tokens = raw.split()
        if "target" in tokens and "prot" in tokens:
            columns = tokens
            continue
        if columns is None:
            continue
        verbose = "pkts" in columns
        # -v: pkts bytes target prot opt in out source destination; plain: target prot opt source destination
        fixed = 8 if verbose else 4
        offset = 2 if verbose else 0
        # The target column is empty for counting-only rules: then `prot` sits where `target` would.
        has_target = len(tokens) > offset + 2 and tokens[offset + 2] in ("--", "-f", "!f")
        if not has_target:
            tokens = [*tokens[:offset], "", *tokens[offset:]]
        if len(tokens) < fixed + 1:
            continue
        target, proto = tokens[offset], tokens[offset + 1]
        in_iface = tokens[offset + 3] if verbose else None
        source_addr = tokens[offset + 5] if verbose else tokens[offset + 3]
        extra = " ".join(tokens[offset + 7 if verbose else offset + 5 :])
        negated = source_addr.startswith("!")
        dports, states, undecided = _extras(extra)
        rules.append(Rule(
            name, target, _PROTOCOLS.get(proto, proto.lower()), source_addr.lstrip("!"), negated,
            None if in_iface in (None, "*") else in_iface, dports, states, tuple(undecided), text.source, lineno,
            _clip(raw),
        ))
    close()
    if not chains and text.content.strip():
        raise ParseError(text.source, "no `Chain NAME (policy ...)` headers")
    return Firewall(chains, text.source)


def parse_iptables_save(text: Text) -> Firewall:
    chains: dict[str, tuple[str | None, int, list[Rule]]] = {}
    in_filter = False
    for lineno, raw in enumerate(text.content.splitlines(), 1):
        if len(raw) > _MAX_LINE:
            continue
        line = raw.strip()
        if line.startswith("*"):
            in_filter = line == "*filter"
            continue
        if not in_filter or not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith(":"):
            parts = line[1:].split()
            if parts:
                policy = parts[1] if len(parts) > 1 and parts[1] != "-" else None
                chains[parts[0]] = (policy, lineno, [])
            continue
        if not line.startswith("-A "):
            continue
        try:
            args = shlex.split(line)
        except ValueError:
            continue
        rule = _save_rule(args, text.source, lineno, line)
        if rule is not None:
            chains.setdefault(rule.chain, (None, lineno, []))[2].append(rule)
    if not chains and text.content.strip():
        raise ParseError(text.source, "no `*filter` table with `:CHAIN POLICY` lines")
    return Firewall({n: Chain(n, p, tuple(r), text.source, ln) for n, (p, ln, r) in chains.items()}, text.source)


_KNOWN_MATCHES = frozenset({"tcp", "udp", "multiport", "state", "conntrack", "comment", "limit"})
_PASSIVE_OPTIONS = frozenset({"-d", "--destination", "-o", "--out-interface", "--sport", "--sports", "--limit",
                              "--limit-burst", "--tcp-flags", "--icmp-type", "--reject-with", "--comment"})


def _options(args: list[str]) -> list[tuple[bool, str, list[str]]]:
    """(negated, option, values) in order; an option takes every following token that is not an option."""
    out: list[tuple[bool, str, list[str]]] = []
    negate = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "!":
            negate = True
            continue
        values: list[str] = []
        while i < len(args) and args[i] != "!" and not (args[i].startswith("-") and len(args[i]) > 1
                                                         and not args[i][1].isdigit()):
            values.append(args[i])
            i += 1
        out.append((negate, arg, values))
        negate = False
    return out


def _save_rule(args: list[str], source: str, lineno: int, line: str) -> Rule | None:
    if len(args) < 2:
        return None
    chain = args[1]
    target = ""
    proto = "all"
    src = "0.0.0.0/0"
    negated = False
    in_iface: str | None = None
    dports: tuple[PortRange, ...] | None = None
    states: frozenset[str] | None = None
    undecided: list[str] = []
    for negate, arg, values in _options(args[2:]):
        value = values[0] if values else ""
        if arg in ("-j", "--jump", "-g", "--goto"):
            target = value
        elif arg in ("-p", "--protocol"):
            proto = _PROTOCOLS.get(value, value.lower())
            if negate:
                undecided.append(f"! -p {value}")
        elif arg in ("-s", "--source"):
            src, negated = value, negate
        elif arg in ("-i", "--in-interface"):
            in_iface = value
        elif arg in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            dports = None if negate else _ports(value)
            if dports is None:
                undecided.append(f"{arg} {value}")
        elif arg in ("--state", "--ctstate"):
            states = frozenset(value.split(","))
        elif arg in ("-m", "--match"):
            if value not in _KNOWN_MATCHES:
                undecided.append(f"-m {value}")
        elif arg not in _PASSIVE_OPTIONS and negate:
            undecided.append(f"! {arg}")
    return Rule(chain, target, proto, src, negated, in_iface, dports, states, tuple(undecided), source, lineno,
                _clip(line))


def parse_firewall(text: Text) -> Firewall:
    head = text.content[:65536]
    if re.search(r"^\*filter\s*$", head, re.MULTILINE) or re.search(r"^:\w+ \S+ \[\d+:\d+\]", head, re.MULTILINE):
        return parse_iptables_save(text)
    return parse_iptables_list(text)


@dataclass(frozen=True)
class Firewall:
    chains: dict[str, Chain]
    source: str

    @property
    def input_policy(self) -> str | None:
        chain = self.chains.get("INPUT")
        return chain.policy if chain is not None else None

    def rules_in(self, chain: str) -> tuple[Rule, ...]:
        found = self.chains.get(chain)
        return found.rules if found is not None else ()

    def verdict(self, proto: str, dport: int, src: str | None = None, chain: str = "INPUT") -> Verdict:
        top = self.chains.get(chain)
        if top is None:
            return Verdict("ACCEPT", True, None, None)
        certain = [True]
        decided = self._walk(top, proto, dport, src, certain, 0)
        if decided is not None:
            return Verdict(decided.target, certain[0], decided, top)
        return Verdict(top.policy or "ACCEPT", certain[0], None, top)

    def _walk(self, chain: Chain, proto: str, dport: int, src: str | None, certain: list[bool],
              depth: int) -> Rule | None:
        for rule in chain.rules:
            match = _matches(rule, proto, dport, src)
            if match is False:
                continue
            target = rule.target
            if target == "RETURN":
                if match is None:
                    certain[0] = False
                    continue
                return None
            if target in TERMINAL:
                if match is None:
                    certain[0] = False
                    continue
                return rule
            sub = self.chains.get(target)
            if sub is not None and depth < 16:
                found = self._walk(sub, proto, dport, src, certain, depth + 1)
                if found is not None:
                    if match is None:
                        certain[0] = False
                        continue
                    return found
                continue
            if target not in _NON_TERMINAL:
                certain[0] = False  # an extension target, or a jump to a chain that was not collected
        return None


def _in_source(rule: Rule, src: str | None) -> bool | None:
    if rule.source in ("0.0.0.0/0", "::/0", "anywhere"):
        return not rule.source_negated
    if src is None:
        return None
    try:
        inside = ipaddress.ip_address(src) in ipaddress.ip_network(rule.source, strict=False)
    except ValueError:
        return None
    return inside != rule.source_negated


def _matches(rule: Rule, proto: str, dport: int, src: str | None) -> bool | None:
    """True, False, or None when the rule may or may not match."""
    if rule.proto not in ("all", proto):
        return False
    if rule.dports is not None and not any(lo <= dport <= hi for lo, hi in rule.dports):
        return False
    if rule.states is not None and "NEW" not in rule.states:
        return False
    source = _in_source(rule, src)
    if source is False:
        return False
    if source is None or rule.in_iface is not None or rule.undecided:
        return None
    return True


def load_firewall(view: HostView) -> Firewall:
    for key in ("iptables -nvL", "iptables-save"):
        text = view.command(key)
        if text is not None and text.content.strip():
            return parse_firewall(text)
    raise MissingEvidence("sos_commands/firewall_tables/iptables_-t_filter_-nvL (cmd: iptables -t filter -nvL)")


FUZZ_TARGETS = [parse_iptables_list, parse_iptables_save, parse_firewall]
