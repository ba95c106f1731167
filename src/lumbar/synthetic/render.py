"""The painter: tissues as smooth signed-distance shapes in patient space, painted on any slice plane.

Each structure is a signed distance function (mm, negative inside) evaluated on the plane's pixels and
painted with a soft edge over what lies below it, in order. A pixel carries two numbers: the tissue's
signal for the sequence, and how textured that tissue is (marrow speckled, muscle streaked with fat,
bowel heterogeneous); physics.py turns texture, partial volume, the acquisition matrix, coil and noise
into the stored image.
"""
from __future__ import annotations

import numpy as np

from .anatomy import patient_to_upright, upright_to_patient

T1, T2, STIR, AX = "t1", "t2", "stir", "ax"
SEQ_INDEX = {T1: 0, T2: 1, STIR: 2, AX: 3}
# Relative signal as on real lumbar scans: fat and marrow bright on T1, CSF and fluid bright on T2 and
# STIR, fat suppressed on STIR, cortical bone, ligaments and flowing blood dark everywhere. Last: texture.
#                T1    T2    STIR  axT2  texture
TISSUE = {
    "fat":      (0.92, 0.78, 0.07, 0.76, 0.06),
    "epifat":   (0.86, 0.66, 0.07, 0.64, 0.06),
    "muscle":   (0.28, 0.25, 0.22, 0.25, 0.14),
    "marrow":   (0.72, 0.62, 0.15, 0.58, 0.16),
    "cortex":   (0.05, 0.04, 0.04, 0.04, 0.00),
    "ligament": (0.07, 0.05, 0.05, 0.05, 0.00),
    "nucleus":  (0.36, 0.80, 0.82, 0.74, 0.06),
    "annulus":  (0.24, 0.16, 0.18, 0.16, 0.05),
    "csf":      (0.13, 0.97, 0.98, 0.95, 0.02),
    "cord":     (0.40, 0.34, 0.36, 0.33, 0.03),
    "root":     (0.36, 0.26, 0.28, 0.26, 0.00),
    "flavum":   (0.22, 0.14, 0.16, 0.15, 0.02),
    "joint":    (0.20, 0.62, 0.70, 0.60, 0.05),
    "bowel":    (0.40, 0.42, 0.40, 0.40, 0.30),
    "organ":    (0.46, 0.36, 0.40, 0.38, 0.15),
    "kidney":   (0.38, 0.62, 0.66, 0.60, 0.12),
    "vessel":   (0.05, 0.07, 0.08, 0.07, 0.10),
    "skin":     (0.45, 0.35, 0.30, 0.35, 0.05),
}
TISSUE_INDEX = {k: i for i, k in enumerate(TISSUE)}


class Canvas:
    """An image being painted; knows the patient coordinates of its pixels, on a plane of any orientation.

    The canvas is a stack of parallel planes (`offsets`, mm along the normal) painted together: the
    sample planes across one slice's thickness (partial volume). Each structure is painted only inside
    the window of the image where the slab crosses its bounding box, which is what keeps rendering a
    whole data set within a few minutes.
    """

    def __init__(self, origin: np.ndarray, row_cos: np.ndarray, col_cos: np.ndarray, spacing: float,
                 shape: tuple[int, int], seq: str, gain: np.ndarray, edge: float, offsets=(0.0,)):
        self.o, self.r, self.c, self.sp = np.asarray(origin, float), np.asarray(row_cos, float), \
            np.asarray(col_cos, float), spacing
        self.n = np.cross(self.r, self.c)
        self.offsets = np.asarray(offsets, np.float32)
        self.seq, self.gain, self.edge = seq, gain, edge
        self.img = np.zeros((len(self.offsets), *shape), dtype=np.float32)
        self.tex = np.zeros_like(self.img)
        self._values = {t: v[SEQ_INDEX[seq]] * float(gain[TISSUE_INDEX[t]]) for t, v in TISSUE.items()}

    def value(self, tissue: str) -> float:
        return self._values[tissue]

    def _window(self, lo, hi) -> tuple[slice, slice] | None:
        """Rows and columns where the slab may cross the box lo..hi (mm, padded for the soft edge)."""
        h, w = self.img.shape[1:]
        pad = 2.0 + 3 * self.edge
        lo, hi = np.asarray(lo, float) - pad, np.asarray(hi, float) + pad
        d = np.where(_CORNERS, hi, lo) - self.o
        along = d @ self.n
        if along.min() > self.offsets.max() or along.max() < self.offsets.min():
            return None
        u, v = d @ self.r / self.sp, d @ self.c / self.sp       # columns, rows
        rows = max(0, int(np.floor(v.min()))), min(h, int(np.ceil(v.max())) + 1)
        cols = max(0, int(np.floor(u.min()))), min(w, int(np.ceil(u.max())) + 1)
        if rows[0] >= rows[1] or cols[0] >= cols[1]:
            return None
        return slice(*rows), slice(*cols)

    def coords(self, win: tuple[slice, slice] | None = None):
        """Patient X, Y, Z of the pixels of `win` (the whole image by default), broadcastable to
        (planes, rows, columns)."""
        h, w = self.img.shape[1:]
        win = win or (slice(0, h), slice(0, w))
        rr = np.arange(win[0].start, win[0].stop, dtype=np.float32)[None, :, None] * np.float32(self.sp)
        cc = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, None, :] * np.float32(self.sp)
        ss = self.offsets[:, None, None]
        out = []
        for k in range(3):
            a = np.float32(self.o[k])
            for vec, grid in ((self.r, cc), (self.c, rr), (self.n, ss)):
                if abs(vec[k]) > 1e-9 and (grid.size > 1 or grid.flat[0] != 0):
                    a = a + grid * np.float32(vec[k])
            out.append(a)
        return (len(self.offsets), rr.shape[1], cc.shape[2]), out

    def paint(self, tissue, lo, hi, dist_fn, texture: float | None = None) -> None:
        """Paint `tissue` (name, or a signal value) where dist_fn(X, Y, Z) < 0, inside the box lo..hi (mm)."""
        win = self._window(lo, hi)
        if win is None:
            return
        shape, (X, Y, Z) = self.coords(win)
        self._blend(tissue, dist_fn(X, Y, Z), shape, win, texture)

    def paint_distance(self, tissue, d: np.ndarray, texture: float | None = None) -> None:
        """Paint `tissue` where the precomputed distance d (over the whole canvas) is negative: for the
        large structures whose distances share terms (the body outline and its insets)."""
        h, w = self.img.shape[1:]
        self._blend(tissue, d, self.img.shape, (slice(0, h), slice(0, w)), texture)

    def _blend(self, tissue, d, shape, win, texture) -> None:
        if isinstance(tissue, str):
            v = self._values[tissue]
            t = TISSUE[tissue][-1] if texture is None else texture
        else:
            v, t = tissue, (0.05 if texture is None else texture)
        m = np.broadcast_to(np.clip(0.5 - d / (2.5 * self.edge), 0.0, 1.0), shape)
        sub, tex = self.img[:, win[0], win[1]], self.tex[:, win[0], win[1]]
        sub += (v - sub) * m
        tex += (t - tex) * m


_CORNERS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], bool)


class Upright:
    """Paints on a canvas in a level's upright frame: coordinates turned about the x axis through (cy, cz)
    by the spine's tilt there (anatomy.patient_to_upright) and shifted by the scoliotic bow `cx`, so a
    disc drawn flat lies along the curve."""

    def __init__(self, canvas: Canvas, cy: float, cz: float, angle: float, cx: float = 0.0):
        self.canvas, self.frame, self.cx, self.seq = canvas, (cy, cz, angle), np.float32(cx), canvas.seq
        c, s = np.cos(angle), np.sin(angle)
        self._rot = np.array([[1, 0, 0], [0, c, s], [0, -s, c]])
        self._shift = np.array([cx, cy - cy * c - cz * s, cz + cy * s - cz * c])

    def value(self, tissue: str) -> float:
        return self.canvas.value(tissue)

    def visible(self, lo, hi) -> bool:
        """Whether the slab crosses the upright box lo..hi at all (to skip a whole vertebra or level)."""
        corners = np.where(_CORNERS, np.asarray(hi, float), np.asarray(lo, float)) @ self._rot.T + self._shift
        return self.canvas._window(corners.min(axis=0), corners.max(axis=0)) is not None

    def paint(self, tissue, lo, hi, dist_fn, texture: float | None = None) -> None:
        corners = np.where(_CORNERS, np.asarray(hi, float), np.asarray(lo, float)) @ self._rot.T + self._shift
        self.canvas.paint(tissue, corners.min(axis=0), corners.max(axis=0),
                          lambda X, Y, Z: dist_fn(*patient_to_upright(X - self.cx, Y, Z, *self.frame)), texture)


# --- signed distances (mm, negative inside) ---------------------------------------------------------------
def ell(u, v, a, b):
    """Approximate signed distance to an ellipse of half-axes a, b."""
    return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * np.minimum(a, b)


def superell(u, v, a, b, p: float = 4.0):
    """Approximate signed distance to a superellipse (p = 2 an ellipse, larger: a rounded rectangle)."""
    return ((np.abs(u / a) ** p + np.abs(v / b) ** p) ** (1.0 / p) - 1.0) * np.minimum(a, b)


def band(Z, zc, h):
    return np.abs(Z - zc) - h / 2


def rounded(d1, d2, r: float = 3.0):
    """Intersection of two regions with its corners rounded by r mm."""
    a, b = d1 + r, d2 + r
    return np.sqrt(np.maximum(a, 0) ** 2 + np.maximum(b, 0) ** 2) + np.minimum(np.maximum(a, b), 0) - r


def capsule(X, Y, Z, p0, p1, r0: float, r1: float | None = None):
    """Distance to a tapered capsule from p0 (radius r0) to p1 (radius r1): processes, vessels, roots."""
    r1 = r0 if r1 is None else r1
    a, b = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
    ab = b - a
    t = np.clip(((X - a[0]) * ab[0] + (Y - a[1]) * ab[1] + (Z - a[2]) * ab[2]) / float(ab @ ab), 0.0, 1.0)
    dx, dy, dz = X - (a[0] + t * ab[0]), Y - (a[1] + t * ab[1]), Z - (a[2] + t * ab[2])
    return np.sqrt(dx * dx + dy * dy + dz * dz) - (r0 + (r1 - r0) * t)


def capsule_box(p0, p1, r: float):
    """Bounding box (lo, hi) of a capsule."""
    p = np.array([p0, p1], float)
    return p.min(axis=0) - r, p.max(axis=0) + r


def bone(c, lo, hi, fn, shell: float = 1.4, texture: float | None = None) -> None:
    """Cortical shell (dark) around marrow (speckled)."""
    c.paint("cortex", lo, hi, fn)
    c.paint("marrow", lo, hi, lambda X, Y, Z: fn(X, Y, Z) + shell, texture)
