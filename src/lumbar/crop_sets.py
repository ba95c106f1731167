"""The classifier's inputs: one 2.5D crop per graded cell, with a table saying where each came from.

Training studies are cropped around their label points (plus a little jitter), because that is the
cleanest signal to learn from. Validation and holdout studies are cropped where the trained detector
puts them, because that is what the classifier will see in use: its validation score then already
includes the detector's mistakes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .crops import crop_25d
from .extracted import ExtractedSeries
from .vocabulary import (CROP_COLUMNS, GRADE_INDEX, GROUPS, INSTANCE_NUMBER, LEVEL_GROUP, ROW_ID,
                         SERIES_ID, SPLIT, STUDY_ID, row_id)


@dataclass(frozen=True)
class CropSpec:
    """How big a crop is: side in mm around the point, size in pixels after resizing."""

    side_mm: float
    size: int
    jitter_mm: float = 0.0
    seed: int = 0


def _grade(labels: pd.DataFrame, study_id: int, column: str) -> int:
    value = labels.at[study_id, column] if study_id in labels.index else np.nan
    return GRADE_INDEX[value] if isinstance(value, str) else -1


def label_crops(group: str, store: ExtractedSeries, coordinates: pd.DataFrame, labels: pd.DataFrame,
                studies: list[int], split_name: str, spec: CropSpec,
                rng: np.random.Generator) -> tuple[list[dict], list[np.ndarray], list[dict]]:
    """Crops around label points (jittered by `spec.jitter_mm`), one per labelled cell."""
    cols = set(GROUPS[group].classes)
    pts = coordinates[coordinates["column"].isin(cols) & coordinates[STUDY_ID].isin(studies)]
    pts = pts.sort_values([STUDY_ID, "column", SERIES_ID, INSTANCE_NUMBER]).drop_duplicates(
        [STUDY_ID, "column"])
    rows, images, missing = [], [], []
    for p in pts.itertuples(index=False):
        study, series, column = int(p.study_id), int(p.series_id), str(p.column)
        shift = rng.normal(0.0, spec.jitter_mm, size=2) if spec.jitter_mm > 0 else np.zeros(2)
        try:
            idx = store.slice_index(study, series, int(p.instance_number))
        except KeyError:
            idx = None
        if idx is None:
            missing.append({STUDY_ID: study, ROW_ID: row_id(study, column), "reason": "label slice not extracted"})
            continue
        spacing = store.spacing(study, series)
        cx, cy = float(p.x) + shift[0] / spacing[1], float(p.y) + shift[1] / spacing[0]
        images.append(crop_25d(store.volume(study, series), idx, cx, cy, spec.side_mm, spacing, spec.size))
        half = spec.side_mm / 2
        rows.append({STUDY_ID: study, SERIES_ID: series, ROW_ID: row_id(study, column), "column": column,
                     SPLIT: split_name, "slice_index": idx,
                     "x1": cx - half / spacing[1], "y1": cy - half / spacing[0],
                     "x2": cx + half / spacing[1], "y2": cy + half / spacing[0],
                     "confidence": 1.0, "source": "label", "grade": _grade(labels, study, column)})
    return rows, images, missing


def _detect_study(group: str, store: ExtractedSeries, detector, study: int, imgsz: int, conf: float, batch: int,
                  points: dict | None = None, level_mm: float = 0.0) -> tuple[pd.DataFrame, bool]:
    """(chosen box per column, whether the view has any series) for one study, as inference chooses them."""
    from .detection import choose_boxes, detect_series

    ids = store.series_of(study, GROUPS[group].view)
    found = [detect_series(detector, np.asarray(store.volume(study, s)), group, imgsz, conf, batch)
             .assign(**{SERIES_ID: s}) for s in ids]
    dets = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    if dets.empty:
        return dets, bool(ids)
    return choose_boxes(group, dets, store.frames(study, ids), points, level_mm), bool(ids)


def detector_crops(group: str, store: ExtractedSeries, detector, labels: pd.DataFrame, studies: list[int],
                   split_of: dict[int, str], spec: CropSpec, imgsz: int, conf: float, batch: int,
                   level_detector=None,
                   level_mm: float = 0.0) -> tuple[list[dict], list[np.ndarray], list[dict]]:
    """Crops where the detector puts each class (best box over every series of the view).

    `level_detector` (the spinal detector) places the other groups' levels, as in inference.
    """
    from .detection import level_points

    g = GROUPS[group]
    rows, images, missing = [], [], []
    for study in tqdm(studies, desc=f"detect {group}", unit="study"):
        points = None
        if level_detector is not None and group != LEVEL_GROUP:
            spinal, _ = _detect_study(LEVEL_GROUP, store, level_detector, study, imgsz, conf, batch)
            ids = store.series_of(study, GROUPS[LEVEL_GROUP].view)
            points = level_points(spinal, store.frames(study, ids)) if len(spinal) else None
        best, found = _detect_study(group, store, detector, study, imgsz, conf, batch, points, level_mm)
        chosen = {str(r["column"]): r for _, r in best.iterrows()} if len(best) else {}
        for column in g.classes:
            rid = row_id(study, column)
            if column not in chosen:
                missing.append({STUDY_ID: study, ROW_ID: rid,
                                "reason": "no series of this view" if not found else "no detection"})
                continue
            r = chosen[column]
            series = int(r[SERIES_ID])
            cx, cy = (r["x1"] + r["x2"]) / 2, (r["y1"] + r["y2"]) / 2
            images.append(crop_25d(store.volume(study, series), int(r["slice_index"]), cx, cy,
                                   spec.side_mm, store.spacing(study, series), spec.size))
            rows.append({STUDY_ID: study, SERIES_ID: series, ROW_ID: rid, "column": column,
                         SPLIT: split_of[study], "slice_index": int(r["slice_index"]),
                         "x1": float(r["x1"]), "y1": float(r["y1"]), "x2": float(r["x2"]),
                         "y2": float(r["y2"]), "confidence": float(r["confidence"]), "source": "detector",
                         "grade": _grade(labels, study, column)})
    return rows, images, missing


def build_crop_set(group: str, extracted_dir: Path, coordinates: pd.DataFrame, labels: pd.DataFrame,
                   split: pd.DataFrame, detector, spec: CropSpec, out_dir: Path, imgsz: int, conf: float,
                   batch: int, level_detector=None, level_mm: float = 0.0) -> dict:
    """Write images.npy, crops.csv, missing.csv and summary.json for one group under out_dir."""
    store = ExtractedSeries(extracted_dir)
    labels = labels.set_index(STUDY_ID) if STUDY_ID in labels.columns else labels
    split_of = {int(s): str(p) for s, p in zip(split[STUDY_ID], split[SPLIT])}
    train = sorted(s for s, p in split_of.items() if p == "train")
    other = sorted(s for s, p in split_of.items() if p != "train")
    rng = np.random.default_rng(spec.seed)
    rows, images, missing = label_crops(group, store, coordinates, labels, train, "train", spec, rng)
    r2, i2, m2 = detector_crops(group, store, detector, labels, other, split_of, spec, imgsz, conf, batch,
                                level_detector, level_mm)
    rows, images, missing = rows + r2, images + i2, missing + m2
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=list(CROP_COLUMNS))
    stack = np.stack(images) if images else np.zeros((0, 3, spec.size, spec.size), np.uint8)
    np.save(out_dir / "images.npy", stack)
    table.to_csv(out_dir / "crops.csv", index=False, float_format="%.3f")
    pd.DataFrame(missing, columns=[STUDY_ID, ROW_ID, "reason"]).to_csv(out_dir / "missing.csv", index=False)
    summary = {"group": group, "crops": int(len(table)),
               "by_split": {k: int(v) for k, v in table[SPLIT].value_counts().sort_index().items()},
               "missing": int(len(missing))}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
