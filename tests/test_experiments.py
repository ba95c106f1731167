"""Experiments and review on the tiny preset: a param change re-runs only what depends on it."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

from pipeline_repo import clone, dvc, sh, stages_run
from lumbar.vocabulary import GROUPS

DOWNSTREAM_OF_CLASSIFIER = {f"classify@{g}" for g in GROUPS} | {"bundle", "evaluate", "predict"}
DOWNSTREAM_OF_DETECTOR = {f"{s}@{g}" for s in ("detect", "crop", "classify") for g in GROUPS} | {
    "locate", "bundle", "evaluate", "predict"}


def test_exp_run_classifier_param_then_review_report(tiny_repo, tmp_path):
    repo = clone(tiny_repo.path, tmp_path / "exp")
    out = dvc(["exp", "run", "-S", "classifier.lr=3.0e-3", "-n", "lr3e-3"], repo)
    assert stages_run(out) == DOWNSTREAM_OF_CLASSIFIER, out
    show = dvc(["exp", "show", "--md", "--no-pager"], repo)
    assert "lr3e-3" in show and "classifier.lr" in show and "score" in show
    # `dvc exp run` leaves the experiment in the workspace: the review compares it with main.
    report = sh([str(Path(sys.executable).with_name("lumbar")), "review", "--base", "main"], repo)
    assert "classifier.lr" in report and "0.003" in report
    # The classifiers' validation figures move with their learning rate (on the tiny preset the
    # holdout score may not: its one-epoch detectors can leave every cell to the prior).
    assert "metrics/classify/" in report and "final_train_loss" in report


def _descendants(repo, stages: set[str]) -> set[str]:
    edges = re.findall(r'"([^"]+)" -> "([^"]+)"', dvc(["dag", "--dot"], repo))
    out, todo = set(stages), list(stages)
    while todo:
        node = todo.pop()
        for a, b in edges:
            if a == node and b not in out:
                out.add(b)
                todo.append(b)
    return out


def test_detector_param_changes_only_detectors_and_what_depends_on_them(tiny_repo, tmp_path):
    """`dvc status` after a detector param change: exactly detect@* changed (and the bundle, which
    records the params); everything that will re-run is downstream of them in the DAG (so synthesize,
    extract, split and yolo_data never re-run)."""
    repo = clone(tiny_repo.path, tmp_path / "detector")
    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace("lr0: 0.002", "lr0: 0.001", 1))
    changed = set(json.loads(dvc(["status", "--json"], repo)))
    assert changed == {f"detect@{g}" for g in GROUPS} | {"bundle"}
    assert _descendants(repo, changed) == DOWNSTREAM_OF_DETECTOR


def test_one_groups_detector_epochs_retrain_only_that_detector(tiny_repo, tmp_path):
    """detect@ lists detector.epochs.<group>: changing foraminal's epochs re-trains only that detector;
    locate runs the three detectors again, but only foraminal's boxes change, so the other two groups'
    crops and classifiers are not re-run."""
    repo = clone(tiny_repo.path, tmp_path / "epochs")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    epochs = params["detector"]["epochs"]["foraminal"] + 1
    out = dvc(["exp", "run", "-S", f"detector.epochs.foraminal={epochs}", "-n", "foraminal-epochs"], repo)
    ran = stages_run(out)
    # crop/classify@foraminal re-run only if the new detector's boxes differ (on the tiny preset's
    # one-epoch detectors they may all be empty); the other groups' never do.
    assert {"detect@foraminal", "locate", "bundle", "evaluate", "predict"} <= ran, out
    assert ran <= {"detect@foraminal", "locate", "crop@foraminal", "classify@foraminal", "bundle", "evaluate",
                   "predict"}, out
