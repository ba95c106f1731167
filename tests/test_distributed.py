"""Classifier training under torchrun: 2 CPU processes (Gloo), DistributedDataParallel, one saved model."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
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


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_ranks_end_with_the_same_weights_because_gradients_are_averaged(tmp_path):
    """Each rank trains on its own shard; only gradient averaging can make their weights identical.
    The same shards trained without it must differ, so the equality is not an accident of the data."""
    crops = make_toy_crops(tmp_path / "crops", n_studies=12)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).with_name("ddp_worker.py")), str(crops), str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    synced = [_weights(tmp_path / f"synced_rank{r}.pt") for r in (0, 1)]
    alone = [_weights(tmp_path / f"alone_rank{r}.pt") for r in (0, 1)]
    params = [k for k, v in synced[0].items() if v.is_floating_point()]
    assert params
    for k in params:
        torch.testing.assert_close(synced[0][k], synced[1][k], rtol=0, atol=1e-6, msg=f"ranks disagree on {k}")

    def apart(a: dict, b: dict) -> float:
        return max(float((a[k] - b[k]).abs().max()) for k in params)
    assert apart(alone[0], alone[1]) > 1e-3  # the shards really differ
    assert apart(synced[0], alone[0]) > 1e-3  # and the synced run is not rank 0 alone
