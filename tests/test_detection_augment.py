"""Intensity randomisation for detector training: what changes, what must not, and that training uses it."""
import numpy as np
import pytest

from lumbar.detection import augment
from lumbar.detection.augment import IntensityJitter, jitter, trainer_class


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((64, 80, 3), np.uint8)
    img[..., 0] = rng.integers(0, 256, (64, 80))
    img[..., 1] = img[..., 0] // 2 + 20
    img[..., 2] = 153                                   # the position plane
    return img


def test_position_plane_untouched_image_channels_changed():
    img = _image()
    for seed in range(20):
        out = jitter(img, np.random.default_rng(seed))
        assert out.dtype == np.uint8 and out.shape == img.shape
        assert (out[..., 2] == 153).all()               # the slice position must survive
        assert not np.array_equal(out[..., 0], img[..., 0])
        assert not np.array_equal(out[..., 1], img[..., 1])


def test_slice_and_neighbours_share_one_remapping():
    img = _image()
    img[..., 1] = img[..., 0]                           # a lone slice: neighbours equal the slice
    for seed in range(20):
        out = jitter(img, np.random.default_rng(seed))
        np.testing.assert_array_equal(out[..., 0], out[..., 1])


def test_curves_and_gammas_vary_between_draws():
    img = _image()
    means = [jitter(img, np.random.default_rng(s))[..., 0].mean() for s in range(30)]
    assert np.std(means) > 10                           # not one fixed remapping


def test_probability_zero_is_the_identity_and_out_of_range_is_refused():
    img = _image()
    labels = {"img": img.copy()}
    assert np.array_equal(IntensityJitter(0.0)(labels)["img"], img)
    np.random.seed(0)
    changed = sum(not np.array_equal(IntensityJitter(0.5)({"img": img.copy()})["img"], img) for _ in range(200))
    assert 60 < changed < 140
    with pytest.raises(ValueError, match="intensity_aug"):
        IntensityJitter(1.5)


def test_trainer_class_off_is_ultralytics_own_and_on_inserts_before_format():
    from ultralytics.models.yolo.detect import DetectionTrainer

    assert trainer_class(0.0) is DetectionTrainer
    cls = trainer_class(0.3)
    assert issubclass(cls, DetectionTrainer) and cls.intensity_aug == 0.3

    class Fake:
        class transforms:
            transforms = ["mosaic", "affine", "format"]
    augment._insert(Fake, 0.3)
    augment._insert(Fake, 0.3)                          # once, even when called again after close_mosaic
    steps = Fake.transforms.transforms
    assert [type(s) if isinstance(s, IntensityJitter) else s for s in steps] == \
        ["mosaic", "affine", IntensityJitter, "format"]


def test_some_draws_reverse_the_order_of_tissue_brightness():
    """The non-monotone curve: a brighter tissue may come out darker (a gamma or contrast change never
    does), so the detector cannot rely on which structure is brightest."""
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 0::2, :2], img[:, 1::2, :2] = 50, 200        # two tissues side by side, column by column
    img[..., 2] = 128
    reversed_ = 0
    for seed in range(40):
        out = jitter(img, np.random.default_rng(seed))[..., 0].astype(float)
        reversed_ += out[:, 1::2].mean() < out[:, 0::2].mean()
    assert 3 <= reversed_ <= 30


def test_a_wrong_share_stops_before_training():
    with pytest.raises(ValueError, match="intensity_aug"):
        trainer_class(-0.1)
    with pytest.raises(ValueError, match="intensity_aug"):
        trainer_class(2.0)
