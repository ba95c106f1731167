"""Latent narrowing per cell, the grades a noisy reader gives it, and the Bayes posterior (the oracle).

Each of the 25 cells has a continuous latent degree of narrowing. A reader sees it through Gaussian
noise (`reader_noise`) and grades it against two thresholds; the thresholds are set per cell so that the
grade shares match the real train.csv. The anatomy is rendered from the latent, so the best possible
prediction from the images is the posterior of the grade given the latent, which is what the oracle is.
Grades within a study are correlated through a study factor, a level factor and a "central canal"
factor shared by spinal and subarticular cells.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ..vocabulary import CONDITIONS, LABEL_COLUMNS, LEVELS

# Real grade shares (Normal/Mild, Moderate, Severe) of non-blank cells in train.csv.
REAL_SHARES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "spinal_canal_stenosis": ((.955, .034, .011), (.897, .076, .027), (.822, .117, .062),
                              (.751, .120, .129), (.965, .026, .010)),
    "left_neural_foraminal_narrowing": ((.967, .032, .001), (.908, .087, .006), (.771, .208, .020),
                                        (.610, .319, .071), (.632, .264, .104)),
    "right_neural_foraminal_narrowing": ((.961, .032, .007), (.912, .085, .003), (.769, .210, .021),
                                         (.614, .320, .066), (.651, .252, .097)),
    "left_subarticular_stenosis": ((.933, .051, .015), (.821, .135, .044), (.671, .230, .098),
                                   (.450, .316, .234), (.717, .208, .075)),
    "right_subarticular_stenosis": ((.926, .061, .013), (.833, .128, .039), (.670, .230, .100),
                                    (.452, .315, .233), (.711, .201, .088)),
}
# Share of blank (ungraded) cells: real data leaves subarticular L1/L2 and L2/L3 blank most often.
BLANK_SHARE: dict[str, float] = {"l1_l2": 0.08, "l2_l3": 0.04, "l3_l4": 0.01, "l4_l5": 0.005, "l5_s1": 0.01}

# Variance shares of the latent: study factor, level factor, a factor shared within the level by the
# central-canal cells (spinal + subarticular) or by the left/right foramina, and the cell's own part.
W_STUDY, W_LEVEL, W_CENTRAL, W_FORAMINAL = 0.15, 0.20, 0.50, 0.12
# Share of the reader's noise common to the cells of one level read on the same image (same pairs).
READER_SHARED = 0.35


def _central(condition: str) -> bool:
    return not condition.endswith("foraminal_narrowing")


def thresholds(reader_noise: float) -> np.ndarray:
    """(25, 2) thresholds on the observed scale (latent + reader noise), in LABEL_COLUMNS order."""
    sd = np.sqrt(1.0 + reader_noise ** 2)
    out = np.empty((len(LABEL_COLUMNS), 2))
    for i, col in enumerate(LABEL_COLUMNS):
        c, lv = col[: -len("_l1_l2")], col[-len("l1_l2"):]
        p = REAL_SHARES[c][LEVELS.index(lv)]
        out[i] = sd * norm.ppf([p[0], p[0] + p[1]])
    return out


def sample_latents(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 25) latent narrowing, unit variance per cell, correlated within a study."""
    study = rng.standard_normal((n, 1))
    level = rng.standard_normal((n, len(LEVELS)))
    central = rng.standard_normal((n, len(LEVELS)))
    foraminal = rng.standard_normal((n, len(LEVELS)))
    own = rng.standard_normal((n, len(LABEL_COLUMNS)))
    out = np.empty((n, len(LABEL_COLUMNS)))
    for i, col in enumerate(LABEL_COLUMNS):
        c = next(c for c in CONDITIONS if col.startswith(c))
        j = LEVELS.index(col[len(c) + 1:])
        wc, shared = (W_CENTRAL, central) if _central(c) else (W_FORAMINAL, foraminal)
        out[:, i] = (np.sqrt(W_STUDY) * study[:, 0] + np.sqrt(W_LEVEL) * level[:, j]
                     + np.sqrt(wc) * shared[:, j] + np.sqrt(1 - W_STUDY - W_LEVEL - wc) * own[:, i])
    return out


def read_grades(rng: np.random.Generator, latents: np.ndarray, reader_noise: float) -> np.ndarray:
    """Grades 0/1/2 a noisy reader gives, -1 where the cell is left blank."""
    t = thresholds(reader_noise)
    common = rng.standard_normal((latents.shape[0], 2, len(LEVELS)))
    pair = np.array([0 if _central(next(c for c in CONDITIONS if col.startswith(c))) else 1 for col in LABEL_COLUMNS])
    level = np.array([LEVELS.index(col[-5:]) for col in LABEL_COLUMNS])
    eps = (np.sqrt(READER_SHARED) * common[:, pair, level]
           + np.sqrt(1 - READER_SHARED) * rng.standard_normal(latents.shape))
    seen = latents + reader_noise * eps
    grades = (seen > t[:, 0]).astype(int) + (seen > t[:, 1]).astype(int)
    blank_p = np.array([BLANK_SHARE[col[-5:]] if "subarticular" in col else 0.002 for col in LABEL_COLUMNS])
    grades[rng.random(latents.shape) < blank_p] = -1
    return grades


def posterior(latents: np.ndarray, reader_noise: float) -> np.ndarray:
    """(n, 25, 3) Bayes posterior of the grade given the latent: the oracle prediction."""
    t = thresholds(reader_noise)
    c1 = norm.cdf((t[:, 0] - latents) / reader_noise)
    c2 = norm.cdf((t[:, 1] - latents) / reader_noise)
    return np.stack([c1, c2 - c1, 1 - c2], axis=-1)


def severity(latents: np.ndarray, reader_noise: float) -> np.ndarray:
    """Degree of narrowing in [0, 1] that the anatomy shows, per cell.

    Measured on each cell's own grade scale (0 at the mild/moderate threshold, 1 at moderate/severe),
    so a given look means the same grade at every level, as it does for a radiologist.
    """
    t = thresholds(reader_noise)
    q = (latents - t[:, 0]) / (t[:, 1] - t[:, 0])
    return 1.0 / (1.0 + np.exp(-1.6 * (q - 0.5)))
