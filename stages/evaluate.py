"""Stage evaluate: the model bundle on unseen patients (holdout, and graded test studies) from their DICOM,
scored beside the prior and the oracle.
The graded test studies are scored from the cells `predict` wrote with the same bundle."""
import argparse

from lumbar import params as P
from lumbar.evaluation import evaluate
from lumbar.paths import Paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    p, paths = P.load(args.params), Paths()
    m = evaluate(paths.bundle, p.data.kaggle_dir, paths.split, paths.evaluation, paths.evaluate_metrics,
                 oracle_csv=p.data.oracle or None, test_labels=p.data.test_labels or None,
                 test_cells=paths.predict_cells)
    print({k: m[k] for k in ("score", "prior", "oracle", "gap_captured", "patients") if k in m})


if __name__ == "__main__":
    main()
