"""The crop stage's library: label crops for training studies, located crops for validation studies."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import write_kaggle
from lumbar.crop_sets import build_crop_set
from lumbar.crops import CropSpec, crop_25d
from lumbar.extract import extract
from lumbar.extracted import ExtractedSeries
from lumbar.kaggle import read_kaggle
from lumbar.located import empty_boxes
from lumbar.vocabulary import BOX_COLUMNS, GRADE_INDEX, GROUPS


def _fixture(tmp_path):
    k = write_kaggle(tmp_path / "k")
    extract(k, tmp_path / "ext", workers=1, progress=False)
    data = read_kaggle(k, "train")
    split = pd.DataFrame({"study_id": [1, 2], "split": ["train", "val"], "fold": [1, 0]})
    return ExtractedSeries(tmp_path / "ext"), data, split


def _located(study: int, series: int, column: str, slice_index: int, box) -> pd.DataFrame:
    row = dict(zip(BOX_COLUMNS, (study, "spinal", column, series, slice_index, slice_index + 1, *box, 0.7, 0.5, 0.5)))
    return pd.DataFrame([row]).astype(empty_boxes().dtypes.to_dict())


def test_label_crops_for_training_located_crops_for_validation(tmp_path):
    store, data, split = _fixture(tmp_path)
    column = "spinal_canal_stenosis_l4_l5"
    located = _located(2, 21, column, 1, (10.0, 6.0, 18.0, 12.0))
    spec = CropSpec(side_mm=4.0, size=8)
    summary = build_crop_set("spinal", store, data.coordinates, data.labels, split, located, [2], spec,
                             tmp_path / "crops", jitter_mm=0.0, seed=0)
    table = pd.read_csv(tmp_path / "crops" / "crops.csv")
    images = np.load(tmp_path / "crops" / "images.npy")
    assert list(table["source"]) == ["label", "detector"] and list(table["split"]) == ["train", "val"]
    assert list(table["study_id"]) == [1, 2] and len(images) == 2
    labels = data.labels.set_index("study_id")
    assert list(table["grade"]) == [GRADE_INDEX[labels.at[1, column]], GRADE_INDEX[labels.at[2, column]]]
    # the label crop is centred on the label point (instance 2 of series 11: reversed numbering -> slice 1)
    vol = np.asarray(store.volume(1, 11))
    assert np.array_equal(images[0], crop_25d(vol, 1, 8.5, 6.25, 4.0, (0.5, 0.5), 8))
    # the located crop is centred on the located box
    vol2 = np.asarray(store.volume(2, 21))
    assert np.array_equal(images[1], crop_25d(vol2, 1, 14.0, 9.0, 4.0, (0.5, 0.5), 8))
    assert summary["spec"] == {"side_mm": 4.0, "size": 8, "mirror_right": False} and summary["by_split"] == {"train": 1, "val": 1}
    missing = pd.read_csv(tmp_path / "crops" / "missing.csv")
    # study 2 is covered: its four other spinal cells were located nowhere
    assert set(missing.loc[missing.study_id == 2, "reason"]) == {"no detection"}
    assert len(missing[missing.study_id == 2]) == len(GROUPS["spinal"].classes) - 1
    assert json.loads((tmp_path / "crops" / "summary.json").read_text()) == summary


def test_a_bad_label_point_is_named_by_its_csv_row_and_costs_only_its_cell(tmp_path):
    store, data, split = _fixture(tmp_path)
    coords = data.coordinates.copy()
    row = coords.index[(coords["study_id"] == 1) & (coords["column"] == "spinal_canal_stenosis_l4_l5")][0]
    coords.loc[row, "x"] = 999.0
    build_crop_set("spinal", store, coords, data.labels, split, empty_boxes(), [], CropSpec(4.0, 8),
                   tmp_path / "crops")
    missing = pd.read_csv(tmp_path / "crops" / "missing.csv")
    hit = missing[missing["reason"] == "point outside the image"]
    assert list(hit["csv_row"]) == [row] and row == 2    # the first data line of the coordinates CSV
    assert len(pd.read_csv(tmp_path / "crops" / "crops.csv")) == 0


def test_holdout_and_uncovered_studies_get_no_crops(tmp_path):
    store, data, split = _fixture(tmp_path)
    split = split.assign(split=["train", "holdout"])
    located = _located(2, 21, "spinal_canal_stenosis_l4_l5", 1, (10.0, 6.0, 18.0, 12.0))
    build_crop_set("spinal", store, data.coordinates, data.labels, split, located, [2], CropSpec(4.0, 8),
                   tmp_path / "crops")
    table = pd.read_csv(tmp_path / "crops" / "crops.csv")
    assert set(table["split"]) == {"train"} and set(table["study_id"]) == {1}


def test_crop_writer_writes_the_bytes_of_np_save_and_keeps_its_header_length(tmp_path):
    from lumbar.crop_sets import CropWriter

    rng = np.random.default_rng(0)
    for n in (0, 1, 3):
        crops = [rng.integers(0, 256, (3, 8, 8), dtype=np.uint8) for _ in range(n)]
        with CropWriter(tmp_path / "w.npy", (3, 8, 8)) as w:
            for c in crops:
                w.add(c)
        np.save(tmp_path / "s.npy", np.stack(crops) if crops else np.zeros((0, 3, 8, 8), np.uint8))
        assert (tmp_path / "w.npy").read_bytes() == (tmp_path / "s.npy").read_bytes()
    with pytest.raises(ValueError, match="expected"):
        CropWriter(tmp_path / "x.npy", (3, 8, 8)).add(np.zeros((3, 8, 4), np.uint8))


def test_crops_are_written_as_cut_never_held_together(tmp_path, monkeypatch):
    """Memory must not grow with the studies: when a crop is cut, every earlier one is already gone."""
    import gc
    import weakref

    import lumbar.crop_sets as cs

    store, data, split = _fixture(tmp_path)
    alive: list[weakref.ref] = []
    cut = cs.crop_box

    def tracked(*args, **kwargs):
        gc.collect()
        assert all(r() is None for r in alive), "an earlier crop is still held"
        out = cut(*args, **kwargs)
        alive.append(weakref.ref(out))
        return out

    monkeypatch.setattr(cs, "crop_box", tracked)
    located = _located(2, 21, "spinal_canal_stenosis_l4_l5", 1, (10.0, 6.0, 18.0, 12.0))
    build_crop_set("spinal", store, data.coordinates, data.labels, split, located, [2], CropSpec(4.0, 8),
                   tmp_path / "crops")
    assert len(alive) == 2 and len(np.load(tmp_path / "crops" / "images.npy")) == 2


def test_slice_jitter_centres_training_crops_one_slice_off_inside_the_stack(tmp_path):
    """With slice_jitter 1 every label crop is one slice off the label's (as locate is for some cells),
    and the table says which slice; validation crops stay where the boxes are."""
    store, data, split = _fixture(tmp_path)
    column = "spinal_canal_stenosis_l4_l5"
    located = _located(2, 21, column, 1, (10.0, 6.0, 18.0, 12.0))
    build_crop_set("spinal", store, data.coordinates, data.labels, split, located, [2], CropSpec(4.0, 8),
                   tmp_path / "crops", slice_jitter=1.0, seed=3)
    table = pd.read_csv(tmp_path / "crops" / "crops.csv")
    images = np.load(tmp_path / "crops" / "images.npy")
    vol = np.asarray(store.volume(1, 11))
    moved = int(table["slice_index"].iloc[0])
    assert abs(moved - 1) == 1 and 0 <= moved < len(vol)            # the label is on slice 1
    assert np.array_equal(images[0], crop_25d(vol, moved, 8.5, 6.25, 4.0, (0.5, 0.5), 8))
    assert int(table["slice_index"].iloc[1]) == 1 and table["source"].iloc[1] == "detector"
    summary = json.loads((tmp_path / "crops" / "summary.json").read_text())
    assert summary["slice_jitter"] == 1.0
