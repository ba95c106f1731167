"""The spine itself: thecal sac with conus and cauda equina, vertebral bodies with concave endplates and
speckled marrow, pedicles, laminae, transverse and spinous processes, the sacrum's segments, and at
each disc level the structures the grades describe.

Grade-linked (the latent moves them, so the images carry the grade): the disc's posterior bulge, its
height and nucleus signal (desiccation), the ligamentum flavum's thickness, the facet's medial swelling
into the subarticular recess, the recess itself, and the foraminal fat around the exiting root.
"""
from __future__ import annotations

import numpy as np

from ..vocabulary import LEVELS
from .anatomy import N_LEVELS, THORACIC, THORACIC_DISC, Spine
from .render import STIR, T1, Canvas, Upright, band, bone, ell, rounded, superell

SACRUM = ((22.0, 0.95, 0.92), (18.0, 0.80, 0.78), (14.0, 0.62, 0.62), (11.0, 0.48, 0.48), (9.0, 0.36, 0.36))


def _capsule2(U, V, a, b, r0, r1):
    """Distance to a tapered capsule in a coordinate plane (U, V) from a to b."""
    ab = np.array(b, np.float32) - np.array(a, np.float32)
    t = np.clip(((U - a[0]) * ab[0] + (V - a[1]) * ab[1]) / float(ab @ ab), 0.0, 1.0)
    return np.sqrt((U - a[0] - t * ab[0]) ** 2 + (V - a[1] - t * ab[1]) ** 2) - (r0 + (r1 - r0) * t)


def paint_canal(c: Canvas, sp: Spine) -> None:
    """Epidural fat, the CSF of the thecal sac (ending at S2), the conus and the cauda equina roots."""
    cw, ca = sp.canal_w / 2, sp.canal_ap / 2
    zlo, zhi = sp.sacrum_top() - 80, sp.body_span(-THORACIC)[1] + 40
    ylo, yhi = float(np.min(sp.canal_y(np.array([zlo, zhi, sp.disc_z(2)])))) - 30, sp.y0 + 120
    box = ((-cw - 20, ylo, zlo), (cw + 20, yhi, zhi))
    xc = sp.x_centre
    # Fat and ligament between the spinous processes, behind the canal (the arches are painted over it).
    c.paint(0.5 * c.value("epifat"), *box, lambda X, Y, Z: np.maximum(np.maximum(np.abs(X - xc(Z)) - 4.0,
                                                                   np.abs(Y - sp.canal_y(Z) - ca - 16.0) - 15.0),
                                                        np.maximum(Z - sp.z_top - 120, sp.sacrum_top() - 60 - Z)), 0.4)
    c.paint("epifat", *box, lambda X, Y, Z: ell(X - xc(Z), Y - sp.canal_y(Z) - 1.5, cw + 2, ca + 3))
    z_sac = sp.sacrum_top() - 32
    c.paint("csf", *box, lambda X, Y, Z: np.maximum(ell(X - xc(Z), Y - sp.canal_y(Z), cw, ca), z_sac - Z))
    tip = sp.cord_tip

    def cord(X, Y, Z):
        r = 4.6 * np.clip((Z - tip) / 16.0, 0.05, 1.0)
        return np.maximum(np.sqrt((X - xc(Z)) ** 2 + (1.3 * (Y - sp.canal_y(Z) + 0.5)) ** 2) - r, tip - Z)
    c.paint("cord", (-cw, ylo, tip - 2), (cw, yhi, zhi), cord)

    def roots(X, Y, Z):
        dx, dy = X - xc(Z), Y - sp.canal_y(Z)
        d = np.min([np.sqrt((dx - fx * cw) ** 2 + (dy - fy * ca) ** 2) for fx, fy in sp.roots], axis=0) - 0.9
        return np.maximum(d, np.maximum(Z - tip, z_sac + 4 - Z))
    c.paint("root", (-cw, ylo, z_sac), (cw, yhi, tip), roots)


def _body_sdf(sp: Spine, yb, zm, h, concavity, depth, width):
    def fn(X, Y, Z):
        r2 = np.minimum((X / (width / 2)) ** 2 + ((Y - yb) / (depth / 2)) ** 2, 1.0)
        half = h / 2 - concavity * (1.0 - r2)
        return rounded(superell(X, Y - yb, width / 2, depth / 2, 2.4), np.abs(Z - zm) - half, 3.5)
    return fn


def _modic_value(c, m: float) -> float:
    """Marrow signal beside a degenerate endplate: type 1 (m < 0, oedema) or type 2 (m > 0, fat)."""
    v = c.value("marrow")
    if m < 0:
        return v * (1 + 0.45 * m) if c.seq == T1 else v * (1 - (2.0 if c.seq == STIR else 0.5) * m)
    return v * (1 - 0.3 * m) if c.seq == STIR else v * (1 + 0.35 * m)


def paint_vertebra(c: Canvas, sp: Spine, k: int) -> None:
    """Body k (0 = L1 … 4 = L5, negative: thoracic) with its posterior arch, upright along the curve."""
    z0, z1 = sp.body_span(k)
    zm, h = (z0 + z1) / 2, z1 - z0
    yb, angle = float(sp.y_centre(zm)), sp.angle_at(zm)
    if sp.listhesis[0] == k:
        yb -= sp.listhesis[1]
    u = Upright(c, yb, zm, angle, float(sp.x_centre(zm)))
    d, w, cw, ca = sp.depth * (1 + 0.03 * k), sp.width * (1 + 0.04 * k), sp.canal_w / 2, sp.canal_ap / 2
    if not u.visible((-w / 2 - 30, yb - d / 2, z0 - 22), (w / 2 + 30, yb + d / 2 + 2 * ca + 50, z1 + 2)):
        return
    fn = _body_sdf(sp, yb, zm, h, sp.concavity, d, w)
    lo, hi = (-w / 2, yb - d / 2, z0), (w / 2, yb + d / 2, z1)
    bone(u, lo, hi, fn, 0.8)
    for j, end in ((k - 1, z1), (k, z0)):      # the endplates beside disc j (above: disc k-1, below: disc k)
        if 0 <= j < N_LEVELS and sp.modic[j] != 0:
            u.paint(_modic_value(u, float(sp.modic[j])), lo, hi,
                    lambda X, Y, Z, end=end: np.maximum(fn(X, Y, Z) + 0.8, 5.0 - np.abs(Z - end)), 0.15)
    yp = yb + d / 2                                   # posterior wall
    yl = yp + 2 * ca + 1.0                            # front of the laminae
    for side in (-1, 1):
        px = side * (cw + 3.5)
        bone(u, (px - 5, yp - 4, zm - 0.35 * h), (px + 5, yl + 2, zm + 0.45 * h), lambda X, Y, Z, px=px: np.maximum(
            ell(X - px, Y - (yp + ca), 4.5, ca + 2), band(Z, zm + 0.05 * h, 0.7 * h)), 1.2)
        tx = side * (w / 2 + 22 - 4 * abs(k - 2))     # transverse process, longest at L3
        bone(u, (min(px, tx) - 5, yp, zm - 6), (max(px, tx) + 5, yp + 14, zm + 8), lambda X, Y, Z, px=px, tx=tx:
             np.maximum(np.maximum(np.abs(X - (px + tx) / 2) - abs(tx - px) / 2, np.abs(Y - yp - 7) - 4.5),
                        band(Z, zm + 1, 9)), 1.0)
    # Laminae (a roof over the canal, meeting behind it) and the spinous process: a plate sloping down and back.
    lw = cw + 6
    bone(u, (-lw - 4, yl - 5, z0 - 6), (lw + 4, yl + 14, z1), lambda X, Y, Z: np.maximum(
        _capsule2(np.abs(X), Y, (lw, yl - 1), (0.0, yl + 8), 3.2, 4.0), band(Z, zm - 0.05 * h, 0.75 * h)), 1.8)
    sp_end = (yl + 28 * sp.scale, zm - 0.45 * h)
    bone(u, (-5, yl, z0 - 20), (5, yl + 40, z1), lambda X, Y, Z: np.maximum(
        _capsule2(Y, Z, (yl + 5, zm), sp_end, 0.3 * h, 0.24 * h), np.abs(X) - 4.0), 1.6)


def paint_sacrum(c: Canvas, sp: Spine) -> None:
    """S1-S5: fused segments shrinking and tipping back, with the rudimentary discs between them."""
    z = sp.sacrum_top()
    for i, (hh, fd, fw) in enumerate(SACRUM):
        hh *= sp.scale
        zm = z - hh / 2
        yb, angle = float(sp.y_centre(zm)), sp.angle_at(zm)
        u = Upright(c, yb, zm, angle)
        d, w = sp.depth * fd, sp.width * fw * (1.6 if i < 2 else 1.2)
        fn = _body_sdf(sp, yb, zm, hh, 0.5, d, w)
        bone(u, (-w / 2, yb - d / 2, zm - hh / 2), (w / 2, yb + d / 2, zm + hh / 2), fn, 0.9)
        if i < 3:
            yl = yb + d / 2 + sp.canal_ap * (1.0 - 0.2 * i) + 1
            bone(u, (-12, yl - 2, zm - hh / 2), (12, yl + 10, zm + hh / 2), lambda X, Y, Z, yl=yl, zm=zm, hh=hh:
                 np.maximum(superell(X, Y - yl - 4, 11, 4.5, 3.0), band(Z, zm, hh * 0.9)), 1.3)
        if i:
            u.paint("annulus", (-w / 2, yb - d / 2, zm + hh / 2 - 1), (w / 2, yb + d / 2, zm + hh / 2 + 1),
                    lambda X, Y, Z, fn=fn, zm=zm, hh=hh: np.maximum(fn(X, Y, Z - 1.0) + 2.5, np.abs(Z - zm - hh / 2) - 0.7))
        z -= hh + 1.0


def paint_level(c: Canvas, sp: Spine, j: int) -> None:
    """Disc, ligamentum flavum, facets, subarticular recesses and foramina of one disc level, painted
    in the disc's upright frame (so the disc lies perpendicular to the spine's curve)."""
    zd, hd = sp.disc_z(j), sp.disc_h[j]
    u = Upright(c, *sp.disc_frame(j), float(sp.x_centre(zd)))
    cw, ca = sp.canal_w / 2, sp.canal_ap / 2
    sev_sp = sp.severity[f"spinal_canal_stenosis_{LEVELS[j]}"]
    bulge = 1.0 + 7.5 * sev_sp
    lf = 1.5 + 4.5 * sev_sp              # the ligamentum flavum thickens from behind with the spinal severity
    ycd, ycan = sp.y_centre(zd), sp.canal_y(zd)
    w, d = sp.width * (1 + 0.04 * j), sp.depth * (1 + 0.03 * j)
    lo, hi = (-w / 2, ycd - d / 2 - 2, zd - hd), (w / 2, ycd + d / 2 + bulge + 2, zd + hd)
    if not u.visible((-w / 2 - 8, ycd - d / 2 - 3, zd - hd - 8), (w / 2 + 8, ycan + ca + lf + 4,
                                                                  zd + 0.35 * sp.body_h + 12)):
        return
    conc = sp.concavity

    def disc(inset, dh, off=0.0, extra=0.0):
        def fn(X, Y, Z):
            r2 = np.minimum((X / (w / 2)) ** 2 + ((Y - ycd) / (d / 2)) ** 2, 1.0)
            return rounded(superell(X, Y - ycd - off, w / 2 - inset, d / 2 - inset + extra, 2.4),
                           np.abs(Z - zd) - (hd / 2 - dh + conc * (1 - r2)), 1.5)
        return fn
    # Annulus bulging posteriorly into the canal with the spinal severity; the nucleus darkens (desiccation).
    u.paint("annulus", lo, hi, disc(0.0, 0.0, bulge / 2, bulge / 2))
    nucleus = disc(0.22 * d, 0.18 * hd + 0.6)
    u.paint(u.value("nucleus") * (1.0 - 0.6 * sev_sp) * (1.0 - _age(sp, j)), lo, hi, nucleus)
    if sev_sp > 0.2:    # the intranuclear cleft of an ageing disc
        u.paint("annulus", lo, hi, lambda X, Y, Z: np.maximum(nucleus(X, Y, Z) + 3.0, np.abs(Z - zd) - 0.3))
    # Ligamentum flavum.
    u.paint("flavum", (-cw, ycan, zd - 4), (cw, ycan + ca + lf, zd + 10), lambda X, Y, Z: np.maximum(
        ell(X, Y - (ycan + ca), cw, lf), band(Z, zd + 3, 12)))
    for side, name in ((1, "left"), (-1, "right")):
        # Facet joint (two articular processes and the joint between), swelling medially with its severity.
        sev_sa = sp.severity[f"{name}_subarticular_stenosis_{LEVELS[j]}"]
        fx, fy, fr = side * (cw + 6 - 5.0 * sev_sa), ycan + 2.5, 5 + 2.5 * sev_sa
        flo, fhi = (fx - fr, fy - 6, zd - 6), (fx + fr, fy + 6, zd + 10)
        bone(u, flo, fhi, lambda X, Y, Z, fx=fx, fr=fr: np.maximum(ell(X - fx, Y - fy, fr, 6), band(Z, zd + 2, 16)), 1.5)
        u.paint("joint", flo, fhi, lambda X, Y, Z, fx=fx, fr=fr: np.maximum(np.maximum(
            np.abs((X - fx) * 0.6 - (Y - fy) * 0.8 * side) - 0.5, ell(X - fx, Y - fy, fr - 1.0, 5.0)), band(Z, zd + 2, 14)))
        rc = sp.recess_centre(j, name)
        r = 3.8 * (1 - 0.8 * sev_sa) + 0.5
        u.paint("csf", (rc[0] - r, rc[1] - r, zd - 5), (rc[0] + r, rc[1] + r, zd + 5),
                lambda X, Y, Z, rc=rc, r=r: np.maximum(ell(X - rc[0], Y - rc[1], r, r * 0.8), band(Z, zd, 10)))
        u.paint("root", (rc[0] - 3, rc[1] - 2, zd - 5), (rc[0] + 3, rc[1] + 2, zd + 5),
                lambda X, Y, Z, rc=rc, s=side: np.maximum(ell(X - rc[0] + s, Y - rc[1] - 0.5, 1.2, 1.2), band(Z, zd, 10)))
        # Neural foramen: fat around the exiting root, closing with the foraminal severity.
        sev_nf = sp.severity[f"{name}_neural_foraminal_narrowing_{LEVELS[j]}"]
        f = sp.foramen_centre(j, name)
        ry, rz = 5.5 * (1 - 0.65 * sev_nf) + 0.6, 8.0 * (1 - 0.45 * sev_nf) + 0.8
        u.paint("epifat", (f[0] - 7, f[1] - ry, f[2] - rz), (f[0] + 7, f[1] + ry, f[2] + rz),
                lambda X, Y, Z, f=f, ry=ry, rz=rz: np.maximum(
                    np.sqrt(((Y - f[1]) / ry) ** 2 + ((Z - f[2]) / rz) ** 2) - 1.0, np.abs(X - f[0]) / 7.0 - 1.0) * min(ry, rz))
        u.paint("root", (f[0] - 6, f[1] - 3, f[2] - 3 + rz * 0.3), (f[0] + 6, f[1] + 3, f[2] + 3 + rz * 0.3),
                lambda X, Y, Z, f=f, rz=rz: np.maximum(ell(Y - f[1] + 0.5, Z - f[2] - rz * 0.3, 2.2, 2.4), np.abs(X - f[0]) - 6))


def paint_thoracic_disc(c: Canvas, sp: Spine, k: int) -> None:
    """The healthy disc below thoracic body k (k = -1: T12/L1)."""
    zd = sp.body_span(k)[0] - THORACIC_DISC * sp.scale / 2
    hd = THORACIC_DISC * sp.scale
    yc, angle = float(sp.y_centre(zd)), sp.angle_at(zd)
    u = Upright(c, yc, zd, angle, float(sp.x_centre(zd)))
    w, d = sp.width * (1 + 0.04 * k), sp.depth * (1 + 0.03 * k)
    lo, hi = (-w / 2, yc - d / 2, zd - hd), (w / 2, yc + d / 2, zd + hd)
    u.paint("annulus", lo, hi, lambda X, Y, Z: rounded(superell(X, Y - yc, w / 2, d / 2, 2.4),
                                                       np.abs(Z - zd) - hd / 2 - 0.8, 1.5))
    u.paint(u.value("nucleus") * (1.0 - _age(sp, k)), lo, hi, lambda X, Y, Z: rounded(
        superell(X, Y - yc, w / 2 - 0.22 * d, d / 2 - 0.22 * d, 2.4), np.abs(Z - zd) - 0.32 * hd, 1.5))


def _age(sp: Spine, j: int) -> float:
    """Share of nucleus signal disc j (0 = L1/L2; negative: thoracic, -1 = T12/L1) has lost with age."""
    return 0.0 if sp.disc_age is None else float(sp.disc_age[THORACIC + j])


def paint_spine(c: Canvas, sp: Spine) -> None:
    paint_canal(c, sp)
    for k in range(-THORACIC, N_LEVELS):
        paint_vertebra(c, sp, k)
    for k in range(-THORACIC, 0):
        paint_thoracic_disc(c, sp, k)
    paint_sacrum(c, sp)
    for j in range(N_LEVELS):
        paint_level(c, sp, j)
