"""Intensity randomisation for detector training: the phantoms' grey levels are not a real scanner's.

MR intensities have no absolute scale, and phantom tissue contrast can only approximate real contrast
(CSF against fat, marrow against disc, coil shading). A detector trained on one contrast learns it; so
each training image gets random grey levels (a gamma, or a random non-monotone curve that keeps edges
but not the order of tissue brightness), a smooth multiplicative bias field (coil shading), contrast and
offset, and random blur, sharpening and noise. What it must learn is then the shape of the spine.

Only the image channels change (0: the slice, 1: its neighbours, with the same remapping so they stay
comparable); channel 2 encodes the slice position (lumbar.detection.images) and is left alone, which is
why ultralytics' HSV jitter stays off. The transform runs inside ultralytics' augmentation pipeline,
after letterbox and mosaic, on the BGR array as loaded (index 0 is the slice: cv2 wrote it as blue).
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

CHANNELS = (0, 1)   # slice and neighbours; 2 is the position plane
LUT_SHARE = 0.5     # share of jittered images whose grey levels go through a random, non-monotone curve


class IntensityJitter:
    """`jitter` on CHANNELS with probability p (0 <= p <= 1).

    Draws from numpy's global generator, which ultralytics seeds per run and per worker, so a seeded
    training run stays reproducible.
    """

    def __init__(self, p: float = 0.8) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"detector.intensity_aug must be a probability in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, labels: dict[str, Any]) -> dict[str, Any]:
        img = labels.get("img")
        if img is None or self.p == 0.0 or np.random.random() >= self.p:
            return labels
        labels["img"] = jitter(img, np.random)
        return labels


def _bias_field(shape: tuple[int, int], rng) -> np.ndarray:
    """exp of a smooth random surface (a 3x3 grid, bicubic) plus a linear ramp: shading like a surface coil."""
    h, w = shape
    grid = rng.normal(0.0, 0.25, (3, 3)).astype(np.float32)
    field = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    ramp = np.float32(rng.uniform(-0.6, 0.6)) * (np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :])
    return np.exp(field + ramp)


def _random_curve(chans: np.ndarray, rng) -> np.ndarray:
    """Grey levels through a random smooth curve (6 knots, values uniform in 0..1): tissues keep their
    edges but not their order of brightness, as in SynthSeg-style training, so no contrast is learnt."""
    knots = np.linspace(0.0, 1.0, 6)
    values = rng.uniform(0.0, 1.0, 6)
    values[0] = rng.uniform(0.0, 0.15)   # background stays dark: air is black on every sequence
    grid = np.linspace(0.0, 1.0, 256)
    curve = np.interp(grid, knots, values)
    curve = np.convolve(np.pad(curve, 16, mode="edge"), np.ones(33) / 33, mode="valid")
    idx = np.clip(np.rint(chans * 255.0), 0, 255).astype(np.intp)
    return curve.astype(np.float32)[idx]


def jitter(img: np.ndarray, rng) -> np.ndarray:
    """The randomised copy of one (H, W, 3) uint8 detector image (see the module doc)."""
    out = img.copy()
    chans = img[..., list(CHANNELS)].astype(np.float32) / 255.0
    if rng.random() < LUT_SHARE:
        chans = _random_curve(chans, rng)
    else:
        chans = chans ** float(np.exp(rng.uniform(-0.7, 0.7)))   # gamma 0.5..2
    if rng.random() < 0.7:
        chans = chans * _bias_field(chans.shape[:2], rng)[..., None]
    chans = chans * rng.uniform(0.7, 1.4) + rng.uniform(-0.12, 0.12)
    u = rng.random()
    if u < 0.25:
        sigma = float(rng.uniform(0.4, 1.4))
        chans = cv2.GaussianBlur(chans, (0, 0), sigma)
    elif u < 0.45:
        blurred = cv2.GaussianBlur(chans, (0, 0), 1.0)
        chans = chans + float(rng.uniform(0.3, 1.0)) * (chans - blurred)
    if rng.random() < 0.4:
        chans = chans + rng.normal(0.0, rng.uniform(0.01, 0.05), (*chans.shape[:2], 1)).astype(np.float32)
    out[..., list(CHANNELS)] = np.clip(np.rint(chans * 255.0), 0, 255).astype(np.uint8)
    return out


def trainer_class(p: float):
    """ultralytics' DetectionTrainer with IntensityJitter(p) inserted before the final formatting step.

    A class made per call (cloudpickle carries it by value to DDP workers, with p); p == 0 returns the
    stock trainer, so training without the jitter is exactly ultralytics' own.
    """
    from ultralytics.models.yolo.detect import DetectionTrainer

    IntensityJitter(p)  # a wrong detector.intensity_aug stops here, before any training starts
    if float(p) == 0.0:
        return DetectionTrainer

    def build_dataset(self, img_path: str, mode: str = "train", batch: int | None = None):
        dataset = DetectionTrainer.build_dataset(self, img_path, mode, batch)
        if mode == "train":
            _insert(dataset, p)
        return dataset

    def close_mosaic(self):  # the dataset rebuilds its transforms without mosaic: put the jitter back
        DetectionTrainer._close_dataloader_mosaic(self)
        _insert(self.train_loader.dataset, p)

    return type("IntensityJitterTrainer", (DetectionTrainer,), {"build_dataset": build_dataset,
                                                                 "_close_dataloader_mosaic": close_mosaic,
                                                                 "intensity_aug": float(p)})


def _insert(dataset, p: float) -> None:
    """IntensityJitter(p) just before the last transform (ultralytics' Format), once."""
    steps = dataset.transforms.transforms
    if not any(isinstance(t, IntensityJitter) for t in steps):
        steps.insert(len(steps) - 1, IntensityJitter(p))
