"""Crops keep their physical size and their centre, whatever the pixel spacing."""
import numpy as np
import pytest

from lumbar.crops import box_around, crop_25d


def _volume_with_square(spacing_mm: float, n: int = 5, size_px: int = 200) -> tuple[np.ndarray, float]:
    """A volume with a bright 10 mm square centred at pixel (120, 80) on every slice, and slice k = k*10 offset."""
    vol = np.zeros((n, size_px, size_px), dtype=np.uint8)
    half = 5.0 / spacing_mm
    vol[:, int(80 - half):int(80 + half), int(120 - half):int(120 + half)] = 200
    vol += (np.arange(n, dtype=np.uint8) * 10)[:, None, None]
    return vol, half


@pytest.mark.parametrize("spacing", [0.5, 0.625, 1.0])
def test_crop_shows_same_physical_extent(spacing):
    vol, _ = _volume_with_square(spacing)
    crop = crop_25d(vol, 2, 120, 80, side_mm=20.0, spacing=(spacing, spacing), size=40)
    assert crop.shape == (3, 40, 40) and crop.dtype == np.uint8
    bright = crop[1] > 150
    # a 10 mm square in a 20 mm crop covers half of each side: 20 of 40 px
    assert abs(bright.sum(axis=1).max() - 20) <= 1 and abs(bright.sum(axis=0).max() - 20) <= 1
    ys, xs = np.nonzero(bright)
    assert abs(xs.mean() - 19.5) < 1 and abs(ys.mean() - 19.5) < 1


def test_channels_are_neighbours_and_edges_repeat():
    vol, _ = _volume_with_square(0.5)
    c = crop_25d(vol, 0, 120, 80, 20.0, (0.5, 0.5), 16)
    assert c[0, 0, 0] == c[1, 0, 0] == 0 and c[2, 0, 0] == 10  # slice -1 clamps to 0
    c = crop_25d(vol, 4, 120, 80, 20.0, (0.5, 0.5), 16)
    assert (c[0, 0, 0], c[1, 0, 0], c[2, 0, 0]) == (30, 40, 40)
    with pytest.raises(IndexError, match="slice_index 5"):
        crop_25d(vol, 5, 120, 80, 20.0, (0.5, 0.5), 16)


def test_border_point_is_zero_padded_and_box_in_pixels():
    vol, _ = _volume_with_square(0.5)
    c = crop_25d(vol, 2, 0, 0, 20.0, (0.5, 0.5), 20)
    assert c[1, :8, :8].max() == 0 and c[1, 15:, 15:].min() == 20
    assert box_around(100, 50, 20.0, (0.5, 0.25)) == (60.0, 30.0, 140.0, 70.0)


@pytest.mark.parametrize("spacing", [(0.5, 1.0), (1.0, 0.4)])
def test_non_square_pixels_give_a_square_crop_of_the_same_anatomy(spacing):
    """PixelSpacing is (row, column): a 10 mm square is 10/row_mm rows by 10/col_mm columns, and the
    crop shows it as a square all the same, centred (swapping the two spacings would not)."""
    sr, sc = spacing
    vol = np.zeros((3, 200, 200), dtype=np.uint8)
    hr, hc = 5.0 / sr, 5.0 / sc
    vol[:, int(round(80 - hr)):int(round(80 + hr)), int(round(120 - hc)):int(round(120 + hc))] = 200
    crop = crop_25d(vol, 1, 120, 80, side_mm=20.0, spacing=spacing, size=40)
    bright = crop[1] > 150    # (a 1 mm source pixel blurs each edge over one output pixel)
    assert abs(bright.sum(axis=1).max() - 20) <= 2 and abs(bright.sum(axis=0).max() - 20) <= 2
    ys, xs = np.nonzero(bright)
    assert abs(xs.mean() - 19.5) < 1 and abs(ys.mean() - 19.5) < 1
    x1, y1, x2, y2 = box_around(120, 80, 20.0, spacing)
    assert (x2 - x1, y2 - y1) == pytest.approx((20.0 / sc, 20.0 / sr))


def test_crop_box_takes_its_neighbours_from_its_own_stack():
    """Slices 0-1 are one stack, 2-4 another: slice 2's upper neighbour repeats slice 2, not slice 1."""
    from lumbar.crops import CropSpec, crop_box
    vol = np.stack([np.full((40, 40), 10 * (k + 1), np.uint8) for k in range(5)])
    spec = CropSpec(size=16, side_mm=10.0)
    got = crop_box(vol, 2, (15.0, 15.0, 25.0, 25.0), (0.5, 0.5), spec, bounds=(2, 5))
    assert [int(c[8, 8]) for c in got] == [30, 30, 40]
    whole = crop_box(vol, 2, (15.0, 15.0, 25.0, 25.0), (0.5, 0.5), spec)
    assert [int(c[8, 8]) for c in whole] == [20, 30, 40]


def test_stack_bounds_of_the_first_and_last_slice():
    from lumbar.dicom import Series, stack_bounds
    assert stack_bounds([0, 0, 0], 0) == (0, 3) and stack_bounds([0, 0, 0], 2) == (0, 3)
    assert stack_bounds([0, 0, 1, 1], 0) == (0, 2) and stack_bounds([0, 0, 1, 1], 3) == (2, 4)
    assert Series([]).pixels().dtype == np.int16


def test_mirror_right_flips_right_columns_only():
    """With mirror_right a right-side column's crop is the left-right mirror of the plain crop; left and
    spinal columns, and every column without the flag, are untouched (training and inference share this)."""
    from lumbar.crops import CropSpec, crop_box
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 255, (3, 40, 40), dtype=np.uint8)
    box, sp = (10.0, 12.0, 24.0, 26.0), (0.5, 0.5)
    plain = crop_box(vol, 1, box, sp, CropSpec(side_mm=8.0, size=16))
    mirror = CropSpec(side_mm=8.0, size=16, mirror_right=True)
    right = crop_box(vol, 1, box, sp, mirror, column="right_subarticular_stenosis_l4_l5")
    assert np.array_equal(right, plain[:, :, ::-1]) and not np.array_equal(right, plain)
    assert right.flags["C_CONTIGUOUS"]
    for col in ("left_subarticular_stenosis_l4_l5", "spinal_canal_stenosis_l1_l2", None):
        assert np.array_equal(crop_box(vol, 1, box, sp, mirror, column=col), plain)
    assert np.array_equal(crop_box(vol, 1, box, sp, CropSpec(8.0, 16), column="right_subarticular_stenosis_l4_l5"),
                          plain)
    with pytest.raises(KeyError, match="right_subarticular_stenosis_l9"):
        crop_box(vol, 1, box, sp, mirror, column="right_subarticular_stenosis_l9")
