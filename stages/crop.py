"""Stage crop@{group}: classifier inputs (label crops for training studies, located boxes for validation)."""
import argparse

import pandas as pd

from lumbar import params as P
from lumbar.crop_sets import build_crop_set
from lumbar.crops import CropSpec
from lumbar.extracted import ExtractedSeries
from lumbar.kaggle import read_kaggle
from lumbar.located import read_located
from lumbar.paths import Paths
from lumbar.vocabulary import GROUP_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    ap.add_argument("--group", required=True, choices=GROUP_NAMES)
    args = ap.parse_args()
    p, paths, g = P.load(args.params), Paths(), args.group
    c = p.crop
    data = read_kaggle(p.data.kaggle_dir, part="train")
    boxes, studies = read_located(paths.located, g)
    summary = build_crop_set(g, ExtractedSeries(paths.extracted), data.coordinates, data.labels,
                             pd.read_csv(paths.split), boxes, studies,
                             CropSpec(side_mm=float(c.side_mm[g]), size=int(c.size), mirror_right=bool(c.mirror_right[g])), paths.crops(g),
                             jitter_mm=float(c.jitter_mm), seed=int(c.seed),
                             slice_jitter=float(c.slice_jitter))
    print(summary)


if __name__ == "__main__":
    main()
