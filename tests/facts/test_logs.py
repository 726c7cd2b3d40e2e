"""Log discovery, timestamps, the time window and the hit tallies of `stackrx.facts.logs`."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence
from stackrx.facts import Facts, logs
from stackrx.facts.logs import (
    FUZZ_TARGETS,
    KEEP,
    TimestampParser,
    discover_logs,
    iter_hits,
    load_signature_hits,
    parse_timestamps,
    parse_uptime,
    scan_path,
    summary,
)
from stackrx.signatures import scanner as scanner_mod
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"
COMPUTE4 = REALDATA / "hotsos" / "openstack-compute4-sosreport"
COLLECTED = "Tue Dec  1 09:00:00 UTC 2026"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

CT_FULL = "kernel: [ 4931.803472] nf_conntrack: nf_conntrack: table full, dropping packet"
KEEPALIVED = "network-1 Keepalived_vrrp[2211]: (VR_{n}) Entering MASTER STATE"
BRMISS = ("1603 ERROR neutron.plugins.ml2.drivers.openvswitch.agent.ovs_neutron_agent [-] Bridge br-ex2 for "
          "physical network physnet2 does not exist. Agent terminated!")
SPAWN = "2931 INFO nova.compute.manager [instance: b9] Took 19.05 seconds to spawn the instance on the hypervisor."


def syslog_stamp(when: datetime) -> str:
    return f"{when:%b} {when.day:2d} {when:%H:%M:%S}"


def oslo_stamp(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond // 1000:03d}"


def view_of(tree: NodeTree, tmp_path: Path) -> SosReportView:
    return SosReportView(tree.write(tmp_path / tree.hostname))


def node(**files: str) -> NodeTree:
    tree = NodeTree("network-1", collected=COLLECTED)
    for path, text in files.items():
        tree.file(path.replace("__", "/").replace("_DOT_", "."), text)
    return tree


# -- discovery ------------------------------------------------------------------------------------------


def test_ubuntu_layout_one_source_per_family(tmp_path: Path) -> None:
    tree = NodeTree("compute-1", collected=COLLECTED)
    line = f"{syslog_stamp(NOW)} compute-1 {CT_FULL}\n"
    tree.file("var/log/kern.log", line)
    tree.file("var/log/syslog", line)
    tree.file("var/log/syslog.1", line)
    tree.command("dmesg", "[ 4931.803472] nf_conntrack: nf_conntrack: table full, dropping packet\n")
    tree.file("sos_commands/logs/journalctl_--no-pager", line)
    tree.file("sos_commands/logs/journalctl_--disk-usage", "Archived and active journals take up 8.0M.\n")
    tree.file("var/log/nova/nova-compute.log", f"{oslo_stamp(NOW)} {SPAWN}\n")
    tree.file("var/log/containers/neutron/server.log", f"{oslo_stamp(NOW)} x\n")
    tree.file("var/log/kolla/mariadb/mariadb.log", "x\n")
    tree.file("var/log/openvswitch/ovn-controller.log", "x\n")
    tree.file("var/log/libvirt/qemu/instance-00000001.log", "x\n")
    view = view_of(tree, tmp_path)
    found = {lf.path: lf.families for lf in discover_logs(view)}
    assert found["var/log/kern.log"] == {"kernel"}
    assert found["var/log/syslog"] == found["var/log/syslog.1"] == {"syslog"}
    assert "sos_commands/kernel/dmesg" not in found and "sos_commands/logs/journalctl_--no-pager" not in found
    assert found["var/log/nova/nova-compute.log"] == {"openstack", "nova"}
    assert found["var/log/containers/neutron/server.log"] == {"openstack", "neutron"}
    assert found["var/log/kolla/mariadb/mariadb.log"] == {"mysql"}
    assert found["var/log/openvswitch/ovn-controller.log"] == {"openvswitch", "ovn"}
    assert found["var/log/libvirt/qemu/instance-00000001.log"] == {"libvirt"}
    # The one kernel event is counted once, not once per file that repeats it.
    assert load_signature_hits(view).count("R-CT-FULL") == 1


def test_rhel_messages_and_journal_only_layouts(tmp_path: Path) -> None:
    rhel = view_of(node(var__log__messages="x\n", var__log__messages_DOT_1="x\n"), tmp_path)
    assert {lf.path: lf.families for lf in discover_logs(rhel)} == {
        "var/log/messages.1": {"kernel", "syslog"}, "var/log/messages": {"kernel", "syslog"}}
    tree = node()
    tree.file("sos_commands/logs/journalctl_--no-pager_--catalog_--boot", "x\n")
    tree.file("sos_commands/logs/journalctl_--list-boots", "0 abc\n")
    journal = view_of(tree, tmp_path / "j")
    assert {lf.path: lf.families for lf in discover_logs(journal)} == {
        "sos_commands/logs/journalctl_--no-pager_--catalog_--boot": {"kernel", "syslog"}}
    dmesg = NodeTree("compute-2", collected=COLLECTED)
    dmesg.command("dmesg", "[    1.000000] booting\n")
    assert [(lf.path, lf.families) for lf in discover_logs(view_of(dmesg, tmp_path / "d"))] == [
        ("sos_commands/kernel/dmesg", frozenset({"kernel"}))]


def test_rotations_are_read_oldest_first(tmp_path: Path) -> None:
    tree = node()
    for name in ("nova-compute.log", "nova-compute.log.1", "nova-compute.log.10.gz", "nova-compute.log.2.gz"):
        tree.file(f"var/log/nova/{name}", "x\n")
    for name in ("messages", "messages-20261124", "messages-20261117"):
        tree.file(f"var/log/{name}", "x\n")
    paths = [lf.path for lf in discover_logs(view_of(tree, tmp_path))]
    assert paths == [
        "var/log/messages-20261117", "var/log/messages-20261124", "var/log/messages",
        "var/log/nova/nova-compute.log.10.gz", "var/log/nova/nova-compute.log.2.gz",
        "var/log/nova/nova-compute.log.1", "var/log/nova/nova-compute.log",
    ]


def test_no_logs_is_missing_evidence(tmp_path: Path) -> None:
    view = view_of(NodeTree("empty", collected=COLLECTED), tmp_path)
    with pytest.raises(MissingEvidence, match="log files"):
        load_signature_hits(view)
    assert summary(Facts(view)) == {}


def test_require_names_the_missing_family(tmp_path: Path) -> None:
    view = view_of(node(var__log__syslog=f"{syslog_stamp(NOW)} {KEEPALIVED.format(n=1)}\n"), tmp_path)
    hits = load_signature_hits(view)
    assert hits.covered("R-KEEPALIVED") and hits.covered("R-CT-FULL")
    assert not hits.covered("R-OVS-BRMISS")
    with pytest.raises(MissingEvidence, match=r"R-OVS-BRMISS.*neutron"):
        hits.require("R-OVS-BRMISS")
    hits.require("R-KEEPALIVED")
    with pytest.raises(KeyError):
        hits.get("R-NOPE")


# -- hits, window, rotations ----------------------------------------------------------------------------


def test_gz_rotation_hits_carry_their_file_and_line(tmp_path: Path) -> None:
    tree = node(var__log__syslog=f"{syslog_stamp(NOW)} {KEEPALIVED.format(n=3)}\n")
    root = tree.write(tmp_path / "n")
    old = NOW - timedelta(days=2)
    body = "".join(f"{syslog_stamp(old)} network-1 systemd[1]: tick {i}\n" for i in range(500))
    body += f"{syslog_stamp(old)} {KEEPALIVED.format(n=2)}\n"
    (root / "var/log/syslog.2.gz").write_bytes(gzip.compress(body.encode()))
    (root / "var/log/syslog.1").write_text(f"{syslog_stamp(old + timedelta(days=1))} garbage\n")
    hits = load_signature_hits(SosReportView(root)).get("R-KEEPALIVED")
    assert [(h.source, h.line, h.groups["inst"]) for h in hits] == [
        ("var/log/syslog.2.gz", 501, "VR_2"), ("var/log/syslog", 1, "VR_3")]
    assert hits[0].timestamp == old.replace(microsecond=0)
    assert hits[0].in_window and hits[0].evidence().excerpt.endswith("Entering MASTER STATE")


def test_window_is_measured_back_from_collection_time(tmp_path: Path) -> None:
    lines = "".join(
        f"{syslog_stamp(NOW - timedelta(days=d))} {KEEPALIVED.format(n=d)}\n" for d in (20, 10, 8, 6, 1, 0))
    view = view_of(node(var__log__syslog=lines), tmp_path)
    hits = load_signature_hits(view)
    assert [h.groups["inst"] for h in hits.get("R-KEEPALIVED")] == ["VR_6", "VR_1", "VR_0"]
    assert hits.count("R-KEEPALIVED") == 3 and hits.total("R-KEEPALIVED") == 6
    assert [h.groups["inst"] for h in hits.older("R-KEEPALIVED")] == ["VR_20", "VR_10", "VR_8"]
    assert not any(h.in_window for h in hits.older("R-KEEPALIVED"))
    assert hits.window_start == NOW - timedelta(days=7)
    wide = Facts(view).get(load_signature_hits, 30)
    assert wide.count("R-KEEPALIVED") == 6
    assert summary(Facts(view))["signature_hits"] == {"R-KEEPALIVED": 3}


def test_lines_without_a_timestamp_follow_the_line_above(tmp_path: Path) -> None:
    old, new = NOW - timedelta(days=9), NOW - timedelta(hours=1)
    text = (f"{oslo_stamp(old)} 1603 ERROR neutron x\n{BRMISS.split(' [-] ', 1)[1]}\n"
            f"{oslo_stamp(new)} 1603 ERROR neutron y\n{BRMISS.split(' [-] ', 1)[1]}\n")
    view = view_of(node(var__log__neutron__openvswitch_agent_DOT_log=text), tmp_path)
    hits = load_signature_hits(view)
    assert hits.count("R-OVS-BRMISS") == 1 and hits.total("R-OVS-BRMISS") == 2
    (hit,) = hits.get("R-OVS-BRMISS")
    assert hit.line == 4 and hit.timestamp == new.replace(microsecond=0)
    only_continuations = view_of(node(var__log__neutron__server_DOT_log=BRMISS.split(" [-] ", 1)[1] + "\n"),
                                 tmp_path / "b")
    (alone,) = load_signature_hits(only_continuations).get("R-OVS-BRMISS")
    assert alone.timestamp is None and alone.in_window  # no timestamp at all: in the window


def test_first_and_last_hits_are_kept_with_exact_counts(tmp_path: Path) -> None:
    start = NOW - timedelta(days=3)
    text = "".join(f"{oslo_stamp(start + timedelta(seconds=i))} {SPAWN}\n" for i in range(1000))
    view = view_of(node(var__log__nova__nova_compute_DOT_log=text), tmp_path)
    hits = load_signature_hits(view)
    got = hits.get("R-NOVA-SPAWN")
    assert hits.count("R-NOVA-SPAWN") == 1000 and len(got) == 2 * KEEP
    assert [h.line for h in got] == [*range(1, KEEP + 1), *range(1001 - KEEP, 1001)]
    assert got == sorted(got, key=lambda h: h.timestamp or NOW)
    assert got[0].timestamp == start and got[0].groups == {"s": "19.05"}
    every = list(iter_hits(view, ["R-NOVA-SPAWN"]))
    assert [h.line for h in every] == list(range(1, 1001))


def test_hits_merge_across_files_in_time_order(tmp_path: Path) -> None:
    a = "".join(f"{oslo_stamp(NOW - timedelta(hours=80 - 2 * i))} {SPAWN}\n" for i in range(40))
    b = "".join(f"{oslo_stamp(NOW - timedelta(hours=79 - 2 * i))} {SPAWN}\n" for i in range(40))
    view = view_of(node(var__log__nova__a_DOT_log=a, var__log__nova__b_DOT_log=b), tmp_path)
    got = load_signature_hits(view).get("R-NOVA-SPAWN")
    assert len(got) == 80
    stamps = [h.timestamp for h in got]
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    assert {h.source for h in got[:2]} == {"var/log/nova/a.log", "var/log/nova/b.log"}


def test_excerpts_are_capped(tmp_path: Path) -> None:
    line = f"{oslo_stamp(NOW)} {SPAWN} " + "y" * 1000
    view = view_of(node(var__log__nova__nova_compute_DOT_log=line + "\n"), tmp_path)
    (hit,) = load_signature_hits(view).get("R-NOVA-SPAWN")
    assert len(hit.excerpt) == logs.EXCERPT_CHARS and hit.excerpt.endswith("…")


def test_galera_block_is_found_in_a_mariadb_log(tmp_path: Path) -> None:
    block = scanner_mod.default_signatures()[[s.id for s in scanner_mod.default_signatures()].index(
        "R-GALERA-Q")].examples[0].replace("2026-11-30", "2026-11-30")
    view = view_of(node(var__log__mysql__error_DOT_log="2026-11-30  7:59:00 0 [Note] start\n" + block + "\n"),
                   tmp_path)
    (hit,) = load_signature_hits(view).get("R-GALERA-Q")
    assert hit.line == 2 and hit.groups["comp"] == "PRIMARY" and hit.groups["t"] == "3"
    assert hit.timestamp == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert "\n" not in hit.excerpt and "group UUID" in hit.excerpt


# -- kernel timestamps ----------------------------------------------------------------------------------


def test_dmesg_seconds_become_wall_time_with_uptime(tmp_path: Path) -> None:
    tree = NodeTree("compute-3", collected=COLLECTED)
    tree.command("dmesg", "[    0.000000] Linux version 5.15\n[86400.500000] nf_conntrack: table full, "
                          "dropping packet\n[777600.000000] bond0: now running without any active interface!\n")
    tree.file("sos_commands/host/uptime", " 09:00:00 up 10 days,  0:00,  2 users,  load average: 0.1, 0.1, 0.1\n")
    hits = load_signature_hits(view_of(tree, tmp_path))
    boot = NOW - timedelta(days=10)
    assert hits.total("R-CT-FULL") == 1 and hits.count("R-CT-FULL") == 0  # day 1 of 10: out of the window
    assert hits.older("R-CT-FULL")[0].timestamp == boot + timedelta(days=1, microseconds=500000)
    (none,) = hits.get("R-BOND-NONE")
    assert none.timestamp == boot + timedelta(days=9)
    no_uptime = NodeTree("compute-4", collected=COLLECTED)
    no_uptime.command("dmesg", "[86400.500000] nf_conntrack: table full, dropping packet\n")
    (unknown,) = load_signature_hits(view_of(no_uptime, tmp_path / "u")).get("R-CT-FULL")
    assert unknown.timestamp is None and unknown.in_window


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (" 16:19:19 up 17:41,  2 users,  load average: 3.58, 3.27, 2.58", 17 * 3600 + 41 * 60),
        (" 10:00:00 up 5 days,  3:02,  1 user,  load average: 0.00", 5 * 86400 + 3 * 3600 + 2 * 60),
        (" 10:00:00 up 1 day, 10 min,  1 user", 86400 + 600),
        (" 10:00:00 up 12 min,  1 user", 720),
        ("350735.47 234388.90\n", 350735.47),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_uptime(text: str, seconds: float | None) -> None:
    assert parse_uptime(Text("uptime", text)) == seconds


# -- timestamp formats ----------------------------------------------------------------------------------

REF = datetime(2022, 2, 10, 16, 19, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"2022-02-10 01:23:24.312 1603 INFO x", datetime(2022, 2, 10, 1, 23, 24, 312000, tzinfo=UTC)),
        (b"2022-02-10T00:00:01.174Z|00117|vlog|INFO", datetime(2022, 2, 10, 0, 0, 1, 174000, tzinfo=UTC)),
        (b"2022-02-10 16:18:04.843+0100: starting up", datetime(2022, 2, 10, 15, 18, 4, 843000, tzinfo=UTC)),
        (b"2022-02-10T16:19:19+0000 compute4 x", datetime(2022, 2, 10, 16, 19, 19, tzinfo=UTC)),
        (b"2018-03-13T06:37:37.268209Z 0 [Warning]", datetime(2018, 3, 13, 6, 37, 37, 268209, tzinfo=UTC)),
        (b"2026-11-30  8:00:00 0 [Note] WSREP: x", datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),
        (b"2026-11-30 8:00:00 0 [Note] WSREP: x", datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),
        (b"Feb 10 00:00:01 compute4 systemd[1]: x", datetime(2022, 2, 10, 0, 0, 1, tzinfo=UTC)),
        (b"Feb  4 09:34:10 compute4 kernel: x", datetime(2022, 2, 4, 9, 34, 10, tzinfo=UTC)),
        (b"Feb 10 16:19:19.123456 host x", datetime(2022, 2, 10, 16, 19, 19, 123456, tzinfo=UTC)),
        (b"[Thu Feb 10 16:19:17 2022] bond0: x", datetime(2022, 2, 10, 16, 19, 17, tzinfo=UTC)),
        (b"161109  9:25:42 [Warning] SSL error", datetime(2016, 11, 9, 9, 25, 42, tzinfo=UTC)),
        (b"=INFO REPORT==== 7-Jun-2015::03:42:13 ===", datetime(2015, 6, 7, 3, 42, 13, tzinfo=UTC)),
        (b"-- Logs begin at Fri 2022-02-04 09:34:04 UTC", None),
        (b"2022-13-45 10:00:00 x", None),
        (b"2022-02-10 25:23:24.312 x", None),
        (b"Foo 10 00:00:01 x", None),
        (b"Feb 31 00:00:01 x", None),
        (b"   File \"x.py\", line 3", None),
        (b"", None),
    ],
)
def test_timestamp_formats(line: bytes, expected: datetime | None) -> None:
    assert TimestampParser(REF).parse(line, precise=True) == expected


def test_syslog_year_is_inferred_from_the_collection_time() -> None:
    new_year = TimestampParser(datetime(2027, 1, 2, 3, 0, tzinfo=UTC))
    assert new_year.parse(b"Dec 31 23:59:59 host x") == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert new_year.parse(b"Jan  2 02:00:00 host x") == datetime(2027, 1, 2, 2, 0, tzinfo=UTC)
    assert new_year.parse(b"Jan  3 02:00:00 host x") == datetime(2027, 1, 3, 2, 0, tzinfo=UTC)  # clock skew
    assert new_year.parse(b"Jan  4 02:00:00 host x") == datetime(2026, 1, 4, 2, 0, tzinfo=UTC)
    leap = TimestampParser(datetime(2025, 3, 1, tzinfo=UTC))
    assert leap.parse(b"Feb 29 10:00:00 host x") == datetime(2024, 2, 29, 10, 0, tzinfo=UTC)


def test_naive_stamps_take_the_collection_zone() -> None:
    cest = timezone(timedelta(hours=2))
    parser = TimestampParser(datetime(2026, 6, 1, 12, 0, tzinfo=cest))
    assert parser.parse(b"2026-06-01 10:00:00.000 1 INFO x") == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    assert parser.parse(b"2026-06-01T10:00:00Z|x") == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def test_kernel_seconds_need_a_boot_time() -> None:
    assert TimestampParser(REF).parse(b"[ 4301.999258] audit: x") is None
    boot = datetime(2022, 2, 9, 22, 38, tzinfo=UTC)
    assert TimestampParser(REF, boot).parse(b"[ 4301.999258] audit: x", precise=True) == (
        boot + timedelta(seconds=4301.999258))


def test_fuzz_targets_are_registered() -> None:
    assert parse_timestamps in FUZZ_TARGETS and parse_uptime in FUZZ_TARGETS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_timestamp_parser_never_raises(data: bytes) -> None:
    value = TimestampParser(REF, REF - timedelta(days=1)).parse(data, precise=True)
    assert value is None or value.tzinfo is not None
    parse_timestamps(Text("fuzz", data.decode("utf-8", "replace")))


# -- big files: worker processes, chunk shortcut --------------------------------------------------------


def _spanning_log(path: Path, lines: int, every: int = 37) -> None:
    """A nova log over 14 days (the window start in the middle) with a hit every `every` lines."""
    start = NOW - timedelta(days=14)
    step = timedelta(days=14) / lines
    with path.open("w") as fh:
        for i in range(lines):
            when = start + step * i
            body = SPAWN if i % every == 0 else "2931 DEBUG nova.compute.manager [-] periodic task " + "z" * (i % 90)
            fh.write(f"{oslo_stamp(when)} {body}\n")


def _summary(hits: logs.SignatureHits) -> tuple[int, int, list[tuple[int, datetime | None]]]:
    got = hits.get("R-NOVA-SPAWN")
    return hits.count("R-NOVA-SPAWN"), hits.total("R-NOVA-SPAWN"), [(h.line, h.timestamp) for h in got]


def test_worker_processes_give_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nova-compute.log"
    _spanning_log(path, 60_000)
    single = _summary(scan_path(path, collected_at=NOW, workers=1))
    monkeypatch.setattr(logs, "PARALLEL_MIN_BYTES", 1024)
    ranges: list[tuple[int, int]] = []
    split = logs._split

    def recording(*args: Any) -> list[tuple[int, int]]:
        ranges.extend(split(*args))
        return list(ranges)

    monkeypatch.setattr(logs, "_split", recording)
    parallel = _summary(scan_path(path, collected_at=NOW, workers=3))
    assert len(ranges) == 3 * logs.RANGES_PER_WORKER and ranges[-1][1] == path.stat().st_size
    assert parallel == single
    assert single[0] < single[1]  # the window start really is inside the file


def test_ranges_a_dead_worker_took_are_scanned_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that takes ranges from the pipe and dies leaves holes the parent fills."""
    path = tmp_path / "nova-compute.log"
    _spanning_log(path, 40_000)
    single = _summary(scan_path(path, collected_at=NOW, workers=1))
    monkeypatch.setattr(logs, "PARALLEL_MIN_BYTES", 1024)
    parent, take = os.getpid(), logs._take_ranges

    def dying(tokens: int, *args: Any) -> Any:
        if os.getpid() != parent:
            os.read(tokens, 8)  # claims two ranges, scans neither
            os._exit(3)
        return take(tokens, *args)

    monkeypatch.setattr(logs, "_take_ranges", dying)
    assert _summary(scan_path(path, collected_at=NOW, workers=2)) == single


def test_whole_chunk_shortcut_matches_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "nova-compute.log"
    _spanning_log(path, 30_000, every=3)
    monkeypatch.setattr(scanner_mod.default_scanner(), "chunk_bytes", 64 * 1024)
    calls = {"n": 0}
    line_time = logs._line_time

    def counting(*args: object) -> float | None:
        calls["n"] += 1
        return line_time(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(logs, "_line_time", counting)
    fast = _summary(scan_path(path, collected_at=NOW, workers=1))
    fast_calls, calls["n"] = calls["n"], 0
    monkeypatch.setattr(logs, "_CHUNK_MARGIN_S", 10**9)  # every chunk judged hit by hit
    slow = _summary(scan_path(path, collected_at=NOW, workers=1))
    assert fast == slow
    assert calls["n"] == 10_000 > 2 * fast_calls  # most chunks were taken whole
    spawn_lines = [i + 1 for i in range(30_000) if i % 3 == 0]
    in_window = [n for n in spawn_lines if n > 15_000]
    assert fast[0] in (len(in_window), len(in_window) + 1) and fast[1] == len(spawn_lines)


def test_scan_path_reads_gzip(tmp_path: Path) -> None:
    path = tmp_path / "syslog.1.gz"
    path.write_bytes(gzip.compress(f"{syslog_stamp(NOW)} {KEEPALIVED.format(n=9)}\n".encode()))
    hits = scan_path(path, collected_at=NOW, families=["syslog"])
    assert [h.groups["inst"] for h in hits.get("R-KEEPALIVED")] == ["VR_9"]
    assert not scan_path(path, collected_at=NOW, families=["nova"]).count("R-KEEPALIVED")


# -- the real healthy node ------------------------------------------------------------------------------


def test_compute4(compute4: Path) -> None:
    view = SosReportView(compute4)
    hits = load_signature_hits(view)
    assert hits.collected_at == datetime(2022, 2, 10, 16, 19, 17, tzinfo=UTC)
    assert "var/log/kern.log" in {lf.path for lf in hits.files}
    # Context signatures only: one VRRP state change, neutron start-ups, LXD's AppArmor mount denials.
    assert {"R-KEEPALIVED", "R-NEUTRON-START"} <= set(hits.ids())
    assert all(hits.signature(sig_id).severity.rank <= 3 for sig_id in hits.ids())
    (vrrp,) = hits.get("R-KEEPALIVED")
    assert (vrrp.source, vrrp.line) == ("var/log/syslog", 1141)
    assert vrrp.timestamp == datetime(2022, 2, 10, 16, 10, 35, tzinfo=UTC)
    for sig_id in ("R-CT-FULL", "R-BOND-DOWN", "R-BOND-NONE", "R-OVS-BRMISS", "R-IMGCACHE-RM", "R-BACKING"):
        assert hits.covered(sig_id) and hits.total(sig_id) == 0, sig_id
    assert summary(Facts(view))["log_files"] == len(hits.files)


def test_tailed_logs_in_sos_strings_are_scanned(tmp_path: Path) -> None:
    tree = node()
    tree.file("sos_strings/logs/var.log.syslog.tailed", f"{syslog_stamp(NOW)} {KEEPALIVED.format(n=4)}\n")
    view = view_of(tree, tmp_path)
    assert {lf.path: lf.families for lf in discover_logs(view)} == {
        "sos_strings/logs/var.log.syslog.tailed": frozenset({"kernel", "syslog"})}
    (hit,) = load_signature_hits(view).get("R-KEEPALIVED")
    assert hit.source == "sos_strings/logs/var.log.syslog.tailed" and hit.line == 1
