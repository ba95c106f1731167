"""How much the phantoms look like MRI: the same slices, statistics and sheet for phantoms and real scans.

A renderer change is only an improvement if it moves the phantoms towards real images, so both are
measured the same way: a phantom slice is windowed exactly as the pipeline windows it (its series
between the 0.5 / 99.5 percentiles, params `extract:`), a real reference PNG through the same
function, and every statistic is computed on a copy resized to SIZE x SIZE, so images of different
pixel counts (216-872 px real, smaller phantoms) compare fairly. Nothing here needs labels.

Real images are read from a folder given by the caller and never copied anywhere; without it the
real side is simply empty.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

from .dicom import read_series  # noqa: E402
from .vocabulary import (AXIAL_T2, INSTANCE_NUMBER, LEVELS, SAGITTAL_T1, SAGITTAL_T2,  # noqa: E402
                          SERIES_DESCRIPTION, SERIES_ID, STUDY_ID)
from .windowing import window_uint8  # noqa: E402

__all__ = ["WINDOW", "SIZE", "STAT_NAMES", "SEQUENCES", "study_ids", "series_volume", "mid_sagittal", "mid_axial",
           "real_images", "resized", "image_stats", "histogram_distance", "realism_sheet"]

WINDOW = (0.5, 99.5)     # params.yaml extract: low_percentile / high_percentile
SIZE = 256               # every statistic is computed on an image resized to SIZE x SIZE
BINS = 64                # intensity histogram bins over 0..255
BACKGROUND = 10          # uint8 value below which a windowed pixel counts as background (air)
EDGE = 0.1               # Sobel gradient magnitude (full scale = 1 per pixel) that counts as an edge
FREQ = (0.04, 0.3)       # mid frequencies (cycles / pixel at SIZE) of the power-spectrum fit
STAT_NAMES = ("mean", "std", "background", "edge_density", "spectral_slope", "noise")
SEQUENCES = {"t1": SAGITTAL_T1, "t2": SAGITTAL_T2}


def _series_table(kaggle_dir: Path) -> pd.DataFrame:
    """Every listed series, train first then test, with the part its images live under."""
    parts = []
    for part in ("train", "test"):
        f = Path(kaggle_dir) / f"{part}_series_descriptions.csv"
        if f.is_file():
            parts.append(pd.read_csv(f).assign(part=part))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=[STUDY_ID, SERIES_ID, SERIES_DESCRIPTION, "part"])


def study_ids(kaggle_dir: Path, view: str | None = None) -> list[int]:
    """Study ids in ascending order (those with a series of `view` when given): a fixed sample order."""
    t = _series_table(kaggle_dir)
    if view is not None:
        t = t[t[SERIES_DESCRIPTION] == view]
    return sorted(int(s) for s in t[STUDY_ID].unique())


def _first_series(kaggle_dir: Path, study_id: int, view: str):
    """(series_id, windowed uint8 volume, Series) of the study's first series of `view`, or None."""
    t = _series_table(kaggle_dir)
    t = t[(t[STUDY_ID] == int(study_id)) & (t[SERIES_DESCRIPTION] == view)]
    if t.empty:
        return None
    row = t.iloc[0]
    series = read_series(Path(kaggle_dir) / f"{row['part']}_images" / str(int(study_id)) / str(int(row[SERIES_ID])))
    if not series.slices:
        return None
    return int(row[SERIES_ID]), window_uint8(series.pixels(), *WINDOW), series


def series_volume(kaggle_dir: Path, study_id: int, view: str) -> np.ndarray | None:
    """The study's first `view` series as the pipeline sees it: (n, H, W) uint8 in spatial order, or None.

    The window is taken over the whole series volume, not per slice, exactly like extract.
    """
    got = _first_series(Path(kaggle_dir), study_id, view)
    return None if got is None else got[1]


def mid_sagittal(kaggle_dir: Path, study_id: int, view: str, offset: int = 0) -> np.ndarray | None:
    """The middle slice (+ `offset`) of the study's first `view` series, windowed as the pipeline does."""
    vol = series_volume(kaggle_dir, study_id, view)
    if vol is None:
        return None
    return vol[int(np.clip(len(vol) // 2 + offset, 0, len(vol) - 1))]


def mid_axial(kaggle_dir: Path, study_id: int) -> np.ndarray | None:
    """An axial slice at a labelled level (L4/L5 when labelled, else the median labelled one), else the middle."""
    kaggle_dir = Path(kaggle_dir)
    got = _first_series(kaggle_dir, study_id, AXIAL_T2)
    if got is None:
        return None
    sid, vol, series = got
    index = len(vol) // 2
    coords = kaggle_dir / "train_label_coordinates.csv"
    if coords.is_file():
        pts = pd.read_csv(coords)
        pts = pts[pts[SERIES_ID] == sid]
        known = pts[pts[INSTANCE_NUMBER].isin(series.instance_map)]
        if not known.empty:
            at = known[known["level"].str.replace("/", "_").str.lower() == LEVELS[3]]
            inst = at[INSTANCE_NUMBER].iloc[0] if not at.empty else int(known[INSTANCE_NUMBER].median())
            index = series.instance_map.get(int(inst), index)
    return vol[index]


def real_images(real_dir: Path | None, seq: str) -> list[tuple[str, np.ndarray]]:
    """(name, windowed uint8) for each real `seq` ("t1" / "t2") PNG in real_dir, by name; [] without it."""
    if real_dir is None or not Path(real_dir).is_dir():
        return []
    out = []
    for f in sorted(Path(real_dir).glob(f"*_{seq}.png")):
        grey = np.asarray(Image.open(f).convert("L"))
        out.append((f.stem, window_uint8(grey, *WINDOW)))
    return out


def resized(img: np.ndarray, size: int = SIZE) -> np.ndarray:
    """A uint8 image as float in [0, 1], resized (bilinear) to size x size: one scale for every image."""
    return np.asarray(Image.fromarray(np.asarray(img, dtype=np.uint8)).resize((size, size), Image.BILINEAR),
                      dtype=np.float64) / 255.0


def spectral_slope(x: np.ndarray) -> float:
    """Slope of log radial power vs log frequency over FREQ: ~0 for white noise, ~-2 to -3 for anatomy."""
    n = x.shape[0]
    w = np.outer(np.hanning(n), np.hanning(n))
    power = np.abs(np.fft.fftshift(np.fft.fft2((x - x.mean()) * w))) ** 2
    f = np.fft.fftshift(np.fft.fftfreq(n))
    r = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    edges = np.linspace(FREQ[0], FREQ[1], 17)
    k = np.digitize(r.ravel(), edges)
    sums = np.bincount(k, power.ravel(), minlength=len(edges) + 1)[1:len(edges)]
    counts = np.bincount(k, minlength=len(edges) + 1)[1:len(edges)]
    centres = (edges[:-1] + edges[1:]) / 2
    ok = counts > 0
    return float(np.polyfit(np.log(centres[ok]), np.log(sums[ok] / counts[ok] + 1e-20), 1)[0])


def image_stats(img: np.ndarray) -> dict:
    """Label-free statistics of one windowed uint8 slice, on its SIZE x SIZE copy.

    mean / std of intensity; background: share of pixels below BACKGROUND (air around the body);
    edge_density: share with Sobel gradient above EDGE (how much sharp structure); spectral_slope
    (texture: noise flattens it, smooth shading steepens it); noise: median absolute Laplacian over
    the non-background pixels (pixel-scale grain); histogram: BINS shares over 0..255.
    """
    x = resized(img)
    grad = np.hypot(ndimage.sobel(x, 0), ndimage.sobel(x, 1)) / 4.0  # a unit step gives 1
    fg = x >= BACKGROUND / 255.0
    lap = np.abs(ndimage.laplace(x))
    hist = np.histogram(np.asarray(img).ravel(), bins=BINS, range=(0, 256))[0].astype(float)
    return {"mean": float(x.mean()), "std": float(x.std()), "background": float(1.0 - fg.mean()),
            "edge_density": float((grad > EDGE).mean()), "spectral_slope": spectral_slope(x),
            "noise": float(np.median(lap[fg])) if fg.any() else 0.0, "histogram": hist / max(hist.sum(), 1.0)}


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 distance between two histograms over the same 0..255 bins, in units of full scale.

    0 for identical shapes, 1 for all-black vs all-white; pool (average) per-image histograms first.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a / max(a.sum(), 1e-12), b / max(b.sum(), 1e-12)
    return float(np.abs(np.cumsum(a - b)).sum() / len(a))


def _cell(ax, img: np.ndarray | None, title: str) -> None:
    ax.axis("off")
    if img is None:
        ax.text(0.5, 0.5, title, ha="center", va="center", fontsize=7, transform=ax.transAxes)
        return
    ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="bilinear")
    ax.set_title(title, fontsize=7)


def realism_sheet(kaggle_dir: Path, out_png: Path, real_dir: Path | None = None, n: int = 4) -> Path:
    """Phantoms next to real scans: mid-sagittal T1 row, T2 row (n phantoms | n real), axial phantoms.

    Every image goes through the same windowing; the first n studies by id are shown, so the same
    data set gives the same bytes. Without real images their cells say so and phantoms stand alone.
    """
    kaggle_dir, out_png = Path(kaggle_dir), Path(out_png)
    fig, axes = plt.subplots(3, 2 * n, figsize=(1.9 * 2 * n, 2.2 * 3), squeeze=False)
    for r, (seq, view) in enumerate(SEQUENCES.items()):
        for ax, sid in zip(axes[r, :n], study_ids(kaggle_dir, view)[:n] + [None] * n):
            img = None if sid is None else mid_sagittal(kaggle_dir, sid, view)
            _cell(ax, img, f"phantom {sid} · {seq.upper()}" if img is not None else "no phantom")
        real = real_images(real_dir, seq)[:n]
        for k, ax in enumerate(axes[r, n:]):
            _cell(ax, real[k][1] if k < len(real) else None,
                  f"real {real[k][0]} · {seq.upper()}" if k < len(real) else "real images not available")
    for ax, sid in zip(axes[2, :n], study_ids(kaggle_dir, AXIAL_T2)[:n] + [None] * n):
        img = None if sid is None else mid_axial(kaggle_dir, sid)
        _cell(ax, img, f"phantom {sid} · axial" if img is not None else "no phantom")
    for ax in axes[2, n:]:
        ax.axis("off")
    axes[2, n].text(0.5, 0.5, "no real axial reference", ha="center", va="center", fontsize=7,
                    transform=axes[2, n].transAxes)
    fig.suptitle("phantoms (left) vs real MRI (right), windowed 0.5-99.5 percentile", fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out_png
