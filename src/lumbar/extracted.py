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
        self.slices = pd.read_parquet(path)
        self._by_series = {key: df.sort_values("slice_index") for key, df in
                           self.slices.groupby([STUDY_ID, SERIES_ID], sort=True)}

    def studies(self) -> list[int]:
        """Every study with at least one extracted series."""
        return sorted(int(s) for s in self.slices[STUDY_ID].unique())

    def series_ids(self, study_id: int) -> list[int]:
        """Every extracted series of a study, by id."""
        return sorted(sid for st, sid in self._by_series if st == int(study_id))

    def volume(self, study_id: int, series_id: int, mmap: bool = True) -> np.ndarray:
        """(n, rows, columns) uint8; memory-mapped unless `mmap` is False."""
        return np.load(volume_path(self.root, study_id, series_id), mmap_mode="r" if mmap else None)

    def n_slices(self) -> dict[tuple[int, int], int]:
        """(study_id, series_id) -> number of extracted slices."""
        return {k: len(v) for k, v in self._by_series.items()}

    def meta(self, study_id: int, series_id: int) -> pd.DataFrame:
        """The slices.parquet rows of one series, in slice_index order."""
        return self._by_series[(int(study_id), int(series_id))]
