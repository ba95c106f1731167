"""The detector's input image: the one function that turns an extracted volume into what YOLO sees.

Channels (H, W, 3) uint8, used identically for training (written as PNG by yolo_data) and prediction:

0. the slice itself;
1. the mean of its two neighbours in its own stack (edge slices repeat themselves) — a little 2.5D
   context, so a structure that only exists on this slice (a foramen, the canal's midline) stands out;
2. a constant plane whose intensity is the slice's relative position in the series,
   round(255 * i / (n - 1)).

Why the third channel: one sagittal slice cannot tell the left foramen from the right one (the
anatomy is mirror-symmetric), and one axial slice looks much the same at every level. The series
order is spatial (slice_index follows the slice normal, see lumbar.dicom), so the relative position
tells the network which side / which level it is looking at, at the cost of one channel. Training
must therefore not mix channels (no HSV augmentation) nor flip left/right (the classes are sided):
see lumbar.detection.train.AUGMENT.
"""
from __future__ import annotations

import numpy as np


def position_value(slice_index: int, n_slices: int) -> int:
    """Intensity 0..255 encoding the relative position of a slice in its series (128 if alone)."""
    if n_slices <= 1:
        return 128
    return int(round(255.0 * slice_index / (n_slices - 1)))


def detector_image(volume: np.ndarray, slice_index: int, bounds: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 detector input for slice `slice_index` of a (n, H, W) uint8 volume.

    `bounds` (lo, hi) is the slice's stack (lumbar.dicom.group_stacks): neighbours never come from
    across the gap to another block of slices.
    """
    if volume.ndim != 3 or volume.dtype != np.uint8:
        raise ValueError(f"expected a (n, H, W) uint8 volume, got shape {volume.shape} dtype {volume.dtype}")
    n = volume.shape[0]
    if not 0 <= slice_index < n:
        raise IndexError(f"slice_index {slice_index} outside a series of {n} slices")
    lo, hi = bounds if bounds is not None else (0, n)
    here = volume[slice_index]
    before = volume[max(slice_index - 1, lo)].astype(np.uint16)
    after = volume[min(slice_index + 1, hi - 1)].astype(np.uint16)
    out = np.empty((*here.shape, 3), dtype=np.uint8)
    out[..., 0] = here
    out[..., 1] = ((before + after + 1) // 2).astype(np.uint8)
    out[..., 2] = position_value(slice_index, n)
    return out
