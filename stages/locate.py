"""Stage locate: the three detectors over the validation studies -> data/located/{group}.csv (the box each
cell is read from, chosen as inference chooses it) and metrics/locate.json (how well they sit on the labels)."""
import argparse
import json

import pandas as pd

from lumbar import params as P
from lumbar.detection.predict import load_detector
from lumbar.extracted import ExtractedSeries
from lumbar.kaggle import read_kaggle
from lumbar.locate import LocateConfig, run_locate
from lumbar.paths import Paths
from lumbar.split import studies_in
from lumbar.vocabulary import GROUP_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    p, paths = P.load(args.params), Paths()
    detectors = {g: load_detector(paths.detector(g)) for g in GROUP_NAMES}
    studies = studies_in(pd.read_csv(paths.split), *p.locate.splits)
    figures = run_locate(detectors, ExtractedSeries(paths.extracted), studies,
                         read_kaggle(p.data.kaggle_dir, part="train").coordinates, LocateConfig.from_params(p),
                         paths.located, paths.locate_metrics)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
