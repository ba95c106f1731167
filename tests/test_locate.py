"""The per-study path: study volumes -> locate (spinal first, levels by geometry) -> crops -> 25 rows.

Fake detectors return known boxes, so the test knows which slice and level each cell must get; the
volumes come from real DICOM through the same reader the pipeline uses.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dicom_fixtures import write_kaggle
from lumbar.crops import CropSpec
from lumbar.extract import extract
from lumbar.extracted import ExtractedSeries
from lumbar.inference import predict_study, prior_prediction
from lumbar.kaggle import read_kaggle, study_image_dir
from lumbar.locate import LocateConfig, locate_study
from lumbar.located import box_figures
from lumbar.study import SeriesVolume, StudyVolumes, from_dicom, from_extracted
from lumbar.vocabulary import (AXIAL_T2, BOX_COLUMNS, GROUPS, LABEL_COLUMNS, LEVELS, SAGITTAL_T2, STUDY_ID,
                               SUBMISSION_COLUMNS)

SP = 1.0
DISC_Z = {lv: 100.0 - 30.0 * k for k, lv in enumerate(LEVELS)}  # L1/L2 at z=100 ... L5/S1 at z=-20


class _Boxes:
    def __init__(self, rows):
        a = np.asarray(rows, float).reshape(-1, 6)
        self.xyxy, self.conf, self.cls = (torch.tensor(a[:, :4]), torch.tensor(a[:, 4]), torch.tensor(a[:, 5]))

    def __len__(self):
        return len(self.conf)


class _Result:
    def __init__(self, rows):
        self.boxes = _Boxes(rows)


class FakeDetector:
    """`boxes(volume_id, slice_index) -> [(x1, y1, x2, y2, conf, cls), ...]`, as ultralytics' Results."""

    def __init__(self, group, boxes):
        self.names = dict(enumerate(GROUPS[group].classes))
        self.boxes = boxes
        self.volume = None

    def predict(self, images, **kw):
        return [_Result(self.boxes(self.volume, int(img[0, 1, 0]))) for img in images]


def _sagittal(sid, x, n=5, size=100):
    """Sagittal slices at patient x = x + i: rows run down (-z), columns anterior->posterior (+y); z=150 at row 0."""
    frames = [{"ipp_x": x + i, "ipp_y": 0.0, "ipp_z": 150.0, "row_x": 0.0, "row_y": 1.0, "row_z": 0.0,
               "col_x": 0.0, "col_y": 0.0, "col_z": -1.0, "spacing_row": SP, "spacing_col": SP,
               "rows": size, "columns": size} for i in range(n)]
    vol = np.zeros((n, size, size), np.uint8)
    vol[:, 0, 1] = np.arange(n)  # the fake detector reads the slice index from pixel (0, 1)
    return SeriesVolume(sid, SAGITTAL_T2, vol, frames, list(range(1, n + 1)))


def _axial(sid, zs, size=100):
    """Axial slices at the given heights (one stack per call); columns +x (left), rows +y (posterior)."""
    frames = [{"ipp_x": -50.0, "ipp_y": -50.0, "ipp_z": z, "row_x": 1.0, "row_y": 0.0, "row_z": 0.0,
               "col_x": 0.0, "col_y": 1.0, "col_z": 0.0, "spacing_row": SP, "spacing_col": SP,
               "rows": size, "columns": size} for z in zs]
    vol = np.zeros((len(zs), size, size), np.uint8)
    vol[:, 0, 1] = np.arange(len(zs))
    return SeriesVolume(sid, AXIAL_T2, vol, frames, list(range(1, len(zs) + 1)))


def _study():
    # Two axial series: the second holds the lower discs, in the opposite slice order.
    ax1 = _axial(12, [DISC_Z["l1_l2"], DISC_Z["l1_l2"] - 10, DISC_Z["l2_l3"], DISC_Z["l3_l4"]])
    ax2 = _axial(13, [DISC_Z["l5_s1"], DISC_Z["l4_l5"] + 10, DISC_Z["l4_l5"]])
    return StudyVolumes(7, {11: _sagittal(11, -2.0), 12: ax1, 13: ax2})


def _spinal(volume, i):
    """The canal at each disc on the middle sagittal slice: box centre at (y=50, z=DISC_Z)."""
    if i != 2:
        return []
    return [(45, 150 - z - 5, 55, 150 - z + 5, 0.9, k) for k, z in enumerate(DISC_Z.values())]


def _subarticular(volume, i):
    """On every axial slice two boxes, left (x>0) and right, always named L1/L2 with low confidence."""
    left, right = GROUPS["subarticular"].classes.index("left_subarticular_stenosis_l1_l2"), \
        GROUPS["subarticular"].classes.index("right_subarticular_stenosis_l1_l2")
    return [(60, 40, 70, 50, 0.3 + 0.01 * i, left), (30, 40, 40, 50, 0.3 + 0.01 * i, right)]


def _detectors():
    # subarticular first on purpose: locate must still run spinal first, since its boxes place the levels
    return {"subarticular": FakeDetector("subarticular", _subarticular), "spinal": FakeDetector("spinal", _spinal)}


def test_spinal_boxes_place_each_axial_level_on_the_slice_through_its_disc():
    study = _study()
    boxes, notes = locate_study(_detectors(), study, LocateConfig(64, 0.01, 8, level_mm=8.0))
    assert list(boxes.columns) == list(BOX_COLUMNS)
    sub = boxes[boxes["group"] == "subarticular"].set_index("column")
    want = {"l1_l2": (12, 0), "l2_l3": (12, 2), "l3_l4": (12, 3), "l4_l5": (13, 2), "l5_s1": (13, 0)}
    for lv, (series, index) in want.items():
        for side, x1 in (("left", 60), ("right", 30)):
            r = sub.loc[f"{side}_subarticular_stenosis_{lv}"]
            assert (r["series_id"], r["slice_index"], r["x1"]) == (series, index, x1), (side, lv)
            assert r["instance_number"] == index + 1 and r["spacing_row"] == SP
    assert len(boxes[boxes["group"] == "spinal"]) == 5 and not notes


def test_without_level_placement_the_detector_keeps_its_own_levels():
    boxes, _ = locate_study(_detectors(), _study(), LocateConfig(64, 0.01, 8, level_mm=0.0))
    sub = boxes[boxes["group"] == "subarticular"]
    assert sorted(sub["column"]) == ["left_subarticular_stenosis_l1_l2", "right_subarticular_stenosis_l1_l2"]


def test_a_missing_view_is_noted_and_gives_no_boxes():
    study = _study()
    del study.series[11]  # no sagittal T2: nothing places the levels, spinal gets nothing
    boxes, notes = locate_study(_detectors(), study, LocateConfig(64, 0.01, 8, level_mm=8.0))
    assert "spinal" not in set(boxes["group"])
    assert any("Sagittal T2/STIR" in n for n in notes)


class FakeClassifier:
    def __init__(self, p):
        self.p = np.asarray(p, float)
        self.seen = []

    def predict_proba(self, images, columns):
        self.seen.append((images.shape, list(columns)))
        self.images = dict(zip(columns, images))
        return np.tile(self.p, (len(images), 1))


class FakeBundle:
    def __init__(self):
        self.detectors = _detectors()
        self.classifiers = {g: FakeClassifier([0.2, 0.3, 0.5]) for g in GROUPS}
        self.prior = pd.DataFrame(1 / 3, index=list(LABEL_COLUMNS), columns=list(SUBMISSION_COLUMNS))
        self.crop = {g: CropSpec(20.0, 16) for g in GROUPS}
        self.locate = LocateConfig(64, 0.01, 8, level_mm=8.0)
        self.low_pct, self.high_pct = 0.5, 99.5


def test_predict_study_grades_located_cells_and_gives_the_rest_the_prior():
    bundle = FakeBundle()
    pred = predict_study(bundle, _study())
    assert len(pred.probs) == 25 and list(pred.probs.columns) == ["row_id", *SUBMISSION_COLUMNS, "source"]
    by = pred.probs.set_index("row_id")
    model = {r for r in by.index if by.at[r, "source"] == "model"}
    assert model == {f"7_{c}" for g in ("spinal", "subarticular") for c in GROUPS[g].classes}
    assert np.allclose(by.loc[sorted(model), list(SUBMISSION_COLUMNS)].to_numpy(), [0.2, 0.3, 0.5])
    assert np.allclose(by.loc[[f"7_{c}" for c in GROUPS["foraminal"].classes], "normal_mild"], 1 / 3)
    shape, columns = bundle.classifiers["subarticular"].seen[0]
    assert shape == (10, 3, 16, 16) and sorted(columns) == sorted(GROUPS["subarticular"].classes)
    assert set(pred.boxes["group"]) == {"spinal", "subarticular"} and "severe" in pred.boxes.columns


def test_predict_study_mirrors_right_crops_as_the_spec_says():
    """Inference crops as training did: with the bundle's mirror_right, right columns arrive flipped."""
    plain, mirrored = FakeBundle(), FakeBundle()
    mirrored.crop = {**mirrored.crop, "subarticular": CropSpec(20.0, 16, mirror_right=True)}
    def ramped():
        # a left-right ramp on the axials, so a flipped crop differs from a plain one
        study = _study()
        for v in study.of_view(AXIAL_T2):
            v.volume[:] = np.arange(v.volume.shape[-1], dtype=np.uint8)
        return study
    predict_study(plain, ramped())
    predict_study(mirrored, ramped())
    a, b = plain.classifiers["subarticular"].images, mirrored.classifiers["subarticular"].images
    for col in GROUPS["subarticular"].classes:
        want = a[col][:, :, ::-1] if col.startswith("right") else a[col]
        assert np.array_equal(b[col], want), col
    assert any(not np.array_equal(a[c], b[c]) for c in a if c.startswith("right"))
    assert all(np.array_equal(plain.classifiers["spinal"].images[c], mirrored.classifiers["spinal"].images[c])
               for c in GROUPS["spinal"].classes)


def test_an_unreadable_study_gets_the_prior_everywhere():
    pred = prior_prediction(FakeBundle(), 9, "study unreadable")
    assert (pred.probs["source"] == "prior").all() and len(pred.probs) == 25 and pred.notes


def test_box_figures_count_inside_on_slice_and_wrong_series():
    boxes = pd.DataFrame([{STUDY_ID: 1, "column": "spinal_canal_stenosis_l1_l2", "series_id": 5, "slice_index": 3,
                           "x1": 0, "y1": 0, "x2": 10, "y2": 10}])
    pts = pd.DataFrame([
        {STUDY_ID: 1, "series_id": 5, "slice_index": 4.0, "column": "spinal_canal_stenosis_l1_l2", "x": 5, "y": 5},
        {STUDY_ID: 2, "series_id": 5, "slice_index": 4.0, "column": "spinal_canal_stenosis_l1_l2", "x": 5, "y": 5}])
    f = box_figures(boxes, pts)["spinal"]
    assert f == {"points": 2, "located": 0.5, "slice_within_1": 0.5, "inside_box": 0.5}
    far = box_figures(boxes.assign(slice_index=1), pts)["spinal"]
    assert far["slice_within_1"] == 0 and far["inside_box"] == 0
    other = box_figures(boxes.assign(series_id=6), pts)["spinal"]
    assert other["located"] == 0.5 and other["inside_box"] == 0


def test_a_study_reads_the_same_from_dicom_and_from_the_extract_output(tmp_path):
    k = write_kaggle(tmp_path / "k")
    extract(k, tmp_path / "ext", workers=1, progress=False)
    data = read_kaggle(k, "train")
    listed = data.series[data.series[STUDY_ID] == 1]
    a = from_dicom(1, study_image_dir(k, "train", 1), listed, 0.5, 99.5)
    b = from_extracted(ExtractedSeries(tmp_path / "ext"), 1)
    assert sorted(a.series) == sorted(b.series) == [10, 11, 12, 13]
    for sid in a.series:
        sa, sb = a.series[sid], b.series[sid]
        assert sa.view == sb.view and sa.instance_numbers == sb.instance_numbers
        assert np.array_equal(sa.volume, np.asarray(sb.volume))
        assert sa.spacing == pytest.approx(sb.spacing)
    assert set(a.frames(AXIAL_T2)) == set(b.frames(AXIAL_T2)) == {(12, i) for i in range(3)} | {(13, i) for i in range(3)}
