"""Real acquisition geometry: several differently angled stacks in one axial series, tilted sagittals.

Series are built with known planes, so each test knows the answer: which stacks the reader finds,
which slice a point falls on, and where on it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import write_dicom, write_kaggle
from lumbar.crops import crop_25d
from lumbar.detection.images import detector_image
from lumbar.detection.levels import assign_sagittal_levels, nearest_axial_slice
from lumbar.dicom import read_series, stack_bounds
from lumbar.extract import extract
from lumbar.geometry import patient_to_pixel, pixel_to_patient
from lumbar.study import from_extracted
from lumbar.extracted import ExtractedSeries
from lumbar.synthetic.acquisition import plan_series, rotation
from lumbar.synthetic.anatomy import sample_spine
from lumbar.vocabulary import AXIAL_T2, LABEL_COLUMNS, SAGITTAL_T1, SAGITTAL_T2


def _axial_iop(deg: float) -> tuple:
    """An axial plane leaning `deg` degrees towards posterior: normal (0, sin, cos)."""
    t = np.radians(deg)
    return (1.0, 0.0, 0.0, 0.0, float(np.cos(t)), float(-np.sin(t)))


def _write_stack(folder, first_instance, deg, z0, n, step=4.0, value=0):
    iop = _axial_iop(deg)
    normal = np.cross(iop[:3], iop[3:])
    for k in range(n):
        ipp = np.array([-4.0, -4.0, z0]) + k * step * normal
        write_dicom(folder / f"{first_instance + k}.dcm", np.full((12, 16), value + k, np.uint16), ipp, iop,
                    instance=first_instance + k)
    return normal


def _two_block_series(folder):
    """L4/L5-like block of 3 at +12 deg (z ~ 0), L5/S1-like block of 4 at -18 deg (z ~ -40), numbered
    out of spatial order (the upper block first, as some scanners do)."""
    up = _write_stack(folder, 1, 12.0, 0.0, 3, value=100)
    low = _write_stack(folder, 4, -18.0, -40.0, 4, value=200)
    return up, low


def test_read_series_keeps_every_slice_of_two_angled_blocks_as_two_stacks(tmp_path):
    _two_block_series(tmp_path / "s")
    s = read_series(tmp_path / "s")
    assert len(s.slices) == 7 and s.skipped == []
    assert s.n_stacks == 2 and s.stacks == [0, 0, 0, 0, 1, 1, 1]          # the lower block first (feet first)
    assert [sl.instance_number for sl in s.slices] == [4, 5, 6, 7, 1, 2, 3]
    for k in (0, 1):                                                   # each stack along its own normal
        members = [sl for sl, st in zip(s.slices, s.stacks) if st == k]
        along = [float(np.dot(sl.position, members[0].normal)) for sl in members]
        assert along == sorted(along)
    assert s.pixels()[0, 0, 0] == 200 and s.pixels()[4, 0, 0] == 100
    assert s.bounds()[5] == (4, 7) and s.bounds()[1] == (0, 4)


def test_parallel_blocks_with_a_gap_are_two_stacks(tmp_path):
    _write_stack(tmp_path / "s", 1, 0.0, 0.0, 3)
    _write_stack(tmp_path / "s", 4, 0.0, 40.0, 3)                     # same tilt, 40 mm higher
    s = read_series(tmp_path / "s")
    assert s.n_stacks == 2 and len(s.slices) == 6 and s.stacks == [0, 0, 0, 1, 1, 1]


def test_a_continuous_tilted_stack_is_one_stack(tmp_path):
    _write_stack(tmp_path / "s", 1, 7.0, 0.0, 9, step=4.0)
    s = read_series(tmp_path / "s")
    assert s.n_stacks == 1 and len(s.slices) == 9


def test_extract_records_each_slice_plane_and_stack_and_counts_stacks(tmp_path):
    k = write_kaggle(tmp_path / "k")
    folder = k / "train_images" / "1" / "12"
    for f in folder.iterdir():
        f.unlink()
    _two_block_series(folder)
    rep = extract(k, tmp_path / "out", workers=1, progress=False)
    assert rep["series_with_several_stacks"] == 1 and rep["stacks"] == rep["series_extracted"] + 1
    t = pd.read_parquet(tmp_path / "out" / "slices.parquet")
    s = t[(t.study_id == 1) & (t.series_id == 12)].sort_values("slice_index")
    assert list(s["stack"]) == [0, 0, 0, 0, 1, 1, 1]
    assert np.allclose(s[["col_y", "col_z"]].iloc[0], [np.cos(np.radians(-18)), np.sin(np.radians(18))])
    study = from_extracted(ExtractedSeries(tmp_path / "out"), 1)
    assert study.series[12].bounds(2) == (0, 4) and study.series[12].bounds(6) == (4, 7)


def test_neighbours_never_cross_from_one_stack_to_the_next():
    vol = np.stack([np.full((8, 8), 10 * i, np.uint8) for i in range(6)])
    stacks = [0, 0, 0, 1, 1, 1]
    last, first = stack_bounds(stacks, 2), stack_bounds(stacks, 3)
    assert (last, first) == ((0, 3), (3, 6))
    crop = crop_25d(vol, 2, 4, 4, 4.0, (1.0, 1.0), 4, bounds=last)
    assert crop[2].max() == 20                      # the next slice is its own edge, not slice 3 (30)
    crop = crop_25d(vol, 3, 4, 4, 4.0, (1.0, 1.0), 4, bounds=first)
    assert crop[0].max() == 30
    assert (detector_image(vol, 3, first)[..., 1] == 35).all()     # (30 + 40) / 2, not (20 + 40) / 2
    assert (detector_image(vol, 3)[..., 1] == 30).all()            # without bounds: across the gap


def test_a_point_chooses_the_slice_of_its_own_angled_block_and_projects_within_a_millimetre(tmp_path):
    _two_block_series(tmp_path / "s")
    s = read_series(tmp_path / "s")
    frames = {(7, i): sl for i, sl in enumerate(s.slices)}
    # a point on slice 5 (second slice of the upper block), 1.5 mm off its plane, at pixel (6.5, 3.25)
    target = s.slices[5]
    point = pixel_to_patient(target, 6.5, 3.25) + 1.5 * target.normal
    (series, index), dist = nearest_axial_slice(point, frames)
    assert (series, index) == (7, 5) and dist == pytest.approx(1.5, abs=1e-6)
    x, y, _ = patient_to_pixel(target, point)
    assert np.hypot(x - 6.5, y - 3.25) * 0.5 < 1.0


def _tilted_sagittal(rng, x: float) -> dict:
    rot = rotation(rng, 5.0)
    r, c = rot @ [0, 1, 0], rot @ [0, 0, -1]
    centre = np.array([x, -60.0, 40.0])
    ipp = centre - 128 * 0.7 * r - 128 * 0.7 * c
    return {"ipp_x": ipp[0], "ipp_y": ipp[1], "ipp_z": ipp[2], "row_x": r[0], "row_y": r[1], "row_z": r[2],
            "col_x": c[0], "col_y": c[1], "col_z": c[2], "spacing_row": 0.7, "spacing_col": 0.7,
            "rows": 256, "columns": 256}


def test_pixel_patient_round_trip_on_tilted_sagittal_planes():
    rng = np.random.default_rng(0)
    for _ in range(50):
        frame = _tilted_sagittal(rng, rng.uniform(-30, 30))
        x, y = rng.uniform(0, 256, 2)
        x2, y2, d = patient_to_pixel(frame, pixel_to_patient(frame, x, y))
        assert (x2, y2, d) == pytest.approx((x, y, 0.0), abs=1e-6)


def test_foraminal_boxes_on_a_tilted_sagittal_take_the_level_of_the_spinal_point_beside_them():
    rng = np.random.default_rng(3)
    frames = {(9, 0): _tilted_sagittal(rng, 18.0)}            # a left parasagittal slice, tilted
    levels = ("l1_l2", "l2_l3", "l3_l4", "l4_l5", "l5_s1")
    points = {lv: np.array([0.0, -60.0 + 2.0 * k, 100.0 - 32.0 * k]) for k, lv in enumerate(levels)}
    rows = []
    for k, lv in enumerate(levels):   # a box whose centre lies at the level's (y, z), named the wrong level
        target = points[lv] + np.array([18.0, 0.0, 0.0])
        # the pixel of the slice closest to that (y, z): project, then the box centre is that pixel
        x, y, _ = patient_to_pixel(frames[(9, 0)], target)
        rows.append({"series_id": 9, "slice_index": 0, "class_index": (k + 1) % 5,
                     "column": f"left_neural_foraminal_narrowing_{levels[(k + 1) % 5]}", "confidence": 0.5,
                     "x1": x - 5, "y1": y - 5, "x2": x + 5, "y2": y + 5})
    out = assign_sagittal_levels(pd.DataFrame(rows), points, frames, "foraminal")
    assert list(out["column"]) == [f"left_neural_foraminal_narrowing_{lv}" for lv in levels]


# --- the synthetic scanner ------------------------------------------------------------------

CFG = {"image_scale": 1.0, "multi_axial_share": 0.17, "missing_series_share": 0.0,
       "reversed_instance_share": 0.0, "rle_share": 0.0, "axial_block_share": 0.5, "axial_skip_share": 0.15,
       "axial_tilt_deg": 4.0, "sagittal_tilt_deg": 3.0, "stir_share": 0.15}


def _plans(n=60):
    out = []
    for i in range(n):
        rng = np.random.default_rng([11, i])
        sp = sample_spine(rng, np.full(len(LABEL_COLUMNS), 0.3))
        out.append((sp, plan_series(rng, sp, CFG)))
    return out


def test_the_scanner_acquires_angled_axial_blocks_and_tilted_sagittals():
    plans = _plans()
    axial = [p for _, ps in plans for p in ps if p.view == AXIAL_T2]
    orientations = [len({tuple(np.round(o, 4)) for o in p.orientations}) for p in axial]
    assert np.mean([k >= 2 for k in orientations]) >= 1 / 3             # the bar
    assert 0.3 < np.mean([len(set(p.blocks)) > 1 for p in axial]) < 0.7
    sag = [p for _, ps in plans for p in ps if p.view != AXIAL_T2]
    off_axis = [np.abs(np.abs(p.orientations[0]) - [0, 1, 0, 0, 0, 1]).max() for p in sag]
    assert np.mean(np.array(off_axis) > 0.01) > 0.8
    assert all(256 <= p.rows <= 768 and 0.5 <= p.spacing <= 0.9 + 1e-9 for p in sag)
    assert all(3.0 <= p.thickness <= 4.5 for p in sag)
    t1_t2 = [(len(a.positions), len(b.positions)) for _, ps in plans
             for a, b in [(next(p for p in ps if p.view == SAGITTAL_T1), next(p for p in ps if p.view == SAGITTAL_T2))]]
    assert any(a != b for a, b in t1_t2)


def test_each_axial_block_lies_perpendicular_to_its_disc():
    """Within the few degrees a technologist's angling misses by: mean under 3, never over 8."""
    errors = []
    for sp, ps in _plans(30):
        for p in (p for p in ps if p.view == AXIAL_T2 and len(set(p.blocks)) > 1):
            for b in set(p.blocks):
                iop = p.orientations[p.blocks.index(b)]
                normal = np.cross(iop[:3], iop[3:])
                centre = np.mean([pos for pos, k in zip(p.positions, p.blocks) if k == b], axis=0)
                j = int(np.argmin([abs(sp.disc_z(j) - centre[2]) for j in range(5)]))
                axis = np.array([0.0, np.sin(sp.disc_angle(j)), np.cos(sp.disc_angle(j))])
                errors.append(np.degrees(np.arccos(min(1.0, abs(float(np.dot(normal, axis)))))))
    assert len(errors) > 20 and np.mean(errors) < 3.0 and max(errors) < 8.0


def test_label_points_lie_on_their_slice_plane():
    for sp, ps in _plans(10):
        for column in LABEL_COLUMNS:
            point = sp.label_point(column)
            view = AXIAL_T2 if "subarticular" in column else SAGITTAL_T2 if column.startswith("spinal") else SAGITTAL_T1
            for p in (p for p in ps if p.view == view):
                i, x, y, dist = p.project(point)
                iop = p.orientations[i]
                back = p.positions[i] + x * p.spacing * iop[:3] + y * p.spacing * iop[3:]
                assert np.linalg.norm(point - back) == pytest.approx(dist, abs=1e-6)
