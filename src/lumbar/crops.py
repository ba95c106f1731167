"""Classifier inputs: 2.5D crops of a fixed physical size around a point on a slice.

The crop side is set in millimetres and converted through PixelSpacing, so a crop shows the same
anatomy at every scanner resolution; the chosen slice and its two neighbours become the three
channels, which lets a 2D network see a little of the third dimension.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .vocabulary import COLUMN_PARTS, CONDITION_SIDE


@dataclass(frozen=True)
class CropSpec:
    """How big a crop is (side in mm around the point, size in pixels after resizing), and whether
    right-side crops are mirrored into the left side's orientation.

    Mirroring suits anatomy that is mirror-symmetric in the image plane (the subarticular recesses on
    an axial slice): one model then sees one orientation with both sides' examples, twice the data.
    """

    side_mm: float
    size: int
    mirror_right: bool = False


def crop_25d(volume: np.ndarray, slice_index: int, cx: float, cy: float, side_mm: float,
             spacing: tuple[float, float], size: int, bounds: tuple[int, int] | None = None) -> np.ndarray:
    """Crop (3, size, size) uint8 centred on pixel (cx, cy) of `slice_index`.

    `spacing` is DICOM PixelSpacing (row, col) in mm. The neighbours come from the slice's own stack
    (`bounds` = (lo, hi), default the whole series) and repeat the edge slice beyond it; pixels
    outside the image are 0, so a point near a border still gets a crop.
    """
    n = volume.shape[0]
    if not 0 <= slice_index < n:
        raise IndexError(f"slice_index {slice_index} outside a series of {n} slices")
    lo, hi = bounds if bounds is not None else (0, n)
    sx = side_mm / float(spacing[1]) / size  # source pixels per output pixel, along x (columns)
    sy = side_mm / float(spacing[0]) / size
    # Inverse map output (u, v) -> source (x, y), pixel centres aligned.
    m = np.array([[sx, 0.0, cx - sx * size / 2 + 0.5 * sx - 0.5],
                  [0.0, sy, cy - sy * size / 2 + 0.5 * sy - 0.5]], dtype=np.float64)
    out = np.empty((3, size, size), dtype=np.uint8)
    for ch, k in enumerate((slice_index - 1, slice_index, slice_index + 1)):
        src = volume[min(max(k, lo), hi - 1)]
        out[ch] = cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out


def crop_box(volume: np.ndarray, slice_index: int, box: tuple[float, float, float, float],
             spacing: tuple[float, float], spec: CropSpec, bounds: tuple[int, int] | None = None,
             column: str | None = None) -> np.ndarray:
    """crop_25d centred on a box (x1, y1, x2, y2): how every cell is cropped, for training and inference.

    `column` (the train.csv column the crop grades) decides the mirroring: with spec.mirror_right a
    right-side column's crop is flipped left-right.
    """
    x1, y1, x2, y2 = box
    out = crop_25d(volume, slice_index, (x1 + x2) / 2, (y1 + y2) / 2, spec.side_mm, spacing, spec.size, bounds)
    if spec.mirror_right and column is not None and _side(column) == "right":
        out = np.ascontiguousarray(out[:, :, ::-1])
    return out


def _side(column: str) -> str | None:
    """"left" / "right" of a sided group's train.csv column, None for spinal; KeyError names a bad one."""
    if column not in COLUMN_PARTS:
        raise KeyError(f"unknown train.csv column {column!r}")
    return CONDITION_SIDE[COLUMN_PARTS[column][0]]


def box_around(cx: float, cy: float, side_mm: float, spacing: tuple[float, float]) -> tuple[float, float, float, float]:
    """(x1, y1, x2, y2) in pixels of the square of `side_mm` centred on (cx, cy)."""
    hx, hy = side_mm / float(spacing[1]) / 2, side_mm / float(spacing[0]) / 2
    return cx - hx, cy - hy, cx + hx, cy + hy
