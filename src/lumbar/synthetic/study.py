"""One synthetic study: rendered slices and label points on the planes the scanner chose (acquisition).

A label point is placed in patient space at the anatomy, then projected onto the slice whose own
plane lies nearest (every slice may have its own orientation), so points and images agree by
construction. A point further than a slice step from every slice (a level the axial blocks skipped)
is not labelled on that view, as a radiologist could not click it.
"""
from __future__ import annotations

import numpy as np

from ..vocabulary import AXIAL_T2, GROUPS, LEVELS, SAGITTAL_T1, SAGITTAL_T2
from .acquisition import SeriesPlan, plan_series
from .anatomy import Spine
from .render import AX, T1, T2, Canvas, finish, paint_spine

SEQ_OF_VIEW = {SAGITTAL_T1: T1, SAGITTAL_T2: T2, AXIAL_T2: AX}
COVERED_MM = 4.0   # a label point further than this from every slice of its view is not labelled


def render_series(rng: np.random.Generator, sp: Spine, plan: SeriesPlan, noise: float) -> list[np.ndarray]:
    """12-bit pixel arrays of every slice of a series, in spatial order."""
    peak = rng.uniform(1400, 2600)
    out = []
    for i in range(len(plan.positions)):
        iop = plan.orientations[i]
        canvas = Canvas(plan.positions[i], iop[:3], iop[3:], plan.spacing, (plan.rows, plan.cols),
                        SEQ_OF_VIEW[plan.view], sp.tissue_gain, edge=0.6 * max(plan.spacing, 0.5))
        paint_spine(canvas, sp)
        out.append(finish(canvas.img, rng, noise, peak))
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
