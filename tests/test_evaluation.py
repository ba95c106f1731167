"""evaluate(): the holdout studies only, scored beside the prior and the oracle, and every file it
writes agrees with its metrics. The models are replaced by fixed predictions (the models have their
own tests; test_pipeline runs the real thing), so each figure here has a value known in advance."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import lumbar.evaluation as E
from dicom_fixtures import write_kaggle
from lumbar.inference import StudyPrediction
from lumbar.kaggle import read_kaggle
from lumbar.bootstrap import study_sums, sums_parts
from lumbar.metric import score_parts, solution_table, weighted_log_loss
from lumbar.vocabulary import BOX_COLUMNS, GRADE_WEIGHTS, GRADES, GROUPS, LABEL_COLUMNS, ROW_ID, STUDY_ID, SUBMISSION_COLUMNS

PRIOR = np.array([0.5, 0.3, 0.2])


def _probs(study_id: int, truth: dict, p_true: float, prior_cols=()) -> pd.DataFrame:
    rows = []
    for col in LABEL_COLUMNS:
        p = np.full(3, (1 - p_true) / 2)
        p[truth.get(col, 0)] = p_true
        rows.append({ROW_ID: f"{study_id}_{col}", **dict(zip(SUBMISSION_COLUMNS, p)),
                     "source": "prior" if col in prior_cols else "model"})
    return pd.DataFrame(rows)


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    kaggle = write_kaggle(tmp_path / "kaggle")
    labels = read_kaggle(kaggle, part="train").labels
    truth = {int(r[STUDY_ID]): {c: GRADES.index(r[c]) for c in LABEL_COLUMNS if isinstance(r[c], str) and r[c]}
             for _, r in labels.iterrows()}
    pd.DataFrame({STUDY_ID: [1, 2], "split": ["holdout", "train"], "fold": [-1, 0]}).to_csv(
        tmp_path / "split.csv", index=False)
    oracle = pd.concat([_probs(s, truth[s], 0.8) for s in (1, 2)])
    oracle.drop(columns="source").to_csv(tmp_path / "oracle.csv", index=False)
    spinal = "spinal_canal_stenosis_l4_l5"
    box = pd.DataFrame([[1, "spinal", spinal, 11, 1, 2, 8.0, 6.0, 9.0, 7.0, 0.9, 0.5, 0.5]], columns=list(BOX_COLUMNS))
    bundle = SimpleNamespace(prior=pd.DataFrame([PRIOR] * len(LABEL_COLUMNS), index=list(LABEL_COLUMNS),
                                                columns=list(SUBMISSION_COLUMNS)))
    seen = []
    setup = SimpleNamespace(no_boxes=False)

    def predict(b, study_id, listed, study_dir):
        assert b is bundle and sorted(set(listed[STUDY_ID])) == [study_id] and study_dir.name == str(study_id)
        seen.append(study_id)
        study = SimpleNamespace(series={11: SimpleNamespace(instance_numbers=[3, 2, 1])})
        pred = StudyPrediction(study_id, _probs(study_id, truth[study_id], 0.7, prior_cols=[LABEL_COLUMNS[0]]),
                               box.iloc[:0] if setup.no_boxes else box)
        return pred, None if setup.no_boxes else study  # None: a study that could not be read

    def load(cls, d):
        assert Path(d) == tmp_path / "bundle"
        return bundle

    monkeypatch.setattr(E.Bundle, "load", classmethod(load))
    monkeypatch.setattr(E, "predict_dicom_study", predict)
    setup.__dict__.update(tmp=tmp_path, kaggle=kaggle, labels=labels, truth=truth, oracle=oracle, seen=seen,
                          prior=bundle.prior)
    return setup


def _run(s, oracle=True, out="deep/eval"):
    return E.evaluate(s.tmp / "bundle", s.kaggle, s.tmp / "split.csv", s.tmp / out, s.tmp / "m" / "n" / "evaluate.json",
                      s.tmp / "oracle.csv" if oracle else None, progress=False)


def test_scores_the_holdout_beside_prior_and_oracle(setup):
    m = _run(setup)
    assert setup.seen == [1] and m["holdout_studies"] == 1  # the training study is never scored
    solution = solution_table(setup.labels[setup.labels[STUDY_ID] == 1])
    rows = solution[ROW_ID]
    subs = {"score": _probs(1, setup.truth[1], 0.7).drop(columns="source"),
            "prior": pd.DataFrame({ROW_ID: rows, **{c: PRIOR[i] for i, c in enumerate(SUBMISSION_COLUMNS)}}),
            "oracle": E.bayes_submission(_probs(1, setup.truth[1], 0.8).drop(columns="source"))}
    want = {k: score_parts(solution, v) for k, v in subs.items()}  # the oracle submits its Bayes decision
    for name in subs:
        assert m[name] == {k: round(v, 5) for k, v in want[name].items()}, name
    gap = (want["prior"]["score"] - want["score"]["score"]) / (want["prior"]["score"] - want["oracle"]["score"])
    assert 0 < gap < 1 and m["gap_captured"] == round(gap, 5)
    lo, hi = m["interval"]["gap_captured"]
    assert lo - 1e-3 <= m["gap_captured"] <= hi + 1e-3 and set(m["interval"]) >= {"score", "prior", "oracle"}
    assert m["cells_from_prior"] == 1
    # and every figure again, expected over the grades the posterior gives (not the reader's draw)
    posterior = _probs(1, setup.truth[1], 0.8).drop(columns="source")
    expected = {k: sums_parts(*study_sums(solution, v, posterior)[:2]) for k, v in subs.items()}
    for name in subs:
        assert m["expected"][name] == {k: round(v, 5) for k, v in expected[name].items()}, name
        assert m["expected"][name]["score"] != m[name]["score"]
    e_gap = m["expected"]["gap_captured"]
    assert e_gap == round((expected["prior"]["score"] - expected["score"]["score"])
                          / (expected["prior"]["score"] - expected["oracle"]["score"]), 5)
    assert m["expected"]["interval"]["gap_captured"][0] - 1e-3 <= e_gap <= m["expected"]["interval"]["gap_captured"][1] + 1e-3
    assert m["detection"]["spinal"] == {"points": 1, "located": 1.0, "slice_within_1": 1.0, "inside_box": 1.0}
    assert m["detection"]["subarticular"] == {"points": 1, "located": 0.0, "slice_within_1": 0.0, "inside_box": 0.0}
    assert m["detection"]["foraminal"]["points"] == 0


def test_writes_files_that_re_score_to_its_metrics(setup):
    m = _run(setup)
    out = setup.tmp / "deep" / "eval"
    written = json.loads((setup.tmp / "m" / "n" / "evaluate.json").read_text())
    assert (setup.tmp / "m" / "n" / "evaluate.json").read_text() == json.dumps(m, indent=2, sort_keys=True) + "\n"
    assert written == m
    preds, sol = pd.read_csv(out / "predictions.csv"), pd.read_csv(out / "solution.csv")
    assert list(preds.columns) == [ROW_ID, *SUBMISSION_COLUMNS] and len(preds) == len(LABEL_COLUMNS)
    assert list(sol.columns) == [ROW_ID, *SUBMISSION_COLUMNS, "sample_weight"]
    long = sol.melt(id_vars=[ROW_ID, "sample_weight"]).query("value == 1")
    assert len(long) == len(sol)  # one-hot
    assert set(sol[ROW_ID]) <= set(preds[ROW_ID]) and preds[ROW_ID].str.startswith("1_").all()
    assert np.allclose(preds[list(SUBMISSION_COLUMNS)].max(axis=1), 0.7)  # written at full precision
    cells = pd.read_csv(out / "cells.csv")
    assert list(cells.columns) == [ROW_ID, *SUBMISSION_COLUMNS, "source"] and (cells["source"] == "prior").sum() == 1
    assert all(cells[c].dtype == np.float64 for c in SUBMISSION_COLUMNS)
    for name in ("predictions.csv", "cells.csv"):  # six decimals, as the submission is written
        text = (out / name).read_text()
        assert ",0.150000," in text and "0.1500000000" not in text, name
    solution = solution_table(setup.labels[setup.labels[STUDY_ID] == 1])
    for g in GROUPS:
        conf = pd.read_csv(out / f"confusion_{g}.csv")
        truth = [GRADES[i] for i in solution.loc[solution["group"] == g, "grade"]]
        assert list(conf.columns) == ["actual", "predicted"] and len(conf) == len(truth) > 0
        assert sorted(conf["actual"]) == sorted(truth) and (conf["actual"] == conf["predicted"]).all()
    # figures are rounded to 5 decimals, and a second run into the same folders works
    assert all(round(v, 5) == v for v in m["score"].values())
    assert _run(setup) == m


def test_without_an_oracle_there_is_no_gap_captured(setup):
    m = _run(setup, oracle=False)
    assert "oracle" not in m and "gap_captured" not in m and "score" in m and "prior" in m


def test_solution_frame_is_one_hot_integers_and_float_weights():
    sol = pd.DataFrame({ROW_ID: ["1_a", "1_b", "2_a"], "grade": [0, 2, 1], "weight": [1, 4, 2]})
    f = E.solution_frame(sol)
    assert list(f.columns) == [ROW_ID, *SUBMISSION_COLUMNS, "sample_weight"]
    assert f[list(SUBMISSION_COLUMNS)].to_numpy().tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert all(f[c].dtype.kind == "i" for c in SUBMISSION_COLUMNS) and f["sample_weight"].dtype == np.float64


def test_an_oracle_no_better_than_the_prior_gives_no_gap_captured(setup):
    solution = solution_table(setup.labels[setup.labels[STUDY_ID] == 1])
    untilted = PRIOR / np.asarray(GRADE_WEIGHTS) / (PRIOR / np.asarray(GRADE_WEIGHTS)).sum()  # its Bayes decision: PRIOR
    prior = pd.DataFrame({ROW_ID: solution[ROW_ID], **{c: untilted[i] for i, c in enumerate(SUBMISSION_COLUMNS)}})
    prior.to_csv(setup.tmp / "oracle.csv", index=False)
    m = _run(setup)
    assert m["oracle"] == m["prior"] and m["gap_captured"] is None
    assert m["interval"]["gap_captured"] == [None, None]  # and evaluate does not abort on it


def test_studies_without_boxes_or_volumes_still_score(setup):
    setup.no_boxes = True
    m = _run(setup)
    assert m["holdout_studies"] == 1 and m["score"]["score"] > 0
    assert m["detection"]["spinal"] == {"points": 1, "located": 0.0, "slice_within_1": 0.0, "inside_box": 0.0}


def test_gap_captured_when_the_oracle_is_only_a_little_better_than_the_prior(setup):
    """gap_captured divides by prior - oracle whatever its size (here under 1; the model beats this oracle)."""
    _probs(1, setup.truth[1], 0.4).drop(columns="source").to_csv(setup.tmp / "oracle.csv", index=False)
    m = _run(setup)
    gap = m["prior"]["score"] - m["oracle"]["score"]
    assert 0 < gap < 1 and m["gap_captured"] == pytest.approx((m["prior"]["score"] - m["score"]["score"]) / gap,
                                                                abs=1e-4)


def test_graded_test_studies_join_the_holdout_as_unseen_patients(setup):
    """With the test studies' grades known (synthetic data), they are scored with the holdout: the
    headline is over both, each part is given alone, and a graded study with no test images is left out."""
    alone = _run(setup)
    assert "holdout" not in alone and "test" not in alone and alone["patients"] == {"holdout": 1}
    graded = setup.labels[setup.labels[STUDY_ID] == 1]
    graded = pd.concat([graded.assign(**{STUDY_ID: 3}), graded.assign(**{STUDY_ID: 99})])  # 99: not a test study
    graded.to_csv(setup.tmp / "test_labels.csv", index=False)
    setup.truth[3] = setup.truth[1]
    pd.concat([setup.oracle, _probs(3, setup.truth[3], 0.8)]).drop(columns="source").to_csv(
        setup.tmp / "oracle.csv", index=False)
    setup.seen.clear()
    m = E.evaluate(setup.tmp / "bundle", setup.kaggle, setup.tmp / "split.csv", setup.tmp / "eval",
                   setup.tmp / "evaluate.json", setup.tmp / "oracle.csv", test_labels=setup.tmp / "test_labels.csv",
                   progress=False)
    assert setup.seen == [1, 3] and m["patients"] == {"holdout": 1, "test": 1} and m["holdout_studies"] == 1
    both = solution_table(pd.concat([setup.labels[setup.labels[STUDY_ID] == 1], graded[graded[STUDY_ID] == 3]]))
    preds = pd.concat([_probs(s, setup.truth[s], 0.7) for s in (1, 3)]).drop(columns="source")
    assert m["score"] == {k: round(v, 5) for k, v in score_parts(both, preds).items()}
    assert m["interval"]["patients"] == 2 and m["test"]["interval"]["patients"] == 1
    assert m["holdout"]["score"] == alone["score"] and m["holdout"]["gap_captured"] == alone["gap_captured"]
    test_only = both[both[STUDY_ID] == 3]
    assert m["test"]["score"]["score"] == round(score_parts(test_only, preds)["score"], 5)
    sol = pd.read_csv(setup.tmp / "eval" / "solution.csv")
    assert set(sol[ROW_ID].str.split("_").str[0]) == {"1", "3"} and len(sol) == len(both)


def test_graded_test_studies_are_read_from_predicts_cells_instead_of_run_twice(setup):
    """With `test_cells` (what predict wrote) the test studies are scored from it, not run again, to the
    same figures; a cells file that lacks one of their rows is an error naming the row."""
    graded = setup.labels[setup.labels[STUDY_ID] == 1].assign(**{STUDY_ID: 3})
    graded.to_csv(setup.tmp / "test_labels.csv", index=False)
    setup.truth[3] = setup.truth[1]
    pd.concat([setup.oracle, _probs(3, setup.truth[3], 0.8)]).drop(columns="source").to_csv(
        setup.tmp / "oracle.csv", index=False)

    def run(**kw):
        setup.seen.clear()
        return E.evaluate(setup.tmp / "bundle", setup.kaggle, setup.tmp / "split.csv", setup.tmp / "eval",
                          setup.tmp / "evaluate.json", setup.tmp / "oracle.csv",
                          test_labels=setup.tmp / "test_labels.csv", progress=False, **kw)
    inferred = run()
    assert setup.seen == [1, 3]
    cells = setup.tmp / "cells.csv"
    _probs(3, setup.truth[3], 0.7, prior_cols=[LABEL_COLUMNS[0]]).to_csv(cells, index=False)
    read = run(test_cells=cells)
    assert setup.seen == [1] and read == inferred
    _probs(3, setup.truth[3], 0.2).to_csv(cells, index=False)  # other probabilities: other scores
    assert run(test_cells=cells)["test"]["score"] != inferred["test"]["score"]
    short = _probs(3, setup.truth[3], 0.7)
    short.iloc[1:].to_csv(cells, index=False)
    with pytest.raises(ValueError, match=f"cells.csv: no prediction for 1 .*{short[ROW_ID].iloc[0]}"):
        run(test_cells=cells)


def test_bayes_submission_tilts_the_posterior_by_the_weights_and_beats_it():
    """Under the 1/2/4 weights the best submission for grade probabilities p is q ∝ w·p: on grades
    drawn from p it scores better than p itself (and than any other tilt), so the oracle must submit it."""
    rng = np.random.default_rng(3)
    n = 4000
    post = rng.dirichlet([3, 1, 0.6], size=n)
    grades = np.array([rng.choice(3, p=row) for row in post])
    frame = pd.DataFrame(post, columns=["normal_mild", "moderate", "severe"]).assign(row_id=range(n))
    bayes = E.bayes_submission(frame)
    q = bayes[["normal_mild", "moderate", "severe"]].to_numpy()
    assert np.allclose(q.sum(axis=1), 1) and np.allclose(q / q[:, :1], post * [1, 2, 4] / post[:, :1])
    assert np.allclose(frame[["normal_mild", "moderate", "severe"]].to_numpy(), post)  # input left as it was
    loss = {name: weighted_log_loss(p, grades) for name, p in
            (("posterior", post), ("bayes", q), ("over", post * [1, 3, 9]), ("under", post * [1, 1.5, 2]))}
    assert loss["bayes"] < min(loss["posterior"], loss["over"], loss["under"])
    assert loss["posterior"] - loss["bayes"] > 0.01
