"""The honest score: the whole pipeline on unseen patients, beside the prior baseline and the oracle.

The unseen studies (holdout patients, and the test studies where their grades are known) go through
`inference.predict_dicom_study` from their DICOM files, exactly as `predict` runs test studies; only
the scoring is added here. Everything needed to re-score is
written out (predictions in submission format and the matching solution table).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .bootstrap import intervals, study_sums, sums_parts
from .bundle import Bundle
from .inference import predict_dicom_study
from .kaggle import read_kaggle, study_image_dir
from .located import box_figures, empty_boxes, label_slices
from .metric import prior_submission, score_parts, solution_table
from .study import StudyVolumes
from .vocabulary import (GRADE_WEIGHTS, GRADES, GROUPS, INSTANCE_NUMBER, ROW_ID, SERIES_ID, SPLIT, STUDY_ID,
                         SUBMISSION_COLUMNS)

__all__ = ["bayes_submission", "solution_frame", "label_points", "confusion", "read_cells", "evaluate"]


def bayes_submission(posterior: pd.DataFrame) -> pd.DataFrame:
    """The best submission for grade probabilities `posterior`: each row tilted by the weights, q ∝ w·p.

    Why not the posterior itself: a group's loss is sum(w_y · -log q_y) / sum(w_y), and the expected
    numerator sum_c p_c w_c · -log q_c is smallest at q ∝ w·p (the same reason constant_prior is
    ∝ weight × count). On the synthetic data the plain posterior scores ~0.03 worse than this, so an
    "oracle" that submits it is no bound: a model trained on the weighted loss can beat it.
    """
    out = posterior.copy()
    mass = posterior[list(SUBMISSION_COLUMNS)].to_numpy(dtype=np.float64) * np.asarray(GRADE_WEIGHTS)
    out[list(SUBMISSION_COLUMNS)] = mass / mass.sum(axis=1, keepdims=True)
    return out


def solution_frame(solution: pd.DataFrame) -> pd.DataFrame:
    """Kaggle-style solution: row_id, one-hot grade columns, sample_weight."""
    out = pd.DataFrame({ROW_ID: solution[ROW_ID]})
    for i, c in enumerate(SUBMISSION_COLUMNS):
        out[c] = (solution["grade"] == i).astype(int)
    out["sample_weight"] = solution["weight"].astype(float)
    return out.reset_index(drop=True)


def label_points(study: StudyVolumes | None, coordinates: pd.DataFrame, study_id: int) -> pd.DataFrame:
    """One study's label points with the slice_index of their instance in its volumes (NaN if not read),
    through the same join the locate stage uses on the extract output (located.label_slices)."""
    slices = pd.DataFrame([(study_id, sid, inst, i) for sid, sv in (study.series.items() if study else [])
                           for i, inst in enumerate(sv.instance_numbers)],
                          columns=[STUDY_ID, SERIES_ID, INSTANCE_NUMBER, "slice_index"])
    return label_slices(coordinates[coordinates[STUDY_ID] == study_id], slices)


def confusion(solution: pd.DataFrame, preds: pd.DataFrame, group: str) -> pd.DataFrame:
    """actual/predicted grade names per scored row of a group, for `dvc plots` confusion."""
    s = solution[solution["group"] == group].merge(preds, on=ROW_ID)
    predicted = s[list(SUBMISSION_COLUMNS)].to_numpy().argmax(axis=1)
    return pd.DataFrame({"actual": [GRADES[i] for i in s["grade"]], "predicted": [GRADES[i] for i in predicted]})


def _predict(bundle: Bundle, kaggle_dir: Path, data, part: str, studies: list[int], progress: bool):
    """predict_dicom_study on each study of one part of the Kaggle folder: (predictions, studies read)."""
    out = []
    for study_id in tqdm(studies, desc=f"evaluate {part}", unit="study", disable=not progress):
        listed = data.series[data.series[STUDY_ID] == study_id]
        out.append(predict_dicom_study(bundle, study_id, listed, study_image_dir(kaggle_dir, part, study_id)))
    return out


def read_cells(path: Path, row_ids: pd.Series) -> pd.DataFrame:
    """The rows `row_ids` of a cells table that `predict` wrote (row_id, probabilities, source).

    The graded test studies are the ones `predict` runs anyway; reading its cells instead of running
    the bundle over them a second time saves a minute of the demo. A missing row is an error that
    names it: a cells file of other studies must not be scored as if it covered these.
    """
    cells = pd.read_csv(path)
    missing = sorted(set(row_ids) - set(cells[ROW_ID]))
    if missing:
        raise ValueError(f"{path}: no prediction for {len(missing)} graded test row(s), e.g. {missing[0]}")
    return cells[cells[ROW_ID].isin(set(row_ids))].reset_index(drop=True)


def _scores(solution: pd.DataFrame, subs: dict[str, pd.DataFrame], truth: pd.DataFrame | None = None) -> dict:
    """score_parts of each predictor on the solution's rows (expected over `truth`'s grades when given),
    gap_captured when there is an oracle, and the patient-bootstrap intervals."""
    if truth is None:
        out = {name: score_parts(solution, s) for name, s in subs.items()}  # scores the solution's rows only
    else:
        out = {name: sums_parts(*study_sums(solution, s, truth)[:2]) for name, s in subs.items()}
    if "oracle" in out:
        gap = out["prior"]["score"] - out["oracle"]["score"]
        out["gap_captured"] = (out["prior"]["score"] - out["score"]["score"]) / gap if gap > 0 else None
    out["interval"] = intervals(solution, subs, truth=truth)
    return out


def evaluate(bundle_dir: Path, kaggle_dir: Path, split_csv: Path, out_dir: Path, metrics_path: Path,
             oracle_csv: Path | None = None, test_labels: Path | None = None, progress: bool = True,
             test_cells: Path | None = None) -> dict:
    """Run the bundle over the unseen patients; write predictions, solution, confusions and metrics.

    Unseen = the holdout patients of the training data, plus the test studies when their grades are
    known (`test_labels`: the synthetic data's; a Kaggle download has none), because 25 holdout
    patients leave an interval too wide to tell one method from another. The headline figures are
    over all of them; `holdout` and `test` give each part alone. With the generator's posterior
    (`oracle_csv`) the oracle submits its Bayes decision (bayes_submission), and `expected`
    repeats every figure as its expectation over the reader's grades: the same quantity without the
    reader's coin flips, so its interval says what the patients' variety leaves. With `test_cells` (the cells table
    `predict` wrote with the same bundle) the test studies are read from it instead of run again.
    """
    kaggle_dir = Path(kaggle_dir)
    data = read_kaggle(kaggle_dir, part="train")
    split = pd.read_csv(split_csv)
    holdout = sorted(int(s) for s in split.loc[split[SPLIT] == "holdout", STUDY_ID])
    bundle = Bundle.load(bundle_dir)
    parts = {"holdout": solution_table(data.labels[data.labels[STUDY_ID].isin(holdout)])}
    results = _predict(bundle, kaggle_dir, data, "train", holdout, progress)
    points = [label_points(study, data.coordinates, sid) for sid, (_, study) in zip(holdout, results)]
    preds, test_probs = [p for p, _ in results], []
    if test_labels is not None and Path(test_labels).exists():
        graded = pd.read_csv(test_labels)
        test = read_kaggle(kaggle_dir, part="test")
        ids = sorted(int(s) for s in set(graded[STUDY_ID]) & set(test.series[STUDY_ID]))
        parts["test"] = solution_table(graded[graded[STUDY_ID].isin(ids)])
        if test_cells is not None:
            test_probs = [read_cells(Path(test_cells), parts["test"][ROW_ID])]
        else:
            test_probs = [p.probs for p, _ in _predict(bundle, kaggle_dir, test, "test", ids, progress)]
    sub = pd.concat([p.probs for p in preds] + test_probs, ignore_index=True)
    solution = pd.concat(parts.values(), ignore_index=True)
    sub_scored = sub[[ROW_ID, *SUBMISSION_COLUMNS]]
    subs = {"score": sub_scored, "prior": prior_submission(bundle.prior, solution[ROW_ID])}
    posterior = None
    if oracle_csv is not None and Path(oracle_csv).exists():
        posterior = pd.read_csv(oracle_csv)
        posterior = posterior[posterior[ROW_ID].isin(solution[ROW_ID])].reset_index(drop=True)
        subs["oracle"] = bayes_submission(posterior)
    metrics = _scores(solution, subs)
    if len(parts) > 1:
        for name, part in parts.items():
            metrics[name] = _scores(part, subs)
    if posterior is not None:  # the same scores expected over the reader's grades (bootstrap.study_sums)
        metrics["expected"] = _scores(solution, subs, posterior)
        if len(parts) > 1:
            for name, part in parts.items():
                metrics["expected"][name] = _scores(part, subs, posterior)
    boxes = [p.boxes for p in preds if len(p.boxes)]
    metrics["detection"] = box_figures(pd.concat(boxes, ignore_index=True) if boxes else empty_boxes(),
                                       pd.concat(points, ignore_index=True))
    metrics["holdout_studies"] = len(holdout)
    metrics["patients"] = {name: int(part[STUDY_ID].nunique()) for name, part in parts.items()}
    metrics["cells_from_prior"] = int((sub["source"] == "prior").sum())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sub_scored.to_csv(out_dir / "predictions.csv", index=False, float_format="%.6f")
    solution_frame(solution).to_csv(out_dir / "solution.csv", index=False)
    sub.to_csv(out_dir / "cells.csv", index=False, float_format="%.6f")
    for g in GROUPS:
        confusion(solution, sub_scored, g).to_csv(out_dir / f"confusion_{g}.csv", index=False)
    metrics = _rounded(metrics)
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def _rounded(obj):
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (float, np.floating)):
        return round(float(obj), 5)
    return obj
