"""A Kaggle submission for test studies: same rows and order as sample_submission.csv, always complete.

A study whose images are missing or unreadable still gets its 25 rows (the training prior), and the
log says which; a submission with a missing or non-finite row is never written. Everything comes
from the model bundle and the test folder: no training data is needed.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .bootstrap import intervals
from .bundle import Bundle
from .inference import StudyPrediction, predict_dicom_study
from .kaggle import read_kaggle, study_image_dir
from .metric import score_parts, solution_table
from .report import write_report
from .vocabulary import ROW_ID, SERIES_DESCRIPTION, SERIES_ID, STUDY_ID, SUBMISSION_COLUMNS, normalize_view, split_row_id

log = logging.getLogger(__name__)


def check_submission(sub: pd.DataFrame, sample: pd.DataFrame) -> None:
    """Raise ValueError unless sub has sample's row ids in sample's order and valid probabilities."""
    if list(sub[ROW_ID]) != list(sample[ROW_ID]):
        raise ValueError("submission rows differ from sample_submission.csv rows or order")
    p = sub[list(SUBMISSION_COLUMNS)].to_numpy(float)
    if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("submission has a non-finite, negative or unnormalised row")


def predict_test_set(bundle_dir: Path, kaggle_dir: Path, out_csv: Path, report_dir: Path | None = None,
                     metrics_path: Path | None = None, report_studies: int = 5,
                     test_labels: Path | None = None, progress: bool = True, cells_csv: Path | None = None) -> dict:
    """Predict every study of kaggle_dir's sample_submission.csv with a model bundle; write the
    submission, the report of the first `report_studies` studies and the metrics (scored when
    `test_labels`, the test studies' grades, exists). `cells_csv` gets every cell at full precision
    with where it came from (model or prior): what `evaluate` scores the graded test studies from."""
    kaggle_dir = Path(kaggle_dir)
    test = read_kaggle(kaggle_dir, part="test")
    sample = test.sample_submission
    if sample is None:
        raise FileNotFoundError(f"{kaggle_dir / 'sample_submission.csv'}: needed for the submission's rows and order")
    bundle = Bundle.load(bundle_dir)
    studies = list(dict.fromkeys(split_row_id(r)[0] for r in sample[ROW_ID]))
    preds: list[StudyPrediction] = []
    start = time.perf_counter()
    for i, study in enumerate(tqdm(studies, desc="predict", unit="study", disable=not progress)):
        listed, folder = test.series[test.series[STUDY_ID] == study], study_image_dir(kaggle_dir, "test", study)
        if listed.empty and folder.is_dir():  # the CSV forgot it, the images are there: ask the headers
            listed = study_series(folder)
            log.warning("study %s: not in test_series_descriptions.csv; %d series read from the DICOM headers",
                        study, len(listed))
        pred, _ = predict_dicom_study(bundle, study, listed, folder, keep_images=i < report_studies)
        for note in pred.notes:
            log.warning("study %s: %s", study, note)
        preds.append(pred)
    seconds = time.perf_counter() - start
    cells = pd.concat([p.probs for p in preds], ignore_index=True) if preds else pd.DataFrame(
        columns=[ROW_ID, *SUBMISSION_COLUMNS, "source"])
    sub = sample[[ROW_ID]].merge(cells[[ROW_ID, *SUBMISSION_COLUMNS]], on=ROW_ID, how="left")
    check_submission(sub, sample)
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    sub.to_csv(out_csv, index=False, float_format="%.6f")
    if cells_csv is not None:
        Path(cells_csv).parent.mkdir(parents=True, exist_ok=True)
        cells[[ROW_ID, *SUBMISSION_COLUMNS, "source"]].to_csv(cells_csv, index=False)
    if report_dir is not None:
        write_report(preds[:report_studies], Path(report_dir))
    metrics = {"studies": len(studies), "rows": int(len(sub)),
               "cells_from_prior": int((cells["source"] == "prior").sum()) if len(cells) else 0}
    log.info("predicted %d studies in %.1f s (%.2f s/study)", len(studies), seconds,
             seconds / max(len(studies), 1))
    if test_labels is not None and Path(test_labels).exists():
        solution = solution_table(pd.read_csv(test_labels))
        metrics["score"] = {k: round(v, 5) for k, v in score_parts(solution, sub).items()}
        metrics["interval"] = intervals(solution, {"score": sub})
    if metrics_path is not None:
        Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
        Path(metrics_path).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def study_series(study_dir: Path) -> pd.DataFrame:
    """(series_id, series_description) of a study folder, read from its DICOM headers.

    For a single folder there is no series CSV, so the SeriesDescription tag of the first readable
    file of each series decides; a series whose description is not one of the three views is left out.
    """
    import pydicom

    rows = []
    for sdir in sorted(p for p in Path(study_dir).iterdir() if p.is_dir() and p.name.isdigit()):
        for f in sorted(sdir.glob("*.dcm")):
            try:
                desc = str(pydicom.dcmread(f, stop_before_pixels=True).get("SeriesDescription", ""))
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the study
                log.warning("%s: unreadable header (%s)", f, exc)
                continue
            try:
                rows.append({SERIES_ID: int(sdir.name), SERIES_DESCRIPTION: normalize_view(desc)})
            except ValueError as exc:  # not one of the three views: the series is not read
                log.warning("%s: %s", sdir, exc)
            break
    return pd.DataFrame(rows, columns=[SERIES_ID, SERIES_DESCRIPTION])
