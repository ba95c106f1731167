"""The extract stage: Kaggle DICOM -> windowed uint8 volumes and one slice-geometry table.

Output (out_dir): slices.parquet (vocabulary.SLICE_COLUMNS, sorted by study, series, slice_index),
images/{study_id}/{series_id}.npy (uint8, (n, rows, cols), slice_index order), skipped.csv (path, reason)
and report.json. Only the study/series the CSV lists are read, each file exactly once, series in
parallel. Nothing patient-identifying is copied: the table holds ids and geometry only. Paths in the
outputs are relative to kaggle_dir, so the bytes do not depend on where the data lives.
"""
from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from .dicom import read_series
from .extracted import SLICES_FILE, volume_path
from .kaggle import disk_inventory, read_kaggle, series_image_dir
from .windowing import window_uint8
from .vocabulary import INSTANCE_NUMBER, SERIES_DESCRIPTION, SERIES_ID, SLICE_COLUMNS, STUDY_ID

__all__ = ["extract", "write_parquet"]


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Parquet with no pandas/version metadata beyond pyarrow's own, so the bytes are reproducible."""
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd", compression_level=3, use_dictionary=True,
                   write_statistics=False, store_schema=False)


_INT_COLUMNS = (STUDY_ID, SERIES_ID, INSTANCE_NUMBER, "slice_index", "stack", "rows", "columns")
_FLOAT_COLUMNS = tuple(c for c in SLICE_COLUMNS if c not in (*_INT_COLUMNS, SERIES_DESCRIPTION))


def _extract_one(job: tuple) -> tuple[tuple[np.ndarray, np.ndarray, str] | None, list[tuple[str, str]], str | None]:
    """Read, window and save one series; returns its table rows (int and float columns as arrays, and
    the description: a few bytes per slice, where Python tuples of the real data set's ~147,000
    slices would hold ~90 MiB in the parent), skipped files, and a problem if empty."""
    kaggle_dir, part, study, series_id, desc, out_dir, low, high = job
    root = Path(kaggle_dir)
    sdir = series_image_dir(root, part, study, series_id)
    s = read_series(sdir)
    skipped = [(Path(p).relative_to(root).as_posix(), reason.replace(str(root), "")) for p, reason in s.skipped]
    if not s.slices:
        return None, skipped, f"{study}/{series_id}"
    vol = window_uint8(s.pixels(), low, high)
    target = volume_path(out_dir, study, series_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.save(target, vol, allow_pickle=False)
    ints = np.array([(study, series_id, sl.instance_number, i, k, sl.rows, sl.columns)
                     for i, (sl, k) in enumerate(zip(s.slices, s.stacks))], dtype=np.int64)
    floats = np.array([(*map(float, sl.position), *map(float, sl.row_cos), *map(float, sl.col_cos),
                        float(sl.spacing[0]), float(sl.spacing[1])) for sl in s.slices], dtype=np.float64)
    return (ints, floats, desc), skipped, None


def extract(kaggle_dir: str | Path, out_dir: str | Path, workers: int = 0, low_pct: float = 0.5,
            high_pct: float = 99.5, part: str = "train", progress: bool = True) -> dict[str, Any]:
    """Extract every listed series of one part; returns (and writes) the report. workers 0 = all cores."""
    kaggle_dir, out_dir = Path(kaggle_dir).resolve(), Path(out_dir)
    data = read_kaggle(kaggle_dir, part)
    inventory = disk_inventory(kaggle_dir, part, data.series)
    missing = set(inventory.get("series_missing_on_disk", []))
    jobs = [(str(kaggle_dir), part, int(r[STUDY_ID]), int(r[SERIES_ID]), str(r[SERIES_DESCRIPTION]), str(out_dir),
             float(low_pct), float(high_pct))
            for _, r in data.series.iterrows() if f"{r[STUDY_ID]}/{r[SERIES_ID]}" not in missing]
    if (out_dir / "images").exists():
        shutil.rmtree(out_dir / "images")  # no stale volumes from an earlier run
    (out_dir / "images").mkdir(parents=True, exist_ok=True)

    workers = int(workers) or os.cpu_count() or 1
    results = []
    bar = tqdm(total=len(jobs), desc=f"extract {part}", unit="series", disable=not progress, mininterval=1.0)
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_extract_one(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            for fut in as_completed([pool.submit(_extract_one, j) for j in jobs]):
                results.append(fut.result())
                bar.update()
    bar.close()

    parts = [r for r, _, _ in results if r is not None]
    ints = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, len(_INT_COLUMNS)), np.int64)
    floats = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, len(_FLOAT_COLUMNS)), np.float64)
    columns = {**{c: ints[:, j] for j, c in enumerate(_INT_COLUMNS)},
               **{c: floats[:, j] for j, c in enumerate(_FLOAT_COLUMNS)},
               SERIES_DESCRIPTION: np.repeat(np.array([p[2] for p in parts], dtype=object), [len(p[0]) for p in parts])}
    table = pd.DataFrame({c: columns[c] for c in SLICE_COLUMNS})
    table = table.sort_values([STUDY_ID, SERIES_ID, "slice_index"], kind="stable").reset_index(drop=True)
    write_parquet(table, out_dir / SLICES_FILE)
    skipped = pd.DataFrame(sorted(s for _, sk, _ in results for s in sk), columns=["path", "reason"])
    skipped.to_csv(out_dir / "skipped.csv", index=False, lineterminator="\n")

    report: dict[str, Any] = {
        "part": part, "low_percentile": float(low_pct), "high_percentile": float(high_pct),
        "series_listed": int(len(data.series)), "series_extracted": int(table.groupby([STUDY_ID, SERIES_ID]).ngroups),
        "slices": int(len(table)), "skipped_files": int(len(skipped)),
        "stacks": int(table.groupby([STUDY_ID, SERIES_ID])["stack"].nunique().sum()) if len(table) else 0,
        "series_with_several_stacks": int((table.groupby([STUDY_ID, SERIES_ID])["stack"].nunique() > 1).sum())
        if len(table) else 0,
        "series_without_readable_slices": sorted(e for _, _, e in results if e),
        **{k: v for k, v in inventory.items()},
        "csv": {k: v for k, v in data.report.items() if not k.endswith("_examples") and k != "images_dir_found"
                and k not in inventory},
    }
    with open(out_dir / "report.json", "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return report
