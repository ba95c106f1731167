"""The extract stage's output on disk, in one place: where it writes, and how everything else reads it.

Layout under the extract folder: slices.parquet (vocabulary.SLICE_COLUMNS, one row per readable slice,
sorted by study, series, slice_index) and images/{study_id}/{series_id}.npy, one windowed uint8 volume
(n, rows, columns) per series in the same slice order. yolo_data, detect, crop and the benchmarks all
read it through ExtractedSeries, so the layout can change here without touching them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .vocabulary import INSTANCE_NUMBER, SERIES_DESCRIPTION, SERIES_ID, STUDY_ID

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

    def series_of(self, study_id: int, view: str) -> list[int]:
        """Series ids of one view in a study (several where a study has several axial series)."""
        s = self.slices
        ids = s.loc[(s[STUDY_ID] == study_id) & (s[SERIES_DESCRIPTION] == view), SERIES_ID]
        return sorted(int(v) for v in ids.unique())

    def volume(self, study_id: int, series_id: int, mmap: bool = True) -> np.ndarray:
        """(n, rows, columns) uint8; memory-mapped unless `mmap` is False."""
        return np.load(volume_path(self.root, study_id, series_id), mmap_mode="r" if mmap else None)

    def n_slices(self) -> dict[tuple[int, int], int]:
        """(study_id, series_id) -> number of extracted slices."""
        return {k: len(v) for k, v in self._by_series.items()}

    def meta(self, study_id: int, series_id: int) -> pd.DataFrame:
        return self._by_series[(study_id, series_id)]

    def spacing(self, study_id: int, series_id: int) -> tuple[float, float]:
        row = self.meta(study_id, series_id).iloc[0]
        return float(row["spacing_row"]), float(row["spacing_col"])

    def frames(self, study_id: int, series_ids) -> dict[tuple[int, int], pd.Series]:
        """(series_id, slice_index) -> slices.parquet row (the slice's geometry), for lumbar.geometry."""
        return {(int(sid), int(r["slice_index"])): r for sid in series_ids
                for _, r in self.meta(study_id, int(sid)).iterrows()}

    def slice_index(self, study_id: int, series_id: int, instance_number: int) -> int | None:
        m = self.meta(study_id, series_id)
        hit = m.loc[m[INSTANCE_NUMBER] == instance_number, "slice_index"]
        return int(hit.iloc[0]) if len(hit) else None
