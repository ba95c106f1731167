"""Stage yolo_data: data/extracted + label coordinates + data/split.csv -> data/yolo/{group}/ (YOLO dataset)."""
import argparse
import json

import _src  # noqa: F401
import pandas as pd

from lumbar import params as P
from lumbar.detection import build_yolo_dataset
from lumbar.kaggle import read_kaggle
from lumbar.vocabulary import GROUP_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    ap.add_argument("--group", required=True, choices=GROUP_NAMES)
    args = ap.parse_args()
    p = P.load(args.params)
    y = p.yolo_data
    coordinates = read_kaggle(P.ROOT / p.data.kaggle_dir, part="train").coordinates
    summary = build_yolo_dataset(args.group, P.ROOT / "data" / "extracted", coordinates,
                                 pd.read_csv(P.ROOT / "data" / "split.csv"), P.ROOT / "data" / "yolo" / args.group,
                                 box_mm=float(y.box_mm[args.group]), negative_share=float(y.negative_share),
                                 seed=int(y.seed))
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
