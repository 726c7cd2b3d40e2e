"""Log-scan benchmark: stackrx's signature scanner against `rg -c` on the same big log, same pattern set.

    python bench/logscan.py                 # 1 GiB file under bench/.work/ (built once, then reused)
    python bench/logscan.py --size 100M     # quick run
    python bench/logscan.py --backend re    # the pure-Python path (also: hyperscan; default ahocorasick)

The file mixes real line shapes (compute4 syslog/kern.log/nova/neutron/OVS logs, loghub OpenStack and Linux
samples from ../shared/realdata) with fresh timestamps over 30 days, and every single-line signature
example and near-miss of the table sprinkled in. stackrx runs in a child process (peak RSS from getrusage,
worker processes included); ripgrep gets every scan pattern (named groups made non-capturing) in one
`-f` file. Per-signature counts are then compared with one `rg -c -e` per pattern. Target: stackrx ≤ 0.5×
ripgrep's time with peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
REALDATA = ROOT.parent / "shared" / "realdata"
COMPUTE4 = REALDATA / "hotsos" / "openstack-compute4-sosreport"
COLLECTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=30)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_SYSLOG_TS = re.compile(rb"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d")
_ISO_TS = re.compile(rb"^\d{4}-\d\d-\d\d[ T] ?\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d{4})?")
_OVS_TS = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?)i?B?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 100M, 1G)")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()])


# -- building the log ------------------------------------------------------------------------------------


def _lines(path: Path) -> list[bytes]:
    if not path.is_file():
        return []
    if path.name.endswith(".gz"):
        with gzip.open(path) as fh:
            data = fh.read()
    else:
        data = path.read_bytes()
    return [line for line in data.splitlines() if line.strip()]


def line_pools() -> dict[str, tuple[str, list[bytes]]]:
    """Bodies (text after the timestamp) of real lines, by origin; each origin has one timestamp style."""
    c4 = COMPUTE4 / "var" / "log"
    loghub = REALDATA / "loghub"
    pools: dict[str, tuple[str, list[bytes]]] = {
        "syslog": ("syslog", [x[15:] for x in _lines(c4 / "syslog") + _lines(c4 / "kern.log") if _SYSLOG_TS.match(x)]),
        "nova": ("oslo", [x[23:] for x in _lines(c4 / "nova" / "nova-compute.log.1.gz")
                          if _ISO_TS.match(x) and b"log_opt_values" not in x]),
        "neutron": ("oslo", [x[23:] for name in ("neutron-openvswitch-agent.log.1.gz", "neutron-l3-agent.log",
                                                  "neutron-dhcp-agent.log")
                             for x in _lines(c4 / "neutron" / name) if _ISO_TS.match(x)]),
        "ovs": ("ovs", [x[24:] for x in _lines(c4 / "openvswitch" / "ovs-vswitchd.log.1.gz")
                        + _lines(c4 / "ovn" / "ovn-controller.log.1.gz") if _OVS_TS.match(x)]),
        "openstack-api": ("oslo", [x.split(b" ", 1)[1][23:] for x in _lines(loghub / "OpenStack" / "OpenStack_2k.log")
                                   if b" " in x]),
        "linux": ("syslog", [x[15:] for x in _lines(loghub / "Linux" / "Linux_2k.log") if _SYSLOG_TS.match(x)]),
    }
    if not all(body for _style, body in pools.values()):
        missing = [k for k, (_s, b) in pools.items() if not b]
        sys.exit(f"real line samples missing under {REALDATA}: {missing}")
    return pools


class Stamper:
    """Timestamp strings for a moving clock, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._cache: dict[str, bytes] = {}

    def stamp(self, when: datetime, style: str) -> bytes:
        second = int(when.timestamp())
        if second != self._second:
            self._second = second
            self._cache = {
                "syslog": f"{MONTHS[when.month - 1]} {when.day:2d} {when:%H:%M:%S}".encode(),
                "oslo": f"{when:%Y-%m-%d %H:%M:%S}".encode(),
                "ovs": f"{when:%Y-%m-%dT%H:%M:%S}".encode(),
            }
        base = self._cache[style]
        ms = when.microsecond // 1000
        if style == "oslo":
            return base + b".%03d" % ms
        if style == "ovs":
            return base + b".%03dZ" % ms
        return base


def restamp(example: str, when: datetime, stamper: Stamper, style: str) -> bytes:
    """A table example with its timestamp replaced by `when` (or one put in front)."""
    raw = example.encode()
    if _SYSLOG_TS.match(raw):
        return stamper.stamp(when, "syslog") + raw[15:]
    m = _ISO_TS.match(raw)
    if m:
        return stamper.stamp(when, "ovs" if b"T" in m.group(0) else "oslo") + raw[m.end():]
    return stamper.stamp(when, style) + b" " + raw


def build(path: Path, size: int, api_share: float, sprinkle_every: int, seed: int) -> dict[str, object]:
    from stackrx.signatures.scanner import default_signatures

    pools = line_pools()
    weights = {"syslog": 0.40, "nova": 0.20, "neutron": 0.15, "ovs": 0.10, "openstack-api": api_share,
               "linux": 0.05}
    names = list(weights)
    cumulative = list(itertools.accumulate(weights[n] for n in names))
    sprinkles: list[tuple[str, str]] = []
    for sig in default_signatures():
        style = "syslog" if sig.files and sig.files & {"kernel", "syslog"} else "oslo"
        sprinkles += [(example, style) for example in (*sig.examples, *sig.near_misses)]
    avg = sum(weights[n] * (sum(map(len, b)) / len(b) + 24) for n, (_s, b) in pools.items()) / cumulative[-1]
    expected_lines = max(1, int(size / avg))
    rng = random.Random(seed)
    stamper = Stamper()
    start = COLLECTED - SPAN
    step = SPAN / expected_lines
    written = 0
    lines = 0
    sprinkled = 0
    next_sprinkle = sprinkle_every
    batch: list[bytes] = []
    with path.open("wb") as fh:
        while written < size:
            for origin in rng.choices(names, cum_weights=cumulative, k=4096):
                style, bodies = pools[origin]
                when = min(start + step * lines, COLLECTED)
                if lines == next_sprinkle:
                    example, ex_style = sprinkles[sprinkled % len(sprinkles)]
                    batch.append(restamp(example, when, stamper, ex_style))
                    sprinkled += 1
                    next_sprinkle += sprinkle_every
                else:
                    batch.append(stamper.stamp(when, style) + bodies[rng.randrange(len(bodies))])
                lines += 1
            chunk = b"\n".join(batch) + b"\n"
            batch.clear()
            fh.write(chunk)
            written += len(chunk)
    return {"bytes": written, "lines": lines, "sprinkled": sprinkled, "api_share": api_share, "seed": seed}


# -- measuring -------------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    """Runs inside the measured process: scan the file, report counts, time and peak RSS."""
    os.environ["STACKRX_SCANNER"] = args.backend
    t0 = time.perf_counter()
    from stackrx.facts import logs
    from stackrx.signatures import scanner as scanner_mod

    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    scanner = scanner_mod.default_scanner()
    hits = logs.scan_path(Path(args.child), collected_at=COLLECTED, window_days=7, workers=args.workers or None)
    elapsed = time.perf_counter() - t1
    result = {
        "backend": scanner.backend,
        "import_s": t_import,
        "scan_s": elapsed,
        "total": {s.id: hits.total(s.id) for s in scanner.signatures},
        "in_window": {s.id: hits.count(s.id) for s in scanner.signatures},
        "first_hit": {s.id: (h[0].line, h[0].timestamp.isoformat() if h[0].timestamp else None)
                      for s in scanner.signatures if (h := hits.get(s.id))},
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve, so it would report the parent's size.
        "maxrss_self_kb": _vm_hwm_kb(),
        "maxrss_workers_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    print(json.dumps(result))
    return 0


def _vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_stackrx(path: Path, backend: str, workers: int) -> tuple[float, dict[str, object]]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--backend", backend,
           "--workers", str(workers)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def ensure_ripgrep() -> str:
    rg = shutil.which("rg")
    if rg:
        return rg
    print("ripgrep not found: installing it with apt-get", flush=True)
    if subprocess.run(["apt-get", "install", "-y", "ripgrep"], capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "ripgrep"], capture_output=True, check=True)
    rg = shutil.which("rg")
    if not rg:
        sys.exit("could not install ripgrep")
    return rg


def rg_patterns() -> list[tuple[str, str, bool]]:
    """(signature id, pattern for ripgrep, comparable count) for every scan pattern of the table."""
    from stackrx.signatures.scanner import default_scanner

    scanner = default_scanner()
    out = []
    for plan in scanner.plans:
        sig = scanner.signatures[plan.sig]
        # Rust regex refuses duplicate group names across -e/-f patterns: make every group non-capturing.
        out.append((sig.id, re.sub(r"\(\?P<\w+>", "(?:", plan.pattern), not sig.block))
    return out


def run_rg(rg: str, args: list[str], path: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = subprocess.run([rg, "--no-config", "-c", *args, str(path)], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        sys.exit(f"rg failed: {out.stderr}")
    return elapsed, int(out.stdout.strip() or 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=parse_size("1G"))
    ap.add_argument("--api-share", type=float, default=0.08,
                    help="share of loghub nova-api lines (about half are WSGI access lines); default 0.08")
    ap.add_argument("--sprinkle-every", type=int, default=1000, help="one table example per N lines")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5,
                    help="timed runs per tool, alternating; the best is the result, the median is shown beside it")
    ap.add_argument("--backend", choices=("ahocorasick", "hyperscan", "re"), default="ahocorasick")
    ap.add_argument("--workers", type=int, default=0, help="stackrx worker processes (0 = one per CPU)")
    ap.add_argument("--no-verify", action="store_true", help="skip the per-pattern rg count comparison")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    if args.child:
        return child(args)

    rg = ensure_ripgrep()
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"logscan-{args.size}-s{args.seed}-a{args.api_share}-e{args.sprinkle_every}.log"
    meta_path = path.with_suffix(".json")
    if args.rebuild or not path.is_file() or not meta_path.is_file():
        print(f"building {path.name} ...", flush=True)
        t0 = time.perf_counter()
        meta = build(path, args.size, args.api_share, args.sprinkle_every, args.seed)
        meta_path.write_text(json.dumps(meta))
        os.sync()  # write-back of a fresh GiB would otherwise compete with the timed runs
        print(f"  built in {time.perf_counter() - t0:.1f} s", flush=True)
    meta = json.loads(meta_path.read_text())
    print(f"file: {path} ({meta['bytes'] / 2**20:.0f} MiB, {meta['lines']:,} lines, "
          f"{meta['sprinkled']:,} sprinkled table examples, api share {meta['api_share']})")
    with path.open("rb") as fh:  # warm the page cache so both tools read from memory
        while fh.read(1 << 24):
            pass

    patterns = rg_patterns()
    pattern_file = WORK / "patterns.txt"
    pattern_file.write_text("".join(p + "\n" for _sid, p, _cmp in patterns))

    rg_times, sx_times, sx_walls = [], [], []
    result: dict[str, object] = {}
    rg_lines = 0
    for _ in range(args.repeat):
        elapsed, rg_lines = run_rg(rg, ["-f", str(pattern_file)], path)
        rg_times.append(elapsed)
        wall, result = run_stackrx(path, args.backend, args.workers)
        sx_walls.append(wall)
        sx_times.append(float(result["scan_s"]))  # type: ignore[arg-type]
    rg_best, sx_best, wall_best = min(rg_times), min(sx_times), min(sx_walls)
    total: dict[str, int] = result["total"]  # type: ignore[assignment]
    rss_self = int(result["maxrss_self_kb"]) / 1024  # type: ignore[call-overload]
    rss_workers = int(result["maxrss_workers_kb"]) / 1024  # type: ignore[call-overload]

    print(f"\nripgrep {rg_best:.3f} s   (rg -c -f patterns.txt: {rg_lines:,} matching lines, "
          f"{len(patterns)} patterns; runs {', '.join(f'{t:.2f}' for t in rg_times)})")
    print(f"stackrx {sx_best:.3f} s   (backend {result['backend']}, scanner compile + scan + tally; "
          f"runs {', '.join(f'{t:.2f}' for t in sx_times)}; child wall incl. interpreter start "
          f"{wall_best:.3f} s)")
    ratio = sx_best / rg_best
    median = statistics.median(sx_times) / statistics.median(rg_times)
    print(f"ratio   {ratio:.2f} x ripgrep  (target ≤ 0.50; median run against median run: {median:.2f})")
    print(f"peak RSS main process {rss_self:.0f} MB, largest worker {rss_workers:.0f} MB (target < 200 MB)")
    hits = sum(total.values())
    print(f"sum of stackrx per-signature hits: {hits:,} ({100 * hits / int(meta['lines']):.1f}% of lines; "
          f"R-WSGI {total.get('R-WSGI', 0):,})")

    if not args.no_verify:
        print(f"\n{'signature':28} {'stackrx':>10} {'rg -c -e':>10}")
        mismatches = 0
        for sid, pattern, comparable in patterns:
            _t, count = run_rg(rg, ["-e", pattern], path)
            mark = "" if not comparable else ("ok" if count == total[sid] else "MISMATCH")
            if comparable and count != total[sid]:
                mismatches += 1
            note = "" if comparable else "(multi-line: rg counts the start line)"
            print(f"{sid:28} {total[sid]:>10,} {count:>10,}  {mark} {note}")
        print(f"\ncounts: {'all equal' if not mismatches else f'{mismatches} mismatches'}")
        if mismatches:
            return 1
    ok = ratio <= 0.5 and max(rss_self, rss_workers) < 200
    print(f"\n{'TARGET MET' if ok else 'target not met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
