"""Score `predict` on studies the pipeline has never seen, synthesized with another seed.

    python benchmarks/fresh_seed.py [--studies 25] [--seed 7]

Writes a test-only synthetic set (its grades beside it) to a temporary folder, runs `predict` with the
model bundle on it, and prints its competition score beside the evaluate stage's holdout score
(metrics/evaluate.json): the two should agree within noise, since both are unseen patients.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from lumbar import params as P
from lumbar.paths import Paths
from lumbar.prediction import predict_test_set
from lumbar.synthetic import synthesize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, default=25)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    params = P.load()
    cfg = dict(params.synthetic)
    cfg.update(seed=args.seed, n_train=1, n_test=args.studies)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fresh"
        synthesize(cfg, out)
        m = predict_test_set(Paths().bundle, out / "kaggle", Path(tmp) / "submission.csv",
                             test_labels=out / "test_labels.csv", progress=False)
    holdout = json.loads(Paths().evaluate_metrics.read_text())["score"]["score"]
    print(f"fresh seed {args.seed}, {args.studies} studies: predict score {m['score']['score']:.3f}; "
          f"evaluate holdout score {holdout:.3f}; difference {m['score']['score'] - holdout:+.3f}")


if __name__ == "__main__":
    main()
