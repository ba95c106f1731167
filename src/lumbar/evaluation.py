"""The honest score: the whole pipeline on holdout patients, beside the prior baseline and the oracle.

The holdout studies go through `inference.predict_study` from their DICOM files, exactly as unseen test
studies do in `predict`; only the scoring is added here. Everything needed to re-score is written out
(predictions in submission format and the matching solution table).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .inference import Pipeline, StudyPrediction, predict_study
from .kaggle import read_kaggle, study_image_dir
from .metric import prior_table, score_parts, solution_table, prior_submission
from .vocabulary import (GRADES, GROUPS, LABEL_COLUMNS, ROW_ID, SERIES_ID, SPLIT, STUDY_ID,
                         SUBMISSION_COLUMNS)


def training_prior(labels: pd.DataFrame, studies: list[int]) -> pd.DataFrame:
    """Best constant per cell fitted on the given (training) studies; uniform for unseen cells."""
    prior = prior_table(solution_table(labels[labels[STUDY_ID].isin(studies)]))
    return prior.reindex(list(LABEL_COLUMNS)).fillna(1.0 / len(SUBMISSION_COLUMNS))


def solution_frame(solution: pd.DataFrame) -> pd.DataFrame:
    """Kaggle-style solution: row_id, one-hot grade columns, sample_weight."""
    out = pd.DataFrame({ROW_ID: solution[ROW_ID]})
    for i, c in enumerate(SUBMISSION_COLUMNS):
        out[c] = (solution["grade"] == i).astype(int)
    out["sample_weight"] = solution["weight"].astype(float)
    return out.reset_index(drop=True)


def detection_figures(preds: list[StudyPrediction], coordinates: pd.DataFrame) -> dict[str, dict]:
    """Per group: share of label points inside the chosen box, and on the chosen slice ±1."""
    out = {}
    found = [p.boxes.assign(**{STUDY_ID: p.study_id}) for p in preds if len(p.boxes)]
    boxes = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    maps = {(p.study_id, s): m for p in preds for s, m in p.slice_maps.items()}
    for g in GROUPS.values():
        pts = coordinates[coordinates["column"].isin(g.classes)
                          & coordinates[STUDY_ID].isin([p.study_id for p in preds])]
        inside = near = 0
        for pt in pts.itertuples(index=False):
            hit = boxes[(boxes[STUDY_ID] == pt.study_id) & (boxes["column"] == pt.column)] if len(boxes) else boxes
            if not len(hit):
                continue
            b = hit.iloc[0]
            if int(b[SERIES_ID]) != int(pt.series_id):
                continue
            label_index = maps.get((int(pt.study_id), int(pt.series_id)), {}).get(int(pt.instance_number))
            on_slice = label_index is not None and abs(int(b["slice_index"]) - label_index) <= 1
            near += on_slice
            inside += on_slice and b["x1"] <= pt.x <= b["x2"] and b["y1"] <= pt.y <= b["y2"]
        n = max(len(pts), 1)
        out[g.name] = {"points": int(len(pts)), "inside_box": round(inside / n, 4),
                       "slice_within_1": round(near / n, 4)}
    return out


def confusion(solution: pd.DataFrame, preds: pd.DataFrame, group: str) -> pd.DataFrame:
    """actual/predicted grade names per scored row of a group, for `dvc plots` confusion."""
    s = solution[solution["group"] == group].merge(preds, on=ROW_ID)
    predicted = s[list(SUBMISSION_COLUMNS)].to_numpy().argmax(axis=1)
    return pd.DataFrame({"actual": [GRADES[i] for i in s["grade"]], "predicted": [GRADES[i] for i in predicted]})


def evaluate(params, root: Path, out_dir: Path, metrics_path: Path) -> dict:
    """Run the pipeline over the holdout studies and write predictions, solution, figures, metrics."""
    kaggle_dir = root / params.data.kaggle_dir
    data = read_kaggle(kaggle_dir, part="train")
    split = pd.read_csv(root / "data" / "split.csv")
    holdout = sorted(int(s) for s in split.loc[split[SPLIT] == "holdout", STUDY_ID])
    training = sorted(int(s) for s in split.loc[split[SPLIT] != "holdout", STUDY_ID])
    prior = training_prior(data.labels, training)
    pipe = Pipeline.load(params, prior, root)
    preds = []
    for study in tqdm(holdout, desc="evaluate", unit="study"):
        preds.append(predict_study(pipe, study, data.series[data.series[STUDY_ID] == study],
                                   study_image_dir(kaggle_dir, "train", study)))
    sub = pd.concat([p.probs for p in preds], ignore_index=True)
    solution = solution_table(data.labels[data.labels[STUDY_ID].isin(holdout)])
    sub_scored = sub[[ROW_ID, *SUBMISSION_COLUMNS]]
    metrics = {"score": score_parts(solution, sub_scored),
               "prior": score_parts(solution, prior_submission(prior, solution[ROW_ID]))}
    oracle_path = params.data.oracle
    if oracle_path and (root / oracle_path).exists():
        oracle = pd.read_csv(root / oracle_path)
        metrics["oracle"] = score_parts(solution, oracle[oracle[ROW_ID].isin(solution[ROW_ID])])
        gap = metrics["prior"]["score"] - metrics["oracle"]["score"]
        metrics["gap_captured"] = (metrics["prior"]["score"] - metrics["score"]["score"]) / gap if gap > 0 else None
    metrics["detection"] = detection_figures(preds, data.coordinates)
    metrics["holdout_studies"] = len(holdout)
    metrics["cells_from_prior"] = int((sub["source"] == "prior").sum())
    out_dir.mkdir(parents=True, exist_ok=True)
    sub_scored.to_csv(out_dir / "predictions.csv", index=False, float_format="%.6f")
    solution_frame(solution).to_csv(out_dir / "solution.csv", index=False)
    sub.to_csv(out_dir / "cells.csv", index=False, float_format="%.6f")
    for g in GROUPS:
        confusion(solution, sub_scored, g).to_csv(out_dir / f"confusion_{g}.csv", index=False)
    metrics = _rounded(metrics)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def _rounded(obj):
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (float, np.floating)):
        return round(float(obj), 5)
    return obj
