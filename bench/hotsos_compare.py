"""Whole-node scan time: stackrx against hotsos on the same sosreport, in the same run.

    python bench/hotsos_compare.py                       # the real compute4 sosreport from ../shared/realdata
    python bench/hotsos_compare.py --tree DIR --runs 5

hotsos is installed from PyPI into a throwaway venv (bench/.venv-hotsos, made once) so it never touches the
project's environment. Each tool runs as a fresh subprocess, so interpreter start-up and imports count for both,
as they do for an operator. The best of --runs wall times is compared; stackrx's target is ≤ 0.1× hotsos.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tales import issue_texts  # bench/ is on sys.path when this script runs

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-hotsos"
DEFAULT_TREE = HERE.parents[1] / "shared" / "realdata" / "hotsos" / "openstack-compute4-sosreport"


def hotsos_bin() -> Path:
    exe = VENV / "bin" / "hotsos"
    if not exe.exists():
        print(f"installing hotsos into {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "hotsos"], check=True)
    return exe


def stackrx_bin() -> list[str]:
    found = shutil.which("stackrx")
    return [found] if found else [sys.executable, "-m", "stackrx"]


def timed(cmd: list[str], runs: int, ok_codes: tuple[int, ...]) -> tuple[float, str]:
    best = float("inf")
    out = ""
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        elapsed = time.perf_counter() - t0
        if proc.returncode not in ok_codes:
            sys.exit(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
        best = min(best, elapsed)
        out = proc.stdout
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, default=DEFAULT_TREE, help="an unpacked sosreport")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not args.tree.is_dir():
        sys.exit(f"no sosreport directory at {args.tree}")

    hotsos = hotsos_bin()
    # hotsos's default run: every plugin, summary output; --all-logs off, as shipped.
    hs_time, hs_out = timed([str(hotsos), "--format", "json", str(args.tree)], args.runs, (0,))
    sx_time, sx_out = timed([*stackrx_bin(), "scan", str(args.tree), "--format", "json"], args.runs, (0, 3))

    report = json.loads(sx_out)
    results = report["results"]
    bad = [r for r in results if r["status"] in ("fail", "warn")]
    start = hs_out.find("{")  # hotsos prints an "INFO: analysing ..." line before its JSON
    try:
        found: set[str] = set()
        issue_texts(json.loads(hs_out[start:]), found)
        hs_issues = len(found)
    except ValueError:
        hs_issues = -1
    print(f"tree     {args.tree}")
    print(f"hotsos   {hs_time:6.2f} s  (best of {args.runs})")
    print(f"stackrx  {sx_time:6.2f} s  (best of {args.runs}; {len(results)} results, {len(bad)} fail/warn)")
    print(f"ratio    {sx_time / hs_time:.3f} x hotsos  (target ≤ 0.10)")
    if hs_issues >= 0:
        print(f"hotsos potential-issues / bugs-detected entries: {hs_issues}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
