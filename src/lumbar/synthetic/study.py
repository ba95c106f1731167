"""One synthetic study: rendered slices and label points on the planes the scanner chose (acquisition).

A label point is placed in patient space at the anatomy, then projected onto the slice whose own
plane lies nearest (every slice may have its own orientation), so points and images agree by
construction. A point further than a slice step from every slice (a level the axial blocks skipped)
is not labelled on that view, as a radiologist could not click it.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from ..vocabulary import AXIAL_T2, GROUPS, LEVELS, SAGITTAL_T1, SAGITTAL_T2
from .acquisition import SeriesPlan, plan_series
from .anatomy import Spine
from .physics import Texture, acquire, coil_profile, to_12bit
from .render import Canvas
from .torso import back_y, paint_torso
from .vertebrae import paint_spine

COVERED_MM = 4.0   # a label point further than this from every slice of its view is not labelled
SLAB = (-0.25, 0.25)   # sample planes across the slice thickness (partial volume), in thicknesses
TORSO_COARSE = 2       # the body around the spine is painted at 1/2 the acquisition matrix, then resampled


def paint_slab(sp: Spine, plan: SeriesPlan, i: int, texture: Texture, rng: np.random.Generator):
    """Signal of slice i at the acquisition matrix (the slab's planes averaged, then textured), and
    the patient coordinates of its pixels."""
    iop = plan.orientations[i]
    row, col = iop[:3], iop[3:]
    step = plan.rows * plan.spacing / plan.acq
    origin = plan.positions[i] + (step - plan.spacing) / 2 * (row + col)   # centre of the first acquired pixel
    centre = Canvas(origin, row, col, step, (plan.acq, plan.acq), plan.seq, sp.tissue_gain, 1.0)
    shape, xyz = centre.coords()
    X, Y, Z = (np.broadcast_to(a, shape)[0] for a in xyz)
    field = texture.sample(X, Y, Z, shape[1:])
    grain = gaussian_filter(rng.standard_normal(shape[1:], dtype=np.float32), 0.7)   # sub-millimetre texture
    grain *= np.float32(0.7 / max(float(grain.std()), 1e-6))
    # Large, smooth structures: one coarse plane stands for the whole slab.
    n = -(-plan.acq // TORSO_COARSE)
    k = TORSO_COARSE
    torso = Canvas(origin + (k - 1) / 2 * step * (row + col), row, col, step * k, (n, n), plan.seq, sp.tissue_gain,
                   0.5 * step * k)
    paint_torso(torso, sp, field[::k, ::k][:n, :n])
    canvas = Canvas(origin, row, col, step, (plan.acq, plan.acq), plan.seq, sp.tissue_gain, 0.5 * step,
                    tuple(f * plan.thickness for f in SLAB))
    canvas.img[:] = _upsample(torso.img[0], k, plan.acq)
    canvas.tex[:] = _upsample(torso.tex[0], k, plan.acq)
    paint_spine(canvas, sp)
    img, tex = canvas.img.mean(axis=0), canvas.tex.mean(axis=0)
    return np.maximum(img * (1.0 + tex * (field + grain)), 0.0), (X, Y, Z)


def _upsample(img: np.ndarray, k: int, n: int) -> np.ndarray:
    """Bilinear k-fold upsampling of a coarse grid whose pixel centres sit at k-pixel block centres."""
    m = img.shape[0]
    at = (np.arange(n, dtype=np.float32) - (k - 1) / 2) / k
    i0 = np.clip(np.floor(at).astype(int), 0, m - 1)
    i1 = np.clip(i0 + 1, 0, m - 1)
    w = np.clip(at - i0, 0, 1)[:, None].astype(np.float32)
    rows = img[i0] * (1 - w) + img[i1] * w
    return rows[:, i0] * (1 - w.T) + rows[:, i1] * w.T


def render_series(rng: np.random.Generator, sp: Spine, plan: SeriesPlan, noise: float,
                  texture: Texture | None = None) -> list[np.ndarray]:
    """12-bit pixel arrays of every slice of a series, in spatial order."""
    texture = texture or Texture(rng, sp)
    # Vendor and protocol: the stored scale, the contrast curve (TR/TE choices bend it) and the SNR.
    peak = float(np.exp(rng.uniform(np.log(400), np.log(1100))))
    gamma = rng.uniform(0.75, 1.3)
    noise_sd = noise * peak * rng.uniform(0.6, 1.6)
    coil = coil_profile(rng, sp, float(back_y(sp, sp.disc_z(2))))
    out = []
    for i in range(len(plan.positions)):
        signal, (X, Y, Z) = paint_slab(sp, plan, i, texture, rng)
        signal = signal ** np.float32(gamma) * np.broadcast_to(coil(Y, Z), signal.shape) * np.float32(peak)
        out.append(to_12bit(acquire(signal, rng, (plan.rows, plan.cols), plan.phase_lines, plan.phase_axis,
                                    noise_sd)))
    return out


def label_points(sp: Spine, plans: list[SeriesPlan], grades: dict[str, int]) -> list[dict]:
    """One point per graded cell whose view was acquired, on the slice nearest to the anatomy."""
    rows = []
    for g in GROUPS.values():
        candidates = [p for p in plans if p.view == g.view]
        for column in g.classes:
            if grades.get(column, -1) < 0 or not candidates:
                continue
            point = sp.label_point(column)
            best = min((p.project(point) + (p,) for p in candidates), key=lambda t: t[3])
            i, x, y, dist, plan = best
            if not (0 <= x < plan.cols and 0 <= y < plan.rows) or dist > COVERED_MM:
                continue
            rows.append({"series_id": plan.series_id, "instance_number": plan.instance_number(i),
                         "column": column, "x": round(x, 3), "y": round(y, 3)})
    return rows


__all__ = ["SeriesPlan", "plan_series", "render_series", "label_points", "LEVELS"]
