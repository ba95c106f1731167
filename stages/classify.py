"""Stage classify@{group}: data/crops/{group}/ -> models/classify/{group}/model.pt + metrics + dvclive curves.

Runs data-parallel when launched with `torchrun --nproc_per_node N stages/classify.py --group ...`.
"""
import argparse
import os
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads of a
# busy neighbour make training several times slower. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import _src  # noqa: E402,F401

from lumbar import params as P  # noqa: E402
from lumbar.classification import TrainConfig, train_classifier  # noqa: E402
from lumbar.vocabulary import GROUP_NAMES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--group", required=True, choices=GROUP_NAMES)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    ap.add_argument("--root", default=str(P.ROOT), help="folder holding data/, models/, metrics/, dvclive/")
    args = ap.parse_args()
    root = Path(args.root)
    cfg = TrainConfig.from_params(P.load(args.params).classifier, root=root)
    g = args.group
    train_classifier(g, root / "data" / "crops" / g, root / "models" / "classify" / g / "model.pt",
                     root / "metrics" / "classify" / f"{g}.json", root / "dvclive" / "classify" / g, cfg)


if __name__ == "__main__":
    main()
