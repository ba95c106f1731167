"""A trained detector over whole series: every slice, in batches, boxes back in original pixels.

lumbar.locate calls detect_series for every stage that runs a detector (locate, evaluate, predict),
so the detector is used exactly one way everywhere. All slices of a series go through `model.predict` in chunks of `batch`
images (one forward pass per chunk, not one per slice); the model is loaded once per process.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..vocabulary import AXIAL_T2, GROUPS, LEVELS, SERIES_ID
from .env import ultralytics_env
from .images import detector_image

DETECTION_COLUMNS: tuple[str, ...] = ("slice_index", "class_index", "column", "confidence", "x1", "y1", "x2", "y2")


def load_detector(path: str | Path):
    """An ultralytics YOLO model from a trained weights file (never downloads; FileNotFoundError if absent)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"detector weights not found: {path} (run `dvc repro detect` first)")
    YOLO = ultralytics_env()
    return YOLO(str(path), task="detect")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        DETECTION_COLUMNS, ("int64", "int64", "str", "float64", "float64", "float64", "float64", "float64"))})


def detect_series(model, volume: np.ndarray, group_name: str, imgsz: int, conf: float, batch: int,
                  bounds: list[tuple[int, int]] | None = None) -> pd.DataFrame:
    """Every box on every slice of a (n, H, W) uint8 volume: DETECTION_COLUMNS, original pixel coordinates.

    `bounds[i]` is slice i's stack range (detector_image takes its neighbours from it).
    """
    g = GROUPS[group_name]
    names = getattr(model, "names", None) or {}
    if len(names) != len(g.classes):
        raise ValueError(f"detector has {len(names)} classes but group {group_name!r} has {len(g.classes)}: "
                         "wrong weights file for this group?")
    volume = np.asarray(volume)
    batch = max(int(batch), 1)
    rows: list[np.ndarray] = []
    for start in range(0, volume.shape[0], batch):
        images = [detector_image(volume, i, bounds[i] if bounds is not None else None)
                  for i in range(start, min(start + batch, volume.shape[0]))]
        results = model.predict(images, imgsz=int(imgsz), conf=float(conf), verbose=False, batch=len(images))
        for offset, res in enumerate(results):
            b = res.boxes
            if b is None or len(b) == 0:
                continue
            xyxy, cf, cls = (t.cpu().numpy().astype(np.float64) for t in (b.xyxy, b.conf, b.cls))
            rows.append(np.column_stack([np.full(len(cf), start + offset), cls, cf, xyxy]))
    if not rows:
        return _empty()
    a = np.concatenate(rows)
    out = pd.DataFrame({"slice_index": a[:, 0].astype(np.int64), "class_index": a[:, 1].astype(np.int64)})
    out["column"] = [g.classes[i] for i in out["class_index"]]
    out["confidence"] = a[:, 2]
    for j, c in enumerate(("x1", "y1", "x2", "y2")):
        out[c] = a[:, 3 + j]
    return out.sort_values(["slice_index", "class_index", "confidence"], ascending=[True, True, False],
                           kind="mergesort").reset_index(drop=True)


def best_per_class(detections: pd.DataFrame) -> pd.DataFrame:
    """One row per column: its most confident box (ties: lowest series, then slice), in class order."""
    if detections.empty:
        return detections.copy()
    keys = ["confidence"] + [k for k in (SERIES_ID, "slice_index") if k in detections.columns]
    d = detections.sort_values(keys, ascending=[False] + [True] * (len(keys) - 1), kind="mergesort")
    d = d.drop_duplicates("column", keep="first")
    return d.sort_values("class_index", kind="mergesort").reset_index(drop=True)


def correct_sides(detections: pd.DataFrame, group_name: str, slice_x: dict) -> pd.DataFrame:
    """Give each sagittal detection the side its slice lies on, from the DICOM geometry.

    A parasagittal slice looks almost the same on the left and on the right, so a small detector often
    names the wrong side; the slice's position in the patient frame (x > 0 is the patient's left) does
    not. `slice_x` maps (series_id, slice_index) -> patient x (mm) of the slice centre. Axial groups
    are returned unchanged: there the two sides are in the same image and the detector sees them.
    """
    g = GROUPS[group_name]
    if detections.empty or not g.sided or g.view == AXIAL_T2:
        return detections
    d = detections.copy()
    per_side = len(LEVELS)
    x = np.array([slice_x[(int(s), int(i))] for s, i in zip(d[SERIES_ID], d["slice_index"])])
    want_left = x > 0
    is_left = d["class_index"].to_numpy() < per_side
    flip = want_left != is_left
    idx = d["class_index"].to_numpy().copy()
    idx[flip] = (idx[flip] + per_side) % (2 * per_side)
    d["class_index"] = idx
    d["column"] = [g.classes[i] for i in idx]
    return d
