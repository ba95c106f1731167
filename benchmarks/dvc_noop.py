"""Wall time of a no-op `dvc repro` (everything up to date), best and median of several runs.

    python benchmarks/dvc_noop.py [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if res.returncode != 0 or "Running stage" in res.stdout:
            sys.exit(f"not a no-op: run `dvc repro` first\n{res.stdout}{res.stderr}")
    print(f"no-op dvc repro: best {min(times):.2f} s, median {statistics.median(times):.2f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
