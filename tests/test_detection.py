"""Detector inputs, YOLO datasets, a one-epoch training and whole-series prediction on tiny fake data."""
import hashlib
import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lumbar.detection import augment
from lumbar.detection.dataset import build_yolo_dataset
from lumbar.detection.images import detector_image, position_value
from lumbar.detection.predict import DETECTION_COLUMNS, best_per_class, detect_series, load_detector
from lumbar.detection.train import epochs_for, resolve_model, train_detector
from lumbar.extracted import ExtractedSeries
from lumbar.locate import LocateConfig, run_locate
from lumbar.located import read_located
from lumbar.paths import Paths
from lumbar.vocabulary import GROUPS, SAGITTAL_T2, SLICE_COLUMNS

N_SLICES, SIZE, SPACING = 6, 96, 0.8
LEVEL_Y = (14, 30, 46, 62, 78)          # pixel rows of the five levels on the labelled slice
LABELLED = 2                            # slice_index carrying the spinal labels
STUDIES = {1: "train", 2: "train", 3: "train", 4: "val", 5: "holdout"}


def _volume(study: int) -> np.ndarray:
    rng = np.random.default_rng(study)
    vol = rng.integers(0, 40, size=(N_SLICES, SIZE, SIZE), dtype=np.uint8)
    for k, y in enumerate(LEVEL_Y):
        vol[LABELLED, y - 4:y + 4, 44:52] = 200 + 10 * k  # bright squares at the label points
    return vol


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """data/extracted-like folder, label coordinates and split for a few one-series studies."""
    root = tmp_path_factory.mktemp("det")
    ext = root / "extracted"
    rows, coords = [], []
    for study in STUDIES:
        series = 100 + study
        (ext / "images" / str(study)).mkdir(parents=True)
        np.save(ext / "images" / str(study) / f"{series}.npy", _volume(study))
        for i in range(N_SLICES):
            rows.append({"study_id": study, "series_id": series, "series_description": SAGITTAL_T2,
                         "instance_number": i + 1, "slice_index": i, "stack": 0, "rows": SIZE, "columns": SIZE,
                         "ipp_x": -float(i), "ipp_y": 0.0, "ipp_z": 0.0, "row_x": 0.0, "row_y": 1.0, "row_z": 0.0,
                         "col_x": 0.0, "col_y": 0.0, "col_z": -1.0, "spacing_row": SPACING, "spacing_col": SPACING})
        for k, column in enumerate(GROUPS["spinal"].classes):
            condition, level = column.rsplit("_", 2)[0], "_".join(column.rsplit("_", 2)[1:])
            coords.append({"study_id": study, "series_id": series, "instance_number": LABELLED + 1,
                           "condition": condition, "level": level, "column": column, "x": 48.0, "y": float(LEVEL_Y[k])})
    pd.DataFrame(rows, columns=list(SLICE_COLUMNS)).to_parquet(ext / "slices.parquet", index=False)
    split = pd.DataFrame({"study_id": list(STUDIES), "split": list(STUDIES.values()),
                          "fold": [0 if s != "holdout" else -1 for s in STUDIES.values()]})
    return root, ext, pd.DataFrame(coords), split


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_detector_image_channels():
    vol = np.stack([np.full((4, 5), v, np.uint8) for v in (10, 20, 31, 40)])
    img = detector_image(vol, 1)
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    assert (img[..., 0] == 20).all() and (img[..., 1] == 21).all()      # round((10 + 31) / 2)
    assert (img[..., 2] == position_value(1, 4)).all() and position_value(1, 4) == 85
    assert (detector_image(vol, 0)[..., 1] == 15).all()                 # edge repeats itself: (10 + 20) / 2
    assert (detector_image(vol, 0)[..., 2] == 0).all() and (detector_image(vol, 3)[..., 2] == 255).all()
    assert position_value(0, 1) == 128
    with pytest.raises(IndexError):
        detector_image(vol, 4)
    with pytest.raises(ValueError):
        detector_image(vol.astype(np.float32), 0)


def test_yolo_dataset_boxes_negatives_splits_and_bytes(fake, tmp_path):
    _, ext, coords, split = fake
    out = tmp_path / "spinal"
    summary = build_yolo_dataset("spinal", ext, coords, split, out, box_mm=16.0, negative_share=1.0, seed=0)
    assert summary["train"]["boxes"] == 15 and summary["val"]["boxes"] == 5
    assert summary["skipped_points"] == {"holdout study": 5}
    train = sorted(p.name for p in (out / "images" / "train").glob("*.png"))
    val = sorted(p.name for p in (out / "images" / "val").glob("*.png"))
    assert not any(n.startswith("5_") for n in train + val)           # holdout never
    assert {n.split("_")[0] for n in val} == {"4"}
    # one positive per series + share 1.0 negatives, drawn only from slices not next to the labelled one
    assert summary["train"]["images"] == 6 and summary["train"]["negatives"] == 3
    for name in train:
        idx = int(name[:-4].split("_")[2])
        lines = (out / "labels" / "train" / name.replace(".png", ".txt")).read_text().splitlines()
        if idx == LABELLED:
            parsed = [list(map(float, ln.split())) for ln in lines]
            assert [int(p[0]) for p in parsed] == [0, 1, 2, 3, 4]
            for (c, cx, cy, w, h), y in zip(parsed, LEVEL_Y):
                assert cx == pytest.approx(48 / SIZE) and cy == pytest.approx(y / SIZE, abs=1e-4)
                assert w == pytest.approx(16.0 / SPACING / SIZE, abs=1e-5)   # 16 mm through PixelSpacing
        else:
            assert abs(idx - LABELLED) > 1 and lines == []
    png = detector_image(np.load(ext / "images" / "1" / "101.npy"), LABELLED)
    import cv2
    assert np.array_equal(cv2.imread(str(out / "images" / "train" / "1_101_002.png")), png)
    spec = yaml.safe_load((out / "dataset.yaml").read_text())
    assert "path" not in spec and spec["train"] == "images/train" and spec["nc"] == 5
    assert spec["names"][4] == GROUPS["spinal"].classes[4]
    again = tmp_path / "again"
    build_yolo_dataset("spinal", ext, coords, split, again, box_mm=16.0, negative_share=1.0, seed=0)
    assert _hashes(out) == _hashes(again)


def test_yolo_dataset_reports_bad_points(fake, tmp_path):
    _, ext, coords, split = fake
    bad = coords.copy()
    bad.index = bad.index + 2               # as lumbar.kaggle reads it: the index is the CSV line
    bad.loc[2, "instance_number"] = 99      # not extracted
    bad.loc[3, "x"] = 500.0                 # outside the image
    summary = build_yolo_dataset("spinal", ext, bad, split, tmp_path / "s", 16.0, 0.0, 0)
    assert summary["skipped_points"]["instance not extracted on a Sagittal T2/STIR series"] == 1
    assert summary["skipped_points"]["point outside the image"] == 1
    assert summary["skipped_rows"] == ["row 2: instance not extracted on a Sagittal T2/STIR series",
                                       "row 3: point outside the image"]
    rows = pd.read_csv(tmp_path / "s" / "skipped_points.csv")
    assert list(rows["csv_row"]) == [2, 3] and rows.loc[1, "x"] == 500.0
    with pytest.raises(ValueError, match="no labelled"):
        build_yolo_dataset("foraminal", ext, coords, split, tmp_path / "f", 16.0, 0.5, 0)


def test_best_per_class_keeps_most_confident():
    d = pd.DataFrame({"slice_index": [0, 1, 2, 3], "class_index": [1, 1, 0, 0],
                      "column": ["b", "b", "a", "a"], "confidence": [0.2, 0.9, 0.5, 0.5],
                      "x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0})
    best = best_per_class(d)
    assert best["column"].tolist() == ["a", "b"]
    assert best["slice_index"].tolist() == [2, 1]                     # tie -> lower slice
    assert best_per_class(d.head(0)).empty


def test_missing_weights_are_an_error_never_a_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        resolve_model("weights/yolov8n.pt", tmp_path)
    assert resolve_model("yolov8n.yaml", tmp_path) == "yolov8n.yaml"
    with pytest.raises(ValueError):
        resolve_model("yolov8n", tmp_path)
    with pytest.raises(FileNotFoundError):
        load_detector(tmp_path / "missing.pt")


def test_epochs_one_number_or_one_per_group():
    assert epochs_for("spinal", 3) == 3
    assert epochs_for("spinal", {"spinal": 5, "foraminal": 2}) == 5
    with pytest.raises(KeyError, match="subarticular"):
        epochs_for("subarticular", {"spinal": 5})


def test_one_epoch_training_then_series_prediction(fake, tmp_path, monkeypatch):
    root, ext, coords, split = fake
    data = tmp_path / "yolo" / "spinal"
    build_yolo_dataset("spinal", ext, coords, split, data, 16.0, 0.5, 0)
    before = _hashes(data)
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    cfg = {"model": "yolov8n.yaml", "epochs": {"foraminal": 9, "spinal": 1, "subarticular": 9}, "imgsz": 64,
           "batch": 4, "nbs": 4, "warmup_epochs": 0, "device": "cpu", "workers": 0, "seed": 0, "patience": 1,
           "optimizer": "AdamW", "lr0": 2e-3,
           "scale": 0.2, "degrees": 5.0, "mosaic": 0.0, "close_mosaic": 0, "conf": 0.001, "predict_batch": 4,
           "intensity_aug": 1.0}
    jittered = []
    real_jitter = augment.jitter
    monkeypatch.setattr(augment, "jitter", lambda img, rng: jittered.append(img.shape) or real_jitter(img, rng))
    paths = Paths(tmp_path)
    metrics = train_detector("spinal", data, cfg, paths.detector_dir("spinal"), paths.detect_metrics("spinal"),
                             paths.detect_live("spinal"), paths.detect_runs, root=tmp_path)
    assert attempts == []                                             # no font/weights download tried
    assert len(jittered) == len(list((data / "images" / "train").glob("*.png")))  # each training image, no val
    assert _hashes(data) == before                                    # the DVC output is left untouched
    assert (tmp_path / "models" / "detect" / "spinal" / "best.pt").is_file()
    written = json.loads((tmp_path / "metrics" / "detect" / "spinal.json").read_text())
    assert written == metrics and metrics["epochs"] == 1
    assert {"mAP50", "mAP50-95"} <= set(metrics)
    live = tmp_path / "dvclive" / "detect" / "spinal"
    assert (live / "plots" / "metrics" / "mAP50.tsv").is_file()
    assert (live / "plots" / "metrics" / "train" / "box_loss.tsv").is_file()

    model = load_detector(tmp_path / "models" / "detect" / "spinal" / "best.pt")
    det = detect_series(model, _volume(4), "spinal", imgsz=64, conf=0.0001, batch=4)
    assert list(det.columns) == list(DETECTION_COLUMNS)
    assert det["slice_index"].between(0, N_SLICES - 1).all()
    assert det["column"].isin(GROUPS["spinal"].classes).all()
    best = best_per_class(det)
    assert best["column"].is_unique
    with pytest.raises(ValueError, match="classes"):
        detect_series(model, _volume(4), "foraminal", 64, 0.01, 4)

    # The locate stage on the same model: boxes chosen per study, written and scored on the val points.
    val = sorted(s for s, p in STUDIES.items() if p == "val")
    figures = run_locate({"spinal": model}, ExtractedSeries(ext), val, coords, LocateConfig(64, 0.0001, 4),
                         paths.located, paths.locate_metrics, progress=False)
    boxes, studies = read_located(paths.located, "spinal")
    assert studies == val and set(boxes["study_id"]) <= set(val)
    assert boxes.groupby("study_id")["column"].apply(lambda c: c.is_unique).all()
    assert (boxes["instance_number"] == boxes["slice_index"] + 1).all()  # the fixture's numbering
    assert figures["groups"]["spinal"]["points"] == 5 * len(val)
    assert json.loads(paths.locate_metrics.read_text()) == figures
