"""Seconds per study, end to end from DICOM to 25 probabilities, on the holdout studies.

    python benchmarks/inference.py [--studies 10] [--profile]

Runs after `dvc repro` (it needs the trained models). Models are loaded once, then each study is timed
through `inference.predict_study`, the function `evaluate` and `predict` use; the first study is a
warm-up and is not counted. --profile prints the 20 most expensive calls (cumulative).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from lumbar import params as P  # noqa: E402
from lumbar.evaluation import training_prior  # noqa: E402
from lumbar.inference import Pipeline, predict_study  # noqa: E402
from lumbar.kaggle import read_kaggle, study_image_dir  # noqa: E402
from lumbar.vocabulary import SPLIT, STUDY_ID  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=10)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    params = P.load()
    kaggle_dir = ROOT / params.data.kaggle_dir
    data = read_kaggle(kaggle_dir, part="train")
    split = pd.read_csv(ROOT / "data" / "split.csv")
    studies = sorted(split.loc[split[SPLIT] == "holdout", STUDY_ID])[: args.studies + 1]
    prior = training_prior(data.labels, sorted(split.loc[split[SPLIT] != "holdout", STUDY_ID]))
    t0 = time.perf_counter()
    pipe = Pipeline.load(params, prior, ROOT)
    load_s = time.perf_counter() - t0

    def run(study: int) -> None:
        predict_study(pipe, study, data.series[data.series[STUDY_ID] == study],
                      study_image_dir(kaggle_dir, "train", study))

    run(studies[0])  # warm-up: first-call allocations, lazy imports
    prof = cProfile.Profile() if args.profile else None
    times = []
    for study in studies[1:]:
        t = time.perf_counter()
        if prof:
            prof.enable()
        run(study)
        if prof:
            prof.disable()
        times.append(time.perf_counter() - t)
    s = pd.Series(times)
    print(f"torch threads: {torch.get_num_threads()}; model load {load_s:.2f} s (once)")
    print(f"studies: {len(times)}; seconds/study: mean {s.mean():.3f}, median {s.median():.3f}, max {s.max():.3f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    main()
