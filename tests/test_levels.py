"""Levels placed by the spinal boxes: axial slices and foraminal boxes take the level the geometry says."""
import numpy as np
import pandas as pd
import pytest

from lumbar.detection.levels import (assign_axial_levels, assign_sagittal_levels, choose_boxes, level_points,
                                     order_levels)
from lumbar.geometry import pixel_to_patient
from lumbar.vocabulary import GROUPS, LEVELS, SERIES_ID

SP = 0.5  # mm per pixel everywhere
DISC_Z = {lv: 100.0 - 35.0 * k for k, lv in enumerate(LEVELS)}  # L1/L2 at z=100 ... L5/S1 at z=-40


def axial_frame(z: float) -> dict:
    """An axial slice at height z: rows run posterior (+y), columns to the patient's left (+x)."""
    return {"ipp_x": -50.0, "ipp_y": -50.0, "ipp_z": z, "row_x": 1.0, "row_y": 0.0, "row_z": 0.0,
            "col_x": 0.0, "col_y": 1.0, "col_z": 0.0, "spacing_row": SP, "spacing_col": SP,
            "rows": 200, "columns": 200}


def sagittal_frame(x: float) -> dict:
    """A sagittal slice at patient x: columns run posterior (+y), rows downwards (-z) from z=150."""
    return {"ipp_x": x, "ipp_y": -50.0, "ipp_z": 150.0, "row_x": 0.0, "row_y": 1.0, "row_z": 0.0,
            "col_x": 0.0, "col_y": 0.0, "col_z": -1.0, "spacing_row": SP, "spacing_col": SP,
            "rows": 400, "columns": 200}


def box(series, index, column, group, conf, cx, cy, half=8):
    g = GROUPS[group]
    return {SERIES_ID: series, "slice_index": index, "class_index": g.classes.index(column), "column": column,
            "confidence": conf, "x1": cx - half, "y1": cy - half, "x2": cx + half, "y2": cy + half}


def spinal_points() -> dict:
    """Canal centres at each disc, from spinal boxes on a midline sagittal slice."""
    frames = {(1, 0): sagittal_frame(0.0)}
    rows = [box(1, 0, f"spinal_canal_stenosis_{lv}", "spinal", 0.9, (10.0 + 50) / SP, (150 - z) / SP)
            for lv, z in DISC_Z.items()]
    return level_points(pd.DataFrame(rows), frames)


def test_level_points_are_box_centres_in_patient_space():
    pts = spinal_points()
    assert sorted(pts) == sorted(LEVELS)
    np.testing.assert_allclose(pts["l4_l5"], [0.0, 10.0, DISC_Z["l4_l5"]])


def test_axial_boxes_take_the_level_of_their_slice_and_the_side_of_their_x():
    # One axial series, one slice per disc. The detector names every box "l1_l2" and the right side
    # "left" on L3/L4: the slice and the patient x must win.
    frames = {(7, k): axial_frame(z) for k, z in enumerate(DISC_Z.values())}
    rows = []
    for k in range(len(LEVELS)):
        rows.append(box(7, k, "left_subarticular_stenosis_l1_l2", "subarticular", 0.5 + k / 20, 140, 120))
        right_name = "left_subarticular_stenosis_l1_l2" if k == 2 else "right_subarticular_stenosis_l1_l2"
        rows.append(box(7, k, right_name, "subarticular", 0.4, 60, 120))
    best = assign_axial_levels(pd.DataFrame(rows), spinal_points(), frames, max_mm=8.0)
    assert list(best["column"]) == list(GROUPS["subarticular"].classes)
    assert best.set_index("column").loc["right_subarticular_stenosis_l3_l4", "slice_index"] == 2
    assert best.set_index("column").loc["left_subarticular_stenosis_l5_s1", "x1"] == 132  # x > canal: left
    assert best.set_index("column").loc["right_subarticular_stenosis_l5_s1", "x1"] == 52


def test_axial_levels_beyond_max_mm_keep_the_detectors_own_choice():
    frames = {(7, 0): axial_frame(DISC_Z["l1_l2"] + 20.0)}  # 20 mm from the nearest disc
    rows = [box(7, 0, "left_subarticular_stenosis_l2_l3", "subarticular", 0.9, 140, 120)]
    best = assign_axial_levels(pd.DataFrame(rows), spinal_points(), frames, max_mm=8.0)
    assert list(best["column"]) == ["left_subarticular_stenosis_l2_l3"]


def test_foraminal_boxes_take_the_nearest_spinal_level_unless_it_is_missing():
    frames = {(3, 0): sagittal_frame(15.0)}
    pts = spinal_points()
    del pts["l5_s1"]  # the spinal detector missed L5/S1
    rows = [  # named one level too high, 9 mm above the L3/L4 disc; and a box at the missed level
        box(3, 0, "left_neural_foraminal_narrowing_l2_l3", "foraminal", 0.8, (6.0 + 50) / SP,
            (150 - DISC_Z["l3_l4"] - 9) / SP),
        box(3, 0, "left_neural_foraminal_narrowing_l4_l5", "foraminal", 0.7, (6.0 + 50) / SP,
            (150 - DISC_Z["l5_s1"]) / SP),
    ]
    out = assign_sagittal_levels(pd.DataFrame(rows), pts, frames, "foraminal")
    assert list(out["column"]) == ["left_neural_foraminal_narrowing_l3_l4", "left_neural_foraminal_narrowing_l4_l5"]


def test_choose_boxes_without_points_is_the_detectors_best_per_class():
    frames = {(3, 0): sagittal_frame(15.0), (3, 1): sagittal_frame(-15.0)}
    rows = [box(3, 0, "left_neural_foraminal_narrowing_l3_l4", "foraminal", 0.8, 100, 100),
            box(3, 1, "left_neural_foraminal_narrowing_l3_l4", "foraminal", 0.6, 100, 100)]
    best = choose_boxes("foraminal", pd.DataFrame(rows), frames)
    # sides still come from the slice's patient x: slice 1 lies on the right
    assert sorted(best["column"]) == ["left_neural_foraminal_narrowing_l3_l4", "right_neural_foraminal_narrowing_l3_l4"]


def _spinal_rows(named: dict[float, list[tuple[str, float]]]) -> pd.DataFrame:
    """Spinal boxes on the midline slice: disc height z -> [(level named, confidence), ...]."""
    return pd.DataFrame([box(1, 0, f"spinal_canal_stenosis_{lv}", "spinal", conf, 60.0 / SP, (150 - z) / SP)
                         for z, names in named.items() for lv, conf in names])


def _levels_at(out: pd.DataFrame) -> dict[str, float]:
    frames = {(1, 0): sagittal_frame(0.0)}
    return {str(r.column)[-5:]: round(float(pixel_to_patient(frames[(1, 0)], (r.x1 + r.x2) / 2,
                                                             (r.y1 + r.y2) / 2)[2]), 1) for r in out.itertuples()}


def test_spinal_levels_are_counted_along_the_spine_not_taken_from_the_class_names():
    z = list(DISC_Z.values())                      # L1/L2 at 100 ... L5/S1 at -40
    # every disc found, the upper three named one level too low (the detector's typical mistake)
    rows = _spinal_rows({z[0]: [("l2_l3", 0.3), ("l1_l2", 0.1)], z[1]: [("l3_l4", 0.3)], z[2]: [("l4_l5", 0.3)],
                         z[3]: [("l4_l5", 0.6)], z[4]: [("l5_s1", 0.7)]})
    out = choose_boxes("spinal", rows, {(1, 0): sagittal_frame(0.0)}, {}, level_mm=8.0)
    assert _levels_at(out) == {lv: zz for lv, zz in DISC_Z.items()}
    # level_mm 0: the detector's own names, most confident box per class
    own = choose_boxes("spinal", rows, {(1, 0): sagittal_frame(0.0)}, {}, level_mm=0.0)
    assert _levels_at(own)["l4_l5"] == z[3] and "l1_l2" in _levels_at(own)


def test_a_disc_nobody_found_is_counted_and_a_faint_spurious_one_left_out():
    z = list(DISC_Z.values())
    rows = _spinal_rows({z[0] + 30: [("l1_l2", 0.05)],              # faint box above L1/L2: not a disc
                         z[0]: [("l1_l2", 0.6)], z[1]: [("l2_l3", 0.5)],   # L3/L4 found by nobody
                         z[3]: [("l3_l4", 0.4)], z[4]: [("l5_s1", 0.7)]})
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    assert _levels_at(out) == {"l1_l2": z[0], "l2_l3": z[1], "l4_l5": z[3], "l5_s1": z[4]}


def test_with_three_discs_found_the_smallest_step_is_one_level():
    """Two steps have no median to trust: here the second is three levels (two discs were missed), and
    taking its median with the first would make it one."""
    z = list(DISC_Z.values())
    rows = _spinal_rows({z[0]: [("l2_l3", 0.2), ("l1_l2", 0.1)], z[1]: [("l2_l3", 0.15)], z[4]: [("l5_s1", 0.9)]})
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    assert _levels_at(out) == {"l1_l2": z[0], "l2_l3": z[1], "l5_s1": z[4]}


def _rows_at(named: list[tuple[float, float, str, float]]) -> pd.DataFrame:
    """Spinal boxes on the midline slice: (disc height z, patient y, level named, confidence)."""
    return pd.DataFrame([box(1, 0, f"spinal_canal_stenosis_{lv}", "spinal", conf, (y + 50) / SP, (150 - z) / SP)
                         for z, y, lv, conf in named])


def test_each_level_is_read_from_its_discs_most_confident_box_and_rows_keep_their_columns():
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0], 10.0, "l1_l2", 0.2), (z[0] + 2, 13.0, "l1_l2", 0.6),     # one disc, two boxes 3.6 mm apart
                     (z[1], 10.0, "l2_l3", 0.5), (z[1] - 1, 8.0, "l3_l4", 0.3)])
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    assert list(out.columns) == list(rows.columns) and list(out.index) == [0, 1]
    assert dict(out.dtypes) == dict(rows.dtypes)
    got = {r.column[-5:]: (r.confidence, round((r.x1 + r.x2) / 2 * SP - 50, 3)) for r in out.itertuples()}
    assert got == {"l1_l2": (0.6, 13.0), "l2_l3": (0.5, 10.0)}


def test_boxes_exactly_cluster_mm_apart_are_one_disc():
    from lumbar.detection.levels import CLUSTER_MM
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0], 10.0, "l1_l2", 0.6), (z[0], 10.0 + CLUSTER_MM, "l2_l3", 0.5), (z[1], 10.0, "l2_l3", 0.4)])
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    assert sorted(out["column"].str[-5:]) == ["l1_l2", "l2_l3"] and len(out) == 2


def test_the_votes_of_one_disc_add_up():
    """Two weak votes for L2/L3 outweigh one stronger vote for L1/L2 at the same disc."""
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0], 10.0, "l1_l2", 0.5), (z[0], 10.5, "l2_l3", 0.3), (z[0], 11.0, "l2_l3", 0.3),
                     (z[1], 10.0, "l3_l4", 0.25), (z[1], 10.5, "l2_l3", 0.1)])
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    assert _levels_at(out) == {"l2_l3": z[0], "l3_l4": z[1]}


def test_a_box_votes_for_its_own_disc_not_the_last_one_seen():
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0], 10.0, "l2_l3", 0.5), (z[1], 10.0, "l3_l4", 0.45), (z[2], 10.0, "l4_l5", 0.4)]
                    + [(z[0], 10.0 + k, "l1_l2", 0.35) for k in range(4)])  # found after the other discs' seeds
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    assert _levels_at(out) == {"l1_l2": z[0], "l2_l3": z[1], "l3_l4": z[2]}


def test_of_equally_confident_boxes_the_first_listed_reads_the_disc():
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0], 10.0 + 0.25 * k, "l1_l2", 0.5) for k in range(20)] + [(z[1], 10.0, "l2_l3", 0.5)])
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    assert out.iloc[0]["x1"] == rows.iloc[0]["x1"]


def test_order_levels_leaves_sided_groups_and_empty_input_to_best_per_class():
    from lumbar.detection.predict import best_per_class
    frames = {(3, 0): sagittal_frame(15.0)}
    rows = pd.DataFrame([box(3, 0, "left_neural_foraminal_narrowing_l4_l5", "foraminal", 0.9, 50, 100),
                         box(3, 0, "left_neural_foraminal_narrowing_l4_l5", "foraminal", 0.5, 50, 160)])
    pd.testing.assert_frame_equal(order_levels(rows, frames, "foraminal"), best_per_class(rows))
    empty = order_levels(rows.iloc[:0], frames, "spinal")
    assert empty.empty and list(empty.columns) == list(best_per_class(rows.iloc[:0]).columns)
    one = order_levels(rows.iloc[:1].assign(column="spinal_canal_stenosis_l4_l5", class_index=3), frames, "spinal")
    assert one["column"].tolist() == ["spinal_canal_stenosis_l4_l5"]  # one disc: the detector's own name


def _order(rows: pd.DataFrame) -> dict[str, float]:
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    g = GROUPS["spinal"]
    assert [g.classes[i] for i in out["class_index"]] == list(out["column"])  # index and name move together
    return _levels_at(out)


def test_with_four_discs_the_median_step_is_one_level():
    """Steps 30, 36, 50 mm: the median (36) makes 50 one level; the smallest (30) would make it two."""
    zs = [100.0, 70.0, 34.0, -16.0]
    rows = _rows_at([(z, 10.0, lv, 0.5) for z, lv in zip(zs, LEVELS)])
    assert _order(rows) == dict(zip(LEVELS, zs))


def test_a_step_just_under_the_gap_factor_is_one_level():
    zs = [100.0, 65.0, 11.0]  # steps 35 and 54 mm (1.54 x): no disc missed
    rows = _rows_at([(z, 10.0, lv, 0.5) for z, lv in zip(zs, LEVELS)])
    assert _order(rows) == dict(zip(LEVELS, zs))


def test_a_missed_disc_low_in_the_row_is_counted():
    z = list(DISC_Z.values())
    rows = _rows_at([(z[k], 10.0, LEVELS[k], 0.5) for k in (0, 1, 2, 4)])  # L4/L5 found by nobody
    assert _order(rows) == {LEVELS[k]: z[k] for k in (0, 1, 2, 4)}


def test_a_disc_above_l1_l2_is_left_without_a_level():
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0] + 35, 10.0, "l1_l2", 0.1), (z[0], 10.0, "l1_l2", 0.9)])  # T12/L1 faintly named L1/L2
    assert _order(rows) == {"l1_l2": z[0]}


def test_a_disc_below_l5_s1_is_left_without_a_level():
    z = list(DISC_Z.values())
    rows = _rows_at([(z[3], 10.0, "l4_l5", 0.9), (z[4], 10.0, "l5_s1", 0.9), (z[4] - 35, 10.0, "l5_s1", 0.1)])
    assert _order(rows) == {"l4_l5": z[3], "l5_s1": z[4]}


def test_leaving_a_disc_out_costs_its_votes():
    """Two discs whose votes are spread over every level: both keep a level (the first offset that
    places both), because leaving one out costs half its votes rather than earning them."""
    z = list(DISC_Z.values())
    rows = _rows_at([(zz, 10.0 + 0.1 * k, lv, 0.1) for zz in z[:2] for k, lv in enumerate(LEVELS)])
    assert _order(rows) == {"l1_l2": z[0], "l2_l3": z[1]}


def test_a_disc_with_a_tenth_of_the_top_votes_is_a_candidate():
    """0.1 against a top disc of 0.7 (share 0.14 >= MIN_SHARE): kept, so the levels shift below it."""
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0], 10.0, "l2_l3", 0.1), (z[1], 10.0, "l2_l3", 0.7), (z[2], 10.0, "l3_l4", 0.7)])
    assert _order(rows) == {"l1_l2": z[0], "l2_l3": z[1], "l3_l4": z[2]}


def _foraminal(side: str, named: str, z: float) -> dict:
    return box(3, 0, f"{side}_neural_foraminal_narrowing_{named}", "foraminal", 0.8, (6.0 + 50) / SP, (150 - z) / SP)


def _check_index(out: pd.DataFrame) -> list[str]:
    g = GROUPS["foraminal"]
    assert [g.classes[i] for i in out["class_index"]] == list(out["column"])
    return list(out["column"])


def test_foraminal_renaming_keeps_the_side_and_needs_a_point_within_half_a_spacing():
    frames = {(3, 0): sagittal_frame(15.0)}
    spacing = DISC_Z["l1_l2"] - DISC_Z["l2_l3"]
    rows = pd.DataFrame([_foraminal("right", "l1_l2", DISC_Z["l3_l4"] + 0.45 * spacing),   # within half: renamed
                         _foraminal("left", "l1_l2", DISC_Z["l3_l4"] - 0.45 * spacing),    # within half: renamed
                         _foraminal("right", "l2_l3", DISC_Z["l5_s1"] - 0.6 * spacing)])  # beyond: kept
    out = assign_sagittal_levels(rows, spinal_points(), frames, "foraminal")
    assert _check_index(out) == ["right_neural_foraminal_narrowing_l3_l4", "left_neural_foraminal_narrowing_l3_l4",
                                 "right_neural_foraminal_narrowing_l2_l3"]


def test_foraminal_renaming_works_from_two_points_and_not_from_fewer():
    frames = {(3, 0): sagittal_frame(15.0)}
    pts = {lv: p for lv, p in spinal_points().items() if lv in ("l4_l5", "l5_s1")}
    rows = pd.DataFrame([_foraminal("left", "l2_l3", DISC_Z["l4_l5"] + 3)])
    assert _check_index(assign_sagittal_levels(rows, pts, frames, "foraminal")) == ["left_neural_foraminal_narrowing_l4_l5"]
    for fewer in ({"l4_l5": pts["l4_l5"]}, {}):
        pd.testing.assert_frame_equal(assign_sagittal_levels(rows, fewer, frames, "foraminal"), rows)


def test_centre_x_is_the_image_centre_on_tilted_frames_and_read_slices(tmp_path):
    from dicom_fixtures import write_series
    from lumbar.detection.levels import _centre_x
    from lumbar.dicom import read_series
    a, b = np.radians(20), np.radians(10)  # turned about the vertical and about the AP axis
    f = {**sagittal_frame(5.0), "row_x": float(np.sin(a)), "row_y": float(np.cos(a)),
         "col_x": float(np.sin(b)), "col_z": float(-np.cos(b))}
    assert _centre_x(f) == pytest.approx(5.0 + np.sin(a) * SP * f["columns"] / 2 + np.sin(b) * SP * f["rows"] / 2)
    s = read_series(write_series(tmp_path / "s", n=2, shape=(12, 16), origin=(7.0, -3.0, 2.0))[0].parent).slices[0]
    assert _centre_x(s) == pytest.approx(float(pixel_to_patient(s, 8, 6)[0]))


def test_level_points_skip_a_box_whose_slice_is_unknown_and_go_on():
    frames = {(1, 0): sagittal_frame(0.0)}
    rows = pd.DataFrame([box(1, 5, "spinal_canal_stenosis_l1_l2", "spinal", 0.9, 100, 100),   # slice 5: no frame
                         box(1, 0, "spinal_canal_stenosis_l2_l3", "spinal", 0.9, 100, 100)])
    pts = level_points(rows, frames)
    assert list(pts) == ["l2_l3"] and pts["l2_l3"] == pytest.approx(pixel_to_patient(frames[(1, 0)], 100, 100))


def test_nearest_axial_slice_takes_the_first_of_two_equally_near():
    from lumbar.detection.levels import nearest_axial_slice
    frames = {(7, 0): axial_frame(10.0), (7, 1): axial_frame(20.0)}
    key, d = nearest_axial_slice(np.array([0.0, 0.0, 15.0]), frames)
    assert key == (7, 0) and d == pytest.approx(5.0)


def _turned_axial(z: float, deg: float = 30.0) -> dict:
    """An axial slice at height z turned in-plane: patient x depends on both pixel axes."""
    a = np.radians(deg)
    f = axial_frame(z)
    c, s = float(np.cos(a)), float(np.sin(a))
    centre = np.array([10.0 + 50, 0.0])  # keep the canal (patient x=0... 10) inside the image
    return {**f, "row_x": c, "row_y": s, "col_x": -s, "col_y": c,
            "ipp_x": -(c * 100 - s * 100) * SP + 0.0, "ipp_y": -(s * 100 + c * 100) * SP + 10.0}


def _axial_box(series, index, column, conf, patient_x, patient_y, frame):
    from lumbar.geometry import patient_to_pixel
    px, py, _ = patient_to_pixel(frame, np.array([patient_x, patient_y, frame["ipp_z"]]))
    return box(series, index, column, "subarticular", conf, px, py)


def test_axial_levels_on_turned_slices_keep_untouched_cells_and_take_the_most_confident_box_per_side():
    pts = spinal_points()                      # canal at patient x=0, y=10
    # slices at L2/L3 (no boxes on it), L3/L4 and L5/S1; L1/L2 and L4/L5 have none within max_mm.
    # None of those stops the levels after them.
    frames = {(7, 0): _turned_axial(DISC_Z["l3_l4"]), (7, 1): _turned_axial(DISC_Z["l5_s1"]),
              (7, 2): _turned_axial(DISC_Z["l2_l3"])}
    f0, f1 = frames[(7, 0)], frames[(7, 1)]
    rows = pd.DataFrame([
        _axial_box(7, 0, "left_subarticular_stenosis_l1_l2", 0.3, 12.0, 14.0, f0),   # left of the canal
        _axial_box(7, 0, "left_subarticular_stenosis_l1_l2", 0.6, 15.0, 6.0, f0),    # left, more confident
        _axial_box(7, 1, "left_subarticular_stenosis_l2_l3", 0.5, -12.0, 12.0, f1),  # right (x < 0), alone
    ])
    best = assign_axial_levels(rows, pts, frames, max_mm=8.0)
    g = GROUPS["subarticular"]
    assert list(best.columns) == list(rows.columns) and list(best.index) == list(range(len(best)))
    assert [g.classes[i] for i in best["class_index"]] == list(best["column"])
    got = best.set_index("column")["confidence"].to_dict()
    # the cells placed by geometry, plus the detector's own cells that no level replaced
    assert got == {"left_subarticular_stenosis_l1_l2": 0.6, "left_subarticular_stenosis_l2_l3": 0.5,
                   "left_subarticular_stenosis_l3_l4": 0.6, "right_subarticular_stenosis_l5_s1": 0.5}


def test_choose_boxes_places_levels_by_the_spinal_points_only_when_level_mm_is_positive():
    """The path crop, evaluate and predict use: foraminal and axial boxes placed by the spinal points,
    spinal boxes counted along the spine, whenever crop.level_mm > 0 (any positive value)."""
    pts = spinal_points()
    sag = {(3, 0): sagittal_frame(15.0)}
    foraminal = pd.DataFrame([_foraminal("left", "l2_l3", DISC_Z["l3_l4"] - 9)])  # named one level too high
    for mm in (0.5, 8.0):
        assert choose_boxes("foraminal", foraminal, sag, pts, level_mm=mm)["column"].tolist() == \
            ["left_neural_foraminal_narrowing_l3_l4"]
    assert choose_boxes("foraminal", foraminal, sag, pts, level_mm=0.0)["column"].tolist() == \
        ["left_neural_foraminal_narrowing_l2_l3"]
    assert choose_boxes("foraminal", foraminal, sag, pts)["column"].tolist() == ["left_neural_foraminal_narrowing_l2_l3"]

    ax = {(7, 0): axial_frame(DISC_Z["l4_l5"])}
    axial = pd.DataFrame([box(7, 0, "left_subarticular_stenosis_l1_l2", "subarticular", 0.5, 140, 120)])
    assert choose_boxes("subarticular", axial, ax, pts, level_mm=0.5)["column"].tolist() == \
        ["left_subarticular_stenosis_l1_l2", "left_subarticular_stenosis_l4_l5"]
    assert choose_boxes("subarticular", axial, ax, pts, level_mm=0.0)["column"].tolist() == \
        ["left_subarticular_stenosis_l1_l2"]

    mid = {(1, 0): sagittal_frame(0.0)}
    z = list(DISC_Z.values())
    spinal = _rows_at([(z[0], 10.0, "l2_l3", 0.3), (z[1], 10.0, "l2_l3", 0.6)])  # two discs named alike
    assert _levels_at(choose_boxes("spinal", spinal, mid, {}, level_mm=0.5)) == {"l1_l2": z[0], "l2_l3": z[1]}
    assert _levels_at(choose_boxes("spinal", spinal, mid)) == {"l2_l3": z[1]}
    empty = choose_boxes("spinal", spinal.iloc[:0], mid, pts, level_mm=8.0)
    assert empty.empty and list(empty.columns) == list(spinal.columns)


def test_a_foraminal_box_exactly_half_a_spacing_from_a_point_is_renamed():
    frames = {(3, 0): sagittal_frame(15.0)}
    spacing = DISC_Z["l1_l2"] - DISC_Z["l2_l3"]
    on_line = box(3, 0, "left_neural_foraminal_narrowing_l1_l2", "foraminal", 0.8, (10.0 + 50) / SP,
                  (150 - DISC_Z["l3_l4"] + 0.5 * spacing) / SP)  # same y as the points, z exactly half-way down
    out = assign_sagittal_levels(pd.DataFrame([on_line]), spinal_points(), frames, "foraminal")
    assert _check_index(out) == ["left_neural_foraminal_narrowing_l3_l4"]


def test_axial_edges_a_slice_exactly_max_mm_away_and_a_box_exactly_on_the_canal():
    pts = spinal_points()                                       # canal at patient x = 0
    frames = {(7, 0): axial_frame(DISC_Z["l4_l5"] + 8.0)}       # exactly max_mm from L4/L5
    on_canal = box(7, 0, "left_subarticular_stenosis_l1_l2", "subarticular", 0.5, 100, 120)  # patient x = 0.0
    got = assign_axial_levels(pd.DataFrame([on_canal]), pts, frames, max_mm=8.0)
    assert sorted(got["column"]) == ["left_subarticular_stenosis_l1_l2", "right_subarticular_stenosis_l4_l5"]


def test_axial_sides_use_both_pixel_axes_of_a_turned_slice():
    pts = spinal_points()
    frames = {(7, 0): _turned_axial(DISC_Z["l3_l4"])}
    b = _axial_box(7, 0, "right_subarticular_stenosis_l1_l2", 0.5, 2.0, 10.0, frames[(7, 0)])  # 2 mm left of it
    assert (b["y1"] + b["y2"]) / 2 > 50  # far enough down the image that the row index matters
    got = assign_axial_levels(pd.DataFrame([b]), pts, frames, max_mm=8.0)
    assert "left_subarticular_stenosis_l3_l4" in set(got["column"])


def test_order_levels_defaults_to_the_spinal_group_and_keeps_a_disc_at_exactly_min_share():
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0], 10.0, "l2_l3", 0.1), (z[1], 10.0, "l2_l3", 1.0), (z[2], 10.0, "l3_l4", 1.0)])
    assert _levels_at(order_levels(rows, {(1, 0): sagittal_frame(0.0)})) == \
        {"l1_l2": z[0], "l2_l3": z[1], "l3_l4": z[2]}


def test_boxes_of_one_disc_10_mm_apart_are_one_disc():
    z = list(DISC_Z.values())
    rows = _rows_at([(z[0] + 5, 10.0, "l1_l2", 0.5), (z[0] - 5, 10.0, "l2_l3", 0.3), (z[1], 10.0, "l2_l3", 0.5)])
    assert _order(rows) == {"l1_l2": z[0] + 5, "l2_l3": z[1]}


def test_box_centre_is_the_pixel_centre_in_patient_space_on_a_tilted_frame():
    from lumbar.detection.levels import box_centre
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    frame = {"ipp_x": 5.0, "ipp_y": -40.0, "ipp_z": 120.0, "row_x": 0.0, "row_y": c, "row_z": s,
             "col_x": 0.0, "col_y": s, "col_z": -c, "spacing_row": 0.8, "spacing_col": 0.6,
             "rows": 300, "columns": 200}
    b = pd.Series({"x1": 30.0, "y1": 100.0, "x2": 50.0, "y2": 140.0})
    np.testing.assert_allclose(box_centre(frame, b), pixel_to_patient(frame, 40.0, 120.0))
    # by hand: 40 columns along the row direction at 0.6 mm, 120 rows along the column direction at 0.8 mm
    np.testing.assert_allclose(box_centre(frame, b), [5.0, -40.0 + 24 * c + 96 * s, 120.0 + 24 * s - 96 * c])


def test_of_tied_most_confident_boxes_among_others_the_first_listed_reads_the_disc():
    """Ties broken by the order of the detections, also among many boxes of other confidences."""
    z = list(DISC_Z.values())
    confs = [0.5, 0.7, 0.6] * 10
    rows = _rows_at([(z[0], 10.0 + 0.2 * k, "l1_l2", c) for k, c in enumerate(confs)] + [(z[1], 10.0, "l2_l3", 0.9)])
    out = order_levels(rows, {(1, 0): sagittal_frame(0.0)}, "spinal")
    first_top = rows[rows["confidence"] == 0.7].iloc[0]
    assert out.iloc[0]["x1"] == first_top["x1"] and out.iloc[0]["column"].endswith("l1_l2")


def test_two_discs_above_l1_l2_are_both_left_without_a_level():
    """The row may start above L1/L2 by more than one disc (T11/T12 and T12/L1 in view)."""
    z = list(DISC_Z.values())
    above = [(z[0] + 70, 10.0, "l1_l2", 0.2), (z[0] + 35, 10.0, "l1_l2", 0.3)]  # candidates, wrongly named
    rows = _rows_at(above + [(z[k], 10.0, LEVELS[k], 0.9) for k in range(5)])
    assert _order(rows) == dict(zip(LEVELS, z))
