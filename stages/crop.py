"""Stage crop@{group}: classifier inputs (label crops for training studies, detector crops elsewhere)."""
import argparse

import _src  # noqa: F401
import pandas as pd

from lumbar import params as P
from lumbar.crop_sets import CropSpec, build_crop_set
from lumbar.detection import load_detector
from lumbar.kaggle import read_kaggle
from lumbar.vocabulary import LEVEL_GROUP


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--group", required=True)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    p = P.load(args.params)
    c = p.crop
    data = read_kaggle(P.ROOT / p.data.kaggle_dir, part="train")
    spec = CropSpec(side_mm=float(c.side_mm[args.group]), size=int(c.size),
                    jitter_mm=float(c.jitter_mm), seed=int(c.seed))
    detector = load_detector(P.ROOT / "models" / "detect" / args.group / "best.pt")
    # Levels are placed by the spinal boxes on Sagittal T2 (detection/levels.py), as in inference.
    placed = args.group != LEVEL_GROUP and float(c.level_mm) > 0
    level_detector = load_detector(P.ROOT / "models" / "detect" / LEVEL_GROUP / "best.pt") if placed else None
    summary = build_crop_set(args.group, P.ROOT / "data" / "extracted", data.coordinates, data.labels,
                             pd.read_csv(P.ROOT / "data" / "split.csv"), detector, spec,
                             P.ROOT / "data" / "crops" / args.group, imgsz=int(p.detector.imgsz),
                             conf=float(p.detector.conf), batch=int(p.detector.predict_batch),
                             level_detector=level_detector, level_mm=float(c.level_mm))
    print(summary)


if __name__ == "__main__":
    main()
