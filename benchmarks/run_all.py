"""Run every benchmark in this folder, one after another, and print their tables.

Usage: python benchmarks/run_all.py [--scale 1.0] [--only NAME ...]

Each ``bench_*.py`` measures accord against the package a user would otherwise use, in the
same process and run, and prints our time, the peer's time, the ratio and whether the values
agree. ``--scale`` shrinks every workload (e.g. 0.1 for a quick look).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="workload scale (1.0 = the issue's sizes)")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names, e.g. agreement boxes")
    args = parser.parse_args()
    failed = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name} (scale {args.scale})", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(path), "--scale", str(args.scale)])
        print(f"--- {name}: exit {rc}, {time.perf_counter() - t0:.1f} s wall", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
