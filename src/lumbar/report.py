"""Pictures a person can check a prediction by: the chosen slices, boxes labelled by level, side and grade."""
from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .inference import StudyPrediction  # noqa: E402
from .vocabulary import (AXIAL_T2, COLUMN_PARTS, CONDITION_SIDE, GRADES, GROUPS, LEVEL_LABELS, ROW_ID,  # noqa: E402
                         SERIES_ID, SUBMISSION_COLUMNS)

GRADE_COLOURS = ("#4caf50", "#ffb300", "#e53935")


def _label(column: str, probs: np.ndarray) -> str:
    condition, level = COLUMN_PARTS[column]
    side = CONDITION_SIDE[condition]
    k = int(np.argmax(probs))
    return f"{LEVEL_LABELS[level]}{' ' + side[0].upper() if side else ''} {GRADES[k]} {probs[k]:.2f}"


def study_figure(pred: StudyPrediction, out_png: Path) -> Path:
    """One panel per chosen (series, slice), with every box chosen on it; PNG at out_png."""
    b = pred.boxes
    panels = [] if not len(b) else list(b.groupby(["group", SERIES_ID, "slice_index"], sort=False))
    order = {g: i for i, g in enumerate(GROUPS)}
    panels.sort(key=lambda kv: (order[kv[0][0]], kv[0][1], kv[0][2]))
    n = max(len(panels), 1)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, ((group, series, index), boxes) in zip(axes.ravel(), panels):
        vol = pred.images.get(int(series))
        if vol is not None:
            ax.imshow(vol[int(index)], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{GROUPS[group].view} · series {series} · slice {index}", fontsize=7)
        for _, r in boxes.iterrows():
            p = r[list(SUBMISSION_COLUMNS)].to_numpy(float)
            colour = GRADE_COLOURS[int(np.argmax(p))]
            ax.add_patch(plt.Rectangle((r["x1"], r["y1"]), r["x2"] - r["x1"], r["y2"] - r["y1"],
                                       fill=False, edgecolor=colour, linewidth=1.2))
            # Both sides share an axial slice and their boxes overlap: the left side's label goes below.
            below = GROUPS[group].view == AXIAL_T2 and CONDITION_SIDE[COLUMN_PARTS[str(r["column"])][0]] == "left"
            ax.text(r["x1"], r["y2"] + 2 if below else r["y1"] - 2, _label(str(r["column"]), p), color=colour,
                    fontsize=5.5, va="top" if below else "bottom",
                    bbox={"facecolor": "black", "alpha": 0.5, "pad": 0.5, "linewidth": 0})
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no detection: every cell uses the prior", ha="center", va="center")
    fig.suptitle(f"study {pred.study_id}", fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out_png


def write_index(preds: list[StudyPrediction], out_dir: Path, figures: dict[int, str]) -> Path:
    """index.html: per study its figure, notes and a table of the 25 predictions."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Lumbar spine predictions</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}</style></head><body>",
             "<h1>Lumbar spine predictions</h1>"]
    for p in preds:
        parts.append(f"<h2 id='s{p.study_id}'>Study {p.study_id}</h2>")
        if p.study_id in figures:
            parts.append(f"<img src='{html.escape(figures[p.study_id])}' alt='study {p.study_id}'>")
        for note in p.notes:
            parts.append(f"<p><em>{html.escape(note)}</em></p>")
        parts.append("<table><tr><th>row_id</th>" + "".join(f"<th>{c}</th>" for c in SUBMISSION_COLUMNS)
                     + "<th>source</th></tr>")
        for _, r in p.probs.iterrows():
            cells = "".join(f"<td>{r[c]:.3f}</td>" for c in SUBMISSION_COLUMNS)
            parts.append(f"<tr><td>{html.escape(str(r[ROW_ID]))}</td>{cells}<td>{r['source']}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def write_report(preds: list[StudyPrediction], out_dir: Path) -> Path:
    """study_{id}.png for each prediction and the index.html that shows them."""
    figures = {p.study_id: study_figure(p, out_dir / f"study_{p.study_id}.png").name for p in preds}
    return write_index(preds, out_dir, figures)
