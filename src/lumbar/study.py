"""One study's images as the models see them: windowed volumes with every slice's geometry.

The one type of the per-study path. `from_extracted` builds it from the extract stage's output (what
locate and crop read), `from_dicom` straight from a study folder (what evaluate and predict read);
both window with `lumbar.windowing`, so a study gives the same pixels either way, and everything
downstream (locate, crops, inference) takes a StudyVolumes and never asks where it came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dicom import read_series, stack_bounds
from .extracted import ExtractedSeries
from .vocabulary import INSTANCE_NUMBER, SERIES_DESCRIPTION, SERIES_ID
from .windowing import window_uint8

__all__ = ["SeriesVolume", "StudyVolumes", "from_extracted", "from_dicom"]


@dataclass
class SeriesVolume:
    """One series: (n, rows, columns) uint8 in spatial order, and each slice's own geometry."""

    series_id: int
    view: str                       # series description, one of vocabulary.VIEWS
    volume: np.ndarray
    frames: list[Any]               # per slice: lumbar.dicom.Slice or a slices.parquet row (lumbar.geometry)
    instance_numbers: list[int]
    stacks: list[int] = field(default_factory=list)   # per slice: its stack (lumbar.dicom.group_stacks)

    def __post_init__(self) -> None:
        if not self.stacks:
            self.stacks = [0] * len(self.frames)

    def bounds(self, slice_index: int | None = None):
        """The (lo, hi) stack range of one slice, or of every slice: where 2.5D neighbours come from."""
        if slice_index is None:
            return [stack_bounds(self.stacks, i) for i in range(len(self.stacks))]
        return stack_bounds(self.stacks, slice_index)

    @property
    def spacing(self) -> tuple[float, float]:
        """PixelSpacing (row, column) in mm of the series' first slice."""
        f = self.frames[0]
        if hasattr(f, "spacing"):
            return float(f.spacing[0]), float(f.spacing[1])
        return float(f["spacing_row"]), float(f["spacing_col"])

    def slice_of(self, instance_number: int) -> int | None:
        """slice_index of an InstanceNumber, None when the series lacks it."""
        try:
            return self.instance_numbers.index(int(instance_number))
        except ValueError:
            return None


@dataclass
class StudyVolumes:
    """Every readable series of one study, and what could not be read (notes, for logs and reports)."""

    study_id: int
    series: dict[int, SeriesVolume]
    notes: list[str] = field(default_factory=list)
    listed_views: set[str] = field(default_factory=set)  # views the study lists, readable or not

    def of_view(self, view: str) -> list[SeriesVolume]:
        """The study's series of one view, by series id (several where a study has several axial series)."""
        return [self.series[s] for s in sorted(self.series) if self.series[s].view == view]

    def frames(self, view: str) -> dict[tuple[int, int], Any]:
        """(series_id, slice_index) -> slice geometry, for every slice of one view."""
        return {(s.series_id, i): f for s in self.of_view(view) for i, f in enumerate(s.frames)}


def from_extracted(store: ExtractedSeries, study_id: int) -> StudyVolumes:
    """A study from the extract output (volumes memory-mapped)."""
    series = {}
    for sid in store.series_ids(study_id):
        meta = store.meta(study_id, sid)
        series[sid] = SeriesVolume(sid, str(meta[SERIES_DESCRIPTION].iloc[0]), store.volume(study_id, sid),
                                   [r for _, r in meta.iterrows()], [int(v) for v in meta[INSTANCE_NUMBER]],
                                   [int(v) for v in meta["stack"]])
    return StudyVolumes(int(study_id), series, listed_views={s.view for s in series.values()})


def from_dicom(study_id: int, study_dir: str | Path, listed: pd.DataFrame, low_pct: float,
               high_pct: float) -> StudyVolumes:
    """A study from its DICOM folder; `listed` holds its (series_id, series_description) rows.

    A listed series that is missing or has no readable slice is left out with a note; a skipped file
    is noted and the rest of its series is read.
    """
    study_dir = Path(study_dir)
    series, notes = {}, []
    rows = sorted((int(r[SERIES_ID]), str(r[SERIES_DESCRIPTION])) for _, r in listed.iterrows())
    for sid, view in rows:
        sdir = study_dir / str(sid)
        if not sdir.is_dir():
            notes.append(f"series {sid} ({view}) is listed but not on disk")
            continue
        s = read_series(sdir)
        notes.extend(f"skipped {path}: {reason}" for path, reason in s.skipped)
        if not s.slices:
            notes.append(f"series {sid} ({view}) has no readable slice")
            continue
        series[sid] = SeriesVolume(sid, view, window_uint8(s.pixels(), low_pct, high_pct), list(s.slices),
                                   [sl.instance_number for sl in s.slices], list(s.stacks))
    return StudyVolumes(int(study_id), series, notes, {v for _, v in rows})
