"""Seconds per study, end to end from DICOM to 25 probabilities, on the holdout studies.

    python benchmarks/inference.py [--studies 10] [--profile]

Runs after `dvc repro` (it needs the model bundle, models/bundle). Models are loaded once, then each
study is timed through `inference.predict_dicom_study`, the function `evaluate` and `predict` use; the first study is a
warm-up and is not counted. --profile prints the 20 most expensive calls (cumulative).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import time

import pandas as pd
import torch

from lumbar import params as P
from lumbar.bundle import Bundle
from lumbar.inference import predict_dicom_study
from lumbar.kaggle import read_kaggle, study_image_dir
from lumbar.paths import Paths
from lumbar.split import studies_in
from lumbar.vocabulary import STUDY_ID


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=10)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    params, paths = P.load(), Paths()
    kaggle_dir = params.data.kaggle_dir
    data = read_kaggle(kaggle_dir, part="train")
    studies = studies_in(pd.read_csv(paths.split), "holdout")[: args.studies + 1]
    t0 = time.perf_counter()
    bundle = Bundle.load(paths.bundle)
    load_s = time.perf_counter() - t0

    def run(study: int) -> None:
        predict_dicom_study(bundle, study, data.series[data.series[STUDY_ID] == study],
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
