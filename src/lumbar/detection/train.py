"""Train one group's YOLOv8 detector with ultralytics, log it with dvclive, keep best.pt and figures.

The run lives in a fixed folder (runs/detect/{group}) and reads a private copy of the YOLO dataset,
because ultralytics writes label caches beside the labels and the DVC output data/yolo/{group} must
stay untouched. Curves go to our own dvclive.Live (ultralytics' DVCLive callback is off, see env.py),
fed from the `on_fit_epoch_end` callback; the callback object pickles without its Live, so the same
logging works in the worker processes ultralytics starts for multi-GPU (DDP) training.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..vocabulary import GROUPS
from .augment import trainer_class
from .env import ultralytics_env

# Augmentations that would break what detector_image encodes: HSV jitter mixes the channels (the
# third one is the slice position), and a left-right flip swaps patient sides in axial images while
# the sided class labels stay. Geometry (scale, rotation, translate, mosaic) is fine; grey levels are
# randomised on the image channels only, by lumbar.detection.augment (detector.intensity_aug).
AUGMENT: dict[str, float] = {"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "fliplr": 0.0, "flipud": 0.0, "bgr": 0.0}
_CURVES = {"metrics/mAP50(B)": "mAP50", "metrics/mAP50-95(B)": "mAP50-95", "val/box_loss": "val/box_loss",
           "val/cls_loss": "val/cls_loss", "metrics/precision(B)": "precision", "metrics/recall(B)": "recall"}


def _rank() -> int:
    return int(os.environ.get("RANK", -1))


class EpochLogger:
    """ultralytics callback -> dvclive: one step per epoch, final (best.pt) figures as a summary."""

    def __init__(self, live_dir: Path) -> None:
        self.live_dir = Path(live_dir)
        self.live = None
        self.epochs = 0
        self.epoch_seconds: list[float] = []
        self.final: dict[str, float] = {}
        self._stopped = False

    def __getstate__(self) -> dict:
        return {**self.__dict__, "live": None}

    def _open(self):
        if self.live is None:
            from dvclive import Live

            self.live = Live(dir=str(self.live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
        return self.live

    def __call__(self, trainer) -> None:
        """on_fit_epoch_end; ultralytics calls it once more after the loop for best.pt's validation."""
        if _rank() not in (-1, 0):
            return
        live = self._open()
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items()}
        if self._stopped:  # final_eval of best.pt
            self.final = {"mAP50": metrics.get("metrics/mAP50(B)", math.nan),
                          "mAP50-95": metrics.get("metrics/mAP50-95(B)", math.nan)}
            for k, v in self.final.items():
                live.log_metric(f"final/{k}", v, plot=False)
            return
        losses = trainer.label_loss_items(trainer.tloss, prefix="train")
        for k in ("train/box_loss", "train/cls_loss"):
            if k in losses:
                live.log_metric(k, float(losses[k]))
        for k, name in _CURVES.items():
            if k in metrics:
                live.log_metric(name, metrics[k])
        self.epochs += 1
        self.epoch_seconds.append(float(getattr(trainer, "epoch_time", 0.0) or 0.0))
        live.next_step()
        self._stopped = bool(trainer.stop)

    def finish(self, trainer=None) -> None:
        """on_train_end: flush and close the Live."""
        if self.live is not None and _rank() in (-1, 0):
            self.live.end()


def resolve_model(spec: str, root: Path = Path(".")) -> str:
    """What YOLO() should load: an architecture yaml (from scratch) or an existing local .pt file."""
    spec = str(spec)
    if spec.endswith(".pt"):
        path = Path(spec) if Path(spec).is_absolute() else root / spec
        if not path.is_file():
            raise FileNotFoundError(
                f"detector.model names pretrained weights {spec!r} but {path} does not exist; put the file "
                "there (nothing is downloaded) or set detector.model to an architecture such as yolov8n.yaml "
                "to train from scratch")
        return str(path)
    if spec.endswith((".yaml", ".yml")):
        local = Path(spec) if Path(spec).is_absolute() else root / spec
        return str(local) if local.is_file() else spec  # else one of ultralytics' bundled architectures
    raise ValueError(f"detector.model must be an architecture .yaml or a local .pt file, got {spec!r}")


def epochs_for(group: str, epochs: int | Mapping[str, int]) -> int:
    """detector.epochs is one number or one per group (the groups' data sets differ ~5x in size)."""
    if isinstance(epochs, Mapping):
        if group not in epochs:
            raise KeyError(f"params: detector.epochs has no entry for group {group!r}")
        epochs = epochs[group]
    return int(epochs)


def train_detector(group: str, dataset_dir: Path, cfg: Mapping[str, Any], models_dir: Path, metrics_path: Path,
                   live_dir: Path, runs_dir: Path, root: Path = Path(".")) -> dict:
    """Train on dataset_dir (a yolo_data output), copy best.pt to models_dir, write metrics; return them.

    `runs_dir` holds ultralytics' own run folder (scratch); a relative `detector.model` path is
    resolved against `root`. How well the detector places the boxes the pipeline reads is measured by
    the locate stage, which chooses them the pipeline's way; here only ultralytics' own figures.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    dataset_dir, models_dir, live_dir, project = Path(dataset_dir), Path(models_dir), Path(live_dir), Path(runs_dir)
    weights = resolve_model(cfg["model"], Path(root))  # fail before anything is written
    YOLO = ultralytics_env()

    work = project / "_data" / group
    for d in (work, project / group, live_dir):
        shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(dataset_dir, work)
    logger = EpochLogger(live_dir)
    model = YOLO(weights, task="detect")
    model.add_callback("on_fit_epoch_end", logger)
    model.add_callback("on_train_end", logger.finish)
    device = str(cfg["device"])
    # On a GPU, bf16 autocast: ultralytics' fp16 AMP check would download yolo26n.pt first.
    amp = False if device.lower() in ("cpu", "mps") else "bf16"
    start = time.perf_counter()
    model.train(data=str(work / "dataset.yaml"), project=str(project.resolve()), name=group, exist_ok=True,
                seed=int(cfg["seed"]), deterministic=True, epochs=epochs_for(group, cfg["epochs"]),
                imgsz=int(cfg["imgsz"]), batch=int(cfg["batch"]), device=device, amp=amp,
                workers=int(cfg["workers"]), patience=int(cfg["patience"]), optimizer=str(cfg["optimizer"]),
                lr0=float(cfg["lr0"]), nbs=int(cfg["nbs"]), warmup_epochs=float(cfg["warmup_epochs"]),
                scale=float(cfg["scale"]), degrees=float(cfg["degrees"]), mosaic=float(cfg["mosaic"]),
                close_mosaic=int(cfg["close_mosaic"]), plots=False, verbose=False,
                trainer=trainer_class(float(cfg["intensity_aug"])), **AUGMENT)
    seconds = time.perf_counter() - start
    best = project / group / "weights" / "best.pt"
    if not best.is_file():
        raise RuntimeError(f"training of the {group} detector finished without {best}")
    shutil.rmtree(models_dir, ignore_errors=True)
    models_dir.mkdir(parents=True)
    shutil.copyfile(best, models_dir / "best.pt")

    final = dict(logger.final)
    if not final:  # DDP: the logger ran in the worker processes; read what their Live wrote
        live_json = live_dir / "metrics.json"
        summary = json.loads(live_json.read_text()) if live_json.exists() else {}
        final = {k: float(v) for k, v in summary.get("final", {}).items()}
    results = project / group / "results.csv"
    epochs = len(pd.read_csv(results)) if results.exists() else logger.epochs
    metrics = {k: (round(final[k], 4) if math.isfinite(final.get(k, math.nan)) else None)
               for k in ("mAP50", "mAP50-95")}
    metrics.update({"epochs": epochs, "train_seconds": round(seconds, 1),
                    "seconds_per_epoch": round(seconds / epochs, 2) if epochs else None})
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return metrics
