"""One study, from its volumes to 25 probabilities: the code path that `evaluate` and `predict` share.

locate_study chooses each cell's box (spinal first; levels and sides from the DICOM geometry), the
2.5D crop around it goes to the group's classifier. A cell with no box, or whose series is missing or
unreadable, gets the training prior, so every study always gets all 25 rows.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .bundle import Bundle
from .crops import crop_box
from .locate import locate_study
from .study import StudyVolumes, from_dicom
from .vocabulary import LABEL_COLUMNS, ROW_ID, SUBMISSION_COLUMNS, row_id

__all__ = ["StudyPrediction", "predict_study", "predict_dicom_study", "prior_prediction"]

log = logging.getLogger(__name__)


@dataclass
class StudyPrediction:
    """25 rows of probabilities plus what was seen, for reports and logs."""

    study_id: int
    probs: pd.DataFrame                                # row_id, normal_mild, moderate, severe, source
    boxes: pd.DataFrame                                # located boxes (BOX_COLUMNS) + their probabilities
    images: dict = field(default_factory=dict)         # series_id -> windowed volume, for reports
    notes: list[str] = field(default_factory=list)     # what fell back to the prior and why


def _rows(study_id: int, probs: dict[str, np.ndarray], prior: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for col in LABEL_COLUMNS:
        p, src = probs.get(col), "model"
        if p is None:
            p, src = prior.loc[col, list(SUBMISSION_COLUMNS)].to_numpy(float), "prior"
        p = np.clip(np.asarray(p, float), 0, None)
        rows.append({ROW_ID: row_id(study_id, col), **dict(zip(SUBMISSION_COLUMNS, p / p.sum())), "source": src})
    return pd.DataFrame(rows)


def prior_prediction(bundle: Bundle, study_id: int, note: str) -> StudyPrediction:
    """Every cell from the prior: for a study that cannot be read at all."""
    return StudyPrediction(int(study_id), _rows(int(study_id), {}, bundle.prior), pd.DataFrame(), {}, [note])


def predict_study(bundle: Bundle, study: StudyVolumes, keep_images: bool = False) -> StudyPrediction:
    """25 probabilities for one study."""
    boxes, notes = locate_study(bundle.detectors, study, bundle.locate)
    probs: dict[str, np.ndarray] = {}
    graded = []
    for name, rows in boxes.groupby("group", sort=False):
        crops = []
        for r in rows.itertuples(index=False):
            sv = study.series[int(r.series_id)]
            crops.append(crop_box(sv.volume, int(r.slice_index), (r.x1, r.y1, r.x2, r.y2),
                                  (r.spacing_row, r.spacing_col), bundle.crop[name], sv.bounds(int(r.slice_index)),
                                  str(r.column)))
        p = bundle.classifiers[name].predict_proba(np.stack(crops), [str(c) for c in rows["column"]])
        probs.update(zip(rows["column"].astype(str), p))
        graded.append(rows.assign(**{c: p[:, i] for i, c in enumerate(SUBMISSION_COLUMNS)}))
    images = {sid: s.volume for sid, s in study.series.items()} if keep_images else {}
    return StudyPrediction(study.study_id, _rows(study.study_id, probs, bundle.prior),
                           pd.concat(graded, ignore_index=True) if graded else pd.DataFrame(), images,
                           study.notes + notes)


def predict_dicom_study(bundle: Bundle, study_id: int, listed: pd.DataFrame, study_dir: Path,
                        keep_images: bool = False) -> tuple[StudyPrediction, StudyVolumes | None]:
    """predict_study on a study folder; `listed` is its (series_id, series_description) rows.

    Never raises for what is wrong with one study: a study that cannot be read or predicted at all
    gets the prior everywhere, with a note saying why (and the error logged with its traceback), so
    a submission is always complete. Returns the volumes too (None if unreadable).
    """
    try:
        study = from_dicom(study_id, study_dir, listed, bundle.low_pct, bundle.high_pct)
    except Exception as exc:  # noqa: BLE001 - one unreadable study costs its own cells, never the run
        log.exception("study %s: unreadable", study_id)
        return prior_prediction(bundle, study_id, f"study unreadable ({type(exc).__name__}: {exc}): prior"), None
    if not len(listed):
        study.notes.append("no series listed for this study: prior")
    try:
        return predict_study(bundle, study, keep_images), study
    except Exception as exc:  # noqa: BLE001 - e.g. geometry no placement can use: this study's cells only
        log.exception("study %s: prediction failed", study_id)
        return prior_prediction(bundle, study_id, f"prediction failed ({type(exc).__name__}: {exc}): prior"), study

