"""Series loader: spatial order, instance map, compressed decoders, rescale, bad files skipped."""
import re
import shutil

import numpy as np
import pydicom
import pytest

from dicom_fixtures import SAG_IOP, sample, set_raw_value, strip_preamble, write_dicom, write_series
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


@pytest.mark.parametrize("keyword, raw, vr, shown", [
    ("InstanceNumber", b"abcd", None, "'abcd'"),
    ("InstanceNumber", b"1.50", None, "'1.50'"),            # pydicom would quietly make it 1
    ("RescaleSlope", b"x", None, "'x'"),
    ("RescaleIntercept", b"x", None, "'x'"),
    ("NumberOfFrames", b"x", None, "'x'"),
    ("Rows", b"ab", "LO", "'ab'"),                           # text in a binary tag
    ("Columns", b"\x10\x00\x10\x00", None, "[16, 16]"),     # two values where one belongs
    ("InstanceNumber", b"1\\2 ", None, "['1', '2']"),        # two text values: not blank, not one integer
])
@pytest.mark.parametrize("pixels", [True, False])
def test_bad_header_value_skips_file_naming_tag_and_value(tmp_path, keyword, raw, vr, shown, pixels):
    d = tmp_path / "s"
    write_series(d, n=3)
    bad = write_dicom(d / "9.dcm", np.zeros((12, 16)), (0, 0, 12), instance=9, slope=1, intercept=0)
    assert raw in set_raw_value(bad, keyword, raw, vr).read_bytes()
    s = read_series(d, pixels=pixels)
    assert [p for p, _ in s.skipped] == [str(bad)]
    reason = s.skipped[0][1]
    assert reason == f"{keyword} {shown} is not {'a number' if keyword.startswith('Rescale') else 'an integer'}"
    assert [sl.instance_number for sl in s.slices] == [1, 2, 3]
    assert s.pixels().shape == (3, 12, 16)
    with pytest.raises(DicomReadError, match=f"9.dcm: .*{keyword}"):
        read_slice(bad, pixels=pixels)


@pytest.mark.parametrize("iop, phrase", [
    ((0, 1, 0, 0, 1, 0), "row and column directions are parallel"),
    ((0, 1, 0, 0, -1, 0), "row and column directions are parallel"),
    ((0, 0, 0, 0, 0, -1), "row direction is a zero vector"),
    ((0, 1, 0, 0, 0, 0), "column direction is a zero vector"),
    ((0, 1, 0, 0, 0.6, -0.8), "not perpendicular"),
])
def test_degenerate_orientation_is_named(tmp_path, iop, phrase):
    d = tmp_path / "s"
    write_series(d, n=3)
    bad = write_dicom(d / "9.dcm", np.zeros((12, 16)), (0, 0, 12), iop=iop, instance=9)
    s = read_series(d)
    assert [sl.instance_number for sl in s.slices] == [1, 2, 3]
    assert len(s.skipped) == 1 and s.skipped[0][0] == str(bad)
    assert "ImageOrientationPatient" in s.skipped[0][1] and phrase in s.skipped[0][1], s.skipped
    write_series(tmp_path / "all", n=2)
    for f in (tmp_path / "all").iterdir():
        write_dicom(f, np.zeros((12, 16)), (0, 0, 0), iop=iop, instance=int(f.stem))
    s = read_series(tmp_path / "all")
    assert s.slices == [] and all(phrase in r for _, r in s.skipped) and len(s.skipped) == 2


@pytest.mark.parametrize("bare", [False, True])
def test_file_without_preamble_is_read(tmp_path, bare):
    d = tmp_path / "s"
    paths = write_series(d, n=3)
    geom, ref = read_slice(paths[1])
    strip_preamble(paths[1], bare=bare)
    assert paths[1].read_bytes()[:2] == (b"\x08\x00" if bare else b"\x02\x00")
    got_geom, got = read_slice(paths[1])
    assert np.array_equal(got, ref) and got_geom.instance_number == 2
    assert np.allclose(got_geom.position, geom.position)
    for pixels in (True, False):
        s = read_series(d, pixels=pixels)
        assert s.skipped == [] and s.instance_map == {1: 0, 2: 1, 3: 2}
        assert np.array_equal(s.pixels()[1], ref)


@pytest.mark.parametrize("junk", [b"PK\x03\x04 a zip", b"study_id,series_id\n1,2\n",
                                  b"\x08\x00\x05\x00" + b"junk that merely starts like a tag" * 4,
                                  b"\x02\x00\x00\x00" + bytes(range(256)), b"a", b""],
                         ids=["zip", "text", "group-0008-junk", "group-0002-junk", "one-byte", "empty"])
def test_non_dicom_still_refused(tmp_path, junk):
    d = tmp_path / "s"
    write_series(d, n=2)
    (d / "9.dcm").write_bytes(junk)
    for pixels in (True, False):
        s = read_series(d, pixels=pixels)
        assert s.skipped == [(str(d / "9.dcm"), "not a DICOM file")]
        assert len(s.slices) == 2


def test_lazy_pixels_name_the_file_that_fails_later(tmp_path):
    """pixels=False proves headers only; a file that fails at decode time raises naming itself."""
    paths = write_series(tmp_path / "s", n=3)
    s = read_series(tmp_path / "s", pixels=False)
    paths[1].write_bytes(b"replaced by junk after the header read")
    with pytest.raises(DicomReadError, match=r"2\.dcm: not a DICOM file"):
        s.pixels()


def test_pixel_data_that_cannot_be_decoded_names_the_file(tmp_path):
    paths = write_series(tmp_path / "s", n=3)
    ds = pydicom.dcmread(paths[1])
    ds.PixelData = b"\x00" * 10  # far shorter than 12 x 16 x 2 bytes
    ds.save_as(paths[1])
    s = read_series(tmp_path / "s", pixels=False)
    assert len(s.slices) == 3  # the header is fine
    with pytest.raises(DicomReadError, match=rf"^{re.escape(str(paths[1]))}: pixel data cannot be decoded: "):
        s.pixels()
    full = read_series(tmp_path / "s", pixels=True)
    assert [p for p, _ in full.skipped] == [str(paths[1])] and "pixel data cannot be decoded" in full.skipped[0][1]


def test_monochrome1_inversion_does_not_overflow_the_stored_type(tmp_path):
    pix = np.array([[10000, 20000], [40000, 60000]], dtype=np.uint16)  # max + min > 65535
    path = write_dicom(tmp_path / "m.dcm", pix, (0, 0, 0))
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.BitsStored, ds.HighBit = 16, 15
    ds.save_as(path)
    _, arr = read_slice(path)
    assert arr.dtype == np.uint16 and arr.tolist() == [[60000, 50000], [30000, 10000]]


@pytest.mark.parametrize("slope, intercept, kind, first", [
    (1, 0, "u", 7),             # identity: the stored array as it is
    (1, -1024, "i", 7 - 1024),  # CT-style intercept with slope 1
    (2, 0, "i", 14),
    (0.5, 0, "f", 3.5),         # non-integral slope, integral intercept: float
    (1, 0.5, "f", 7.5),
    (0, 0, "u", 7),             # a slope of 0 means "not set": no rescale
])
def test_rescale_cases(tmp_path, slope, intercept, kind, first):
    pix = np.full((12, 16), 7, dtype=np.uint16)
    _, a = read_slice(write_dicom(tmp_path / "a.dcm", pix, (0, 0, 0), slope=slope, intercept=intercept))
    assert a.dtype.kind == kind and a[0, 0] == pytest.approx(first)
    if kind == "u":
        assert a.dtype == np.uint16
    if kind == "f":
        assert a.dtype == np.float32


def test_a_colour_image_is_refused_by_name(tmp_path):
    path = write_dicom(tmp_path / "rgb.dcm", np.zeros((12, 16), np.uint16), (0, 0, 0))
    ds = pydicom.dcmread(path)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = np.zeros((12, 16, 3), np.uint16).tobytes()
    ds.save_as(path)
    with pytest.raises(DicomReadError, match=rf"^{re.escape(str(path))}: expected one 2-D grey image, got pixel "
                                             r"array of shape \(12, 16, 3\)$"):
        read_slice(path)


def test_undecodable_reasons_name_the_exception_and_drop_the_path(tmp_path):
    paths = write_series(tmp_path / "s", n=2)
    ds = pydicom.dcmread(paths[1])
    ds.PixelData = b"\x00" * 10
    ds.save_as(paths[1])
    write_dicom(tmp_path / "s" / "9.dcm", np.zeros((12, 16)), (0, 0, 9), instance=9,
                transfer_syntax="1.2.840.10008.1.2.4.100")
    s = read_series(tmp_path / "s", pixels=True)
    reasons = dict(s.skipped)
    assert re.match(r"pixel data cannot be decoded: [A-Za-z]+(Error|Exception): ", reasons[str(paths[1])])
    assert "NoneType" not in reasons[str(paths[1])]
    assert reasons[str(tmp_path / "s" / "9.dcm")].startswith("transfer syntax ")


def test_mixed_integer_and_float_slices_stack_as_float32(tmp_path):
    d = tmp_path / "s"
    write_dicom(d / "1.dcm", np.full((4, 4), 10, np.uint16), (0, 0, 0), instance=1)
    write_dicom(d / "2.dcm", np.full((4, 4), 10, np.uint16), (4, 0, 0), instance=2, slope=0.5, intercept=0)
    write_dicom(d / "3.dcm", np.full((4, 4), 10, np.uint16), (8, 0, 0), instance=3, slope=2, intercept=0)
    s = read_series(d)
    px = s.pixels()                  # uint16, float32 and int32 slices: float32, not numpy's float64
    assert px.dtype == np.float32 and sorted(px[:, 0, 0].tolist()) == [5.0, 10.0, 20.0]
    assert read_series(tmp_path / "none").pixels().shape == (0, 0, 0)


def test_a_series_made_without_stacks_is_one_stack(tmp_path):
    from lumbar.dicom import Series
    s = read_series(tmp_path / "x")
    paths = write_series(tmp_path / "s", n=3)
    slices = read_series(tmp_path / "s", pixels=False).slices
    one = Series(slices)
    assert one.stacks == [0, 0, 0] and one.n_stacks == 1 and one.bounds() == [(0, 3)] * 3
    assert s.stacks == [] and len(paths) == 3


def _axial_stack(d, start, zs, iop=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)):
    for k, z in enumerate(zs):
        write_dicom(d / f"{start + k}.dcm", np.zeros((4, 4), np.uint16), (0.0, 0.0, z), iop, instance=start + k)


@pytest.mark.parametrize("zs, groups", [
    ([0.0, 4.0, 8.0, 30.0], [3, 1]),              # a last block of one slice
    ([-30.0, 0.0, 4.0, 8.0], [1, 3]),             # a first block of one slice
    ([0.0, 0.9, 1.8, 2.7, 5.7, 6.6], [4, 2]),     # thin slices: a 3 mm gap is still a gap
    ([0.0, 0.3, 0.6, 1.5, 1.8], [3, 2]),          # 0.3 mm slices, 0.9 mm gap
])
def test_stacks_split_at_gaps_whatever_the_slice_spacing(tmp_path, zs, groups):
    _axial_stack(tmp_path / "s", 1, zs)
    s = read_series(tmp_path / "s", pixels=False)
    sizes = [s.stacks.count(k) for k in sorted(set(s.stacks))]
    assert sizes == groups and [float(x.position[2]) for x in s.slices] == sorted(zs)


def test_slightly_non_unit_orientations_are_still_one_stack(tmp_path):
    _axial_stack(tmp_path / "s", 1, [0.0, 4.0, 8.0, 12.0], iop=(0.97, 0.0, 0.0, 0.0, 0.97, 0.0))
    assert read_series(tmp_path / "s", pixels=False).n_stacks == 1


def test_series_normal_is_the_mean_slice_normal(tmp_path):
    d = tmp_path / "s"
    _axial_stack(d, 1, [0.0, 4.0, 8.0])                                      # 3 slices, normal +z
    a = np.radians(10)
    _axial_stack(d, 10, [60.0, 64.0], iop=(1.0, 0.0, 0.0, 0.0, float(np.cos(a)), float(np.sin(a))))  # 2, tilted
    s = read_series(d, pixels=False)
    mean = np.mean([x.normal / np.linalg.norm(x.normal) for x in s.slices], axis=0)
    np.testing.assert_allclose(s.normal, mean / np.linalg.norm(mean), atol=1e-12)


def test_opposite_stacks_that_cancel_out_do_not_break_the_reader(tmp_path):
    d = tmp_path / "s"
    _axial_stack(d, 1, [0.0, 4.0])
    _axial_stack(d, 10, [40.0, 44.0], iop=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0))  # normal -z
    s = read_series(d, pixels=False)
    assert s.n_stacks == 2 and len(s.slices) == 4 and np.isfinite(s.normal).all()
    assert abs(float(np.linalg.norm(s.normal)) - 1) < 1e-9


def test_an_odd_sized_slice_is_skipped_naming_both_sizes(tmp_path):
    write_series(tmp_path / "s", n=3, shape=(12, 16))
    write_dicom(tmp_path / "s" / "9.dcm", np.zeros((8, 10), np.uint16), (0, 0, 40), instance=9)
    s = read_series(tmp_path / "s", pixels=False)
    assert dict(s.skipped)[str(tmp_path / "s" / "9.dcm")] == "size 8x10 differs from the series' 12x16"


def _edited(tmp_path, edit):
    write_series(tmp_path / "s", n=2)
    bad = write_dicom(tmp_path / "s" / "9.dcm", np.zeros((12, 16)), (0, 0, 12), instance=9)
    ds = pydicom.dcmread(bad)
    edit(ds)
    ds.save_as(bad)
    return bad


@pytest.mark.parametrize("edit, reason", [
    (lambda ds: delattr(ds, "ImagePositionPatient"), "no ImagePositionPatient"),
    (lambda ds: delattr(ds, "ImageOrientationPatient"), "no ImageOrientationPatient"),
    (lambda ds: delattr(ds, "PixelSpacing"), "no PixelSpacing"),
    (lambda ds: delattr(ds, "InstanceNumber"), "no InstanceNumber"),
    (lambda ds: setattr(ds, "InstanceNumber", None), "no InstanceNumber"),
    (lambda ds: setattr(ds, "ImagePositionPatient", [1.0, 2.0]),
     "ImagePositionPatient should be 3 finite numbers, got ['1.0', '2.0']"),
    (lambda ds: setattr(ds, "ImagePositionPatient", [1.0, 2.0, float("inf")]),
     "ImagePositionPatient should be 3 finite numbers, got ['1.0', '2.0', 'inf']"),
    (lambda ds: setattr(ds, "PixelSpacing", [0.0, 0.5]), "PixelSpacing must be positive, got [0.0, 0.5]"),
    (lambda ds: setattr(ds, "Rows", 0), "Rows/Columns must be positive, got 0x16"),
    (lambda ds: setattr(ds, "Columns", 0), "Rows/Columns must be positive, got 12x0"),
    (lambda ds: setattr(ds, "NumberOfFrames", 2), "multi-frame image (2 frames) not supported"),
    (lambda ds: setattr(ds, "ImageOrientationPatient", [1.06, 0, 0, 0, 1, 0]),
     "ImageOrientationPatient is not two unit vectors: [1.06, 0.0, 0.0, 0.0, 1.0, 0.0]"),
    (lambda ds: setattr(ds, "ImageOrientationPatient", [1, 0, 0, 0, 0.94, 0]),
     "ImageOrientationPatient is not two unit vectors: [1.0, 0.0, 0.0, 0.0, 0.94, 0.0]"),
], ids=["no-ipp", "no-iop", "no-spacing", "no-instance", "blank-instance", "two-values", "infinite", "zero-spacing", "zero-rows", "zero-columns", "two-frames", "long-row", "short-column"])
def test_missing_malformed_or_impossible_geometry_is_named_exactly(tmp_path, edit, reason):
    bad = _edited(tmp_path, edit)
    assert dict(read_series(tmp_path / "s", pixels=False).skipped) == {str(bad): reason}


def test_text_in_a_numeric_tag_is_named_with_its_values(tmp_path):
    write_series(tmp_path / "s", n=2)
    bad = write_dicom(tmp_path / "s" / "9.dcm", np.zeros((12, 16)), (0, 0, 12), instance=9)
    set_raw_value(bad, "ImagePositionPatient", b"a\\b\\c")
    assert dict(read_series(tmp_path / "s", pixels=False).skipped) == \
        {str(bad): "ImagePositionPatient is not numeric: ['a', 'b', 'c']"}


@pytest.mark.parametrize("little", [True, False], ids=["little-endian", "big-endian"])
def test_explicit_vr_without_file_meta_decodes_in_its_byte_order(tmp_path, little):
    """No file meta: the pixels are decoded in the byte order the data set was read in."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    pix = (np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 7)
    path = write_dicom(tmp_path / "s" / "1.dcm", pix, (0, 0, 0))
    ds = pydicom.dcmread(path)
    del ds.file_meta
    if not little:
        ds.PixelData = pix.astype(">u2").tobytes()
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = little, False
    write_dataset(buf, ds)
    path.write_bytes(buf.getvalue())
    s = read_series(tmp_path / "s")
    assert not s.skipped and np.array_equal(s.pixels()[0], pix)


def test_what_is_possible_is_read_one_row_zero_frames_and_non_square_pixels(tmp_path):
    d = tmp_path / "s"
    write_dicom(d / "1.dcm", np.zeros((1, 16), np.uint16), (0, 0, 0), spacing=(0.5, 0.8), instance=1)
    ds = pydicom.dcmread(d / "1.dcm")
    ds.NumberOfFrames = 0  # what some writers put for "not multi-frame"
    ds.save_as(d / "1.dcm")
    s = read_series(d)
    assert not s.skipped and s.slices[0].spacing == (0.5, 0.8) and s.pixels().shape == (1, 1, 16)


def test_an_undecodable_syntax_is_refused_at_header_time_too(tmp_path):
    write_series(tmp_path / "s", n=2)
    bad = write_dicom(tmp_path / "s" / "9.dcm", np.zeros((12, 16)), (0, 0, 9), instance=9,
                      transfer_syntax="1.2.840.10008.1.2.4.100")
    reason = dict(read_series(tmp_path / "s", pixels=False).skipped)[str(bad)]
    assert reason.startswith("transfer syntax ") and "no decoder" in reason


def test_softmax_computes_in_float64_whatever_the_logits():
    from lumbar.classification.calibration import softmax
    p = softmax(np.array([[1.0, 2.0, 3.0]], dtype=np.float32))
    assert p.dtype == np.float64 and abs(p.sum() - 1) < 1e-15


def test_a_one_column_image_is_possible(tmp_path):
    write_dicom(tmp_path / "s" / "1.dcm", np.arange(12, dtype=np.uint16).reshape(12, 1), (0, 0, 0))
    s = read_series(tmp_path / "s")
    assert not s.skipped and s.pixels()[0, :, 0].tolist() == list(range(12))


def test_integer_slices_stack_as_integers(tmp_path):
    write_series(tmp_path / "s", n=3)
    px = read_series(tmp_path / "s").pixels()
    assert px.dtype.kind in "iu" and px.shape == (3, 12, 16)


def test_a_tag_pydicom_cannot_convert_is_named_with_the_exception(tmp_path):
    for keyword, vr in (("PixelSpacing", "FD"), ("InstanceNumber", "SL")):
        bad = write_dicom(tmp_path / f"{keyword}.dcm", np.zeros((12, 16)), (0, 0, 0))
        set_raw_value(bad, keyword, b"\x00\x01", vr)
        with pytest.raises(DicomReadError) as exc:
            read_slice(bad, pixels=False)
        assert str(exc.value).startswith(f"{bad}: {keyword} cannot be read: BytesLengthException: Expected total")


def _fail_with(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


def test_every_other_failure_is_this_files_error_naming_its_cause(tmp_path, monkeypatch):
    """What no check foresaw still names the file and the exception, and never escapes as another type."""
    import lumbar.dicom as D
    path = write_dicom(tmp_path / "1.dcm", np.zeros((12, 16), np.uint16), (0, 0, 0))

    def refused(pixels=True):
        with pytest.raises(DicomReadError) as exc:
            read_slice(path, pixels=pixels)
        return str(exc.value)

    with monkeypatch.context() as m:
        m.setattr(D, "_decode", _fail_with(RuntimeError("boom")))
        assert refused() == f"{path}: unusable header: RuntimeError: boom"
    with monkeypatch.context() as m:
        m.setattr(D, "_decode", lambda ds, p: np.zeros((3, 3), np.uint16))
        assert refused() == f"{path}: pixel array (3, 3) does not match Rows/Columns"
    with monkeypatch.context() as m:
        m.setattr(D, "get_decoder", lambda uid: type("Decoder", (), {"is_available": False})())
        assert refused(pixels=False) == (f"{path}: transfer syntax Explicit VR Little Endian needs a decoder "
                                         "plugin that is not installed")
    with monkeypatch.context() as m:
        m.setattr(D.pydicom, "dcmread", _fail_with(OSError("disk gone")))
        assert refused() == f"{path}: unreadable DICOM: OSError: disk gone"
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(b"\x08\x00\x05\x00" + bytes(20))                 # starts like a data set
    calls = []

    def dcmread(p, stop_before_pixels=False, force=False):
        calls.append(force)
        raise ValueError("cannot parse") if force else pydicom.errors.InvalidDicomError("no preamble")
    with monkeypatch.context() as m:
        m.setattr(D.pydicom, "dcmread", dcmread)
        with pytest.raises(DicomReadError) as exc:
            read_slice(bare)
        assert str(exc.value) == f"{bare}: not a DICOM file" and calls == [False, True]


def test_an_integer_written_as_text_with_a_zero_fraction_is_that_integer(tmp_path):
    bad = write_dicom(tmp_path / "1.dcm", np.zeros((12, 16)), (0, 0, 0))
    set_raw_value(bad, "Rows", b"12.0", "LO")
    assert read_slice(bad, pixels=False)[0].rows == 12
