"""Pixel <-> patient transforms: a sagittal point lands on the right axial slice."""
import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import write_series
from lumbar.dicom import Slice, read_series
from lumbar.geometry import nearest_slice, patient_to_pixel, pixel_to_patient


def _slice(pos, row_cos, col_cos, spacing=(0.5, 0.25), shape=(40, 60)):
    return Slice(path=None, instance_number=1, position=np.array(pos, float), row_cos=np.array(row_cos, float),
                 col_cos=np.array(col_cos, float), spacing=spacing, rows=shape[0], columns=shape[1])


def test_pixel_to_patient_follows_dicom_convention():
    s = _slice((10, -20, 30), (0, 1, 0), (0, 0, -1), spacing=(0.5, 0.25))
    # x (column) moves along row_cos by the column spacing, y (row) along col_cos by the row spacing
    assert np.allclose(pixel_to_patient(s, 4, 0), (10, -19, 30))
    assert np.allclose(pixel_to_patient(s, 0, 4), (10, -20, 28))
    x, y, d = patient_to_pixel(s, pixel_to_patient(s, 12.5, 7.25) + np.array([-3.0, 0, 0]))
    assert (x, y) == pytest.approx((12.5, 7.25)) and d == pytest.approx(3.0)  # normal is -x here


def test_sagittal_point_maps_to_correct_axial_slice():
    # Sagittal slice at x = 0; columns run posterior (+y), rows run to the feet (-z).
    sag = _slice((0.0, -50.0, 100.0), (0, 1, 0), (0, 0, -1), spacing=(1.0, 1.0), shape=(200, 100))
    # Axial stack: 6 slices at z = 20, 30, ..., 70 (feet to head), covering x,y in [-50, 50).
    axial = [_slice((-50.0, -50.0, z), (1, 0, 0), (0, 1, 0), spacing=(1.0, 1.0), shape=(100, 100))
             for z in (20, 30, 40, 50, 60, 70)]
    # pixel (x=30, y=52) on the sagittal image -> y = -20 mm, z = 48 mm -> nearest axial slice z=50
    p = pixel_to_patient(sag, 30, 52)
    assert np.allclose(p, (0, -20, 48))
    idx, dist = nearest_slice(axial, p)
    assert idx == 3 and dist == pytest.approx(2.0)
    ax, ay, _ = patient_to_pixel(axial[idx], p)
    assert (ax, ay) == pytest.approx((50.0, 30.0))  # x = 0 mm -> column 50 (left is image right)


def test_nearest_slice_on_read_series_and_parquet_rows(tmp_path):
    write_series(tmp_path / "ax", n=4, axial=True, gap=5.0, origin=(0, 0, 10), reversed_instances=True)
    s = read_series(tmp_path / "ax")
    assert nearest_slice(s, (3.0, 2.0, 21.0)) == (2, pytest.approx(1.0))
    rows = pd.DataFrame([{"ipp_x": sl.position[0], "ipp_y": sl.position[1], "ipp_z": sl.position[2],
                          "row_x": sl.row_cos[0], "row_y": sl.row_cos[1], "row_z": sl.row_cos[2],
                          "col_x": sl.col_cos[0], "col_y": sl.col_cos[1], "col_z": sl.col_cos[2],
                          "spacing_row": sl.spacing[0], "spacing_col": sl.spacing[1]} for sl in s.slices])
    assert nearest_slice(rows, (3.0, 2.0, 21.0))[0] == 2
    assert np.allclose(pixel_to_patient(rows.iloc[1], 2, 3), pixel_to_patient(s.slices[1], 2, 3))


def test_nearest_slice_of_an_empty_series_says_so():
    for empty in ([], pd.DataFrame()):
        with pytest.raises(ValueError, match="^nearest_slice: the series has no slices$"):
            nearest_slice(empty, (0.0, 0.0, 0.0))


def test_distance_to_a_slightly_non_orthonormal_plane_is_in_mm():
    """Real headers carry direction cosines a little off unit length (the reader allows 5%): the
    distance along the normal is still the true distance in mm, and the pixel round trip exact."""
    f = {"ipp_x": 0.0, "ipp_y": 0.0, "ipp_z": 0.0, "row_x": 1.03, "row_y": 0.0, "row_z": 0.0,
         "col_x": 0.0, "col_y": 0.98, "col_z": 0.0, "spacing_row": 0.5, "spacing_col": 0.5}
    x, y, d = patient_to_pixel(f, (5.15, 9.8, 10.0))
    assert d == pytest.approx(10.0) and (x, y) == (pytest.approx(10.0), pytest.approx(20.0))
    np.testing.assert_allclose(pixel_to_patient(f, x, y), [5.15, 9.8, 0.0], atol=1e-9)
