"""Series loader: spatial order, instance map, compressed decoders, rescale, bad files skipped."""
import shutil

import numpy as np
import pytest

from dicom_fixtures import SAG_IOP, sample, write_dicom, write_series
from lumbar.dicom import DicomReadError, read_series, read_slice


def test_slices_sorted_along_normal_not_by_instance(tmp_path):
    write_series(tmp_path / "s", n=5, reversed_instances=True, gap=3.0)
    s = read_series(tmp_path / "s")
    proj = [float(np.dot(sl.position, s.normal)) for sl in s.slices]
    assert proj == sorted(proj)
    assert np.allclose(s.normal, np.cross(SAG_IOP[:3], SAG_IOP[3:]))
    assert [sl.instance_number for sl in s.slices] == [5, 4, 3, 2, 1]
    assert s.index_of(5) == 0 and s.index_of(1) == 4
    assert s.instance_map == {5: 0, 4: 1, 3: 2, 2: 3, 1: 4}
    with pytest.raises(KeyError, match="instance 42"):
        s.index_of(42)
    assert s.pixels().shape == (5, 12, 16) and s.skipped == []
    sl = s.slices[0]
    assert sl.spacing == (0.5, 0.5) and (sl.rows, sl.columns) == (12, 16)


def test_pixels_match_files_and_header_only_mode(tmp_path):
    paths = write_series(tmp_path / "s", n=3, rle_every=2)
    full = read_series(tmp_path / "s")
    lazy = read_series(tmp_path / "s", pixels=False)
    assert [a.instance_number for a in full.slices] == [a.instance_number for a in lazy.slices]
    assert np.array_equal(full.pixels(), lazy.pixels())
    import pydicom
    assert np.array_equal(full.pixels()[full.index_of(2)], pydicom.dcmread(paths[1]).pixel_array)


def test_rescale_slope_intercept_applied(tmp_path):
    pix = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16)
    _, a = read_slice(write_dicom(tmp_path / "a.dcm", pix, (0, 0, 0), slope=2, intercept=-10))
    assert a.dtype.kind == "i" and a[0, 1] == 2 * 1 - 10
    _, b = read_slice(write_dicom(tmp_path / "b.dcm", pix, (0, 0, 0), slope=0.5, intercept=1.5))
    assert b.dtype == np.float32 and b[0, 3] == pytest.approx(3.0)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"])
def test_compressed_samples_decode_like_uncompressed(name):
    ref_geom, ref = read_slice(sample("MR_small.dcm"))
    geom, arr = read_slice(sample(name))
    assert np.array_equal(arr, ref)
    assert np.allclose(geom.position, ref_geom.position) and geom.spacing == ref_geom.spacing


def test_bad_files_are_skipped_with_reasons(tmp_path):
    d = tmp_path / "s"
    write_series(d, n=3)
    shutil.copy(sample("MR_truncated.dcm"), d / "7.dcm")
    (d / "8.dcm").write_bytes(b"not dicom at all")
    write_dicom(d / "9.dcm", np.zeros((12, 16)), (0, 0, 0), instance=9, pixel_data=False)
    write_dicom(d / "10.dcm", np.zeros((20, 20)), (0, 0, 0), instance=10)        # odd size out
    write_dicom(d / "11.dcm", np.zeros((12, 16)), (0, 9, 9), instance=2)         # duplicate instance
    s = read_series(d)
    assert [sl.instance_number for sl in s.slices] == [1, 2, 3]
    reasons = dict(s.skipped)
    assert set(reasons) == {str(d / f"{i}.dcm") for i in (7, 8, 9, 10, 11)}
    assert "pixel data" in reasons[str(d / "7.dcm")]
    assert "not a DICOM" in reasons[str(d / "8.dcm")]
    assert "no pixel data" in reasons[str(d / "9.dcm")]
    assert "size" in reasons[str(d / "10.dcm")]
    assert "duplicate" in reasons[str(d / "11.dcm")]
    with pytest.raises(DicomReadError, match="8.dcm"):
        read_slice(d / "8.dcm")


def test_empty_or_missing_folder_gives_empty_series(tmp_path):
    (tmp_path / "empty").mkdir()
    assert read_series(tmp_path / "empty").slices == []
    s = read_series(tmp_path / "nope")
    assert s.slices == [] and s.pixels().shape[0] == 0


def test_monochrome1_is_inverted(tmp_path):
    import pydicom
    pix = np.array([[0, 100], [4000, 60000]], dtype=np.uint16)
    path = write_dicom(tmp_path / "m.dcm", pix, (0, 0, 0))
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsStored, ds.HighBit = 16, 15
    ds.save_as(path)
    _, arr = read_slice(path)
    assert arr.tolist() == [[60000, 59900], [56000, 0]]
