"""The grader: learns a toy signal, round-trips through model.pt, calibrates, and never sees holdout rows."""
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

from lumbar.classification.checkpoint import load_classifier, save_checkpoint
from lumbar.classification.model import build_model
from lumbar.classification.train import TrainConfig, train_classifier
from lumbar.classification.calibration import fit_temperature, softmax
from lumbar.metric import weighted_log_loss
from lumbar.classification.data import CropDataset, load_crop_set, rows_for
from lumbar.metric import _weighted_log_loss
from lumbar.vocabulary import CROP_COLUMNS, GRADE_WEIGHTS, SPLIT

TOY = TrainConfig(width=0.125, epochs=6, batch_size=16, lr=3e-3, seed=0)


def make_toy_crops(out: Path, n_studies: int = 30, size: int = 32, seed: int = 0,
                   holdout_every: int = 6) -> Path:
    """A crop set whose grade is the size of a bright blob: easy to learn, impossible by chance.

    Every 5th study validates, every `holdout_every`-th is held out, the rest train; some cells blank.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    rows, imgs = [], []
    for s in range(n_studies):
        split = "holdout" if s % holdout_every == 1 else ("val" if s % 5 == 0 else "train")
        for k in range(10):
            g = int(rng.choice(3, p=[0.55, 0.3, 0.15]))
            r = size * (0.1 + 0.11 * g) + rng.normal(0, size * 0.015)
            cx, cy = size / 2 + rng.normal(0, size * 0.05, 2)
            blob = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r) * 100.0
            imgs.append(np.clip(rng.normal(70, 18, (3, size, size)) + blob, 0, 255).astype(np.uint8))
            grade = -1 if k == 9 and s % 3 == 0 else g
            rows.append({"study_id": 1000 + s, "series_id": 7, "row_id": f"{1000 + s}_c{k}", "column": f"c{k}",
                         SPLIT: split, "slice_index": 3, "x1": 1.0, "y1": 1.0, "x2": 9.0, "y2": 9.0,
                         "confidence": 1.0, "source": "label" if split == "train" else "detector",
                         "grade": grade})
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "images.npy", np.stack(imgs))
    pd.DataFrame(rows, columns=list(CROP_COLUMNS)).to_csv(out / "crops.csv", index=False)
    return out


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread, and do not fight other test processes for cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(tmp: Path, crops: Path, cfg: TrainConfig = TOY) -> tuple[dict, Path]:
    metrics = train_classifier("spinal", crops, tmp / "model.pt", tmp / "metrics.json", tmp / "live", cfg)
    return metrics, tmp / "model.pt"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clf")
    crops = make_toy_crops(tmp / "crops")
    cwd = os.getcwd()
    os.chdir(tmp / "crops")  # dvclive writes a dvc.yaml into the working directory unless told not to
    try:
        metrics, model = run(tmp, crops)
    finally:
        os.chdir(cwd)
    return tmp, crops, metrics, model


def test_learns_toy_signal(trained):
    tmp, crops, metrics, _ = trained
    table = pd.read_csv(crops / "crops.csv")
    val = table[(table[SPLIT] == "val") & (table["grade"] >= 0)]
    chance = val["grade"].value_counts(normalize=True).max()
    assert metrics["val_accuracy"] > chance + 0.15, metrics
    assert metrics["n_val"] == len(val)
    assert metrics["n_train"] == int(((table[SPLIT] == "train") & (table["grade"] >= 0)).sum())
    assert metrics["epochs_run"] == TOY.epochs and 1 <= metrics["best_epoch"] <= TOY.epochs
    assert metrics["val_weighted_log_loss_calibrated"] <= metrics["val_weighted_log_loss"] + 1e-9
    assert json.loads((tmp / "metrics.json").read_text()) == metrics


def test_dvclive_curves(trained):
    tmp = trained[0]
    for name in ("train_loss", "val_weighted_log_loss", "val_accuracy"):
        tsv = pd.read_csv(tmp / "live" / "plots" / "metrics" / f"{name}.tsv", sep="\t")
        assert list(tsv["step"]) == list(range(TOY.epochs))
    assert "val_weighted_log_loss" in json.loads((tmp / "live" / "metrics.json").read_text())


def test_bundle_round_trip(trained, tmp_path):
    _, crops, _, model_path = trained
    images = np.load(crops / "images.npy")[:50]
    clf = load_classifier(model_path)
    p = clf.predict_proba(images)
    assert p.shape == (50, 3) and p.dtype == np.float64 and clf.size == 32
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    # save what was loaded again, load it again: identical probabilities
    again = save_checkpoint(tmp_path / "again.pt", clf.model, arch=clf.arch, width=clf.width, size=clf.size,
                        temperature=clf.temperature, group=clf.group,
                        extra={"prior": clf.prior.tolist(), "prior_mix": clf.prior_mix})
    np.testing.assert_array_equal(load_classifier(again).predict_proba(images), p)
    # temperature, then the fitted share of the grade prior: p == a·softmax(logits / T) + (1 − a)·prior
    assert 0.0 <= clf.prior_mix <= 0.95
    expected = clf.prior_mix * softmax(clf.logits(images), clf.temperature) + (1 - clf.prior_mix) * clf.prior
    np.testing.assert_allclose(p, expected)
    # with each crop's train.csv column, each cell's own training prior is mixed in instead
    import pandas as pd
    columns = pd.read_csv(crops / "crops.csv")["column"].astype(str).tolist()[:50]
    assert clf.column_prior and set(columns) <= set(clf.column_prior)
    per_cell = np.stack([clf.column_prior[c] for c in columns])
    np.testing.assert_allclose(clf.predict_proba(images, columns), clf.prior_mix * softmax(
        clf.logits(images), clf.temperature) + (1 - clf.prior_mix) * per_cell)
    assert clf.predict_proba(images[:0]).shape == (0, 3)


def test_predict_rejects_wrong_input(trained):
    clf = load_classifier(trained[3])
    with pytest.raises(ValueError, match="uint8"):
        clf.predict_proba(np.zeros((2, 3, 32, 32), dtype=np.float32))
    with pytest.raises(ValueError, match="32"):
        clf.predict_proba(np.zeros((2, 3, 64, 64), dtype=np.uint8))
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_classifier(trained[0] / "nothing.pt")


def test_holdout_never_used(tmp_path):
    """Scrambling every holdout crop (pixels and grades) changes nothing about the trained model."""
    cfg = replace(TOY, epochs=1)
    a = make_toy_crops(tmp_path / "a" / "crops")
    b = make_toy_crops(tmp_path / "b" / "crops")
    table = pd.read_csv(b / "crops.csv")
    images = np.load(b / "images.npy")
    held = (table[SPLIT] == "holdout").to_numpy()
    assert held.any()
    images[held] = np.random.default_rng(1).integers(0, 256, images[held].shape, dtype=np.uint8)
    table.loc[held, "grade"] = 2 - table.loc[held, "grade"].clip(lower=0)
    np.save(b / "images.npy", images)
    table.to_csv(b / "crops.csv", index=False)

    crops = load_crop_set(b)
    with pytest.raises(ValueError, match="holdout"):
        rows_for(crops, "holdout")
    for split in ("train", "val"):
        idx = rows_for(crops, split)
        assert not held[idx].any() and (table["grade"].to_numpy()[idx] >= 0).all()
        assert len(CropDataset(crops, idx)) == len(idx)

    ma, pa = run(tmp_path / "a", a, cfg)
    mb, pb = run(tmp_path / "b", b, cfg)
    assert ma == mb
    sa, sb = torch.load(pa, weights_only=True), torch.load(pb, weights_only=True)
    assert sa["temperature"] == sb["temperature"]
    for k in sa["state_dict"]:
        assert torch.equal(sa["state_dict"][k], sb["state_dict"][k]), k


def test_temperature_fixes_overconfidence():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 1.5, (2000, 3))
    grades = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    overconfident = true_logits * 4.0
    t = fit_temperature(overconfident, grades)
    assert 3.0 < t < 5.5
    before = weighted_log_loss(softmax(overconfident), grades)
    after = weighted_log_loss(softmax(overconfident, t), grades)
    assert after < before - 0.1
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_weighted_log_loss_matches_metric():
    rng = np.random.default_rng(1)
    p = softmax(rng.normal(size=(50, 3)))
    g = rng.integers(0, 3, 50)
    expected = _weighted_log_loss(p[np.arange(50), g], np.asarray(GRADE_WEIGHTS)[g])
    assert weighted_log_loss(p, g) == pytest.approx(expected, rel=1e-12)


def test_model_shapes_and_width():
    for size in (32, 64):
        out = build_model("vgg19_bn", 0.125)(torch.zeros(2, 3, size, size))
        assert out.shape == (2, 3)
    convs = [m for m in build_model("vgg19_bn", 0.25).features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 16 and convs[0].out_channels == 16 and convs[-1].out_channels == 128
    with pytest.raises(ValueError, match="arch"):
        build_model("resnet50", 1.0)


def test_pretrained_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_vgg.pth"):
        build_model("vgg11_bn", 1.0, weights=tmp_path / "missing_vgg.pth")
    cfg = TrainConfig.from_params({"weights": "missing_vgg.pth", "width": 1.0}, root=tmp_path)
    assert cfg.weights == str(tmp_path / "missing_vgg.pth")
    # a torchvision-style state dict (features.* + an ImageNet classifier that is ignored)
    donor = build_model("vgg11_bn", 1.0)
    state = {k: v for k, v in donor.state_dict().items() if k.startswith("features.")}
    state["classifier.6.weight"] = torch.zeros(1000, 4096)
    path = tmp_path / "vgg11_bn.pth"
    torch.save(state, path)
    model = build_model("vgg11_bn", 1.0, weights=path)
    for k, v in model.features.state_dict().items():
        assert torch.equal(v, state[f"features.{k}"]), k
    with pytest.raises(ValueError, match="width 1.0"):
        build_model("vgg11_bn", 0.5, weights=path)


def test_params_section_is_valid():
    from lumbar import params as P

    from lumbar.vocabulary import GROUP_NAMES

    for g in GROUP_NAMES:
        cfg = TrainConfig.from_params(P.load(ROOT / "params.yaml").classifier, root=ROOT, group=g)
        assert cfg.arch == "vgg19_bn" and cfg.weights is None and cfg.epochs > 0
    with pytest.raises(KeyError, match="classifier.lrate"):
        TrainConfig.from_params({"lrate": 1.0})


def test_a_scalar_given_per_group_takes_the_groups_value():
    section = {"epochs": {"foraminal": 20, "spinal": 14, "subarticular": 8}, "lr": 1.0e-3}
    assert TrainConfig.from_params(section, group="spinal").epochs == 14
    assert TrainConfig.from_params(section, group="subarticular").epochs == 8
    assert TrainConfig.from_params(section, group="foraminal").lr == 1.0e-3
    with pytest.raises(KeyError, match="classifier.epochs is given per group, without 'spinal'"):
        TrainConfig.from_params({"epochs": {"foraminal": 20}}, group="spinal")
    with pytest.raises(KeyError, match="without None"):
        TrainConfig.from_params(section)


def test_without_validation_rows(tmp_path):
    """A tiny preset can end with no detector crops for validation: train anyway, T = 1, metrics null."""
    crops = make_toy_crops(tmp_path / "crops", n_studies=8)
    table = pd.read_csv(crops / "crops.csv")
    table.loc[table[SPLIT] == "val", "grade"] = -1
    table.to_csv(crops / "crops.csv", index=False)
    metrics, model = run(tmp_path, crops, replace(TOY, epochs=1))
    assert metrics["n_val"] == 0 and metrics["temperature"] == 1.0
    assert metrics["val_weighted_log_loss"] is None and metrics["val_accuracy"] is None
    assert load_classifier(model).predict_proba(np.load(crops / "images.npy")[:2]).shape == (2, 3)
    table.loc[table[SPLIT] == "train", "grade"] = -1
    table.to_csv(crops / "crops.csv", index=False)
    with pytest.raises(ValueError, match="no graded train crops"):
        run(tmp_path, crops)


def test_prior_mix_bounds_confidently_wrong_predictions():
    from lumbar.classification.calibration import fit_prior_mix, grade_prior

    rng = np.random.default_rng(0)
    grades = rng.choice(3, size=300, p=[0.7, 0.2, 0.1])
    probs = np.eye(3)[grades] * 0.98 + 0.01            # mostly right, very sure ...
    wrong = rng.random(300) < 0.15                     # ... and sometimes very sure and wrong
    probs[wrong] = np.eye(3)[(grades[wrong] + 1) % 3] * 0.999 + 0.0005
    prior = grade_prior(grades)
    np.testing.assert_allclose(prior.sum(), 1.0)
    assert prior[2] > np.mean(grades == 2)             # severe counts four times in the score
    a = fit_prior_mix(probs, grades, prior)
    assert 0.0 < a < 1.0
    assert weighted_log_loss(a * probs + (1 - a) * prior, grades) < weighted_log_loss(probs, grades)


def test_the_saved_model_is_the_best_epochs_not_the_last(trained):
    """The checkpoint scores on validation what the best epoch scored: the curve's minimum, which on
    this toy run is not its last epoch (so saving the last one would fail here)."""
    from lumbar.classification.calibration import softmax
    from lumbar.classification.data import CropDataset, load_crop_set, rows_for

    tmp, crops, metrics, model_path = trained
    curve = pd.read_csv(tmp / "live" / "plots" / "metrics" / "val_weighted_log_loss.tsv", sep="\t")
    assert curve["val_weighted_log_loss"].idxmin() != len(curve) - 1 and metrics["best_epoch"] < TOY.epochs
    clf = load_classifier(model_path)
    crop_set = load_crop_set(crops)
    val = CropDataset(crop_set, rows_for(crop_set, "val"))
    loss = weighted_log_loss(softmax(clf.logits(val.images.numpy())), val.grades.numpy())
    assert loss == pytest.approx(curve["val_weighted_log_loss"].min(), abs=1e-5)
    assert loss == pytest.approx(metrics["val_weighted_log_loss"], abs=1e-5)


def test_params_section_is_read_key_by_key(tmp_path):
    """Every key of params.yaml's classifier section lands, with its type, in the config."""
    from lumbar import params as P
    from lumbar.classification.data import Augment

    section = P.load(ROOT / "params.yaml").classifier
    for group in ("foraminal", "spinal", "subarticular"):
        cfg = TrainConfig.from_params(section, root=tmp_path, group=group)
        for key, value in section.items():
            got = getattr(cfg, key)
            if key == "augment":
                assert isinstance(got, Augment) and got == Augment.from_params(value)
            elif key == "weights":
                assert got is None
            else:
                want = value[group] if isinstance(value, dict) else value  # per group, or one for all
                assert got == want and type(got) is type(getattr(TrainConfig(), key)), key
    cfg = TrainConfig.from_params({"arch": "vgg11_bn", "device": "cuda:1", "epochs": "3", "lr": "0.5"})
    assert (cfg.arch, cfg.device, cfg.epochs, cfg.lr) == ("vgg11_bn", "cuda:1", 3, 0.5)
    assert TrainConfig.from_params({"augment": {"shift": 0.2}}).augment.shift == 0.2
    for blank in (None, "", "null"):
        assert TrainConfig.from_params({"weights": blank}, root=tmp_path).weights is None
    absolute = tmp_path / "w.pth"
    assert TrainConfig.from_params({"weights": str(absolute)}, root=ROOT).weights == str(absolute)
    assert TrainConfig.from_params({"weights": "w.pth"}).weights == "w.pth"  # no root: left as given


def test_fitted_temperature_is_the_optimum_to_a_thousandth():
    """Against a brute-force search over log T: the bounded refinement must land on the optimum,
    not merely on the coarse grid's best point (0.1 apart in log T)."""
    rng = np.random.default_rng(3)
    grades = rng.choice(3, size=300, p=[0.6, 0.3, 0.1])
    logits = rng.normal(0, 1, (300, 3)) + 2.5 * np.eye(3)[grades] * (rng.random((300, 1)) < 0.6)
    fine = np.linspace(-3, 3, 60001)
    coarse_best = fine[np.argmin([weighted_log_loss(softmax(logits, np.exp(v)), grades) for v in fine[::100]]) * 100]
    window = fine[(fine > coarse_best - 0.2) & (fine < coarse_best + 0.2)]
    want = window[np.argmin([weighted_log_loss(softmax(logits, np.exp(v)), grades) for v in window])]
    got = np.log(fit_temperature(logits, grades))
    assert abs(got - want) < 1e-3, (got, want)
    assert abs(got - round(got * 10) / 10) > 1e-3  # not a grid point: the refinement ran


def test_prior_mix_is_the_best_share_on_a_grid_of_0_02():
    from lumbar.classification.calibration import fit_prior_mix
    rng = np.random.default_rng(5)
    grades = rng.choice(3, size=400, p=[0.6, 0.3, 0.1])
    probs = np.full((400, 3), 0.05)
    right = rng.random(400) < 0.7
    probs[np.arange(400), np.where(right, grades, (grades + 1) % 3)] = 0.9
    prior = np.tile([0.6, 0.3, 0.1], (400, 1))
    grid = np.linspace(0, 1, 1001)
    want = grid[np.argmin([weighted_log_loss(a * probs + (1 - a) * prior, grades) for a in grid])]
    got = fit_prior_mix(probs, grades, prior, cap=1.0)
    assert 0.05 < want < 0.95 and abs(got - want) <= 0.01 + 1e-9
    assert abs(got * 50 - round(got * 50)) < 1e-9  # a multiple of 0.02
    assert fit_prior_mix(probs, grades, prior, cap=0.5) == pytest.approx(min(0.5, round(want / 0.01) * 0.01), abs=0.0101)


def toy_epoch(tmp_path: Path, lr: float = 0.0, batch_size: int | None = None, seed: int = 0, **change):
    """One `_epoch` of a linear net (seeded init) over toy training crops, augmentation off, plain SGD at
    a constant lr; returns (loss, net, dataset, config, weights before the epoch)."""
    from torch.utils.data import DataLoader

    from lumbar.classification import distributed as D
    from lumbar.classification import train as T
    from lumbar.classification.data import Augment

    crops = load_crop_set(make_toy_crops(tmp_path / "crops", n_studies=6))
    ds = CropDataset(crops, rows_for(crops, "train"))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))
    before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
    cfg = replace(TOY, augment=Augment(0.0, 0.0, 0.0, 0.0, 0.0), **change)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    loader = DataLoader(ds, batch_size=batch_size or len(ds), shuffle=False)
    loss = T._epoch(net, loader, opt, sched, cfg, D.Context(0, 1, torch.device("cpu")),
                    torch.Generator().manual_seed(seed))
    return loss, net, ds, cfg, before


def test_epoch_loss_is_the_grade_weighted_mean_over_every_crop(tmp_path):
    """_epoch's returned loss, with a frozen model (lr 0) and no augmentation: exactly the weighted
    cross-entropy of the whole training set, however it is cut into batches."""
    from lumbar.classification.data import augment_batch
    from lumbar.classification.model import normalize

    got, net, ds, cfg, _ = toy_epoch(tmp_path, batch_size=7)
    x = normalize(augment_batch(ds.images.float() / 255.0, cfg.augment, torch.Generator().manual_seed(0)))
    w = torch.tensor(GRADE_WEIGHTS, dtype=torch.float32)
    want = float(torch.nn.functional.cross_entropy(net(x), ds.grades, weight=w))
    assert len(ds) % 7 and got == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize("change", [{"weight_decay": 0.5}, {"dropout": 0.9}, {"batch_size": 8}, {"seed": 1},
                                    {"lr": 1e-2}, {"mixup": 0.4}, {"grad_clip": 0.01},
                                    {"average_last": 0.5}])
def test_each_training_setting_reaches_the_model(tmp_path, change):
    crops = make_toy_crops(tmp_path / "crops", n_studies=8)
    base = replace(TOY, epochs=1)
    _, a = run(tmp_path / "a", crops, base)
    _, b = run(tmp_path / "b", crops, replace(base, **change))
    wa, wb = (torch.load(p, map_location="cpu", weights_only=False)["state_dict"] for p in (a, b))
    assert any(not torch.equal(wa[k], wb[k]) for k in wa if wa[k].is_floating_point())


def test_saved_files_carry_the_group_the_live_folder_and_six_decimals(trained):
    tmp, _, metrics, model = trained
    assert load_classifier(model).group == "spinal"
    for name in ("train_loss", "val_weighted_log_loss", "val_accuracy"):
        assert (tmp / "live" / "plots" / "metrics" / f"{name}.tsv").is_file(), name
    floats = {k: v for k, v in metrics.items() if isinstance(v, float)}
    assert floats and all(round(v, 6) == v for v in floats.values())
    assert any(v != round(v) for v in floats.values())  # not rounded to integers
    assert (tmp / "metrics.json").read_text() == json.dumps(metrics, indent=2, sort_keys=True) + "\n"  # stable diffs
    summary = json.loads((tmp / "live" / "metrics.json").read_text())  # dvclive's summary
    assert summary["temperature"] == metrics["temperature"] and summary["best_epoch"] == metrics["best_epoch"]
    assert set(metrics) == {"n_train", "n_val", "epochs_run", "best_epoch", "final_train_loss",
                            "val_weighted_log_loss", "val_weighted_log_loss_calibrated", "val_accuracy",
                            "temperature", "prior_mix", "val_weighted_log_loss_final"}
    curve = pd.read_csv(tmp / "live" / "plots" / "metrics" / "val_weighted_log_loss.tsv", sep="\t")
    assert metrics["best_epoch"] == int(curve["val_weighted_log_loss"].to_numpy().argmin()) + 1
    assert round(metrics["final_train_loss"], 5) == metrics["final_train_loss"]
    assert not list(tmp.rglob("dvc.yaml")) and not (tmp / "live" / "report.html").exists()
    losses = pd.read_csv(tmp / "live" / "plots" / "metrics" / "train_loss.tsv", sep="\t")["train_loss"]
    assert len(losses) == metrics["epochs_run"] and metrics["final_train_loss"] == round(losses.iloc[-1], 5)
    extra = torch.load(model, map_location="cpu", weights_only=True)["extra"]
    assert extra["best_epoch"] == metrics["best_epoch"] and extra["n_train"] == metrics["n_train"]
    assert extra["prior_mix"] == pytest.approx(metrics["prior_mix"], abs=1e-6) and "crop" in extra
    assert set(extra["column_prior"]) == {f"c{k}" for k in range(10)} and len(extra["prior"]) == 3


def test_training_order_is_a_seeded_shuffle(tmp_path):
    """The loader draws the training crops in a seeded random order (the same for the same seed),
    not in file order."""
    from lumbar.classification import distributed as D
    from lumbar.classification import train as T

    crops = load_crop_set(make_toy_crops(tmp_path / "crops", n_studies=8))

    class Recording(CropDataset):
        def __init__(self, *a):
            super().__init__(*a)
            self.seen: list[int] = []

        def __getitem__(self, i):
            self.seen.append(int(i))
            return super().__getitem__(i)

    orders = []
    for _ in range(2):
        ds = Recording(crops, rows_for(crops, "train"))
        val = CropDataset(crops, rows_for(crops, "val"))
        T.seed_everything(0)
        T._fit(build_model("vgg11_bn", 0.125), ds, val, replace(TOY, epochs=1, batch_size=8),
               D.Context(0, 1, torch.device("cpu")), None, "spinal")
        orders.append(ds.seen)
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(len(orders[0])))
    assert orders[0] != sorted(orders[0])


def test_default_prior_mix_cap_is_one():
    from lumbar.classification.calibration import fit_prior_mix
    rng = np.random.default_rng(1)
    grades = rng.choice(3, size=200)
    probs = np.eye(3)[grades] * 0.9 + 0.05  # a very good model: the best share is the largest allowed
    prior = np.tile([0.6, 0.3, 0.1], (200, 1))
    assert fit_prior_mix(probs, grades, prior) == 1.0


class _ScriptedValidation:
    """Stands in for the validation loss _fit computes after each epoch, and snapshots the weights
    the model has at that moment, so keep-best and patience can be checked against a known curve."""

    def __init__(self, losses, model):
        from lumbar.metric import weighted_log_loss as real
        self.losses, self.model, self.real, self.snapshots = list(losses), model, real, []

    def __call__(self, probs, grades):
        if not self.losses:
            return self.real(probs, grades)
        self.snapshots.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return self.losses.pop(0)


@pytest.mark.parametrize("losses, patience, epochs_run, best_epoch", [
    ([0.5, 0.6, 0.7, 0.4, 0.3, 0.2], 2, 3, 0),   # two epochs without a better loss: stop after the third
    ([0.5, 0.6, 0.4, 0.3], 1, 2, 0),             # patience 1: stop after the first worse epoch
    ([0.5, 0.6, 0.4, 0.3], 0, 4, 3),             # patience 0: run every epoch, keep the best
    ([0.5, 0.5, 0.5], 0, 3, 0),                  # ties do not replace the best
])
def test_keep_best_and_patience_follow_the_validation_curve(tmp_path, monkeypatch, losses, patience, epochs_run,
                                                            best_epoch):
    from lumbar.classification import distributed as D
    from lumbar.classification import train as T

    crops = load_crop_set(make_toy_crops(tmp_path / "crops", n_studies=8))
    train_ds, val_ds = CropDataset(crops, rows_for(crops, "train")), CropDataset(crops, rows_for(crops, "val"))
    T.seed_everything(0)
    model = build_model("vgg11_bn", 0.125)
    script = _ScriptedValidation(losses, model)
    monkeypatch.setattr(T, "weighted_log_loss", script)
    cfg = replace(TOY, epochs=len(losses), batch_size=8, patience=patience)
    best, ran, _ = T._fit(model, train_ds, val_ds, cfg, D.Context(0, 1, torch.device("cpu")), None, "spinal")
    assert (ran, best.epoch, best.loss) == (epochs_run, best_epoch, losses[best_epoch])
    kept = script.snapshots[best_epoch]
    assert all(torch.equal(best.state[k], kept[k]) for k in kept)  # the weights of that epoch, not later ones
    if best_epoch < ran - 1:
        assert any(not torch.equal(model.state_dict()[k], kept[k]) for k in kept if kept[k].is_floating_point())


def test_calibration_softens_overconfidence_and_mixes_in_each_columns_prior(tmp_path):
    from lumbar.classification import train as T
    from lumbar.classification.calibration import grade_prior

    crops = load_crop_set(make_toy_crops(tmp_path / "crops", n_studies=30))
    train_ds, val_ds = CropDataset(crops, rows_for(crops, "train")), CropDataset(crops, rows_for(crops, "val"))
    g = val_ds.grades.numpy()
    rng = np.random.default_rng(0)
    said = np.where(rng.random(len(g)) < 0.35, (g + 1) % 3, g)   # a third confidently wrong
    logits = 8.0 * np.eye(3)[said]
    out = T._calibrate(T._Best(loss=0.0, epoch=0, logits=logits), crops, train_ds, val_ds, cap=1.0)
    assert out["temperature"] > 2.0 and out["temperature"] == pytest.approx(fit_temperature(logits, g))
    cols = crops.table["column"].astype(str).to_numpy()
    tg = train_ds.grades.numpy()
    for c, p in out["column_prior"].items():
        np.testing.assert_allclose(p, grade_prior(tg[cols[train_ds.indices] == c]))
    assert len({tuple(np.round(p, 6)) for p in out["column_prior"].values()}) > 1
    val_prior = np.stack([out["column_prior"][c] for c in cols[val_ds.indices]])
    cal = softmax(logits, out["temperature"])
    assert 0.0 <= out["mix"] <= 1.0
    assert out["final_loss"] == pytest.approx(weighted_log_loss(out["mix"] * cal + (1 - out["mix"]) * val_prior, g))
    assert out["final_loss"] <= out["calibrated_loss"] < weighted_log_loss(softmax(logits), g)
    # a model that guesses: the mix is fitted against each cell's own prior, inside (0, cap)
    from lumbar.classification.calibration import fit_prior_mix
    logits = 8.0 * np.eye(3)[rng.integers(0, 3, len(g))]
    for cap in (1.0, 0.9):
        out = T._calibrate(T._Best(loss=0.0, epoch=0, logits=logits), crops, train_ds, val_ds, cap=cap)
        cal = softmax(logits, out["temperature"])
        assert 0.0 < out["mix"] < cap and out["mix"] == pytest.approx(fit_prior_mix(cal, g, val_prior, cap))
        assert out["mix"] != pytest.approx(fit_prior_mix(cal, g, np.tile(out["prior"], (len(g), 1)), cap), abs=1e-4)
        assert out["final_loss"] == pytest.approx(weighted_log_loss(out["mix"] * cal + (1 - out["mix"]) * val_prior, g))
    # a validation cell no training crop has (a level only one study shows): the group's prior covers it
    crops.table.loc[val_ds.indices[0], "column"] = "never_trained"
    out = T._calibrate(T._Best(loss=0.0, epoch=0, logits=logits), crops, train_ds, val_ds, cap=1.0)
    val_prior[0] = out["prior"]
    assert "never_trained" not in out["column_prior"]
    assert out["mix"] == pytest.approx(fit_prior_mix(softmax(logits, out["temperature"]), g, val_prior, 1.0))


def test_training_loads_the_configured_weights_file(tmp_path):
    crops = make_toy_crops(tmp_path / "crops", n_studies=6)
    cfg = replace(TOY, width=1.0, weights=str(tmp_path / "missing_vgg.pth"), epochs=1)
    with pytest.raises(FileNotFoundError, match="missing_vgg.pth"):
        run(tmp_path, crops, cfg)


def test_the_metrics_file_may_go_to_a_folder_that_does_not_exist_yet(tmp_path):
    crops = make_toy_crops(tmp_path / "crops", n_studies=6)
    train_classifier("spinal", crops, tmp_path / "m" / "model.pt", tmp_path / "deep" / "er" / "spinal.json",
                     tmp_path / "live", replace(TOY, epochs=1))
    assert json.loads((tmp_path / "deep" / "er" / "spinal.json").read_text())["epochs_run"] == 1


def test_the_learning_rate_warms_up_over_the_first_15_percent_of_the_steps(tmp_path, monkeypatch):
    """One-cycle schedule: the rate rises to cfg.lr over the first 15% of all steps, then anneals."""
    from lumbar.classification import distributed as D
    from lumbar.classification import train as T

    seen = []

    class Recording(torch.optim.lr_scheduler.OneCycleLR):
        def step(self, *args, **kwargs):  # also called once on construction: seen[0] is the first step's rate
            super().step(*args, **kwargs)
            seen.append(self.optimizer.param_groups[0]["lr"])

    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR", Recording)
    crops = load_crop_set(make_toy_crops(tmp_path / "crops", n_studies=8))
    train_ds, val_ds = CropDataset(crops, rows_for(crops, "train")), CropDataset(crops, rows_for(crops, "val"))
    cfg = replace(TOY, epochs=5, batch_size=2, patience=0)
    T._fit(build_model("vgg11_bn", 0.125), train_ds, val_ds, cfg, D.Context(0, 1, torch.device("cpu")), None, "spinal")
    steps = 5 * -(-len(train_ds) // 2)
    assert len(seen) == steps + 1
    peak = int(np.argmax(seen))
    assert abs(peak - 0.15 * steps) <= 1 and max(seen) == pytest.approx(cfg.lr, rel=1e-2)
    assert seen[0] < cfg.lr / 10 and seen[-1] < cfg.lr / 100


def test_mixup_blends_each_crop_with_a_seeded_partner_by_a_beta_draw():
    """mix_batch: one lam ~ Beta(a, a) per batch, a permutation as partners, the same draws from the same
    generator; Beta(0.4, 0.4) has variance 1 / (4 * (2 * 0.4 + 1)) = 0.139."""
    from lumbar.classification.train import mix_batch

    x = torch.arange(8 * 3 * 4 * 4, dtype=torch.float32).reshape(8, 3, 4, 4)
    mixed, partner, lam = mix_batch(x, 0.4, torch.Generator().manual_seed(2))
    assert sorted(partner.tolist()) == list(range(8)) and 0.0 <= lam <= 1.0
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[partner])
    again = mix_batch(x, 0.4, torch.Generator().manual_seed(2))
    assert torch.equal(again[0], mixed) and torch.equal(again[1], partner) and again[2] == lam
    gen = torch.Generator().manual_seed(2)
    lams = np.array([mix_batch(x, 0.4, gen)[2] for _ in range(2000)])
    assert abs(lams.mean() - 0.5) < 0.03 and 0.11 < lams.var() < 0.17
    assert len({round(v, 9) for v in lams}) > 1900  # a fresh draw per batch


def test_mixup_trains_on_the_blend_of_both_grades_losses(tmp_path):
    """With mixup on, the epoch's loss is lam * CE(own grades) + (1 - lam) * CE(partners' grades) on the
    blended crops (frozen model, one batch): not the plain loss, and not the partner's alone."""
    from lumbar.classification.data import augment_batch
    from lumbar.classification.model import normalize
    from lumbar.classification.train import mix_batch

    got, net, ds, cfg, _ = toy_epoch(tmp_path / "mix", seed=2, mixup=0.4)
    gen = torch.Generator().manual_seed(2)
    x = normalize(augment_batch(ds.images.float() / 255.0, cfg.augment, gen))
    mixed, partner, lam = mix_batch(x, 0.4, gen)
    w = torch.tensor(GRADE_WEIGHTS, dtype=torch.float32)
    own = float(torch.nn.functional.cross_entropy(net(mixed), ds.grades, weight=w))
    other = float(torch.nn.functional.cross_entropy(net(mixed), ds.grades[partner], weight=w))
    assert 0.05 < lam < 0.95 and abs(own - other) > 1e-3
    assert got == pytest.approx(lam * own + (1 - lam) * other, rel=1e-5)
    plain, *_ = toy_epoch(tmp_path / "plain", seed=2, mixup=0.0)
    assert abs(plain - got) > 1e-4


def test_grad_clip_bounds_the_norm_of_each_step(tmp_path):
    """With grad_clip c, one plain-SGD step (lr 1) moves the weights by a vector of norm c exactly when the
    raw gradient is longer; 0 leaves the step alone."""
    def step_norm(clip: float) -> float:
        _, net, _, _, before = toy_epoch(tmp_path / str(clip), lr=1.0, grad_clip=clip)
        return float((torch.cat([p.detach().flatten() for p in net.parameters()]) - before).norm())

    raw = step_norm(0.0)
    assert raw > 0.02
    assert step_norm(0.01) == pytest.approx(0.01, rel=1e-3)
    assert step_norm(raw * 10) == pytest.approx(raw, rel=1e-5)


def test_average_last_keeps_the_mean_of_the_last_epochs_weights(tmp_path, monkeypatch):
    """average_last 0.5 of 4 epochs: the saved weights are the mean of epochs 3 and 4's, whatever the
    validation curve; batch-norm statistics are recomputed for them (not any epoch's)."""
    from lumbar.classification import train as T
    from lumbar.classification.distributed import unwrap

    seen = []
    epoch = T._epoch

    def recording(net, *args):
        loss = epoch(net, *args)
        seen.append({k: v.detach().clone() for k, v in unwrap(net).state_dict().items()})
        return loss

    monkeypatch.setattr(T, "_epoch", recording)
    crops = make_toy_crops(tmp_path / "crops", n_studies=8)
    metrics, model = run(tmp_path / "a", crops, replace(TOY, epochs=4, average_last=0.5))
    saved = torch.load(model, map_location="cpu", weights_only=False)["state_dict"]
    weights = [k for k in saved if k.endswith(".weight") and saved[k].dim() > 1]
    assert len(seen) == 4 and weights
    for k in weights:
        assert torch.allclose(saved[k], (seen[2][k] + seen[3][k]) / 2, atol=1e-6), k
        assert not torch.allclose(saved[k], seen[3][k], atol=1e-6), k
    means = [k for k in saved if k.endswith("running_mean")]
    assert means and all(not torch.allclose(saved[k], seen[3][k]) for k in means)
    assert metrics["epochs_run"] == 4
