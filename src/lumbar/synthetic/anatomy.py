"""One study's lumbar spine in patient space (DICOM LPS, mm): where each structure is, and how narrow.

x grows to the patient's left, y to posterior, z to the head. Vertebral bodies L1–L5 and the sacrum
sit on a lordotic curve with a mild scoliotic bow; discs lie between them. The canal runs behind the
bodies; the neural foramina open laterally at each disc level; the subarticular recesses are the
canal's lateral corners there. The severities (0–1 per cell, from grades.severity) narrow exactly these
structures. The body around the spine (fat, muscles, abdomen, vessels) varies independently of the grades.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..vocabulary import LABEL_COLUMNS, LEVELS

N_LEVELS = len(LEVELS)
THORACIC = 3          # T12, T11, T10 above L1: a reader (and the detector) must count from the sacrum
THORACIC_DISC = 6.5   # mm (times the spine's scale)


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
    scoliosis: float = 0.0      # mm of lateral bow at mid-lumbar
    fat: float = 20.0           # subcutaneous fat thickness
    back: float = 45.0          # depth of the back muscles behind the laminae
    belly: float = 110.0        # depth of the abdomen in front of the bodies
    concavity: float = 1.4      # endplate concavity (mm)
    aorta: tuple = (14.0, 10.0)  # (x, radius) of the aorta in front of the bodies
    cord_tip: float = 0.0       # z of the conus medullaris' tip
    roots: np.ndarray | None = None    # (k, 2) cauda equina roots: x, y offsets in the sac (fractions)
    listhesis: tuple = (-1, 0.0)       # (body index, anterior shift mm): a slipped vertebra, or none
    modic: np.ndarray | None = None    # (5,) endplate signal change per disc, -1..1 (0 = none)
    disc_age: np.ndarray | None = None  # (THORACIC + 5,) nucleus signal lost with age, T10/T11..L5/S1,
    #                                    independent of the grades (real lumbar discs are often dark)

    # --- levels along z --------------------------------------------------------------------
    def body_span(self, k: int) -> tuple[float, float]:
        """(bottom, top) z of vertebral body k (0 = L1 … 4 = L5; -1 = T12 … -THORACIC above L1)."""
        if k < 0:
            top = self.z_top
            for i in range(1, -k + 1):
                bottom = top + THORACIC_DISC * self.scale
                top = bottom + self.body_h * (0.93 - 0.04 * i)
            return bottom, top
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
        z = np.asarray(z, dtype=np.float32 if isinstance(z, np.ndarray) and z.dtype == np.float32 else float)
        u = (z - z.dtype.type(mid)) / z.dtype.type(half)
        bow = (1 - np.clip(u, -1.6, 1.2) ** 2) * z.dtype.type(-self.lordosis)
        return bow + z.dtype.type(self.y0) + np.maximum(-1 - u, 0) * z.dtype.type(25.0)

    def x_centre(self, z: np.ndarray | float) -> np.ndarray | float:
        """Left-right centre of the column at height z: a mild scoliotic bow, zero at the sacrum."""
        mid = (self.z_top + self.sacrum_top()) / 2
        half = (self.z_top - self.sacrum_top()) / 2
        u = np.clip((np.asarray(z, dtype=float) - mid) / half, -1.0, 1.0)
        return self.scoliosis * (1 - u ** 2)

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
        z0, z1 = self.body_span(k) if k < N_LEVELS else (self.sacrum_top() - 30, self.sacrum_top())
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
        is mapped through the disc's tilt and the scoliotic shift, exactly as the painter maps the structure.
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
        out = upright_to_patient(p, *self.disc_frame(j))
        out[0] += float(self.x_centre(self.disc_z(j)))
        return out


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
    """A random, plausible spine whose narrowing follows `severity` ((25,), LABEL_COLUMNS order).

    The grade-linked part (disc height, and through the painter bulge, flavum, facets, foramina) is drawn
    first; habitus (fat, muscle, belly, scoliosis, a rare listhesis) is independent of the grades.
    """
    s = rng.uniform(0.9, 1.1)
    sev = {c: float(v) for c, v in zip(LABEL_COLUMNS, severity)}
    spinal = np.array([sev[f"spinal_canal_stenosis_{lv}"] for lv in LEVELS])
    # Degenerate discs lose height where their canal is narrow.
    disc_h = 9.0 * s * (1 - 0.35 * spinal) * rng.uniform(0.9, 1.1, N_LEVELS)
    body_h = 26.0 * s
    span = 5 * body_h + disc_h.sum()
    sp = Spine(scale=s, body_h=body_h, disc_h=disc_h, depth=34.0 * s, width=44.0 * s,
               z_top=span / 2 + rng.uniform(-12, 12), y0=rng.uniform(-8, 8), lordosis=rng.uniform(4, 14),
               canal_ap=15.0 * s, canal_w=22.0 * s, severity=sev,
               tissue_gain=np.exp(rng.normal(0.0, 0.2, 24)), torso_a=rng.uniform(140, 175),
               torso_b=rng.uniform(95, 120))
    sp.scoliosis = float(np.clip(rng.normal(0.0, 3.0), -8.0, 8.0))
    sp.fat, sp.back, sp.belly = rng.uniform(8, 38), rng.uniform(38, 58), rng.uniform(80, 150)
    sp.concavity = rng.uniform(0.8, 2.0)
    sp.aorta = (rng.uniform(8, 18), rng.uniform(8, 12))
    sp.cord_tip = sp.body_span(0)[1] - rng.uniform(0.2, 1.1) * body_h
    k = int(rng.integers(7, 12))
    sp.roots = np.column_stack([rng.uniform(-0.6, 0.6, k), rng.uniform(-0.1, 0.6, k)])
    if rng.random() < 0.05:
        sp.listhesis = (int(rng.integers(3, 5)), rng.uniform(3, 7))
    sp.modic = np.where(rng.random(N_LEVELS) < 0.6 * spinal, rng.choice([-1.0, 1.0], N_LEVELS), 0.0) * spinal
    # Age: a study-wide loss of disc signal, more in the lower discs, on top of the grade-linked one.
    age = rng.uniform(0.0, 0.7)
    sp.disc_age = np.clip(age * np.linspace(0.6, 1.2, THORACIC + N_LEVELS)
                          + rng.normal(0.0, 0.12, THORACIC + N_LEVELS), 0.0, 0.85)
    return sp
