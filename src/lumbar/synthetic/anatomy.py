"""One study's lumbar spine in patient space (DICOM LPS, mm): where each structure is, and how narrow.

x grows to the patient's left, y to posterior, z to the head. Vertebral bodies L1–L5 and the sacrum
sit on a lordotic curve; discs lie between them. The canal runs behind the bodies; the neural foramina
open laterally at each disc level; the subarticular recesses are the canal's lateral corners there.
The severities (0–1 per cell, from grades.severity) narrow exactly these structures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..vocabulary import LABEL_COLUMNS, LEVELS

N_LEVELS = len(LEVELS)


@dataclass
class Spine:
    scale: float
    body_h: float
    disc_h: np.ndarray          # (5,) disc heights, L1/L2..L5/S1
    depth: float                # AP depth of a vertebral body
    width: float                # left-right width of a vertebral body
    z_top: float                # top of L1
    y0: float                   # AP position of the body centre line at the top
    lordosis: float             # mm of anterior bow at mid-lumbar
    canal_ap: float
    canal_w: float
    severity: dict[str, float]  # train.csv column -> 0..1 narrowing shown in the images
    tissue_gain: np.ndarray     # per-tissue contrast jitter
    torso_a: float              # half-width of the torso (x)
    torso_b: float              # half-depth of the torso (y)

    # --- levels along z --------------------------------------------------------------------
    def body_span(self, k: int) -> tuple[float, float]:
        """(bottom, top) z of vertebral body k (0 = L1 … 4 = L5)."""
        top = self.z_top - k * self.body_h - float(np.sum(self.disc_h[:k]))
        return top - self.body_h, top

    def disc_z(self, j: int) -> float:
        """z of the centre of disc j (0 = L1/L2 … 4 = L5/S1)."""
        return self.body_span(j)[0] - self.disc_h[j] / 2

    def sacrum_top(self) -> float:
        return self.disc_z(N_LEVELS - 1) - self.disc_h[-1] / 2

    def y_centre(self, z: np.ndarray | float) -> np.ndarray | float:
        """AP centre of the vertebral column at height z: a lordotic bow, the sacrum tipping back."""
        mid = (self.z_top + self.sacrum_top()) / 2
        half = (self.z_top - self.sacrum_top()) / 2
        u = (np.asarray(z, dtype=float) - mid) / half
        bow = -self.lordosis * (1 - np.clip(u, -1.6, 1.2) ** 2)
        return self.y0 + bow + np.where(u < -1, 25.0 * (-1 - u), 0.0)

    def canal_y(self, z: np.ndarray | float) -> np.ndarray | float:
        return self.y_centre(z) + self.depth / 2 + self.canal_ap / 2 + 1.0

    # --- the lordotic tilt: each disc and body lies perpendicular to the curve -----------------
    def angle_at(self, z: float) -> float:
        """Tilt (radians) of the spine's axis at height z from the patient's z axis, towards posterior."""
        return float(np.arctan((self.y_centre(z + 0.5) - self.y_centre(z - 0.5)) / 1.0))

    def disc_angle(self, j: int) -> float:
        return self.angle_at(self.disc_z(j))

    def disc_frame(self, j: int) -> tuple[float, float, float]:
        """(y, z, angle) of disc j's centre line: the level is painted upright in this frame."""
        z = self.disc_z(j)
        return float(self.y_centre(z)), z, self.disc_angle(j)

    def body_frame(self, k: int) -> tuple[float, float, float]:
        """(y, z, angle) of vertebral body k's centre (k = N_LEVELS is the sacrum's top segment)."""
        z0, z1 = self.body_span(k) if k < N_LEVELS else (self.sacrum_top() - 60, self.sacrum_top())
        z = (z0 + z1) / 2
        return float(self.y_centre(z)), z, self.angle_at(z)

    # --- label points in patient space -------------------------------------------------------
    def foramen_x(self, side: str) -> float:
        return (1 if side == "left" else -1) * (self.canal_w / 2 + 6.5 * self.scale)

    def foramen_centre(self, j: int, side: str) -> np.ndarray:
        z = self.disc_z(j) + 0.35 * self.body_h
        return np.array([self.foramen_x(side), self.y_centre(z) + self.depth / 2 + 4.0, z])

    def recess_centre(self, j: int, side: str) -> np.ndarray:
        z = self.disc_z(j)
        x = (1 if side == "left" else -1) * (self.canal_w / 2 - 3.0)
        return np.array([x, self.canal_y(z) - self.canal_ap / 2 + 4.0, z])

    def canal_centre(self, j: int) -> np.ndarray:
        z = self.disc_z(j)
        return np.array([0.0, self.canal_y(z), z])

    def label_point(self, column: str) -> np.ndarray:
        """Where a radiologist would click for this train.csv column, in patient space.

        The centres above are in the level's upright frame (where the level is painted); the point
        is mapped through the disc's tilt, exactly as the painter maps the structure.
        """
        lv = column[-5:]
        j = LEVELS.index(lv)
        side = "left" if column.startswith("left") else "right"
        if column.startswith("spinal"):
            p = self.canal_centre(j)
        elif "foraminal" in column:
            p = self.foramen_centre(j, side)
        else:
            p = self.recess_centre(j, side)
        return upright_to_patient(p, *self.disc_frame(j))


def upright_to_patient(p: np.ndarray, cy: float, cz: float, angle: float) -> np.ndarray:
    """A point of a level's upright frame in patient space: turned by `angle` about the x axis through
    (cy, cz), so the upright z axis follows the spine's tilt there."""
    a, h = p[1] - cy, p[2] - cz
    c, s = np.cos(angle), np.sin(angle)
    return np.array([p[0], cy + a * c + h * s, cz - a * s + h * c])


def patient_to_upright(X, Y, Z, cy: float, cz: float, angle: float):
    """Inverse of upright_to_patient, on arrays (the painter's coordinates)."""
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    dy, dz = Y - np.float32(cy), Z - np.float32(cz)
    return X, np.float32(cy) + dy * c - dz * s, np.float32(cz) + dy * s + dz * c


def sample_spine(rng: np.random.Generator, severity: np.ndarray) -> Spine:
    """A random, plausible spine whose narrowing follows `severity` ((25,), LABEL_COLUMNS order)."""
    s = rng.uniform(0.9, 1.1)
    sev = {c: float(v) for c, v in zip(LABEL_COLUMNS, severity)}
    # Degenerate discs lose height where their canal is narrow.
    disc_h = np.array([9.0 * s * (1 - 0.35 * sev[f"spinal_canal_stenosis_{lv}"]) * rng.uniform(0.9, 1.1)
                       for lv in LEVELS])
    body_h = 26.0 * s
    span = 5 * body_h + disc_h.sum()
    return Spine(scale=s, body_h=body_h, disc_h=disc_h, depth=34.0 * s, width=44.0 * s,
                 z_top=span / 2 + rng.uniform(-12, 12), y0=rng.uniform(-8, 8), lordosis=rng.uniform(4, 14),
                 canal_ap=15.0 * s, canal_w=22.0 * s, severity=sev, tissue_gain=rng.uniform(0.9, 1.1, 16),
                 torso_a=rng.uniform(140, 170), torso_b=rng.uniform(95, 120))
