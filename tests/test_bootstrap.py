"""The patient bootstrap: replicates score like the metric, intervals hold the figure, draws are shared."""
import itertools

import numpy as np
import pandas as pd
import pytest

from lumbar.bootstrap import bootstrap, intervals, replicate_scores, study_sums, sums_parts
from lumbar.metric import prior_submission, prior_table, score_parts, solution_table
from lumbar.vocabulary import GRADE_WEIGHTS, GRADES, LABEL_COLUMNS, SUBMISSION_COLUMNS


def _labels(n=12, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.choice(GRADES, size=(n, len(LABEL_COLUMNS)), p=[0.6, 0.25, 0.15]), columns=LABEL_COLUMNS)
    df.insert(0, "study_id", np.arange(100, 100 + n))
    return df


def _submission(solution, seed=1):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([2, 1, 1], size=len(solution))
    sub = pd.DataFrame(p, columns=list(SUBMISSION_COLUMNS))
    sub.insert(0, "row_id", solution["row_id"].to_numpy())
    return sub


def test_a_replicate_drawing_every_patient_once_is_the_metric_itself():
    sol = solution_table(_labels())
    sub = _submission(sol)
    loss, wsum, studies = study_sums(sol, sub)
    once = replicate_scores(loss, wsum, np.ones((1, len(studies))))
    assert once[0] == pytest.approx(score_parts(sol, sub)["score"], rel=1e-12)
    # drawing half the patients twice and the rest never scores those patients alone
    half = np.array([[2.0 if i < 6 else 0.0 for i in range(12)]])
    alone = sol[sol["study_id"] < 106]
    assert replicate_scores(loss, wsum, half)[0] == pytest.approx(
        score_parts(alone, sub[sub["row_id"].isin(alone["row_id"])])["score"], rel=1e-12)


def _towards_truth(sol, sub, share):
    """sub moved `share` of the way towards the true grade: a better predictor."""
    truth = np.eye(3)[sol["grade"].to_numpy()] * 0.9 + 0.1 / 3
    out = sub.copy()
    out[list(SUBMISSION_COLUMNS)] = (1 - share) * sub[list(SUBMISSION_COLUMNS)].to_numpy() + share * truth
    return out


def test_intervals_hold_the_figures_and_share_the_draws():
    sol = solution_table(_labels(40))
    prior = prior_submission(prior_table(sol), sol["row_id"])
    oracle, model = _towards_truth(sol, prior, 0.9), _towards_truth(sol, prior, 0.5)
    reps = bootstrap(sol, {"a": model, "b": model, "prior": prior}, n=500, seed=3)
    assert np.array_equal(reps["a"], reps["b"]) and reps["a"].std() > 0     # every predictor, the same draws
    iv = intervals(sol, {"score": model, "prior": prior, "oracle": oracle}, n=500)
    parts = {k: score_parts(sol, v)["score"] for k, v in (("score", model), ("prior", prior), ("oracle", oracle))}
    gap = (parts["prior"] - parts["score"]) / (parts["prior"] - parts["oracle"])
    for k, v in parts.items():
        assert iv[k][0] < v < iv[k][1], k
    assert iv["gap_captured"][0] < gap < iv["gap_captured"][1] and 0 < gap < 1
    assert iv["patients"] == 40 and iv["replicates"] == 500
    again = bootstrap(sol, {"s": model}, n=50, seed=9)["s"]
    assert np.array_equal(again, bootstrap(sol, {"s": model}, n=50, seed=9)["s"])     # seeded


def test_identical_patients_give_an_interval_of_no_width():
    one = _labels(1)
    labels = pd.concat([one.assign(study_id=s) for s in range(10, 20)], ignore_index=True)
    sol = solution_table(labels)
    base = _submission(solution_table(one))
    sub = pd.concat([base.assign(row_id=base["row_id"].str.replace("100_", f"{s}_", regex=False))
                     for s in range(10, 20)], ignore_index=True)
    lo, hi = intervals(sol, {"score": sub}, n=200)["score"]
    assert hi - lo < 1e-9


def test_sums_of_a_one_hot_truth_are_the_hard_grades_and_score_like_the_metric():
    sol = solution_table(_labels(15, seed=4))
    sub = _submission(sol, seed=5)
    one_hot = sub.copy()
    one_hot[list(SUBMISSION_COLUMNS)] = np.eye(3)[sol["grade"].to_numpy()]
    hard, via_truth = study_sums(sol, sub), study_sums(sol, sub, one_hot)
    assert np.allclose(hard[0], via_truth[0], rtol=1e-12) and np.allclose(hard[1], via_truth[1], rtol=1e-12)
    want = score_parts(sol, sub)
    assert sums_parts(*hard[:2]) == pytest.approx(want, rel=1e-12)


def test_expected_sums_are_the_mean_over_every_grade_the_truth_can_give():
    """One study, five spinal levels and two foramina: the expected sums equal the probability-weighted
    sums of the hard grades over all 3^7 gradings (levels independent given the truth), any-severe included."""
    rng = np.random.default_rng(8)
    cols = [c for c in LABEL_COLUMNS if c.startswith("spinal")] + [c for c in LABEL_COLUMNS if "foraminal" in c][:2]
    labels = pd.DataFrame([[7] + ["Normal/Mild"] * len(cols)], columns=["study_id", *cols])
    base = solution_table(labels)
    truth = _submission(base, seed=9)
    truth[list(SUBMISSION_COLUMNS)] = rng.dirichlet([1, 1, 1], size=len(base))
    sub = _submission(base, seed=10)
    t = truth.set_index("row_id").loc[base["row_id"], list(SUBMISSION_COLUMNS)].to_numpy()
    loss, wsum = np.zeros((1, 4)), np.zeros((1, 4))
    for grades in itertools.product(range(3), repeat=len(base)):
        sol = base.assign(grade=grades, weight=np.asarray(GRADE_WEIGHTS)[list(grades)])
        prob = np.prod(t[np.arange(len(base)), grades])
        l, w, _ = study_sums(sol, sub)
        loss, wsum = loss + prob * l, wsum + prob * w
    e_loss, e_wsum, _ = study_sums(base, sub, truth)
    assert np.allclose(e_loss, loss, rtol=1e-10) and np.allclose(e_wsum, wsum, rtol=1e-10)
    assert e_wsum[0, 3] > 0 and e_wsum[0, 2] == 0     # any-severe is scored; no subarticular rows here
