"""The competition score: sample-weighted log loss per condition group plus any-severe-spinal.

Matches the RSNA 2024 Kaggle metric: weights 1/2/4 by the true grade, rows matched by row_id,
predictions renormalised per row and clipped, the four losses averaged with equal weight.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .vocabulary import (COLUMN_GROUP, GRADE_WEIGHTS, GRADES, GROUP_NAMES, ROW_ID, STUDY_ID,
                         SUBMISSION_COLUMNS, split_row_id)

EPS = 1e-15
ANY_SEVERE = "any_severe_spinal"


def solution_table(labels: pd.DataFrame) -> pd.DataFrame:
    """Long solution table from train.csv-shaped grades (study_id + 25 columns, NaN = blank).

    Columns: row_id, study_id, column, group, grade (0/1/2), weight. Blank cells are dropped,
    because the competition does not score them.
    """
    long = labels.melt(id_vars=[STUDY_ID], var_name="column", value_name="grade_text")
    long = long.dropna(subset=["grade_text"])
    grade = long["grade_text"].map({g: i for i, g in enumerate(GRADES)})
    if grade.isna().any():
        bad = long.loc[grade.isna()].iloc[0]
        raise ValueError(f"unknown grade {bad['grade_text']!r} for study {bad[STUDY_ID]}, {bad['column']}")
    out = pd.DataFrame({
        ROW_ID: [f"{s}_{c}" for s, c in zip(long[STUDY_ID], long["column"])],
        STUDY_ID: long[STUDY_ID].astype("int64").to_numpy(),
        "column": long["column"].to_numpy(),
        "group": long["column"].map(COLUMN_GROUP).to_numpy(),
        "grade": grade.astype("int64").to_numpy(),
    })
    out["weight"] = np.asarray(GRADE_WEIGHTS)[out["grade"].to_numpy()]
    return out.sort_values(ROW_ID, kind="stable").reset_index(drop=True)


def _aligned_probs(solution: pd.DataFrame, submission: pd.DataFrame) -> np.ndarray:
    """Submission probabilities in the solution's row order, validated and renormalised."""
    if submission[ROW_ID].duplicated().any():
        raise ValueError(f"duplicate row_id in submission: {submission.loc[submission[ROW_ID].duplicated(), ROW_ID].iloc[0]!r}")
    sub = submission.set_index(ROW_ID)
    missing = solution.loc[~solution[ROW_ID].isin(sub.index), ROW_ID]
    if len(missing):
        raise ValueError(f"submission lacks {len(missing)} scored rows, e.g. {missing.iloc[0]!r}")
    p = sub.loc[solution[ROW_ID], list(SUBMISSION_COLUMNS)].to_numpy(dtype="float64")
    if not np.isfinite(p).all():
        raise ValueError("submission has non-finite probabilities")
    if (p < 0).any():
        raise ValueError("submission has negative probabilities")
    total = p.sum(axis=1, keepdims=True)
    if (total <= 0).any():
        raise ValueError("submission has a row whose probabilities sum to 0")
    return p / total


def _weighted_log_loss(p_true: np.ndarray, weight: np.ndarray) -> float:
    return float(np.average(-np.log(np.clip(p_true, EPS, 1 - EPS)), weights=weight))


def score_parts(solution: pd.DataFrame, submission: pd.DataFrame) -> dict[str, float]:
    """The four losses and their mean ('score'); solution as from `solution_table`."""
    p = _aligned_probs(solution, submission)
    grade = solution["grade"].to_numpy()
    weight = solution["weight"].to_numpy(dtype="float64")
    p_true = p[np.arange(len(p)), grade]
    parts: dict[str, float] = {}
    for group in GROUP_NAMES:
        m = (solution["group"] == group).to_numpy()
        if not m.any():
            raise ValueError(f"solution has no scored {group} rows")
        parts[group] = _weighted_log_loss(p_true[m], weight[m])
    spinal = solution["group"].to_numpy() == "spinal"
    per_study = pd.DataFrame({
        STUDY_ID: solution.loc[spinal, STUDY_ID].to_numpy(),
        "label": (grade[spinal] == 2).astype("float64"),
        "weight": weight[spinal],
        "pred": p[spinal, 2],
    }).groupby(STUDY_ID).max()
    y, w = per_study["label"].to_numpy(), per_study["weight"].to_numpy()
    q = np.clip(per_study["pred"].to_numpy(), EPS, 1 - EPS)
    parts[ANY_SEVERE] = float(np.average(-(y * np.log(q) + (1 - y) * np.log(1 - q)), weights=w))
    parts["score"] = float(np.mean([parts[g] for g in (*GROUP_NAMES, ANY_SEVERE)]))
    return parts


def score(solution: pd.DataFrame, submission: pd.DataFrame) -> float:
    """The competition score (lower is better)."""
    return score_parts(solution, submission)["score"]


def prior_table(train_solution: pd.DataFrame) -> pd.DataFrame:
    """The best constant prediction per cell, fitted on training rows.

    Under a weighted log loss the minimising constant is proportional to weight x count per
    grade, not to the raw frequency. A half-count keeps grades unseen in training finite.
    Returns one row per train.csv column with columns normal_mild/moderate/severe.
    """
    counts = pd.crosstab(train_solution["column"], train_solution["grade"]).reindex(columns=range(3), fill_value=0)
    mass = (counts + 0.5) * np.asarray(GRADE_WEIGHTS)
    probs = mass.div(mass.sum(axis=1), axis=0)
    probs.columns = list(SUBMISSION_COLUMNS)
    return probs


def prior_submission(prior: pd.DataFrame, row_ids: list[str] | pd.Series) -> pd.DataFrame:
    """A submission that predicts each cell's training prior, for the given row ids."""
    cols = [split_row_id(r)[1] for r in row_ids]
    sub = prior.reindex(cols)
    if sub.isna().any().any():
        raise ValueError("prior table lacks some columns")
    sub = sub.reset_index(drop=True)
    sub.insert(0, ROW_ID, list(row_ids))
    return sub
