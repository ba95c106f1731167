"""Stage evaluate: the whole pipeline on holdout patients, scored beside the prior and the oracle."""
import argparse

import _src  # noqa: F401

from lumbar import params as P
from lumbar.evaluation import evaluate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    m = evaluate(P.load(args.params), P.ROOT, P.ROOT / "data" / "evaluate", P.ROOT / "metrics" / "evaluate.json")
    print({k: m[k] for k in ("score", "prior", "oracle", "gap_captured") if k in m})


if __name__ == "__main__":
    main()
