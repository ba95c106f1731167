"""Stage yolo_data: data/extracted + label coordinates + data/split.csv -> data/yolo/{group}/ (YOLO dataset),
plus yolo_data.phantoms.{group} extra phantom series of the group's view in its train split."""
import argparse
import json

import pandas as pd

from lumbar import params as P
from lumbar.detection.dataset import add_phantoms, build_yolo_dataset
from lumbar.kaggle import read_kaggle
from lumbar.paths import Paths
from lumbar.synthetic.views import phantom_series
from lumbar.vocabulary import GROUP_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    ap.add_argument("--group", required=True, choices=GROUP_NAMES)
    args = ap.parse_args()
    p, paths = P.load(args.params), Paths()
    y = p.yolo_data
    coordinates = read_kaggle(p.data.kaggle_dir, part="train").coordinates
    summary = build_yolo_dataset(args.group, paths.extracted, coordinates, pd.read_csv(paths.split),
                                 paths.yolo(args.group), box_mm=float(y.box_mm[args.group]),
                                 negative_share=float(y.negative_share), seed=int(y.seed))
    n = int(y.phantoms[args.group])
    if n > 0:
        series = phantom_series(args.group, n, p.synthetic, float(p.extract.low_percentile),
                                float(p.extract.high_percentile), workers=int(p.synthetic.workers))
        summary["phantoms"] = add_phantoms(paths.yolo(args.group), args.group, series, float(y.box_mm[args.group]),
                                           float(y.negative_share), int(y.seed))
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
