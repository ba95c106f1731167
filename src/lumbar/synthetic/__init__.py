"""Synthetic lumbar MRI studies in the exact Kaggle layout, with the best-possible score known.

`synthesize` writes train/test DICOM trees and the competition CSVs under out_dir/kaggle, and beside
them (never inside) the oracle posteriors and the test studies' grades, so the pipeline can be scored
against the best any model could do on this data.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..metric import prior_submission, prior_table, score, solution_table
from ..vocabulary import (AXIAL_T2, COLUMN_PARTS, CONDITION_LABELS, GRADES, LABEL_COLUMNS, LEVEL_LABELS, ROW_ID,
                          SERIES_DESCRIPTION, SERIES_ID, STUDY_ID, SUBMISSION_COLUMNS, row_id)
from .anatomy import sample_spine
from .dicom_writer import write_slice
from .grades import posterior, read_grades, sample_latents, severity
from .acquisition import plan_series
from .physics import Texture
from .study import label_points, render_series


def _one_study(job: tuple) -> tuple[list[dict], list[dict], dict]:
    """Render and write one study; returns its series rows, label rows and quirk counts."""
    index, study_id, part, latents, grades, cfg, root = job
    rng = np.random.default_rng([int(cfg["seed"]), index])
    sp = sample_spine(rng, severity(latents[None, :], float(cfg["reader_noise"]))[0])
    plans = plan_series(rng, sp, cfg)
    texture = Texture(rng, sp)
    series_rows, counts = [], {"reversed_series": 0, "rle_files": 0, "files": 0}
    for number, plan in enumerate(plans, start=1):
        for i, pixels in enumerate(render_series(rng, sp, plan, float(cfg["image_noise"]), texture)):
            path = Path(root) / f"{part}_images" / str(study_id) / str(plan.series_id) / f"{plan.instance_number(i)}.dcm"
            write_slice(path, pixels, plan, i, study_id, int(cfg["seed"]), number)
        series_rows.append({STUDY_ID: study_id, SERIES_ID: plan.series_id, SERIES_DESCRIPTION: plan.view})
        counts["reversed_series"] += int(plan.reversed_numbers)
        counts["rle_files"] += int(sum(plan.rle))
        counts["files"] += len(plan.positions)
    labels = [] if part != "train" else [
        {STUDY_ID: study_id, **r} for r in label_points(sp, plans, dict(zip(LABEL_COLUMNS, grades)))]
    counts["axial_series"] = sum(p.view == AXIAL_T2 for p in plans)
    counts["axial_multi_stack"] = sum(p.view == AXIAL_T2 and len(set(p.blocks)) > 1 for p in plans)
    counts["axial_tilted_stack"] = sum(p.view == AXIAL_T2 and len(set(p.blocks)) == 1 for p in plans)
    counts["series"] = len(plans)
    return series_rows, labels, counts


def _grade_frame(ids: list[int], grades: np.ndarray) -> pd.DataFrame:
    text = np.where(grades < 0, None, np.array(GRADES, dtype=object)[np.clip(grades, 0, 2)])
    df = pd.DataFrame(text, columns=list(LABEL_COLUMNS))
    df.insert(0, STUDY_ID, ids)
    return df.sort_values(STUDY_ID).reset_index(drop=True)


def synthesize(cfg, out_dir: Path, sheet_path: Path | None = None, metrics_path: Path | None = None) -> dict:
    """Write the synthetic data set; cfg is the params `synthetic:` section. Returns the metrics."""
    out_dir = Path(out_dir)
    kaggle = out_dir / "kaggle"
    kaggle.mkdir(parents=True, exist_ok=True)
    seed, n_train, n_test = int(cfg["seed"]), int(cfg["n_train"]), int(cfg["n_test"])
    noise = float(cfg["reader_noise"])
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    ids = [1_000_000 + int(v) for v in rng.choice(3_999_000_000, n, replace=False)]
    latents = sample_latents(rng, n)
    grades = read_grades(rng, latents, noise)
    grades[n_train:] = np.where(grades[n_train:] < 0, 0, grades[n_train:])  # test studies are fully graded
    parts = ["train"] * n_train + ["test"] * n_test
    jobs = [(i, ids[i], parts[i], latents[i], grades[i], dict(cfg), str(kaggle)) for i in range(n)]
    workers = int(cfg["workers"]) or os.cpu_count() or 1
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(tqdm(pool.map(_one_study, jobs), total=n, desc="synthesize", unit="study"))
    else:
        results = [_one_study(j) for j in tqdm(jobs, desc="synthesize", unit="study")]
    series = pd.DataFrame([r for res in results for r in res[0]])
    for part in ("train", "test"):
        part_ids = set(ids[:n_train] if part == "train" else ids[n_train:])
        series[series[STUDY_ID].isin(part_ids)].sort_values([STUDY_ID, SERIES_ID]).to_csv(
            kaggle / f"{part}_series_descriptions.csv", index=False)
    train = _grade_frame(ids[:n_train], grades[:n_train])
    train.to_csv(kaggle / "train.csv", index=False)
    coords = pd.DataFrame([r for res in results for r in res[1]])
    coords["condition"] = [CONDITION_LABELS[COLUMN_PARTS[c][0]] for c in coords["column"]]
    coords["level"] = [LEVEL_LABELS[COLUMN_PARTS[c][1]] for c in coords["column"]]
    coords = coords.sort_values([STUDY_ID, SERIES_ID, "instance_number", "column"])
    coords[[STUDY_ID, SERIES_ID, "instance_number", "condition", "level", "x", "y"]].to_csv(
        kaggle / "train_label_coordinates.csv", index=False)
    test_ids = sorted(ids[n_train:])
    sample = pd.DataFrame({ROW_ID: [row_id(s, c) for s in test_ids for c in LABEL_COLUMNS]})
    for c in SUBMISSION_COLUMNS:
        sample[c] = 1.0 / 3
    sample.to_csv(kaggle / "sample_submission.csv", index=False, float_format="%.6f")
    test_labels = _grade_frame(ids[n_train:], grades[n_train:])
    test_labels.to_csv(out_dir / "test_labels.csv", index=False)
    post = posterior(latents, noise)
    oracle = pd.DataFrame({ROW_ID: [row_id(ids[i], c) for i in range(n) for c in LABEL_COLUMNS]})
    for k, c in enumerate(SUBMISSION_COLUMNS):
        oracle[c] = post[:, :, k].reshape(-1)
    oracle = oracle.sort_values(ROW_ID).reset_index(drop=True)
    oracle.to_csv(out_dir / "oracle.csv", index=False, float_format="%.6f")
    sol = solution_table(train)
    counts = pd.DataFrame([r[2] for r in results])
    metrics = {
        "oracle_score": round(score(sol, oracle[oracle[ROW_ID].isin(sol[ROW_ID])]), 4),
        "prior_score": round(score(sol, prior_submission(prior_table(sol), sol[ROW_ID])), 4),
        "train_studies": n_train, "test_studies": n_test, "files": int(counts["files"].sum()),
        "multi_axial_studies": int((counts["axial_series"] > 1).sum()),
        "axial_series_with_blocks": int(counts["axial_multi_stack"].sum()),
        "axial_series_one_tilted_stack": int(counts["axial_tilted_stack"].sum()),
        "missing_series_studies": int((counts["series"] < 3 + (counts["axial_series"] > 1)).sum()),
        "reversed_series": int(counts["reversed_series"].sum()), "rle_files": int(counts["rle_files"].sum()),
        "blank_cells": int(train[list(LABEL_COLUMNS)].isna().sum().sum()),
    }
    if metrics_path is not None:
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    if sheet_path is not None:
        from .contact_sheet import contact_sheet
        contact_sheet(kaggle, sorted(ids[:n_train])[0], sheet_path)
    return metrics
