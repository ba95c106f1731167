"""The split table: by patient, complete, disjoint, stratified, deterministic, and robust to rare strata."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lumbar.split import make_split, strata_keys, grade_matrix, summarize
from lumbar.vocabulary import FOLD, GRADES, LABEL_COLUMNS, SPLIT, SPLITS, STUDY_ID

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def fake_labels(n: int, seed: int = 0, blank: float = 0.03) -> pd.DataFrame:
    """train.csv-shaped grades with a per-study severity factor, so severe cells cluster by study."""
    rng = np.random.default_rng(seed)
    severity = rng.normal(0, 1, n)
    latent = severity[:, None] + rng.normal(0, 1, (n, len(LABEL_COLUMNS)))
    idx = np.digitize(latent, [1.0, 1.9])
    text = np.array(GRADES, dtype=object)[idx]
    text[rng.random(text.shape) < blank] = np.nan
    ids = rng.choice(np.arange(10_000, 10_000_000), size=n, replace=False)
    return pd.DataFrame({STUDY_ID: ids, **{c: text[:, j] for j, c in enumerate(LABEL_COLUMNS)}})


def severe_spinal(labels: pd.DataFrame) -> pd.Series:
    return pd.Series(strata_keys(grade_matrix(labels))[1] == 2, index=labels[STUDY_ID].to_numpy())


@pytest.fixture(scope="module")
def labels():
    return fake_labels(400)


@pytest.fixture(scope="module")
def split(labels):
    return make_split(labels, holdout=0.25, folds=5, val_fold=0, seed=42)


def test_complete_disjoint_sorted(labels, split):
    assert list(split.columns) == [STUDY_ID, SPLIT, FOLD]
    assert split[STUDY_ID].is_unique
    assert set(split[STUDY_ID]) == set(labels[STUDY_ID])
    assert split[STUDY_ID].is_monotonic_increasing
    assert set(split[SPLIT]) == set(SPLITS)
    parts = [set(split.loc[split[SPLIT] == s, STUDY_ID]) for s in SPLITS]
    assert sum(len(p) for p in parts) == len(labels)
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])


def test_shares_and_folds(split):
    n = len(split)
    assert summarize(split)["holdout"] == round(0.25 * n)
    assert (split.loc[split[SPLIT] == "holdout", FOLD] == -1).all()
    assert (split.loc[split[SPLIT] == "val", FOLD] == 0).all()
    assert set(split.loc[split[SPLIT] == "train", FOLD]) == {1, 2, 3, 4}
    sizes = split.loc[split[FOLD] >= 0, FOLD].value_counts()
    assert sizes.max() - sizes.min() <= 3  # stratified folds are near-equal


def test_stratified_on_severity(labels, split):
    sev = severe_spinal(labels)
    overall = sev.mean()
    assert 0.1 < overall < 0.5  # the fake data has a meaningful stratum
    for name in SPLITS:
        ids = split.loc[split[SPLIT] == name, STUDY_ID]
        assert abs(sev.loc[ids].mean() - overall) < 0.04, name


def test_deterministic_and_order_independent(labels, split):
    again = make_split(labels.sample(frac=1, random_state=3), holdout=0.25, folds=5, val_fold=0, seed=42)
    pd.testing.assert_frame_equal(split, again)
    other = make_split(labels, holdout=0.25, folds=5, val_fold=0, seed=7)
    assert not other[SPLIT].equals(split[SPLIT])


def test_val_fold_rotates(labels, split):
    s1 = make_split(labels, holdout=0.25, folds=5, val_fold=1, seed=42)
    assert s1[FOLD].equals(split[FOLD])  # same folds, another one validates
    assert set(s1.loc[s1[SPLIT] == "val", STUDY_ID]) == set(split.loc[split[FOLD] == 1, STUDY_ID])


@pytest.mark.parametrize("n,holdout,folds", [(10, 0.2, 4), (7, 0.0, 2), (12, 0.5, 3)])
def test_tiny_and_rare_strata(n, holdout, folds):
    labels = fake_labels(n, seed=n)
    s = make_split(labels, holdout=holdout, folds=folds, val_fold=0, seed=1)
    assert len(s) == n and s[STUDY_ID].is_unique
    assert summarize(s)["holdout"] == round(holdout * n)
    assert summarize(s)["val"] >= 1 and summarize(s)["train"] >= 1


def test_bad_input():
    labels = fake_labels(20)
    with pytest.raises(ValueError, match="holdout"):
        make_split(labels, holdout=1.0, folds=5, val_fold=0, seed=0)
    with pytest.raises(ValueError, match="val_fold"):
        make_split(labels, holdout=0.2, folds=5, val_fold=5, seed=0)
    with pytest.raises(ValueError, match="appears twice"):
        make_split(pd.concat([labels, labels.iloc[:1]]), holdout=0.2, folds=5, val_fold=0, seed=0)
    bad = labels.copy()
    bad.loc[3, LABEL_COLUMNS[7]] = "Terrible"
    with pytest.raises(ValueError, match="Terrible"):
        make_split(bad, holdout=0.2, folds=5, val_fold=0, seed=0)
    with pytest.raises(ValueError, match="too few"):
        make_split(labels.iloc[:4], holdout=0.25, folds=5, val_fold=0, seed=0)


def test_stage_writes_sorted_table(tmp_path):
    """The split stage on a Kaggle folder made here: a sorted, complete table, the same bytes twice."""
    import yaml

    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    labels = fake_labels(60)
    labels.to_csv(kaggle / "train.csv", index=False)
    pd.DataFrame({"study_id": labels["study_id"], "series_id": labels["study_id"] * 10,
                  "series_description": "Sagittal T1"}).to_csv(kaggle / "train_series_descriptions.csv", index=False)
    pd.DataFrame(columns=["study_id", "series_id", "instance_number", "condition", "level", "x", "y"]).to_csv(
        kaggle / "train_label_coordinates.csv", index=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["kaggle_dir"] = str(kaggle)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "split.csv"
    cmd = [sys.executable, str(ROOT / "stages" / "split.py"), "--params", str(tmp_path / "params.yaml"),
           "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    table = pd.read_csv(out)
    assert table[STUDY_ID].is_monotonic_increasing and set(table[SPLIT]) <= set(SPLITS)
    assert sorted(table[STUDY_ID]) == sorted(labels["study_id"]) and (table[SPLIT] == "holdout").any()
    first = out.read_bytes()
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp_path)
    assert out.read_bytes() == first


def test_folds_are_stratified_too(labels, split):
    """Each fold's share of severe-spinal studies stays within 0.03 of the rest's (random folds of this
    size would miss that by ~0.06)."""
    sev = severe_spinal(labels)
    rest = split[split[SPLIT] != "holdout"]
    overall = sev.loc[rest[STUDY_ID]].mean()
    for fold, part in rest.groupby(FOLD):
        assert abs(sev.loc[part[STUDY_ID]].mean() - overall) < 0.03, fold
