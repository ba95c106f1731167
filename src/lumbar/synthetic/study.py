"""One synthetic study: its series planes, rendered slices, label points and quirks.

Series geometry is real DICOM geometry in one patient frame: sagittal slices are planes x = const with
ImageOrientationPatient (0,1,0, 0,0,-1); axial slices are planes z = const through each disc with
(1,0,0, 0,1,0). A label point is placed in patient space at the anatomy, then projected onto the nearest
slice, so points and images agree by construction.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .anatomy import N_LEVELS, Spine
from .render import AX, T1, T2, Canvas, finish, paint_spine
from ..vocabulary import AXIAL_T2, GROUPS, LEVELS, SAGITTAL_T1, SAGITTAL_T2

SEQ_OF_VIEW = {SAGITTAL_T1: T1, SAGITTAL_T2: T2, AXIAL_T2: AX}
SAG_IOP = np.array([0.0, 1.0, 0.0, 0.0, 0.0, -1.0])
AX_IOP = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


@dataclass
class SeriesPlan:
    series_id: int
    view: str
    rows: int
    cols: int
    spacing: float                       # in-plane mm (square pixels)
    thickness: float
    iop: np.ndarray                      # (6,)
    positions: list[np.ndarray]          # IPP per slice, in spatial order
    reversed_numbers: bool = False
    rle: list[bool] = field(default_factory=list)

    def instance_number(self, i: int) -> int:
        n = len(self.positions)
        return n - i if self.reversed_numbers else i + 1

    def project(self, point: np.ndarray) -> tuple[int, float, float, float]:
        """(slice index, x pixel, y pixel, distance to that slice in mm) of a patient point."""
        r, c = self.iop[:3], self.iop[3:]
        n = np.cross(r, c)
        dist = [abs(float(np.dot(point - p, n))) for p in self.positions]
        i = int(np.argmin(dist))
        d = point - self.positions[i]
        return i, float(np.dot(d, r) / self.spacing), float(np.dot(d, c) / self.spacing), dist[i]


def _sagittal(rng, sp: Spine, view: str, series_id: int, scale: float) -> SeriesPlan:
    size = int(round(rng.choice([320, 352, 384]) * scale / 8) * 8)
    spacing = rng.uniform(0.58, 0.7) / scale   # field of view 185-270 mm: L1 to S1 always inside
    n = int(rng.integers(15, 18))
    gap = rng.uniform(3.8, 4.4)
    x0 = rng.uniform(-2.5, 2.5)
    fov = size * spacing
    ymid = sp.y_centre(sp.disc_z(2)) + sp.depth / 2 + rng.uniform(-8, 8)
    zmid = sp.disc_z(2) + 4 + rng.uniform(-6, 6)
    xs = x0 + (np.arange(n) - (n - 1) / 2) * gap
    xs = xs[::-1]   # spatial order along the normal (-x): patient left first
    pos = [np.array([x, ymid - fov / 2, zmid + fov / 2]) for x in xs]
    return SeriesPlan(series_id, view, size, size, spacing, gap - 0.4, SAG_IOP.copy(), pos)


def _axial(rng, sp: Spine, series_id: int, levels: list[int], scale: float) -> SeriesPlan:
    size = int(round(rng.choice([288, 320, 352]) * scale / 8) * 8)
    spacing = rng.uniform(0.42, 0.5) / scale
    fov = size * spacing
    per = int(rng.integers(3, 5))
    pos = []
    for j in levels:
        zd = sp.disc_z(j)
        yc = sp.canal_y(zd) - 18 + rng.uniform(-5, 5)
        for k in range(per):
            z = zd + (k - (per - 1) / 2) * 4.0 + rng.uniform(-0.8, 0.8)
            pos.append(np.array([rng.uniform(-3, 3) - fov / 2, yc - fov / 2, z]))
    pos.sort(key=lambda p: p[2])   # spatial order along the normal (+z): feet first
    return SeriesPlan(series_id, AXIAL_T2, size, size, spacing, 4.0, AX_IOP.copy(), pos)


def plan_series(rng: np.random.Generator, sp: Spine, cfg) -> list[SeriesPlan]:
    """The study's series: T1 and T2 sagittal, one or two axial stacks; quirks drawn at cfg's rates."""
    ids = sorted(10_000_000 + int(v) for v in rng.choice(3_990_000_000, 4, replace=False))
    scale = float(cfg["image_scale"])
    plans = [_sagittal(rng, sp, SAGITTAL_T1, ids[0], scale), _sagittal(rng, sp, SAGITTAL_T2, ids[1], scale)]
    if rng.random() < float(cfg["multi_axial_share"]):
        plans += [_axial(rng, sp, ids[2], [0, 1, 2], scale), _axial(rng, sp, ids[3], [2, 3, 4], scale)]
    else:
        plans.append(_axial(rng, sp, ids[2], list(range(N_LEVELS)), scale))
    if rng.random() < float(cfg["missing_series_share"]):
        plans.pop(int(rng.integers(len(plans))))
    order = rng.permutation(len(plans))
    plans = [plans[i] for i in sorted(order)]
    for p in plans:
        p.reversed_numbers = bool(rng.random() < float(cfg["reversed_instance_share"]))
        p.rle = list(rng.random(len(p.positions)) < float(cfg["rle_share"]))
    return plans


def render_series(rng: np.random.Generator, sp: Spine, plan: SeriesPlan, noise: float) -> list[np.ndarray]:
    """12-bit pixel arrays of every slice of a series, in spatial order."""
    peak = rng.uniform(1400, 2600)
    out = []
    for i in range(len(plan.positions)):
        canvas = Canvas(plan.positions[i], plan.iop[:3], plan.iop[3:], plan.spacing, (plan.rows, plan.cols),
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
            i, x, y, _, plan = best
            if not (0 <= x < plan.cols and 0 <= y < plan.rows):
                continue
            rows.append({"series_id": plan.series_id, "instance_number": plan.instance_number(i),
                         "column": column, "x": round(x, 3), "y": round(y, 3)})
    return rows


__all__ = ["SeriesPlan", "plan_series", "render_series", "label_points", "LEVELS"]
