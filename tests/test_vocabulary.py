"""The vocabulary against the real Kaggle tables and its own invariants."""
import pandas as pd
import pytest

from conftest import REFERENCE
from lumbar import vocabulary as v


def test_groups_cover_every_column_once():
    cols = [c for g in v.GROUPS.values() for c in g.classes]
    assert sorted(cols) == sorted(v.LABEL_COLUMNS)
    assert [len(v.GROUPS[g].classes) for g in ("foraminal", "spinal", "subarticular")] == [10, 5, 10]


def test_aliases_and_errors():
    assert v.normalize_condition("Right Subarticular Stenosis") == "right_subarticular_stenosis"
    assert v.normalize_level("L5/S1") == "l5_s1"
    assert v.split_row_id(v.row_id(123, "spinal_canal_stenosis_l1_l2")) == (123, "spinal_canal_stenosis_l1_l2")
    for bad in ("Left Foraminal", "l6_l7"):
        with pytest.raises(ValueError, match=bad):
            (v.normalize_condition if "Left" in bad else v.normalize_level)(bad)
    with pytest.raises(ValueError, match="../x"):
        v.split_row_id("../x_spinal_canal_stenosis_l1_l2")


@pytest.mark.skipif(not REFERENCE.exists(), reason="real reference tables not present")
def test_real_tables_use_our_names():
    train = pd.read_csv(REFERENCE / "train.csv")
    assert tuple(train.columns[1:]) == v.LABEL_COLUMNS
    assert set(train[list(v.LABEL_COLUMNS)].stack().dropna().unique()) == set(v.GRADES)
    desc = pd.read_csv(REFERENCE / "train_series_descriptions.csv")
    assert set(desc["series_description"]) == set(v.VIEWS)
    sub = pd.read_csv(REFERENCE / "sample_submission.csv")
    assert tuple(sub.columns) == (v.ROW_ID, *v.SUBMISSION_COLUMNS)
    assert all(v.split_row_id(r)[1] in v.COLUMN_PARTS for r in sub[v.ROW_ID])
