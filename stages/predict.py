"""Stage predict: submission.csv for the test studies, plus a per-study visual report."""
import argparse
import logging

import _src  # noqa: F401

from lumbar import params as P
from lumbar.prediction import predict_test_set


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = P.load(args.params)
    m = predict_test_set(p, P.ROOT, P.ROOT / "data" / "submission.csv", P.ROOT / "reports" / "predict",
                         P.ROOT / "metrics" / "predict.json", report_studies=int(p.predict.report_studies))
    print(m)


if __name__ == "__main__":
    main()
