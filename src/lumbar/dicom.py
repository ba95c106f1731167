"""DICOM series loader: slices in spatial order with their geometry, and never a crash on one bad file.

InstanceNumber is not always spatial order in real studies, so slices are sorted by their position
along the slice normal. A file that cannot be used (truncated, not DICOM, no pixel data, a transfer
syntax nothing here decodes, missing or degenerate geometry, a header value of the wrong type, a size
that differs from the series) is left out and reported as (path, reason); the rest of the series is
still read. Every header value is converted here, inside that guard, never by a bare int()/float().
"""
from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

__all__ = ["Slice", "Series", "read_series", "read_slice", "group_stacks", "stack_bounds", "DicomReadError"]


class DicomReadError(ValueError):
    """One file that cannot be used; the message names the file and says why."""


@dataclass(frozen=True)
class Slice:
    """One image's geometry (DICOM LPS patient frame, mm); see the contract's conventions."""

    path: Path
    instance_number: int
    position: np.ndarray          # ImagePositionPatient (3,)
    row_cos: np.ndarray           # direction of increasing column index (3,)
    col_cos: np.ndarray           # direction of increasing row index (3,)
    spacing: tuple[float, float]  # PixelSpacing: (row spacing, column spacing)
    rows: int
    columns: int

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.row_cos, self.col_cos)


@dataclass
class Series:
    """A series' readable slices, stack by stack, and what was skipped.

    A series may hold several stacks (real axial T2 series are often one block of slices per disc,
    each angled along its own disc). `stacks[i]` is slice i's stack; each stack's slices are in
    spatial order along that stack's own normal, and the stacks follow each other along `normal`
    (the mean of their normals), so for a one-stack series this is plain spatial order.
    """

    slices: list[Slice]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    normal: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    _pixels: list[np.ndarray] | None = field(default=None, repr=False)
    stacks: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.stacks:
            self.stacks = [0] * len(self.slices)

    @property
    def n_stacks(self) -> int:
        return len(set(self.stacks))

    def bounds(self) -> list[tuple[int, int]]:
        """Each slice's stack as a (lo, hi) slice range: where its 2.5D neighbours may come from."""
        return [stack_bounds(self.stacks, i) for i in range(len(self.slices))]

    def index_of(self, instance_number: int) -> int:
        """slice_index of an InstanceNumber; KeyError naming it when the series lacks it."""
        for i, s in enumerate(self.slices):
            if s.instance_number == int(instance_number):
                return i
        raise KeyError(f"instance {instance_number} not in series ({len(self.slices)} readable slices)")

    @property
    def instance_map(self) -> dict[int, int]:
        return {s.instance_number: i for i, s in enumerate(self.slices)}

    def pixels(self) -> np.ndarray:
        """(n, rows, columns) modality values (rescale applied): int where exact, else float32.

        A series read with pixels=False decodes here, and a file that fails now raises
        DicomReadError naming it (headers alone cannot prove pixel data is decodable).
        """
        if self._pixels is None:
            self._pixels = [_read_pixels(s.path) for s in self.slices]
        if not self._pixels:
            return np.zeros((0, 0, 0), dtype=np.int16)
        if any(p.dtype.kind == "f" for p in self._pixels):
            return np.stack([p.astype(np.float32, copy=False) for p in self._pixels])
        return np.stack(self._pixels)


# Tags a file must have to be a usable slice: a file read without its preamble must show them all.
_NEEDED = ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows", "Columns", "InstanceNumber")
# A DICOM file without its preamble starts with a file meta (0002) or identifying (0008) element.
_BARE_GROUPS = (0x0002, 0x0008)


def _looks_bare(path: Path) -> bool:
    """Whether a file pydicom refused starts like a DICOM data set that lacks the preamble and 'DICM'."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return len(head) == 4 and (struct.unpack("<H", head[:2])[0] in _BARE_GROUPS or
                               struct.unpack(">H", head[:2])[0] in _BARE_GROUPS)  # either byte order


def _dcmread(path: Path, stop_before_pixels: bool) -> pydicom.Dataset:
    """dcmread that accepts a file without preamble yet still refuses what is not DICOM at all."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except pydicom.errors.InvalidDicomError:
        if not _looks_bare(path):
            raise DicomReadError(f"{path}: not a DICOM file") from None
        try:  # force=True parses anything, so below the result must prove it is a slice
            ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
            missing = [k for k in _NEEDED if k not in ds]
        except Exception:
            missing = ["a parsable header"]
        if missing:
            raise DicomReadError(f"{path}: not a DICOM file") from None
    except Exception as exc:  # truncated headers raise EOFError, OSError, struct errors, ...
        raise DicomReadError(f"{path}: unreadable DICOM: {type(exc).__name__}: {exc}") from None
    meta = ds.file_meta if getattr(ds, "file_meta", None) is not None else FileMetaDataset()
    if "TransferSyntaxUID" not in meta:  # no file meta: pixel decoding needs the syntax the data set was read in
        implicit, little = getattr(ds, "original_encoding", (True, True))
        meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                                  ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        ds.file_meta = meta
    return ds


def _get(ds: pydicom.Dataset, keyword: str, path: Path) -> Any:
    """A header value as pydicom converts it; DicomReadError naming the tag if conversion fails."""
    try:
        return ds.get(keyword)
    except Exception as exc:  # pydicom's reading_validation_mode=RAISE turns bad values into errors here
        raise DicomReadError(f"{path}: {keyword} cannot be read: {type(exc).__name__}: {exc}") from None


def _shown(value: Any) -> str:
    """A header value as written in the file (pydicom keeps the text of IS/DS values)."""
    text = getattr(value, "original_string", None)
    if text is not None:
        return repr(str(text))
    if isinstance(value, (list, tuple, MultiValue)):
        return repr(list(value))
    return repr(value)


def _blank(value: Any) -> bool:
    """Absent, empty or all spaces: DICOM's way of saying 'no value' (type 2 elements)."""
    if isinstance(value, (str, bytes)):
        return not value.strip()
    return value is None or (isinstance(value, MultiValue) and len(value) == 0)


def _number(ds: pydicom.Dataset, keyword: str, path: Path, default: float | None = None,
            integer: bool = False) -> float | int:
    """One finite number (integral if asked) from a tag; absent or blank gives default (None: required)."""
    value = _get(ds, keyword, path)
    if _blank(value):
        if default is None:
            raise DicomReadError(f"{path}: no {keyword}")
        return default
    kind = "an integer" if integer else "a number"
    if isinstance(value, (bytes, list, tuple, MultiValue)):  # several values, or bytes pydicom could not type
        raise DicomReadError(f"{path}: {keyword} {_shown(value)} is not {kind}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DicomReadError(f"{path}: {keyword} {_shown(value)} is not {kind}") from None
    if not math.isfinite(number) or (integer and not number.is_integer()):
        raise DicomReadError(f"{path}: {keyword} {_shown(value)} is not {kind}")
    if not integer:
        return number
    return int(value) if isinstance(value, int) else int(number)  # IS and US values are ints: no rounding


def _floats(ds: pydicom.Dataset, keyword: str, n: int, path: Path) -> np.ndarray:
    value = _get(ds, keyword, path)
    if value is None:
        raise DicomReadError(f"{path}: no {keyword}")
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise DicomReadError(f"{path}: {keyword} is not numeric: {_shown(value)}") from None
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise DicomReadError(f"{path}: {keyword} should be {n} finite numbers, got {_shown(value)}")
    return arr


def _orientation(ds: pydicom.Dataset, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Row and column direction cosines, refusing the degenerate ones that give no slice normal."""
    iop = _floats(ds, "ImageOrientationPatient", 6, path)
    row_cos, col_cos = iop[:3], iop[3:]
    shown = [float(v) for v in iop]
    for name, vec in (("row", row_cos), ("column", col_cos)):
        if np.linalg.norm(vec) < 1e-6:
            raise DicomReadError(f"{path}: ImageOrientationPatient {name} direction is a zero vector: {shown}")
    if abs(np.linalg.norm(row_cos) - 1) > 0.05 or abs(np.linalg.norm(col_cos) - 1) > 0.05:
        raise DicomReadError(f"{path}: ImageOrientationPatient is not two unit vectors: {shown}")
    if np.linalg.norm(np.cross(row_cos, col_cos)) < 0.05:
        raise DicomReadError(f"{path}: ImageOrientationPatient row and column directions are parallel: {shown}")
    if abs(float(np.dot(row_cos, col_cos))) > 0.05:
        raise DicomReadError(f"{path}: ImageOrientationPatient row and column directions are not "
                             f"perpendicular: {shown}")
    return row_cos, col_cos


def _geometry(ds: pydicom.Dataset, path: Path) -> Slice:
    """Slice geometry from a dataset's header; DicomReadError when a needed tag is missing/bad."""
    row_cos, col_cos = _orientation(ds, path)
    spacing = _floats(ds, "PixelSpacing", 2, path)
    if (spacing <= 0).any():
        raise DicomReadError(f"{path}: PixelSpacing must be positive, got {[float(v) for v in spacing]}")
    rows, cols = (_number(ds, k, path, integer=True) for k in ("Rows", "Columns"))
    if rows <= 0 or cols <= 0:
        raise DicomReadError(f"{path}: Rows/Columns must be positive, got {rows}x{cols}")
    frames = _number(ds, "NumberOfFrames", path, default=1, integer=True)
    if frames not in (0, 1):  # 0 is what some writers put for 'not multi-frame'
        raise DicomReadError(f"{path}: multi-frame image ({frames} frames) not supported")
    inst = _number(ds, "InstanceNumber", path, integer=True)
    return Slice(path=path, instance_number=inst, position=_floats(ds, "ImagePositionPatient", 3, path),
                 row_cos=row_cos, col_cos=col_cos, spacing=(float(spacing[0]), float(spacing[1])),
                 rows=rows, columns=cols)


def _rescale(ds: pydicom.Dataset, path: Path) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept); absent, blank or a zero slope mean the identity, as before."""
    slope = _number(ds, "RescaleSlope", path, default=1.0) or 1.0
    intercept = _number(ds, "RescaleIntercept", path, default=0.0)
    return float(slope), float(intercept)


def _check_decodable(ds: pydicom.Dataset, path: Path) -> None:
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if tsyntax is None:
        return  # _dcmread sets it from how the data set was read; uncompressed, always decodable
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise DicomReadError(f"{path}: transfer syntax {tsyntax.name} ({tsyntax}) has no decoder") from None
    if not decoder.is_available:
        raise DicomReadError(f"{path}: transfer syntax {tsyntax.name} needs a decoder plugin that is not installed")


def _decode(ds: pydicom.Dataset, path: Path) -> np.ndarray:
    """Pixel values with RescaleSlope/Intercept applied (float32 only when the rescale is not integral)."""
    if "PixelData" not in ds:
        raise DicomReadError(f"{path}: no pixel data")
    _check_decodable(ds, path)
    try:
        arr = ds.pixel_array
    except Exception as exc:  # decoders raise many types; the file is what is wrong
        raise DicomReadError(f"{path}: pixel data cannot be decoded: {type(exc).__name__}: {exc}") from None
    if arr.ndim != 2:
        raise DicomReadError(f"{path}: expected one 2-D grey image, got pixel array of shape {arr.shape}")
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":  # inverted grey scale: bright = low
        wide = arr.astype(np.int32) if arr.dtype.kind in "iu" else arr
        arr = (wide.max() + wide.min() - wide).astype(arr.dtype)
    slope, intercept = _rescale(ds, path)
    if slope == 1 and intercept == 0:
        return arr
    if slope.is_integer() and intercept.is_integer():
        return arr.astype(np.int32) * int(slope) + int(intercept)
    return (arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def _guarded(path: Path, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), with any error a header value could still cause reported as this file's DicomReadError."""
    try:
        return fn(*args)
    except DicomReadError:
        raise
    except Exception as exc:  # a value no check foresaw: still this file's fault, not the run's
        raise DicomReadError(f"{path}: unusable header: {type(exc).__name__}: {exc}") from None


def _read_pixels(path: Path) -> np.ndarray:
    return _guarded(path, _decode, _dcmread(path, stop_before_pixels=False), path)


def _read(ds: pydicom.Dataset, path: Path, pixels: bool) -> tuple[Slice, np.ndarray | None]:
    geom = _geometry(ds, path)
    _rescale(ds, path)  # checked here too, so a header-only read skips what decoding would refuse
    if not pixels:
        _check_decodable(ds, path)
        return geom, None
    arr = _decode(ds, path)
    if arr.shape != (geom.rows, geom.columns):
        raise DicomReadError(f"{path}: pixel array {arr.shape} does not match Rows/Columns")
    return geom, arr


def read_slice(path: str | Path, pixels: bool = True) -> tuple[Slice, np.ndarray | None]:
    """Read one file (pixels decoded when asked); DicomReadError naming the file when it is unusable."""
    path = Path(path)
    return _guarded(path, _read, _dcmread(path, stop_before_pixels=not pixels), path, pixels)


def read_series(series_dir: str | Path, pixels: bool = True) -> Series:
    """Read every file of a series folder (one read per file); unusable files go to .skipped.

    pixels=False reads headers only (stop_before_pixels), for callers that need geometry alone.
    """
    series_dir = Path(series_dir)
    files = sorted((p for p in series_dir.iterdir() if p.is_file()), key=lambda p: p.name) \
        if series_dir.is_dir() else []
    good: list[tuple[Slice, np.ndarray | None]] = []
    skipped: list[tuple[str, str]] = []
    for path in files:
        try:
            good.append(read_slice(path, pixels=pixels))
        except DicomReadError as exc:
            skipped.append((str(path), str(exc).removeprefix(f"{path}: ")))
    if not good:
        return Series([], skipped)
    # The series' image size is that of most of its files (a volume needs one); odd ones out are skipped.
    shape = Counter((s.rows, s.columns) for s, _ in good).most_common(1)[0][0]
    kept, seen = [], set()
    # Of two files with one InstanceNumber, keep the one named after it (Kaggle's {instance}.dcm).
    order = sorted(range(len(good)), key=lambda i: (good[i][0].path.stem != str(good[i][0].instance_number), i))
    for s, arr in (good[i] for i in order):
        if (s.rows, s.columns) != shape:
            skipped.append((str(s.path), f"size {s.rows}x{s.columns} differs from the series' {shape[0]}x{shape[1]}"))
        elif s.instance_number in seen:
            skipped.append((str(s.path), f"duplicate InstanceNumber {s.instance_number}"))
        else:
            seen.add(s.instance_number)
            kept.append((s, arr))
    stacks, normal = group_stacks([s for s, _ in kept])
    ordered = [(kept[i], k) for k, members in enumerate(stacks) for i in members]
    skipped.sort()
    return Series([s for (s, _), _ in ordered], skipped, normal,
                  [a for (_, a), _ in ordered] if pixels else None, [k for _, k in ordered])


def stack_bounds(stacks, slice_index: int) -> tuple[int, int]:
    """(lo, hi) slice range of the stack holding `slice_index`, from per-slice stack ids (contiguous runs)."""
    k = stacks[slice_index]
    lo, hi = slice_index, slice_index + 1
    while lo > 0 and stacks[lo - 1] == k:
        lo -= 1
    while hi < len(stacks) and stacks[hi] == k:
        hi += 1
    return lo, hi



STACK_ANGLE_DEG = 1.0   # slices whose normals differ by more belong to different stacks
STACK_GAP = 2.5         # ... and so do neighbours further apart than this many times the stack's median step


def group_stacks(slices: list[Slice]) -> tuple[list[list[int]], np.ndarray]:
    """Slice indices grouped into stacks, each in order along its own normal, stacks in order along
    the series' mean normal; and that mean normal.

    A stack is a run of parallel slices: same orientation (within STACK_ANGLE_DEG) and no gap wider
    than STACK_GAP steps, so per-disc blocks that happen to share a tilt are still told apart.
    """
    cos_tol = np.cos(np.radians(STACK_ANGLE_DEG))
    groups: list[tuple[np.ndarray, list[int]]] = []
    for i, s in enumerate(slices):
        n = s.normal / np.linalg.norm(s.normal)
        for ref, members in groups:
            if float(np.dot(ref, n)) >= cos_tol:
                members.append(i)
                break
        else:
            groups.append((n, [i]))
    stacks: list[tuple[np.ndarray, list[int]]] = []
    for ref, members in groups:
        members.sort(key=lambda i: (float(np.dot(slices[i].position, ref)), slices[i].instance_number))
        along = np.array([float(np.dot(slices[i].position, ref)) for i in members])
        steps = np.diff(along)
        typical = float(np.median(steps[steps > 1e-6])) if (steps > 1e-6).any() else 0.0
        start = 0
        for k in range(1, len(members) + 1):
            if k == len(members) or (typical > 0 and steps[k - 1] > STACK_GAP * typical):
                stacks.append((ref, members[start:k]))
                start = k
    mean = np.sum([ref * len(m) for ref, m in stacks], axis=0)
    mean = mean / np.linalg.norm(mean) if np.linalg.norm(mean) > 0 else stacks[0][0]
    stacks.sort(key=lambda st: (float(np.mean([np.dot(slices[i].position, mean) for i in st[1]])), st[1][0]))
    return [m for _, m in stacks], mean
