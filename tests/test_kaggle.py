"""Kaggle-layout reader: validated tables, quirks counted not fatal, and the real CSVs parse."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import write_kaggle
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
