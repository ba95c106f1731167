"""Reader of the Kaggle RSNA 2024 layout that validates while it reads.

Malformed input (an unknown condition, level, grade or description, a non-integer, path-like or
over-64-bit id, a point that cannot lie on any image) raises KaggleFormatError naming the file, the
1-based line of the file and the value. What real data normally has (blank grades, a missing series,
several axial series, a series or study folder the CSV does not list) is counted in KaggleData.report
instead. CRLF, a UTF-8 BOM, blank lines and series descriptions in other case or spacing are fine.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .vocabulary import (AXIAL_T2, GRADES, INSTANCE_NUMBER, LABEL_COLUMNS, ROW_ID, SERIES_DESCRIPTION,
                         SERIES_ID, STUDY_ID, SUBMISSION_COLUMNS, VIEWS, column_name, normalize_condition,
                         normalize_level, normalize_view, split_row_id)

__all__ = ["KaggleFormatError", "KaggleData", "read_kaggle", "study_image_dir", "series_image_dir",
           "check_coordinates", "disk_inventory", "PARTS", "COORDINATE_COLUMNS"]

PARTS: tuple[str, ...] = ("train", "test")
COORDINATE_COLUMNS: tuple[str, ...] = (STUDY_ID, SERIES_ID, INSTANCE_NUMBER, "condition", "level", "column",
                                       "x", "y")
_DIGITS = re.compile(r"^[0-9]+$")
_INT64_MAX = int(np.iinfo(np.int64).max)
log = logging.getLogger(__name__)


class KaggleFormatError(ValueError):
    """Malformed Kaggle input; the message names the file, row (1-based line) and value."""


@dataclass
class KaggleData:
    """One part (train or test) of a Kaggle-layout data set, validated."""

    part: str
    labels: pd.DataFrame          # study_id + 25 LABEL_COLUMNS, grade strings, NaN = blank (empty for test)
    series: pd.DataFrame          # study_id, series_id, series_description
    coordinates: pd.DataFrame     # COORDINATE_COLUMNS; index = line of the coordinates CSV (empty for test)
    sample_submission: pd.DataFrame | None
    report: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def _error(file: Path, row: int | None, what: str) -> KaggleFormatError:
    where = f"{file}: row {row}: " if row is not None else f"{file}: "
    return KaggleFormatError(where + what)


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """All cells as stripped strings; the index is the 1-based line of the file where each row starts.

    Parsed with the csv module, not pandas: pandas drops blank lines before it numbers rows, so every
    row after a blank line would be named by the wrong line. Blank (or all-whitespace) lines are
    skipped as pandas skips them; df.attrs["header_row"] is the header's line.
    """
    if not path.is_file():
        raise _error(path, None, "file not found")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(path, None, f"not a readable CSV: {exc}") from None
    records: list[tuple[int, list[str]]] = []
    reader, line = csv.reader(io.StringIO(text, newline="")), 1
    try:
        for fields in reader:
            if len(fields) > 1 or (fields and fields[0].strip()):
                records.append((line, [f.strip() for f in fields]))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise _error(path, line, f"not a readable CSV: {exc}") from None
    if not records:
        raise _error(path, None, f"empty file, expected a header with {list(required)}")
    (header_row, columns), body = records[0], records[1:]
    missing = [c for c in required if c not in columns]
    if missing:
        raise _error(path, header_row, f"missing column(s) {missing}; header is {columns}")
    repeated = [c for c, n in Counter(columns).items() if n > 1]
    if repeated:
        raise _error(path, header_row, f"column {repeated[0]!r} appears more than once in the header")
    width = len(columns)
    for row, fields in body:
        if len(fields) > width:
            raise _error(path, row, f"{len(fields)} fields, but the header has {width}")
    df = pd.DataFrame([f + [""] * (width - len(f)) for _, f in body], columns=columns, dtype=str,
                      index=pd.Index([r for r, _ in body], dtype="int64", name="csv_row"))
    df.attrs["header_row"] = header_row
    return df


def _ids(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    """A column of ids as int64; an id that int64 cannot hold is an error, never an overflow."""
    bad = ~df[column].str.fullmatch(_DIGITS.pattern)
    if bad.any():
        row = df.index[bad.to_numpy()][0]
        raise _error(path, row, f"{column} {df.at[row, column]!r} is not a non-negative integer")
    big = df[column].map(lambda s: int(s) > _INT64_MAX).astype(bool)
    if big.any():
        row = df.index[big.to_numpy()][0]
        raise _error(path, row, f"{column} {df.at[row, column]!r} is too large (ids must fit in 64 bits)")
    return df[column].astype("int64")


def _normalized(df: pd.DataFrame, column: str, norm: Callable[[str], str], path: Path,
                expected: str = "") -> pd.Series:
    """A column mapped through a vocabulary normaliser; the first unknown value is an error naming its row."""
    names = {}
    for text in df[column].unique():
        try:
            names[text] = norm(text)
        except ValueError:
            row = df.index[(df[column] == text).to_numpy()][0]
            raise _error(path, row, f"unknown {column} {text!r}{expected}") from None
    return df[column].map(names)


def _floats(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values)
    if bad.any():
        row = df.index[bad.to_numpy()][0]
        raise _error(path, row, f"{column} {df.at[row, column]!r} is not a finite number")
    return values.astype("float64")


def _read_labels(path: Path) -> pd.DataFrame:
    df = _read_csv(path, (STUDY_ID, *LABEL_COLUMNS))
    extra = [c for c in df.columns if c not in (STUDY_ID, *LABEL_COLUMNS)]
    if extra:
        raise _error(path, df.attrs["header_row"], f"unknown column {extra[0]!r} (not a known condition_level)")
    df[STUDY_ID] = _ids(df, STUDY_ID, path)
    dup = df[STUDY_ID].duplicated()
    if dup.any():
        raise _error(path, df.index[dup.to_numpy()][0], f"study_id {df[STUDY_ID][dup].iloc[0]} repeated")
    for col in LABEL_COLUMNS:
        bad = ~df[col].isin(("", *GRADES))
        if bad.any():
            row = df.index[bad.to_numpy()][0]
            raise _error(path, row, f"{col}: unknown grade {df.at[row, col]!r} "
                                    f"(expected one of {list(GRADES)} or blank)")
    out = df[[STUDY_ID, *LABEL_COLUMNS]].replace("", np.nan)
    return out.sort_values(STUDY_ID).reset_index(drop=True)  # ids are unique (checked above)


def _read_series(path: Path) -> pd.DataFrame:
    df = _read_csv(path, (STUDY_ID, SERIES_ID, SERIES_DESCRIPTION))
    df[STUDY_ID] = _ids(df, STUDY_ID, path)
    df[SERIES_ID] = _ids(df, SERIES_ID, path)
    df[SERIES_DESCRIPTION] = _normalized(df, SERIES_DESCRIPTION, normalize_view, path,
                                         f" (expected one of {list(VIEWS)})")
    dup = df.duplicated([STUDY_ID, SERIES_ID])
    if dup.any():
        row = df.index[dup.to_numpy()][0]
        raise _error(path, row, f"series {df.at[row, STUDY_ID]}/{df.at[row, SERIES_ID]} listed twice")
    out = df[[STUDY_ID, SERIES_ID, SERIES_DESCRIPTION]]
    return out.sort_values([STUDY_ID, SERIES_ID]).reset_index(drop=True)  # unique pairs (checked above)


def _read_coordinates(path: Path) -> pd.DataFrame:
    df = _read_csv(path, (STUDY_ID, SERIES_ID, INSTANCE_NUMBER, "condition", "level", "x", "y"))
    out = pd.DataFrame(index=df.index)
    for col in (STUDY_ID, SERIES_ID, INSTANCE_NUMBER):
        out[col] = _ids(df, col, path)
    for col, norm in (("condition", normalize_condition), ("level", normalize_level)):
        out[col] = _normalized(df, col, norm, path)
    out["column"] = [column_name(c, lv) for c, lv in zip(out["condition"], out["level"])]
    for col in ("x", "y"):
        out[col] = _floats(df, col, path)
        neg = out[col] < 0
        if neg.any():
            row = out.index[neg.to_numpy()][0]
            raise _error(path, row, f"{col} {df.at[row, col]!r} lies outside the image (negative)")
    return out.sort_values([STUDY_ID, "column", SERIES_ID, INSTANCE_NUMBER])  # several keys: always stable


def _read_submission(path: Path) -> pd.DataFrame:
    df = _read_csv(path, (ROW_ID, *SUBMISSION_COLUMNS))
    for row, rid in df[ROW_ID].items():
        try:
            split_row_id(rid)
        except ValueError:
            raise _error(path, row, f"malformed row_id {rid!r}") from None
    for col in SUBMISSION_COLUMNS:
        df[col] = _floats(df, col, path)
    return df[[ROW_ID, *SUBMISSION_COLUMNS]].reset_index(drop=True)


def _coordinates_file(root: Path) -> Path:
    """train_label_coordinates.csv, or the one cleaned copy (train_label_coordinates*.csv) beside it."""
    exact = root / "train_label_coordinates.csv"
    if exact.is_file():
        return exact
    found = sorted(root.glob("train_label_coordinates*.csv"))
    if len(found) > 1:
        raise _error(root, None, f"several coordinate files, cannot choose: {[p.name for p in found]}")
    return found[0] if found else exact


def _check_id(value: Any, what: str) -> int:
    """An id as a non-negative int, refusing anything that could steer a path (e.g. '../x')."""
    if isinstance(value, (bool, np.bool_)):
        raise KaggleFormatError(f"refusing {what} {value!r}: not an integer id")
    if isinstance(value, (int, np.integer)) and value >= 0:
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise KaggleFormatError(f"refusing {what} {value!r}: not a non-negative integer id")


def study_image_dir(root: str | Path, part: str, study_id: Any) -> Path:
    """{root}/{part}_images/{study_id}, built only after the id is proven to be an integer."""
    if part not in PARTS:
        raise KaggleFormatError(f"unknown part {part!r} (expected one of {list(PARTS)})")
    return Path(root) / f"{part}_images" / str(_check_id(study_id, "study_id"))


def series_image_dir(root: str | Path, part: str, study_id: Any, series_id: Any) -> Path:
    return study_image_dir(root, part, study_id) / str(_check_id(series_id, "series_id"))


def disk_inventory(root: str | Path, part: str, series: pd.DataFrame) -> dict[str, Any]:
    """Listed series vs folders on disk: full sorted lists ('study/series' or 'study' strings)."""
    images = Path(root) / f"{part}_images"
    if not images.is_dir():
        return {"images_dir_found": False}
    on_disk: set[tuple[str, str]] = set()
    empty_studies, unlisted_studies = [], []
    listed_studies = {str(s) for s in series[STUDY_ID]}
    for study in sorted(p.name for p in images.iterdir() if p.is_dir()):
        subs = [p.name for p in (images / study).iterdir() if p.is_dir()]
        if not subs:
            empty_studies.append(study)
        if study not in listed_studies:
            unlisted_studies.append(study)
        on_disk.update((study, s) for s in subs)
    listed = {(str(a), str(b)) for a, b in zip(series[STUDY_ID], series[SERIES_ID])}
    return {
        "images_dir_found": True,
        "series_missing_on_disk": ["/".join(k) for k in sorted(listed - on_disk)],
        "series_on_disk_not_listed": ["/".join(k) for k in sorted(on_disk - listed)],
        "study_dirs_without_series": empty_studies,
        "study_dirs_not_listed": unlisted_studies,
    }


def _disk_report(root: Path, part: str, series: pd.DataFrame) -> dict[str, Any]:
    """disk_inventory as counts plus up to 10 examples of each."""
    rep: dict[str, Any] = {}
    for key, value in disk_inventory(root, part, series).items():
        if isinstance(value, list):
            rep[key], rep[f"{key}_examples"] = len(value), value[:10]
        else:
            rep[key] = value
    return rep


def _report(part: str, labels: pd.DataFrame, series: pd.DataFrame, coords: pd.DataFrame) -> dict[str, Any]:
    per_study = series.groupby(STUDY_ID)[SERIES_DESCRIPTION].agg(list)
    counts = [Counter(v) for v in per_study]
    rep: dict[str, Any] = {
        "part": part, "studies": int(len(per_study)), "series": int(len(series)),
        "series_by_description": {v: int((series[SERIES_DESCRIPTION] == v).sum()) for v in VIEWS},
        "studies_with_several_axial": int(sum(c[AXIAL_T2] > 1 for c in counts)),
        "studies_missing_view": {v: int(sum(c[v] == 0 for c in counts)) for v in VIEWS},
    }
    if part == "train":
        studies = set(per_study.index)
        rep.update({
            "labelled_studies": int(len(labels)),
            "blank_grades": int(labels[list(LABEL_COLUMNS)].isna().sum().sum()),
            "labelled_studies_without_series": int((~labels[STUDY_ID].isin(studies)).sum()),
            "points": int(len(coords)),
            "points_on_unlisted_series": int((~pd.MultiIndex.from_frame(coords[[STUDY_ID, SERIES_ID]]).isin(
                pd.MultiIndex.from_frame(series[[STUDY_ID, SERIES_ID]]))).sum()),
            "points_repeated": int(coords.duplicated([STUDY_ID, "column"]).sum()),
        })
        graded = labels.melt(id_vars=[STUDY_ID], var_name="column").dropna()  # one row per graded point
        has = pd.MultiIndex.from_frame(coords[[STUDY_ID, "column"]]).isin(
            pd.MultiIndex.from_frame(graded[[STUDY_ID, "column"]]))
        rep["points_without_grade"] = int((~has).sum())
    return rep


def read_kaggle(root: str | Path, part: str = "train") -> KaggleData:
    """Read and validate one part of a Kaggle-layout folder; KaggleFormatError on malformed input."""
    root = Path(root)
    if part not in PARTS:
        raise KaggleFormatError(f"unknown part {part!r} (expected one of {list(PARTS)})")
    files = {"series": root / f"{part}_series_descriptions.csv", "sample_submission": root / "sample_submission.csv"}
    series = _read_series(files["series"])
    if part == "train":
        files.update(labels=root / "train.csv", coordinates=_coordinates_file(root))
        labels = _read_labels(files["labels"])
        coords = _read_coordinates(files["coordinates"])  # a missing file: _read_csv names it
    else:
        labels = pd.DataFrame({STUDY_ID: pd.Series(dtype="int64"),
                               **{c: pd.Series(dtype=str) for c in LABEL_COLUMNS}})
        coords = pd.DataFrame({c: pd.Series(dtype="int64" if c in (STUDY_ID, SERIES_ID, INSTANCE_NUMBER) else
                                            ("float64" if c in ("x", "y") else str)) for c in COORDINATE_COLUMNS})
    sub = _read_submission(files["sample_submission"]) if files["sample_submission"].is_file() else None
    report = _report(part, labels, series, coords)
    report.update(_disk_report(root, part, series))
    if report.get("study_dirs_not_listed"):  # not read, and not fatal: said out loud so nobody assumes otherwise
        log.warning("%s: %d study folder(s) that no row of %s lists are not read: %s",
                    root / f"{part}_images", report["study_dirs_not_listed"], files["series"].name,
                    report["study_dirs_not_listed_examples"])
    if sub is not None and part == "test":
        sub_studies = {split_row_id(r)[0] for r in sub[ROW_ID]}
        report["submission_studies_not_listed"] = len(sub_studies - set(series[STUDY_ID]))
    return KaggleData(part, labels, series, coords[list(COORDINATE_COLUMNS)], sub, report, files)


def check_coordinates(data: KaggleData, root: str | Path, strict: bool = True) -> list[str]:
    """Check every label point against its DICOM header (instance exists, point inside the image).

    Reads one header per referenced instance ({instance_number}.dcm, stop_before_pixels). Returns the
    problems (file, row, value each); with strict=True the first problems raise KaggleFormatError.
    """
    from .dicom import DicomReadError, read_slice

    root, path = Path(root), data.files.get("coordinates", Path("train_label_coordinates.csv"))
    problems: list[str] = []
    sizes: dict[Path, tuple[int, int] | str] = {}
    for row, r in data.coordinates.iterrows():
        f = series_image_dir(root, data.part, r[STUDY_ID], r[SERIES_ID]) / f"{int(r[INSTANCE_NUMBER])}.dcm"
        if f not in sizes:
            try:
                s, _ = read_slice(f, pixels=False)
                sizes[f] = (s.rows, s.columns)
            except DicomReadError as exc:
                sizes[f] = "missing" if not f.is_file() else str(exc)
        size = sizes[f]
        where = f"{path}: row {row}: "
        if size == "missing":
            problems.append(where + f"instance_number {r[INSTANCE_NUMBER]} has no file {f}")
        elif isinstance(size, str):
            problems.append(where + f"instance_number {r[INSTANCE_NUMBER]}: {size}")
        elif not (0 <= r["x"] < size[1] and 0 <= r["y"] < size[0]):
            problems.append(where + f"point (x={r['x']}, y={r['y']}) outside the {size[1]}x{size[0]} image {f}")
    if strict and problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise KaggleFormatError("; ".join(problems[:3]) + more)
    return problems
