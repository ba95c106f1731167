"""The extract stage's output on disk, in one place: where it writes, and how everything else reads it.

Layout under the extract folder: slices.parquet (vocabulary.SLICE_COLUMNS, one row per readable slice,
sorted by study, series, slice_index) and images/{study_id}/{series_id}.npy, one windowed uint8 volume
(n, rows, columns) per series in the same slice order. yolo_data, locate, crop and the benchmarks all
read it through ExtractedSeries (lumbar.study builds a study's volumes from it), so the layout can change here without touching them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .vocabulary import SERIES_ID, STUDY_ID

SLICES_FILE = "slices.parquet"


def volume_path(extracted_dir: str | Path, study_id: int, series_id: int) -> Path:
    """Where one series' volume lives (the extract stage writes it here)."""
    return Path(extracted_dir) / "images" / str(int(study_id)) / f"{int(series_id)}.npy"


class ExtractedSeries:
    """Read access to the extract stage's output: volumes and their slice geometry."""

    def __init__(self, extracted_dir: str | Path) -> None:
        self.root = Path(extracted_dir)
        path = self.root / SLICES_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (run the extract stage first)")
        slices = pd.read_parquet(path)
        order = np.lexsort([slices[k].to_numpy() for k in ("slice_index", SERIES_ID, STUDY_ID)])
        if (order != np.arange(len(order))).any():   # the extract stage writes it sorted already
            slices = slices.iloc[order]
        self.slices = slices
        # Each series is a row range of the sorted table, not a DataFrame of its own: thousands of
        # small frames cost tens of MiB and seconds on the real data set; a range costs nothing.
        study, series = slices[STUDY_ID].to_numpy(), slices[SERIES_ID].to_numpy()
        starts = np.flatnonzero(np.r_[True, (study[1:] != study[:-1]) | (series[1:] != series[:-1])]) \
            if len(slices) else np.zeros(0, dtype=np.int64)
        ends = np.r_[starts[1:], len(slices)].astype(np.int64)
        self._ranges = {(int(study[a]), int(series[a])): (int(a), int(b)) for a, b in zip(starts, ends)}
        self._series_of: dict[int, list[int]] = {}
        for st, sid in self._ranges:
            self._series_of.setdefault(st, []).append(sid)

    def studies(self) -> list[int]:
        """Every study with at least one extracted series."""
        return sorted(int(s) for s in self.slices[STUDY_ID].unique())

    def series_ids(self, study_id: int) -> list[int]:
        """Every extracted series of a study, by id."""
        return sorted(self._series_of.get(int(study_id), []))

    def volume(self, study_id: int, series_id: int, mmap: bool = True) -> np.ndarray:
        """(n, rows, columns) uint8; memory-mapped unless `mmap` is False."""
        return np.load(volume_path(self.root, study_id, series_id), mmap_mode="r" if mmap else None)

    def n_slices(self) -> dict[tuple[int, int], int]:
        """(study_id, series_id) -> number of extracted slices."""
        return {k: b - a for k, (a, b) in self._ranges.items()}

    def meta(self, study_id: int, series_id: int) -> pd.DataFrame:
        """The slices.parquet rows of one series, in slice_index order."""
        a, b = self._ranges[(int(study_id), int(series_id))]
        return self.slices.iloc[a:b]
