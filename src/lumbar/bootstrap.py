"""How sure a score is: a bootstrap over patients, for the competition score and gap_captured.

The score of 25 holdout patients moves by several hundredths with the luck of the draw, so every
figure is reported with a 95% interval: patients (studies) are drawn with replacement, the score of
each predictor is recomputed on the same draw, and gap_captured is computed from the three scores of
that draw. A drawn patient counts as many times as drawn, exactly as if their rows were repeated.

With `truth` (grade probabilities per row instead of the one grade a reader gave: the synthetic
generator's Bayes posterior) every sum is its expectation over the reader's grades. On synthetic data
that removes the reader's coin flips from the figure (the "expected" score in evaluate), which is most
of the interval of a hard-label score on a hundred patients; the patients' own variety stays in it.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .metric import ANY_SEVERE, EPS, _aligned_probs
from .vocabulary import GRADE_WEIGHTS, GROUP_NAMES, STUDY_ID

__all__ = ["study_sums", "replicate_scores", "sums_parts", "bootstrap", "interval", "intervals"]


def study_sums(solution: pd.DataFrame, submission: pd.DataFrame,
               truth: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(loss sums, weight sums), each (studies, 4): per study and per part (the three groups, then
    any-severe-spinal), the weighted loss and the weight the score averages; and the study ids.

    The grades are the solution's, or with `truth` (a submission-shaped table of grade probabilities)
    their expectation. The hard grade is the one-hot case of the same sums, so both share this code.
    Any-severe-spinal takes the levels' grades as independent given the truth, as the generator draws
    them: P(a severe level) = 1 - prod(1 - p_severe), P(all normal) = prod(p_normal); the study's
    weight is 4, 2 or 1 as its worst level is severe, moderate or neither, as in the metric.
    """
    p = _aligned_probs(solution, submission)
    t = np.eye(len(GRADE_WEIGHTS))[solution["grade"].to_numpy()] if truth is None else _aligned_probs(solution, truth)
    wt = t * np.asarray(GRADE_WEIGHTS, dtype="float64")      # expected weight of each (row, grade)
    row_loss = (wt * -np.log(np.clip(p, EPS, 1 - EPS))).sum(axis=1)
    row_w = wt.sum(axis=1)
    studies = sorted(int(s) for s in solution[STUDY_ID].unique())
    index = {s: i for i, s in enumerate(studies)}
    rows = solution[STUDY_ID].map(index).to_numpy()
    loss, wsum = np.zeros((len(studies), 4)), np.zeros((len(studies), 4))
    for j, group in enumerate(GROUP_NAMES):
        m = (solution["group"] == group).to_numpy()
        np.add.at(loss[:, j], rows[m], row_loss[m])
        np.add.at(wsum[:, j], rows[m], row_w[m])
    spinal = (solution["group"] == "spinal").to_numpy()
    per = pd.DataFrame({"i": rows[spinal], "q": p[spinal, 2], "not_severe": 1 - t[spinal, 2],
                        "normal": t[spinal, 0]}).groupby("i").agg({"q": "max", "not_severe": "prod", "normal": "prod"})
    q = np.clip(per["q"].to_numpy(), EPS, 1 - EPS)
    severe, normal = 1 - per["not_severe"].to_numpy(), per["normal"].to_numpy()
    w_severe, w_other = GRADE_WEIGHTS[2] * severe, GRADE_WEIGHTS[1] * (1 - severe - normal) + GRADE_WEIGHTS[0] * normal
    loss[per.index.to_numpy(), 3] = w_severe * -np.log(q) + w_other * -np.log(1 - q)
    wsum[per.index.to_numpy(), 3] = w_severe + w_other
    return loss, wsum, studies


def sums_parts(loss: np.ndarray, wsum: np.ndarray) -> dict[str, float]:
    """The four losses and their mean ('score') of every study's sums: score_parts, from study_sums."""
    parts = dict(zip((*GROUP_NAMES, ANY_SEVERE), (loss.sum(axis=0) / wsum.sum(axis=0)).tolist()))
    return {**parts, "score": float(np.mean(list(parts.values())))}


def replicate_scores(loss: np.ndarray, wsum: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The score of each replicate: counts (replicates, studies) says how often each study was drawn."""
    parts = (counts @ loss) / np.maximum(counts @ wsum, 1e-300)
    return parts.mean(axis=1)


def bootstrap(solution: pd.DataFrame, submissions: Mapping[str, pd.DataFrame], n: int = 2000,
              seed: int = 0, truth: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """name -> the score of each of n patient-bootstrap replicates, the same draws for every predictor
    (expected over `truth`'s grades when given, see study_sums)."""
    sums = {name: study_sums(solution, sub, truth) for name, sub in submissions.items()}
    n_studies = len(next(iter(sums.values()))[2])
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_studies, np.full(n_studies, 1.0 / n_studies), size=n).astype(np.float64)
    # a replicate without a single patient of some part cannot be scored: draw those again
    for name, (loss, wsum, _) in sums.items():
        empty = ((counts @ wsum) <= 0).any(axis=1)
        while empty.any():
            counts[empty] = rng.multinomial(n_studies, np.full(n_studies, 1.0 / n_studies), size=int(empty.sum()))
            empty = ((counts @ wsum) <= 0).any(axis=1)
    return {name: replicate_scores(loss, wsum, counts) for name, (loss, wsum, _) in sums.items()}


def interval(values: np.ndarray, level: float = 0.95) -> list[float | None]:
    """The central `level` percentile interval of bootstrap replicates (NaN-free); [None, None] when
    no replicate has a value (gap_captured of an oracle that is never better than the prior)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return [None, None]
    lo, hi = np.percentile(v, [50 * (1 - level), 50 * (1 + level)])
    return [round(float(lo), 4), round(float(hi), 4)]


def intervals(solution: pd.DataFrame, submissions: Mapping[str, pd.DataFrame], n: int = 2000,
              seed: int = 0, truth: pd.DataFrame | None = None) -> dict[str, list[float]]:
    """95% patient-bootstrap intervals of each predictor's score, and of gap_captured when the
    submissions include "score", "prior" and "oracle" (expected over `truth`'s grades when given)."""
    reps = bootstrap(solution, submissions, n, seed, truth)
    out = {name: interval(v) for name, v in reps.items()}
    if {"score", "prior", "oracle"} <= set(reps):
        gap = reps["prior"] - reps["oracle"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["gap_captured"] = interval(np.where(gap > 0, (reps["prior"] - reps["score"]) / gap, np.nan))
    out["patients"] = int(solution[STUDY_ID].nunique())
    out["replicates"] = int(n)
    return out
