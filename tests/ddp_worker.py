"""Run under torchrun by test_distributed: train one tiny grader with the pipeline's own loop (_fit),
twice — data-parallel as the pipeline does it, then with each rank alone on its shard — and save
each rank's final weights, so the test can compare ranks."""
import sys
from dataclasses import replace
from pathlib import Path

import torch

from lumbar.classification import distributed as D
from lumbar.classification import train as T
from lumbar.classification.data import CropDataset, load_crop_set, rows_for
from lumbar.classification.model import build_model


def main(crop_dir: str, out_dir: str) -> None:
    cfg = T.TrainConfig(width=0.125, epochs=1, batch_size=8, lr=3e-3, seed=0, device="cpu")
    ctx = D.setup(cfg.device)
    crops = load_crop_set(crop_dir)
    train_ds, val_ds = (CropDataset(crops, rows_for(crops, s)) for s in ("train", "val"))
    out = Path(out_dir)
    for mode in ("synced", "alone"):
        T.seed_everything(cfg.seed)
        model = build_model(cfg.arch, cfg.width, None, cfg.dropout)
        if mode == "synced":
            T._fit(model, train_ds, val_ds, cfg, ctx, None, "spinal")
        else:  # this rank's DDP shard, trained as a single process: no gradient averaging
            shard = CropDataset(crops, train_ds.indices[list(iter(D.sampler(train_ds, ctx, cfg.seed)))])
            T._fit(model, shard, val_ds, cfg, replace(ctx, world_size=1), None, "spinal")
        torch.save(model.state_dict(), out / f"{mode}_rank{ctx.rank}.pt")
    D.cleanup(ctx)


if __name__ == "__main__":
    main(*sys.argv[1:])
