"""The signature table and its scanner: examples, near misses, real lines, backends agreeing, flat memory."""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.models import Severity
from stackrx.signatures.scanner import (
    FAMILIES,
    Scanner,
    ScanStats,
    SignatureError,
    ahocorasick_available,
    default_signatures,
    hyperscan_available,
    load_signatures,
    preferred_backend,
)

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
LOGHUB_OPENSTACK = REALDATA / "loghub" / "OpenStack" / "OpenStack_2k.log"
COMPUTE4 = REALDATA / "hotsos" / "openstack-compute4-sosreport"

SIGS = default_signatures()
IDS = [s.id for s in SIGS]
REGISTRY = [  # CATALOGUE.md §3, every row
    "R-CT-FULL", "R-BOND-DOWN", "R-BOND-NONE", "R-NOVA-SPAWN", "R-IMGCACHE-RM", "R-BACKING", "R-CONSOLE-TRUNC",
    "R-CONSOLE-TYPE", "R-WSGI", "R-GALERA-Q", "R-MYSQL-UPG", "R-OVS-BRMISS", "R-OVN-GENEVE-HDR",
    "R-OVN-ENCAP-DUP", "R-DNSMASQ", "R-KEEPALIVED",
]
needs_hyperscan = pytest.mark.skipif(not hyperscan_available(), reason="hyperscan not importable")
needs_ahocorasick = pytest.mark.skipif(not ahocorasick_available(), reason="ahocorasick_rs not importable")
BACKENDS = ["re", pytest.param("hyperscan", marks=needs_hyperscan),
            pytest.param("ahocorasick", marks=needs_ahocorasick)]
AVAILABLE = ["re"] + (["hyperscan"] if hyperscan_available() else []) + (
    ["ahocorasick"] if ahocorasick_available() else [])


@pytest.fixture(scope="module", params=BACKENDS)
def scanner(request: pytest.FixtureRequest) -> Scanner:
    return Scanner(backend=request.param)


def hits_of(scanner: Scanner, sig_id: str, lines: list[str]) -> list[tuple[int, bytes]]:
    index = scanner.index[sig_id]
    return [(line_no, text) for sig, line_no, text in scanner.scan_lines(lines) if sig == index]


# -- the table -----------------------------------------------------------------------------------------


def test_table_holds_every_registry_row_with_valid_metadata() -> None:
    assert set(REGISTRY) <= set(IDS)
    assert len(IDS) == len(set(IDS))
    for sig in SIGS:
        assert isinstance(sig.severity, Severity)
        assert sig.message and sig.origin
        assert sig.examples, f"{sig.id} has no example line"
        assert sig.near_misses, f"{sig.id} has no near miss"
        assert sig.files is None or sig.files <= FAMILIES


def test_galera_quorum_is_a_block_signature() -> None:
    galera = SIGS[IDS.index("R-GALERA-Q")]
    assert galera.block and galera.start == "Quorum results:" and galera.lines >= 9


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{id: R-X, regex: 'x(', severity: low, message: m}", "bad regex"),
        ("{id: R-X, regex: 'a*', severity: low, message: m}", "matches the empty string"),
        ("{id: R-X, regex: foo, severity: low, message: m, files: [nowhere]}", "unknown log families"),
        ("{id: R-X, regex: foo, severity: urgent, message: m}", "unknown severity"),
        ("{id: R-X, regex: foo, severity: low, message: m, flags: [block]}", "needs `start`"),
        ("{id: R-X, regex: foo, severity: low, message: m, flags: [fast]}", "unknown flags"),
        ("{regex: foo, severity: low, message: m}", "without id"),
    ],
)
def test_malformed_rows_are_rejected(row: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        load_signatures(f"signatures:\n  - {row}\n")


def test_duplicate_ids_are_rejected() -> None:
    row = "  - {id: R-X, regex: foo, severity: low, message: m}\n"
    with pytest.raises(SignatureError, match="duplicate"):
        load_signatures("signatures:\n" + row + row)


# -- examples and near misses, both backends -------------------------------------------------------------


@pytest.mark.parametrize("sig_id", IDS)
def test_examples_match_and_near_misses_do_not(scanner: Scanner, sig_id: str) -> None:
    sig = SIGS[IDS.index(sig_id)]
    for example in sig.examples:
        assert hits_of(scanner, sig_id, [example]), f"{sig_id} misses {example!r}"
    for miss in sig.near_misses:
        assert not hits_of(scanner, sig_id, [miss]), f"{sig_id} matches near miss {miss!r}"


@pytest.mark.parametrize(
    ("sig_id", "example", "groups"),
    [
        ("R-IMGCACHE-RM", 2, {"path": "/var/lib/nova/instances/_base/7b4783508212f5d242cbf9ff56fb8d33b4ce6166_10"}),
        ("R-BOND-DOWN", 0, {"bond": "bond1", "slave2": "ens19"}),
        ("R-BOND-DOWN", 1, {"bond": "bond0", "slave": "enp2s0"}),
        ("R-KEEPALIVED", 0, {"inst": "VR_24", "state": "BACKUP"}),
        ("R-KEEPALIVED", 1, {"inst": "VR_1", "state": "MASTER"}),
        ("R-OVN-ENCAP-DUP", 0, {"type": "geneve", "ip": "10.46.100.84"}),
        ("R-OVN-ENCAP-DUP", 1, {"type": "geneve", "ip": "10.0.0.31"}),
        ("R-BACKING", 1, {"path": "/var/lib/nova/instances/_base/7b4783508212f5d242cbf9ff56fb8d33b4ce6166"}),
        ("R-WSGI", 0, {"m": "GET", "st": "200", "len": "1893", "t": "0.2477829"}),
        ("R-DNSMASQ", 0, {"type": "REQUEST", "iface": "tap5c1a2b3c-4d", "ip": "10.0.1.15",
                          "mac": "fa:16:3e:12:34:56"}),
        ("R-DNSMASQ", 1, {"type": "DISCOVER", "mac": "fa:16:3e:12:34:56"}),
        ("R-GALERA-Q", 0, {"comp": "PRIMARY", "conf": "4", "j": "3", "t": "3",
                           "uuid": "8a5f1c0e-4f3e-11ef-9a0b-2e6f0c1d2b3a"}),
        ("R-OVN-GENEVE-HDR", 0, {"v": "30", "min": "38"}),
    ],
)
def test_named_groups(scanner: Scanner, sig_id: str, example: int, groups: dict[str, str]) -> None:
    index = scanner.index[sig_id]
    sig = SIGS[index]
    (hit,) = hits_of(scanner, sig_id, [sig.examples[example]])
    m = scanner.search(index, hit[1])
    assert m is not None
    got = {k: v.decode() for k, v in m.groupdict().items() if v is not None}
    assert {k: got.get(k) for k in groups} == groups


# -- real lines -----------------------------------------------------------------------------------------


@pytest.mark.skipif(not LOGHUB_OPENSTACK.is_file(), reason="loghub sample not present")
def test_real_nova_lines_from_loghub(scanner: Scanner) -> None:
    lines = LOGHUB_OPENSTACK.read_text().splitlines()
    removals = hits_of(scanner, "R-IMGCACHE-RM", lines)
    # Exactly the "Removing base or swap file" lines; "Removable base files" / "too young" are not removals.
    assert len(removals) == sum("Removing base or swap file: " in line for line in lines) > 0
    assert all(b"Removing base or swap file: /var/lib/nova/instances/_base/" in text for _n, text in removals)
    spawns = hits_of(scanner, "R-NOVA-SPAWN", lines)
    assert len(spawns) == sum("seconds to spawn the instance on the hypervisor" in line for line in lines) > 0
    wsgi = hits_of(scanner, "R-WSGI", lines)
    assert len(wsgi) == sum('" status: ' in line and " time: " in line for line in lines) > 1000
    assert not hits_of(scanner, "R-BACKING", lines)


@pytest.mark.skipif(not COMPUTE4.is_dir(), reason="compute4 sosreport not present")
def test_real_keepalived_and_dnsmasq_lines_from_compute4(scanner: Scanner) -> None:
    syslog = (COMPUTE4 / "var" / "log" / "syslog").read_text(errors="replace").splitlines()
    (hit,) = hits_of(scanner, "R-KEEPALIVED", syslog)
    assert b"(VR_24) Entering BACKUP STATE" in hit[1]
    assert syslog[hit[0] - 1].endswith("Entering BACKUP STATE (init)")
    journal = (COMPUTE4 / "sos_commands" / "logs" / "journalctl_--no-pager").read_text(errors="replace")
    # The node's dnsmasq only logs its ranges (no log-dhcp): those lines are not DHCP exchanges.
    assert not hits_of(scanner, "R-DNSMASQ", journal.splitlines())
    kern = (COMPUTE4 / "var" / "log" / "kern.log").read_text(errors="replace").splitlines()
    for sig_id in ("R-CT-FULL", "R-BOND-DOWN", "R-BOND-NONE", "R-NET-RATELIMIT"):
        assert not hits_of(scanner, sig_id, kern), sig_id  # a healthy node


# -- backends agree --------------------------------------------------------------------------------------


def _corpus(seed: int, count: int) -> bytes:
    """Examples, near misses, mutated examples and filler, one per line."""
    rng = random.Random(seed)
    pool = [line for sig in SIGS for line in (*sig.examples, *sig.near_misses)]
    filler = [
        "Feb 10 00:00:19 compute4 kernel: [ 4931.803472] audit: type=1400 apparmor=\"DENIED\"",
        "2022-02-10 01:23:24.312 1603 DEBUG neutron.agent.linux.utils [-] Running command",
        "", "x" * 700, "\t", "Quorum results:",
    ]
    out: list[str] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.3:
            out.append(rng.choice(pool))
        elif kind < 0.6:
            line = list(rng.choice(pool))
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(line) + 1)
                op = rng.random()
                if op < 0.4 and pos < len(line):
                    del line[pos]
                elif op < 0.8:
                    line.insert(pos, rng.choice(" :()[]\"'\\0123456789abcdefXYZ_-./,\t"))
                else:
                    line[pos:pos] = line[max(0, pos - 5) : pos]
            out.append("".join(line))
        else:
            out.append(rng.choice(filler))
    return "\n".join(out).encode() + b"\n"


@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_every_backend_gives_identical_hits(chunk: int) -> None:
    assert len(AVAILABLE) == 3 or not (hyperscan_available() and ahocorasick_available())
    data = _corpus(seed=11, count=6000)
    results = {backend: list(Scanner(backend=backend, chunk_bytes=chunk).matches(io.BytesIO(data)))
               for backend in AVAILABLE}
    for backend, got in results.items():
        assert got == results["re"], backend
    assert len({sig for sig, _n, _t in results["re"]}) == len(SIGS)  # every signature was exercised


def test_results_do_not_depend_on_chunk_size(scanner: Scanner) -> None:
    data = _corpus(seed=5, count=3000)
    small = Scanner(backend=scanner.backend, chunk_bytes=4096)
    assert list(small.matches(io.BytesIO(data))) == list(scanner.matches(io.BytesIO(data)))


def test_every_hit_is_what_the_regex_says_line_by_line(scanner: Scanner) -> None:
    """The ground truth: each signature's own regex run on each line separately."""
    data = _corpus(seed=23, count=3000)
    lines = data.split(b"\n")[:-1]
    expected = []
    for line_no, line in enumerate(lines, 1):
        for index, sig in enumerate(SIGS):
            if not sig.block and sig.compiled().search(line):
                expected.append((index, line_no, line))
    got = [m for m in scanner.matches(io.BytesIO(data)) if not SIGS[m[0]].block]
    assert sorted(got) == sorted(expected)


_CACHED = {backend: Scanner(backend=backend) for backend in AVAILABLE}
_LINES = [x for s in SIGS for x in (*s.examples, *s.near_misses) if "\n" not in x]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_LINES), max_size=6),
       st.text(alphabet=" :()[]\"'\\0123456789abXYZ_-./,", max_size=12), st.integers(0, 400))
def test_mutated_lines_agree_with_the_regex(lines: list[str], noise: str, where: int) -> None:
    lines = [line[: where % (len(line) + 1)] + noise + line[where % (len(line) + 1) :] for line in lines]
    data = "\n".join(lines).encode() + b"\n"
    expected = sorted((i, n, line) for n, line in enumerate(data.split(b"\n")[:-1], 1)
                      for i, sig in enumerate(SIGS) if not sig.block and sig.compiled().search(line))
    for sc in _CACHED.values():
        got = sorted(m for m in sc.matches(io.BytesIO(data)) if not SIGS[m[0]].block)
        assert got == expected, sc.backend


def test_block_signature_spanning_a_chunk_boundary() -> None:
    block = SIGS[IDS.index("R-GALERA-Q")].examples[0]
    for backend in AVAILABLE:
        sc = Scanner(backend=backend, chunk_bytes=4096)
        for pad in range(3900, 4200, 37):  # move the block across the 4 KiB chunk edge
            data = ("x" * 60 + "\n") * (pad // 61) + block + "\nafter\n"
            hits = [m for m in sc.matches(io.BytesIO(data.encode())) if m[0] == IDS.index("R-GALERA-Q")]
            assert len(hits) == 1, (backend, pad)
            assert hits[0][1] == pad // 61 + 1
            assert hits[0][2].count(b"\n") >= 8


def test_truncated_block_is_not_a_hit(scanner: Scanner) -> None:
    miss = SIGS[IDS.index("R-GALERA-Q")].near_misses[0]
    assert not hits_of(scanner, "R-GALERA-Q", miss.splitlines())


def test_line_numbers_and_stats(scanner: Scanner) -> None:
    data = b"a\n\nnf_conntrack: table full, dropping packet\nb\r\nnf_conntrack: table full, dropping packet"
    stats = ScanStats()
    got = list(scanner.matches(io.BytesIO(data), stats=stats))
    assert [(n, t) for _s, n, t in got] == [
        (3, b"nf_conntrack: table full, dropping packet"), (5, b"nf_conntrack: table full, dropping packet")
    ]
    assert stats.newlines == 4 and stats.bytes == len(data)


def test_only_mask_skips_signatures(scanner: Scanner) -> None:
    line = SIGS[IDS.index("R-CT-FULL")].examples[0]
    only = [sid != "R-CT-FULL" for sid in IDS]
    assert not [m for m in scanner.matches(io.BytesIO(line.encode() + b"\n"), only=only)]


def test_gzip_stream_and_truncated_gzip(scanner: Scanner) -> None:
    line = SIGS[IDS.index("R-BOND-NONE")].examples[1].encode() + b"\n"
    blob = gzip.compress(b"noise\n" * 1000 + line + b"noise\n" * 1000)
    whole = list(scanner.matches(gzip.GzipFile(fileobj=io.BytesIO(blob))))
    assert [(s, n) for s, n, _t in whole] == [(IDS.index("R-BOND-NONE"), 1001)]
    # A rotation cut short (sos tails big logs) ends the stream without an exception.
    list(scanner.matches(gzip.GzipFile(fileobj=io.BytesIO(blob[: len(blob) // 2]))))


def test_huge_line_without_newline_does_not_break_the_scan(scanner: Scanner) -> None:
    sc = Scanner(backend=scanner.backend, chunk_bytes=4096)
    data = b"z" * 50_000 + b"\n" + SIGS[IDS.index("R-CT-FULL")].examples[1].encode() + b"\n"
    assert [(s, n) for s, n, _t in sc.matches(io.BytesIO(data))] == [(IDS.index("R-CT-FULL"), 2)]


# -- memory ---------------------------------------------------------------------------------------------

# VmHWM is the peak of this process's own memory (ru_maxrss would carry pytest's over the exec).
_MEMORY_PROBE = textwrap.dedent(
    """
    import json, sys
    from stackrx.signatures.scanner import Scanner

    def peak_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    sc = Scanner(backend=sys.argv[2])
    before = peak_kb()
    n = 0
    with open(sys.argv[1], "rb", buffering=0) as fh:
        for _ in sc.matches(fh):
            n += 1
    print(json.dumps({"hits": n, "growth_kb": peak_kb() - before, "before_kb": before}))
    """
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_streaming_memory_stays_flat_on_a_50_mb_file(tmp_path: Path, backend: str) -> None:
    block = _corpus(seed=3, count=4000)
    path = tmp_path / "big.log"
    with path.open("wb") as fh:
        size = 0
        while size < 50 * 1024 * 1024:
            fh.write(block)
            size += len(block)
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(path), backend], check=True,
                         capture_output=True, text=True)
    result = json.loads(out.stdout)
    per_block = sum(1 for _ in Scanner(backend=backend).matches(io.BytesIO(block)))
    assert result["hits"] == per_block * (size // len(block))
    assert result["growth_kb"] < 24 * 1024, result  # one 4 MiB chunk buffer and its hits, not the file


# -- signatures without a literal: the regex rewrite ------------------------------------------------------

CUSTOM = r"""
signatures:
  - {id: R-CASE, regex: 'Link (?P<dev>\w+) is DOWN', severity: low, message: m, flags: [caseless]}
  - {id: R-SHORT, regex: '(?P<n>\d+)ms\b', severity: low, message: m}
  - {id: R-ALT, regex: '(?:foo|bar)=(?P<v>[^,\s]+)', severity: low, message: m}
  - {id: R-ANCHOR, regex: '^ERR \d+$', severity: low, message: m}
  - {id: R-LOOK, regex: 'x(?=yz)\d*', severity: low, message: m}
  - {id: R-SPACE, regex: 'a\s+b\D{2,}', severity: low, message: m}
"""
CUSTOM_LINES = [
    "link eth0 is down", "LINK eth0 IS DOWN now", "Link  eth0 is DOWN", "took 15ms", "took 15 ms", "ms",
    "12msx", "foo=1,bar=2", "bar=", "xfoo=a b", "ERR 12", "ERR 12 ", " ERR 12", "ERR 1\nERR 2", "xyz", "x1yz",
    "xyz123", "a  bcd", "a\tb12", "a b c", "ab", "a\nb cd",
]


def test_rewrite_for_hyperscan() -> None:
    from stackrx.signatures.scanner import _parse, _render, _trim

    def rewrite(pattern: str) -> tuple[str, bool]:
        return _render([_trim(_trim(seq, True), False) or seq for seq in _parse(pattern)])

    assert rewrite(r"time: (?P<t>\d+\.\d+)") == (r"time:\ (?:\d+\.\d)", True)
    assert rewrite(r"(?P<bond>\S+): now") == (r"(?:\S):\ now", True)
    assert rewrite(r"down(?: for (?P<s>[^,\s]+))?") == ("down", True)
    assert rewrite(r"a\s[^)]+\)") == ("a[\\t\\x0b\\x0c\\r ][^\\n)]+\\)", True)
    assert rewrite(r"x{2,5}y{,3}z") == ("x{2}y{0,3}z", True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_signatures_without_literals_follow_the_regex(backend: str) -> None:
    sigs = load_signatures(CUSTOM)
    sc = Scanner(sigs, backend=backend, chunk_bytes=4096)
    assert not any(p.literals for p in sc.plans)
    rng = random.Random(2)
    lines = [rng.choice(CUSTOM_LINES) for _ in range(2000)]
    data = "\n".join(lines).encode() + b"\n"
    physical = data.split(b"\n")[:-1]
    expected = sorted((i, n, line) for n, line in enumerate(physical, 1) for i, s in enumerate(sigs)
                      if s.compiled().search(line))
    assert sorted(sc.matches(io.BytesIO(data))) == expected
    assert {sigs[i].id for i, _n, _l in expected} == {s.id for s in sigs}


# -- literals that overlap: the leftmost-first automaton reports only one of them -------------------------

OVERLAPPING = r"""
signatures:
  - {id: R-TAIL, regex: 'link partner lost', severity: low, message: m}
  - {id: R-HEAD, regex: 'lost carrier on (?P<dev>\w+)', severity: low, message: m}
  - {id: R-PREFIX, regex: 'link partner', severity: low, message: m}
  - {id: R-INSIDE, regex: 'partner lost', severity: low, message: m}
  - {id: R-LAST, regex: 'on eth\d', severity: low, message: m}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_overlapping_literals_are_all_found(backend: str) -> None:
    sigs = load_signatures(OVERLAPPING)
    sc = Scanner(sigs, backend=backend, chunk_bytes=4096)
    lines = ["bond0: link partner lost carrier on eth1", "link partner lost", "lost carrier on eth2",
             "partner lost carrier on x", "no match here", "link partner", "on eth3 link partner lost carrier"]
    data = "\n".join(lines * 300).encode() + b"\n"
    expected = sorted((i, n, line) for n, line in enumerate(data.split(b"\n")[:-1], 1)
                      for i, s in enumerate(sigs) if s.compiled().search(line))
    assert sorted(sc.matches(io.BytesIO(data))) == expected
    assert {sigs[i].id for i, _n, _l in expected} == {s.id for s in sigs}
    if backend == "ahocorasick":  # the case is real: the automaton alone reports fewer literals than are there
        assert len(sc._automaton.find_matches_as_indexes(lines[0].encode())) < 4


def test_default_backend_is_the_fastest_available_and_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACKRX_SCANNER", raising=False)
    assert preferred_backend() == AVAILABLE[-1] if len(AVAILABLE) == 3 else preferred_backend() in AVAILABLE
    monkeypatch.setenv("STACKRX_SCANNER", "re")
    assert preferred_backend() == "re"
    monkeypatch.setenv("STACKRX_SCANNER", "pcre")
    with pytest.raises(ValueError, match="STACKRX_SCANNER"):
        preferred_backend()
