"""Pixel <-> patient-space (mm, DICOM LPS) transforms, so a point on one series can be found on another.

P = IPP + x * spacing_col * row_cos + y * spacing_row * col_cos, with x the column and y the row
(PixelSpacing is [row spacing, column spacing]). A "slice-like" is a lumbar.dicom.Slice or a mapping
with the slices.parquet columns (ipp_x.., row_x.., col_x.., spacing_row, spacing_col).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["pixel_to_patient", "patient_to_pixel", "nearest_slice", "slice_frame"]


def slice_frame(slice_like: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(position, row_cos, col_cos, spacing_row, spacing_col) of a Slice or a slices.parquet row."""
    if hasattr(slice_like, "position"):
        return (np.asarray(slice_like.position, float), np.asarray(slice_like.row_cos, float),
                np.asarray(slice_like.col_cos, float), float(slice_like.spacing[0]), float(slice_like.spacing[1]))
    r = slice_like
    return (np.array([r["ipp_x"], r["ipp_y"], r["ipp_z"]], float),
            np.array([r["row_x"], r["row_y"], r["row_z"]], float),
            np.array([r["col_x"], r["col_y"], r["col_z"]], float),
            float(r["spacing_row"]), float(r["spacing_col"]))


def pixel_to_patient(slice_like: Any, x: float, y: float) -> np.ndarray:
    """Patient point (3,) in mm of pixel (x=column, y=row) on a slice."""
    pos, rc, cc, sr, sc = slice_frame(slice_like)
    return pos + float(x) * sc * rc + float(y) * sr * cc


def patient_to_pixel(slice_like: Any, p: Sequence[float]) -> tuple[float, float, float]:
    """(x, y, distance) of a patient point projected on a slice; distance is signed along the normal."""
    pos, rc, cc, sr, sc = slice_frame(slice_like)
    d = np.asarray(p, float) - pos
    normal = np.cross(rc, cc)
    # Solve d = a*rc + b*cc + t*normal exactly, so slightly non-orthogonal headers still round-trip.
    a, b, t = np.linalg.solve(np.column_stack([rc, cc, normal]), d)
    return float(a / sc), float(b / sr), float(t * np.linalg.norm(normal))


def nearest_slice(series: Any, p: Sequence[float]) -> tuple[int, float]:
    """(slice_index, absolute distance in mm) of the slice whose plane lies closest to point p.

    `series` is a lumbar.dicom.Series, a slices.parquet frame of one series sorted by slice_index,
    or any sequence of slice-likes in slice_index order.
    """
    if hasattr(series, "iterrows"):
        slices = [row for _, row in series.iterrows()]
    else:
        slices = series.slices if hasattr(series, "slices") else list(series)
    if not slices:
        raise ValueError("nearest_slice: the series has no slices")
    dists = [abs(patient_to_pixel(s, p)[2]) for s in slices]
    i = int(np.argmin(dists))
    return i, float(dists[i])
