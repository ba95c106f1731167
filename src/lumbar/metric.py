"""The competition score: sample-weighted log loss per condition group plus any-severe-spinal.

Matches the RSNA 2024 Kaggle metric: weights 1/2/4 by the true grade, rows matched by row_id,
predictions renormalised per row and clipped, the four losses averaged with equal weight.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .vocabulary import (COLUMN_GROUP, GRADE_INDEX, GRADE_WEIGHTS, GROUP_NAMES, LABEL_COLUMNS, ROW_ID, STUDY_ID,
                         SUBMISSION_COLUMNS, grade_label, split_row_id)

EPS = 1e-15
ANY_SEVERE = "any_severe_spinal"


def solution_table(labels: pd.DataFrame) -> pd.DataFrame:
    """Long solution table from train.csv-shaped grades (study_id + 25 columns, NaN = blank).

    Columns: row_id, study_id, column, group, grade (0/1/2), weight. Blank cells are dropped,
    because the competition does not score them.
    """
    long = labels.melt(id_vars=[STUDY_ID], var_name="column", value_name="grade_text")
    long = long.dropna(subset=["grade_text"])
    grade = long["grade_text"].map(GRADE_INDEX)
    if grade.isna().any():
        bad = long.loc[grade.isna()].iloc[0]
        try:
            grade_label(bad["grade_text"])
        except ValueError as exc:
            raise ValueError(f"{exc} for study {bad[STUDY_ID]}, {bad['column']}") from None
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


def weighted_log_loss(probs: np.ndarray, grades: np.ndarray) -> float:
    """One group's loss on arrays: mean -log p(true grade), weighted 1/2/4 by the true grade, rows
    renormalised and clipped as the score does (what training and calibration minimise); NaN if empty."""
    probs = np.asarray(probs, dtype=np.float64)
    grades = np.asarray(grades, dtype=np.int64)
    if len(grades) == 0:
        return float("nan")
    p = probs / probs.sum(axis=1, keepdims=True)
    return _weighted_log_loss(p[np.arange(len(p)), grades], np.asarray(GRADE_WEIGHTS)[grades])


def constant_prior(counts: np.ndarray) -> np.ndarray:
    """The best constant prediction under the 1/2/4 weights from grade counts (..., 3): ∝ weight × (count + ½).

    The minimiser of a weighted log loss is proportional to weight × count, not to the raw frequency;
    the half-count keeps grades unseen in training finite.
    """
    mass = (np.asarray(counts, dtype=np.float64) + 0.5) * np.asarray(GRADE_WEIGHTS)
    return mass / mass.sum(axis=-1, keepdims=True)


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
    """The best constant prediction per cell (constant_prior), fitted on training rows.

    Returns one row per train.csv column with columns normal_mild/moderate/severe.
    """
    counts = pd.crosstab(train_solution["column"], train_solution["grade"]).reindex(columns=range(3), fill_value=0)
    return pd.DataFrame(constant_prior(counts.to_numpy()), index=counts.index, columns=list(SUBMISSION_COLUMNS))


def training_prior(labels: pd.DataFrame, studies: list[int]) -> pd.DataFrame:
    """prior_table of the given (training) studies' grades, every LABEL_COLUMNS row; uniform where unseen."""
    prior = prior_table(solution_table(labels[labels[STUDY_ID].isin(studies)]))
    return prior.reindex(list(LABEL_COLUMNS)).fillna(1.0 / len(SUBMISSION_COLUMNS))


def prior_submission(prior: pd.DataFrame, row_ids: list[str] | pd.Series) -> pd.DataFrame:
    """A submission that predicts each cell's training prior, for the given row ids."""
    cols = [split_row_id(r)[1] for r in row_ids]
    sub = prior.reindex(cols)
    if sub.isna().any().any():
        raise ValueError("prior table lacks some columns")
    sub = sub.reset_index(drop=True)
    sub.insert(0, ROW_ID, list(row_ids))
    return sub
