"""Classifier training under torchrun: 2 CPU processes (Gloo), DistributedDataParallel, one saved model."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from lumbar.classification.checkpoint import load_classifier
from test_classification import make_toy_crops

ROOT = Path(__file__).resolve().parents[1]


def test_torchrun_two_processes(tmp_path):
    make_toy_crops(tmp_path / "data" / "crops" / "spinal", n_studies=12)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["classifier"].update(epochs=1, width=0.125, batch_size=8, device="cpu")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "stages" / "classify.py"), "--group", "spinal",
           "--params", str(tmp_path / "params.yaml"), "--root", str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    assert "2 process(es) on cpu" in log  # a real process group was formed
    assert log.count("epoch 1/1") == 1  # only rank 0 logs

    clf = load_classifier(tmp_path / "models" / "classify" / "spinal" / "model.pt")
    p = clf.predict_proba(np.load(tmp_path / "data" / "crops" / "spinal" / "images.npy")[:8])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    metrics = json.loads((tmp_path / "metrics" / "classify" / "spinal.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["n_train"] > 0 and metrics["n_val"] > 0
    assert (tmp_path / "dvclive" / "classify" / "spinal" / "plots" / "metrics" / "train_loss.tsv").is_file()
