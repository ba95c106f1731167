"""The competition score against hand-computed values and an independent sklearn implementation."""
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from lumbar import metric
from lumbar.vocabulary import LABEL_COLUMNS, STUDY_ID


def _labels(rows: dict[int, dict[str, str]]) -> pd.DataFrame:
    """train.csv-shaped frame; cells not given are Normal/Mild."""
    recs = []
    for sid, cells in rows.items():
        rec = {STUDY_ID: sid, **{c: "Normal/Mild" for c in LABEL_COLUMNS}}
        rec.update(cells)
        recs.append(rec)
    return pd.DataFrame(recs)


def _uniform(solution: pd.DataFrame, p=(1 / 3, 1 / 3, 1 / 3)) -> pd.DataFrame:
    return pd.DataFrame({"row_id": solution["row_id"], "normal_mild": p[0], "moderate": p[1], "severe": p[2]})


def test_uniform_prediction_scores_log3_everywhere():
    sol = metric.solution_table(_labels({1: {"spinal_canal_stenosis_l4_l5": "Severe"}, 2: {}}))
    parts = metric.score_parts(sol, _uniform(sol))
    for g in ("spinal", "foraminal", "subarticular"):
        assert parts[g] == pytest.approx(math.log(3))
    # any-severe: study 1 label 1 (weight 4), study 2 label 0 (weight 1); pred 1/3 for both.
    expected = (4 * -math.log(1 / 3) + 1 * -math.log(2 / 3)) / 5
    assert parts["any_severe_spinal"] == pytest.approx(expected)
    assert parts["score"] == pytest.approx((3 * math.log(3) + expected) / 4)


def test_weights_follow_true_grade_hand_computed():
    sol = metric.solution_table(_labels({7: {"spinal_canal_stenosis_l1_l2": "Moderate"}}))
    sub = _uniform(sol, (0.8, 0.1, 0.1))
    parts = metric.score_parts(sol, sub)
    # spinal rows: 4 normal (w=1, p=.8) + 1 moderate (w=2, p=.1)
    assert parts["spinal"] == pytest.approx((4 * -math.log(0.8) + 2 * -math.log(0.1)) / 6)
    # one study, no severe: weight = max spinal weight = 2, pred = 0.1
    assert parts["any_severe_spinal"] == pytest.approx(-math.log(0.9))


def test_rows_matched_by_id_not_position_and_renormalised():
    sol = metric.solution_table(_labels({1: {"spinal_canal_stenosis_l4_l5": "Severe"}, 2: {}}))
    rng = np.random.default_rng(0)
    p = rng.random((len(sol), 3))
    sub = pd.DataFrame({"row_id": sol["row_id"], "normal_mild": p[:, 0], "moderate": p[:, 1], "severe": p[:, 2]})
    shuffled = sub.sample(frac=1.0, random_state=1)
    scaled = sub.copy()
    scaled[["normal_mild", "moderate", "severe"]] *= 7.0
    base = metric.score(sol, sub)
    assert metric.score(sol, shuffled) == pytest.approx(base)
    assert metric.score(sol, scaled) == pytest.approx(base)


def test_matches_sklearn_reimplementation():
    rng = np.random.default_rng(3)
    grades = np.array(["Normal/Mild", "Moderate", "Severe"])
    labels = _labels({s: {c: grades[rng.choice(3, p=[.7, .2, .1])] for c in LABEL_COLUMNS} for s in range(10, 40)})
    sol = metric.solution_table(labels)
    p = rng.dirichlet([1, 1, 1], size=len(sol))
    sub = pd.DataFrame({"row_id": sol["row_id"], "normal_mild": p[:, 0], "moderate": p[:, 1], "severe": p[:, 2]})
    parts = metric.score_parts(sol, sub)
    for g in ("spinal", "foraminal", "subarticular"):
        m = (sol["group"] == g).to_numpy()
        ref = log_loss(sol["grade"][m], p[m], sample_weight=sol["weight"][m], labels=[0, 1, 2])
        assert parts[g] == pytest.approx(ref, rel=1e-9)
    sp = sol[sol["group"] == "spinal"].assign(pred=p[(sol["group"] == "spinal").to_numpy(), 2])
    agg = sp.groupby(STUDY_ID).agg(y=("grade", lambda s: float((s == 2).any())), w=("weight", "max"), q=("pred", "max"))
    ref = log_loss(agg["y"], agg["q"], sample_weight=agg["w"], labels=[0, 1])
    assert parts["any_severe_spinal"] == pytest.approx(ref, rel=1e-9)


def test_blank_cells_not_scored_and_bad_input_named():
    labels = _labels({5: {}})
    labels.loc[0, "left_subarticular_stenosis_l1_l2"] = np.nan
    sol = metric.solution_table(labels)
    assert len(sol) == 24 and "5_left_subarticular_stenosis_l1_l2" not in set(sol["row_id"])
    sub = _uniform(sol)
    with pytest.raises(ValueError, match="lacks"):
        metric.score(sol, sub.iloc[1:])
    bad = sub.copy()
    bad.loc[0, "severe"] = -0.1
    with pytest.raises(ValueError, match="negative"):
        metric.score(sol, bad)
    bad.loc[0, "severe"] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        metric.score(sol, bad)
    labels.loc[0, "spinal_canal_stenosis_l1_l2"] = "Bad"
    with pytest.raises(ValueError, match="'Bad'"):
        metric.solution_table(labels)


def test_prior_is_weighted_constant_and_beats_uniform():
    labels = _labels({s: ({"spinal_canal_stenosis_l4_l5": "Severe"} if s % 4 == 0 else {}) for s in range(40)})
    sol = metric.solution_table(labels)
    prior = metric.prior_table(sol)
    row = prior.loc["spinal_canal_stenosis_l4_l5"].to_numpy()
    mass = np.array([30.5, 0.5, 10.5]) * [1, 2, 4]
    np.testing.assert_allclose(row, mass / mass.sum())
    sub = metric.prior_submission(prior, sol["row_id"])
    assert metric.score(sol, sub) < metric.score(sol, _uniform(sol))


def test_prior_submission_is_a_submission_frame_of_each_cells_prior():
    from lumbar.vocabulary import SUBMISSION_COLUMNS
    labels = _labels({s: {} for s in range(4)})
    sol = metric.solution_table(labels)
    prior = metric.prior_table(sol)
    rows = ["3_spinal_canal_stenosis_l4_l5", "1_left_subarticular_stenosis_l1_l2"]
    sub = metric.prior_submission(prior, rows)
    assert list(sub.columns) == ["row_id", *SUBMISSION_COLUMNS] and list(sub.index) == [0, 1]
    assert sub["row_id"].tolist() == rows
    np.testing.assert_allclose(sub.iloc[1, 1:].to_numpy(float),
                               prior.loc["left_subarticular_stenosis_l1_l2", list(SUBMISSION_COLUMNS)].to_numpy(float))
    with pytest.raises(ValueError, match="^prior table lacks some columns$"):
        metric.prior_submission(prior.drop(index="spinal_canal_stenosis_l4_l5"), rows)


def test_weighted_log_loss_of_one_row_of_none_and_of_unnormalised_rows():
    assert math.isnan(metric.weighted_log_loss(np.zeros((0, 3)), np.zeros(0, dtype=int)))
    assert metric.weighted_log_loss([[0.2, 0.3, 0.5]], [2]) == pytest.approx(-math.log(0.5))
    # rows are renormalised first: [2, 3, 5] is [0.2, 0.3, 0.5]
    assert metric.weighted_log_loss([[2.0, 3.0, 5.0], [1.0, 1.0, 2.0]], [0, 1]) == pytest.approx(
        (1 * -math.log(0.2) + 2 * -math.log(0.25)) / 3)


def _sol():
    return metric.solution_table(_labels({1: {"spinal_canal_stenosis_l4_l5": "Severe"}, 2: {}}))


def test_solution_table_columns_and_types():
    sol = _sol()
    assert list(sol.columns) == ["row_id", STUDY_ID, "column", "group", "grade", "weight"]
    assert sol[STUDY_ID].dtype == np.int64 and list(sol.index) == list(range(len(sol)))
    assert sol["row_id"].is_monotonic_increasing


def test_submission_problems_are_named_exactly():
    sol = _sol()
    sub = _uniform(sol)
    dup = pd.concat([sub, sub.iloc[[5, 3]]], ignore_index=True)
    with pytest.raises(ValueError, match=rf"^duplicate row_id in submission: '{sub['row_id'][5]}'$"):
        metric.score(sol, dup)
    for value, message in ((np.nan, "submission has non-finite probabilities"),
                           (-0.1, "submission has negative probabilities")):
        bad = sub.copy()
        bad.loc[2, "moderate"] = value
        with pytest.raises(ValueError, match=f"^{message}$"):
            metric.score(sol, bad)
    zero = sub.copy()
    zero.loc[4, ["normal_mild", "moderate", "severe"]] = 0.0
    with pytest.raises(ValueError, match="^submission has a row whose probabilities sum to 0$"):
        metric.score(sol, zero)
    with pytest.raises(ValueError, match="^solution has no scored spinal rows$"):
        metric.score_parts(sol[sol["group"] != "spinal"], sub)


def test_certain_predictions_are_clipped_not_infinite():
    sol = _sol()
    sub = _uniform(sol)
    sub.loc[:, ["normal_mild", "moderate", "severe"]] = [1.0, 0.0, 0.0]  # zeros are allowed, and certain
    parts = metric.score_parts(sol, sub)
    assert all(math.isfinite(v) for v in parts.values())
    sure_severe = sub.copy()
    sure_severe.loc[:, ["normal_mild", "moderate", "severe"]] = [0.0, 0.0, 1.0]
    assert math.isfinite(metric.score_parts(sol, sure_severe)["any_severe_spinal"])
