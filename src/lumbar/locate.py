"""Study -> the box each cell is read from: detect every series of each group's view, then place levels.

The one place that runs the detectors on a study. The spinal group goes first because its boxes (the
canal at each disc on Sagittal T2) place the other groups' levels through the DICOM geometry
(lumbar.detection.levels). The locate stage, crop (through the locate stage's tables), evaluate and
predict all choose boxes here, so every figure scores the boxes the pipeline really reads.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from tqdm import tqdm

from .detection.levels import choose_boxes, level_points
from .detection.predict import detect_series
from .extracted import ExtractedSeries
from .located import box_figures, empty_boxes, label_slices, write_located
from .study import StudyVolumes, from_extracted
from .vocabulary import BOX_COLUMNS, GROUPS, INSTANCE_NUMBER, LEVEL_GROUP, SERIES_ID, STUDY_ID

__all__ = ["LocateConfig", "group_order", "locate_study", "locate_extracted", "run_locate"]


@dataclass(frozen=True)
class LocateConfig:
    """How the detectors are run and the levels placed (params `detector.*`, `crop.level_mm`)."""

    imgsz: int
    conf: float
    batch: int
    level_mm: float = 0.0   # levels from the spinal boxes; 0 = every detector names its own levels

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "LocateConfig":
        d = params["detector"]
        return cls(int(d["imgsz"]), float(d["conf"]), int(d["predict_batch"]), float(params["crop"]["level_mm"]))


def group_order(groups) -> list[str]:
    """The groups in the order they must be located: the level group first."""
    return sorted(groups, key=lambda g: g != LEVEL_GROUP)


def locate_study(detectors: Mapping[str, Any], study: StudyVolumes, cfg: LocateConfig) -> tuple[pd.DataFrame, list[str]]:
    """(chosen boxes, notes) for every group with a detector: BOX_COLUMNS, one row per located cell.

    A group whose view the study lacks, or whose detector finds nothing, has no rows (a note says
    why); inference gives those cells the prior.
    """
    chosen, notes, points = [], [], {}
    for name in group_order(detectors):
        g = GROUPS[name]
        series = study.of_view(g.view)
        if not series:
            notes.append(f"no readable {g.view} series: {name} cells get the prior")
            continue
        found = [detect_series(detectors[name], s.volume, name, cfg.imgsz, cfg.conf, cfg.batch, s.bounds())
                 .assign(**{SERIES_ID: s.series_id}) for s in series]
        dets = pd.concat(found, ignore_index=True)
        frames = study.frames(g.view)
        best = choose_boxes(name, dets, frames, points, cfg.level_mm)
        if name == LEVEL_GROUP and len(best):
            points = level_points(best, frames)
        missed = len(g.classes) - len(best)
        if missed:
            notes.append(f"no detection for {missed} {name} cells: prior")
        if len(best):
            chosen.append(_as_boxes(best, study, name))
    boxes = pd.concat(chosen, ignore_index=True) if chosen else empty_boxes()
    return boxes[list(BOX_COLUMNS)], notes


def _as_boxes(best: pd.DataFrame, study: StudyVolumes, group: str) -> pd.DataFrame:
    out = best.assign(**{STUDY_ID: study.study_id, "group": group})
    sv = [study.series[int(s)] for s in out[SERIES_ID]]
    out[INSTANCE_NUMBER] = [s.instance_numbers[int(i)] for s, i in zip(sv, out["slice_index"])]
    out["spacing_row"] = [s.spacing[0] for s in sv]
    out["spacing_col"] = [s.spacing[1] for s in sv]
    return out.astype(empty_boxes().dtypes.to_dict())[list(BOX_COLUMNS)]


# --- the locate stage: every covered study of the extract output, written as one table per group ----

def locate_extracted(detectors: Mapping[str, Any], store: ExtractedSeries, studies: list[int],
                     cfg: LocateConfig, progress: bool = True) -> pd.DataFrame:
    """locate_study over studies of the extract output; one BOX_COLUMNS table."""
    found = [locate_study(detectors, from_extracted(store, s), cfg)[0]
             for s in tqdm(studies, desc="locate", unit="study", disable=not progress)]
    found = [f for f in found if len(f)]
    return pd.concat(found, ignore_index=True) if found else empty_boxes()


def run_locate(detectors: Mapping[str, Any], store: ExtractedSeries, studies: list[int], coordinates: pd.DataFrame,
               cfg: LocateConfig, out_dir: Path, metrics_path: Path, progress: bool = True) -> dict:
    """The locate stage: boxes for `studies` written to out_dir, and how well they sit on the label
    points of those studies (box_figures) written to metrics_path."""
    boxes = locate_extracted(detectors, store, studies, cfg, progress)
    write_located(out_dir, boxes, studies, asdict(cfg))
    points = label_slices(coordinates[coordinates[STUDY_ID].isin(studies)], store.slices)
    figures = {"studies": len(studies), "groups": box_figures(boxes, points)}
    Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_path).write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return figures
