"""Issue 5's bad inputs for the data layer: each gives a clear message naming file/row/value and
leaves the rest of the run unharmed."""
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import replace_once, sample, set_raw_value, write_dicom, write_kaggle, write_series
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


def test_extract_survives_bad_header_values_and_geometry(tmp_path):
    """One file with a wrong-typed header value or a degenerate orientation must not stop the stage."""
    k = write_kaggle(tmp_path / "k")
    d = k / "train_images" / "1" / "10"
    set_raw_value(write_dicom(d / "95.dcm", np.zeros((12, 16)), (0, 0, 0), instance=95), "InstanceNumber", b"abcd")
    set_raw_value(write_dicom(d / "96.dcm", np.zeros((12, 16)), (0, 0, 0), instance=96, slope=1, intercept=0),
                  "RescaleSlope", b"x")
    write_dicom(d / "97.dcm", np.zeros((12, 16)), (0, 0, 0), iop=(0, 1, 0, 0, 1, 0), instance=97)
    rep = extract(k, tmp_path / "out", workers=1, progress=False)
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv")
    assert list(skipped["path"]) == [f"train_images/1/10/{i}.dcm" for i in (95, 96, 97)]
    reasons = list(skipped["reason"])
    assert "InstanceNumber 'abcd'" in reasons[0] and "RescaleSlope 'x'" in reasons[1]
    assert "ImageOrientationPatient row and column directions are parallel" in reasons[2]
    assert rep["series_extracted"] == 6 and rep["slices"] == 18


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
    ("train_series_descriptions.csv", "\n2,20,Sagittal T1", "\n2,20,Sagittal T1,x", "row 6: 4 fields, but the header"),
    ("train_series_descriptions.csv", "\n2,20", "\n99999999999999999999,20",
     "row 6: study_id '99999999999999999999' is too large"),
    ("train_series_descriptions.csv", "\n2,20", "\n2,9223372036854775808", "row 6: series_id '9223372036854775808'"),
    ("train.csv", "\n2,", "\n18446744073709551617,", "row 3: study_id '18446744073709551617' is too large"),
    ("train_label_coordinates.csv", "\n1,11,2", "\n1,11,123456789012345678901234567890",
     "row 2: instance_number '123456789012345678901234567890' is too large"),
])
def test_malformed_csv_names_file_row_value(tmp_path, file, old, new, message):
    k = write_kaggle(tmp_path / "k", images=False)
    replace_once(k / file, old, new)
    with pytest.raises(KaggleFormatError, match=message) as exc:
        read_kaggle(k, "train")
    assert file in str(exc.value)


def test_largest_int64_id_is_still_read(tmp_path):
    k = write_kaggle(tmp_path / "k", images=False)
    replace_once(k / "train_series_descriptions.csv", "\n2,20", "\n2,9223372036854775807")
    d = read_kaggle(k, "train")
    assert d.series["series_id"].max() == 2 ** 63 - 1 and len(d.series) == 7


def test_blank_lines_do_not_shift_row_numbers(tmp_path):
    """Messages name the line of the file: blank lines (and a quoted field's line break) count."""
    plain = read_kaggle(write_kaggle(tmp_path / "p", images=False), "train")
    for crlf in (False, True):
        k = write_kaggle(tmp_path / f"k{crlf}", images=False, crlf=crlf)
        nl = "\r\n" if crlf else "\n"
        f = k / "train_series_descriptions.csv"
        lines = f.read_bytes().decode().split(nl)
        # 1 blank, 2 header, 3 blank, 4 spaces, 5-6 rows, 7 blank, 8 the first Axial T2 row, ...
        f.write_bytes((nl.join(["", lines[0], "", "   ", *lines[1:3], "", *lines[3:]]) + nl).encode())
        d = read_kaggle(k, "train")
        assert d.series.equals(plain.series) and d.labels.equals(plain.labels)
        replace_once(f, "Axial T2", "Axial T3")
        with pytest.raises(KaggleFormatError, match="train_series_descriptions.csv: row 8: unknown series_desc"):
            read_kaggle(k, "train")
    k = write_kaggle(tmp_path / "q", images=False)
    replace_once(k / "train_series_descriptions.csv", "\n1,10,Sagittal T1", '\n1,10,"Sagittal\nT1"\n\n,,')
    with pytest.raises(KaggleFormatError, match=r"row 5: study_id '' is not"):  # ',,' is a row, not blank
        read_kaggle(k, "train")


def test_blank_lines_in_coordinates_keep_check_coordinates_rows(tmp_path):
    k = write_kaggle(tmp_path / "k")
    replace_once(k / "train_label_coordinates.csv", "\n2,21,1,", "\n\n\n2,21,1,")   # now on line 6, not 4
    replace_once(k / "train_label_coordinates.csv", "15.9,11.9", "16.5,11.9")
    d = read_kaggle(k, "train")
    assert list(d.coordinates.sort_index().index) == [2, 3, 6]
    with pytest.raises(KaggleFormatError, match=r"train_label_coordinates.csv: row 6: point \(x=16.5"):
        check_coordinates(d, k)


def test_study_folder_no_csv_lists_is_reported_not_fatal(tmp_path, caplog):
    k = write_kaggle(tmp_path / "k")
    write_series(k / "test_images" / "4" / "40", n=2)
    with caplog.at_level(logging.WARNING, logger="lumbar.kaggle"):
        t = read_kaggle(k, "test")
    assert len(t.series) == 3
    assert t.report["study_dirs_not_listed"] == 1 and t.report["study_dirs_not_listed_examples"] == ["4"]
    assert [r for r in caplog.records if "test_images" in r.getMessage() and "['4']" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lumbar.kaggle"):
        read_kaggle(k, "train")
    assert not caplog.records                                   # nothing unlisted there: no warning
    rep = extract(k, tmp_path / "out", workers=1, part="test", progress=False)
    assert rep["study_dirs_not_listed"] == ["4"] and rep["series_extracted"] == 3
    assert not (tmp_path / "out" / "images" / "4").exists()


def test_path_like_ids_refused_before_a_path_is_built(tmp_path):
    for bad in ("../x", "..", "1/../../etc", "/etc", "1e3", " 1"):
        with pytest.raises(KaggleFormatError, match="refusing study_id"):
            study_image_dir(tmp_path, "train", bad)
    assert study_image_dir(tmp_path, "train", "0123") == tmp_path / "train_images" / "123"
    assert study_image_dir(tmp_path, "test", 7) == tmp_path / "test_images" / "7"


def test_label_point_on_missing_instance_or_outside_image(tmp_path):
    k = write_kaggle(tmp_path / "k")
    d = read_kaggle(k, "train")
    assert check_coordinates(d, k) == []
    replace_once(k / "train_label_coordinates.csv", "\n1,11,2,", "\n1,11,7,")   # instance 7 does not exist
    replace_once(k / "train_label_coordinates.csv", "15.9,11.9", "16.5,11.9")   # image is 16 columns wide
    d = read_kaggle(k, "train")
    problems = check_coordinates(d, k, strict=False)
    assert len(problems) == 2
    assert any("row 2: instance_number 7 has no file" in p for p in problems)
    assert any("row 4: point (x=16.5, y=11.9) outside the 16x12 image" in p for p in problems)
    # at the edge: x = Columns is outside, x just below it inside
    replace_once(k / "train_label_coordinates.csv", "16.5,11.9", "16,11.9")
    assert any("row 4: point (x=16.0" in p for p in check_coordinates(read_kaggle(k, "train"), k, strict=False))
    replace_once(k / "train_label_coordinates.csv", "16,11.9", "15.99,11.99")
    assert not any("row 4" in p for p in check_coordinates(read_kaggle(k, "train"), k, strict=False))
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


def test_a_repeated_study_or_series_row_is_refused_naming_its_row(tmp_path):
    k = write_kaggle(tmp_path / "k", images=False)
    text = (k / "train.csv").read_text()
    (k / "train.csv").write_text(text + text.splitlines()[1] + "\n")          # study 1 again, line 4
    with pytest.raises(KaggleFormatError, match=r"train.csv: row 4: study_id 1 repeated"):
        read_kaggle(k, "train")
    k = write_kaggle(tmp_path / "k2", images=False)
    text = (k / "train_series_descriptions.csv").read_text()
    (k / "train_series_descriptions.csv").write_text(text + "1,11,Sagittal T2/STIR\n")   # line 9
    with pytest.raises(KaggleFormatError, match=r"train_series_descriptions.csv: row 9: .*11"):
        read_kaggle(k, "train")


def _add_points(k, rows):
    with open(k / "train_label_coordinates.csv", "a") as f:
        for level, x, y in rows:
            f.write(f"1,11,2,Spinal Canal Stenosis,{level},{x},{y}\n")


def test_point_bounds_on_both_axes_of_a_non_square_image(tmp_path):
    """The images are 16 columns x 12 rows: x < 16 and y < 12 are inside, 0 is inside, the far edge is not."""
    k = write_kaggle(tmp_path / "k")
    _add_points(k, [("L1/L2", 0, 0), ("L2/L3", 15.9, 11.9), ("L3/L4", 3, 12), ("L5/S1", 3, 13.5)])
    problems = check_coordinates(read_kaggle(k, "train"), k, strict=False)
    assert [p.split(": row ")[1].split(":")[0] for p in problems] == ["7", "8"]  # line 1 is the header
    assert all(p.startswith(f"{k / 'train_label_coordinates.csv'}: row ") for p in problems)
    assert "point (x=3.0, y=12.0) outside the 16x12 image" in problems[0]


def test_an_unreadable_referenced_file_is_named_with_its_error_and_the_csv_file_is_the_one_read(tmp_path):
    k = write_kaggle(tmp_path / "k")
    (k / "train_label_coordinates.csv").rename(k / "train_label_coordinates_v2.csv")  # a cleaned copy
    (k / "train_images" / "1" / "11" / "2.dcm").write_bytes(b"not a dicom file at all" * 10)
    problems = check_coordinates(read_kaggle(k, "train"), k, strict=False)
    assert len(problems) == 1 and problems[0].startswith(f"{k / 'train_label_coordinates_v2.csv'}: row 2: ")
    assert "instance_number 2: " in problems[0] and "has no file" not in problems[0]
    assert "2.dcm" in problems[0] and len(problems[0]) > 60  # the reader's own reason follows


def test_strict_check_raises_with_the_first_three_problems_and_counts_the_rest(tmp_path):
    k = write_kaggle(tmp_path / "k")
    _add_points(k, [("L1/L2", 99, 1), ("L2/L3", 98, 1), ("L3/L4", 97, 1), ("L5/S1", 96, 1), ("L4/L5", 95, 1)])
    d = read_kaggle(k, "train")
    with pytest.raises(KaggleFormatError) as exc:
        check_coordinates(d, k)
    msg = str(exc.value)
    assert msg.count("; ") == 2 and msg.endswith(" (and 2 more)") and "x=99" in msg and "x=97" in msg
    assert "x=96" not in msg
    d3 = read_kaggle(k, "train")
    d3.coordinates = d3.coordinates[(d3.coordinates["x"] < 16) | (d3.coordinates["x"] >= 97)]
    with pytest.raises(KaggleFormatError) as exc:
        check_coordinates(d3, k)
    assert str(exc.value).count("; ") == 2 and "more" not in str(exc.value)


def test_a_path_like_series_id_is_refused_by_its_name(tmp_path):
    from lumbar.kaggle import series_image_dir
    with pytest.raises(KaggleFormatError, match="refusing series_id '../x'"):
        series_image_dir(tmp_path, "train", 1, "../x")
    assert series_image_dir(tmp_path, "train", 1, "007") == tmp_path / "train_images" / "1" / "7"


def test_id_zero_is_a_valid_id():
    from lumbar.kaggle import series_image_dir
    assert series_image_dir(Path("/k"), "train", 0, 0) == Path("/k/train_images/0/0")
