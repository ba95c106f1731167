"""Stage detect@{group}: data/yolo/{group} -> models/detect/{group}/best.pt, metrics/detect/{group}.json, dvclive curves."""
import argparse
import json

from lumbar import params as P
from lumbar.detection.train import train_detector
from lumbar.paths import Paths
from lumbar.vocabulary import GROUP_NAMES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    ap.add_argument("--group", required=True, choices=GROUP_NAMES)
    args = ap.parse_args()
    g, paths = args.group, Paths()
    metrics = train_detector(g, paths.yolo(g), P.load(args.params).detector, paths.detector_dir(g),
                             paths.detect_metrics(g), paths.detect_live(g), paths.detect_runs, root=paths.root)
    print(json.dumps(metrics, sort_keys=True))


if __name__ == "__main__":
    main()
