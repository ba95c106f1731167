"""Temperature scaling: one scalar T so that softmax(logits / T) is calibrated on validation studies.

Fitted by the competition's own loss (log loss weighted 1/2/4 by the true grade), so the calibrated
probabilities are the ones the score rewards. One parameter cannot overfit a small validation set
the way a per-class recalibration could, and it never changes which grade ranks first.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from ..metric import constant_prior, weighted_log_loss
from ..vocabulary import GRADE_WEIGHTS

LOG_T_BOUNDS = (-3.0, 3.0)  # T in [0.05, 20]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature in float64; rows sum to 1."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, grades: np.ndarray) -> float:
    """The T minimising the weighted log loss of softmax(logits / T); 1.0 when there is nothing to fit."""
    logits = np.asarray(logits, dtype=np.float64)
    grades = np.asarray(grades, dtype=np.int64)
    if len(grades) == 0:
        return 1.0

    def loss(log_t: float) -> float:
        return weighted_log_loss(softmax(logits, float(np.exp(log_t))), grades)

    grid = np.linspace(*LOG_T_BOUNDS, 61)  # coarse grid first: the loss need not be convex in log T
    best = grid[int(np.argmin([loss(v) for v in grid]))]
    step = grid[1] - grid[0]
    lo, hi = max(LOG_T_BOUNDS[0], best - step), min(LOG_T_BOUNDS[1], best + step)
    res = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    log_t = float(res.x) if loss(float(res.x)) <= loss(best) else float(best)
    return float(np.exp(log_t))


def grade_prior(grades: np.ndarray) -> np.ndarray:
    """The best constant prediction for these grades under the score's weights (metric.constant_prior)."""
    return constant_prior(np.bincount(np.asarray(grades, dtype=int), minlength=len(GRADE_WEIGHTS)))


def fit_prior_mix(probs: np.ndarray, grades: np.ndarray, prior: np.ndarray, cap: float = 1.0) -> float:
    """Weight a in [0, cap] of the model in a·probs + (1−a)·prior that minimises the val weighted log loss.

    Under a log loss one confidently wrong severe case costs more than many right ones earn; mixing in
    the prior bounds every probability from below, and the fit keeps only as much of the model as
    validation (detector crops, i.e. what the classifier sees in use) says it deserves. `cap` < 1 keeps
    a floor under every grade even where validation saw no mistake: readers disagree, so no grade is
    ever certain, and one held-out case at probability 1e-8 would cost more than the rest earn.
    """
    grid = np.linspace(0.0, cap, 51)
    losses = [weighted_log_loss(a * probs + (1 - a) * prior, grades) for a in grid]
    return float(grid[int(np.argmin(losses))])
