"""Extra phantom series for a detector (lumbar.synthetic.views) and how yolo_data adds them."""
import hashlib
import json

import cv2
import numpy as np
import pytest
import yaml

from lumbar.detection.dataset import add_phantoms, build_yolo_dataset
from lumbar.detection.images import detector_image
from lumbar.dicom import read_series
from lumbar.synthetic.dicom_writer import write_slice
from lumbar.synthetic.views import phantom_series, render_phantom
from lumbar.vocabulary import GROUPS
from lumbar.windowing import window_uint8

from test_detection import fake  # noqa: F401  (the module's tiny extracted data set)


@pytest.fixture(scope="module")
def cfg():
    c = yaml.safe_load(open("params.yaml"))["synthetic"]
    return {**c, "image_scale": 0.5}


@pytest.fixture(scope="module")
def spinal(cfg):
    return list(phantom_series("spinal", 3, cfg, 0.5, 99.5, workers=1))


@pytest.mark.parametrize("group", ["spinal", "subarticular"])
def test_phantom_volume_is_what_extract_makes_of_the_series_as_dicom(cfg, group, tmp_path):
    """Same pixels and slice order as the reader gives, for one stack and for per-disc axial blocks."""
    index = next(i for i in range(8) if group == "spinal" or len(set(render_phantom(i, group, cfg)[0].blocks)) > 1)
    plan, pixels, _ = render_phantom(index, group, cfg)
    plan.reversed_numbers, plan.rle = True, [False] * len(pixels)      # the reader must not care
    for i, px in enumerate(pixels):
        write_slice(tmp_path / f"{plan.instance_number(i)}.dcm", px, plan, i, 1, 0, 1)
    series = read_series(tmp_path)
    got = list(phantom_series(group, index + 1, cfg, 0.5, 99.5, workers=1))[-1]
    assert got.index == index
    assert np.array_equal(got.volume, window_uint8(series.pixels(), 0.5, 99.5))
    assert got.stacks == list(series.stacks)
    assert len(set(got.stacks)) == (1 if group == "spinal" else len(set(plan.blocks)))


def test_phantom_points_sit_on_the_bright_canal(spinal):
    for s in spinal:
        assert {c for _, c, _, _ in s.points} == set(GROUPS["spinal"].classes)
        for i, _, x, y in s.points:
            img = s.volume[i].astype(float)
            r = max(2, int(round(2.0 / s.spacing)))            # 2 mm around the point: CSF, bright on T2
            patch = img[int(y) - r:int(y) + r + 1, int(x) - r:int(x) + r + 1]
            assert patch.mean() > np.percentile(img, 75), (s.index, i, x, y)


def test_phantoms_are_deterministic_whatever_the_workers(cfg, spinal):
    again = list(phantom_series("spinal", 3, cfg, 0.5, 99.5, workers=2))
    assert [s.index for s in again] == [0, 1, 2]
    for a, b in zip(spinal, again):
        assert np.array_equal(a.volume, b.volume) and a.points == b.points
    other = next(phantom_series("spinal", 1, {**cfg, "seed": cfg["seed"] + 1}, 0.5, 99.5, workers=1))
    assert other.points != spinal[0].points


def test_add_phantoms_goes_to_train_only_with_labels_and_negatives(fake, spinal, tmp_path):  # noqa: F811
    _, ext, coords, split = fake
    out = tmp_path / "spinal"
    build_yolo_dataset("spinal", ext, coords, split, out, box_mm=16.0, negative_share=1.0, seed=0)
    val_before = sorted(p.name for p in (out / "images" / "val").iterdir())
    got = add_phantoms(out, "spinal", spinal, 20.0, 1.0, 0)
    assert sorted(p.name for p in (out / "images" / "val").iterdir()) == val_before
    names = sorted(p.stem for p in (out / "images" / "train").glob("phantom_*.png"))
    assert got["series"] == 3 and got["images"] == len(names) and got["boxes"] == 15
    labelled = {(s.index, i) for s in spinal for i, _, _, _ in s.points}
    assert got["negatives"] == len(names) - len(labelled) > 0
    for s in spinal:
        for i in {i for i, _, _, _ in s.points}:
            stem = f"phantom_{s.index:05d}_{i:03d}"
            lines = [ln.split() for ln in (out / "labels" / "train" / f"{stem}.txt").read_text().splitlines()]
            want = sorted((GROUPS["spinal"].classes.index(c), x, y) for j, c, x, y in s.points if j == i)
            assert [int(ln[0]) for ln in lines] == [k for k, _, _ in want]
            h, w = s.volume.shape[1:]
            for ln, (_, x, y) in zip(lines, want):
                assert float(ln[1]) == pytest.approx(x / w, abs=1e-5) and float(ln[2]) == pytest.approx(y / h, abs=1e-5)
                assert float(ln[3]) == pytest.approx(20.0 / s.spacing / w, abs=1e-5)
            png = cv2.imread(str(out / "images" / "train" / f"{stem}.png"))
            assert np.array_equal(png, detector_image(s.volume, i))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["phantoms"] == got and summary["train"]["images"] == 6      # the studies' own count stays
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted((out / "labels" / "train").glob("phantom_*"))))
    again = tmp_path / "again"
    build_yolo_dataset("spinal", ext, coords, split, again, box_mm=16.0, negative_share=1.0, seed=0)
    add_phantoms(again, "spinal", spinal, 20.0, 1.0, 0)
    assert digest.hexdigest() == hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted((again / "labels" / "train").glob("phantom_*")))).hexdigest()


def test_phantoms_need_a_dataset_and_a_known_group(cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match="build_yolo_dataset first"):
        add_phantoms(tmp_path / "none", "spinal", [], 20.0, 0.5, 0)
    with pytest.raises(ValueError, match="unknown group"):
        list(phantom_series("spine", 1, cfg, 0.5, 99.5))
