"""The classifier's inputs: one 2.5D crop per graded cell, with a table saying where each came from.

Training studies are cropped around their label points (plus a little jitter), because that is the
cleanest signal to learn from. Validation studies are cropped where the locate stage put their boxes
(the pipeline's own choice, lumbar.locate), because that is what the classifier will see in use: its
validation score, and the calibration fitted on it, then already include the detectors' mistakes.

Crops go to images.npy one at a time as they are cut (CropWriter), never held together: the crop set
of the real training data is hundreds of MiB, and the stage's memory must not grow with the studies.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from .crops import CropSpec, box_around, crop_box
from .extracted import ExtractedSeries
from .study import from_extracted
from .vocabulary import CROP_COLUMNS, GROUPS, INSTANCE_NUMBER, ROW_ID, SERIES_ID, SPLIT, STUDY_ID, grade_label, row_id


def _grade(labels: pd.DataFrame, study_id: int, column: str) -> int:
    value = labels.at[study_id, column] if study_id in labels.index else np.nan
    return grade_label(value) if isinstance(value, str) else -1


def _row(study: int, series: int, column: str, split: str, slice_index: int, box, confidence: float,
         source: str, grade: int) -> dict:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {STUDY_ID: study, SERIES_ID: series, ROW_ID: row_id(study, column), "column": column, SPLIT: split,
            "slice_index": int(slice_index), "x1": x1, "y1": y1, "x2": x2, "y2": y2,
            "confidence": float(confidence), "source": source, "grade": grade}


class CropWriter:
    """images.npy written one crop at a time: (n, *shape) uint8, the bytes of np.save(np.stack(crops)).

    numpy leaves room in a .npy header for the first axis to grow (format.GROWTH_AXIS_MAX_DIGITS), so
    the header is written for n = 0 and rewritten in place, at the same length, once n is known.
    """

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.shape, self.n = tuple(int(v) for v in shape), 0
        self._fh: BinaryIO = open(path, "wb")
        self._data_start = self._header()

    def _header(self) -> int:
        self._fh.seek(0)
        np.lib.format.write_array_header_1_0(self._fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                                                        "fortran_order": False, "shape": (self.n, *self.shape)})
        return self._fh.tell()

    def add(self, crop: np.ndarray) -> None:
        if crop.shape != self.shape or crop.dtype != np.uint8:
            raise ValueError(f"crop {crop.shape} {crop.dtype}, expected {self.shape} uint8")
        self._fh.write(np.ascontiguousarray(crop).tobytes())
        self.n += 1

    def close(self) -> None:
        if self._header() != self._data_start:   # cannot happen with numpy's spare header room
            raise RuntimeError("images.npy header changed length")
        self._fh.close()

    def __enter__(self) -> "CropWriter":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._fh.close()


def label_crops(group: str, store: ExtractedSeries, coordinates: pd.DataFrame, labels: pd.DataFrame,
                studies: list[int], spec: CropSpec, jitter_mm: float, rng: np.random.Generator,
                out: CropWriter, slice_jitter: float = 0.0) -> tuple[list[dict], list[dict]]:
    """Crops around label points (shifted by N(0, jitter_mm) in each direction), one per labelled cell,
    added to `out` in the order of the returned rows; one study's volumes are open at a time.

    With `slice_jitter` p, a crop is centred one slice off the label's (either way, inside its stack)
    with probability p: the locate stage picks a neighbouring slice for 15-20% of cells, so training
    sees that too. At 0 nothing is drawn, and the crops are those of a build without it.
    """
    cols = set(GROUPS[group].classes)
    pts = coordinates[coordinates["column"].isin(cols) & coordinates[STUDY_ID].isin(studies)]
    pts = pts.sort_values([STUDY_ID, "column", SERIES_ID, INSTANCE_NUMBER]).drop_duplicates(
        [STUDY_ID, "column"])
    rows, missing = [], []
    study = None
    for p in pts.itertuples(index=True):   # the index is the coordinates CSV's line (lumbar.kaggle)
        sid, series, column = int(p.study_id), int(p.series_id), str(p.column)
        shift = rng.normal(0.0, jitter_mm, size=2) if jitter_mm > 0 else np.zeros(2)
        if study is None or study.study_id != sid:
            study = from_extracted(store, sid)
        sv = study.series.get(series)
        idx = sv.slice_of(int(p.instance_number)) if sv is not None else None
        reason = "label slice not extracted" if idx is None else (
            "point outside the image" if not (0 <= p.x < sv.volume.shape[2] and 0 <= p.y < sv.volume.shape[1])
            else None)
        if reason is not None:
            missing.append({STUDY_ID: sid, ROW_ID: row_id(sid, column), "reason": reason, "csv_row": int(p.Index)})
            continue
        if slice_jitter > 0 and rng.random() < slice_jitter:
            lo, hi = sv.bounds(idx)
            step = int(rng.choice([-1, 1]))
            idx = idx + step if lo <= idx + step < hi else idx - step if lo <= idx - step < hi else idx
        cx, cy = float(p.x) + shift[0] / sv.spacing[1], float(p.y) + shift[1] / sv.spacing[0]
        box = box_around(cx, cy, spec.side_mm, sv.spacing)
        out.add(crop_box(sv.volume, idx, box, sv.spacing, spec, sv.bounds(idx), column))
        rows.append(_row(sid, series, column, "train", idx, box, 1.0, "label", _grade(labels, sid, column)))
    return rows, missing


def located_crops(group: str, store: ExtractedSeries, located: pd.DataFrame, labels: pd.DataFrame,
                  studies: list[int], split_of: dict[int, str],
                  spec: CropSpec, out: CropWriter) -> tuple[list[dict], list[dict]]:
    """Crops of the boxes the locate stage chose (lumbar.locate), one per located cell, added to `out`."""
    g = GROUPS[group]
    rows, missing = [], []
    by_study = {int(s): b for s, b in located.groupby(STUDY_ID)}
    for sid in studies:
        study = from_extracted(store, sid)
        boxes = by_study.get(sid, located.iloc[:0])
        chosen = {str(r.column): r for r in boxes.itertuples(index=False)}
        for column in g.classes:
            r = chosen.get(column)
            if r is None:
                reason = "no detection" if study.of_view(g.view) else "no series of this view"
                missing.append({STUDY_ID: sid, ROW_ID: row_id(sid, column), "reason": reason})
                continue
            sv = study.series[int(r.series_id)]
            box = (r.x1, r.y1, r.x2, r.y2)
            out.add(crop_box(sv.volume, int(r.slice_index), box, sv.spacing, spec, sv.bounds(int(r.slice_index)),
                             column))
            rows.append(_row(sid, int(r.series_id), column, split_of[sid], int(r.slice_index), box, r.confidence,
                             "detector", _grade(labels, sid, column)))
    return rows, missing


def build_crop_set(group: str, store: ExtractedSeries, coordinates: pd.DataFrame, labels: pd.DataFrame,
                   split: pd.DataFrame, located: pd.DataFrame, located_studies: list[int], spec: CropSpec,
                   out_dir: Path, jitter_mm: float = 0.0, seed: int = 0, slice_jitter: float = 0.0) -> dict:
    """Write images.npy, crops.csv, missing.csv and summary.json (with the crop spec) for one group.

    Training studies are cropped around their labels; `located_studies` (the studies the locate stage
    covered: the validation studies) where `located` (its boxes) puts them.
    """
    labels = labels.set_index(STUDY_ID) if STUDY_ID in labels.columns else labels
    split_of = {int(s): str(p) for s, p in zip(split[STUDY_ID], split[SPLIT])}
    train = sorted(s for s, p in split_of.items() if p == "train")
    located = located[located["group"] == group]
    covered = sorted(int(s) for s in located_studies if split_of.get(int(s)) not in (None, "train", "holdout"))
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with CropWriter(out_dir / "images.npy", (3, spec.size, spec.size)) as images:
        rows, missing = label_crops(group, store, coordinates, labels, train, spec, jitter_mm, rng, images,
                                  slice_jitter)
        r2, m2 = located_crops(group, store, located, labels, covered, split_of, spec, images)
    rows, missing = rows + r2, missing + m2
    table = pd.DataFrame(rows, columns=list(CROP_COLUMNS))
    table.to_csv(out_dir / "crops.csv", index=False, float_format="%.3f")
    pd.DataFrame(missing, columns=[STUDY_ID, ROW_ID, "reason", "csv_row"]).astype({"csv_row": "Int64"}).to_csv(
        out_dir / "missing.csv", index=False)
    summary = {"group": group, "crops": int(len(table)), "spec": asdict(spec), "jitter_mm": float(jitter_mm),
               **({"slice_jitter": float(slice_jitter)} if slice_jitter else {}),
               "by_split": {k: int(v) for k, v in table[SPLIT].value_counts().sort_index().items()},
               "missing": int(len(missing))}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
