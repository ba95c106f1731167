"""The body around the spine: skin, subcutaneous fat, back muscles, psoas, the abdomen with its bowel,
aorta and vena cava, kidneys and the iliac wings, and air outside the body.

None of it depends on the grades; it is what makes a slice look like a lumbar MRI and not like a diagram:
the detector has to find the spine inside it, as on real scans.
"""
from __future__ import annotations

import numpy as np

from .anatomy import Spine
from .render import Canvas, bone, ell, superell

BIG = 600.0


def back_y(sp: Spine, Z):
    """Posterior skin at height Z: behind the laminae by muscle and fat, bulging at the buttocks."""
    buttock = 38.0 * np.exp(-(((Z - (sp.sacrum_top() - 70.0)) / 45.0) ** 2))
    return sp.canal_y(Z) + sp.canal_ap / 2 + 10.0 + sp.back + sp.fat + buttock


def front_y(sp: Spine, Z):
    """Anterior skin at height Z: the abdomen in front of the bodies."""
    return sp.y_centre(Z) - sp.depth / 2 - sp.belly


def torso_sdf(sp: Spine, X, Y, Z, inset: float = 0.0):
    """Signed distance to the body outline shrunk by `inset` mm (a superellipse per height)."""
    yb, yf = back_y(sp, Z), front_y(sp, Z)
    ym, b = (yb + yf) / 2, (yb - yf) / 2
    return superell(X, Y - ym, sp.torso_a - inset, b - inset, 2.6)


def paint_torso(c: Canvas, sp: Spine, wobble: np.ndarray) -> None:
    """Skin, fat, muscle, the abdominal cavity (one outline, inset), then the organs inside it.

    `wobble` (the study's texture field on this slice, unit variance) bends the inner boundaries, so fat
    thickness, fat streaks between the muscles and the bowel loops are irregular, as in a body.
    """
    shape, (X, Y, Z) = c.coords()
    outline = np.broadcast_to(torso_sdf(sp, X, Y, Z), shape)
    c.paint_distance("skin", outline)
    c.paint_distance("fat", outline + 2.0)
    c.paint_distance("muscle", outline + sp.fat + 3.0 * wobble)
    # Abdominal cavity in front of the spine, curving back beside the psoas: retroperitoneal fat, then bowel
    # loops (dark gas and bright fluid where the texture field is extreme).
    behind = Y - (sp.y_centre(Z) - sp.depth / 2 - 6.0 + np.minimum(0.004 * X * X, 45.0))
    cavity = np.maximum(np.maximum(outline + sp.fat + 9.0, behind), Z - (sp.z_top + 140))
    c.paint_distance("fat", cavity + 2.0 * wobble)
    c.paint_distance("bowel", cavity + 5.0 + 5.0 * wobble)
    c.paint_distance(0.02, np.maximum(cavity + 12.0, (2.0 - wobble) * 4.0), 0.0)       # gas
    zt, zs = sp.z_top, sp.sacrum_top()
    for side in (-1, 1):
        # Kidneys beside L1-L2 in their fat; iliac wings beside L5/S1 and the sacrum.
        zk, yk, xk = sp.disc_z(0) + 12, sp.y_centre(sp.disc_z(0)) + 2, side * 66.0
        c.paint("fat", (xk - 32, yk - 28, zk - 60), (xk + 32, yk + 28, zk + 60),
                lambda X, Y, Z, xk=xk, yk=yk, zk=zk: _ellipsoid(X - xk, Y - yk, Z - zk, 30, 24, 58))
        c.paint("kidney", (xk - 24, yk - 18, zk - 52), (xk + 24, yk + 18, zk + 52),
                lambda X, Y, Z, xk=xk, yk=yk, zk=zk: _ellipsoid(X - xk, Y - yk, Z - zk, 22, 15, 50))
        zi = zs - 15
        yi = sp.y_centre(zs) + sp.depth / 2 + 8
        bone(c, (side * 75 - 40, yi - 30, zi - 60), (side * 75 + 40, yi + 30, zi + 40),
             lambda X, Y, Z, s=side, zi=zi, yi=yi: np.maximum(
                 ell(X - s * (75 - 0.25 * (zi - Z)), Y - yi + 0.35 * (Z - zi), 10, 34), np.abs(Z - zi + 10) - 48), 2.5)
        # Psoas: from L1 down along the bodies, growing caudally.
        def psoas(X, Y, Z, s=side):
            r = np.clip(5.0 + 0.3 * (zt - Z), 5.0, 26.0)
            xm = s * (sp.width / 2 + 0.75 * r)
            return np.maximum(ell(X - sp.x_centre(Z) - xm, Y - (sp.y_centre(Z) - 3 + 0.25 * r), r, 0.85 * r),
                              np.maximum(Z - zt + 5, zs - 40 - Z))
        c.paint("muscle", (side * 10 - 60, -BIG, zs - 50), (side * 10 + 60, BIG, zt), psoas)
    # Aorta (dividing into the iliac arteries at L4) and the inferior vena cava, dark with flowing blood.
    xa, ra = sp.aorta
    zb = sp.body_span(3)[0] + 8
    ya = lambda Z: sp.y_centre(Z) - sp.depth / 2 - ra - 3  # noqa: E731
    c.paint("vessel", (xa - ra - 40, -BIG, zs - 80), (xa + ra + 40, BIG, BIG), lambda X, Y, Z: np.minimum(
        np.maximum(ell(X - xa, Y - ya(Z), ra, ra), zb - Z),
        np.maximum(ell(np.abs(X - xa) - (0.45 * (zb - Z) + 2), Y - ya(Z) + 0.15 * (zb - Z), 0.65 * ra, 0.65 * ra),
                   np.maximum(Z - zb - 2, zs - 80 - Z))))
    xv = -(abs(xa) + 12)
    c.paint("vessel", (xv - 20, -BIG, zs - 40), (xv + 20, BIG, BIG),
            lambda X, Y, Z: np.maximum(ell(X - xv, Y - ya(Z) - 3, 1.3 * ra, 0.8 * ra), zb - 10 - Z), 0.25)


def _ellipsoid(u, v, w, a, b, c):
    return (np.sqrt((u / a) ** 2 + (v / b) ** 2 + (w / c) ** 2) - 1.0) * min(a, b, c)
