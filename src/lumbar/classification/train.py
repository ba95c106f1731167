"""Training one group's grader: weighted cross-entropy, keep-best on validation, temperature fit.

The loss weights each crop by its true grade (1/2/4), exactly like the competition score, so the
network is pushed towards the probabilities the score rewards. Validation is scored with the same
weighted log loss after every epoch; the epoch with the lowest one is kept, and a temperature is
fitted on its validation logits. Holdout rows are never read (see data.rows_for).
"""
from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ..vocabulary import GRADE_WEIGHTS
from . import distributed as D
from ..metric import weighted_log_loss
from .calibration import fit_prior_mix, fit_temperature, grade_prior, softmax
from .checkpoint import save_checkpoint
from .data import Augment, CropDataset, augment_batch, load_crop_set, rows_for
from .model import build_model, normalize, prepare


@dataclass(frozen=True)
class TrainConfig:
    """The `classifier:` section of params.yaml."""

    arch: str = "vgg19_bn"
    width: float = 0.25
    weights: str | None = None     # local torchvision state dict (width 1.0 only), or None
    lr: float = 1e-3
    epochs: int = 12
    batch_size: int = 32
    weight_decay: float = 1e-4
    dropout: float = 0.3
    mixup: float = 0.0             # Beta(a, a) of mixup between crops of a batch; 0 = off
    grad_clip: float = 0.0         # largest norm of the gradient of one step; 0 = off
    average_last: float = 0.0      # share of the last epochs whose weights are averaged and kept; 0 = best epoch
    patience: int = 0              # stop after this many epochs without a better val loss; 0 = never
    max_model_share: float = 0.95  # cap of the model's weight against the prior (no grade is ever certain)
    seed: int = 42
    num_workers: int = 0
    device: str = "cpu"
    augment: Augment = field(default_factory=Augment)

    @classmethod
    def from_params(cls, section: Mapping[str, Any], root: Path | None = None,
                    group: str | None = None) -> "TrainConfig":
        """From params (unknown keys are errors); a relative weights path is resolved against `root`.

        A scalar may be given per group, `epochs: {foraminal: 20, spinal: 14, subarticular: 8}`: the
        groups differ in how fast they learn, never in code. Such a key needs `group`, and every group.
        """
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(section) - set(names))
        if unknown:
            raise KeyError(f"params: unknown key classifier.{unknown[0]}")
        kw: dict[str, Any] = {}
        for key, value in section.items():
            if isinstance(value, Mapping) and key != "augment":
                if group not in value:
                    raise KeyError(f"params: classifier.{key} is given per group, without {group!r}")
                value = value[group]
            if key == "augment":
                kw[key] = Augment.from_params(value)
            elif key == "weights":
                kw[key] = None if value in (None, "", "null") else str(
                    Path(value) if Path(value).is_absolute() or root is None else Path(root) / value)
            elif key in ("arch", "device"):
                kw[key] = str(value)
            else:
                kw[key] = type(getattr(cls(), key))(value)
        return cls(**kw)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, dataset: CropDataset, device: torch.device,
                   batch_size: int = 256) -> np.ndarray:
    """Eval-mode logits (N, 3) float64 over a dataset, in its order."""
    model.eval()
    out = [model(prepare(dataset.images[i:i + batch_size].to(device))).double().cpu()
           for i in range(0, len(dataset), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, len(GRADE_WEIGHTS)))


def _accuracy(logits: np.ndarray, grades: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == grades).mean()) if len(grades) else float("nan")


def _json_value(v: Any) -> Any:
    if isinstance(v, float):
        return None if not math.isfinite(v) else round(v, 6)
    return v


def train_classifier(group: str, crop_dir: str | Path, model_path: str | Path, metrics_path: str | Path,
                     live_dir: str | Path, cfg: TrainConfig) -> dict[str, Any]:
    """Train, keep the best epoch, calibrate, and write model.pt, the metrics file and the dvclive dir.

    Runs data-parallel when launched under torchrun (see distributed.py); only rank 0 writes.
    Returns the metrics (on every rank).
    """
    ctx = D.setup(cfg.device)
    try:
        return _train(group, Path(crop_dir), Path(model_path), Path(metrics_path), Path(live_dir), cfg, ctx)
    finally:
        D.cleanup(ctx)


@dataclass
class _Best:
    """The epoch kept: lowest validation loss so far (the last epoch when there is no validation)."""

    loss: float = math.inf
    epoch: int = -1
    accuracy: float = math.nan
    logits: np.ndarray | None = None
    state: dict | None = None


def _epoch(net, loader, opt, sched, cfg: TrainConfig, ctx: D.Context, gen: torch.Generator) -> float:
    """One pass over the training crops; returns the weighted training loss over every rank."""
    class_w = torch.tensor(GRADE_WEIGHTS, dtype=torch.float32, device=ctx.device)
    net.train()
    sums = torch.zeros(2, dtype=torch.float64)  # sum of weight * nll, sum of weight
    for images, grades in loader:
        images, grades = images.to(ctx.device), grades.to(ctx.device)
        x = normalize(augment_batch(images.float().div_(255.0), cfg.augment, gen))
        if cfg.mixup > 0:
            x, partner, lam = mix_batch(x, cfg.mixup, gen)
            out = net(x)
            loss = lam * F.cross_entropy(out, grades, weight=class_w) \
                + (1 - lam) * F.cross_entropy(out, grades[partner], weight=class_w)
        else:
            loss = F.cross_entropy(net(x), grades, weight=class_w)  # = sum(w * nll) / sum(w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:  # one outlying batch must not throw a from-scratch model off its track
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        w = class_w[grades].sum().item()
        sums += torch.tensor([loss.item() * w, w], dtype=torch.float64)
    if ctx.distributed:
        dist.all_reduce(sums)
    D.sync_buffers(net, ctx)
    return float(sums[0] / sums[1])


def mix_batch(x: torch.Tensor, alpha: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mixup: each crop blended with a random partner of the batch by one lam ~ Beta(alpha, alpha).

    The loss is then lam * CE(own grade) + (1 - lam) * CE(partner's): a regulariser for graders that
    overfit a few hundred crops within a few epochs. Draws come from `gen`, so runs repeat.
    """
    lam = float(np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen))).beta(alpha, alpha))
    partner = torch.randperm(x.shape[0], generator=gen).to(x.device)
    return lam * x + (1 - lam) * x[partner], partner, lam


def _fit(model, train_ds: CropDataset, val_ds: CropDataset, cfg: TrainConfig, ctx: D.Context, live,
         group: str) -> tuple[_Best, int, float]:
    """Train for cfg.epochs (or until `patience` epochs pass without a better val loss); keep the best
    epoch, or with `average_last` the mean of the last epochs' weights."""
    net = D.wrap(model, ctx)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = D.sampler(train_ds, ctx, cfg.seed)
    loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, cfg.epochs * len(loader)),
                                                pct_start=0.15)
    gen = torch.Generator().manual_seed(cfg.seed + 1 + ctx.rank)  # augmentation draws, per rank
    val_grades = val_ds.grades.numpy()
    best, since_best, epochs_run, train_loss, t0 = _Best(), 0, 0, math.nan, time.perf_counter()
    swa = torch.optim.swa_utils.AveragedModel(D.unwrap(net)) if cfg.average_last > 0 else None
    average_from = cfg.epochs - max(1, round(cfg.average_last * cfg.epochs))
    for epoch in range(cfg.epochs):
        D.set_epoch(sampler, epoch)
        train_loss = _epoch(net, loader, opt, sched, cfg, ctx, gen)
        epochs_run = epoch + 1
        if swa is not None and epoch >= average_from:
            swa.update_parameters(D.unwrap(net))
        logits = predict_logits(D.unwrap(net), val_ds, ctx.device)
        val_loss = weighted_log_loss(softmax(logits), val_grades) if len(val_ds) else math.nan
        val_acc = _accuracy(logits, val_grades)
        if not len(val_ds) or val_loss < best.loss:
            best = _Best(val_loss if len(val_ds) else math.inf, epoch, val_acc, logits,
                         copy.deepcopy(D.unwrap(net).state_dict()))
            since_best = 0
        else:
            since_best += 1
        if live is not None:
            live.log_metric("train_loss", train_loss)
            if len(val_ds):
                live.log_metric("val_weighted_log_loss", val_loss)
                live.log_metric("val_accuracy", val_acc)
            live.next_step()
            print(f"classify {group} epoch {epoch + 1}/{cfg.epochs}: train {train_loss:.4f} "
                  f"val {val_loss:.4f} acc {val_acc:.3f} ({time.perf_counter() - t0:.1f} s)", flush=True)
        if cfg.patience > 0 and since_best >= cfg.patience:
            break
    if swa is not None and swa.n_averaged.item() > 0:
        best = _averaged(swa, train_ds, val_ds, ctx, epochs_run)
    return best, epochs_run, train_loss


def _averaged(swa, train_ds: CropDataset, val_ds: CropDataset, ctx: D.Context, epochs_run: int) -> _Best:
    """The averaged weights, with batch-norm statistics recomputed on the (unaugmented) training crops.

    Why: on 15 validation patients the best single epoch is a noisy pick among noisy epochs (best
    epochs 1-5 of 14 on one CPU, a collapse on another); the mean of the last epochs' weights is
    one smooth model that needs no pick, and validation is left to the calibration.
    """
    net = swa.module
    batches = [prepare(train_ds.images[i:i + 256].to(ctx.device)) for i in range(0, len(train_ds), 256)]
    torch.optim.swa_utils.update_bn(batches, net)
    logits = predict_logits(net, val_ds, ctx.device)
    grades = val_ds.grades.numpy()
    loss = weighted_log_loss(softmax(logits), grades) if len(val_ds) else math.inf
    return _Best(loss, epochs_run - 1, _accuracy(logits, grades), logits, copy.deepcopy(net.state_dict()))


def _calibrate(best: _Best, crops, train_ds: CropDataset, val_ds: CropDataset, cap: float) -> dict[str, Any]:
    """Temperature on the best epoch's val logits, then the share of the model against each cell's prior.

    The prior mixed in is each cell's own (a level's grade shares differ a lot: L1/L2 is rarely
    narrowed, L4/L5 often), fitted on the training crops; the group's prior covers unseen cells.
    """
    val_grades = val_ds.grades.numpy()
    train_grades = train_ds.grades.numpy()
    columns = crops.table["column"].astype(str).to_numpy()
    train_cols = columns[train_ds.indices]
    prior = grade_prior(train_grades)
    column_prior = {c: grade_prior(train_grades[train_cols == c]) for c in sorted(set(train_cols))}
    out = {"prior": prior, "column_prior": column_prior, "temperature": 1.0, "mix": cap,
           "calibrated_loss": math.nan, "final_loss": math.nan}
    if not len(val_ds):
        return out
    val_prior = np.stack([column_prior.get(c, prior) for c in columns[val_ds.indices]])
    out["temperature"] = t = fit_temperature(best.logits, val_grades)
    calibrated = softmax(best.logits, t)
    out["mix"] = mix = fit_prior_mix(calibrated, val_grades, val_prior, cap)
    out["calibrated_loss"] = weighted_log_loss(calibrated, val_grades)
    out["final_loss"] = weighted_log_loss(mix * calibrated + (1 - mix) * val_prior, val_grades)
    return out


def _train(group: str, crop_dir: Path, model_path: Path, metrics_path: Path, live_dir: Path,
           cfg: TrainConfig, ctx: D.Context) -> dict[str, Any]:
    seed_everything(cfg.seed)
    crops = load_crop_set(crop_dir)
    train_ds = CropDataset(crops, rows_for(crops, "train"))
    val_ds = CropDataset(crops, rows_for(crops, "val"))
    if len(train_ds) == 0:
        raise ValueError(f"{crop_dir}: no graded train crops to learn from")
    model = build_model(cfg.arch, cfg.width, cfg.weights, cfg.dropout)
    live = None
    if ctx.is_main:
        print(f"classify {group}: {len(train_ds)} train / {len(val_ds)} val crops of {crops.size} px, "
              f"{ctx.world_size} process(es) on {ctx.device}", flush=True)
        from dvclive import Live
        live = Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
    t0 = time.perf_counter()
    best, epochs_run, train_loss = _fit(model, train_ds, val_ds, cfg, ctx, live, group)
    head = _calibrate(best, crops, train_ds, val_ds, cfg.max_model_share)
    has_val = bool(len(val_ds))
    metrics = {k: _json_value(v) for k, v in {
        "n_train": len(train_ds), "n_val": len(val_ds), "epochs_run": epochs_run,
        "best_epoch": best.epoch + 1, "final_train_loss": round(train_loss, 5),
        "val_weighted_log_loss": best.loss if has_val else math.nan,
        "val_weighted_log_loss_calibrated": head["calibrated_loss"],
        "val_accuracy": best.accuracy, "temperature": head["temperature"], "prior_mix": head["mix"],
        "val_weighted_log_loss_final": head["final_loss"],
    }.items()}
    if ctx.is_main:
        model.load_state_dict(best.state)
        save_checkpoint(model_path, model, arch=cfg.arch, width=cfg.width, size=crops.size,
                        temperature=head["temperature"], group=group,
                        extra={"best_epoch": metrics["best_epoch"], "n_train": len(train_ds),
                               "prior": [float(v) for v in head["prior"]], "prior_mix": float(head["mix"]),
                               "column_prior": {c: [float(v) for v in p] for c, p in head["column_prior"].items()},
                               "crop": crops.spec})
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for key in ("val_weighted_log_loss_calibrated", "temperature", "best_epoch"):
            if metrics[key] is not None:
                live.summary[key] = metrics[key]
        live.end()
        print(f"classify {group}: {json.dumps(metrics, sort_keys=True)} "
              f"({(time.perf_counter() - t0) / max(1, epochs_run):.1f} s/epoch)", flush=True)
    D.barrier(ctx)
    return metrics
