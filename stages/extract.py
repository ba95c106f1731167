"""Stage extract: Kaggle DICOM (data.kaggle_dir) -> data/extracted/ (uint8 volumes, slice table, report)."""
import argparse
import json
import time

from lumbar import params as P
from lumbar.extract import extract
from lumbar.paths import Paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    p = P.load(args.params)
    e = p.extract
    start = time.perf_counter()
    report = extract(p.data.kaggle_dir, Paths().extracted, workers=int(e.workers),
                     low_pct=float(e.low_percentile), high_pct=float(e.high_percentile), part="train")
    summary = {k: v for k, v in report.items() if not isinstance(v, (list, dict))}
    print(json.dumps(summary, sort_keys=True), f"in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
