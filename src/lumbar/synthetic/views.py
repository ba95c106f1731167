"""Extra phantom studies for one detector: only its view's series, rendered and windowed as the pipeline
sees it, with the group's label points.

Why: the demo's ~60 training studies are enough to grade phantoms, not to teach a from-scratch detector
what a spine looks like. A spinal detector trained on them finds the levels of held-out phantoms but not
of real scans; trained on a few hundred more phantom series (cheap: one series per study, no DICOM
written) it starts to find them on real scans too (README, "How close the phantoms are to real MRI").
The volumes are what extract would make of the same series: 12-bit pixels windowed by the same function
between the same percentiles, slices in the reader's order (lumbar.dicom.group_stacks).
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ..dicom import Slice, group_stacks
from ..vocabulary import GROUPS, LABEL_COLUMNS
from ..windowing import window_uint8
from .acquisition import SeriesPlan, plan_series
from .anatomy import Spine, sample_spine
from .grades import sample_latents, severity
from .physics import Texture
from .study import label_points, render_series

STREAM = 7_919   # the phantoms' random stream, apart from synthesize's (seeds [seed, STREAM, index])


@dataclass
class PhantomSeries:
    """One phantom series of a group's view, as the detector's data set needs it."""

    index: int
    volume: np.ndarray                       # (n, H, W) uint8, windowed, slices in the reader's order
    stacks: list[int]                        # stack id per slice (lumbar.dicom.group_stacks)
    spacing: float                           # in-plane mm per pixel
    points: list[tuple[int, str, float, float]]   # (slice index, column, x, y) per label point


def render_phantom(index: int, group: str, cfg: Mapping) -> tuple[SeriesPlan, list[np.ndarray], Spine] | None:
    """Phantom `index`'s series of the group's view: its plan (slices in spatial order, instance i + 1
    on slice i), 12-bit pixels and spine; None if the study drew no such series."""
    rng = np.random.default_rng([int(cfg["seed"]), STREAM, int(index)])
    latents = sample_latents(rng, 1)
    sp = sample_spine(rng, severity(latents, float(cfg["reader_noise"]))[0])
    view = GROUPS[group].view
    plans = [p for p in plan_series(rng, sp, {**cfg, "missing_series_share": 0.0}) if p.view == view]
    if not plans:
        return None
    plan = plans[0]
    plan.reversed_numbers = False
    return plan, render_series(rng, sp, plan, float(cfg["image_noise"]), Texture(rng, sp)), sp


def _one(job: tuple) -> PhantomSeries | None:
    index, group, cfg, low, high = job
    got = render_phantom(index, group, cfg)
    if got is None:
        return None
    plan, pixels, sp = got
    slices = [Slice(Path(str(i)), i + 1, pos, iop[:3], iop[3:], (plan.spacing, plan.spacing), plan.rows,
                    plan.cols) for i, (pos, iop) in enumerate(zip(plan.positions, plan.orientations))]
    groups, _ = group_stacks(slices)
    order = [i for g in groups for i in g]
    stacks = [k for k, g in enumerate(groups) for _ in g]
    where = {plan_index: reader_index for reader_index, plan_index in enumerate(order)}
    volume = window_uint8(np.stack([pixels[i] for i in order]), low, high)
    graded = {c: 0 for c in LABEL_COLUMNS}
    points = [(where[r["instance_number"] - 1], r["column"], float(r["x"]), float(r["y"]))
              for r in label_points(sp, [plan], graded) if r["column"] in GROUPS[group].classes]
    return PhantomSeries(int(index), volume, stacks, float(plan.spacing), points)


def phantom_series(group: str, n: int, cfg: Mapping, low_pct: float, high_pct: float,
                   workers: int = 0) -> Iterator[PhantomSeries]:
    """`n` phantom series of `group`'s view (cfg: the params `synthetic:` section), in index order.

    Deterministic for the same cfg: each series draws from its own seed, whatever the worker count.
    """
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r} (expected one of {tuple(GROUPS)})")
    jobs = [(i, group, dict(cfg), float(low_pct), float(high_pct)) for i in range(int(n))]
    workers = int(workers) or os.cpu_count() or 1
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            for s in pool.map(_one, jobs, chunksize=4):
                if s is not None:
                    yield s
    else:
        for job in jobs:
            s = _one(job)
            if s is not None:
                yield s
