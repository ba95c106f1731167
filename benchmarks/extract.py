"""Extract stage vs a naive loop, side by side over the same DICOM files: files/s, ratio, peak RSS.

    python benchmarks/extract.py [--kaggle-dir data/synthetic/kaggle] [--workers 0] [--rounds 1]

Naive loop (one process): pydicom read -> min-max to uint8 -> cv2 PNG write, one PNG per slice.
Extract: lumbar.extract.extract (series in parallel, per-series percentile window, one .npy per series).
Each job runs in its own child interpreter writing to a temporary folder, so its peak RSS (ru_maxrss of
the child itself and of its worker processes) is its own; the files are read once beforehand so both
start from a warm page cache. With --rounds > 1 the two alternate and the best time of each is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lumbar.kaggle import read_kaggle, series_image_dir

ROOT = Path(__file__).resolve().parents[1]

_PRELUDE = """
import json, resource, sys, time
from pathlib import Path
kaggle, out, workers = Path({kaggle!r}), Path({out!r}), {workers!r}
files = json.loads(Path({file_list!r}).read_text())
"""
NAIVE = """
import cv2, numpy as np, pydicom
start = time.perf_counter()
for i, f in enumerate(files):
    a = pydicom.dcmread(f).pixel_array.astype(np.float32)
    lo, hi = float(a.min()), float(a.max())
    img = ((a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)).astype(np.uint8)
    cv2.imwrite(str(out / f"{i}.png"), img)
"""
EXTRACT = """
from lumbar.extract import extract
start = time.perf_counter()
extract(kaggle, out, workers=workers, progress=False)
"""
_REPORT = """
seconds = time.perf_counter() - start
print("RESULT " + json.dumps({"seconds": seconds,
      "rss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      "rss_children_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def listed_files(kaggle_dir: Path) -> list[str]:
    """The DICOM files of every series train_series_descriptions.csv lists (what extract reads)."""
    data = read_kaggle(kaggle_dir, "train")
    files = []
    for study, series in zip(data.series["study_id"], data.series["series_id"]):
        d = series_image_dir(kaggle_dir, "train", study, series)
        if d.is_dir():
            files.extend(str(p) for p in sorted(d.iterdir()) if p.is_file())
    return files


def run_job(code: str, kaggle_dir: Path, files: list[str], workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as work:
        (Path(work) / "files.json").write_text(json.dumps(files))
        src = _PRELUDE.format(kaggle=str(kaggle_dir), out=tmp, workers=workers,
                              file_list=str(Path(work) / "files.json")) + code + _REPORT
        (Path(work) / "job.py").write_text(src)
        res = subprocess.run([sys.executable, str(Path(work) / "job.py")], capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            sys.exit(res.stderr[-3000:])
        out = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
        out["output_mib"] = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 2**20
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kaggle-dir", default="data/synthetic/kaggle")
    ap.add_argument("--workers", type=int, default=0, help="extract workers (0 = all cores)")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    kaggle_dir = (ROOT / args.kaggle_dir).resolve()
    if not (kaggle_dir / "train_series_descriptions.csv").is_file():
        sys.exit(f"{kaggle_dir}: no Kaggle-layout data (run `dvc repro synthesize` first)")
    files = listed_files(kaggle_dir)
    for f in files:  # warm the page cache so neither side pays for the first disk read
        Path(f).read_bytes()
    best: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, code in (("naive", NAIVE), ("extract", EXTRACT)):
            r = run_job(code, kaggle_dir, files, args.workers)
            if name not in best or r["seconds"] < best[name]["seconds"]:
                best[name] = r
    cores = os.cpu_count()
    print(f"{len(files)} DICOM files, {cores} cores, extract workers={args.workers or cores}")
    for name, r in best.items():
        print(f"{name:8s} {len(files) / r['seconds']:8.1f} files/s  {r['seconds']:7.2f} s  "
              f"peak RSS self {r['rss_self_mib']:.0f} MiB, workers {r['rss_children_mib']:.0f} MiB  "
              f"output {r['output_mib']:.0f} MiB")
    print(f"ratio extract/naive: {best['naive']['seconds'] / best['extract']['seconds']:.2f}x")


if __name__ == "__main__":
    main()
