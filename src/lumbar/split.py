"""The split table: which patient trains, validates or is held out — decided here and nowhere else.

A study is a patient, so every row of one study lands in the same split (no patient leaks from
training into validation or the holdout). The holdout is drawn first and never used by any training
or calibration; the rest is cut into `folds` folds, of which `val_fold` validates. Both draws are
stratified on a per-study key built from the grades, so that severe cases, which dominate the
weighted score, are spread evenly. When a key is too rare to stratify, it is coarsened step by
step (and finally dropped), never an error.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from .vocabulary import COLUMN_GROUP, FOLD, LABEL_COLUMNS, SPLIT, SPLITS, STUDY_ID, grade_label

HOLDOUT_FOLD = -1
TRAIN, VAL, HOLDOUT = SPLITS


def grade_matrix(labels_wide: pd.DataFrame) -> np.ndarray:
    """(studies, 25) grade indices 0/1/2, -1 for blank; unknown grade strings raise, naming the study."""
    missing = [c for c in LABEL_COLUMNS if c not in labels_wide.columns]
    if missing:
        raise ValueError(f"labels lack column {missing[0]!r}")
    text = labels_wide[list(LABEL_COLUMNS)]
    grades = np.full(text.shape, -1, dtype=np.int64)
    for j, col in enumerate(LABEL_COLUMNS):
        for i, value in enumerate(text[col].to_numpy()):
            if isinstance(value, str) and value != "":
                try:
                    grades[i, j] = grade_label(value)
                except ValueError as exc:
                    raise ValueError(f"study {labels_wide[STUDY_ID].iloc[i]}, {col}: {exc}") from None
    return grades


def strata_keys(grades: np.ndarray) -> list[np.ndarray]:
    """Candidate stratification keys per study, finest first.

    Finest: worst spinal grade x number of severe cells (0, 1-2, 3+); then each alone; then nothing.
    """
    spinal = np.array([COLUMN_GROUP[c] == "spinal" for c in LABEL_COLUMNS])
    worst_spinal = np.clip(grades[:, spinal].max(axis=1, initial=-1), 0, 2)
    n_severe = (grades == 2).sum(axis=1)
    severe_bin = np.digitize(n_severe, [1, 3])  # 0 -> 0, 1-2 -> 1, 3+ -> 2
    return [worst_spinal * 3 + severe_bin, worst_spinal, severe_bin, np.zeros(len(grades), dtype=np.int64)]


def usable_key(candidates: list[np.ndarray], min_count: int) -> np.ndarray:
    """The finest key whose classes all have >= min_count members, after pooling rare classes.

    Rare classes of a key are pooled into one class; if the pool itself is still too small it joins
    the largest class. A key that then has a single class is still usable (it means 'no strata').
    """
    for key in candidates:
        values, counts = np.unique(key, return_counts=True)
        rare = values[counts < min_count]
        key = key.copy()
        if len(rare):
            pooled = int(values.max()) + 1
            key[np.isin(key, rare)] = pooled
            if (key == pooled).sum() < min_count:
                values, counts = np.unique(key[key != pooled], return_counts=True)
                if len(values) == 0:
                    continue
                key[key == pooled] = values[np.argmax(counts)]
        if np.unique(key, return_counts=True)[1].min() >= min_count:
            return key
    return np.zeros(len(candidates[0]), dtype=np.int64)


def make_split(labels_wide: pd.DataFrame, holdout: float, folds: int, val_fold: int,
               seed: int) -> pd.DataFrame:
    """Split studies by patient into train/val/holdout, stratified on their grades.

    Returns one row per study, sorted by study_id: study_id, split (train|val|holdout), fold (0..folds-1
    for train/val studies, -1 for holdout). The same inputs and seed always give the same table,
    whatever the row order of `labels_wide`.
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"split.holdout must be in [0, 1), got {holdout}")
    if folds < 2:
        raise ValueError(f"split.folds must be >= 2, got {folds}")
    if not 0 <= val_fold < folds:
        raise ValueError(f"split.val_fold must be in [0, {folds}), got {val_fold}")
    if STUDY_ID not in labels_wide.columns:
        raise ValueError(f"labels lack column {STUDY_ID!r}")
    dup = labels_wide[STUDY_ID].duplicated()
    if dup.any():
        raise ValueError(f"study {labels_wide.loc[dup, STUDY_ID].iloc[0]} appears twice in the labels")
    labels = labels_wide.sort_values(STUDY_ID, kind="stable").reset_index(drop=True)
    studies = labels[STUDY_ID].astype("int64").to_numpy()
    n = len(studies)
    n_holdout = int(round(holdout * n))
    if n - n_holdout < folds:
        raise ValueError(f"{n} studies: too few for a {holdout:.0%} holdout and {folds} folds")
    candidates = strata_keys(grade_matrix(labels))

    fold = np.zeros(n, dtype=np.int64)
    rest = np.arange(n)
    if n_holdout > 0:
        key = usable_key(candidates, min_count=2)
        sss = StratifiedShuffleSplit(n_splits=1, test_size=n_holdout, random_state=seed)
        try:
            rest, held = next(sss.split(np.zeros(n), key))
        except ValueError:  # e.g. more classes than holdout studies: fall back to a plain draw
            sss = StratifiedShuffleSplit(n_splits=1, test_size=n_holdout, random_state=seed)
            rest, held = next(sss.split(np.zeros(n), np.zeros(n)))
        fold[held] = HOLDOUT_FOLD
        rest = np.sort(rest)

    key = usable_key([c[rest] for c in candidates], min_count=folds)
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has only k members"
        for k, (_, part) in enumerate(skf.split(np.zeros(len(rest)), key)):
            fold[rest[part]] = k

    split = np.where(fold == HOLDOUT_FOLD, HOLDOUT, np.where(fold == val_fold, VAL, TRAIN))
    return pd.DataFrame({STUDY_ID: studies, SPLIT: split, FOLD: fold})


def summarize(split: pd.DataFrame) -> dict[str, int]:
    """Studies per split, for logs."""
    counts = split[SPLIT].value_counts()
    return {name: int(counts.get(name, 0)) for name in SPLITS}


def studies_in(split: pd.DataFrame, *names: str) -> list[int]:
    """The study ids of the split table in the named splits (train / val / holdout), sorted."""
    unknown = sorted(set(names) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r} (expected one of {SPLITS})")
    return sorted(int(s) for s in split.loc[split[SPLIT].isin(names), STUDY_ID])
