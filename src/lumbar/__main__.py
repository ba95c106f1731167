"""Command line: `python -m lumbar predict STUDY_DIR` prints one study's 25 predictions;
`python -m lumbar review --base main` prints the metrics/params review CI posts on a pull request.

Run from the repository root with PYTHONPATH=src after `dvc repro` (or `dvc pull`) has produced the
models; the training prior comes from the same data the models were trained on.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from . import params as P
from .vocabulary import SPLIT, STUDY_ID, SUBMISSION_COLUMNS


def _predict(args: argparse.Namespace) -> int:
    from .evaluation import training_prior
    from .inference import Pipeline, predict_study
    from .kaggle import read_kaggle
    from .prediction import study_series
    from .report import study_figure, write_index

    study_dir = Path(args.study_dir)
    if not study_dir.is_dir() or not study_dir.name.isdigit():
        print(f"error: {study_dir} is not a study folder named by its numeric study_id", file=sys.stderr)
        return 2
    params = P.load(args.params)
    train = read_kaggle(P.ROOT / params.data.kaggle_dir, part="train")
    split = pd.read_csv(P.ROOT / "data" / "split.csv")
    prior = training_prior(train.labels, sorted(split.loc[split[SPLIT] != "holdout", STUDY_ID]))
    pipe = Pipeline.load(params, prior, P.ROOT)
    pred = predict_study(pipe, int(study_dir.name), study_series(study_dir), study_dir,
                         keep_images=args.report is not None)
    for note in pred.notes:
        logging.warning("%s", note)
    pd.set_option("display.width", 200)
    print(pred.probs.to_string(index=False, float_format=lambda v: f"{v:.4f}",
                               columns=["row_id", *SUBMISSION_COLUMNS, "source"]))
    if args.report:
        out = Path(args.report)
        png = study_figure(pred, out / f"study_{pred.study_id}.png")
        write_index([pred], out, {pred.study_id: png.name})
        print(f"report: {out / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lumbar", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("predict", help="print the 25 predictions of one study folder")
    pr.add_argument("study_dir", help="e.g. data/synthetic/kaggle/test_images/<study_id>")
    pr.add_argument("--params", default=str(P.DEFAULT_PATH))
    pr.add_argument("--report", help="also write a PNG + index.html of what the models saw here")
    rv = sub.add_parser("review", help="markdown of `dvc metrics diff` and `dvc params diff` against a base")
    rv.add_argument("--base", default="main", help="git revision to compare the workspace with")
    rv.add_argument("--output", help="write the markdown here instead of stdout")
    ps = sub.add_parser("preset", help="lay a preset (e.g. params-real.yaml) over params.yaml")
    ps.add_argument("preset")
    ps.add_argument("--target", default=str(P.DEFAULT_PATH))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "preset":
        P.write_preset(args.preset, args.target)
        print(f"{args.target}: {args.preset} laid over it")
        return 0
    if args.command == "review":
        from .review import review_report

        text = review_report(args.base, P.ROOT)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            print(text)
        return 0
    return _predict(args)


if __name__ == "__main__":
    sys.exit(main())
