"""Stage classify@{group}: data/crops/{group}/ -> models/classify/{group}/model.pt + metrics + dvclive curves.

Runs data-parallel when launched with `torchrun --nproc_per_node N stages/classify.py --group ...`.
"""
import argparse
import os

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads of a
# busy neighbour make training several times slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from lumbar import params as P  # noqa: E402
from lumbar.classification.train import TrainConfig, train_classifier  # noqa: E402
from lumbar.paths import Paths  # noqa: E402
from lumbar.vocabulary import GROUP_NAMES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--group", required=True, choices=GROUP_NAMES)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    ap.add_argument("--root", default=".", help="folder holding data/, models/, metrics/, dvclive/")
    args = ap.parse_args()
    paths, g = Paths(args.root), args.group
    cfg = TrainConfig.from_params(P.load(args.params).classifier, root=paths.root, group=g)
    train_classifier(g, paths.crops(g), paths.classifier(g), paths.classify_metrics(g), paths.classify_live(g), cfg)


if __name__ == "__main__":
    main()
