"""The classifier's training data: crop sets read from disk, the rows it may use, and augmentation.

Only `train` and `val` rows with a grade are ever selected; asking for holdout rows is an error, so
holdout patients cannot reach a training or a temperature fit by accident. A dataset copies just its
own rows out of images.npy, so holdout pixels are not even read.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..vocabulary import CROP_COLUMNS, GRADES, SPLIT, SPLITS

USABLE_SPLITS: tuple[str, ...] = ("train", "val")  # holdout is never read by training or calibration


@dataclass
class CropSet:
    """images.npy (N,3,S,S) uint8 (memory-mapped) and crops.csv (vocabulary.CROP_COLUMNS), row-aligned."""

    images: np.ndarray
    table: pd.DataFrame
    path: Path
    spec: dict | None = None   # the crop stage's crops.CropSpec (summary.json), recorded in the checkpoint

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])


def load_crop_set(crop_dir: str | Path) -> CropSet:
    """Read and check a crop set; errors name the file and what is wrong with it."""
    crop_dir = Path(crop_dir)
    img_path, csv_path = crop_dir / "images.npy", crop_dir / "crops.csv"
    for p in (img_path, csv_path):
        if not p.is_file():
            raise FileNotFoundError(f"crop set: {p} not found (run the crop stage first)")
    images = np.load(img_path, mmap_mode="r")
    table = pd.read_csv(csv_path)
    missing = [c for c in CROP_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{csv_path}: missing column {missing[0]!r}")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise ValueError(f"{img_path}: expected uint8 (N,3,S,S), got {images.dtype} {images.shape}")
    if len(images) != len(table):
        raise ValueError(f"{img_path} has {len(images)} crops but {csv_path} has {len(table)} rows")
    bad = ~table["grade"].isin([-1, *range(len(GRADES))])
    if bad.any():
        raise ValueError(f"{csv_path}: row {int(np.flatnonzero(bad)[0]) + 2}: grade "
                         f"{table['grade'][bad].iloc[0]!r} not in -1/0/1/2")
    bad = ~table[SPLIT].isin(SPLITS)
    if bad.any():
        raise ValueError(f"{csv_path}: row {int(np.flatnonzero(bad)[0]) + 2}: split "
                         f"{table[SPLIT][bad].iloc[0]!r} not in {SPLITS}")
    summary = crop_dir / "summary.json"
    spec = json.loads(summary.read_text(encoding="utf-8")).get("spec") if summary.is_file() else None
    return CropSet(images, table, crop_dir, spec)


def rows_for(crops: CropSet, split: str) -> np.ndarray:
    """Indices of the graded rows of one usable split (train or val); holdout is refused."""
    if split not in USABLE_SPLITS:
        raise ValueError(f"split {split!r} may not be used by training or calibration "
                         f"(only {USABLE_SPLITS}; holdout patients are for evaluation only)")
    t = crops.table
    return np.flatnonzero(((t[SPLIT] == split) & (t["grade"] >= 0)).to_numpy())


class CropDataset(Dataset):
    """(uint8 image tensor (3,S,S), grade) pairs for the chosen rows, copied into memory."""

    def __init__(self, crops: CropSet, indices: np.ndarray) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.images = torch.from_numpy(np.ascontiguousarray(crops.images[self.indices]))
        self.grades = torch.from_numpy(crops.table["grade"].to_numpy(dtype=np.int64)[self.indices])
        if (self.grades < 0).any():
            raise ValueError("CropDataset: blank grades (-1) cannot be trained on")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.grades[i]


@dataclass(frozen=True)
class Augment:
    """Label-preserving perturbations of a crop. No flips: a flip would swap anterior/posterior on
    sagittal crops and left/right on axial ones, which the shared left/right model must not mix up."""

    shift: float = 0.06        # max translation, fraction of the crop side
    rotate_deg: float = 10.0   # max rotation
    scale: float = 0.10        # max relative zoom in or out
    intensity: float = 0.15    # max relative contrast change (brightness: half of it)
    noise: float = 0.03        # sd of additive Gaussian noise, on the [0, 1] scale

    @classmethod
    def from_params(cls, section: Mapping[str, Any] | None) -> "Augment":
        section = dict(section or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - names)
        if unknown:
            raise KeyError(f"params: unknown key classifier.augment.{unknown[0]}")
        return cls(**{k: float(v) for k, v in section.items()})


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Random affine + contrast/brightness + noise for a float batch in [0, 1], vectorised over the batch.

    Random numbers come from `generator` (CPU), so a seeded run repeats itself.
    """
    b = x.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1).to(x.device, x.dtype)

    angle = uniform(b) * math.radians(aug.rotate_deg)
    zoom = 1 + uniform(b) * aug.scale
    tx, ty = uniform(b) * aug.shift * 2, uniform(b) * aug.shift * 2  # grid spans [-1, 1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = (1 + uniform(b) * aug.intensity).view(b, 1, 1, 1)
    brightness = (uniform(b) * aug.intensity / 2).view(b, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean + brightness
    if aug.noise > 0:
        x = x + torch.randn(x.shape, generator=generator).to(x.device, x.dtype) * aug.noise
    return x.clamp_(0, 1)
