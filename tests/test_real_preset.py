"""The real-data preset executed, not only parsed: params-real.yaml over a tiny synthetic set, every stage.

A throw-away copy gets params.yaml + params-real.yaml + tests/real-cpu.yaml (only what cannot run on a
2-core CPU: epochs, devices, image size, the number of studies). The synthetic Kaggle-layout folder is
put where the preset looks for the download (data/kaggle) and `dvc add`ed, as the README tells a user
to do with the real one; the pretrained-weights files the preset names are a from-scratch YOLOv8m and
a torchvision VGG-19-bn saved under those names, so the loading code really runs. No oracle, no test
labels, as on Kaggle.
"""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from lumbar.params import overlay
from lumbar.vocabulary import GROUP_NAMES
from pipeline_repo import ALL_STAGES, ROOT, dvc, make_repo, sh, stages_run

PRESET = ROOT / "params-real.yaml"
CPU = Path(__file__).with_name("real-cpu.yaml")
# The only keys real-cpu.yaml may change: anything else it touched would mean the preset is no
# longer what runs (e.g. classifier.weights: null would skip the loading this test is about).
ALLOWED = {"synthetic.n_train", "synthetic.n_test", "synthetic.image_scale", "synthetic.workers",
           "detector.device", "detector.imgsz", "classifier.device"} | {
    f"{part}.epochs.{g}" for part in ("detector", "classifier") for g in GROUP_NAMES}
# Seed of the saved weights: not the pipeline's seeds (42, and 43 inside ultralytics' trainer), so a
# network initialised from scratch can never coincide with the file.
WEIGHTS_SEED = 7
# Least correlation of each trained convolution with the file's: measured 0.94 or more after one epoch
# (detectors, lr0 2e-3), ~1.0 (classifiers, lr 1e-4); a network initialised from scratch gives ~0.
CLOSE = 0.8
SAVE_WEIGHTS = f"""
import sys, torch
from torchvision.models import vgg19_bn
from lumbar.detection.env import ultralytics_env
YOLO = ultralytics_env()
torch.manual_seed({WEIGHTS_SEED})
YOLO("yolov8m.yaml").save(sys.argv[1])           # what YOLO(path) loads, as a release .pt
torch.manual_seed({WEIGHTS_SEED})
torch.save(vgg19_bn(weights=None).state_dict(), sys.argv[2])   # torchvision's own file layout
"""


@dataclass
class RealRun:
    path: Path
    ran: set[str]
    params: dict[str, Any]


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / (a.norm() * b.norm()))


def _yolo_state(path: Path) -> tuple[Any, dict[str, torch.Tensor]]:
    """An ultralytics checkpoint's model and its state dict (unpickling it needs ultralytics imported)."""
    from lumbar.detection.env import ultralytics_env

    ultralytics_env()
    model = torch.load(path, map_location="cpu", weights_only=False)["model"]
    return model, model.state_dict()


@pytest.fixture(scope="module")
def real_repo(tmp_path_factory) -> RealRun:
    """The copy after the user's steps: synthesize, the Kaggle folder in place and dvc-added, dvc repro."""
    base = tmp_path_factory.mktemp("real")
    repo = make_repo(base / "repo", base / "storage", presets=(PRESET, CPU))
    p = yaml.safe_load((repo / "params.yaml").read_text())
    for rel in (p["detector"]["model"], p["classifier"]["weights"]):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    sh([sys.executable, "-c", SAVE_WEIGHTS, p["detector"]["model"], p["classifier"]["weights"]], repo)
    ran = stages_run(dvc(["repro", "synthesize"], repo))
    shutil.copytree(repo / "data" / "synthetic" / "kaggle", repo / p["data"]["kaggle_dir"])
    dvc(["add", p["data"]["kaggle_dir"]], repo)
    ran |= stages_run(dvc(["repro"], repo))
    return RealRun(repo, ran, p)


def test_the_cpu_overrides_change_only_what_cannot_run_here():
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    real = overlay(base, yaml.safe_load(PRESET.read_text()))
    cpu = _leaves(yaml.safe_load(CPU.read_text()))
    assert set(cpu) <= ALLOWED, sorted(set(cpu) - ALLOWED)
    run, preset = _leaves(overlay(real, yaml.safe_load(CPU.read_text()))), _leaves(real)
    assert {k for k, v in run.items() if v != preset[k]} <= ALLOWED
    assert run["detector.model"].endswith(".pt") and run["classifier.weights"] and run["classifier.width"] == 1.0
    assert run["data.oracle"] == "" and run["data.test_labels"] == "" and run["data.kaggle_dir"] == "data/kaggle"


def test_every_stage_runs_on_the_preset(real_repo):
    assert real_repo.ran == ALL_STAGES
    assert (real_repo.path / "data" / "kaggle.dvc").is_file()


def test_submission_and_scores_without_oracle_or_test_labels(real_repo):
    repo, kaggle = real_repo.path, real_repo.path / real_repo.params["data"]["kaggle_dir"]
    sample = pd.read_csv(kaggle / "sample_submission.csv")
    sub = pd.read_csv(repo / "data" / "submission.csv")
    assert list(sub["row_id"]) == list(sample["row_id"]) and len(sub) > 0
    p = sub[["normal_mild", "moderate", "severe"]].to_numpy()
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    m = json.loads((repo / "metrics" / "evaluate.json").read_text())
    assert {"score", "prior", "interval"} <= set(m) and "oracle" not in m and "gap_captured" not in m
    assert "oracle" not in m["interval"] and m["holdout_studies"] > 0
    assert 0 < m["score"]["score"] < 10
    predicted = json.loads((repo / "metrics" / "predict.json").read_text())
    assert predicted["rows"] == len(sample) and "score" not in predicted   # no test labels to score against


def test_classifiers_start_from_the_weights_file(real_repo):
    """After one epoch at lr 1e-4 each trunk conv is still the file's (corr ~1); from scratch it is ~0."""
    saved = torch.load(real_repo.path / real_repo.params["classifier"]["weights"], map_location="cpu",
                       weights_only=True)
    for g in GROUP_NAMES:
        ckpt = torch.load(real_repo.path / "models" / "classify" / g / "model.pt", map_location="cpu",
                          weights_only=True)
        assert (ckpt["arch"], ckpt["width"], ckpt["size"]) == ("vgg19_bn", 1.0, real_repo.params["crop"]["size"])
        convs = [k for k, v in ckpt["state_dict"].items() if k.startswith("features.") and v.dim() == 4]
        assert len(convs) == 16, g   # VGG-19: 16 convolutions
        low = min(_corr(ckpt["state_dict"][k], saved[k]) for k in convs)
        assert low > CLOSE, (g, low)


def test_detectors_are_the_yolov8m_of_the_weights_file(real_repo):
    """The trained detector is a YOLOv8m whose convolutions are still the file's after one epoch."""
    _, saved = _yolo_state(real_repo.path / real_repo.params["detector"]["model"])
    for g in GROUP_NAMES:
        model, state = _yolo_state(real_repo.path / "models" / "detect" / g / "best.pt")
        assert model.yaml["scale"] == "m" and model.yaml["yaml_file"] == "yolov8m.yaml", g
        convs = [k for k in state if k.endswith("conv.weight") and k in saved and state[k].shape == saved[k].shape]
        assert len(convs) >= 70, (g, len(convs))   # all but the class outputs, whose class count differs
        low = min(_corr(state[k], saved[k]) for k in convs)
        assert low > CLOSE, (g, low)


@pytest.mark.parametrize("stage, key", [("detect", "detector.model"), ("classify", "classifier.weights")])
def test_a_missing_weights_file_stops_its_stage_naming_it(real_repo, stage, key):
    section, name = key.split(".")
    rel = real_repo.params[section][name]
    path, aside = real_repo.path / rel, real_repo.path / (rel + ".aside")
    path.rename(aside)
    try:
        out = sh([sys.executable, f"stages/{stage}.py", "--group", "spinal"], real_repo.path, check=False)
    finally:
        aside.rename(path)
    assert "FileNotFoundError" in out and rel in out, out[-3000:]
