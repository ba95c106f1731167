"""The scanner: where each series' slices lie, as real lumbar MRI acquires them.

Every slice has its own plane (ImagePositionPatient, ImageOrientationPatient) in one patient frame:

- Every series has a sequence (T1, T2, STIR for a share of the Sagittal T2/STIR series, axial T2) and an
  acquisition matrix coarser than the stored one, with fewer phase-encoding lines than frequency ones
  (physics.acquire turns that into Gibbs ringing and correlated noise).
- Sagittal T1 and T2/STIR: the patient is never perfectly aligned, so the stack is turned by a small
  random rotation (`sagittal_tilt_deg`), ImageOrientationPatient off the axes. T1 and T2 differ in
  slice count, and studies in field of view, matrix (256-768 px), pixel spacing (0.5-0.9 mm) and
  slice thickness (3-4.5 mm).
- Axial T2: in a share of studies (`axial_block_share`) one block of 3-6 slices per disc, each block
  perpendicular to its own disc (so the tilt follows the lordosis), blocks in one series, a level
  sometimes skipped (`axial_skip_share`); otherwise one continuous stack over the lumbar discs, tilted
  by a few degrees (`axial_tilt_deg`). Some studies keep two axial series (`multi_axial_share`).

Everything is drawn from the study's own random stream, so the same seed gives the same planes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..vocabulary import AXIAL_T2, SAGITTAL_T1, SAGITTAL_T2
from .anatomy import N_LEVELS, Spine
from .render import AX, STIR, T1, T2

SAG_ROW, SAG_COL = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])  # columns anterior->posterior, rows down
AX_ROW, AX_COL = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])     # columns right->left, rows anterior->posterior


@dataclass
class SeriesPlan:
    """One series: image size and spacing, and each slice's plane, in the order the slices are written."""

    series_id: int
    view: str
    rows: int
    cols: int
    spacing: float                       # in-plane mm (square pixels)
    thickness: float
    positions: list[np.ndarray]          # ImagePositionPatient per slice
    orientations: list[np.ndarray]       # ImageOrientationPatient (6,) per slice
    blocks: list[int] = field(default_factory=list)   # which block (stack) each slice belongs to
    reversed_numbers: bool = False
    rle: list[bool] = field(default_factory=list)
    seq: str = T2                        # pulse sequence: render.T1, T2, STIR or AX
    acq: int = 256                       # acquisition matrix (frequency lines), painted at fov / acq
    phase_lines: int = 256               # phase-encoding lines kept (<= acq)
    phase_axis: int = 0                  # 0: phase along image rows' direction (down), 1: along columns

    def instance_number(self, i: int) -> int:
        n = len(self.positions)
        return n - i if self.reversed_numbers else i + 1

    def project(self, point: np.ndarray) -> tuple[int, float, float, float]:
        """(slice index, x pixel, y pixel, distance to that slice in mm) of a patient point, on the
        slice whose own plane lies nearest."""
        best = None
        for i, (pos, iop) in enumerate(zip(self.positions, self.orientations)):
            r, c = iop[:3], iop[3:]
            d = np.asarray(point, float) - pos
            dist = abs(float(np.dot(d, np.cross(r, c))))
            if best is None or dist < best[3]:
                best = (i, float(np.dot(d, r) / self.spacing), float(np.dot(d, c) / self.spacing), dist)
        return best


def rotation(rng: np.random.Generator, sd_deg: float) -> np.ndarray:
    """A small random rotation: about each axis by N(0, sd) degrees, clipped at 2.5 sd."""
    a = np.radians(np.clip(rng.normal(0.0, sd_deg, 3), -2.5 * sd_deg, 2.5 * sd_deg)) if sd_deg > 0 else np.zeros(3)
    cx, sx, cy, sy, cz, sz = np.cos(a[0]), np.sin(a[0]), np.cos(a[1]), np.sin(a[1]), np.cos(a[2]), np.sin(a[2])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _plane(centre: np.ndarray, row: np.ndarray, col: np.ndarray, size: int, spacing: float) -> tuple:
    """(IPP, IOP) of a size x size image centred on `centre` with these directions."""
    ipp = centre - (size / 2) * spacing * row - (size / 2) * spacing * col
    return ipp, np.concatenate([row, col])


def _size(rng: np.random.Generator, fov: float, lo: float, hi: float, scale: float) -> tuple[int, float]:
    """(matrix, spacing): spacing in [lo, hi] mm, matrix a multiple of 16 in 256..768, times `scale`."""
    size = int(np.clip(round(fov / rng.uniform(lo, hi) / 16) * 16, 256, 768))
    spacing = float(np.clip(fov / size, lo, hi))
    scaled = max(32, int(round(size * scale / 8) * 8))   # tests shrink the images, same field of view
    return scaled, spacing * size / scaled


def _matrix(rng: np.random.Generator, plan: SeriesPlan, lo: float, hi: float, scale: float, phase_axis: int):
    """Draw the acquisition matrix (pixels of lo..hi mm, never finer than the stored image) and phase lines."""
    fov = plan.rows * plan.spacing
    acq = int(np.clip(round(fov / rng.uniform(lo, hi) / 16) * 16, 160, 448))
    plan.acq = min(plan.rows, max(32, int(round(acq * scale / 8) * 8)))
    plan.phase_lines = int(round(plan.acq * rng.uniform(0.7, 1.0)))
    plan.phase_axis = phase_axis
    return plan


def sagittal(rng: np.random.Generator, sp: Spine, view: str, series_id: int, cfg) -> SeriesPlan:
    scale = float(cfg["image_scale"])
    fov = rng.uniform(240, 330)                    # L1 to S1 always inside, often T11 to the coccyx
    size, spacing = _size(rng, fov, 0.5, 0.9, scale)
    n = int(rng.integers(15, 20) if view == SAGITTAL_T1 else rng.integers(13, 18))
    thickness = rng.uniform(3.0, 4.5)
    gap = thickness + rng.uniform(0.0, 0.5)
    rot = rotation(rng, float(cfg["sagittal_tilt_deg"]))
    row, col = rot @ SAG_ROW, rot @ SAG_COL
    normal = np.cross(row, col)
    centre = np.array([sp.x_centre(sp.disc_z(2)) + rng.uniform(-2.5, 2.5), sp.y_centre(sp.disc_z(2)) + sp.depth / 2 + rng.uniform(-8, 8),
                       sp.disc_z(2) + 4 + rng.uniform(-20, 20)])
    planes = [_plane(centre + (i - (n - 1) / 2) * gap * normal, row, col, size, spacing) for i in range(n)]
    seq = T1 if view == SAGITTAL_T1 else (STIR if rng.random() < float(cfg["stir_share"]) else T2)
    plan = SeriesPlan(series_id, view, size, size, spacing, thickness, [p for p, _ in planes],
                      [o for _, o in planes], [0] * n, seq=seq)
    return _matrix(rng, plan, 0.85, 1.3, scale, 0 if rng.random() < 0.8 else 1)


def _axial_size(rng: np.random.Generator, scale: float) -> tuple[int, float]:
    fov = rng.uniform(160, 210)
    size = int(round(rng.choice([288, 320, 352]) * scale / 8) * 8)
    return size, fov / size


def _axial_frame(rng: np.random.Generator, tilt: float, sd_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of an axial plane whose normal leans by `tilt` (radians) towards posterior, plus a little
    random yaw and roll."""
    lean = np.array([[1, 0, 0], [0, np.cos(tilt), np.sin(tilt)], [0, -np.sin(tilt), np.cos(tilt)]])
    rot = rotation(rng, sd_deg) @ lean
    return rot @ AX_ROW, rot @ AX_COL


def _image_centre(rng: np.random.Generator, sp: Spine, z: float) -> np.ndarray:
    """Axial images are centred a little anterior of the canal at height z."""
    return np.array([sp.x_centre(z) + rng.uniform(-3, 3), sp.canal_y(z) - 18 + rng.uniform(-5, 5), z])


def axial_blocks(rng: np.random.Generator, sp: Spine, series_id: int, levels: list[int], cfg) -> SeriesPlan:
    """One block of 3-6 slices per disc, each perpendicular to its disc; a level may be skipped."""
    size, spacing = _axial_size(rng, float(cfg["image_scale"]))
    thickness = rng.uniform(3.5, 4.5)
    gap = thickness + rng.uniform(0.0, 0.4)
    if len(levels) > 2 and rng.random() < float(cfg["axial_skip_share"]):
        levels = [lv for lv in levels if lv != levels[int(rng.integers(1, len(levels)))]]
    positions, orientations, blocks = [], [], []
    for b, j in enumerate(sorted(levels, reverse=True)):        # feet first: L5/S1's block first
        row, col = _axial_frame(rng, sp.disc_angle(j) + np.radians(rng.normal(0, 1.5)), 1.0)
        normal = np.cross(row, col)
        k = int(rng.integers(3, 7))
        centre = _image_centre(rng, sp, sp.disc_z(j)) + rng.uniform(-1.5, 1.5) * normal
        for i in range(k):
            ipp, iop = _plane(centre + (i - (k - 1) / 2) * gap * normal, row, col, size, spacing)
            positions.append(ipp)
            orientations.append(iop)
            blocks.append(b)
    plan = SeriesPlan(series_id, AXIAL_T2, size, size, spacing, thickness, positions, orientations, blocks, seq=AX)
    return _matrix(rng, plan, 0.6, 0.9, float(cfg["image_scale"]), int(rng.integers(2)))


def axial_stack(rng: np.random.Generator, sp: Spine, series_id: int, levels: list[int], cfg) -> SeriesPlan:
    """One continuous stack from above the highest to below the lowest of `levels`, tilted a few degrees."""
    size, spacing = _axial_size(rng, float(cfg["image_scale"]))
    thickness = rng.uniform(3.5, 4.5)
    gap = thickness + rng.uniform(0.2, 1.0)
    row, col = _axial_frame(rng, np.radians(rng.normal(0, float(cfg["axial_tilt_deg"]))), 1.0)
    normal = np.cross(row, col)
    top, bottom = sp.disc_z(min(levels)) + 10, sp.disc_z(max(levels)) - 10
    n = int(np.ceil((top - bottom) / gap)) + 1
    centre = _image_centre(rng, sp, (top + bottom) / 2)
    planes = [_plane(centre + (i - (n - 1) / 2) * gap * normal, row, col, size, spacing) for i in range(n)]
    plan = SeriesPlan(series_id, AXIAL_T2, size, size, spacing, thickness, [p for p, _ in planes],
                      [o for _, o in planes], [0] * n, seq=AX)
    return _matrix(rng, plan, 0.6, 0.9, float(cfg["image_scale"]), int(rng.integers(2)))


def plan_series(rng: np.random.Generator, sp: Spine, cfg) -> list[SeriesPlan]:
    """The study's series: T1 and T2 sagittal, one or two axial series; quirks drawn at cfg's rates."""
    ids = sorted(10_000_000 + int(v) for v in rng.choice(3_990_000_000, 4, replace=False))
    plans = [sagittal(rng, sp, SAGITTAL_T1, ids[0], cfg), sagittal(rng, sp, SAGITTAL_T2, ids[1], cfg)]
    axial = axial_blocks if rng.random() < float(cfg["axial_block_share"]) else axial_stack
    if rng.random() < float(cfg["multi_axial_share"]):
        plans += [axial(rng, sp, ids[2], [0, 1, 2], cfg), axial(rng, sp, ids[3], [2, 3, 4], cfg)]
    else:
        plans.append(axial(rng, sp, ids[2], list(range(N_LEVELS)), cfg))
    if rng.random() < float(cfg["missing_series_share"]):
        plans.pop(int(rng.integers(len(plans))))
    for p in plans:
        p.reversed_numbers = bool(rng.random() < float(cfg["reversed_instance_share"]))
        p.rle = list(rng.random(len(p.positions)) < float(cfg["rle_share"]))
    return plans
