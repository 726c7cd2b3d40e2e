"""One multi-pattern scanner for the whole signature table, streamed over a log in big byte chunks.

The table (`signatures.yaml`) is compiled once into a plan per signature. A stream is read into one reused
buffer (4 MiB) and each chunk is cut at its last newline, so no line straddles two scans and memory does not
grow with the file.

Finding candidate lines, one pass per chunk for all signatures. Backends, best first (`STACKRX_SCANNER`
forces one):
- ahocorasick (when `import ahocorasick_rs` works): a signature with a mandatory literal (`table full,
  dropping packet`) contributes that literal, and all literals are searched together by the Rust
  aho-corasick crate's SIMD (Teddy) searcher; lines holding one are confirmed with `re`. On the bench's
  32 literals this runs at 1.3 GB/s on one core where hyperscan's literal matcher manages 0.75 GB/s. The
  search is leftmost-first and non-overlapping, so an occurrence that starts inside a reported one is
  invisible to it: every literal carries the list of literals that could overlap it (worked out once, at
  compile time) and those few offsets are checked by hand after each report. Signatures without a literal
  go to hyperscan when it imports, else to `re`.
- hyperscan: one block-mode database. Literal signatures contribute their literal, as above. A signature
  without one contributes its regex, rewritten from a small parse tree: named groups become
  non-capturing (hyperscan has none), classes never match a newline, and repeats at either end are cut to
  their minimum (`time: \\d+\\.\\d+` → `time: \\d+\\.\\d`), which keeps "this line matches" exact while
  giving one report per match instead of one per trailing digit. A construct the rewrite does not know
  turns the pattern into a hyperscan pre-filter (`HS_FLAG_PREFILTER`) confirmed by `re`.
- re (pure Python): the same literals located with `bytes.find` (memchr speed, one search per literal over
  the chunk, resumed after the line of each find); signatures without a literal run their newline-safe
  rewrite over the chunk with `re`.

The engines only say which pattern ended where: the line around each report is found with `rfind`/`find`,
and line numbers are counted between reports in a newline mask numpy builds once per chunk (three times
faster than `bytes.count`, which was a third of the scan time). Named groups are extracted with Python `re`
only for the hits a caller keeps. Block signatures (`flags: [block]`, e.g. Galera's multi-line quorum report) are
found by their start line and then matched with DOTALL over the next `lines` lines; a block cut by the chunk
end makes the next chunk start at its first line.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import IO, Any, Protocol, cast

import numpy as np
import yaml

from stackrx.models import Severity

_hs: Any
try:  # hyperscan wheels exist for x86-64 Linux only; everything works without it, slower.
    import hyperscan as _hs
except ImportError:  # pragma: no cover - exercised on platforms without the wheel
    _hs = None

_ac: Any
try:
    import ahocorasick_rs as _ac
except ImportError:  # pragma: no cover - exercised on platforms without the wheel
    _ac = None

BACKENDS = ("ahocorasick", "hyperscan", "re")

CHUNK_BYTES = 4 * 1024 * 1024

#: Log families a signature may name in `files` (the log layer tags each discovered file with these).
FAMILIES = frozenset(
    {"kernel", "syslog", "openstack", "nova", "neutron", "libvirt", "openvswitch", "ovn", "mysql", "rabbitmq"}
)
_FLAGS = frozenset({"caseless", "block"})


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


ByteStream = Readable | IO[bytes]
"""Something with `readinto()` (files, gzip, BytesIO, a byte range) or at least `read()`."""

RawMatch = tuple[int, int, bytes]
"""(signature index, 1-based line number, line bytes without the newline; a block's lines for block sigs)."""


@dataclass
class ScanStats:
    """Filled in by `Scanner.matches` once the stream is exhausted."""

    bytes: int = 0
    newlines: int = 0


class SignatureError(ValueError):
    """The signature table itself is malformed (a bug in the data file, reported at load time)."""


@dataclass(frozen=True)
class Signature:
    id: str
    regex: str
    severity: Severity
    message: str
    files: frozenset[str] | None = None
    flags: frozenset[str] = frozenset()
    start: str | None = None
    lines: int = 1
    verified: bool = False
    origin: str = ""
    examples: tuple[str, ...] = ()
    near_misses: tuple[str, ...] = ()

    @property
    def block(self) -> bool:
        return "block" in self.flags

    def applies_to(self, families: Iterable[str]) -> bool:
        return self.files is None or not self.files.isdisjoint(families)

    def compiled(self) -> re.Pattern[bytes]:
        return _compile(self.regex, self.flags)


@lru_cache(maxsize=512)
def _compile(regex: str, flags: frozenset[str]) -> re.Pattern[bytes]:
    value = 0
    if "caseless" in flags:
        value |= re.IGNORECASE
    if "block" in flags:
        value |= re.DOTALL
    return re.compile(regex.encode(), value)


# -- the table -----------------------------------------------------------------------------------------


def load_signatures(text: str | None = None) -> tuple[Signature, ...]:
    """Parse and validate the signature table (the packaged `signatures.yaml` unless `text` is given)."""
    if text is None:
        text = resources.files("stackrx.signatures").joinpath("signatures.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the table loads 5x faster
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise SignatureError(f"signature table is not valid YAML: {exc}") from exc
    rows = data.get("signatures") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise SignatureError("signature table must be a mapping with a `signatures` list")
    out: list[Signature] = []
    seen: set[str] = set()
    for row in rows:
        sig = _signature(row)
        if sig.id in seen:
            raise SignatureError(f"duplicate signature id {sig.id}")
        seen.add(sig.id)
        out.append(sig)
    return tuple(out)


def _signature(row: Any) -> Signature:
    if not isinstance(row, dict):
        raise SignatureError(f"signature row is not a mapping: {row!r}")
    sid = row.get("id")
    if not isinstance(sid, str) or not sid:
        raise SignatureError(f"signature without id: {row!r}")

    def text(key: str, default: str | None = None) -> str:
        value = row.get(key, default)
        if not isinstance(value, str):
            raise SignatureError(f"{sid}: `{key}` must be a string")
        return value

    def strings(key: str) -> tuple[str, ...]:
        value = row.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SignatureError(f"{sid}: `{key}` must be a list of strings")
        return tuple(value)

    try:
        severity = Severity(text("severity"))
    except ValueError as exc:
        raise SignatureError(f"{sid}: unknown severity {row.get('severity')!r}") from exc
    files = frozenset(strings("files")) if "files" in row else None
    if files is not None and not files <= FAMILIES:
        raise SignatureError(f"{sid}: unknown log families {sorted(files - FAMILIES)}")
    flags = frozenset(strings("flags"))
    if not flags <= _FLAGS:
        raise SignatureError(f"{sid}: unknown flags {sorted(flags - _FLAGS)}")
    start = row.get("start")
    lines = row.get("lines", 1)
    if "block" in flags:
        if not isinstance(start, str) or not isinstance(lines, int) or not 2 <= lines <= 200:
            raise SignatureError(f"{sid}: a block signature needs `start` and `lines` (2..200)")
    elif start is not None:
        raise SignatureError(f"{sid}: `start` is only for block signatures")
    sig = Signature(
        id=sid,
        regex=text("regex"),
        severity=severity,
        message=text("message"),
        files=files,
        flags=flags,
        start=start if isinstance(start, str) else None,
        lines=lines if isinstance(lines, int) else 1,
        verified=bool(row.get("verified", False)),
        origin=text("origin", ""),
        examples=strings("examples"),
        near_misses=strings("near_misses"),
    )
    for pattern in (sig.regex, sig.start) if sig.start else (sig.regex,):
        try:
            compiled = _compile(pattern, flags)
        except re.error as exc:
            raise SignatureError(f"{sid}: bad regex {pattern!r}: {exc}") from exc
        if compiled.search(b"") is not None:
            raise SignatureError(f"{sid}: regex {pattern!r} matches the empty string")
    return sig


# -- a small parse tree of the regex subset the table uses ---------------------------------------------


class _Unsupported(Exception):
    """A regex construct the rewriter does not model (lookaround, backreference, inline flags...)."""


@dataclass
class _Node:
    kind: str  # lit | class | any | anchor | group
    text: str = ""
    char: str = ""
    negated: bool = False
    alts: list[list[_Node]] = field(default_factory=list)
    lo: int = 1
    hi: int | None = 1
    lazy: bool = False


_QUANT = re.compile(r"\{(\d*)(,?)(\d*)\}")
_LITERAL_ESCAPES = {"t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_HS_SPACE = r"\t\x0b\x0c\r "


def _parse(pattern: str) -> list[list[_Node]]:
    alts, end = _parse_alts(pattern, 0, 0)
    if end != len(pattern):
        raise _Unsupported("unbalanced parenthesis")
    return alts


def _parse_alts(p: str, i: int, depth: int) -> tuple[list[list[_Node]], int]:
    seq: list[_Node] = []
    alts = [seq]
    while i < len(p):
        c = p[i]
        if c == "|":
            seq = []
            alts.append(seq)
            i += 1
            continue
        if c == ")":
            if depth == 0:
                raise _Unsupported("unbalanced parenthesis")
            return alts, i
        node, i = _parse_atom(p, i, depth)
        i = _parse_quantifier(p, i, node)
        seq.append(node)
    if depth:
        raise _Unsupported("unclosed group")
    return alts, i


def _parse_atom(p: str, i: int, depth: int) -> tuple[_Node, int]:
    c = p[i]
    if c == "(":
        if p.startswith("(?:", i):
            inner = i + 3
        elif p.startswith("(?P<", i):
            close = p.find(">", i)
            if close < 0:
                raise _Unsupported("bad group name")
            inner = close + 1
        elif p.startswith("(?", i):
            raise _Unsupported(f"group construct {p[i:i + 4]!r}")
        else:
            inner = i + 1
        alts, j = _parse_alts(p, inner, depth + 1)
        return _Node("group", alts=alts), j + 1
    if c == "[":
        j = i + 1
        negated = j < len(p) and p[j] == "^"
        if negated:
            j += 1
        if j < len(p) and p[j] == "]":
            j += 1
        while j < len(p) and p[j] != "]":
            j += 2 if p[j] == "\\" else 1
        if j >= len(p):
            raise _Unsupported("unclosed class")
        body = p[i + 1 + negated : j]
        if "[" in body.replace("\\[", ""):
            raise _Unsupported("nested class syntax")
        return _Node("class", text=body, negated=negated), j + 1
    if c == "\\":
        if i + 1 >= len(p):
            raise _Unsupported("trailing backslash")
        d = p[i + 1]
        if d in "dDsSwW":
            return _Node("class", text="\\" + d), i + 2
        if d in "bB":
            return _Node("anchor", text="\\" + d), i + 2
        if d in _LITERAL_ESCAPES:
            return _Node("lit", text="\\" + d, char=_LITERAL_ESCAPES[d]), i + 2
        if d == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", p[i + 2 : i + 4]):
            char = chr(int(p[i + 2 : i + 4], 16))
            if char == "\n":
                raise _Unsupported("newline in a single-line pattern")
            return _Node("lit", text=p[i : i + 4], char=char), i + 4
        if d.isalnum():
            raise _Unsupported(f"escape \\{d}")
        return _Node("lit", text="\\" + d, char=d), i + 2
    if c == ".":
        return _Node("any", text="."), i + 1
    if c in "^$":
        return _Node("anchor", text=c), i + 1
    if c in "*+?":
        raise _Unsupported("nothing to repeat")
    return _Node("lit", text=re.escape(c), char=c), i + 1


def _parse_quantifier(p: str, i: int, node: _Node) -> int:
    if i >= len(p):
        return i
    c = p[i]
    if c in "*+?":
        node.lo, node.hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        i += 1
    elif c == "{" and (m := _QUANT.match(p, i)) and (m.group(1) or m.group(3)):
        lo = int(m.group(1) or 0)
        hi = None if m.group(2) and not m.group(3) else int(m.group(3) or m.group(1))
        node.lo, node.hi = lo, hi
        i = m.end()
    else:
        return i
    if node.kind == "anchor":
        raise _Unsupported("quantified anchor")
    if i < len(p) and p[i] == "?":
        node.lazy = True
        i += 1
    elif i < len(p) and p[i] == "+":
        raise _Unsupported("possessive quantifier")
    return i


def _trim(seq: list[_Node], from_end: bool) -> list[_Node]:
    """Cut repeats at one end of a sequence to their minimum: same lines match, one report per match."""
    seq = list(seq)
    while seq:
        idx = -1 if from_end else 0
        node = seq[idx]
        if node.kind == "anchor":
            break
        if node.lo == 0:
            seq.pop(idx)
            continue
        if node.hi != node.lo:
            node = _Node(node.kind, node.text, node.char, node.negated, node.alts, node.lo, node.lo)
        if node.kind == "group" and node.lo == 1:
            node = _Node("group", alts=[_trim(alt, from_end) or alt for alt in node.alts])
        seq[idx] = node
        break
    return seq


def _render(alts: list[list[_Node]]) -> tuple[str, bool]:
    """PCRE text for hyperscan (no captures, never across a newline) and whether it is exact."""
    exact = True
    parts: list[str] = []
    for seq in alts:
        out: list[str] = []
        for node in seq:
            text, ok = _render_node(node)
            exact = exact and ok
            out.append(text + _quantifier(node))
        parts.append("".join(out))
    return "|".join(parts), exact


def _render_node(node: _Node) -> tuple[str, bool]:
    if node.kind == "group":
        inner, exact = _render(node.alts)
        return f"(?:{inner})", exact
    if node.kind == "class":
        if node.text in ("\\s",):
            return f"[{_HS_SPACE}]", True
        if node.text in ("\\D", "\\W"):
            return f"[^\\{node.text[1].lower()}\\n]", True
        if node.text.startswith("\\") and len(node.text) == 2:
            return node.text, True
        if node.negated:
            return f"[^\\n{node.text}]", True
        # Inside a positive class only \D and \W could reach a newline; \s is spelt without it.
        exact = "\\D" not in node.text and "\\W" not in node.text
        return "[" + node.text.replace("\\s", _HS_SPACE) + "]", exact
    return node.text, node.kind != "anchor" or node.text in ("^", "$", "\\b", "\\B")


def _quantifier(node: _Node) -> str:
    if node.lo == 1 and node.hi == 1:
        return ""
    if node.hi is None:
        base = "*" if node.lo == 0 else "+" if node.lo == 1 else f"{{{node.lo},}}"
    elif node.lo == 0 and node.hi == 1:
        base = "?"
    elif node.lo == node.hi:
        base = f"{{{node.lo}}}"
    else:
        base = f"{{{node.lo},{node.hi}}}"
    return base + ("?" if node.lazy else "")


def _flatten(seq: list[_Node]) -> list[_Node]:
    """Inline plain groups (one alternative, no quantifier): `(?P<x>ab)c` is the sequence `abc`."""
    out: list[_Node] = []
    for node in seq:
        if node.kind == "group" and len(node.alts) == 1 and node.lo == 1 and node.hi == 1:
            out.extend(_flatten(node.alts[0]))
        else:
            out.append(node)
    return out


def _literals(seq: list[_Node]) -> list[str]:
    """Runs of literal text that every match of `seq` contains."""
    runs: list[str] = []
    current = ""
    for node in _flatten(seq):
        if node.kind == "lit" and node.lo >= 1:
            current += node.char
            if node.hi == 1:
                continue
        runs.append(current)
        current = ""
    runs.append(current)
    return [r for r in runs if r]


@dataclass(frozen=True)
class _Plan:
    """How one scan pattern (a signature, or a block signature's start line) is searched."""

    sig: int
    pattern: str  # the single-line regex the scan looks for
    hs_text: str  # hyperscan-ready rewrite
    exact: bool  # a hyperscan report alone proves the line matches `pattern`
    literals: tuple[bytes, ...]  # every matching line contains one of them (the pre-filter, when any)
    pure: bool  # the pattern is nothing but its one literal
    chunk_regex: re.Pattern[bytes]  # newline-safe regex for chunk-wide search when there is no literal
    confirm: re.Pattern[bytes]  # the line-level truth, MULTILINE so it can run on buf[start:end] in place


def _plan(index: int, sig: Signature) -> _Plan:
    pattern = sig.start if sig.block and sig.start else sig.regex
    caseless = re.IGNORECASE if "caseless" in sig.flags else 0
    confirm = re.compile(pattern.encode(), re.MULTILINE | caseless)
    strings: list[str] = []
    pure = False
    try:
        alts = _parse(pattern)
        trimmed = [_trim(_trim(seq, True), False) or seq for seq in alts]
        hs_text, exact = _render(trimmed)
        strings = [] if caseless else _mandatory_strings(alts) or []
        pure = len(alts) == 1 and bool(strings) and strings == [_unescape(alts[0])]
    except _Unsupported:
        hs_text = re.sub(r"\(\?P<\w+>", "(?:", pattern)
        exact = False
    try:
        chunk_regex = re.compile(hs_text.encode(), re.MULTILINE | caseless)
    except re.error:
        chunk_regex = confirm
        exact = False
    literals = tuple(dict.fromkeys(s.encode() for s in strings))
    return _Plan(index, pattern, hs_text, exact, literals, pure, chunk_regex, confirm)


_MIN_LITERAL = 4


def _mandatory_strings(alts: list[list[_Node]]) -> list[str] | None:
    """Literals such that every match contains at least one of them (one or more per alternative)."""
    out: list[str] = []
    for seq in alts:
        best = _best_strings(seq)
        if best is None:
            return None
        out.extend(best)
    return out


def _best_strings(seq: list[_Node]) -> list[str] | None:
    # Spaces at either end of a pre-filter literal make hyperscan's literal matcher several times busier
    # (space is the commonest byte in a log); the run without them is still mandatory.
    single = max((run.strip(" \t") for run in _literals(seq)), key=len, default="")
    if len(single) >= 2 * _MIN_LITERAL:
        return [single]  # one long literal beats a set of alternatives: fewer entries, fewer false hits
    options = [[single]] if len(single) >= _MIN_LITERAL else []
    for node in _flatten(seq):
        if node.kind == "group" and node.lo >= 1 and len(node.alts) > 1:
            inner = _mandatory_strings(node.alts)
            if inner:
                options.append(inner)
    if not options:
        return None
    return max(options, key=lambda option: (min(map(len, option)), -len(option)))


def _unescape(seq: list[_Node]) -> str:
    """The text a pattern made only of literals matches ('' when it has anything else)."""
    flat = _flatten(seq)
    if not all(n.kind == "lit" and n.lo == n.hi == 1 for n in flat):
        return ""
    return "".join(n.char for n in flat)


def _pcre_literal(literal: bytes) -> str:
    """A byte string as a PCRE pattern that matches exactly it."""
    return "".join(chr(b) if chr(b).isalnum() and b < 128 else f"\\x{b:02x}" for b in literal)


# -- the scanner ---------------------------------------------------------------------------------------


def hyperscan_available() -> bool:
    return _hs is not None


def ahocorasick_available() -> bool:
    return _ac is not None


def preferred_backend() -> str:
    """`STACKRX_SCANNER` when set (bench and tests compare backends with it), else the fastest that imports."""
    forced = os.environ.get("STACKRX_SCANNER", "")
    if forced:
        if forced not in BACKENDS:
            raise ValueError(f"STACKRX_SCANNER={forced!r}: expected one of {', '.join(BACKENDS)}")
        return forced
    return "ahocorasick" if _ac is not None else "hyperscan" if _hs is not None else "re"


ChunkHit = tuple[int, int, int, int]
"""(signature index, line number, start, end) with start/end offsets into `Chunk.buf`."""


@dataclass
class Chunk:
    """One scanned piece of a stream: its hits, with offsets into a buffer reused by the next chunk."""

    buf: bytearray
    stop: int
    hits: list[ChunkHit]

    def head_lines(self, count: int) -> Iterator[bytes]:
        """The first lines of the chunk (timestamp probes)."""
        pos = 0
        for _ in range(count):
            if pos >= self.stop:
                return
            end = self.buf.find(b"\n", pos, self.stop)
            end = self.stop if end < 0 else end
            yield bytes(self.buf[pos : min(end, pos + 64)])
            pos = end + 1

    def tail_lines(self, count: int) -> Iterator[bytes]:
        """The last lines of the chunk, last first (timestamp probes)."""
        end = self.stop - 1 if self.stop and self.buf[self.stop - 1] == 10 else self.stop
        for _ in range(count):
            if end <= 0:
                return
            start = self.buf.rfind(b"\n", 0, end) + 1
            yield bytes(self.buf[start : min(end, start + 64)])
            end = start - 1


class Scanner:
    """All signatures compiled once; `chunks()` / `matches()` stream a file once for all of them."""

    def __init__(
        self,
        signatures: Sequence[Signature] | None = None,
        backend: str | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.signatures = tuple(signatures) if signatures is not None else default_signatures()
        self.chunk_bytes = max(chunk_bytes, 4096)
        self.plans = [_plan(i, s) for i, s in enumerate(self.signatures)]
        self.index = {s.id: i for i, s in enumerate(self.signatures)}
        if backend is None:
            backend = preferred_backend()
        if backend not in BACKENDS:
            raise ValueError(f"unknown scanner backend {backend!r}")
        if (backend == "hyperscan" and _hs is None) or (backend == "ahocorasick" and _ac is None):
            raise RuntimeError(f"{backend} backend requested but its module does not import")
        self.backend = backend
        self._db: Any = None
        self._automaton: Any = None
        self._shadows: list[tuple[tuple[int, bytes, int], ...]] = []
        # Report ids index `_order`: automaton literals first, then hyperscan patterns, then `re` plans.
        self._order: list[_Plan] = []
        self._re_plans: list[_Plan] = []
        rest = list(self.plans)
        if backend == "ahocorasick":
            self._compile_automaton([p for p in rest if p.literals])
            rest = [p for p in rest if not p.literals]
            backend = "hyperscan" if rest and _hs is not None else "re"
        if backend == "hyperscan":
            self._compile_hyperscan(rest)
        else:
            self._re_plans = rest
        self._order += self._re_plans
        if len(self._order) > _ID_MASK:
            raise SignatureError(f"too many scan patterns ({len(self._order)}, at most {_ID_MASK})")
        first_re = len(self._order) - len(self._re_plans)
        # Per report id: (signature bit, confirming search or None when a report is proof, signature, block).
        self._pid_info = [
            (1 << p.sig, None if p.exact and i < first_re else p.confirm.search, p.sig, self.signatures[p.sig].block)
            for i, p in enumerate(self._order)
        ]
        self._first_re = first_re

    def _compile_automaton(self, plans: list[_Plan]) -> None:
        """All literals in one leftmost-first automaton, each with the literals that could hide inside it."""
        assert _ac is not None
        entries = [(replace(plan, exact=plan.pure), lit) for plan in plans for lit in plan.literals]
        if not entries:
            return
        self._automaton = _ac.BytesAhoCorasick([lit for _p, lit in entries], matchkind=_ac.MATCHKIND_LEFTMOST_FIRST)
        self._order = [plan for plan, _lit in entries]
        literals, owners = [lit for _p, lit in entries], [plan.sig for plan, _lit in entries]
        self._shadows = [_shadows(pid, literals, owners) for pid in range(len(entries))]

    def _compile_hyperscan(self, plans: list[_Plan]) -> None:
        """One block-mode database: a signature's mandatory literal when it has one, else its rewrite.

        A literal is much cheaper for hyperscan than the full pattern (a leading `\\S+` or a frequent
        first character costs it more than Python's check of the few flagged lines), and lines holding the
        literal are confirmed with `re` anyway. Report ids continue after the automaton's.
        """
        assert _hs is not None
        first = len(self._order)
        entries: list[tuple[_Plan, str, int]] = []
        for plan in plans:
            base = _hs.HS_FLAG_MULTILINE
            if "caseless" in self.signatures[plan.sig].flags:
                base |= _hs.HS_FLAG_CASELESS
            if plan.literals:
                entries += [(replace(plan, hs_text=_pcre_literal(lit), exact=plan.pure), "", base)
                            for lit in plan.literals]
            else:
                entries.append((plan, plan.hs_text, base))
        if not entries:
            return
        try:
            self._db = self._hs_database([(p.hs_text, f) for p, _t, f in entries], first)
            self._order += [p for p, _t, _f in entries]
            return
        except _hs.error:
            pass
        # Something in the table is beyond hyperscan: find it, pre-filter it, or leave it to `re`.
        kept: list[tuple[_Plan, int]] = []
        for plan, _text, base in entries:
            for extra, exact in ((0, plan.exact), (_hs.HS_FLAG_PREFILTER, False)):
                try:
                    self._hs_database([(plan.hs_text, base | extra)])
                except _hs.error:
                    continue
                kept.append((replace(plan, exact=exact), base | extra))
                break
            else:
                self._re_plans.append(plan)
        if kept:
            self._db = self._hs_database([(p.hs_text, f) for p, f in kept], first)
            self._order += [p for p, _f in kept]

    @staticmethod
    def _hs_database(patterns: list[tuple[str, int]], first: int = 0) -> Any:
        assert _hs is not None
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        db.compile(
            expressions=[text.encode() for text, _f in patterns],
            ids=list(range(first, first + len(patterns))),
            flags=[f for _t, f in patterns],
        )
        return db

    # -- per-line helpers --------------------------------------------------------------------------------
    def search(self, sig_index: int, text: bytes) -> re.Match[bytes] | None:
        """The signature's own regex on one line (or block): the source of truth and of the groups."""
        return self.signatures[sig_index].compiled().search(text)

    def scan_lines(self, lines: Iterable[bytes | str], only: Sequence[bool] | None = None) -> list[RawMatch]:
        """Convenience for tests and small inputs: scan an iterable of lines (newlines optional)."""
        data = b"".join((x.encode() if isinstance(x, str) else x).rstrip(b"\n") + b"\n" for x in lines)
        return list(self.matches(io.BytesIO(data), only=only))

    # -- the streaming pass ------------------------------------------------------------------------------
    def matches(
        self, stream: ByteStream, only: Sequence[bool] | None = None, stats: ScanStats | None = None
    ) -> Iterator[RawMatch]:
        """Every (signature, line) hit of a byte stream, in file order, one pass for all signatures."""
        for chunk in self.chunks(stream, only, stats):
            buf = chunk.buf
            for sig, line_no, start, end in chunk.hits:
                yield sig, line_no, bytes(buf[start:end])

    def chunks(
        self, stream: ByteStream, only: Sequence[bool] | None = None, stats: ScanStats | None = None
    ) -> Iterator[Chunk]:
        """The stream in chunks cut at a newline, each with its hits in file order.

        `only[i]` False skips signature i (e.g. a kernel signature in a nova log). A chunk's buffer is reused
        for the next one: copy what must outlive it. Reading stops quietly on a truncated gzip stream.
        """
        want = [True] * len(self.signatures) if only is None else [bool(x) for x in only]
        size = self.chunk_bytes
        buf = bytearray(size)
        filled = 0
        line_no = 1  # line number of buf[0]
        eof = False
        total = carried = 0
        fill = _filler(stream)
        newlines = _NewlineMask(buf)
        with memoryview(buf) as view:
            while not eof:
                while filled < size:
                    try:
                        n = fill(view[filled:])
                    except (OSError, EOFError):
                        n = 0
                    if not n:
                        eof = True
                        break
                    filled += n
                if filled == 0:
                    break
                total += filled - carried
                if eof:
                    stop = filled
                else:
                    cut = buf.rfind(b"\n", 0, filled)
                    stop = filled if cut < 0 else cut + 1  # a line longer than the buffer is cut here
                hits: list[ChunkHit] = []
                resume, next_line = self._scan_chunk(buf, view, newlines, stop, eof, line_no, want, hits)
                yield Chunk(buf, resume, hits)
                line_no = next_line
                keep = filled - resume
                buf[:keep] = buf[resume:filled]
                filled = carried = keep
        if stats is not None:
            stats.bytes = total
            stats.newlines = line_no - 1

    def _scan_chunk(
        self, buf: bytearray, view: memoryview, newlines: _NewlineMask, stop: int, eof: bool, line_no: int,
        want: list[bool], out: list[ChunkHit],
    ) -> tuple[int, int]:
        """Scan buf[:stop]; returns (offset where the next chunk starts, line number there)."""
        mask = newlines.load(stop)
        reports = self._reports(buf, view, stop, want)
        if not reports:
            return stop, line_no + int(np.count_nonzero(mask[:stop]))
        reports.sort()
        pid_info = self._pid_info
        # Signatures this file is not scanned for count as already seen on every line.
        unwanted = sum(1 << i for i, w in enumerate(want) if not w)
        sigs = self.signatures
        rfind, find, count, append = buf.rfind, buf.find, np.count_nonzero, out.append
        counted = 0  # offset up to which newlines are counted into line_no
        line_start = line_end = -1
        seen = 0
        for code in reports:
            pos = code >> _ID_BITS
            if pos > line_end:
                line_start = rfind(b"\n", 0, pos) + 1
                e = find(b"\n", pos, stop)
                line_end = stop if e < 0 else e
                line_no += int(count(mask[counted:line_start]))
                counted = line_start
                seen = unwanted
            bit, confirm, sig, block = pid_info[code & _ID_MASK]
            if seen & bit:
                continue
            if confirm is not None and confirm(buf, line_start, line_end) is None:
                continue
            seen |= bit
            if not block:
                append((sig, line_no, line_start, line_end))
                continue
            block_end = self._block_end(sigs[sig], buf, line_end, stop)
            if block_end < 0:
                if not eof and line_start > 0 and stop - line_start < len(buf) // 2:
                    # The block runs past this chunk: restart the next chunk at its first line.
                    while out and out[-1][1] >= line_no:
                        out.pop()
                    return line_start, line_no
                block_end = stop
            if sigs[sig].compiled().search(bytes(buf[line_start:block_end]).rstrip(b"\n")) is not None:
                out.append((sig, line_no, line_start, block_end))
        return stop, line_no + int(count(mask[counted:stop]))

    @staticmethod
    def _block_end(sig: Signature, buf: bytearray, line_end: int, stop: int) -> int:
        """End of the block of `sig.lines` lines that starts with the line ending at line_end; -1 if cut."""
        end = line_end
        for _ in range(sig.lines - 1):
            if end >= stop - 1:
                return -1
            nxt = buf.find(b"\n", end + 1, stop)
            if nxt < 0:
                return -1
            end = nxt
        return end

    def _reports(self, buf: bytearray, view: memoryview, stop: int, want: list[bool]) -> list[int]:
        """Match reports as ints `end_offset << _ID_BITS | report id`."""
        reports: list[int] = []
        if self._automaton is not None:
            self._automaton_reports(buf, view, stop, reports)
        if self._db is not None:
            add = reports.append

            def on_match(pid: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
                add(end << _ID_BITS | pid)

            self._db.scan(view[:stop], match_event_handler=on_match)
        for pid in range(self._first_re, len(self._order)):
            plan = self._order[pid]
            if want[plan.sig]:
                self._re_reports(pid, plan, buf, stop, reports)
        return reports

    def _automaton_reports(self, buf: bytearray, view: memoryview, stop: int, reports: list[int]) -> None:
        add, shadows, starts = reports.append, self._shadows, buf.startswith
        for pid, start, end in self._automaton.find_matches_as_indexes(view[:stop]):
            add(end << _ID_BITS | pid)
            # Every occurrence the leftmost-first search skipped starts inside a reported one.
            for offset, literal, other in shadows[pid]:
                if starts(literal, start + offset, stop):
                    add((start + offset + len(literal)) << _ID_BITS | other)

    @staticmethod
    def _re_reports(pid: int, plan: _Plan, buf: bytearray, stop: int, reports: list[int]) -> None:
        if plan.literals:
            for lit in plan.literals:
                step = len(lit)
                pos = buf.find(lit, 0, stop)
                while pos >= 0:
                    reports.append((pos + step) << _ID_BITS | pid)
                    nl = buf.find(b"\n", pos + step, stop)
                    if nl < 0:
                        break
                    pos = buf.find(lit, nl + 1, stop)
            return
        pos = 0
        search = plan.chunk_regex.search
        while pos < stop:
            m = search(buf, pos, stop)
            if m is None:
                break
            # The line holding the match start is the one to confirm (a fallback regex may run on).
            reports.append((m.start() + 1) << _ID_BITS | pid)
            nl = buf.find(b"\n", m.start(), stop)
            if nl < 0:
                break
            pos = nl + 1


_ID_BITS = 12
_ID_MASK = (1 << _ID_BITS) - 1


def _shadows(pid: int, literals: list[bytes], owners: list[int]) -> tuple[tuple[int, bytes, int], ...]:
    """(offset, literal, id) of every literal that could start inside literal `pid` where it occurs.

    A leftmost-first search resumes after each match, so such an occurrence is never reported by it. Offset 0
    covers a literal sharing a prefix with this one: at one start, only the first listed is reported. Literals
    of the same signature are left out: its line is already reported, and confirmed by the same regex.
    """
    mine = literals[pid]
    out = []
    for other, literal in enumerate(literals):
        if owners[other] == owners[pid]:
            continue
        for offset in range(len(mine)):
            overlap = min(len(mine) - offset, len(literal))
            if mine[offset : offset + overlap] == literal[:overlap]:
                out.append((offset, literal, other))
    return tuple(out)


class _NewlineMask:
    """The newlines of the chunk buffer as a numpy mask, so a count between two offsets is one SIMD call."""

    def __init__(self, buf: bytearray) -> None:
        self._bytes = np.frombuffer(buf, dtype=np.uint8)
        self._mask = np.empty(len(buf), dtype=np.bool_)

    def load(self, stop: int) -> Any:
        """Mark the newlines of buf[:stop]; returns the mask (valid up to `stop`)."""
        np.equal(self._bytes[:stop], 10, out=self._mask[:stop])
        return self._mask


def _filler(stream: ByteStream) -> Callable[[memoryview], int]:
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return lambda target: readinto(target) or 0

    def fill(target: memoryview) -> int:
        data = cast(IO[bytes], stream).read(len(target))
        target[: len(data)] = data
        return len(data)

    return fill


@lru_cache(maxsize=1)
def default_signatures() -> tuple[Signature, ...]:
    return load_signatures()


_SCANNERS: dict[str, Scanner] = {}


def default_scanner() -> Scanner:
    """The packaged table compiled once per process (per backend choice)."""
    backend = preferred_backend()
    scanner = _SCANNERS.get(backend)
    if scanner is None:
        scanner = _SCANNERS[backend] = Scanner(backend=backend)
    return scanner
