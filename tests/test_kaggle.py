"""Kaggle-layout reader: validated tables, quirks counted not fatal, and the real CSVs parse."""
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import replace_once, write_kaggle
from lumbar.kaggle import KaggleFormatError, check_coordinates, read_kaggle, series_image_dir, study_image_dir
from lumbar.vocabulary import (AXIAL_T2, GRADES, LABEL_COLUMNS, LEVELS, SAGITTAL_T1, SAGITTAL_T2, SERIES_DESCRIPTION,
                               STUDY_ID, SUBMISSION_COLUMNS, VIEWS, normalize_view)

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "rsna2024"


def test_reads_train_part_with_quirks_reported(tmp_path):
    d = read_kaggle(write_kaggle(tmp_path / "k"), "train")
    assert list(d.labels.columns) == [STUDY_ID, *LABEL_COLUMNS] and list(d.labels[STUDY_ID]) == [1, 2]
    assert pd.isna(d.labels.iloc[1, -1]) and d.report["blank_grades"] == 1
    assert list(d.coordinates.columns) == [STUDY_ID, "series_id", "instance_number", "condition", "level",
                                           "column", "x", "y"]
    row = d.coordinates[d.coordinates["series_id"] == 11].iloc[0]
    assert row["condition"] == "spinal_canal_stenosis" and row["level"] == "l4_l5"
    assert row["column"] == "spinal_canal_stenosis_l4_l5"
    assert d.report["studies_with_several_axial"] == 1
    assert d.report["series_missing_on_disk"] == 1 and d.report["series_missing_on_disk_examples"] == ["2/22"]
    assert d.report["series_on_disk_not_listed"] == 1 and d.report["series_on_disk_not_listed_examples"] == ["1/99"]
    assert check_coordinates(d, tmp_path / "k") == []


def test_reads_test_part(tmp_path):
    t = read_kaggle(write_kaggle(tmp_path / "k"), "test")
    assert len(t.labels) == 0 and list(t.labels.columns) == [STUDY_ID, *LABEL_COLUMNS]
    assert len(t.coordinates) == 0 and len(t.series) == 3 and len(t.sample_submission) == 25
    assert t.report["series_missing_on_disk"] == 0


def test_snake_case_strings_and_extra_columns(tmp_path):
    root = write_kaggle(tmp_path / "k", images=False, human_strings=False)
    coords = pd.read_csv(root / "train_label_coordinates.csv")
    coords["fix"] = 0
    (root / "train_label_coordinates.csv").unlink()
    coords.to_csv(root / "train_label_coordinates.fix01b.csv", index=False)
    d = read_kaggle(root, "train")
    assert set(d.coordinates["level"]) == {"l4_l5"} and d.report["images_dir_found"] is False


def test_series_descriptions_in_other_case_or_spacing_are_normalised(tmp_path):
    plain = read_kaggle(write_kaggle(tmp_path / "p", images=False), "train")
    root = write_kaggle(tmp_path / "k", images=False)
    f = root / "train_series_descriptions.csv"
    text = f.read_text()
    for old, new in (("1,10,Sagittal T1", "1,10,sagittal t1"), ("1,12,Axial T2", "1,12, Axial  T2 "),
                     ("1,11,Sagittal T2/STIR", "1,11,SAGITTAL T2 / stir")):
        assert old in text
        text = text.replace(old, new)
    f.write_text(text)
    d = read_kaggle(root, "train")
    assert d.series.equals(plain.series) and d.report["series_by_description"][AXIAL_T2] == 3
    assert normalize_view("\tsagittal  T1") == SAGITTAL_T1 and normalize_view(SAGITTAL_T2) == SAGITTAL_T2
    with pytest.raises(ValueError, match="'Sagittal T3'"):
        normalize_view("Sagittal T3")
    f.write_text(text.replace("sagittal t1", "sagittal  t3"))
    with pytest.raises(KaggleFormatError, match="row 2: unknown series_description 'sagittal  t3'"):
        read_kaggle(root, "train")


def test_study_image_dir_refuses_non_integer_ids(tmp_path):
    assert study_image_dir(tmp_path, "train", 7) == tmp_path / "train_images" / "7"
    assert study_image_dir(tmp_path, "test", "8") == tmp_path / "test_images" / "8"
    assert series_image_dir(tmp_path, "train", np.int64(7), "9") == tmp_path / "train_images" / "7" / "9"
    for bad in ("../x", "7/../../etc", "", "-1", -1, 1.5, True, None, "7 "):
        with pytest.raises(KaggleFormatError, match="refusing study_id"):
            study_image_dir(tmp_path, "train", bad)
    with pytest.raises(KaggleFormatError, match="part"):
        study_image_dir(tmp_path, "../train", 1)


@pytest.mark.skipif(not REAL.is_dir(), reason="real reference CSVs not present")
def test_real_csvs_parse():
    d = read_kaggle(REAL, "train")
    assert len(d.labels) == 1975 and d.report["blank_grades"] == 572
    assert len(d.series) == 6294 and set(d.series[SERIES_DESCRIPTION]) == set(VIEWS)
    assert len(d.coordinates) == 48809 and set(d.coordinates["level"]) == set(LEVELS)
    assert d.report["studies_with_several_axial"] > 300
    assert d.coordinates["column"].isin(LABEL_COLUMNS).all()
    assert set(d.labels[list(LABEL_COLUMNS)].stack().dropna().unique()) == set(GRADES)
    t = read_kaggle(REAL, "test")
    assert len(t.series) == 3 and (t.series[SERIES_DESCRIPTION] == AXIAL_T2).sum() == 1
    assert list(t.sample_submission.columns[1:]) == list(SUBMISSION_COLUMNS) and len(t.sample_submission) == 25


def test_train_report_counts_every_quirk(tmp_path):
    """Each count of the read report, on a folder where each quirk occurs a known number of times."""
    k = write_kaggle(tmp_path / "k", images=False)
    replace_once(k / "train_series_descriptions.csv", "2,20,Sagittal T1\n", "")     # study 2: no Sagittal T1
    with open(k / "train.csv", "a") as f:                                        # study 4: labels, no series
        f.write(",".join(["4"] + [GRADES[0]] * len(LABEL_COLUMNS)) + "\n")
    with open(k / "train_label_coordinates.csv", "a") as f:
        f.write("1,11,2,Spinal Canal Stenosis,L4/L5,9.0,6.0\n")                  # repeats study 1's point
        f.write("1,99,1,Spinal Canal Stenosis,L5/S1,9.0,6.0\n")                  # on a series not listed
        f.write("2,22,1,Right Subarticular Stenosis,L5/S1,3.0,4.0\n")            # its grade is blank
    assert read_kaggle(k, "train").report == {
        "part": "train", "studies": 2, "series": 6,
        "series_by_description": {SAGITTAL_T1: 1, SAGITTAL_T2: 2, AXIAL_T2: 3},
        "studies_with_several_axial": 1,
        "studies_missing_view": {SAGITTAL_T1: 1, SAGITTAL_T2: 0, AXIAL_T2: 0},
        "labelled_studies": 3, "blank_grades": 1, "labelled_studies_without_series": 1,
        "points": 6, "points_on_unlisted_series": 1, "points_repeated": 1, "points_without_grade": 1,
        "images_dir_found": False,
    }


def test_test_report_counts_series_folders_and_submission_studies(tmp_path):
    k = write_kaggle(tmp_path / "k")
    for i in range(12):                                          # more than the 10 examples kept
        (k / "test_images" / "3" / f"{100 + i}").mkdir()
    (k / "test_images" / "5").mkdir()                            # a study folder with no series, not listed
    with open(k / "sample_submission.csv", "a") as f:            # a study the series CSV does not list
        f.write("6_spinal_canal_stenosis_l1_l2,0.3,0.3,0.4\n")
    t = read_kaggle(k, "test")
    assert t.report == {
        "part": "test", "studies": 1, "series": 3,
        "series_by_description": {SAGITTAL_T1: 1, SAGITTAL_T2: 1, AXIAL_T2: 1},
        "studies_with_several_axial": 0, "studies_missing_view": {SAGITTAL_T1: 0, SAGITTAL_T2: 0, AXIAL_T2: 0},
        "images_dir_found": True,
        "series_missing_on_disk": 0, "series_missing_on_disk_examples": [],
        "series_on_disk_not_listed": 12, "series_on_disk_not_listed_examples": [f"3/{100 + i}" for i in range(10)],
        "study_dirs_without_series": 1, "study_dirs_without_series_examples": ["5"],
        "study_dirs_not_listed": 1, "study_dirs_not_listed_examples": ["5"],
        "submission_studies_not_listed": 1,
    }
    sub = t.sample_submission
    assert list(sub.columns) == ["row_id", *SUBMISSION_COLUMNS] and list(sub.index) == list(range(26))
    assert sub[list(SUBMISSION_COLUMNS)].dtypes.eq("float64").all() and sub.iloc[0, 1] == pytest.approx(1 / 3)
    assert sub.iloc[-1].tolist() == ["6_spinal_canal_stenosis_l1_l2", 0.3, 0.3, 0.4]


def test_empty_tables_of_the_test_part_have_the_train_part_dtypes(tmp_path):
    """Code that merges train and test tables (ids, coordinates) must not meet object ids."""
    k = write_kaggle(tmp_path / "k", images=False)
    tr, te = read_kaggle(k, "train"), read_kaggle(k, "test")
    assert te.labels.dtypes[STUDY_ID] == "int64" and len(te.labels) == 0
    assert te.coordinates.dtypes.to_dict() == tr.coordinates.dtypes.to_dict()
    assert [str(te.coordinates.dtypes[c]) for c in ("study_id", "series_id", "instance_number", "x", "y")] == \
        ["int64"] * 3 + ["float64"] * 2
    assert te.labels.dtypes.to_dict() == tr.labels.dtypes.to_dict()
    # the index is the line each point has in the file (sorted by study, then column)
    assert list(tr.coordinates.index) == [3, 2, 4] and tr.coordinates.index.name == "csv_row"


def test_no_sample_submission_is_fine(tmp_path):
    k = write_kaggle(tmp_path / "k", images=False)
    (k / "sample_submission.csv").unlink()
    t = read_kaggle(k, "test")
    assert t.sample_submission is None and "submission_studies_not_listed" not in t.report


def _two_cleaned_copies(k):
    (k / "train_label_coordinates.csv").rename(k / "train_label_coordinates.a.csv")
    (k / "train_label_coordinates.b.csv").write_text("")


def _huge_header(path):
    path.write_text("x" * 200_000 + "," + path.read_text())


@pytest.mark.parametrize("part, change, message", [
    ("train", lambda k: (k / "train.csv").unlink(), "{k}/train.csv: file not found"),
    ("train", lambda k: (k / "train_label_coordinates.csv").unlink(),
     "{k}/train_label_coordinates.csv: file not found"),
    ("test", lambda k: (k / "test_series_descriptions.csv").write_bytes(b"study_id,\xff\n"),
     "{k}/test_series_descriptions.csv: not a readable CSV: 'utf-8' codec can't decode byte 0xff in "
     "position 9: invalid start byte"),
    ("test", lambda k: _huge_header(k / "test_series_descriptions.csv"),
     "{k}/test_series_descriptions.csv: row 1: not a readable CSV: field larger than field limit (131072)"),
    ("test", lambda k: replace_once(k / "test_series_descriptions.csv", "series_id,", ""),
     "{k}/test_series_descriptions.csv: row 1: missing column(s) ['series_id']; header is "
     "['study_id', 'series_description']"),
    ("test", lambda k: replace_once(k / "test_series_descriptions.csv", "description", "description,study_id"),
     "{k}/test_series_descriptions.csv: row 1: column 'study_id' appears more than once in the header"),
    ("train", lambda k: replace_once(k / "train.csv", "study_id,", "study_id,spinal_canal_stenosis_l6_s1,"),
     "{k}/train.csv: row 1: unknown column 'spinal_canal_stenosis_l6_s1' (not a known condition_level)"),
    ("train", lambda k: replace_once(k / "train_label_coordinates.csv", "L4/L5", "L4/L6"),
     "{k}/train_label_coordinates.csv: row 2: unknown level 'L4/L6'"),
    ("train", lambda k: replace_once(k / "train_label_coordinates.csv", "8.5", "inf"),
     "{k}/train_label_coordinates.csv: row 2: x 'inf' is not a finite number"),
    ("train", lambda k: replace_once(k / "train_series_descriptions.csv", "Axial T2", "Axial T3"),
     "{k}/train_series_descriptions.csv: row 4: unknown series_description 'Axial T3' "
     "(expected one of ['Sagittal T1', 'Sagittal T2/STIR', 'Axial T2'])"),
    ("train", lambda k: replace_once(k / "train_series_descriptions.csv", "2,21,Sagittal T2/STIR", "2,20,Axial T2"),
     "{k}/train_series_descriptions.csv: row 7: series 2/20 listed twice"),
    ("test", lambda k: replace_once(k / "sample_submission.csv", "3_", "x_"),
     "{k}/sample_submission.csv: row 2: malformed row_id 'x_left_neural_foraminal_narrowing_l1_l2'"),
    ("test", lambda k: replace_once(k / "sample_submission.csv", ",0.3333333333333333\n", ",x\n"),
     "{k}/sample_submission.csv: row 2: severe 'x' is not a finite number"),
    ("train", lambda k: _two_cleaned_copies(k),
     "{k}: several coordinate files, cannot choose: ['train_label_coordinates.a.csv', "
     "'train_label_coordinates.b.csv']"),
])
def test_file_level_errors_name_file_row_and_cause(tmp_path, part, change, message):
    k = write_kaggle(tmp_path / "k", images=False)
    change(k)
    with pytest.raises(KaggleFormatError) as exc:
        read_kaggle(k, part)
    assert str(exc.value) == message.format(k=k)


def test_short_rows_are_blank_at_the_end_and_a_row_of_commas_is_a_row(tmp_path):
    k = write_kaggle(tmp_path / "k", images=False)
    f = k / "train.csv"
    lines = f.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 3)[0]                       # study 2 without its last three grades
    f.write_text("\n".join(lines) + "\n")
    d = read_kaggle(k, "train")
    assert d.labels.iloc[1, -3:].isna().all() and d.report["blank_grades"] == 3
    f.write_text("\n".join(lines) + "\n,\n")                    # two empty fields: a row, not a blank line
    with pytest.raises(KaggleFormatError, match=r"train.csv: row 4: study_id '' is not a non-negative integer"):
        read_kaggle(k, "train")


def test_a_cleaned_coordinates_copy_is_read_only_when_the_original_is_absent(tmp_path):
    k = write_kaggle(tmp_path / "k", images=False)
    orig = k / "train_label_coordinates.csv"
    (k / "train_label_coordinates.fixed.csv").write_text(orig.read_text().replace("L4/L5", "L1/L2"))
    assert set(read_kaggle(k, "train").coordinates["level"]) == {"l4_l5"}
    orig.unlink()
    d = read_kaggle(k, "train")
    assert set(d.coordinates["level"]) == {"l1_l2"} and d.files["coordinates"].name == "train_label_coordinates.fixed.csv"


def test_a_repeated_series_is_refused_even_with_another_description(tmp_path):
    k = write_kaggle(tmp_path / "k", images=False)
    with open(k / "train_series_descriptions.csv", "a") as f:
        f.write("1,10,Axial T2\n")
    with pytest.raises(KaggleFormatError, match=r"row 9: series 1/10 listed twice"):
        read_kaggle(k, "train")


def test_label_check_reads_headers_only_and_joins_the_first_three_problems(tmp_path):
    k = write_kaggle(tmp_path / "k")
    f = k / "train_images" / "1" / "11" / "2.dcm"               # the first point's instance
    f.write_bytes(f.read_bytes()[:-20])                          # pixel data cut short; the header is whole
    d = read_kaggle(k, "train")
    assert check_coordinates(d, k) == []
    with open(k / "train_label_coordinates.csv", "a") as f:
        for x in (20, 21, 22, 23):
            f.write(f"1,11,2,Spinal Canal Stenosis,L1/L2,{x},1\n")
    d = read_kaggle(k, "train")
    where = f"{k / 'train_label_coordinates.csv'}: row "
    img = k / "train_images" / "1" / "11" / "2.dcm"
    problems = [f"{where}{5 + i}: point (x={20 + i}.0, y=1.0) outside the 16x12 image {img}" for i in range(4)]
    assert check_coordinates(d, k, strict=False) == problems
    with pytest.raises(KaggleFormatError) as exc:
        check_coordinates(d, k)
    assert str(exc.value) == "; ".join(problems[:3]) + " (and 1 more)"
    d.coordinates = d.coordinates[d.coordinates["x"] != 23]
    with pytest.raises(KaggleFormatError) as exc:
        check_coordinates(d, k)
    assert str(exc.value) == "; ".join(problems[:3])


def test_unlisted_study_folders_are_named_in_the_warning(tmp_path, caplog):
    k = write_kaggle(tmp_path / "k", images=False)
    (k / "test_images" / "4" / "40").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="lumbar.kaggle"):
        read_kaggle(k, "test")
    assert [r.getMessage() for r in caplog.records] == [
        f"{k / 'test_images'}: 1 study folder(s) that no row of test_series_descriptions.csv lists are not read: ['4']"]


def test_carriage_return_only_line_endings_read_like_plain(tmp_path):
    plain = read_kaggle(write_kaggle(tmp_path / "p", images=False), "train")
    k = write_kaggle(tmp_path / "k", images=False)
    for f in k.glob("*.csv"):
        f.write_bytes(f.read_bytes().replace(b"\n", b"\r"))
    d = read_kaggle(k, "train")
    assert d.labels.equals(plain.labels) and d.series.equals(plain.series)
    assert d.coordinates.equals(plain.coordinates)


def test_a_train_part_with_no_points_counts_none(tmp_path):
    k = write_kaggle(tmp_path / "k", images=False)
    f = k / "train_label_coordinates.csv"
    f.write_text(f.read_text().splitlines()[0] + "\n")            # the header alone
    d = read_kaggle(k)                                                # the default part is train
    assert d.part == "train" and len(d.coordinates) == 0 and d.coordinates.index.dtype == "int64"
    assert {key: d.report[key] for key in ("points", "points_on_unlisted_series", "points_repeated",
                                           "points_without_grade", "labelled_studies")} == \
        {"points": 0, "points_on_unlisted_series": 0, "points_repeated": 0, "points_without_grade": 0,
         "labelled_studies": 2}


def test_repeated_points_keep_the_order_of_the_file(tmp_path):
    """Two points for one study and column (a real quirk) stay in file order: the first one is used."""
    k = write_kaggle(tmp_path / "k", images=False)
    with open(k / "train_label_coordinates.csv", "a") as f:
        for x in (7.0, 1.0, 5.0):
            f.write(f"1,11,2,Spinal Canal Stenosis,L4/L5,{x},6.0\n")
    c = read_kaggle(k).coordinates
    rows = c[(c["study_id"] == 1) & (c["column"] == "spinal_canal_stenosis_l4_l5")]
    assert list(rows["x"]) == [8.5, 7.0, 1.0, 5.0] and list(rows.index) == [2, 5, 6, 7]


def test_an_unknown_part_is_named(tmp_path):
    with pytest.raises(KaggleFormatError) as exc:
        read_kaggle(tmp_path, "val")
    assert str(exc.value) == "unknown part 'val' (expected one of ['train', 'test'])"
