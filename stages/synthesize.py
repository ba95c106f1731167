"""Stage synthesize: synthetic studies in the Kaggle layout, oracle posteriors, contact sheet."""
import argparse

import _src  # noqa: F401

from lumbar import params as P
from lumbar.synthetic import synthesize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    p = P.load(args.params)
    metrics = synthesize(p.synthetic, P.ROOT / "data" / "synthetic", P.ROOT / "reports" / "contact_sheet.png",
                         P.ROOT / "metrics" / "synthetic.json")
    print(metrics)


if __name__ == "__main__":
    main()
