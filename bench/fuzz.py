"""Long fuzz run: ≥10,000 seeded cases per parser; prints per-parser case counts, parse errors and crashes.

    python bench/fuzz.py [--cases 10000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzzing import cases, corpus, fuzz_targets
from stackrx.errors import ParseError
from stackrx.sources.base import Text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    real = corpus()
    crashed = 0
    print(f"{'parser':55} {'cases':>7} {'ParseError':>10} {'crashes':>8} {'seconds':>8}")
    for parser in fuzz_targets():
        name = f"{parser.__module__}.{parser.__name__}"
        errors = crashes = 0
        start = time.perf_counter()
        for n, content in enumerate(cases(args.seed, args.cases, real)):
            try:
                parser(Text(f"fuzz/{n}", content))
            except ParseError:
                errors += 1
            except Exception:
                crashes += 1
                if crashes <= 3:
                    traceback.print_exc()
        crashed += crashes
        print(f"{name:55} {args.cases:>7} {errors:>10} {crashes:>8} {time.perf_counter() - start:>8.1f}")
    print("FAIL: parsers raised past ParseError" if crashed else "OK: no parser raised past ParseError")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
