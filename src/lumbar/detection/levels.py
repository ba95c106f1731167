"""Axial levels from the sagittal spinal detections, through the DICOM geometry.

An axial slice through one disc looks much like a slice through the next, so the subarticular detector
often names the wrong level (right slice for only ~60% of holdout points), while the spinal detector
finds the canal at each disc on Sagittal T2 almost every time. Each spinal box centre is a point in
patient space; the axial slice whose plane passes closest to it is that level's slice, wherever the
stack was placed or tilted. On that slice the subarticular detector's most confident box on each side
of the canal (side from patient x, not from the class name) becomes the level's box.

Levels without a spinal point, or with no axial slice within `max_mm` of it, keep the detector's own
choice, so this only ever replaces a guess with a better-founded one.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..geometry import patient_to_pixel, pixel_to_patient
from ..vocabulary import AXIAL_T2, GROUPS, LEVELS, SERIES_ID
from .predict import best_per_class, correct_sides

Frames = Mapping[tuple[int, int], Any]  # (series_id, slice_index) -> lumbar.dicom.Slice or slices.parquet row


def box_centre(frame: Any, box: Any) -> np.ndarray:
    """Patient point (mm) of a box's centre (box: a row with x1, y1, x2, y2 in pixels of `frame`)."""
    return pixel_to_patient(frame, (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2)


def level_points(spinal_best: pd.DataFrame, frames: Frames) -> dict[str, np.ndarray]:
    """level -> patient point (mm) of the chosen spinal box's centre, for each detected level."""
    out: dict[str, np.ndarray] = {}
    for r in spinal_best.itertuples(index=False):
        frame = frames.get((int(getattr(r, SERIES_ID)), int(r.slice_index)))
        if frame is None:
            continue
        out[str(r.column)[-len(LEVELS[0]):]] = box_centre(frame, r)
    return out


def nearest_axial_slice(point: np.ndarray, frames: Frames) -> tuple[tuple[int, int], float] | None:
    """(series_id, slice_index) of the slice plane closest to `point`, and that distance in mm."""
    best = None
    for key in sorted(frames):
        d = abs(patient_to_pixel(frames[key], point)[2])
        if best is None or d < best[1]:
            best = (key, d)
    return best


def assign_axial_levels(detections: pd.DataFrame, points: Mapping[str, np.ndarray], frames: Frames,
                        max_mm: float, group: str = "subarticular") -> pd.DataFrame:
    """One row per column, like best_per_class, with levels placed by geometry where possible.

    `detections` are the group's boxes over every axial series (with SERIES_ID); `frames` holds the
    geometry of every axial slice. A replaced row keeps its box and confidence and takes the column of
    its side and the level whose point its slice passes through.
    """
    g = GROUPS[group]
    best = best_per_class(detections)
    if detections.empty or not points:
        return best
    chosen = {str(r["column"]): r for _, r in best.iterrows()}
    for level, point in points.items():
        hit = nearest_axial_slice(point, frames)
        if hit is None or hit[1] > max_mm:
            continue
        (series, index), _ = hit
        on = detections[(detections[SERIES_ID] == series) & (detections["slice_index"] == index)]
        if on.empty:
            continue
        frame = frames[(series, index)]
        x = np.array([box_centre(frame, r)[0] for r in on.itertuples()])
        for side, mask in (("left", x > point[0]), ("right", x <= point[0])):
            if not mask.any():
                continue
            cand = on[mask].sort_values("confidence", ascending=False, kind="mergesort").iloc[0].copy()
            column = next(c for c in g.classes if c.startswith(side) and c.endswith(level))
            cand["class_index"] = g.classes.index(column)
            cand["column"] = column
            chosen[column] = cand
    rows = [chosen[c] for c in g.classes if c in chosen]
    return pd.DataFrame(rows).reset_index(drop=True).astype(best.dtypes.to_dict()) if rows else best


def assign_sagittal_levels(detections: pd.DataFrame, points: Mapping[str, np.ndarray], frames: Frames,
                           group: str) -> pd.DataFrame:
    """Sagittal boxes renamed to the level whose spinal point is nearest in the sagittal plane (y, z).

    The foraminal detector mixes up neighbouring levels (about 8% of holdout points) far more often
    than it misplaces a box, and the spinal boxes on Sagittal T2 share the patient frame. A box is
    renamed only when its nearest point is within half the median spacing of the points, so a box at
    a level the spinal detector missed is left as the detector named it.
    """
    g = GROUPS[group]
    if detections.empty or len(points) < 2:
        return detections
    levels = [lv for lv in LEVELS if lv in points]
    yz = np.stack([points[lv][1:] for lv in levels])
    limit = 0.5 * float(np.median(np.linalg.norm(np.diff(yz, axis=0), axis=1)))
    d = detections.copy()
    centres = np.stack([box_centre(frames[(int(getattr(r, SERIES_ID)), int(r.slice_index))], r)[1:]
                        for r in d.itertuples()])
    dist = np.linalg.norm(centres[:, None, :] - yz[None, :, :], axis=2)
    near, within = dist.argmin(axis=1), dist.min(axis=1) <= limit
    idx = d["class_index"].to_numpy().copy()
    per_side = len(LEVELS)
    for i in np.flatnonzero(within):
        idx[i] = (idx[i] // per_side) * per_side + LEVELS.index(levels[near[i]])
    d["class_index"] = idx
    d["column"] = [g.classes[i] for i in idx]
    return d


CLUSTER_MM = 12.0      # detections closer than this (patient space) mark the same disc
MIN_SHARE = 0.1        # a candidate disc needs this share of the most confident disc's confidence
GAP_FACTOR = 1.6       # a step this many times the typical disc spacing leaves a disc undetected
LEFT_OUT = 0.5         # cost of leaving a candidate disc without a level, per unit of its confidence


def order_levels(detections: pd.DataFrame, frames: Frames, group: str = "spinal") -> pd.DataFrame:
    """One box per level for a one-per-level sagittal group, levels counted along the spine.

    A small detector sees the canal at the right discs far more often than it names the right level
    (a tilted or differently framed slice moves every disc in the image, and neighbouring discs look
    alike). So the detections are grouped into candidate discs (within CLUSTER_MM in patient space),
    the discs are ordered head to feet (a step over GAP_FACTOR times the typical spacing counts the
    discs nobody found in between), and the levels are laid on that ordered row at the one offset
    that agrees best with the detector's class confidences, a disc left without a level costing a
    share of its own confidence (it is probably real). Each disc is read from its most confident
    box. Returns rows like best_per_class, relabelled.
    """
    g = GROUPS[group]
    if detections.empty or g.sided:
        return best_per_class(detections)
    d = detections.sort_values("confidence", ascending=False, kind="mergesort").reset_index(drop=True)
    centres = np.stack([box_centre(frames[(int(getattr(r, SERIES_ID)), int(r.slice_index))], r)
                        for r in d.itertuples()])
    seeds, votes = [], []
    for i in range(len(d)):
        near = [k for k, s in enumerate(seeds) if np.linalg.norm(centres[i] - centres[s]) <= CLUSTER_MM]
        if not near:
            seeds.append(i)
            votes.append(np.zeros(len(g.classes)))
        votes[near[0] if near else -1][int(d.at[i, "class_index"])] += float(d.at[i, "confidence"])
    top = max(v.sum() for v in votes)
    discs = sorted((k for k in range(len(seeds)) if votes[k].sum() >= MIN_SHARE * top),
                   key=lambda k: -centres[seeds[k]][2])
    if len(discs) < 2:
        return best_per_class(d)
    z = np.array([centres[seeds[k]][2] for k in discs])
    steps = -np.diff(z)
    # the disc spacing: the median step, or with three discs or fewer the smallest (a missed disc
    # doubles a step, and two steps have no median to trust)
    typical = float(np.median(steps) if len(steps) >= 3 else steps.min())
    slots = [0]                                   # each disc's position in the row, gaps counted
    for step in -np.diff(z):
        slots.append(slots[-1] + max(1, int(round(step / typical))) if step > GAP_FACTOR * typical else slots[-1] + 1)
    m = len(g.classes)
    offsets = range(-slots[-1], m)
    score = [sum(votes[k][s + o] if 0 <= s + o < m else -LEFT_OUT * votes[k].sum() for k, s in zip(discs, slots))
             for o in offsets]
    best = list(offsets)[int(np.argmax(score))]
    rows = []
    for k, s in zip(discs, slots):
        if 0 <= s + best < m:
            r = d.loc[seeds[k]].copy()
            r["class_index"], r["column"] = s + best, g.classes[s + best]
            rows.append(r)
    return pd.DataFrame(rows).reset_index(drop=True).astype(d.dtypes.to_dict())


def _centre_x(frame: Any) -> float:
    rows, cols = (frame.rows, frame.columns) if hasattr(frame, "position") else (frame["rows"], frame["columns"])
    return float(pixel_to_patient(frame, cols / 2, rows / 2)[0])


def choose_boxes(group: str, detections: pd.DataFrame, frames: Frames,
                 points: Mapping[str, np.ndarray] | None = None, level_mm: float = 0.0) -> pd.DataFrame:
    """The box each column is read from, as crop, evaluate and predict all choose it.

    Sagittal groups: sides from each slice's patient x (correct_sides); for sided groups (foraminal)
    levels from the spinal `points` when given; then the most confident box per class. Axial groups:
    levels from the spinal `points` when given (assign_axial_levels).
    """
    if detections.empty:
        return best_per_class(detections)
    g = GROUPS[group]
    if g.view == AXIAL_T2:
        if points and level_mm > 0:
            return assign_axial_levels(detections, points, frames, level_mm, group)
        return best_per_class(detections)
    keys = {(int(s), int(i)) for s, i in zip(detections[SERIES_ID], detections["slice_index"])}
    d = correct_sides(detections, group, {k: _centre_x(frames[k]) for k in keys})
    if not g.sided and level_mm > 0:
        return order_levels(d, frames, group)
    if g.sided and points and level_mm > 0:
        d = assign_sagittal_levels(d, points, frames, group)
    return best_per_class(d)


ORDER_CONF = 0.1         # a level counts as named at this confidence (a phantom-trained yolov8n, mAP50 0.59,
                         # gives its right boxes 0.1-0.6 even on phantoms; 0.25 fails most phantom slices)
ORDER_STEP = (0.5, 2.0)  # each disc-to-disc step (per level spanned) within these multiples of the median step
ORDER_TURN_DEG = 30.0    # the chain of box centres may turn by at most this much from one step to the next


def order_failure(best: pd.DataFrame, min_levels: int = 4, min_conf: float = ORDER_CONF,
                  step_range: tuple[float, float] = ORDER_STEP, max_turn_deg: float = ORDER_TURN_DEG) -> str:
    """Why one sagittal image's best box per level is not a spine's row of discs ("" when it is).

    A label-free check that a detector found the levels where a spine has them, for images without
    label points (real scans run through a phantom-trained detector). With the levels' box centres
    taken in order L1/L2 -> L5/S1 (a missing level leaves a gap): at least `min_levels` levels named
    with confidence >= min_conf; centre y strictly increasing (image y grows downward = caudal);
    every step, divided by the number of levels it spans, within `step_range` times the median step
    (discs are about evenly spaced); and the direction turning by at most `max_turn_deg` between
    consecutive steps (the centres lie on one smooth curve: a lordotic spine turns ~5-20 degrees per
    level, while a box off the curve by more than ~0.6 of a step turns it by more than 30).
    """
    if best.empty:
        return f"no box (need {min_levels} levels)"
    d = best[best["confidence"] >= min_conf].copy()
    d["level"] = [LEVELS.index(str(c)[-len(LEVELS[0]):]) for c in d["column"]]
    d = d.sort_values("confidence", ascending=False, kind="mergesort").drop_duplicates("level").sort_values("level")
    if len(d) < min_levels:
        return f"{len(d)} levels with confidence >= {min_conf} (need {min_levels})"
    xy = np.column_stack([(d["x1"] + d["x2"]) / 2, (d["y1"] + d["y2"]) / 2])
    steps = np.diff(xy, axis=0)
    if not (steps[:, 1] > 0).all():
        return "levels not in cranio-caudal order (centre y not increasing)"
    per_level = np.linalg.norm(steps, axis=1) / np.diff(d["level"].to_numpy())
    ratio = per_level / np.median(per_level)
    if ratio.min() < step_range[0] or ratio.max() > step_range[1]:
        return f"uneven steps ({ratio.min():.2f}-{ratio.max():.2f} x the median)"
    heading = np.degrees(np.arctan2(steps[:, 0], steps[:, 1]))
    turn = np.abs(np.diff(heading))
    if len(turn) and turn.max() > max_turn_deg:
        return f"centres off one smooth line (turns {turn.max():.0f} deg between steps)"
    return ""


def levels_in_order(best: pd.DataFrame, min_levels: int = 4, min_conf: float = ORDER_CONF,
                    step_range: tuple[float, float] = ORDER_STEP, max_turn_deg: float = ORDER_TURN_DEG) -> bool:
    """Whether `best` (best_per_class rows of one image: column, confidence, x1..y2) names >= min_levels
    levels in cranio-caudal order on one spine; the criterion is order_failure's."""
    return order_failure(best, min_levels, min_conf, step_range, max_turn_deg) == ""
