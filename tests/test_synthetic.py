"""The synthetic generator: calibrated grades, real DICOM in the Kaggle layout, right labels, same bytes."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pydicom
import pytest

from conftest import REFERENCE
from lumbar.metric import prior_submission, prior_table, score, solution_table
from lumbar.synthetic import _grade_frame, synthesize
from lumbar.synthetic.grades import REAL_SHARES, posterior, read_grades, sample_latents
from lumbar.vocabulary import (AXIAL_T2, GRADES, LABEL_COLUMNS, LEVELS, ROW_ID, SAGITTAL_T2, SUBMISSION_COLUMNS,
                               row_id)

TINY = {"seed": 7, "n_train": 3, "n_test": 1, "reader_noise": 0.36, "image_noise": 0.04, "image_scale": 0.4,
        "multi_axial_share": 0.5, "missing_series_share": 0.0, "reversed_instance_share": 0.5, "rle_share": 0.3,
        "axial_block_share": 0.5, "axial_skip_share": 0.15, "axial_tilt_deg": 4.0, "sagittal_tilt_deg": 3.0, "stir_share": 0.3,
        "workers": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn")
    metrics = synthesize(TINY, out / "a", out / "a" / "sheet.png")
    return out / "a", metrics


def _sample(n=20000, noise=0.36, seed=3):
    rng = np.random.default_rng(seed)
    lat = sample_latents(rng, n)
    return lat, read_grades(rng, lat, noise)


def test_grade_shares_match_the_real_table_within_0_003():
    """The README's figure: every cell's grade shares within 0.003 of the real train.csv, on a sample
    large enough (200,000 studies) that sampling noise (~0.001) leaves room for nothing else."""
    _, g = _sample(n=200_000)
    for i, col in enumerate(LABEL_COLUMNS):
        cond, lv = col[:-6], col[-5:]
        seen = g[:, i][g[:, i] >= 0]
        shares = np.bincount(seen, minlength=3) / len(seen)
        np.testing.assert_allclose(shares, REAL_SHARES[cond][LEVELS.index(lv)], atol=0.003, err_msg=col)


def test_grades_correlate_within_a_study_like_real_ones():
    _, g = _sample()
    df = pd.DataFrame(np.where(g < 0, np.nan, g), columns=list(LABEL_COLUMNS))
    lr = df["left_neural_foraminal_narrowing_l4_l5"].corr(df["right_neural_foraminal_narrowing_l4_l5"])
    central = df["spinal_canal_stenosis_l4_l5"].corr(df["left_subarticular_stenosis_l4_l5"])
    assert 0.30 < lr < 0.46 and 0.50 < central < 0.70


def test_oracle_lies_in_target_band_and_beats_the_prior():
    lat, g = _sample(4000)
    ids = list(range(10, 10 + len(g)))
    sol = solution_table(_grade_frame(ids, g))
    post = posterior(lat, 0.36)
    oracle = pd.DataFrame({ROW_ID: [row_id(s, c) for s in ids for c in LABEL_COLUMNS]})
    for k, c in enumerate(SUBMISSION_COLUMNS):
        oracle[c] = post[:, :, k].reshape(-1)
    o, p = score(sol, oracle), score(sol, prior_submission(prior_table(sol), sol[ROW_ID]))
    assert 0.28 <= o <= 0.35 and 0.7 < p < 0.9


def _tree_digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_params_give_identical_bytes(tiny, tmp_path):
    root, _ = tiny
    synthesize(TINY, tmp_path / "b")
    assert _tree_digest(root / "kaggle") == _tree_digest(tmp_path / "b" / "kaggle")
    assert (root / "oracle.csv").read_bytes() == (tmp_path / "b" / "oracle.csv").read_bytes()


def test_kaggle_files_have_the_exact_columns_and_strings(tiny):
    k = tiny[0] / "kaggle"
    train = pd.read_csv(k / "train.csv")
    assert list(train.columns) == ["study_id", *LABEL_COLUMNS]
    assert set(train[list(LABEL_COLUMNS)].stack().dropna().unique()) <= set(GRADES)
    coords = pd.read_csv(k / "train_label_coordinates.csv")
    assert list(coords.columns) == ["study_id", "series_id", "instance_number", "condition", "level", "x", "y"]
    assert "Left Neural Foraminal Narrowing" in set(coords["condition"]) and "L4/L5" in set(coords["level"])
    series = pd.read_csv(k / "train_series_descriptions.csv")
    assert list(series.columns) == ["study_id", "series_id", "series_description"]
    sample = pd.read_csv(k / "sample_submission.csv")
    assert list(sample.columns) == ["row_id", *SUBMISSION_COLUMNS] and len(sample) == 25 * TINY["n_test"]
    test_ids = set(pd.read_csv(k / "test_series_descriptions.csv")["study_id"])
    assert test_ids.isdisjoint(train["study_id"]) and test_ids.isdisjoint(coords["study_id"])
    oracle = pd.read_csv(tiny[0] / "oracle.csv")
    assert len(oracle) == 25 * (TINY["n_train"] + TINY["n_test"])
    np.testing.assert_allclose(oracle[list(SUBMISSION_COLUMNS)].sum(axis=1), 1.0, atol=1e-5)


def test_dicom_files_decode_and_labels_point_inside_existing_instances(tiny):
    k = tiny[0] / "kaggle"
    coords = pd.read_csv(k / "train_label_coordinates.csv")
    syntaxes = set()
    for r in coords.itertuples():
        ds = pydicom.dcmread(k / "train_images" / str(r.study_id) / str(r.series_id) / f"{r.instance_number}.dcm")
        syntaxes.add(str(ds.file_meta.TransferSyntaxUID))
        img = ds.pixel_array
        assert img.dtype == np.uint16 and img.max() < 4096 and ds.PhotometricInterpretation == "MONOCHROME2"
        assert 0 <= r.x < ds.Columns and 0 <= r.y < ds.Rows
        assert str(ds.PatientName) and ds.PatientID == str(r.study_id)  # fake PHI is there, on purpose
    assert tiny[1]["rle_files"] > 0


def _patient(ds, x, y):
    r, c = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
    sp = np.array(ds.PixelSpacing, float)
    return np.array(ds.ImagePositionPatient, float) + x * sp[1] * r + y * sp[0] * c


def test_axial_slices_lie_at_the_disc_the_sagittal_labels_mark(tiny):
    """One patient frame: the spinal label of a level sits within a few mm of an axial slice plane,
    and the subarticular label of the same level is on a slice at that height."""
    k = tiny[0] / "kaggle"
    coords = pd.read_csv(k / "train_label_coordinates.csv")
    series = pd.read_csv(k / "train_series_descriptions.csv")
    checked = 0
    for study, pts in coords.groupby("study_id"):
        desc = dict(zip(series.loc[series.study_id == study, "series_id"], series.loc[series.study_id == study,
                                                                                       "series_description"]))
        for lv in ("L2/L3", "L4/L5"):
            sp = pts[(pts.level == lv) & (pts.condition == "Spinal Canal Stenosis")]
            sa = pts[(pts.level == lv) & (pts.condition == "Left Subarticular Stenosis")]
            if sp.empty or sa.empty:
                continue
            a, b = sp.iloc[0], sa.iloc[0]
            assert desc[a.series_id] == SAGITTAL_T2 and desc[b.series_id] == AXIAL_T2
            pa = _patient(pydicom.dcmread(k / f"train_images/{study}/{a.series_id}/{a.instance_number}.dcm"), a.x, a.y)
            pb = _patient(pydicom.dcmread(k / f"train_images/{study}/{b.series_id}/{b.instance_number}.dcm"), b.x, b.y)
            assert abs(pa[2] - pb[2]) < 5.0, (study, lv, pa, pb)
            assert pb[0] > pa[0]  # left recess lies to the patient's left (+x) of the canal centre
            checked += 1
    assert checked > 0


@pytest.mark.skipif(not (REFERENCE / "train.csv").exists(), reason="real reference tables not present")
def test_real_share_table_matches_the_real_train_csv():
    real = pd.read_csv(REFERENCE / "train.csv")
    for cond, per_level in REAL_SHARES.items():
        for lv, shares in zip(LEVELS, per_level):
            vc = real[f"{cond}_{lv}"].value_counts(normalize=True)
            np.testing.assert_allclose([vc.get(g, 0.0) for g in GRADES], shares, atol=0.002)
