"""End to end on the tiny preset: `dvc repro` from synthesize to predict, in a throw-away repository."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pydicom
import pytest
from sklearn.metrics import log_loss

from pipeline_repo import ALL_STAGES, dvc, stages_run
from lumbar.vocabulary import GROUPS, PHI_KEYWORDS, SPLIT, STUDY_ID


def test_repro_runs_every_stage(tiny_repo):
    assert tiny_repo.ran == ALL_STAGES


def test_second_repro_runs_nothing(tiny_repo):
    out = dvc(["repro"], tiny_repo.path)
    assert stages_run(out) == set(), out
    assert "up to date" in out


def test_submission_has_sample_rows_in_order_and_valid_probabilities(tiny_repo):
    kaggle = tiny_repo.path / "data" / "synthetic" / "kaggle"
    sample = pd.read_csv(kaggle / "sample_submission.csv")
    sub = pd.read_csv(tiny_repo.path / "data" / "submission.csv")
    assert list(sub["row_id"]) == list(sample["row_id"])
    assert len(sub) == 25 * sample["row_id"].str.split("_").str[0].nunique()
    p = sub[["normal_mild", "moderate", "severe"]].to_numpy()
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (tiny_repo.path / "reports" / "predict" / "index.html").exists()


def _independent_score(solution: pd.DataFrame, sub: pd.DataFrame) -> float:
    """The competition metric written again from its definition, with sklearn's log loss."""
    cols = ["normal_mild", "moderate", "severe"]
    m = solution.merge(sub, on="row_id", suffixes=("_true", ""))
    y = m[[c + "_true" for c in cols]].to_numpy().argmax(axis=1)
    p = m[cols].to_numpy()
    p = np.clip(p / p.sum(axis=1, keepdims=True), 1e-15, 1 - 1e-15)
    group = m["row_id"].map(lambda r: next(g for g in GROUPS if any(r.endswith(c) for c in GROUPS[g].classes)))
    losses = [log_loss(y[group == g], p[group == g], sample_weight=m["sample_weight"][group == g],
                       labels=[0, 1, 2]) for g in ("spinal", "foraminal", "subarticular")]
    sp = m[group == "spinal"].assign(y=y[group == "spinal"], ps=p[group == "spinal", 2])
    sp["study"] = sp["row_id"].str.split("_").str[0]
    per = sp.groupby("study").agg(label=("y", lambda v: int((v == 2).any())), pred=("ps", "max"),
                                  w=("sample_weight", "max"))
    losses.append(log_loss(per["label"], np.column_stack([1 - per["pred"], per["pred"]]),
                           sample_weight=per["w"], labels=[0, 1]))
    return float(np.mean(losses))


def test_evaluate_metrics_and_independent_rescore(tiny_repo):
    ev = tiny_repo.path / "data" / "evaluate"
    metrics = json.loads((tiny_repo.path / "metrics" / "evaluate.json").read_text())
    for key in ("score", "prior", "oracle"):
        assert set(metrics[key]) >= {"score", "spinal", "foraminal", "subarticular", "any_severe_spinal"}
    gap = (metrics["prior"]["score"] - metrics["score"]["score"]) / (metrics["prior"]["score"] - metrics["oracle"]["score"])
    assert metrics["gap_captured"] == pytest.approx(gap, abs=1e-4) and set(metrics["detection"]) == set(GROUPS)
    iv = metrics["interval"]
    split = pd.read_csv(tiny_repo.path / "data" / "split.csv")
    holdout = set(split.loc[split[SPLIT] == "holdout", STUDY_ID])
    graded = set(pd.read_csv(tiny_repo.path / "data" / "synthetic" / "test_labels.csv")[STUDY_ID])
    unseen = holdout | graded  # the graded test studies are scored with the holdout
    assert graded and not holdout & graded and iv["patients"] == len(unseen)
    assert metrics["patients"] == {"holdout": len(holdout), "test": len(graded)}
    assert iv["score"][0] <= metrics["score"]["score"] <= iv["score"][1]
    preds, solution = pd.read_csv(ev / "predictions.csv"), pd.read_csv(ev / "solution.csv")
    assert {int(r.split("_")[0]) for r in preds["row_id"]} == unseen
    assert len(preds) == 25 * len(unseen)
    assert set(solution["row_id"]) <= set(preds["row_id"])
    assert _independent_score(solution, preds) == pytest.approx(metrics["score"]["score"], abs=1e-4)
    for g in GROUPS:
        conf = pd.read_csv(ev / f"confusion_{g}.csv")
        assert list(conf.columns) == ["actual", "predicted"] and len(conf) > 0


def test_no_patient_identifying_field_in_any_output(tiny_repo):
    kaggle = tiny_repo.path / "data" / "synthetic" / "kaggle"
    ds = pydicom.dcmread(next(kaggle.glob("train_images/*/*/*.dcm")), stop_before_pixels=True)
    secrets = {str(ds.get(k)) for k in PHI_KEYWORDS if ds.get(k) not in (None, "")}
    assert secrets, "the synthetic DICOM should carry fake identifying fields to test against"
    derived = [p for d in ("data", "models", "metrics", "reports", "dvclive") for p in (tiny_repo.path / d).rglob("*")
               if p.is_file() and "synthetic" not in p.relative_to(tiny_repo.path).parts]
    assert derived
    for path in derived:
        blob = path.read_bytes()
        for s in secrets:
            assert s.encode() not in blob, f"{s!r} leaked into {path}"


def test_holdout_studies_never_reach_training(tiny_repo):
    split = pd.read_csv(tiny_repo.path / "data" / "split.csv")
    holdout = {str(s) for s in split.loc[split[SPLIT] == "holdout", STUDY_ID]}
    assert holdout
    for g in GROUPS:
        names = [p.name for p in (tiny_repo.path / "data" / "yolo" / g).rglob("*.png")]
        assert names and not any(n.split("_")[0] in holdout for n in names)
        crops = pd.read_csv(tiny_repo.path / "data" / "crops" / g / "crops.csv")
        assert set(crops[STUDY_ID].astype(str)).isdisjoint(holdout)
        located = pd.read_csv(tiny_repo.path / "data" / "located" / f"{g}.csv")
        assert set(located[STUDY_ID].astype(str)).isdisjoint(holdout)


def test_lumbar_predict_runs_from_the_bundle_alone(tiny_repo, tmp_path):
    """The model bundle and a study folder, copied to an empty folder, are all `lumbar predict` needs."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    kaggle = tiny_repo.path / "data" / "synthetic" / "kaggle"
    study = sorted(p for p in (kaggle / "test_images").iterdir() if p.is_dir())[0]
    work = tmp_path / "alone"
    shutil.copytree(tiny_repo.path / "models" / "bundle", work / "models")
    shutil.copytree(study, work / study.name)
    lumbar = str(Path(sys.executable).with_name("lumbar"))
    res = subprocess.run([lumbar, "predict", study.name, "--models", "models"], cwd=work, capture_output=True,
                         text=True, env={k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"})
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [ln.split() for ln in res.stdout.splitlines() if ln.strip().startswith(f"{study.name}_")]
    assert len(rows) == 25 and all(r[-1] in ("model", "prior") for r in rows)
    p = np.array([[float(v) for v in r[1:4]] for r in rows])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-3)
    # the same probabilities as the predict stage wrote for this study (same bundle, same code)
    sub = pd.read_csv(tiny_repo.path / "data" / "submission.csv").set_index("row_id")
    np.testing.assert_allclose(p, sub.loc[[r[0] for r in rows], ["normal_mild", "moderate", "severe"]], atol=1e-4)
    info = subprocess.run([lumbar, "info", "--models", "models"], cwd=work, capture_output=True, text=True)
    assert info.returncode == 0 and json.loads(info.stdout)["format"] == "lumbar-bundle/1"
