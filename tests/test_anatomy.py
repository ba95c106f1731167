"""The phantom's anatomy carries the grades: the latent narrowing measurably closes the canal, the
subarticular recess and the foramen, and the body around the spine looks like a body on every sequence.

Slices are painted noise-free straight from the painter (no scanner), at known planes through the
structures, so each figure is a count of pixels of one tissue in one region.
"""
from __future__ import annotations

import numpy as np
import pytest

from lumbar.synthetic.anatomy import sample_spine, upright_to_patient
from lumbar.synthetic.render import AX, STIR, T1, T2, TISSUE, Canvas
from lumbar.synthetic.torso import paint_torso
from lumbar.synthetic.vertebrae import paint_spine
from lumbar.vocabulary import LABEL_COLUMNS

SP_MM = 0.5


def _spine(level_sev: dict[str, float], base: float = 0.0, seed: int = 5):
    sev = np.array([level_sev.get(c, base) for c in LABEL_COLUMNS])
    return sample_spine(np.random.default_rng(seed), sev)


def _paint(sp, centre, row, col, seq, size=160):
    origin = centre - (size / 2) * SP_MM * (row + col)
    c = Canvas(origin, row, col, SP_MM, (size, size), seq, np.ones(32), 0.3)
    paint_torso(c, sp, np.zeros((size, size), np.float32))
    paint_spine(c, sp)
    return c.img[0]


def _axial_at_disc(sp, j, seq=AX):
    """An axial slice through disc j, perpendicular to it, centred on the canal; pixel of a point."""
    cy, cz, angle = sp.disc_frame(j)
    row = np.array([1.0, 0.0, 0.0])
    col = upright_to_patient(np.array([0.0, 1.0, 0.0]), 0, 0, angle) - upright_to_patient(np.zeros(3), 0, 0, angle)
    centre = sp.label_point(f"spinal_canal_stenosis_{['l1_l2', 'l2_l3', 'l3_l4', 'l4_l5', 'l5_s1'][j]}")
    return _paint(sp, centre, row, col, seq), centre, row, col


def _pixels_like(img, tissue, seq, tol=0.08):
    return np.abs(img - TISSUE[tissue][{T1: 0, T2: 1, STIR: 2, AX: 3}[seq]]) < tol


def _region(img, centre, row, col, point, half_mm):
    """Boolean mask of pixels within half_mm (in-plane) of a patient point."""
    size = img.shape[0]
    d = point - (centre - (size / 2) * SP_MM * (row + col))
    u, v = d @ row / SP_MM, d @ col / SP_MM
    yy, xx = np.mgrid[:size, :size]
    return (np.abs(xx - u) <= half_mm / SP_MM) & (np.abs(yy - v) <= half_mm / SP_MM)


def test_spinal_severity_closes_the_canal_at_its_own_level():
    areas = []
    for s in (0.0, 0.5, 1.0):
        sp = _spine({"spinal_canal_stenosis_l4_l5": s})
        img, centre, row, col = _axial_at_disc(sp, 3)
        csf = _pixels_like(img, "csf", AX) & _region(img, centre, row, col, centre, 12)
        areas.append(csf.sum())
    assert areas[0] > areas[1] > areas[2] and areas[2] < 0.6 * areas[0], areas
    # ... and only there: L2/L3's canal is the same whatever L4/L5's grade.
    other = [(_pixels_like(_axial_at_disc(_spine({"spinal_canal_stenosis_l4_l5": s}), 1)[0], "csf", AX)).sum()
             for s in (0.0, 1.0)]
    assert other[0] == other[1]


def test_subarticular_severity_closes_the_recess_on_its_own_side():
    out = {}
    for s in (0.0, 1.0):
        sp = _spine({"left_subarticular_stenosis_l4_l5": s})
        img, centre, row, col = _axial_at_disc(sp, 3)
        for side in ("left", "right"):
            p = sp.label_point(f"{side}_subarticular_stenosis_l4_l5")
            out[side, s] = (_pixels_like(img, "csf", AX) & _region(img, centre, row, col, p, 4)).sum()
    assert out["left", 1.0] < 0.5 * out["left", 0.0], out
    assert out["right", 1.0] == out["right", 0.0]


def test_foraminal_severity_effaces_the_fat_around_the_root():
    fat = []
    for s in (0.0, 1.0):
        sp = _spine({"right_neural_foraminal_narrowing_l3_l4": s})
        p = sp.label_point("right_neural_foraminal_narrowing_l3_l4")
        row, col = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])    # sagittal through the foramen
        img = _paint(sp, p, row, col, T1)
        fat.append((_pixels_like(img, "epifat", T1) & _region(img, p, row, col, p, 6)).sum())
    assert fat[1] < 0.5 * fat[0], fat


@pytest.mark.parametrize("seq, bright, dark", [(T1, "fat", "csf"), (T2, "csf", "muscle"), (STIR, "csf", "fat")])
def test_sequences_give_their_contrast_on_a_mid_sagittal_slice(seq, bright, dark):
    """Fat bright on T1 and suppressed on STIR, CSF bright on T2; air black outside the body."""
    sp = _spine({}, base=0.2)
    row, col = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])
    centre = np.array([0.0, float(sp.y_centre(sp.disc_z(2))) + 40.0, sp.disc_z(2)])
    img = _paint(sp, centre, row, col, seq, size=520)
    assert _pixels_like(img, bright, seq, 0.05).sum() > 200 and _pixels_like(img, dark, seq, 0.05).sum() > 200
    assert TISSUE[bright][{T1: 0, T2: 1, STIR: 2}[seq]] > 2 * TISSUE[dark][{T1: 0, T2: 1, STIR: 2}[seq]]
    assert (img[:, -5:] == 0).mean() > 0.9        # air behind the back (posterior edge of a 260 mm field)


def test_disc_age_darkens_the_nucleus_independently_of_the_grades():
    """Real lumbar discs are often dark with age alone: the phantom's nucleus loses disc_age of its
    signal, a draw that does not depend on the grades (so it blurs, never fakes, the desiccation cue)."""
    young, worn = _spine({}), _spine({"spinal_canal_stenosis_l3_l4": 1.0})
    assert np.array_equal(young.disc_age, worn.disc_age)
    j = 2
    zd = young.disc_z(j)
    nucleus = np.array([float(young.x_centre(zd)), float(young.y_centre(zd)), zd])
    signal = []
    for age in (0.0, 0.6):
        young.disc_age[:] = age
        img, centre, row, col = _axial_at_disc(young, j, T2)
        signal.append(float(img[_region(img, centre, row, col, nucleus, 3.0)].mean()))
    assert signal[0] == pytest.approx(TISSUE["nucleus"][1], abs=0.05)
    assert signal[1] == pytest.approx(0.4 * signal[0], abs=0.05)
