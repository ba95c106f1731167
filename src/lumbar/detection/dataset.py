"""YOLO dataset of one group from the extracted volumes and the label points.

Images are the labelled slices of the group's view (detector_image, written as PNG) plus some
unlabelled slices of the same series as negatives, so the detector learns when not to fire. Each
point becomes a square box of `box_mm` millimetres, converted through the slice's PixelSpacing so a
box covers the same anatomy at every resolution. Train and val come from the split table only;
holdout studies never appear. Output is byte-identical for the same inputs and seed.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
import pandas as pd
import yaml

from ..dicom import stack_bounds
from ..extracted import ExtractedSeries
from ..vocabulary import GROUPS, INSTANCE_NUMBER, SERIES_DESCRIPTION, SERIES_ID, SPLIT, STUDY_ID
from .images import detector_image

YOLO_SPLITS: tuple[str, ...] = ("train", "val")
_KEY = [STUDY_ID, SERIES_ID, "slice_index"]
SKIPPED_COLUMNS = ("csv_row", STUDY_ID, SERIES_ID, INSTANCE_NUMBER, "column", "x", "y", "reason")


def image_stem(study_id: int, series_id: int, slice_index: int) -> str:
    """File name (without suffix) of one slice's image and label."""
    return f"{int(study_id)}_{int(series_id)}_{int(slice_index):03d}"


def _points(group: str, slices: pd.DataFrame, coordinates: pd.DataFrame,
            split: pd.DataFrame) -> tuple[pd.DataFrame, Counter, pd.DataFrame]:
    """Label points of the group on extracted slices of its view, in train/val, with their slice; the
    counts of what was left out, and the points left out for a fault of the data, each with its
    coordinates-CSV row (the index of `coordinates`, as lumbar.kaggle reads it)."""
    g = GROUPS[group]
    skipped: Counter = Counter()
    pts = coordinates.loc[coordinates["column"].isin(g.classes),
                          [STUDY_ID, SERIES_ID, INSTANCE_NUMBER, "column", "x", "y"]]
    pts = pts.assign(csv_row=pts.index.to_numpy()).reset_index(drop=True)
    pts = pts.merge(split[[STUDY_ID, SPLIT]], on=STUDY_ID, how="left")
    skipped["study not in split table"] += int(pts[SPLIT].isna().sum())
    skipped["holdout study"] += int((pts[SPLIT] == "holdout").sum())
    pts = pts[pts[SPLIT].isin(YOLO_SPLITS)]
    view = slices.loc[slices[SERIES_DESCRIPTION] == g.view,
                      [STUDY_ID, SERIES_ID, INSTANCE_NUMBER, "slice_index", "rows", "columns",
                       "spacing_row", "spacing_col"]]
    pts = pts.merge(view, on=[STUDY_ID, SERIES_ID, INSTANCE_NUMBER], how="left")
    missing = pts["slice_index"].isna()
    reason_missing = f"instance not extracted on a {g.view} series"
    skipped[reason_missing] += int(missing.sum())
    faults = [pts[missing].assign(reason=reason_missing)]
    pts = pts[~missing]
    outside = (pts["x"] < 0) | (pts["y"] < 0) | (pts["x"] >= pts["columns"]) | (pts["y"] >= pts["rows"])
    skipped["point outside the image"] += int(outside.sum())
    faults.append(pts[outside].assign(reason="point outside the image"))
    pts = pts[~outside].copy()
    pts["slice_index"] = pts["slice_index"].astype(int)
    pts["class_index"] = pts["column"].map({c: i for i, c in enumerate(g.classes)}).astype(int)
    pts = pts.sort_values([*_KEY, "class_index", "x", "y"]).reset_index(drop=True)
    bad = pd.concat(faults, ignore_index=True)[list(SKIPPED_COLUMNS)].sort_values("csv_row").reset_index(drop=True)
    return pts, Counter({k: v for k, v in skipped.items() if v}), bad


def _negatives(pts: pd.DataFrame, n_slices: dict[tuple[int, int], int], share: float,
               rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Unlabelled slices of labelled series, not adjacent to a labelled one; share per labelled slice."""
    labelled = pts.groupby([STUDY_ID, SERIES_ID])["slice_index"].agg(lambda s: sorted(set(s)))
    pool = []
    for (study, series), used in labelled.items():
        for i in range(n_slices[(study, series)]):
            if min(abs(i - u) for u in used) > 1:
                pool.append((int(study), int(series), i))
    n_pos = int(pts[_KEY].drop_duplicates().shape[0])
    k = min(len(pool), int(round(share * n_pos)))
    if k <= 0:
        return []
    chosen = rng.choice(len(pool), size=k, replace=False)
    return sorted(pool[i] for i in chosen)


def _write_example(img_dir: Path, lab_dir: Path, stem: str, image: np.ndarray, lines: list[str]) -> None:
    """One training example: the detector image as PNG and its YOLO label file (empty: a negative)."""
    if not cv2.imwrite(str(img_dir / f"{stem}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise OSError(f"could not write {img_dir / f'{stem}.png'}")
    (lab_dir / f"{stem}.txt").write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")


def _label_lines(boxes: pd.DataFrame, box_mm: float) -> list[str]:
    """YOLO label lines (class cx cy w h, normalised), boxes clipped to the image."""
    lines = []
    for b in boxes.itertuples(index=False):
        hw, hh = box_mm / float(b.spacing_col) / 2, box_mm / float(b.spacing_row) / 2
        x1, x2 = max(b.x - hw, 0.0), min(b.x + hw, float(b.columns))
        y1, y2 = max(b.y - hh, 0.0), min(b.y + hh, float(b.rows))
        lines.append(f"{b.class_index} {(x1 + x2) / 2 / b.columns:.6f} {(y1 + y2) / 2 / b.rows:.6f} "
                     f"{(x2 - x1) / b.columns:.6f} {(y2 - y1) / b.rows:.6f}")
    return lines


def build_yolo_dataset(group: str, extracted_dir: Path, coordinates: pd.DataFrame, split: pd.DataFrame,
                       out_dir: Path, box_mm: float, negative_share: float, seed: int) -> dict:
    """Write images/{train,val}/*.png, labels/{train,val}/*.txt, dataset.yaml, skipped_points.csv (each
    label point left out for a fault of the data, by its coordinates-CSV row) and summary.json for
    `group` under out_dir; return the summary."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r} (expected one of {tuple(GROUPS)})")
    if box_mm <= 0:
        raise ValueError(f"yolo_data.box_mm.{group} must be > 0, got {box_mm}")
    g = GROUPS[group]
    extracted_dir, out_dir = Path(extracted_dir), Path(out_dir)
    store = ExtractedSeries(extracted_dir)
    n_slices = store.n_slices()
    pts, skipped, bad = _points(group, store.slices, coordinates, split)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    rng = np.random.default_rng(seed)
    summary: dict = {"group": group, "view": g.view, "box_mm": float(box_mm),
                     "negative_share": float(negative_share), "skipped_points": dict(sorted(skipped.items())),
                     "skipped_rows": [f"row {int(r.csv_row)}: {r.reason}" for r in bad.head(20).itertuples()]}
    for part in YOLO_SPLITS:
        part_pts = pts[pts[SPLIT] == part]
        if part_pts.empty:
            raise ValueError(f"yolo_data {group}: no labelled {g.view} slice in split {part!r} "
                             "(check data/split.csv and the label coordinates)")
        negatives = _negatives(part_pts, n_slices, negative_share, rng)
        # each labelled slice's rows as positions into part_pts, not one DataFrame per slice: on the
        # real data set that is tens of thousands of small frames held at once
        images: dict[tuple[int, int, int], np.ndarray | None] = {
            tuple(int(v) for v in k): rows for k, rows in part_pts.groupby(_KEY, sort=True).indices.items()}
        for key in negatives:
            images[key] = None
        img_dir, lab_dir = out_dir / "images" / part, out_dir / "labels" / part
        img_dir.mkdir(parents=True)
        lab_dir.mkdir(parents=True)
        volumes: dict[tuple[int, int], np.ndarray] = {}
        for study, series, idx in sorted(images):
            vol = volumes.get((study, series))
            if vol is None:
                volumes.clear()  # keys are sorted by series: one volume in memory at a time
                vol = volumes[(study, series)] = store.volume(study, series, mmap=False)
            bounds = stack_bounds(store.meta(study, series)["stack"].tolist(), idx)
            rows = images[(study, series, idx)]
            _write_example(img_dir, lab_dir, image_stem(study, series, idx), detector_image(vol, idx, bounds),
                           _label_lines(part_pts.iloc[rows], box_mm) if rows is not None else [])
        summary[part] = {"images": len(images), "negatives": len(negatives), "boxes": int(len(part_pts)),
                         "studies": int(part_pts[STUDY_ID].nunique())}
    # No `path:` key on purpose: ultralytics then resolves train/val against this file's folder, so the
    # dataset works wherever the repository is checked out.
    spec = {"train": "images/train", "val": "images/val", "nc": len(g.classes),
            "names": {i: c for i, c in enumerate(g.classes)}}
    with open(out_dir / "dataset.yaml", "w", encoding="utf-8") as fh:
        fh.write(f"# YOLO dataset for the {group} detector ({g.view}); written by stages/yolo_data.py\n")
        yaml.safe_dump(spec, fh, sort_keys=False)
    bad.to_csv(out_dir / "skipped_points.csv", index=False, float_format="%.4f", lineterminator="\n")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return summary


def add_phantoms(out_dir: Path, group: str, series: Iterable[Any], box_mm: float, negative_share: float,
                 seed: int, part: str = "train") -> dict:
    """Add extra phantom series (lumbar.synthetic.views.PhantomSeries: index, volume, stacks, spacing,
    points) to split `part` of a dataset written by build_yolo_dataset: each labelled slice and
    `negative_share` unlabelled ones per labelled slice, as for the pipeline's own studies. The stage
    adds them to train only, so ultralytics' val figures stay those of the pipeline's studies.
    Records the counts in summary.json under "phantoms" and returns them."""
    g = GROUPS[group]
    out_dir = Path(out_dir)
    img_dir, lab_dir = out_dir / "images" / part, out_dir / "labels" / part
    if not img_dir.is_dir():
        raise FileNotFoundError(f"{img_dir}: write the dataset with build_yolo_dataset first")
    rng = np.random.default_rng([int(seed), 1])
    index = {c: i for i, c in enumerate(g.classes)}
    counts = Counter()
    for s in series:
        n, h, w = s.volume.shape
        pts = pd.DataFrame([{STUDY_ID: int(s.index), SERIES_ID: 0, "slice_index": int(i), "column": c, "x": x,
                             "y": y, "class_index": index[c], "rows": h, "columns": w, "spacing_row": s.spacing,
                             "spacing_col": s.spacing} for i, c, x, y in s.points if c in index])
        if pts.empty:
            continue
        chosen = {int(i): pts[pts["slice_index"] == i] for i in sorted(pts["slice_index"].unique())}
        for _, _, i in _negatives(pts, {(int(s.index), 0): n}, negative_share, rng):
            chosen[i] = None
        for i in sorted(chosen):
            lines = _label_lines(chosen[i], box_mm) if chosen[i] is not None else []
            _write_example(img_dir, lab_dir, f"phantom_{int(s.index):05d}_{i:03d}",
                           detector_image(s.volume, i, stack_bounds(s.stacks, i)), lines)
            counts["images"] += 1
            counts["negatives"] += chosen[i] is None
            counts["boxes"] += len(lines)
        counts["series"] += 1
    summary_path = out_dir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    summary["phantoms"] = {k: int(counts[k]) for k in ("series", "images", "negatives", "boxes")}
    summary_path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return summary["phantoms"]
