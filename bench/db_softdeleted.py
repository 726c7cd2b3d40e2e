"""DB-001 benchmark: count time on a million soft-deleted rows, and the archive plan against nova-manage.

    python bench/db_softdeleted.py                 # 1,000,000 soft-deleted instance_system_metadata rows
    python bench/db_softdeleted.py --dead 200000   # quicker
    python bench/db_softdeleted.py --keep          # leave the datadir under bench/.work/ for a look

A MariaDB of its own (datadir bench/.work/db-softdeleted/, a free loopback port, stopped on exit or error)
gets nova's real schema from nova's own migrations (tests/db/dbfixtures.py, nova venv from
scripts/setup/nova-venv.sh). cell1 (`nova`) is then filled like a cloud that never archived: deleted
instances holding `--dead` soft-deleted instance_system_metadata rows in all, live instances with live
rows, an instance_extra and an info cache per instance, and the API DB's mappings and request specs.
Ids follow creation order, deletions do not; a fifth of the deletions are younger than the 90-day cut-off.

Then, against the read-only `stackrx` user, as child processes: `stackrx db URL --format json` (default
options: sampled above --exact-limit), the same with `--count exact`, and `--plan`. Reported: wall times,
the counting method stackrx says it used and its numbers against the truth, the slowest statements of
those runs (server slow log), and CHECKSUM TABLE of every nova table before and after (nothing may change).
Finally `nova-manage db archive_deleted_rows --before <stackrx's cut-off> --until-complete --all-cells`
runs for real and its per-table counts are set against both predictions.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work" / "db-softdeleted"
sys.path.insert(0, str(ROOT / "tests" / "db"))

import dbfixtures as F  # noqa: E402  (the db tests' MariaDB / nova helpers, shared on purpose)

STACKRX = str(Path(sys.executable).with_name("stackrx"))
SCHEMAS = ("nova_api", "nova", "nova_cell0")
ISM = "instance_system_metadata"
EC2_KEY = "EC2_client_token"
# Keys nova really writes into system metadata (image properties copied at boot, owner names...).
KEYS = ("image_base_image_ref", "image_container_format", "image_disk_format", "image_min_disk", "image_min_ram",
        "owner_user_name", "owner_project_name", "boot_roles", "clean_attempts", "image_hw_machine_type")
CUTOFF_DAYS = 90
SLOW_SECONDS = 0.2


@dataclass
class Truth:
    """What was loaded, per table of cell1: rows in all and soft-deleted, and what archiving at the cut-off
    must move (worked out from the generated instances, not read back through SQL)."""

    dead_instances: int = 0
    live_instances: int = 0
    old_instances: int = 0  # deleted before the cut-off
    ism_total: int = 0
    ism_dead: int = 0
    ism_old: int = 0  # rows of instances deleted before the cut-off
    ec2_total: int = 0
    ec2_dead: int = 0
    moves: dict[str, int] = field(default_factory=dict)


def _stop_on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def start_server(server: F.MariaDB) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    subprocess.run([str(F.MARIADB_SH), "init", str(WORK)], check=True, capture_output=True, timeout=300)
    # A production-sized buffer pool holds the whole table; relaxed log flushing only speeds the load and
    # nova-manage's small commits, reads are unaffected.
    server.start("--innodb-buffer-pool-size=1G", "--innodb-flush-log-at-trx-commit=2",
                 f"--slow-query-log-file={WORK / 'slow.log'}")
    server.wait_ready()
    server.add_read_only_user()


def load(server: F.MariaDB, dead_rows: int, live_rows: int, now: datetime, seed: int) -> Truth:
    """Instances in creation order, each with 20..60 system-metadata rows; `dead_rows` of those rows belong to
    deleted instances (exactly), about `live_rows` to live ones."""
    rng = random.Random(seed)
    truth = Truth()
    cutoff = datetime.combine((now - timedelta(days=CUTOFF_DAYS)).date(), datetime.min.time())
    # (created_at, deleted_at, metadata rows) per instance.
    made: list[tuple[datetime, datetime | None, int]] = []
    remaining = dead_rows
    while remaining > 0:
        n = min(remaining, rng.randint(20, 60))
        remaining -= n
        # Most deletions long past the cut-off, a fifth recent; none within 5 days of it either way, so the
        # day stackrx and nova-manage agree on can never split an instance's rows.
        days = rng.randint(1, CUTOFF_DAYS - 5) if rng.random() < 0.2 else rng.randint(CUTOFF_DAYS + 5, 1000)
        deleted_at = now - timedelta(days=days, seconds=rng.randint(0, 80_000))
        made.append((deleted_at - timedelta(hours=rng.randint(1, 24 * 300)), deleted_at, n))
    remaining = live_rows
    while remaining > 0:
        n = rng.randint(20, 60)
        remaining -= n
        made.append((now - timedelta(days=rng.randint(1, 1100), seconds=rng.randint(0, 80_000)), None, n))
    made.sort(key=lambda m: m[0])  # ids follow creation; deletion order is another matter
    instances: list[tuple[object, ...]] = []
    counts: list[tuple[int, int, int]] = []  # (instance id, first metadata id, rows)
    first = 1
    for i, (created, gone, n) in enumerate(made, start=1):
        if gone is not None:
            old = gone < cutoff
            truth.dead_instances += 1
            truth.ism_dead += n
            truth.old_instances += old
            truth.ism_old += n if old else 0
            truth.ec2_dead += i % 10 == 0
        else:
            truth.live_instances += 1
        truth.ism_total += n
        truth.ec2_total += i % 10 == 0
        instances.append((i, str(uuidlib.UUID(int=rng.getrandbits(128), version=4)), created,
                          "active" if gone is None else "deleted", 0 if gone is None else i, gone))
        counts.append((i, first, n))
        first += n
    cell1 = server.sql("SELECT id FROM nova_api.cell_mappings WHERE name = 'cell1'")[0][0]
    conn = server.connect(database="nova")  # the temporary table and the sequence engine need a schema
    conn.autocommit(False)
    cur = conn.cursor()
    F._insert(cur, "nova.instances", ["id", "uuid", "created_at", "vm_state", "deleted", "deleted_at"], instances)
    cur.execute("CREATE TEMPORARY TABLE bench_counts (instance_id INT PRIMARY KEY, first_id INT, n INT)")
    F._insert(cur, "bench_counts", ["instance_id", "first_id", "n"], counts)
    conn.commit()
    # The metadata rows are made by the server from the instances (sequence engine): no 1e6-row round trip.
    keys = "ELT(s.seq, " + ", ".join(f"'{k}'" for k in KEYS) + ")"
    step = 2000
    t0 = time.monotonic()
    for lo in range(1, len(made) + 1, step):
        cur.execute(
            f"INSERT INTO nova.{ISM} (id, created_at, instance_uuid, `key`, value, deleted, deleted_at) "
            "SELECT c.first_id + s.seq - 1, i.created_at, i.uuid, "
            f"CASE WHEN s.seq = 1 AND i.id % 10 = 0 THEN '{EC2_KEY}' WHEN s.seq <= {len(KEYS)} THEN {keys} "
            "ELSE CONCAT('image_property_', s.seq) END, SHA1(CONCAT(i.uuid, s.seq)), "
            "IF(i.deleted_at IS NULL, 0, c.first_id + s.seq - 1), i.deleted_at "
            "FROM nova.instances i JOIN bench_counts c ON c.instance_id = i.id JOIN seq_1_to_60 s ON s.seq <= c.n "
            f"WHERE i.id BETWEEN {lo} AND {lo + step - 1} ORDER BY i.id, s.seq")
        conn.commit()
        done = min(lo + step - 1, len(made))
        print(f"  instance_system_metadata: instances 1..{done} of {len(made)} "
              f"({time.monotonic() - t0:.0f} s)", end="\r", flush=True)
    print()
    for st in ("INSERT INTO nova.instance_extra (created_at, instance_uuid, deleted) "
               "SELECT created_at, uuid, 0 FROM nova.instances",
               "INSERT INTO nova.instance_info_caches (created_at, instance_uuid, network_info, deleted, deleted_at) "
               "SELECT created_at, uuid, '[]', IF(deleted_at IS NULL, 0, id), deleted_at FROM nova.instances",
               "INSERT INTO nova_api.instance_mappings (instance_uuid, cell_id, project_id) "
               f"SELECT uuid, {cell1}, 'p' FROM nova.instances",
               "INSERT INTO nova_api.request_specs (instance_uuid, spec) SELECT uuid, '{}' FROM nova.instances"):
        cur.execute(st)
    conn.commit()
    cur.execute("DROP TEMPORARY TABLE bench_counts")
    cur.close()
    conn.close()
    # info caches get their own ids, so their deleted marks are made after the fact (oslo.db: deleted = id).
    server.sql("UPDATE nova.instance_info_caches SET deleted = id WHERE deleted <> 0")
    archived = truth.old_instances
    truth.moves = {"cell1.instances": archived, f"cell1.{ISM}": truth.ism_old, "cell1.instance_extra": archived,
                   "cell1.instance_info_caches": archived, "API_DB.instance_mappings": archived,
                   "API_DB.request_specs": archived, "API_DB.instance_group_member": 0}
    return truth


def verify_truth(server: F.MariaDB, truth: Truth) -> None:
    """The load did what the generator says (so the 'truth' column is not a second model of the same bug)."""
    row = server.sql(f"SELECT COUNT(*), SUM(deleted <> 0), SUM(`key` = '{EC2_KEY}'), "
                     f"SUM(`key` = '{EC2_KEY}' AND deleted <> 0) FROM nova.{ISM}")[0]
    got = tuple(int(str(v)) for v in row)
    want = (truth.ism_total, truth.ism_dead, truth.ec2_total, truth.ec2_dead)
    if got != want:
        raise RuntimeError(f"loaded {got}, generator says {want}")


@dataclass
class Run:
    label: str
    argv: list[str]
    seconds: float
    code: int
    report: dict[str, Any] | None
    text: str


def run_stackrx(label: str, args: list[str], out: Path) -> Run:
    argv = [STACKRX, "db", *args]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - t0
    out.write_text(proc.stdout)
    if proc.returncode not in (0, 3):  # 3 = findings at or above --fail-on: expected here
        raise RuntimeError(f"{' '.join(argv)} exit {proc.returncode}:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout) if "--format" in args else None
    return Run(label, argv, seconds, proc.returncode, report, proc.stdout)


def ec2_dead(run: Run) -> str:
    """Soft-deleted EC2 client-token rows as DB-001's evidence states them (the report's facts do not keep it)."""
    assert run.report is not None
    for r in run.report["results"]:
        for ev in r["evidence"] if r["check_id"] == "DB-001" else []:
            m = re.search(rf"{EC2_KEY}=\S+ \(soft-deleted ([\d,?]+)\)", ev.get("excerpt") or "")
            if ev["source"].endswith(f"/nova.{ISM}") and m:
                return m.group(1)
    return "-"


def cell1_stats(run: Run) -> dict[str, Any]:
    assert run.report is not None
    for host in run.report["hosts"]:
        stats = host["facts"].get("soft_deleted", {}).get("nova")
        if stats:
            return dict(stats["tables"])
    raise RuntimeError(f"{run.label}: no soft-deleted counts for schema nova in the report")


def plan_moves(run: Run) -> tuple[dict[str, int | None], dict[str, str], str]:
    """Predicted rows per nova-manage label (mapped cells and the API DB), the method per label, the cut-off."""
    assert run.report is not None
    moves: dict[str, int | None] = {}
    methods: dict[str, str] = {}
    before = ""
    for host in run.report["hosts"]:
        for plan in host["facts"].get("archive_plan", []):
            if not plan["cell"]:
                continue
            before = before or str(plan["before"])
            for key, move in plan["moves"].items():
                moves[key] = move["moved"]
                methods[key] = move["method"]
            for key, n in plan["api_deletes"].items():
                moves[key] = (moves.get(key) or 0) + (n or 0)
                methods[key] = "exact"
    return moves, methods, before


def problems(run: Run) -> list[str]:
    """Checks that errored and counts that were not made (statement time limit...)."""
    assert run.report is not None
    out = [f"{r['check_id']} {r['status']}: {r['message']}" for r in run.report["results"]
           if r["status"] == "error"]
    for host in run.report["hosts"]:
        for schema, stats in host["facts"].get("soft_deleted", {}).items():
            for name, t in stats["tables"].items():
                if "not counted" in t["method"] or "time limit" in t["method"]:
                    out.append(f"{schema}.{name}: {t['method']}")
        for plan in host["facts"].get("archive_plan", []):
            for key, move in plan["moves"].items():
                if "not counted" in move["method"] or "time limit" in move["method"]:
                    out.append(f"plan {key}: {move['method']}")
    return out


def slow_statements(log: Path, user: str) -> list[tuple[float, str]]:
    """(seconds, statement) of `user`'s statements in the server's slow log, slowest first."""
    if not log.exists():
        return []
    out: list[tuple[float, str]] = []
    entries = re.split(r"^# Time: .*$|^(?=# User@Host:)", log.read_text(errors="replace"), flags=re.M)
    for entry in entries:
        if not entry or f"# User@Host: {user}[" not in entry:
            continue
        m = re.search(r"# Query_time: ([\d.]+)", entry)
        sql = " ".join(ln for ln in entry.splitlines() if ln and not ln.startswith(("#", "SET timestamp", "use ")))
        if m:
            out.append((float(m.group(1)), sql))
    return sorted(out, reverse=True)


def archive(nova: F.Nova, before: str, max_rows: int) -> tuple[int, dict[str, int], float]:
    t0 = time.monotonic()
    proc = nova.manage("db", "archive_deleted_rows", "--before", before, "--until-complete", "--max_rows",
                       str(max_rows), "--all-cells", "--verbose", timeout=7200)
    seconds = time.monotonic() - t0
    (WORK / "archive.out").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    # 1 = rows were archived, 0 = nothing to archive; anything else is a failure.
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"archive_deleted_rows exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return proc.returncode, F.parse_manage_table(proc.stdout), seconds


def _n(v: object) -> str:
    return "?" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def _method(m: str) -> str:
    """'exact', 'estimated' or 'not counted' (the detail after the colon is printed where it matters)."""
    return m.split(":")[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dead", type=int, default=1_000_000, help="soft-deleted instance_system_metadata rows")
    ap.add_argument("--live", type=int, default=100_000, help="about this many live instance_system_metadata rows")
    ap.add_argument("--max-rows", type=int, default=1000, help="nova-manage --max_rows (the plan's own batch)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", action="store_true", help="keep the datadir (the server is stopped all the same)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _stop_on_term)
    F.ensure_mariadb()
    venv = F.nova_venv()
    t_all = time.monotonic()
    server = F.MariaDB(WORK, F.free_ports(1)[0])
    try:
        start_server(server)
        return bench(server, venv, args)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(WORK / "data", ignore_errors=True)
        print(f"\n(total {time.monotonic() - t_all:.0f} s; server stopped; logs in {WORK.relative_to(ROOT)})")


def bench(server: F.MariaDB, venv: Path, args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    nova = F.create_nova_schema(server, venv, WORK)
    print(f"nova schema by nova's migrations: {time.monotonic() - t0:.0f} s")
    now = server.sql("SELECT UTC_TIMESTAMP()")[0][0]
    assert isinstance(now, datetime)
    t0 = time.monotonic()
    truth = load(server, args.dead, args.live, now, args.seed)
    t_load = time.monotonic() - t0
    t0 = time.monotonic()
    server.sql("ANALYZE TABLE nova.instances, nova.instance_system_metadata, nova.instance_extra, "
               "nova.instance_info_caches")
    t_analyze = time.monotonic() - t0
    verify_truth(server, truth)
    size = server.sql("SELECT table_rows, data_length + index_length FROM information_schema.tables "
                      f"WHERE table_schema = 'nova' AND table_name = '{ISM}'")[0]
    print(f"loaded {truth.ism_total:,} {ISM} rows ({truth.ism_dead:,} soft-deleted) of "
          f"{truth.dead_instances + truth.live_instances:,} instances in {t_load:.0f} s; ANALYZE {t_analyze:.1f} s; "
          f"table_rows estimate {_n(int(str(size[0])))}, {int(str(size[1])) / 2**20:.0f} MiB")

    before_sums = F.checksums(server, SCHEMAS)
    server.sql(f"SET GLOBAL long_query_time = {SLOW_SECONDS}", "SET GLOBAL slow_query_log = ON")
    url = server.url("nova_api")
    runs = [run_stackrx("auto", [url, "--format", "json"], WORK / "auto.json"),
            run_stackrx("exact", [url, "--format", "json", "--count", "exact"], WORK / "exact.json")]
    plan_run = run_stackrx("--plan", [url, "--plan"], WORK / "plan.txt")
    server.sql("SET GLOBAL slow_query_log = OFF")
    after_sums = F.checksums(server, SCHEMAS)
    changed = sorted(k for k in before_sums if before_sums[k] != after_sums.get(k))

    print("\n== stackrx db (wall time of the whole command, as a child process)")
    for run in [*runs, plan_run]:
        print(f"  {run.label:7} {run.seconds:6.1f} s  exit {run.code}  ({' '.join(run.argv[2:]).replace(url, 'URL')})")
    print(f"\n== DB-001 counts of nova.{ISM} vs truth")
    print(f"  {'run':7} {'total':>12} {'soft-deleted':>12} {EC2_KEY + ' dead':>22}  method")
    print(f"  {'truth':7} {truth.ism_total:>12,} {truth.ism_dead:>12,} {truth.ec2_dead:>22,}")
    count_rows: list[tuple[str, str, str, str]] = []
    for run in runs:
        t = cell1_stats(run)[ISM]
        print(f"  {run.label:7} {_n(t['total']):>12} {_n(t['soft_deleted']):>12} {ec2_dead(run):>22}  "
              f"{t['method']}")
        err = "" if t["soft_deleted"] is None else f"{(t['soft_deleted'] - truth.ism_dead) / truth.ism_dead:+.2%}"
        count_rows.append((run.label, _n(t["soft_deleted"]), err, _method(t["method"])))
        inst = cell1_stats(run)["instances"]
        if inst["soft_deleted"] != truth.dead_instances:
            print(f"  ! {run.label}: instances soft-deleted {inst['soft_deleted']} != truth {truth.dead_instances}")
    for run in runs:
        for p in problems(run):
            print(f"  ! {run.label}: {p}")
        db001 = [r for r in run.report["results"] if r["check_id"] == "DB-001"] if run.report else []
        for r in db001:
            if r["status"] == "failed":
                print(f"  {run.label} DB-001 [{r['severity']}] {r['message']}")

    slow = slow_statements(WORK / "slow.log", F.RO_USER)
    print(f"\n== statements of the stackrx runs slower than {SLOW_SECONDS} s (server slow log; statement limit 10 s)")
    for seconds, sql in slow[:8]:
        print(f"  {seconds:6.2f} s  {sql[:150]}{'...' if len(sql) > 150 else ''}")
    if not slow:
        print("  none")

    print(f"\n== CHECKSUM TABLE of {len(before_sums)} tables in {', '.join(SCHEMAS)} before/after the stackrx runs: "
          + ("unchanged" if not changed else f"CHANGED: {', '.join(changed)}"))

    predicted = [plan_moves(run) for run in runs]
    before = predicted[1][2] or predicted[0][2]
    day = before[:10]
    print(f"\n== nova-manage db archive_deleted_rows --before {day} --until-complete --all-cells "
          f"--max_rows {args.max_rows} (real)")
    code, moved, t_archive = archive(nova, day, args.max_rows)
    print(f"  exit {code} ({'rows archived' if code == 1 else 'nothing archived'}) in {t_archive:.0f} s")
    shadow = int(str(server.sql(f"SELECT COUNT(*) FROM nova.shadow_{ISM}")[0][0]))
    if shadow != moved.get(f"cell1.{ISM}", 0):
        print(f"  ! nova printed {moved.get(f'cell1.{ISM}')} {ISM} rows, shadow table holds {shadow:,}")

    keys = sorted(set(moved) | set(predicted[0][0]) | set(predicted[1][0]) | set(truth.moves),
                  key=lambda k: (-(moved.get(k) or 0), k))
    print("\n== archive: predicted (stackrx --plan, auto / --count exact) vs moved (nova-manage) vs truth")
    print(f"  {'table':34} {'plan auto':>11} {'plan exact':>11} {'nova moved':>11} {'truth':>11}  auto method")
    mismatches = 0
    for k in keys:
        auto, exact = predicted[0][0].get(k), predicted[1][0].get(k)
        real, want = moved.get(k), truth.moves.get(k)
        flag = "" if exact == real else "  <-- exact plan != nova"
        mismatches += bool(flag)
        print(f"  {k:34} {_n(auto):>11} {_n(exact):>11} {_n(real):>11} {_n(want):>11}  "
              f"{_method(predicted[0][1].get(k, '-'))}{flag}")

    auto_run = runs[0]
    ism_key = f"cell1.{ISM}"
    print("\n== summary")
    rows = [
        ("rows loaded", f"{truth.ism_total:,} {ISM} ({truth.ism_dead:,} soft-deleted), "
                        f"{truth.dead_instances:,} deleted + {truth.live_instances:,} live instances"),
        *((f"stackrx db {'(auto)' if run is auto_run else '--count exact'}",
           f"{run.seconds:.1f} s; {ISM} soft-deleted {c[1]} ({c[2]} vs truth), {c[3]}")
          for run, c in zip(runs, count_rows, strict=True)),
        ("stackrx db --plan wall", f"{plan_run.seconds:.1f} s"),
        ("slowest stackrx statement", f"{slow[0][0]:.2f} s" if slow else f"< {SLOW_SECONDS} s"),
        ("tables changed by stackrx", str(len(changed))),
        ("plan (auto) ISM vs moved", f"{_n(predicted[0][0].get(ism_key))} vs {_n(moved.get(ism_key))}"),
        ("plan (exact) vs moved", "identical on every table" if not mismatches else f"{mismatches} tables differ"),
        ("nova-manage archive", f"exit {code}, {sum(moved.values()):,} rows in {t_archive:.0f} s"),
    ]
    for k, v in rows:
        print(f"  {k:27} {v}")
    return 1 if changed or mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
