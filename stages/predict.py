"""Stage predict: submission.csv for the test studies with the model bundle, plus a per-study visual report."""
import argparse
import logging

from lumbar import params as P
from lumbar.paths import Paths
from lumbar.prediction import predict_test_set


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p, paths = P.load(args.params), Paths()
    m = predict_test_set(paths.bundle, p.data.kaggle_dir, paths.submission, paths.predict_report,
                         paths.predict_metrics, report_studies=int(p.predict.report_studies),
                         test_labels=p.data.test_labels or None,
                         cells_csv=paths.predict_cells)
    print(m)


if __name__ == "__main__":
    main()
