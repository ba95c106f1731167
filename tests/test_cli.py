"""The `lumbar` console script: installed with the package, lists its verbs, fails clearly."""
import subprocess
import sys
from pathlib import Path

LUMBAR = str(Path(sys.executable).with_name("lumbar"))


def test_help_lists_every_verb():
    res = subprocess.run([LUMBAR, "--help"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for verb in ("predict", "info", "review", "preset", "kaggle-package"):
        assert verb in res.stdout


def test_predict_names_a_missing_bundle(tmp_path):
    study = tmp_path / "123"
    study.mkdir()
    res = subprocess.run([LUMBAR, "predict", str(study), "--models", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode != 0 and "nowhere" in res.stderr and "bundle" in res.stderr


def test_predict_refuses_a_folder_that_is_not_a_study(tmp_path):
    res = subprocess.run([LUMBAR, "predict", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2 and "numeric study_id" in res.stderr
