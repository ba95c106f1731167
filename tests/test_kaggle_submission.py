"""The offline Kaggle submission: the dataset folder `lumbar kaggle-package` builds from the tiny
pipeline's bundle, and its submit.py run the way a notebook with internet off runs it: Kaggle's folder
layout, the wheels installed by pip with no index into a fresh target, every socket refused.

The folder is built without dependency wheels (downloading them needs the network): pip installs the
project's own wheel with --no-deps, and the third-party packages come from this environment, as they
come from the Kaggle image in a notebook.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dicom_fixtures import write_kaggle
from lumbar import __version__
from lumbar.cli import main as lumbar_main
from lumbar.kaggle import read_kaggle
from lumbar.kaggle_package import KAGGLE_MISSING, build_package, copy_wheels, download_command, pinned_versions
from lumbar.kaggle_submit import COMPETITION, locate, with_sample
from lumbar.vocabulary import GROUPS, LABEL_COLUMNS, ROW_ID, STUDY_ID, SUBMISSION_COLUMNS, row_id

ROOT = Path(__file__).resolve().parents[1]
NO_NETWORK = '''"""No network for this interpreter and its children, as in a Kaggle notebook with internet off."""
import socket


def _refuse(*args, **kwargs):
    raise OSError("network disabled by the test (sitecustomize)")


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _connect_local(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse()
    return _connect(self, address)


def _connect_ex_local(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse()
    return _connect_ex(self, address)


socket.socket.connect, socket.socket.connect_ex = _connect_local, _connect_ex_local
socket.getaddrinfo = socket.create_connection = socket.gethostbyname = _refuse
'''


@pytest.fixture(scope="module")
def package(tiny_repo, tmp_path_factory) -> Path:
    """The dataset folder, built once by the command a user runs."""
    out = tmp_path_factory.mktemp("kaggle_package") / "dataset"
    res = subprocess.run([sys.executable, "-m", "lumbar", "kaggle-package", "--bundle",
                          str(tiny_repo.path / "models" / "bundle"), "--out", str(out), "--project", str(ROOT)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def test_package_holds_the_bundle_the_wheel_the_script_and_a_readme(package, tiny_repo):
    bundle = tiny_repo.path / "models" / "bundle"
    for f in ("bundle.json", "prior.csv", *(f"{k}/{g}.pt" for k in ("detect", "classify") for g in GROUPS)):
        assert (package / "bundle" / f).read_bytes() == (bundle / f).read_bytes(), f
    assert [p.name for p in (package / "wheels").iterdir()] == [f"lumbar-{__version__}-py3-none-any.whl"]
    assert (package / "submit.py").read_bytes() == (ROOT / "src" / "lumbar" / "kaggle_submit.py").read_bytes()
    readme = (package / "README.txt").read_text()
    assert "submit.py" in readme and all(n in readme for n in KAGGLE_MISSING)  # says which wheels are not there
    assert "other inference code" not in readme  # the bundle was built by the code being packaged


def test_a_rebuild_gives_the_same_files_and_keeps_the_kaggle_metadata(package, tiny_repo, tmp_path):
    again = tmp_path / "dataset"
    shutil.copytree(package, again)
    (again / "dataset-metadata.json").write_text('{"id": "me/lumbar"}')
    built = build_package(tiny_repo.path / "models" / "bundle", again, ROOT)
    assert built["files"] == sorted(["dataset-metadata.json", *(
        p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file())])
    assert (again / "dataset-metadata.json").read_text() == '{"id": "me/lumbar"}'
    wheel = f"wheels/lumbar-{__version__}-py3-none-any.whl"
    assert (again / wheel).read_bytes() == (package / wheel).read_bytes()  # same source, same bytes


def test_submit_finds_the_bundle_and_wheels_nested_or_left_as_archives(tmp_path):
    upload, work = tmp_path / "upload", tmp_path / "work"
    for name, member in (("bundle", "bundle.json"), ("wheels", "lumbar-1.0-py3-none-any.whl")):
        (tmp_path / "src" / name).mkdir(parents=True)
        (tmp_path / "src" / name / member).write_text("{}")
        shutil.make_archive(str(upload / name), "zip", tmp_path / "src", name)
    bundle, wheels = locate(upload, work)
    assert bundle == work / "unpacked" / "bundle" / "bundle"
    assert [w.name for w in wheels] == ["lumbar-1.0-py3-none-any.whl"]
    nested = tmp_path / "nested"
    shutil.copytree(tmp_path / "src", nested / "dataset")
    assert locate(nested, tmp_path / "work2") == (nested / "dataset" / "bundle",
                                                   [nested / "dataset" / "wheels" / "lumbar-1.0-py3-none-any.whl"])
    assert not (tmp_path / "work2").exists()  # nothing to unpack


def _kaggle_input(root: Path) -> pd.DataFrame:
    """Kaggle's input layout, with two bad test studies besides write_kaggle's good one (3): study 4 is in
    the sample only (no series, no images), study 5's one series is a file that is not DICOM."""
    write_kaggle(root)
    series = pd.read_csv(root / "test_series_descriptions.csv")
    pd.concat([series, pd.DataFrame({STUDY_ID: [5], "series_id": [50], "series_description": ["Axial T2"]})]
              ).to_csv(root / "test_series_descriptions.csv", index=False)
    (root / "test_images" / "5" / "50").mkdir(parents=True)
    (root / "test_images" / "5" / "50" / "1.dcm").write_bytes(b"not a DICOM file")
    sample = pd.read_csv(root / "sample_submission.csv")
    extra = pd.DataFrame({ROW_ID: [row_id(s, c) for s in (5, 4) for c in reversed(LABEL_COLUMNS)]})
    sample = pd.concat([sample, extra.assign(**{c: 1 / 3 for c in SUBMISSION_COLUMNS})], ignore_index=True)
    sample.to_csv(root / "sample_submission.csv", index=False)
    return sample


def test_submit_installs_offline_and_writes_the_sample_rows(package, tmp_path):
    kaggle, working, site = tmp_path / "input" / COMPETITION, tmp_path / "working", tmp_path / "site"
    sample = _kaggle_input(kaggle)
    working.mkdir()
    (tmp_path / "netoff").mkdir()
    (tmp_path / "netoff" / "sitecustomize.py").write_text(NO_NETWORK)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(tmp_path / "netoff"), PIP_NO_INDEX="1", LUMBAR_KAGGLE_INPUT=str(kaggle),
               LUMBAR_SUBMISSION=str(working / "submission.csv"))
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('pypi.org', 443))"],
                           env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "network disabled by the test" in probe.stderr  # the guard is really on

    res = subprocess.run([sys.executable, str(package / "submit.py"), "--site", str(site)], cwd=working, env=env,
                         capture_output=True, text=True, timeout=900)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert f"lumbar {__version__} from {site / 'lumbar'}" in out  # the wheel's code ran, not this checkout's
    assert sorted(p.name for p in working.iterdir()) == ["submission.csv"]  # nothing else in the notebook's output

    sub = pd.read_csv(working / "submission.csv")
    assert list(sub.columns) == [ROW_ID, *SUBMISSION_COLUMNS]
    assert list(sub[ROW_ID]) == list(sample[ROW_ID])
    p = sub[list(SUBMISSION_COLUMNS)].to_numpy(float)
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    prior = pd.read_csv(package / "bundle" / "prior.csv", index_col="column")
    bad = sub[sub[ROW_ID].str.match(r"^[45]_")]
    assert len(bad) == 2 * len(LABEL_COLUMNS)  # the two bad studies got the training prior, the run went on
    expected = prior.loc[[r.split("_", 1)[1] for r in bad[ROW_ID]], list(SUBMISSION_COLUMNS)].to_numpy()
    assert np.allclose(bad[list(SUBMISSION_COLUMNS)].to_numpy(), expected, atol=2e-6)


def test_without_a_sample_submission_every_test_study_gets_its_25_rows(tmp_path):
    kaggle = write_kaggle(tmp_path / "kaggle")
    (kaggle / "sample_submission.csv").unlink()
    (kaggle / "test_images" / "7" / "70").mkdir(parents=True)  # a study folder the CSV does not list
    folder = with_sample(kaggle, tmp_path / "work")
    assert folder == tmp_path / "work" and (folder / "test_images").resolve() == (kaggle / "test_images").resolve()
    test = read_kaggle(folder, part="test")  # the folder predict_test_set then reads
    assert list(test.sample_submission[ROW_ID]) == [row_id(s, c) for s in (3, 7) for c in LABEL_COLUMNS]
    assert with_sample(tmp_path / "work", tmp_path / "unused") == tmp_path / "work"  # a sample present: as is


def test_a_missing_bundle_is_named(tmp_path, capsys):
    missing = tmp_path / "no_bundle_here"
    with pytest.raises(FileNotFoundError, match="no_bundle_here.*bundle.json|bundle.json.*no_bundle_here"):
        build_package(missing, tmp_path / "out", ROOT)
    assert lumbar_main(["kaggle-package", "--bundle", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert str(missing) in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unrelated_output_folder_is_never_overwritten(tiny_repo, tmp_path):
    keep = tmp_path / "mine" / "notes.txt"
    keep.parent.mkdir()
    keep.write_text("mine")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        build_package(tiny_repo.path / "models" / "bundle", keep.parent, ROOT)
    assert keep.read_text() == "mine"


def test_dependency_wheels_are_the_pinned_versions_and_nothing_else(tmp_path):
    pins = pinned_versions(ROOT / "requirements.txt")
    assert list(pins) == list(KAGGLE_MISSING)
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert all(f"{n}=={v}" in lines for n, v in pins.items())
    cmd = download_command(pins, tmp_path, python_version="3.10")
    assert cmd[:3] == ["download", "--no-deps", "--only-binary=:all:"] and cmd[-len(pins):] == [
        f"{n}=={v}" for n, v in pins.items()]
    assert cmd[cmd.index("--python-version") + 1] == "3.10" and "--platform" in cmd
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    with pytest.raises(ValueError, match=r"requirements.txt.*ultralytics"):
        pinned_versions(tmp_path / "requirements.txt")
    with pytest.raises(FileNotFoundError, match="no .whl files"):
        copy_wheels(tmp_path, tmp_path / "wheels")


def test_extra_wheels_are_copied_but_never_replace_the_built_one(tmp_path):
    extra, dest = tmp_path / "extra", tmp_path / "wheels"
    extra.mkdir()
    dest.mkdir()
    for name in ("lumbar-0.2.0-py3-none-any.whl", "ultralytics-8.4.190-py3-none-any.whl"):
        (extra / name).write_text("downloaded elsewhere")
    (dest / "lumbar-0.2.0-py3-none-any.whl").write_text("just built")
    assert [p.name for p in copy_wheels(extra, dest)] == ["ultralytics-8.4.190-py3-none-any.whl"]
    assert (dest / "lumbar-0.2.0-py3-none-any.whl").read_text() == "just built"
