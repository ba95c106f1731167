"""Stage bundle: the six models, the training prior and the specs they were trained with -> models/bundle/
(what evaluate, predict, `lumbar predict --models` and a Kaggle notebook load)."""
import argparse

import pandas as pd

from lumbar import params as P
from lumbar.bundle import build_bundle
from lumbar.kaggle import read_kaggle
from lumbar.locate import LocateConfig
from lumbar.paths import Paths
from lumbar.split import studies_in
from lumbar.vocabulary import GROUP_NAMES

RECORDED = ("extract", "yolo_data", "detector", "crop", "classifier")  # the params the models were trained with


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    p, paths = P.load(args.params), Paths()
    manifest = build_bundle(paths.bundle, {g: paths.detector(g) for g in GROUP_NAMES},
                            {g: paths.classifier(g) for g in GROUP_NAMES},
                            read_kaggle(p.data.kaggle_dir, part="train").labels,
                            studies_in(pd.read_csv(paths.split), "train", "val"), LocateConfig.from_params(p),
                            (float(p.extract.low_percentile), float(p.extract.high_percentile)),
                            {k: p[k] for k in RECORDED})
    print({k: manifest[k] for k in ("format", "lumbar_version", "inference_code_sha256")})


if __name__ == "__main__":
    main()
