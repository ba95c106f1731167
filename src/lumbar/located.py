"""The located-boxes table: the box each cell is read from, as the locate stage writes it and every
reader scores it.

data/located/{group}.csv holds vocabulary.BOX_COLUMNS (one row per located cell) and summary.json the
studies covered (a study with no row was covered and nothing was found). box_figures is the one
measure of how well boxes sit on label points, for the locate stage and for evaluate alike.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .vocabulary import BOX_COLUMNS, GROUPS, INSTANCE_NUMBER, SERIES_ID, STUDY_ID

__all__ = ["SUMMARY_FILE", "empty_boxes", "label_slices", "write_located", "read_located", "box_figures"]

SUMMARY_FILE = "summary.json"


def empty_boxes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(BOX_COLUMNS, (
        "int64", "str", "str", "int64", "int64", "int64", *["float64"] * 7))})


def label_slices(coordinates: pd.DataFrame, slices: pd.DataFrame) -> pd.DataFrame:
    """Label points with the slice_index of their instance in the extract output (NaN if not extracted)."""
    keys = [STUDY_ID, SERIES_ID, INSTANCE_NUMBER]
    return coordinates[[*keys, "column", "x", "y"]].merge(slices[[*keys, "slice_index"]], on=keys, how="left")


def write_located(out_dir: Path, boxes: pd.DataFrame, studies: list[int], config: dict) -> None:
    """{group}.csv per group (BOX_COLUMNS) and summary.json (the studies covered, how they were located)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in GROUPS:
        part = boxes[boxes["group"] == name].sort_values([STUDY_ID, "column"], kind="mergesort")
        part.to_csv(out_dir / f"{name}.csv", index=False, float_format="%.4f", lineterminator="\n")
    summary = {"studies": [int(s) for s in studies], "config": dict(config)}
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def read_located(out_dir: Path, group: str) -> tuple[pd.DataFrame, list[int]]:
    """(one group's located boxes, every study the locate stage covered)."""
    out_dir = Path(out_dir)
    path = out_dir / f"{group}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (run the locate stage first)")
    boxes = pd.read_csv(path).astype(empty_boxes().dtypes.to_dict())
    studies = json.loads((out_dir / SUMMARY_FILE).read_text(encoding="utf-8"))["studies"]
    return boxes, [int(s) for s in studies]



def box_figures(boxes: pd.DataFrame, points: pd.DataFrame) -> dict[str, dict]:
    """Per group: share of label points whose cell was located, on the chosen slice ±1, inside the box.

    `points` are label points with the slice_index of their instance (study_id, series_id,
    slice_index, column, x, y); `boxes` are located boxes (BOX_COLUMNS). A point counts on-slice when
    its cell's box is on the same series within one slice, inside when it is also inside the box.
    """
    out = {}
    chosen = {(int(r.study_id), str(r.column)): r for r in boxes.itertuples(index=False)}
    for name, g in GROUPS.items():
        pts = points[points["column"].isin(g.classes)]
        found = near = inside = 0
        for p in pts.itertuples(index=False):
            b = chosen.get((int(p.study_id), str(p.column)))
            if b is None:
                continue
            found += 1
            if int(b.series_id) != int(p.series_id) or np.isnan(p.slice_index) or \
                    abs(int(b.slice_index) - int(p.slice_index)) > 1:
                continue
            near += 1
            inside += bool(b.x1 <= p.x <= b.x2 and b.y1 <= p.y <= b.y2)
        n = max(len(pts), 1)
        out[name] = {"points": int(len(pts)), "located": round(found / n, 4),
                     "slice_within_1": round(near / n, 4), "inside_box": round(inside / n, 4)}
    return out
