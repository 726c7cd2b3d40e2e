"""Log signatures found on one host: every log file streamed once through the signature scanner.

Discovery (paths are logical, relative to the node root):
- kernel: the first family present of `var/log/kern.log*`, `var/log/messages*` (RHEL), `var/log/syslog*`,
  the journal (`sos_commands/logs/journalctl_--no-pager*`), dmesg (`sos_commands/kernel/dmesg`,
  `var/log/dmesg*`, the `dmesg` command). One source only: the same kernel line sits in all of them, and
  counting it four times would turn one event into a storm.
- daemons via syslog (keepalived, dnsmasq): the first of `syslog*`, `messages*`, the journal.
- service logs: `var/log/<svc>/`, TripleO `var/log/containers/<svc>/`, kolla `var/log/kolla/<svc>/` and the
  `kolla_logs` volume, Sunbeam's snap log dir; libvirt (`var/log/libvirt/`, `qemu/`), Open vSwitch, OVN,
  MySQL/MariaDB, RabbitMQ. Rotations (`.1`, `.2.gz`, `-20220210`) are read oldest first.

Timestamps: oslo/ISO 8601 (`2022-02-10 16:19:17.123`, `...T...Z`, `+0000`, MariaDB's space-padded hour),
syslog (`Feb 10 16:19:17`, year taken from the collection time, a date in the future means last year),
old MySQL (`161109  9:25:42`), RabbitMQ reports, `dmesg -T` (`[Thu Feb 10 16:19:17 2022]`) and kernel
`[seconds]` since boot (boot = collection time − uptime from `proc/uptime` or `uptime`; without one the
timestamp stays None). Stamps without a zone are taken in the collection time's zone. A line without a
timestamp of its own (a traceback or command-line continuation) takes the one of the closest line above it.
A line older than `collected_at − window` is out of the window; a line with no timestamp at all is in it.

Per signature the result keeps the first and last `KEEP` in-window hits (and the last `KEEP` older ones)
plus exact counts, so memory does not grow with the logs. Checks that need every hit (rates per MAC, per
router) use `iter_hits`. A chunk whose first and last lines are both well inside or well outside the window
is judged as a whole; big plain files are split between forked processes.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import pickle
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, Any, cast

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Cited
from stackrx.signatures.scanner import (
    FAMILIES,
    ByteStream,
    Chunk,
    ChunkHit,
    Scanner,
    ScanStats,
    Signature,
    default_scanner,
)
from stackrx.sources.base import HostView, Text

KEEP = 50
"""Hits kept at each end (first and last) per signature."""
EXCERPT_CHARS = 300
DEFAULT_WINDOW_DAYS = 7

# -- discovery -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    path: str
    """Logical path in the view, or `cmd:<key>` for a command's output (live `dmesg`)."""
    families: frozenset[str]


_JOURNAL_GLOB = "sos_commands/logs/journalctl_--no-pager*"
_KERNEL_SOURCES = (
    "var/log/kern.log*",
    "var/log/messages*",
    "var/log/syslog*",
    _JOURNAL_GLOB,
    "sos_commands/kernel/dmesg",
    "var/log/dmesg*",
)
_DAEMON_SOURCES = ("var/log/syslog*", "var/log/messages*", _JOURNAL_GLOB)
_SERVICE_ROOTS = (
    "var/log",
    "var/log/containers",
    "var/log/kolla",
    "var/lib/docker/volumes/kolla_logs/_data",
    "var/lib/containers/storage/volumes/kolla_logs/_data",
    "var/snap/openstack-hypervisor/common/log",
)
_OPENSTACK_SERVICES = (
    "nova", "neutron", "glance", "cinder", "keystone", "heat", "placement", "octavia", "manila", "ironic",
    "aodh", "ceilometer", "gnocchi", "barbican", "designate", "magnum", "horizon", "swift", "trove",
)
_OTHER_SERVICES: dict[str, frozenset[str]] = {
    "libvirt": frozenset({"libvirt"}),
    "openvswitch": frozenset({"openvswitch", "ovn"}),
    "ovn": frozenset({"ovn"}),
    "mysql": frozenset({"mysql"}),
    "mariadb": frozenset({"mysql"}),
    "rabbitmq": frozenset({"rabbitmq"}),
}
_EXTRA_FILES: tuple[tuple[str, frozenset[str]], ...] = (
    ("var/log/mysqld.log*", frozenset({"mysql"})),
    ("var/lib/mysql/*.err", frozenset({"mysql"})),
    ("var/log/rabbitmq/log/*.log*", frozenset({"rabbitmq"})),
    ("var/log/libvirt/qemu/*.log*", frozenset({"libvirt"})),
    ("var/log/containers/libvirt/qemu/*.log*", frozenset({"libvirt"})),
    ("var/log/kolla/libvirt/qemu/*.log*", frozenset({"libvirt"})),
    ("var/lib/neutron/ha_confs/*/neutron-keepalived-state-change.log*", frozenset({"openstack", "neutron"})),
    ("var/log/apache2/*nova*.log*", frozenset({"openstack", "nova"})),
    ("var/log/httpd/*nova*.log*", frozenset({"openstack", "nova"})),
)
_NOT_LOGS = (".swp", ".tmp", ".lock", ".pid", ".pos")
_JOURNAL_ALL = "sos_commands/logs/journalctl_--no-pager"

_ROTATION = re.compile(r"^(?P<base>.+?)(?:[.-](?P<n>\d{1,3})|-(?P<date>\d{8}))?(?P<gz>\.gz)?$")


def _age(path: str) -> tuple[str, int]:
    """(base name, age rank): the current file is 0, `.1` is 1, dateext rotations count back from today."""
    m = _ROTATION.match(path)
    if m is None:
        return path, 0
    if m.group("n"):
        return m.group("base"), int(m.group("n")) + 1
    if m.group("date"):
        return m.group("base"), 100_000_000 - int(m.group("date"))
    return m.group("base"), 0


def _order(path: str) -> tuple[str, int, str]:
    """Oldest rotation first, so hits come out in time order within one log."""
    base, age = _age(path)
    return base, -age, path


def _log_files(view: HostView, patterns: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for pattern in patterns:
        # sos keeps only the tail of a big log, as sos_strings/<plugin>/var.log.syslog.tailed
        tailed = "sos_strings/*/" + pattern.replace("/", ".") + ".tailed"
        for path in (*view.glob(pattern), *view.glob(tailed)):
            if path.endswith(_NOT_LOGS) or view.is_dir(path):
                continue
            found.add(path)
    return sorted(found, key=_order)


def _nonempty(view: HostView, paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        info = view.stat(path)
        if info is not None and info.size > 0:
            out.append(path)
    return out


def _journal(paths: list[str]) -> list[str]:
    if _JOURNAL_ALL in paths:
        return [_JOURNAL_ALL]
    # Without the full journal, per-boot dumps do not overlap; summaries like --disk-usage are not logs.
    return [p for p in paths if "--boot" in p or p.endswith("--catalog")]


def _first_source(view: HostView, sources: tuple[str, ...]) -> list[str]:
    for pattern in sources:
        paths = _nonempty(view, _log_files(view, (pattern,)))
        if pattern == _JOURNAL_GLOB:
            paths = _journal(paths)
        if paths:
            return paths
    return []


def discover_logs(view: HostView) -> list[LogFile]:
    """Every log file of the host with the families it is scanned for (see the module docstring)."""
    tags: dict[str, set[str]] = {}

    def tag(paths: Iterable[str], families: Iterable[str]) -> None:
        for path in paths:
            tags.setdefault(path, set()).update(families)

    kernel = _first_source(view, _KERNEL_SOURCES)
    if kernel:
        tag(kernel, {"kernel"})
    elif view.kind != "sosreport":
        tags.setdefault("cmd:dmesg", set()).add("kernel")
    tag(_first_source(view, _DAEMON_SOURCES), {"syslog"})
    for root in _SERVICE_ROOTS:
        for svc in _OPENSTACK_SERVICES:
            tag(_log_files(view, (f"{root}/{svc}/*.log*", f"{root}/{svc}/*/*.log*")), {"openstack", svc})
        for svc, families in _OTHER_SERVICES.items():
            tag(_log_files(view, (f"{root}/{svc}/*.log*",)), families)
    for pattern, families in _EXTRA_FILES:
        tag(_log_files(view, (pattern,)), families)
    return [LogFile(p, frozenset(tags[p])) for p in sorted(tags, key=lambda p: (p.startswith("cmd:"), _order(p)))]


# -- timestamps ------------------------------------------------------------------------------------------

_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_ISO = re.compile(rb"(\d{4})-(\d\d)-(\d\d)[ T] ?(\d{1,2}):(\d\d):(\d\d)")
_FRACTION_ZONE = re.compile(rb"(?:[.,](\d{1,9}))?(?: ?(Z|[+-]\d\d:?\d\d|UTC)(?!\w))?")
_FRACTION = re.compile(rb"\.(\d{1,9})")
_SYSLOG = re.compile(rb"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)")
_OLD_MYSQL = re.compile(rb"(\d\d)(\d\d)(\d\d) {1,2}(\d{1,2}):(\d\d):(\d\d) ")
_KERNEL = re.compile(rb"\[\s*(\d{1,10})\.(\d{1,9})\]")
_DMESG_T = re.compile(rb"\[(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\]")
_RABBIT = re.compile(rb"=[A-Z ]+REPORT={4} (\d{1,2})-([A-Z][a-z]{2})-(\d{4})::(\d\d):(\d\d):(\d\d)")
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=256)
def _zone_offset(text: bytes) -> int:
    """Seconds east of UTC; ValueError for something that only looks like a zone."""
    if text in (b"Z", b"UTC"):
        return 0
    sign = -1 if text[:1] == b"-" else 1
    digits = text[1:].replace(b":", b"")
    hours, minutes = int(digits[:2]), int(digits[2:4])
    if hours > 23 or minutes > 59:
        raise ValueError(text)
    return sign * (hours * 3600 + minutes * 60)


def _clock(hour: bytes, minute: bytes, second: bytes) -> int | None:
    """Seconds since midnight from the three fields, None unless they form a valid time of day."""
    try:
        h, m, s = int(hour), int(minute), int(second)
    except ValueError:
        return None
    if h > 23 or m > 59 or s > 60 or h < 0 or m < 0 or s < 0:
        return None
    return h * 3600 + m * 60 + s


def _fraction(digits: bytes | None) -> float:
    return int(digits) / 10 ** len(digits) if digits else 0.0


class TimestampParser:
    """The timestamp a log line starts with, as POSIX seconds (`epoch`) or an aware datetime (`parse`).

    Matched lines are sparse, so per-second caching rarely hits; the common layouts (oslo/ISO, syslog)
    are read from fixed byte positions and only the date part is cached.
    """

    def __init__(self, collected_at: datetime | None, boot_time: datetime | None = None) -> None:
        reference = collected_at or datetime.now(UTC)
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=UTC)
        self.tz: tzinfo = reference.tzinfo or UTC
        self._ref_date = reference.astimezone(self.tz).date()
        self._boot = boot_time.timestamp() if boot_time is not None else None
        self._days: dict[bytes, float | None] = {}

    # -- public ------------------------------------------------------------------------------------------
    def epoch(self, line: bytes, precise: bool = False) -> float | None:
        """POSIX seconds of the line's timestamp (whole seconds unless `precise`), None when it has none."""
        c = line[:1]
        if c.isdigit():
            if line[4:5] == b"-" and line[13:14] == b":" and line[16:17] == b":":
                day = self._day(line[:10], iso=True)
                if day is not None:
                    clock = _clock(line[11:13], line[14:16], line[17:19])
                    if clock is None:
                        return self._slow(line, precise)
                    return self._iso_tail(line, 19, day + clock, precise)
            return self._slow(line, precise)
        if c == b"[":
            if line[1:2] in b" 0123456789":
                return self._kernel(line, precise)
            return self._slow(line, precise)
        if line[3:4] == b" " and line[6:7] == b" " and line[9:10] == b":" and line[12:13] == b":":
            day = self._day(line[:6], iso=False)
            if day is not None:
                clock = _clock(line[7:9], line[10:12], line[13:15])
                if clock is None:
                    return None
                value = day + clock
                if precise and line[15:16] == b".":
                    m = _FRACTION.match(line, 15)
                    if m:
                        value += _fraction(m.group(1))
                return value
        return self._slow(line, precise)

    def parse(self, line: bytes, precise: bool = False) -> datetime | None:
        value = self.epoch(line, precise)
        if value is None:
            return None
        try:
            return datetime.fromtimestamp(value, tz=self.tz)
        except (OverflowError, OSError, ValueError):
            return None

    # -- layouts -----------------------------------------------------------------------------------------
    def _day(self, key: bytes, iso: bool) -> float | None:
        """POSIX seconds of local midnight of a date (`2022-02-10` or syslog's `Feb 10`), cached."""
        if key in self._days:
            return self._days[key]
        value: float | None = None
        try:
            if iso:
                value = self._midnight(int(key[:4]), int(key[5:7]), int(key[8:10]))
            elif key[:3] in _MONTHS:
                value = self._syslog_day(_MONTHS[key[:3]], int(key[4:6]))
        except ValueError:
            value = None
        if len(self._days) > 4096:
            self._days.clear()
        self._days[key] = value
        return value

    def _midnight(self, year: int, month: int, day: int) -> float:
        local = datetime(year, month, day, tzinfo=self.tz)
        return (local - _UNIX_EPOCH).total_seconds()

    def _syslog_day(self, month: int, day: int) -> float | None:
        """Syslog has no year: the collection year, or the one before when the date would be in the future."""
        year = self._ref_date.year
        for _ in range(9):  # Feb 29 needs a leap year: walk back until the date exists
            try:
                candidate = date(year, month, day)
            except ValueError:
                year -= 1
                continue
            if candidate > self._ref_date + timedelta(days=1):
                year -= 1
                continue
            return self._midnight(year, month, day)
        return None

    def _iso_tail(self, line: bytes, pos: int, value: float, precise: bool) -> float:
        """Fraction and zone after the seconds of an ISO stamp (no zone: the collection zone, already in)."""
        if line[pos:pos + 1] not in (b".", b",", b" ", b"Z", b"+", b"-"):
            return value
        m = _FRACTION_ZONE.match(line, pos)
        if m is None:
            return value
        if m.group(2):
            try:
                # `value` was computed as local time of the collection zone: move it to the stated zone.
                local_offset = self._offset_at(value)
                value += local_offset - _zone_offset(m.group(2))
            except ValueError:
                pass
        if precise:
            value += _fraction(m.group(1))
        return value

    def _offset_at(self, value: float) -> int:
        offset = datetime.fromtimestamp(value, tz=self.tz).utcoffset()
        return int(offset.total_seconds()) if offset else 0

    def _kernel(self, line: bytes, precise: bool) -> float | None:
        if self._boot is None:
            return None
        m = _KERNEL.match(line)
        if m is None:
            return self._slow(line, precise)
        return self._boot + int(m.group(1)) + (_fraction(m.group(2)) if precise else 0.0)

    def _slow(self, line: bytes, precise: bool) -> float | None:
        """The rarer layouts: unpadded ISO hours, old MySQL, `dmesg -T`, RabbitMQ reports."""
        try:
            m = _ISO.match(line)
            if m:
                y, mo, d, h, mi, s = (int(g) for g in m.groups())
                if h > 23 or mi > 59 or s > 60:
                    return None
                return self._iso_tail(line, m.end(), self._midnight(y, mo, d) + h * 3600 + mi * 60 + s, precise)
            m = _OLD_MYSQL.match(line)
            if m:
                y, mo, d, h, mi, s = (int(g) for g in m.groups())
                return self._midnight(2000 + y, mo, d) + h * 3600 + mi * 60 + s
            m = _DMESG_T.match(line)
            if m and m.group(1) in _MONTHS:
                d, h, mi, s, y = (int(g) for g in m.groups()[1:])
                return self._midnight(y, _MONTHS[m.group(1)], d) + h * 3600 + mi * 60 + s
            m = _RABBIT.match(line)
            if m and m.group(2) in _MONTHS:
                y, h, mi, s = (int(g) for g in m.groups()[2:])
                return self._midnight(y, _MONTHS[m.group(2)], int(m.group(1))) + h * 3600 + mi * 60 + s
        except (ValueError, OverflowError):
            return None
        return None


_FUZZ_REFERENCE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def parse_timestamps(text: Text) -> tuple[datetime | None, ...]:
    """Timestamp of every line of a log text (reference time fixed; used by the fuzz bench and tests)."""
    parser = TimestampParser(_FUZZ_REFERENCE, _FUZZ_REFERENCE - timedelta(days=3))
    return tuple(parser.parse(line.encode("utf-8", "replace"), precise=True) for line in text.lines())


_UPTIME = re.compile(
    r"\bup\s+(?:(?P<days>\d+)\s+days?,?\s*)?(?:(?P<h>\d{1,2}):(?P<m>\d\d)|(?P<min>\d+)\s+min)?", re.I
)


def parse_uptime(text: Text) -> float | None:
    """Seconds since boot from `/proc/uptime` ("12345.67 2345.6") or `uptime` ("16:19:19 up 5 days, 3:02")."""
    content = text.content.strip()
    first = content.split()[0] if content else ""
    if re.fullmatch(r"\d+(?:\.\d+)?", first):
        return float(first)
    m = _UPTIME.search(content)
    if m is None or not any(m.group(g) for g in ("days", "h", "min")):
        return None
    seconds = int(m.group("days") or 0) * 86400
    if m.group("h"):
        seconds += int(m.group("h")) * 3600 + int(m.group("m")) * 60
    elif m.group("min"):
        seconds += int(m.group("min")) * 60
    return float(seconds)


def boot_time(view: HostView, collected_at: datetime | None) -> datetime | None:
    if collected_at is None:
        return None
    for text in (view.read_text("proc/uptime"), view.command("uptime")):
        if text is not None:
            seconds = parse_uptime(text)
            if seconds is not None:
                try:
                    return collected_at - timedelta(seconds=seconds)
                except OverflowError:
                    return None
    return None


FUZZ_TARGETS: list[Callable[[Text], Any]] = [parse_timestamps, parse_uptime]


# -- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit(Cited):
    sig_id: str
    source: str
    line: int
    excerpt: str
    timestamp: datetime | None
    groups: dict[str, str]
    in_window: bool


_Kept = tuple[float | None, int, int, bytes]
"""(POSIX seconds of the line, file order, line number, raw line) of a hit held back for the result."""


def _time_order(kept: _Kept) -> tuple[bool, float, int, int]:
    ts, order, line_no, _line = kept
    return ts is None, ts if ts is not None else 0.0, order, line_no


@dataclass
class _SigTally:
    count: int = 0
    old: int = 0
    first: list[_Kept] = field(default_factory=list)
    last: deque[_Kept] = field(default_factory=lambda: deque(maxlen=KEEP))
    older: deque[_Kept] = field(default_factory=lambda: deque(maxlen=KEEP))

    def merge(self, other: _SigTally) -> None:
        """Fold another file's (or another part's) tally in, keeping the globally first and last hits."""
        self.count += other.count
        self.old += other.old
        combined = sorted([*self.first, *self.last, *other.first, *other.last], key=_time_order)
        self.first = combined[:KEEP]
        self.last = deque(combined[KEEP:][-KEEP:], maxlen=KEEP)
        self.older = deque(sorted([*self.older, *other.older], key=_time_order)[-KEEP:], maxlen=KEEP)

    def renumbered(self, order: int, offset: int) -> _SigTally:
        def move(items: Iterable[_Kept]) -> list[_Kept]:
            return [(ts, order, line_no + offset, line) for ts, _o, line_no, line in items]

        return _SigTally(
            self.count, self.old, move(self.first),
            deque(move(self.last), maxlen=KEEP), deque(move(self.older), maxlen=KEEP),
        )


class SignatureHits:
    """In-window hits per signature (first and last KEEP, in time order) with exact counts."""

    def __init__(
        self,
        scanner: Scanner,
        tallies: dict[int, _SigTally],
        files: list[LogFile],
        sources: dict[int, str],
        parser: TimestampParser,
        cutoff: datetime | None,
        collected_at: datetime | None,
    ) -> None:
        self._scanner = scanner
        self._tallies = tallies
        self.files = tuple(files)
        self._sources = sources
        self._parser = parser
        self.window_start = cutoff
        self.collected_at = collected_at
        self.families = frozenset(f for lf in files for f in lf.families)
        self._cache: dict[tuple[str, bool], list[Hit]] = {}

    def signature(self, sig_id: str) -> Signature:
        return self._scanner.signatures[self._index(sig_id)]

    def _index(self, sig_id: str) -> int:
        try:
            return self._scanner.index[sig_id]
        except KeyError:
            raise KeyError(f"unknown signature {sig_id!r}") from None

    def covered(self, sig_id: str) -> bool:
        """Whether at least one log of the families this signature is looked for in was scanned."""
        return self.signature(sig_id).applies_to(self.families)

    def require(self, sig_id: str) -> None:
        """MissingEvidence when no log this signature applies to was found (absence ≠ all clear)."""
        if not self.covered(sig_id):
            sig = self.signature(sig_id)
            wanted = ", ".join(sorted(sig.files or ())) or "any"
            raise MissingEvidence(f"logs for {sig_id} (families: {wanted})")

    def count(self, sig_id: str) -> int:
        tally = self._tallies.get(self._index(sig_id))
        return tally.count if tally else 0

    def total(self, sig_id: str) -> int:
        """In-window and older hits."""
        tally = self._tallies.get(self._index(sig_id))
        return tally.count + tally.old if tally else 0

    def get(self, sig_id: str) -> list[Hit]:
        return self._hits(sig_id, old=False)

    def older(self, sig_id: str) -> list[Hit]:
        """The most recent hits from before the window (up to KEEP), oldest first."""
        return self._hits(sig_id, old=True)

    def ids(self) -> list[str]:
        """Signatures with at least one in-window hit."""
        return [self._scanner.signatures[i].id for i, t in sorted(self._tallies.items()) if t.count]

    def _hits(self, sig_id: str, old: bool) -> list[Hit]:
        key = (sig_id, old)
        cached = self._cache.get(key)
        if cached is not None:
            return list(cached)
        index = self._index(sig_id)
        tally = self._tallies.get(index)
        if tally is None:
            return []
        raw = sorted(tally.older if old else [*tally.first, *tally.last], key=_time_order)
        hits = [_hit(self._scanner, index, self._sources[f], ln, line, self._parser, not old, ts)
                for ts, f, ln, line in raw]
        self._cache[key] = hits
        return list(hits)


def _hit(scanner: Scanner, index: int, source: str, line_no: int, line: bytes, parser: TimestampParser,
         in_window: bool, inherited: float | None = None) -> Hit:
    sig = scanner.signatures[index]
    m = scanner.search(index, line)
    groups = {k: v.decode("utf-8", "replace") for k, v in m.groupdict().items() if v is not None} if m else {}
    text = line.decode("utf-8", "replace")
    if sig.block:
        text = " ".join(part.strip() for part in text.splitlines())
    text = text.rstrip("\r")
    excerpt = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
    when = parser.parse(line, precise=True)
    if when is None and inherited is not None:
        when = datetime.fromtimestamp(inherited, tz=parser.tz)
    return Hit(sig.id, source, line_no, excerpt, when, groups, in_window)


# -- scanning --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    collected_at: datetime | None
    boot: datetime | None
    cutoff: datetime | None


def _only(scanner: Scanner, families: frozenset[str], sig_filter: frozenset[int] | None) -> list[bool]:
    return [sig.applies_to(families) and (sig_filter is None or i in sig_filter)
            for i, sig in enumerate(scanner.signatures)]


# A chunk whose first and last timestamps are both this far on one side of the window start is taken as a
# whole (logs are written in time order; lines within a chunk are never hours out of order).
_CHUNK_MARGIN_S = 6 * 3600
_PROBE_LINES = 8


def _chunk_side(chunk: Chunk, epoch: Callable[[bytes], float | None], limit: float) -> int:
    """1: every line of the chunk is in the window, -1: none is, 0: look at each hit."""
    first = next((t for line in chunk.head_lines(_PROBE_LINES) if (t := epoch(line)) is not None), None)
    last = next((t for line in chunk.tail_lines(_PROBE_LINES) if (t := epoch(line)) is not None), None)
    if first is None or last is None or first > last + 3600:
        return 0
    if first >= limit + _CHUNK_MARGIN_S:
        return 1
    if last < limit - _CHUNK_MARGIN_S:
        return -1
    return 0


def _line_time(buf: bytearray, start: int, epoch: Callable[[bytes], float | None]) -> float | None:
    """The line's own timestamp, else the one of the closest line above it (continuation lines)."""
    for _ in range(_PROBE_LINES):
        ts = epoch(bytes(buf[start : start + 64]))
        if ts is not None or start == 0:
            return ts
        start = buf.rfind(b"\n", 0, start - 1) + 1
    return None


def _tally_stream(
    scanner: Scanner, stream: ByteStream, only: list[bool], parser: TimestampParser, cutoff: datetime | None,
    order: int, tallies: dict[int, _SigTally], stats: ScanStats | None = None,
) -> None:
    epoch = parser.epoch
    limit = cutoff.timestamp() if cutoff is not None else None
    for chunk in scanner.chunks(stream, only=only, stats=stats):
        if not chunk.hits:
            continue
        side = 1 if limit is None else _chunk_side(chunk, epoch, limit)
        if side:
            _tally_one_side(chunk, side > 0, epoch, order, tallies)
        else:
            assert limit is not None
            _tally_by_timestamp(chunk, limit, epoch, order, tallies)


def _tally_one_side(chunk: Chunk, inside: bool, epoch: Callable[[bytes], float | None], order: int,
                    tallies: dict[int, _SigTally]) -> None:
    """A chunk wholly inside the window (or wholly before it).

    Counting and grouping by signature run in C (a busy API log has a match on one line in twenty), and
    only hits that can be kept are copied out of the buffer: the first KEEP, and this chunk's last KEEP
    (a later chunk pushes older ones out of the `last` deques anyway).
    """
    hits, buf = chunk.hits, chunk.buf
    sigs = [hit[0] for hit in hits]
    grouped = sorted(range(len(hits)), key=sigs.__getitem__)  # stable: file order within a signature
    at = 0
    for sig, count in sorted(Counter(sigs).items()):
        group = grouped[at : at + count]
        at += count
        tally = tallies.get(sig)
        if tally is None:
            tally = tallies[sig] = _SigTally()
        if inside:
            tally.count += count
            room = max(0, KEEP - len(tally.first))
            tally.first.extend(_keep(buf, hits[i], None, 1, epoch, order) for i in group[:room])
            tally.last.extend(_keep(buf, hits[i], None, 1, epoch, order) for i in group[room:][-KEEP:])
        else:
            tally.old += count
            tally.older.extend(_keep(buf, hits[i], None, 1, epoch, order) for i in group[-KEEP:])


def _tally_by_timestamp(chunk: Chunk, limit: float, epoch: Callable[[bytes], float | None], order: int,
                        tallies: dict[int, _SigTally]) -> None:
    """A chunk the window starts in: each hit's own timestamp decides."""
    buf = chunk.buf
    late: dict[int, list[tuple[float | None, ChunkHit]]] = {}
    old: dict[int, list[tuple[float | None, ChunkHit]]] = {}
    for hit in chunk.hits:
        sig = hit[0]
        tally = tallies.get(sig)
        if tally is None:
            tally = tallies[sig] = _SigTally()
        ts = _line_time(buf, hit[2], epoch)
        if ts is None or ts >= limit:
            tally.count += 1
            if len(tally.first) < KEEP:
                tally.first.append(_keep(buf, hit, ts, 0, epoch, order))
            else:
                late.setdefault(sig, []).append((ts, hit))
        else:
            tally.old += 1
            old.setdefault(sig, []).append((ts, hit))
    for sig, items in late.items():
        tallies[sig].last.extend(_keep(buf, hit, ts, 0, epoch, order) for ts, hit in items[-KEEP:])
    for sig, items in old.items():
        tallies[sig].older.extend(_keep(buf, hit, ts, 0, epoch, order) for ts, hit in items[-KEEP:])


def _keep(buf: bytearray, hit: ChunkHit, ts: float | None, side: int,
          epoch: Callable[[bytes], float | None], order: int) -> _Kept:
    if side:
        ts = _line_time(buf, hit[2], epoch)
    return ts, order, hit[1], bytes(buf[hit[2] : hit[3]])


def _open(view: HostView, log: LogFile) -> IO[bytes] | None:
    if log.path.startswith("cmd:"):
        text = view.command(log.path[4:])
        return io.BytesIO(text.content.encode("utf-8", "replace")) if text else None
    return view.open_binary(log.path)


def _source_name(view: HostView, log: LogFile) -> str:
    if log.path.startswith("cmd:"):
        text = view.command(log.path[4:])
        return text.source if text else log.path
    return view.source_name(log.path)


# A big plain file is cut into line-aligned byte ranges scanned in parallel by forked processes. Threads would
# not help: the per-line confirmation and the tally run in Python and hold the GIL.
PARALLEL_MIN_BYTES = 64 * 1024 * 1024
RANGES_PER_WORKER = 4


def _workers() -> int:
    if threading.active_count() > 1:
        return 1  # forking a threaded process can deadlock the child on a lock another thread held
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except (AttributeError, OSError):
        return max(1, min(os.cpu_count() or 1, 8))


class _RangeReader:
    """readinto() limited to [start, end) of an open file."""

    def __init__(self, raw: io.FileIO, start: int, end: int) -> None:
        raw.seek(start)
        self._raw = raw
        self._left = end - start

    def readinto(self, target: memoryview, /) -> int:
        if self._left <= 0:
            return 0
        n = self._raw.readinto(target[: min(len(target), self._left)]) or 0
        self._left -= n
        return n


def _scan_range(path: str, start: int, end: int, only: list[bool], ctx: _Context) -> tuple[dict[int, _SigTally], int]:
    """Worker: tally one byte range of a plain file; returns the tallies and the newlines in the range."""
    tallies: dict[int, _SigTally] = {}
    stats = ScanStats()
    with open(path, "rb", buffering=0) as raw:
        stream = _RangeReader(raw, start, end)
        _tally_stream(default_scanner(), stream, only, TimestampParser(ctx.collected_at, ctx.boot), ctx.cutoff,
                      0, tallies, stats)
    return tallies, stats.newlines


def _split(path: Path, size: int, parts: int) -> list[tuple[int, int]]:
    """About equal byte ranges, each starting at a line start."""
    bounds = [0]
    with path.open("rb") as fh:
        for k in range(1, parts):
            fh.seek(size * k // parts)
            fh.readline()
            pos = fh.tell()
            if bounds[-1] < pos < size:
                bounds.append(pos)
    bounds.append(size)
    return list(itertools.pairwise(bounds))


def _scan_parallel(real: Path, size: int, workers: int, only: list[bool], ctx: _Context, order: int
                   ) -> dict[int, _SigTally]:
    """Line-aligned ranges shared out on demand between this process and forked children.

    There are RANGES_PER_WORKER ranges per process, handed out through a pipe of range numbers (4-byte
    reads from a pipe do not interleave), so a process on a busier core simply takes fewer: with one range
    each, the run lasts as long as the slowest core's half. A bare fork costs a few milliseconds where a
    process pool costs tens; children send their tallies back through a pipe, and ranges a failed child had
    taken are scanned here.
    """
    ranges = _split(real, size, workers * RANGES_PER_WORKER)
    token_read, token_write = os.pipe()
    os.write(token_write, b"".join(i.to_bytes(4, "little") for i in range(len(ranges))))
    os.close(token_write)  # a drained pipe then reads as end of file
    children: list[tuple[int, int]] = []
    for _ in range(min(workers, len(ranges)) - 1):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            status = 1
            try:
                os.close(read_fd)
                payload = pickle.dumps(_take_ranges(token_read, real, ranges, only, ctx), pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(payload)
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        children.append((pid, read_fd))
    parts = _take_ranges(token_read, real, ranges, only, ctx)
    os.close(token_read)
    for pid, read_fd in children:
        with os.fdopen(read_fd, "rb") as pipe:
            payload = pipe.read()
        _pid, status = os.waitpid(pid, 0)
        try:
            if status == 0 and payload:
                parts.update(pickle.loads(payload))
        except (pickle.UnpicklingError, EOFError, ValueError):
            pass
    out: dict[int, _SigTally] = {}
    offset = 0
    for index, (start, end) in enumerate(ranges):
        tallies, newlines = parts[index] if index in parts else _scan_range(str(real), start, end, only, ctx)
        _merge_into(out, {sig: tally.renumbered(order, offset) for sig, tally in tallies.items()})
        offset += newlines
    return out


def _take_ranges(tokens: int, real: Path, ranges: list[tuple[int, int]], only: list[bool], ctx: _Context
                 ) -> dict[int, tuple[dict[int, _SigTally], int]]:
    """Scan ranges by number from the token pipe until it is empty."""
    done: dict[int, tuple[dict[int, _SigTally], int]] = {}
    while len(token := os.read(tokens, 4)) == 4:
        index = int.from_bytes(token, "little")
        done[index] = _scan_range(str(real), *ranges[index], only, ctx)
    return done


def _tally_file(
    scanner: Scanner, real: Path | None, opener: Callable[[], IO[bytes] | None], only: list[bool],
    parser: TimestampParser, ctx: _Context, order: int, workers: int,
) -> dict[int, _SigTally]:
    """One file's tallies: in worker processes when it is big and plain, else streamed here."""
    size = real.stat().st_size if real is not None and real.is_file() else 0
    if real is not None and workers > 1 and size >= PARALLEL_MIN_BYTES and scanner is default_scanner():
        return _scan_parallel(real, size, workers, only, ctx, order)
    tallies: dict[int, _SigTally] = {}
    stream = opener()
    if stream is not None:
        with stream:
            _tally_stream(scanner, stream, only, parser, ctx.cutoff, order, tallies)
    return tallies


def _merge_into(tallies: dict[int, _SigTally], part: dict[int, _SigTally]) -> None:
    for sig, tally in part.items():
        if sig in tallies:
            tallies[sig].merge(tally)
        else:
            tallies[sig] = tally


def _scan_all(
    view: HostView, scanner: Scanner, files: list[LogFile], parser: TimestampParser, ctx: _Context,
) -> tuple[dict[int, _SigTally], dict[int, str]]:
    tallies: dict[int, _SigTally] = {}
    sources: dict[int, str] = {}
    workers = _workers()
    for order, log in enumerate(files):
        only = _only(scanner, log.families, None)
        if not any(only):
            continue
        sources[order] = _source_name(view, log)
        plain = not log.path.startswith("cmd:") and not log.path.endswith(".gz")
        real = view.resolve(log.path) if plain else None
        part = _tally_file(scanner, real, partial(_open, view, log), only, parser, ctx, order, workers)
        _merge_into(tallies, part)
    return tallies, sources


def _context(view: HostView, window_days: float) -> _Context:
    collected = view.collected_at()
    if collected is not None and collected.tzinfo is None:
        collected = collected.replace(tzinfo=UTC)
    cutoff = collected - timedelta(days=window_days) if collected is not None and window_days > 0 else None
    return _Context(collected, boot_time(view, collected), cutoff)


def load_signature_hits(view: HostView, window_days: int = DEFAULT_WINDOW_DAYS) -> SignatureHits:
    """Scan every log of the host once for the whole signature table (memoise with `facts.get`)."""
    files = discover_logs(view)
    if not files:
        raise MissingEvidence("log files (var/log/*, sos_commands/kernel/dmesg, sos_commands/logs/journalctl_*)")
    scanner = default_scanner()
    ctx = _context(view, window_days)
    parser = TimestampParser(ctx.collected_at, ctx.boot)
    tallies, sources = _scan_all(view, scanner, files, parser, ctx)
    return SignatureHits(scanner, tallies, files, sources, parser, ctx.cutoff, ctx.collected_at)


def scan_path(
    path: Path | str,
    collected_at: datetime | None = None,
    window_days: float = DEFAULT_WINDOW_DAYS,
    families: Iterable[str] | None = None,
    uptime_s: float | None = None,
    workers: int | None = None,
) -> SignatureHits:
    """One local log file (plain or .gz) through the table: every signature, or those of `families`.

    The window is measured back from `collected_at` (default: the file's mtime).
    """
    real = Path(path)
    if collected_at is None:
        collected_at = datetime.fromtimestamp(real.stat().st_mtime, tz=UTC)
    elif collected_at.tzinfo is None:
        collected_at = collected_at.replace(tzinfo=UTC)
    boot = collected_at - timedelta(seconds=uptime_s) if uptime_s is not None else None
    cutoff = collected_at - timedelta(days=window_days) if window_days > 0 else None
    ctx = _Context(collected_at, boot, cutoff)
    scanner = default_scanner()
    log = LogFile(str(real), frozenset(families) if families is not None else FAMILIES)
    parser = TimestampParser(collected_at, boot)
    only = _only(scanner, log.families, None)

    def opener() -> IO[bytes]:
        if real.name.endswith(".gz"):
            return cast(IO[bytes], gzip.open(real, "rb"))
        return real.open("rb", buffering=0)

    plain = None if real.name.endswith(".gz") else real
    tallies = _tally_file(scanner, plain, opener, only, parser, ctx, 0, workers or _workers())
    return SignatureHits(scanner, tallies, [log], {0: str(real)}, parser, cutoff, collected_at)


def iter_hits(view: HostView, sig_ids: Iterable[str], window_days: int = DEFAULT_WINDOW_DAYS) -> Iterator[Hit]:
    """Every in-window hit of the given signatures, file by file in time order (a fresh streaming pass)."""
    scanner = default_scanner()
    wanted = frozenset(scanner.index[s] for s in sig_ids)
    ctx = _context(view, window_days)
    parser = TimestampParser(ctx.collected_at, ctx.boot)
    for log in discover_logs(view):
        only = _only(scanner, log.families, wanted)
        if not any(only):
            continue
        stream = _open(view, log)
        if stream is None:
            continue
        source = _source_name(view, log)
        limit = ctx.cutoff.timestamp() if ctx.cutoff is not None else None
        with stream:
            for chunk in scanner.chunks(stream, only=only):
                buf = chunk.buf
                for sig, line_no, start, end in chunk.hits:
                    ts = _line_time(buf, start, parser.epoch)
                    if limit is None or ts is None or ts >= limit:
                        yield _hit(scanner, sig, source, line_no, bytes(buf[start:end]), parser, True, ts)


def summary(facts: Facts) -> dict[str, Any]:
    try:
        hits: SignatureHits = facts.get(load_signature_hits)
    except (MissingEvidence, ParseError):
        return {}
    return {
        "log_files": len(hits.files),
        "log_window_start": hits.window_start.isoformat() if hits.window_start else None,
        "signature_hits": {sig_id: hits.count(sig_id) for sig_id in hits.ids()},
    }
