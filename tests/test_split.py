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


def _grades_table(rows: list[dict]) -> pd.DataFrame:
    """Label rows from {column: grade index} dicts; unnamed cells Normal/Mild, -1 blank ('')."""
    out = []
    for i, cells in enumerate(rows):
        row = {STUDY_ID: 100 + i, **{c: GRADES[0] for c in LABEL_COLUMNS}}
        row.update({c: ("" if g < 0 else GRADES[g]) for c, g in cells.items()})
        out.append(row)
    return pd.DataFrame(out)


def test_grade_matrix_reads_grades_and_blanks_and_names_a_missing_column():
    spinal = [c for c in LABEL_COLUMNS if c.startswith("spinal")]
    other = next(c for c in LABEL_COLUMNS if c not in spinal)
    t = _grades_table([{spinal[0]: 2, other: -1}, {spinal[1]: 1}])
    g = grade_matrix(t)
    assert g.dtype == np.int64 and g.shape == (2, len(LABEL_COLUMNS))
    assert g[0, LABEL_COLUMNS.index(spinal[0])] == 2 and g[0, LABEL_COLUMNS.index(other)] == -1  # '' is blank
    assert g[1, LABEL_COLUMNS.index(spinal[1])] == 1 and (np.delete(g[1], LABEL_COLUMNS.index(spinal[1])) == 0).all()
    assert (grade_matrix(t.assign(**{other: np.nan}))[:, LABEL_COLUMNS.index(other)] == -1).all()
    with pytest.raises(ValueError, match=f"labels lack column '{LABEL_COLUMNS[-1]}'"):
        grade_matrix(t.drop(columns=[LABEL_COLUMNS[-1]]))
    with pytest.raises(ValueError, match=f"labels lack column '{LABEL_COLUMNS[0]}'"):
        grade_matrix(t.drop(columns=[LABEL_COLUMNS[0], LABEL_COLUMNS[1]]))


def test_strata_keys_have_their_defined_values():
    """worst spinal grade x severe-count bin (0 / 1-2 / 3+), then each alone, then nothing."""
    spinal = [c for c in LABEL_COLUMNS if c.startswith("spinal")]
    other = [c for c in LABEL_COLUMNS if not c.startswith("spinal")]
    t = _grades_table([
        {},                                                         # all normal
        {spinal[0]: 1},                                             # moderate spinal, no severe
        {other[0]: 2},                                              # one severe elsewhere: spinal 0
        {spinal[0]: 2, other[1]: 2},                                # severe spinal, 2 severe
        {spinal[1]: 2, other[0]: 2, other[1]: 2},                   # 3 severe
        {c: 2 for c in other[:5]},                                  # 5 severe, none spinal
        {c: -1 for c in spinal} | {other[2]: 1},                    # spinal all blank
    ])
    fine, worst, severe, none = strata_keys(grade_matrix(t))
    assert worst.tolist() == [0, 1, 0, 2, 2, 0, 0]
    assert severe.tolist() == [0, 0, 1, 1, 2, 2, 0]
    assert fine.tolist() == [0, 3, 1, 7, 8, 2, 0]
    assert none.tolist() == [0] * 7 and none.dtype.kind == "i"


def test_usable_key_pools_rare_classes_and_falls_back_to_coarser_keys():
    from lumbar.split import usable_key
    k = np.array([0, 0, 0, 1, 1, 1, 1, 2, 3, 3])
    # class 2 (1 member) is rare at min_count 2: pooled alone it is still too small -> joins the largest
    # class (1); 3 (2 members) is kept
    got = usable_key([k], min_count=2)
    assert got.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 3, 3]
    # at min_count 3, classes 2 and 3 are both rare; their pool (3 members) is big enough -> new class 4
    assert usable_key([k], min_count=3).tolist() == [0, 0, 0, 1, 1, 1, 1, 4, 4, 4]
    # exactly min_count members is enough (not rare)
    assert usable_key([np.array([5, 5, 7, 7])], min_count=2).tolist() == [5, 5, 7, 7]
    # every class rare: pooled into one class, which is usable when big enough
    assert usable_key([np.array([0, 0, 1, 2, 2])], min_count=3).tolist() == [3] * 5
    # nothing usable: a single class of the right length
    none = usable_key([np.array([0, 1, 2])], min_count=5)
    assert none.tolist() == [0, 0, 0] and none.dtype.kind == "i"


@pytest.mark.parametrize("kw, message", [
    ({"holdout": 1.0}, r"split.holdout must be in \[0, 1\), got 1.0"),
    ({"holdout": 1.5}, r"split.holdout must be in \[0, 1\), got 1.5"),
    ({"holdout": -0.1}, r"split.holdout must be in \[0, 1\), got -0.1"),
    ({"folds": 1}, r"split.folds must be >= 2, got 1"),
    ({"val_fold": -1}, r"split.val_fold must be in \[0, 5\), got -1"),
])
def test_bad_split_params_are_named_with_their_value(kw, message):
    args = {"holdout": 0.2, "folds": 5, "val_fold": 0, "seed": 0, **kw}
    with pytest.raises(ValueError, match=message):
        make_split(fake_labels(20), **args)


def test_labels_without_study_id_are_refused():
    with pytest.raises(ValueError, match="labels lack column 'study_id'"):
        make_split(fake_labels(20).drop(columns=[STUDY_ID]), holdout=0.2, folds=5, val_fold=0, seed=0)


def test_studies_in_lists_the_named_splits_sorted_and_refuses_unknown_names(split):
    from lumbar.split import studies_in
    train = studies_in(split, "train")
    both = studies_in(split, "val", "train")
    assert train == sorted(split.loc[split[SPLIT] == "train", STUDY_ID].astype(int))
    assert both == sorted(split.loc[split[SPLIT] != "holdout", STUDY_ID].astype(int)) and len(both) > len(train)
    assert all(isinstance(s, int) for s in both) and studies_in(split) == []
    with pytest.raises(ValueError, match=r"^unknown split 'test' \(expected one of \('train', 'val', 'holdout'\)\)$"):
        studies_in(split, "train", "test")


def test_integer_columns_a_single_holdout_study_and_exactly_one_study_per_fold():
    s = make_split(fake_labels(20), holdout=0.05, folds=5, val_fold=0, seed=0)  # round(0.05 * 20) = 1
    assert summarize(s)["holdout"] == 1
    assert s[STUDY_ID].dtype == np.int64 and s[FOLD].dtype == np.int64
    six = make_split(fake_labels(6), holdout=1 / 6, folds=5, val_fold=0, seed=0)  # 5 left for 5 folds
    assert sorted(six.loc[six[FOLD] >= 0, FOLD]) == [0, 1, 2, 3, 4]


def test_a_holdout_smaller_than_the_strata_is_still_drawn_from_the_seed():
    """One holdout study and several strata: StratifiedShuffleSplit refuses, the plain draw takes
    over, and it is as deterministic as the stratified one."""
    labels = fake_labels(10, seed=3)
    a = make_split(labels, holdout=0.1, folds=3, val_fold=0, seed=5)
    assert summarize(a)["holdout"] == 1
    for _ in range(3):
        pd.testing.assert_frame_equal(a, make_split(labels, holdout=0.1, folds=3, val_fold=0, seed=5))


def test_a_stratum_of_two_studies_is_still_stratified_in_the_holdout():
    """Two studies per stratum suffice for the holdout draw: a half holdout takes one of each, every seed."""
    spinal = [c for c in LABEL_COLUMNS if c.startswith("spinal")]
    rows = []
    for k, (grade, n_cells) in enumerate([(None, 0), ("Moderate", 1), ("Severe", 1), ("Severe", 3)]):
        for j in range(2):
            row = {STUDY_ID: 10 * k + j, **{c: GRADES[0] for c in LABEL_COLUMNS}}
            row.update({c: grade for c in spinal[:n_cells]})
            rows.append(row)
    labels = pd.DataFrame(rows)
    assert len(set(strata_keys(grade_matrix(labels))[0])) == 4          # four strata of two studies
    for seed in range(6):
        s = make_split(labels, holdout=0.5, folds=2, val_fold=0, seed=seed)
        held = s.loc[s[SPLIT] == "holdout", STUDY_ID]
        assert sorted(held // 10) == [0, 1, 2, 3], seed
