"""Train a spinal detector on phantoms alone, with more phantoms or epochs than the demo can afford.

    python benchmarks/phantom_detector.py --series 300 --epochs 15 [--out-dir /tmp/lumbar_phantom_detector]
    python benchmarks/sim_to_real.py --model /tmp/lumbar_phantom_detector/model/best.pt

The data set is built by the pipeline's own code (lumbar.synthetic.views.phantom_series, then
lumbar.detection.dataset.add_phantoms: each labelled slice plus yolo_data.negative_share negatives)
from the params' `synthetic:` section, and trained by lumbar.detection.train.train_detector with the
params' `detector:` section; only the number of series and epochs differ from what detect@spinal does
(which also sees the demo's own ~60 training studies). Validation: 30 phantom series of another seed.
It answers "does the phantom-trained detector find real levels with more training than the demo's
20 minutes?" — the question benchmarks/sim_to_real.py then measures.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from lumbar import params as P
from lumbar.detection.dataset import add_phantoms
from lumbar.detection.env import ultralytics_env
from lumbar.synthetic.views import phantom_series
from lumbar.vocabulary import GROUPS

ROOT = Path(__file__).resolve().parents[1]
VAL_SEED_OFFSET = 1_000


def build(out: Path, n: int, p) -> dict:
    """YOLO set of `n` phantom series (train) and 30 of another seed (val) under `out`."""
    shutil.rmtree(out, ignore_errors=True)
    y, e = p.yolo_data, p.extract
    counts = {}
    for part, seed, k in (("train", int(p.synthetic.seed), n), ("val", int(p.synthetic.seed) + VAL_SEED_OFFSET, 30)):
        for sub in ("images", "labels"):
            (out / sub / part).mkdir(parents=True)
        series = phantom_series("spinal", k, {**p.synthetic, "seed": seed}, float(e.low_percentile),
                                float(e.high_percentile), workers=int(p.synthetic.workers))
        counts[part] = add_phantoms(out, "spinal", series, float(y.box_mm.spinal), float(y.negative_share),
                                    int(y.seed), part=part)
    spec = {"train": "images/train", "val": "images/val", "nc": len(GROUPS["spinal"].classes),
            "names": dict(enumerate(GROUPS["spinal"].classes))}
    (out / "dataset.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=300, help="phantom series to train on")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=None, help="detector seed (default: detector.seed)")
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--out-dir", default="/tmp/lumbar_phantom_detector")
    args = ap.parse_args()
    ultralytics_env(ROOT / ".ultralytics")
    from lumbar.detection.train import train_detector

    p, out = P.load(args.params), Path(args.out_dir)
    counts = build(out / "data", args.series, p)
    cfg = {**p.detector, "epochs": args.epochs}
    if args.seed is not None:
        cfg["seed"] = args.seed
    metrics = train_detector("spinal", out / "data", cfg, out / "model", out / "metrics.json", out / "live",
                             out / "runs", ROOT)
    report = {"series": args.series, "epochs": args.epochs, "seed": cfg["seed"], "images": counts, **metrics}
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
    print(f"model: {out / 'model' / 'best.pt'}")


if __name__ == "__main__":
    main()
