"""One study, from DICOM to 25 probabilities: the code path that `evaluate` and `predict` share.

Per group: every series of the group's view is decoded once and windowed exactly as `extract` does,
all its slices go through the detector in batches, the most confident box per class wins (across
series, when a study has several axial series), the 2.5D crop around it goes to the classifier. A cell
with no detection, or whose series is missing, gets the training prior, so every study always gets
all 25 rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .classification import load_classifier
from .crops import crop_25d
from .detection import choose_boxes, detect_series, level_points, load_detector
from .dicom import read_series
from .extract import window_uint8
from .vocabulary import (GROUPS, LABEL_COLUMNS, LEVEL_GROUP, ROW_ID, SERIES_DESCRIPTION, SERIES_ID, SUBMISSION_COLUMNS,
                         row_id)


@dataclass
class Pipeline:
    """The six trained models plus what inference needs to know to use them."""

    detectors: dict
    classifiers: dict
    prior: pd.DataFrame            # column -> (normal_mild, moderate, severe), fitted on training studies
    side_mm: dict[str, float]
    size: int
    imgsz: int
    conf: float
    batch: int
    low_pct: float
    high_pct: float
    level_mm: float = 0.0          # levels from the spinal boxes (detection/levels.py); 0 = off

    @classmethod
    def load(cls, params, prior: pd.DataFrame, root: Path) -> "Pipeline":
        """Load every model named by the params tree (detector/classifier files under root/models)."""
        dets = {g: load_detector(root / "models" / "detect" / g / "best.pt") for g in GROUPS}
        clfs = {g: load_classifier(root / "models" / "classify" / g / "model.pt") for g in GROUPS}
        return cls(dets, clfs, prior, {g: float(params.crop.side_mm[g]) for g in GROUPS},
                   int(params.crop.size), int(params.detector.imgsz), float(params.detector.conf),
                   int(params.detector.predict_batch), float(params.extract.low_percentile),
                   float(params.extract.high_percentile), float(params.crop.level_mm))


@dataclass
class StudyPrediction:
    """25 rows of probabilities plus what was seen, for reports and logs."""

    study_id: int
    probs: pd.DataFrame                                # row_id, normal_mild, moderate, severe, source
    boxes: pd.DataFrame                                # chosen box per detected column
    images: dict = field(default_factory=dict)         # (series_id) -> windowed volume, for reports
    notes: list[str] = field(default_factory=list)     # what fell back to the prior and why
    slice_maps: dict = field(default_factory=dict)     # series_id -> {instance_number: slice_index}


def predict_study(pipe: Pipeline, study_id: int, series: pd.DataFrame, study_dir: Path,
                  keep_images: bool = False) -> StudyPrediction:
    """25 probabilities for one study; `series` lists its (series_id, series_description) rows."""
    probs: dict[str, np.ndarray] = {}
    chosen, images, notes, maps, points = [], {}, [], {}, {}
    for g in sorted(GROUPS.values(), key=lambda g: g.name != LEVEL_GROUP):  # spinal first: it places levels
        ids = sorted(int(s) for s in series.loc[series[SERIES_DESCRIPTION] == g.view, SERIES_ID])
        found, frames = [], {}
        for sid in ids:
            if not (Path(study_dir) / str(sid)).is_dir():
                notes.append(f"series {sid} ({g.view}) is listed but not on disk")
                continue
            s = read_series(Path(study_dir) / str(sid))
            for path, reason in s.skipped:
                notes.append(f"skipped {path}: {reason}")
            if not s.slices:
                notes.append(f"series {sid} ({g.view}) has no readable slice")
                continue
            maps[sid] = {sl.instance_number: i for i, sl in enumerate(s.slices)}
            frames.update({(sid, i): sl for i, sl in enumerate(s.slices)})
            vol = window_uint8(s.pixels(), pipe.low_pct, pipe.high_pct)
            images[sid] = vol
            det = detect_series(pipe.detectors[g.name], vol, g.name, pipe.imgsz, pipe.conf, pipe.batch)
            sp = s.slices[0].spacing
            found.append(det.assign(**{SERIES_ID: sid, "spacing_row": sp[0], "spacing_col": sp[1]}))
        if not ids:
            notes.append(f"no {g.view} series: {g.name} cells get the prior")
        dets = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
        best = choose_boxes(g.name, dets, frames, points, pipe.level_mm) if len(dets) else dets
        if g.name == LEVEL_GROUP and len(best):
            points = level_points(best, frames)
        crops = []
        for _, r in best.iterrows():
            cx, cy = (r["x1"] + r["x2"]) / 2, (r["y1"] + r["y2"]) / 2
            crops.append(crop_25d(images[int(r[SERIES_ID])], int(r["slice_index"]), cx, cy,
                                  pipe.side_mm[g.name], (r["spacing_row"], r["spacing_col"]), pipe.size))
        if crops:
            p = pipe.classifiers[g.name].predict_proba(np.stack(crops), [str(c) for c in best["column"]])
            for (_, r), pr in zip(best.iterrows(), p):
                probs[str(r["column"])] = pr
            chosen.append(best.assign(**{c: p[:, i] for i, c in enumerate(SUBMISSION_COLUMNS)}, group=g.name))
        missed = [c for c in g.classes if c not in probs]
        if ids and missed:
            notes.append(f"no detection for {len(missed)} {g.name} cells: prior")
    rows = []
    for col in LABEL_COLUMNS:
        p = probs.get(col)
        src = "model"
        if p is None:
            p, src = pipe.prior.loc[col, list(SUBMISSION_COLUMNS)].to_numpy(float), "prior"
        p = np.clip(np.asarray(p, float), 0, None)
        p = p / p.sum()
        rows.append({ROW_ID: row_id(study_id, col), **dict(zip(SUBMISSION_COLUMNS, p)), "source": src})
    boxes = pd.concat(chosen, ignore_index=True) if chosen else pd.DataFrame()
    return StudyPrediction(study_id, pd.DataFrame(rows), boxes, images if keep_images else {}, notes, maps)
