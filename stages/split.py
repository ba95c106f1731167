"""Stage split: train.csv (data.kaggle_dir) -> data/split.csv (study_id, split, fold), by patient."""
import argparse
import json

from lumbar import params as P
from lumbar.kaggle import read_kaggle
from lumbar.paths import Paths
from lumbar.split import make_split, summarize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    ap.add_argument("--out", default=str(Paths().split))
    args = ap.parse_args()
    p = P.load(args.params)
    s = p.split
    labels = read_kaggle(p.data.kaggle_dir, part="train").labels
    table = make_split(labels, holdout=float(s.holdout), folds=int(s.folds), val_fold=int(s.val_fold),
                       seed=int(s.seed))
    table.to_csv(args.out, index=False, lineterminator="\n")
    print(json.dumps(summarize(table), sort_keys=True))


if __name__ == "__main__":
    main()
