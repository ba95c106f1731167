"""Stage synthesize: synthetic studies in the Kaggle layout, oracle posteriors, contact sheet."""
import argparse

from lumbar import params as P
from lumbar.paths import Paths
from lumbar.synthetic import synthesize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    paths = Paths()
    metrics = synthesize(P.load(args.params).synthetic, paths.synthetic, paths.contact_sheet,
                         paths.synthetic_metrics)
    print(metrics)


if __name__ == "__main__":
    main()
