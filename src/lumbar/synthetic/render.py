"""Paints a Spine into MR signal on any slice plane: tissues with soft edges, texture, bias field, noise.

Structures are analytic shapes in patient space; each is painted with a soft edge (partial volume), in
order, over the one before. Intensities differ by sequence the way they do on real scans: fat bright on
T1 and T2, CSF dark on T1 and bright on T2, degenerate discs dark on T2, cortical bone dark everywhere.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .anatomy import N_LEVELS, Spine, patient_to_upright, upright_to_patient
from ..vocabulary import LEVELS

T1, T2, AX = "t1", "t2", "ax"
#            T1    T2   axial T2
TISSUE = {
    "fat":    (0.85, 0.70, 0.72), "muscle": (0.32, 0.22, 0.26), "marrow": (0.62, 0.42, 0.40),
    "cortex": (0.06, 0.05, 0.05), "disc":   (0.36, 0.78, 0.70), "annulus": (0.25, 0.20, 0.22),
    "csf":    (0.14, 0.96, 0.92), "root":   (0.34, 0.30, 0.30), "flavum": (0.20, 0.14, 0.16),
    "organ":  (0.45, 0.52, 0.50), "kidney": (0.40, 0.66, 0.62), "epifat": (0.80, 0.58, 0.60),
}
_TISSUE_INDEX = {k: i for i, k in enumerate(TISSUE)}
SEQ_INDEX = {T1: 0, T2: 1, AX: 2}


def _ell(u, v, a, b):
    """Approximate signed distance (mm) to an ellipse of half-axes a, b (negative inside)."""
    return (np.sqrt((u / a) ** 2 + (v / b) ** 2) - 1.0) * min(a, b)


class Canvas:
    """An image being painted; knows the patient coordinates of its pixels, on a plane of any orientation.

    Each structure is painted only inside the window of the image where the plane crosses its bounding
    box, which is what keeps rendering a whole data set within a couple of minutes.
    """

    def __init__(self, origin: np.ndarray, row_cos: np.ndarray, col_cos: np.ndarray, spacing: float,
                 shape: tuple[int, int], seq: str, gain: np.ndarray, edge: float):
        self.o, self.r, self.c, self.sp = origin, row_cos, col_cos, spacing
        self.seq, self.gain, self.edge = seq, gain, edge
        self.img = np.zeros(shape, dtype=np.float32)

    def value(self, tissue: str) -> float:
        return TISSUE[tissue][SEQ_INDEX[self.seq]] * self.gain[_TISSUE_INDEX[tissue]]

    def _window(self, lo, hi) -> tuple[slice, slice] | None:
        """Rows and columns where the plane may cross the box lo..hi (mm, padded for the soft edge)."""
        h, w = self.img.shape
        pad = 2.0 + 3 * self.edge
        lo, hi = np.asarray(lo, float) - pad, np.asarray(hi, float) + pad
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        d = corners - self.o
        along = d @ np.cross(self.r, self.c)
        if along.min() > 0 or along.max() < 0:
            return None
        u, v = d @ self.r / self.sp, d @ self.c / self.sp       # columns, rows
        rows = max(0, int(np.floor(v.min()))), min(h, int(np.ceil(v.max())) + 1)
        cols = max(0, int(np.floor(u.min()))), min(w, int(np.ceil(u.max())) + 1)
        if rows[0] >= rows[1] or cols[0] >= cols[1]:
            return None
        return slice(*rows), slice(*cols)

    def _axis(self, k: int, rr: np.ndarray, cc: np.ndarray):
        """Patient coordinate k over the window: a scalar, a broadcastable row/column, or (oblique) 2-D."""
        out = np.float32(self.o[k])
        if abs(self.r[k]) > 1e-9:
            out = out + cc * np.float32(self.r[k])
        if abs(self.c[k]) > 1e-9:
            out = out + rr * np.float32(self.c[k])
        return out

    def paint(self, tissue, lo, hi, dist_fn) -> None:
        """Paint `tissue` (name or signal) where dist_fn(X, Y, Z) < 0, inside the box lo..hi (mm)."""
        win = self._window(lo, hi)
        if win is None:
            return
        rr = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] * self.sp
        cc = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] * self.sp
        X, Y, Z = (self._axis(k, rr, cc) for k in range(3))
        d = np.broadcast_to(dist_fn(X, Y, Z), (rr.shape[0], cc.shape[1]))
        v = self.value(tissue) if isinstance(tissue, str) else tissue
        m = np.clip(0.5 - d / (2.5 * self.edge), 0.0, 1.0)
        sub = self.img[win]
        sub += (v - sub) * m


class Upright:
    """Paints on a canvas in a level's upright frame: coordinates turned about the x axis through (cy, cz)
    by the spine's tilt there (anatomy.patient_to_upright), so a disc drawn flat lies along the curve."""

    def __init__(self, canvas: Canvas, cy: float, cz: float, angle: float):
        self.canvas, self.frame = canvas, (cy, cz, angle)

    def value(self, tissue: str) -> float:
        return self.canvas.value(tissue)

    def paint(self, tissue, lo, hi, dist_fn) -> None:
        corners = np.array([upright_to_patient(np.array([x, y, z]), *self.frame)
                            for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        self.canvas.paint(tissue, corners.min(axis=0), corners.max(axis=0),
                          lambda X, Y, Z: dist_fn(*patient_to_upright(X, Y, Z, *self.frame)))


def _zband(Z, zc, h):
    return np.abs(Z - zc) - h / 2


def _round(d1, d2, r: float = 3.0):
    """Intersection of two regions with its corners rounded by r mm (bodies and discs are not boxes)."""
    a, b = d1 + r, d2 + r
    return np.sqrt(np.maximum(a, 0) ** 2 + np.maximum(b, 0) ** 2) + np.minimum(np.maximum(a, b), 0) - r


def _bone(c: Canvas, lo, hi, fn, shell: float = 1.4) -> None:
    c.paint("cortex", lo, hi, fn)
    c.paint("marrow", lo, hi, lambda X, Y, Z: fn(X, Y, Z) + shell)


def paint_spine(c: Canvas, sp: Spine) -> None:
    BIG = 400.0
    yc0 = sp.y0
    back = sp.y0 + sp.depth / 2 + sp.canal_ap + 60.0
    zlo, zhi = sp.sacrum_top() - 120, sp.z_top + 60
    # Torso: subcutaneous fat shell, abdomen, back muscles.
    ty = back - sp.torso_b
    c.paint("fat", (-BIG, -BIG, -BIG), (BIG, BIG, BIG), lambda X, Y, Z: _ell(X, Y - ty, sp.torso_a, sp.torso_b))
    c.paint("organ", (-BIG, -BIG, -BIG), (BIG, BIG, BIG),
            lambda X, Y, Z: _ell(X, Y - ty + 6, sp.torso_a - 14, sp.torso_b - 14))
    for side in (-1, 1):
        c.paint("muscle", (side * 24 - 26, back - 54, -BIG), (side * 24 + 26, back - 6, BIG),
                lambda X, Y, Z, s=side: _ell(X - s * 24, Y - (back - 30), 24, 22))     # erector spinae
        for k in range(N_LEVELS):                                                   # psoas grows caudally
            r = 6 + 4.5 * k
            z0, z1 = sp.body_span(k)
            xm = side * (sp.width / 2 + r * 0.8)
            c.paint("muscle", (xm - r, yc0 - 40, z0 - sp.disc_h[k]), (xm + r, yc0 + 30, z1 + sp.disc_h[k]),
                    lambda X, Y, Z, xm=xm, r=r, z0=z0, z1=z1, k=k: np.maximum(
                        _ell(X - xm, Y - (sp.y_centre(Z) - 4), r, r * 0.9), _zband(Z, (z0 + z1) / 2, z1 - z0 + sp.disc_h[k])))
    # Kidneys beside L1-L2; iliac wings beside L5/S1 and the sacrum (level cues on axial slices).
    z_k = sp.disc_z(0)
    yk = sp.y_centre(z_k)
    zi = sp.sacrum_top() + 5
    yi = sp.y_centre(zi) + 22
    for side in (-1, 1):
        c.paint("kidney", (side * 62 - 22, yk - 20, z_k - 25), (side * 62 + 22, yk + 16, z_k + 55),
                lambda X, Y, Z, s=side: np.maximum(_ell(X - s * 62, Y - yk + 2, 22, 16), np.abs(Z - z_k - 15) - 40))
        _bone(c, (side * 62 - 36, yi - 9, zi - 48), (side * 62 + 36, yi + 9, zi + 8),
              lambda X, Y, Z, s=side: np.maximum(_ell(X - s * 62, Y - yi, 36, 9), np.abs(Z - (zi - 20)) - 28), 2.5)
    # Canal with epidural fat, CSF and the cauda equina, along the whole spine.
    cw, ca = sp.canal_w / 2, sp.canal_ap / 2
    ylo, yhi = yc0 - sp.lordosis - 40, yc0 + 90
    c.paint("epifat", (-cw - 2, ylo, zlo), (cw + 2, yhi, zhi), lambda X, Y, Z: _ell(X, Y - sp.canal_y(Z), cw + 2, ca + 2))
    c.paint("csf", (-cw, ylo, zlo), (cw, yhi, zhi), lambda X, Y, Z: _ell(X, Y - sp.canal_y(Z), cw, ca))
    c.paint("root", (-cw / 2, ylo, zlo), (cw / 2, yhi, zhi),
            lambda X, Y, Z: _ell(X, Y - sp.canal_y(Z) - ca * 0.3, cw / 2, ca / 3))
    # Vertebral bodies and posterior elements, each upright in its own frame along the lordotic curve.
    for k in range(N_LEVELS + 1):
        z0, z1 = sp.body_span(k) if k < N_LEVELS else (sp.sacrum_top() - 60, sp.sacrum_top())
        zm, h = (z0 + z1) / 2, z1 - z0
        yb, _, angle = sp.body_frame(k)
        u = Upright(c, yb, zm, angle)
        yp, yl = yb + sp.depth / 2 + ca, yb + sp.depth / 2 + 2 * ca + 1.0   # pedicle centre, lamina front
        _bone(u, (-sp.width / 2, yb - sp.depth / 2, z0), (sp.width / 2, yb + sp.depth / 2, z1),
              lambda X, Y, Z, zm=zm, h=h, yb=yb: _round(_ell(X, Y - yb, sp.width / 2, sp.depth / 2), _zband(Z, zm, h), 4.0))
        for side in (-1, 1):   # pedicles joining body to the arch
            px = side * (sp.canal_w / 2 + 3)
            _bone(u, (px - 4, yp - ca, zm - 0.2 * h), (px + 4, yp + ca, zm + 0.4 * h),
                  lambda X, Y, Z, px=px, zm=zm, h=h, yp=yp: np.maximum(np.maximum(
                      np.abs(X - px) - 4, np.abs(Y - yp) - ca), _zband(Z, zm + 0.1 * h, 0.45 * h)), 1.2)
        lw = cw + 7
        _bone(u, (-lw, yl, z0), (lw, yl + 8, z1), lambda X, Y, Z, zm=zm, h=h, yl=yl: np.maximum(np.maximum(
            np.abs(X) - lw, np.abs(Y - yl - 4) - 4), _zband(Z, zm + 0.15 * h, 0.7 * h)), 1.3)
        _bone(u, (-3.5, yl + 2, z0), (3.5, yl + 42, z1), lambda X, Y, Z, zm=zm, h=h, yl=yl: np.maximum(np.maximum(
            np.abs(X) - 3.5, np.abs(Y - yl - 22) - 20), _zband(Z, zm, 0.55 * h)), 1.3)
    for j in range(N_LEVELS):
        _paint_level(Upright(c, *sp.disc_frame(j)), sp, j)


def _paint_level(c: Upright, sp: Spine, j: int) -> None:
    """Disc, ligamentum flavum, facets, subarticular recesses and foramina of one disc level, painted
    in the disc's upright frame (so the disc lies perpendicular to the spine's curve)."""
    zd, hd = sp.disc_z(j), sp.disc_h[j]
    cw, ca = sp.canal_w / 2, sp.canal_ap / 2
    sev_sp = sp.severity[f"spinal_canal_stenosis_{LEVELS[j]}"]
    bulge = 1.0 + 7.5 * sev_sp
    ycd = sp.y_centre(zd)
    ycan = sp.canal_y(zd)
    lo, hi = (-sp.width / 2, ycd - sp.depth / 2 - 2, zd - hd), (sp.width / 2, ycd + sp.depth / 2 + bulge + 2, zd + hd)
    # Annulus and nucleus, bulging posteriorly into the canal with the spinal severity.
    c.paint("annulus", lo, hi, lambda X, Y, Z: _round(
        _ell(X, Y - ycd - bulge / 2, sp.width / 2, sp.depth / 2 + bulge / 2), _zband(Z, zd, hd), 1.5))
    c.paint(c.value("disc") * (1.0 - 0.55 * sev_sp), lo, hi, lambda X, Y, Z: _round(
        _ell(X, Y - ycd, sp.width / 2 - 7, sp.depth / 2 - 7), _zband(Z, zd, hd - 2.5), 2.5))
    # Ligamentum flavum thickens from behind with the spinal severity.
    lf = 1.5 + 4.5 * sev_sp
    c.paint("flavum", (-cw, ycan, zd - 4), (cw, ycan + ca + lf, zd + 10), lambda X, Y, Z: np.maximum(
        _ell(X, Y - (ycan + ca), cw, lf), _zband(Z, zd + 3, 12)))
    for side, name in ((1, "left"), (-1, "right")):
        # Facet joint, swelling medially into the subarticular recess with its severity.
        sev_sa = sp.severity[f"{name}_subarticular_stenosis_{LEVELS[j]}"]
        fx, fy, fr = side * (cw + 6 - 5.0 * sev_sa), ycan + 2.5, 5 + 2.5 * sev_sa
        _bone(c, (fx - fr, fy - 6, zd - 6), (fx + fr, fy + 6, zd + 10), lambda X, Y, Z, fx=fx, fr=fr: np.maximum(
            _ell(X - fx, Y - fy, fr, 6), _zband(Z, zd + 2, 16)), 1.5)
        rc = sp.recess_centre(j, name)
        r = 3.8 * (1 - 0.8 * sev_sa) + 0.5
        c.paint("csf", (rc[0] - r, rc[1] - r, zd - 5), (rc[0] + r, rc[1] + r, zd + 5),
                lambda X, Y, Z, rc=rc, r=r: np.maximum(_ell(X - rc[0], Y - rc[1], r, r * 0.8), _zband(Z, zd, 10)))
        c.paint("root", (rc[0] - 3, rc[1] - 2, zd - 5), (rc[0] + 3, rc[1] + 2, zd + 5),
                lambda X, Y, Z, rc=rc, s=side: np.maximum(_ell(X - rc[0] + s, Y - rc[1] - 0.5, 1.2, 1.2), _zband(Z, zd, 10)))
        # Neural foramen: fat around the exiting root, closing with the foraminal severity.
        sev_nf = sp.severity[f"{name}_neural_foraminal_narrowing_{LEVELS[j]}"]
        f = sp.foramen_centre(j, name)
        ry, rz = 5.5 * (1 - 0.65 * sev_nf) + 0.6, 8.0 * (1 - 0.45 * sev_nf) + 0.8
        c.paint("epifat", (f[0] - 7, f[1] - ry, f[2] - rz), (f[0] + 7, f[1] + ry, f[2] + rz),
                lambda X, Y, Z, f=f, ry=ry, rz=rz: np.maximum(
                    np.sqrt(((Y - f[1]) / ry) ** 2 + ((Z - f[2]) / rz) ** 2) - 1.0, np.abs(X - f[0]) / 7.0 - 1.0) * min(ry, rz))
        c.paint("root", (f[0] - 6, f[1] - 3, f[2] - 3 + rz * 0.3), (f[0] + 6, f[1] + 3, f[2] + 3 + rz * 0.3),
                lambda X, Y, Z, f=f, rz=rz: np.maximum(_ell(Y - f[1] + 0.5, Z - f[2] - rz * 0.3, 2.2, 2.4), np.abs(X - f[0]) - 6))


def finish(img: np.ndarray, rng: np.random.Generator, noise: float, peak: float) -> np.ndarray:
    """Texture, bias field and Rician noise; returns 12-bit integers."""
    h, w = img.shape
    tex = gaussian_filter(rng.standard_normal((h, w), dtype=np.float32), 1.6)
    img = gaussian_filter(img, 0.8) * (1 + 0.25 * tex)   # point-spread: no staircase edges
    v, u = np.linspace(-1, 1, h, dtype=np.float32)[:, None], np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    a = rng.normal(0, 0.18, 4)
    bias = np.exp(a[0] * u + a[1] * v + a[2] * u * v - abs(a[3]) * (u ** 2 + v ** 2))
    sig = img * bias * peak
    sd = noise * peak
    n1 = rng.standard_normal((h, w), dtype=np.float32) * np.float32(sd)
    n2 = rng.standard_normal((h, w), dtype=np.float32) * np.float32(sd)
    out = np.sqrt((sig + n1) ** 2 + n2 ** 2)
    return np.clip(np.rint(out), 0, 4095).astype(np.uint16)
