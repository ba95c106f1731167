"""Issue 5's bad inputs for the data layer: each gives a clear message naming file/row/value and
leaves the rest of the run unharmed."""
import shutil

import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import sample, write_dicom, write_kaggle, write_series
from lumbar.dicom import read_series, read_slice
from lumbar.extract import extract
from lumbar.kaggle import KaggleFormatError, check_coordinates, read_kaggle, study_image_dir

MPEG2 = "1.2.840.10008.1.2.4.100"


def _spoil_series(d):
    """Add one of each unreadable file to a good series folder."""
    shutil.copy(sample("MR_truncated.dcm"), d / "91.dcm")
    (d / "92.dcm").write_bytes(b"PK\x03\x04 this is a zip, not DICOM")
    write_dicom(d / "93.dcm", np.zeros((12, 16)), (0, 0, 0), instance=93, pixel_data=False)
    write_dicom(d / "94.dcm", np.zeros((12, 16)), (0, 0, 0), instance=94, transfer_syntax=MPEG2)


def test_unreadable_files_skipped_with_reason_series_survives(tmp_path):
    write_series(tmp_path / "s", n=3)
    _spoil_series(tmp_path / "s")
    s = read_series(tmp_path / "s")
    assert len(s.slices) == 3 and s.pixels().shape == (3, 12, 16)
    reasons = {p.rsplit("/", 1)[1]: r for p, r in s.skipped}
    assert "less than expected" in reasons["91.dcm"]          # truncated
    assert reasons["92.dcm"] == "not a DICOM file"
    assert reasons["93.dcm"] == "no pixel data"
    assert "MPEG2" in reasons["94.dcm"] and "no decoder" in reasons["94.dcm"]


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "MR_small_jp2klossless.dcm", "emri_small_jpeg_2k_lossless.dcm"])
def test_compressed_transfer_syntaxes_decode(name):
    import pydicom
    ds = pydicom.dcmread(sample(name))
    assert ds.file_meta.TransferSyntaxUID.is_compressed
    assert ds.pixel_array.size > 0
    if name.startswith("MR_small"):
        assert np.array_equal(read_slice(sample(name))[1], read_slice(sample("MR_small.dcm"))[1])


def test_extract_reports_bad_files_and_layout_quirks(tmp_path):
    k = write_kaggle(tmp_path / "k")
    _spoil_series(k / "train_images" / "1" / "10")
    (k / "train_images" / "5").mkdir()                       # a study folder with no series
    rep = extract(k, tmp_path / "out", workers=2, progress=False)
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv")
    assert list(skipped["path"]) == [f"train_images/1/10/{i}.dcm" for i in (91, 92, 93, 94)]
    assert skipped["reason"].str.len().min() > 5
    assert rep["series_extracted"] == 6                     # every other series unharmed
    assert rep["series_missing_on_disk"] == ["2/22"]        # listed in the CSV, not on disk
    assert rep["series_on_disk_not_listed"] == ["1/99"]     # on disk, not listed: not extracted
    assert not (tmp_path / "out" / "images" / "1" / "99.npy").exists()
    assert rep["study_dirs_without_series"] == ["5"]
    assert rep["csv"]["studies_with_several_axial"] == 1
    t = pd.read_parquet(tmp_path / "out" / "slices.parquet")
    assert sorted(t.loc[t.study_id == 1, "series_id"].unique()) == [10, 11, 12, 13]  # both axial series


def _edit(path, old, new):
    path.write_bytes(path.read_bytes().replace(old.encode(), new.encode(), 1))


@pytest.mark.parametrize("file, old, new, message", [
    ("train.csv", "Moderate", "Moderat", "train.csv: row 2: .* unknown grade 'Moderat'"),
    ("train_series_descriptions.csv", "Axial T2", "Axial T3", "row 4: unknown series_description 'Axial T3'"),
    ("train_label_coordinates.csv", "L4/L5", "L4/L6", "row 2: unknown level 'L4/L6'"),
    ("train_label_coordinates.csv", "Spinal Canal Stenosis", "Spinal Stenosis", "row 2: unknown condition"),
    ("train_label_coordinates.csv", "8.5", "-8.5", "row 2: x '-8.5' lies outside the image"),
    ("train_label_coordinates.csv", "6.25", "abc", "row 2: y 'abc' is not a finite number"),
    ("train.csv", "\n1,", "\n1.5,", "row 2: study_id '1.5' is not a non-negative integer"),
    ("train_series_descriptions.csv", "\n2,20", "\n../x,20", r"row 6: study_id '../x' is not"),
    ("train_label_coordinates.csv", "\n1,11,2", "\n1,11,x2", "row 2: instance_number 'x2'"),
])
def test_malformed_csv_names_file_row_value(tmp_path, file, old, new, message):
    k = write_kaggle(tmp_path / "k", images=False)
    _edit(k / file, old, new)
    with pytest.raises(KaggleFormatError, match=message) as exc:
        read_kaggle(k, "train")
    assert file in str(exc.value)


def test_path_like_ids_refused_before_a_path_is_built(tmp_path):
    for bad in ("../x", "..", "1/../../etc", "/etc", "1e3", " 1"):
        with pytest.raises(KaggleFormatError, match="refusing study_id"):
            study_image_dir(tmp_path, "train", bad)
    assert not any(tmp_path.iterdir())


def test_label_point_on_missing_instance_or_outside_image(tmp_path):
    k = write_kaggle(tmp_path / "k")
    d = read_kaggle(k, "train")
    assert check_coordinates(d, k) == []
    _edit(k / "train_label_coordinates.csv", "\n1,11,2,", "\n1,11,7,")   # instance 7 does not exist
    _edit(k / "train_label_coordinates.csv", "15.9,11.9", "16.5,11.9")   # image is 16 columns wide
    d = read_kaggle(k, "train")
    problems = check_coordinates(d, k, strict=False)
    assert len(problems) == 2
    assert any("row 2: instance_number 7 has no file" in p for p in problems)
    assert any("row 4: point (x=16.5, y=11.9) outside the 16x12 image" in p for p in problems)
    with pytest.raises(KaggleFormatError, match="train_label_coordinates.csv: row 2"):
        check_coordinates(d, k)


def test_crlf_and_bom_read_like_plain(tmp_path):
    plain = read_kaggle(write_kaggle(tmp_path / "a", images=False), "train")
    odd = read_kaggle(write_kaggle(tmp_path / "b", images=False, crlf=True, bom=True), "train")
    assert plain.labels.equals(odd.labels) and plain.series.equals(odd.series)
    assert plain.coordinates.equals(odd.coordinates)
    t = read_kaggle(tmp_path / "b", "test")
    assert len(t.series) == 3 and len(t.sample_submission) == 25


def test_empty_test_set(tmp_path):
    k = write_kaggle(tmp_path / "k", images=False)
    (k / "test_series_descriptions.csv").write_text("study_id,series_id,series_description\n")
    (k / "sample_submission.csv").write_text("row_id,normal_mild,moderate,severe\n")
    t = read_kaggle(k, "test")
    assert len(t.series) == 0 and len(t.sample_submission) == 0 and t.report["studies"] == 0
    (k / "test_series_descriptions.csv").write_text("")
    with pytest.raises(KaggleFormatError, match="test_series_descriptions.csv: empty file"):
        read_kaggle(k, "test")
