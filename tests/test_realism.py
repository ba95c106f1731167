"""Realism evidence: statistics that respond to what they claim to measure, the levels-in-order check,
and a sheet with the same bytes every time, with or without the real reference images."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from conftest import ROOT
from lumbar.dicom import read_series
from lumbar.realism import (histogram_distance, image_stats, mid_axial, mid_sagittal, real_images, realism_sheet,
                            study_ids)
from lumbar.synthetic import synthesize
from lumbar.vocabulary import AXIAL_T2, GROUPS, LEVELS, SAGITTAL_T1, SAGITTAL_T2, SERIES_DESCRIPTION, SERIES_ID, \
    STUDY_ID
from lumbar.windowing import window_uint8
from test_synthetic import TINY

REAL_MRI = ROOT.parent / "shared" / "reference" / "real_mri"


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    out = tmp_path_factory.mktemp("realism")
    synthesize({**TINY, "n_train": 2, "n_test": 1, "image_scale": 0.4}, out)
    return out / "kaggle"


# --- image statistics -------------------------------------------------------------------------------

def _noise(seed=0, sigma=0.0):
    x = np.random.default_rng(seed).normal(size=(256, 256))  # SIZE: no resampling to colour the noise
    x = ndimage.gaussian_filter(x, sigma) if sigma else x
    return np.clip((x - x.min()) / (x.max() - x.min()) * 255, 0, 255).astype(np.uint8)


def test_half_black_image_is_half_background():
    img = np.zeros((300, 200), np.uint8)
    img[:, 100:] = 180
    assert image_stats(img)["background"] == pytest.approx(0.5, abs=0.01)
    assert image_stats(np.full((50, 50), 180, np.uint8))["background"] == 0.0


def test_white_noise_has_a_flatter_spectrum_than_smoothed_noise():
    white, smooth = image_stats(_noise())["spectral_slope"], image_stats(_noise(sigma=3))["spectral_slope"]
    assert abs(white) < 0.3 and smooth < white - 2


def test_sharp_edges_give_more_edge_density_than_their_blurred_copy():
    yy, xx = np.mgrid[:256, :256]
    checks = (((yy // 32) + (xx // 32)) % 2 * 200 + 30).astype(np.uint8)
    blurred = ndimage.gaussian_filter(checks.astype(float), 6).astype(np.uint8)
    sharp, soft = image_stats(checks)["edge_density"], image_stats(blurred)["edge_density"]
    assert sharp > 0.05 and soft < sharp / 2


def test_statistics_ignore_image_size():
    """Real and phantom images differ in pixel count; the same picture at two sizes has the same figures."""
    img = _noise(sigma=2)
    big = np.asarray(Image.fromarray(img).resize((400, 400), Image.BILINEAR))
    a, b = image_stats(img), image_stats(big)
    for k in ("mean", "std", "background", "spectral_slope"):
        assert a[k] == pytest.approx(b[k], abs=0.1 * max(1.0, abs(a[k]))), k


def test_histogram_distance_is_zero_for_identical_and_grows_with_difference():
    a = image_stats(_noise(sigma=2))["histogram"]
    dark = image_stats((_noise(sigma=2) // 2).astype(np.uint8))["histogram"]
    black = image_stats(np.zeros((20, 20), np.uint8))["histogram"]
    white = image_stats(np.full((20, 20), 255, np.uint8))["histogram"]
    assert histogram_distance(a, a) == 0.0
    assert 0 < histogram_distance(a, dark) < histogram_distance(black, white)
    assert histogram_distance(black, white) == pytest.approx(1.0, abs=0.02)


# --- levels in order --------------------------------------------------------------------------------

# --- slices and sheet -------------------------------------------------------------------------------

def test_mid_sagittal_is_the_pipelines_windowed_middle_slice(kaggle):
    series = pd.read_csv(kaggle / "train_series_descriptions.csv")
    sid = study_ids(kaggle, SAGITTAL_T2)[0]
    row = series[(series[STUDY_ID] == sid) & (series[SERIES_DESCRIPTION] == SAGITTAL_T2)].iloc[0]
    vol = window_uint8(read_series(kaggle / "train_images" / str(sid) / str(row[SERIES_ID])).pixels(), 0.5, 99.5)
    np.testing.assert_array_equal(mid_sagittal(kaggle, sid, SAGITTAL_T2), vol[len(vol) // 2])
    img = mid_axial(kaggle, study_ids(kaggle, AXIAL_T2)[0])
    assert img.ndim == 2 and img.dtype == np.uint8
    assert mid_sagittal(kaggle, 1, SAGITTAL_T1) is None  # no such study


def test_real_images_are_read_grey_and_windowed(tmp_path):
    assert real_images(tmp_path / "absent", "t2") == []
    rgb = np.zeros((40, 30, 3), np.uint8)
    rgb[10:, :, :] = 100
    Image.fromarray(rgb).save(tmp_path / "x_1_t2.png")
    Image.fromarray(rgb).save(tmp_path / "x_1_t1.png")
    (name, img), = real_images(tmp_path, "t2")
    assert name == "x_1_t2" and img.shape == (40, 30) and img.dtype == np.uint8 and img.max() == 255


def test_sheet_without_real_images_has_the_same_bytes_every_time(kaggle, tmp_path):
    a = realism_sheet(kaggle, tmp_path / "a.png", real_dir=tmp_path / "absent", n=2)
    b = realism_sheet(kaggle, tmp_path / "b.png", real_dir=None, n=2)
    assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and a.read_bytes() == b.read_bytes()


@pytest.mark.skipif(not REAL_MRI.is_dir(), reason="real reference images not available")
def test_sheet_with_real_images_has_the_same_bytes_every_time(kaggle, tmp_path):
    a = realism_sheet(kaggle, tmp_path / "a.png", real_dir=REAL_MRI, n=2)
    b = realism_sheet(kaggle, tmp_path / "b.png", real_dir=REAL_MRI, n=2)
    none = realism_sheet(kaggle, tmp_path / "c.png", n=2)
    assert a.read_bytes() == b.read_bytes() != none.read_bytes()
