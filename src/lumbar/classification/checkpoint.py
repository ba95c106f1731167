"""A trained classifier on disk (model.pt) and the object inference uses to grade crops.

The checkpoint holds everything needed to rebuild and use the network without params.yaml:
architecture, width, input size, the fitted temperature, the prior mix, the group it grades and the
crop spec (side in mm, size in px) of the crops it was trained on, beside the weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..vocabulary import GRADES
from .calibration import softmax
from .model import build_model, prepare

FORMAT = "lumbar-classifier/1"


def save_checkpoint(path: str | Path, model: torch.nn.Module, *, arch: str, width: float, size: int,
                temperature: float, group: str, extra: dict[str, Any] | None = None) -> Path:
    """Write model.pt: CPU state dict plus what rebuilding and calibrating it needs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "arch": arch, "width": float(width), "size": int(size),
                "temperature": float(temperature), "group": group, "grades": list(GRADES),
                "extra": dict(extra or {}), "state_dict": state}, path)
    return path


@dataclass
class Classifier:
    """A calibrated grader: uint8 crops in, probabilities over GRADES out."""

    model: torch.nn.Module
    arch: str
    width: float
    size: int
    temperature: float
    group: str
    device: torch.device
    batch_size: int = 256
    prior: np.ndarray | None = None   # grade prior of the training crops
    prior_mix: float = 1.0            # share of the model in model·mix + prior·(1 − mix), fitted on val
    column_prior: dict | None = None  # per train.csv column grade prior, preferred when columns are given
    crop: dict | None = None          # the crop spec it was trained on (crops.CropSpec fields)

    @torch.no_grad()
    def logits(self, images: np.ndarray) -> np.ndarray:
        """Uncalibrated logits (N, 3) in float64 for uint8 crops (N, 3, size, size)."""
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise ValueError(f"classifier expects uint8 crops, got {images.dtype}")
        if images.ndim != 4 or images.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"classifier expects crops (N, 3, {self.size}, {self.size}), got {images.shape}")
        out = np.zeros((len(images), len(GRADES)), dtype=np.float64)
        for start in range(0, len(images), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(images[start:start + self.batch_size]))
            out[start:start + len(chunk)] = self.model(prepare(chunk.to(self.device))).double().cpu().numpy()
        return out

    def predict_proba(self, images: np.ndarray, columns: list[str] | None = None) -> np.ndarray:
        """Calibrated probabilities (N, 3) float64, each row summing to 1.

        `columns` (the train.csv column of each crop) selects each cell's own prior for the mix.
        """
        p = softmax(self.logits(images), self.temperature)
        if self.prior is not None and self.prior_mix < 1.0:
            prior = self.prior
            if columns is not None and self.column_prior:
                prior = np.stack([np.asarray(self.column_prior.get(c, self.prior)) for c in columns]) \
                    if len(columns) else self.prior
            p = self.prior_mix * p + (1.0 - self.prior_mix) * prior
        return p


def load_classifier(path: str | Path, device: str = "cpu") -> Classifier:
    """Rebuild a Classifier from model.pt (no params file needed); clear errors for a missing/foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier checkpoint {str(path)!r} not found (run the classify stage first)")
    bundle = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValueError(f"{path}: not a lumbar classifier checkpoint (expected format {FORMAT!r})")
    model = build_model(bundle["arch"], bundle["width"], weights=None)
    model.load_state_dict(bundle["state_dict"], strict=True)
    dev = torch.device(device)
    model.to(dev).eval()
    extra = bundle.get("extra", {})
    prior = np.asarray(extra["prior"], dtype=np.float64) if "prior" in extra else None
    return Classifier(model, bundle["arch"], float(bundle["width"]), int(bundle["size"]),
                      float(bundle["temperature"]), str(bundle["group"]), dev,
                      prior=prior, prior_mix=float(extra.get("prior_mix", 1.0)),
                      column_prior=extra.get("column_prior"), crop=extra.get("crop"))
