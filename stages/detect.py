"""Stage detect: data/yolo/{group} -> models/detect/{group}/best.pt, metrics/detect/{group}.json, dvclive curves."""
import argparse
import json

import _src  # noqa: F401

from lumbar import params as P
from lumbar.detection import train_detector
from lumbar.vocabulary import GROUP_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    ap.add_argument("--group", required=True, choices=GROUP_NAMES)
    args = ap.parse_args()
    p = P.load(args.params)
    metrics = train_detector(args.group, P.ROOT / "data" / "yolo" / args.group, P.ROOT / "data" / "extracted",
                             p.detector, root=P.ROOT)
    print(json.dumps(metrics, sort_keys=True))


if __name__ == "__main__":
    main()
