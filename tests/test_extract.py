"""Extract stage: windowing, table and volumes, listed series only, byte-identical reruns, no PHI."""
import json

import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import PHI_BIRTH, PHI_INSTITUTION, PHI_NAME, write_kaggle
from lumbar.dicom import read_series
from lumbar.extract import extract
from lumbar.windowing import percentiles, window_uint8
from lumbar.vocabulary import SLICE_COLUMNS


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.int32, np.float32])
def test_percentiles_equal_numpy(dtype):
    rng = np.random.default_rng(0)
    v = (rng.gamma(2.0, 300.0, size=(3, 17, 19)) - (100 if dtype != np.uint16 else 0)).astype(dtype)
    for lo, hi in ((0.5, 99.5), (0.0, 100.0), (1.0, 99.0), (37.3, 62.1)):
        assert percentiles(v, lo, hi) == pytest.approx(tuple(np.percentile(v, [lo, hi])), rel=1e-6, abs=1e-4)


def test_window_uint8_maps_percentiles_to_full_range():
    v = np.arange(1000, dtype=np.uint16).reshape(10, 10, 10)
    w = window_uint8(v, 1.0, 99.0)
    assert w.dtype == np.uint8 and w.shape == v.shape
    assert w.min() == 0 and w.max() == 255
    assert (w.reshape(-1)[:10] == 0).all() and (w.reshape(-1)[-10:] == 255).all()
    assert np.all(np.diff(w.reshape(-1).astype(int)) >= 0)  # monotone
    assert (window_uint8(np.full((2, 3, 3), 7), 0.5, 99.5) == 0).all()  # constant: no division by zero
    assert window_uint8(np.zeros((0, 4, 4), np.int16), 0.5, 99.5).shape == (0, 4, 4)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_extract_outputs_and_determinism(tmp_path):
    kaggle = write_kaggle(tmp_path / "k")
    rep = extract(kaggle, tmp_path / "a", workers=2, progress=False)
    extract(kaggle, tmp_path / "b", workers=1, progress=False)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a == b  # parallel or not, same bytes
    assert sorted(a) == ["images/1/10.npy", "images/1/11.npy", "images/1/12.npy", "images/1/13.npy",
                         "images/2/20.npy", "images/2/21.npy", "report.json", "skipped.csv", "slices.parquet"]
    t = pd.read_parquet(tmp_path / "a" / "slices.parquet")
    assert list(t.columns) == list(SLICE_COLUMNS) and len(t) == 18
    assert t.equals(t.sort_values(["study_id", "series_id", "slice_index"]).reset_index(drop=True))
    s11 = t[t.series_id == 11]
    assert list(s11.instance_number) == [3, 2, 1] and list(s11.slice_index) == [0, 1, 2]  # spatial order
    vol = np.load(tmp_path / "a" / "images" / "1" / "11.npy")
    assert vol.dtype == np.uint8 and vol.shape == (3, 12, 16)
    raw = read_series(kaggle / "train_images" / "1" / "11")
    assert np.array_equal(vol, window_uint8(raw.pixels(), 0.5, 99.5))  # the same function as inference
    assert rep == json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["series_extracted"] == 6 and rep["slices"] == 18
    assert rep["series_missing_on_disk"] == ["2/22"] and rep["series_on_disk_not_listed"] == ["1/99"]
    # A rerun into the same folder leaves no stale volume behind and the same bytes.
    (tmp_path / "a" / "images" / "1" / "stale.npy").write_bytes(b"x")
    extract(kaggle, tmp_path / "a", workers=2, progress=False)
    assert _files(tmp_path / "a") == b


def test_no_phi_in_any_output(tmp_path):
    kaggle = write_kaggle(tmp_path / "k")
    extract(kaggle, tmp_path / "out", workers=1, progress=False)
    for name, data in _files(tmp_path / "out").items():
        for secret in (PHI_NAME, PHI_BIRTH, PHI_INSTITUTION, "PHITEST", str(tmp_path)):
            assert secret.encode() not in data, f"{secret!r} leaked into {name}"


def test_extracted_series_reads_each_series_in_slice_order_from_an_unsorted_table(tmp_path):
    """Series are row ranges of the sorted table (no frame per series); a table written out of order
    is sorted first, so every series still comes back whole and in slice_index order."""
    from lumbar.extract import write_parquet
    from lumbar.extracted import SLICES_FILE, ExtractedSeries

    k = write_kaggle(tmp_path / "k")
    extract(k, tmp_path / "ext", workers=1, progress=False)
    table = pd.read_parquet(tmp_path / "ext" / SLICES_FILE)
    sorted_store = ExtractedSeries(tmp_path / "ext")
    write_parquet(table.sample(frac=1.0, random_state=0), tmp_path / "ext" / SLICES_FILE)
    store = ExtractedSeries(tmp_path / "ext")
    keys = sorted(table.groupby(["study_id", "series_id"]).groups)
    assert store.n_slices() == sorted_store.n_slices() == {
        k: int(n) for k, n in table.groupby(["study_id", "series_id"]).size().items()}
    for study, series in keys:
        want = table[(table.study_id == study) & (table.series_id == series)].sort_values("slice_index")
        got = store.meta(study, series)
        assert list(got["slice_index"]) == list(range(len(want)))
        pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))
    assert store.studies() == sorted(table.study_id.unique()) and store.series_ids(keys[0][0]) == sorted(
        s for st, s in keys if st == keys[0][0])
