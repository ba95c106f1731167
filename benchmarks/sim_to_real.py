"""Sim-to-real: does the spinal detector trained on phantoms find the discs of real sagittal T2 scans?

    python benchmarks/sim_to_real.py --model models/detect/spinal/best.pt \
        [--real-dir ../shared/reference/real_mri] [--phantom-dir data/synthetic/kaggle] \
        [--out-dir /tmp/lumbar_sim_to_real] [--imgsz 160] [--conf 0.1] [--phantoms 12]

Each real T2 PNG becomes a one-slice volume through window_uint8 and detector_image, exactly the
pipeline's input for a lone slice (neighbour channel = the slice, position channel = 128). The figure
is the share of images whose best box per level passes lumbar.detection.levels.levels_in_order
(>= 4 levels with confidence >= --conf, in cranio-caudal order, evenly spaced, on one smooth curve);
beside it, a smoother one: the levels named with confidence >= --conf, summed over the images.
The same model on phantom T2 mid slices is the sanity check that the criterion can be met: once as
lone slices (like the real ones) and once inside their series (the pipeline's input on a study).
Each figure is given twice: with the detector's own class per box, and with the levels counted along
the spine as the pipeline's locate step counts them (lumbar.detection.levels.order_levels; a PNG has
no pixel spacing, so its field of view is taken as FOV_MM).
Overlay sheets (best box per level, labelled with level and confidence; dashed below --conf) and a
JSON go to --out-dir, which defaults to outside the repository: they show real images, which never
go into the project.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lumbar.detection.env import ultralytics_env  # noqa: E402
from lumbar.detection.levels import ORDER_CONF, order_failure  # noqa: E402
from lumbar.realism import WINDOW, real_images, series_volume, study_ids  # noqa: E402
from lumbar.vocabulary import LEVEL_LABELS, LEVELS, SAGITTAL_T2  # noqa: E402
from lumbar.windowing import window_uint8  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLOURS = ("#ff5252", "#ffab40", "#ffee58", "#69f0ae", "#40c4ff")


FOV_MM = 300.0   # assumed field of view of a PNG without pixel spacing (lumbar sagittals: 240-330 mm)


def _frame(shape: tuple[int, int]) -> dict:
    """A sagittal slices.parquet-like frame for an image of this shape at FOV_MM / its longer side."""
    s = FOV_MM / max(shape)
    return {"ipp_x": 0.0, "ipp_y": 0.0, "ipp_z": 0.0, "row_x": 0.0, "row_y": 1.0, "row_z": 0.0,
            "col_x": 0.0, "col_y": 0.0, "col_z": -1.0, "spacing_row": s, "spacing_col": s}


def best_boxes(model, volume: np.ndarray, index: int, imgsz: int, counted: bool = False):
    """best_per_class of the spinal detector on slice `index` of a uint8 volume, run as the pipeline runs it
    (detect_series over the volume at conf 0.01, so the slice's neighbours and position are its own);
    with `counted`, the levels are instead counted along the spine as the pipeline's locate step does
    (lumbar.detection.levels.order_levels, with the frame of `_frame`)."""
    from lumbar.detection.levels import order_levels
    from lumbar.detection.predict import best_per_class, detect_series

    d = detect_series(model, volume, "spinal", imgsz, 0.01, 16)
    d = d[d["slice_index"] == index]
    if not counted or d.empty:
        return best_per_class(d)
    return order_levels(d.assign(series_id=0), {(0, index): _frame(volume.shape[1:])})


def run_images(model, items: list[tuple[str, np.ndarray, int]], imgsz: int, conf: float,
               counted: bool = False) -> list[dict]:
    """One result per (name, volume, slice index): its best boxes and why it fails the order check."""
    out = []
    for name, vol, index in items:
        best = best_boxes(model, vol, index, imgsz, counted)
        why = order_failure(best, min_conf=conf)
        boxes = [{"level": str(r.column)[-len(LEVELS[0]):], "confidence": round(float(r.confidence), 4),
                  "xyxy": [round(float(v), 1) for v in (r.x1, r.y1, r.x2, r.y2)]} for r in best.itertuples()]
        out.append({"name": name, "in_order": why == "", "why": why, "boxes": boxes, "image": vol[index]})
    return out


def overlay_sheet(results: list[dict], out_png: Path, title: str, conf: float) -> Path:
    """All images, best box per level drawn with its level and confidence, verdict in the title."""
    cols = 4
    rows = max(1, -(-len(results) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), results):
        ax.imshow(r["image"], cmap="gray", vmin=0, vmax=255)
        for b in r["boxes"]:
            x1, y1, x2, y2 = b["xyxy"]
            colour = COLOURS[LEVELS.index(b["level"])]
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1,
                                       linestyle="-" if b["confidence"] >= conf else "--"))
            ax.text(x2 + 2, (y1 + y2) / 2, f"{LEVEL_LABELS[b['level']]} {b['confidence']:.2f}", color=colour,
                    fontsize=5, va="center")
        ax.set_title(f"{r['name']}: {'in order' if r['in_order'] else r['why']}", fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out_png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models/detect/spinal/best.pt"))
    ap.add_argument("--real-dir", default=str(ROOT.parent / "shared/reference/real_mri"))
    ap.add_argument("--phantom-dir", default=str(ROOT / "data/synthetic/kaggle"))
    ap.add_argument("--out-dir", default="/tmp/lumbar_sim_to_real")
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--conf", type=float, default=ORDER_CONF, help="confidence a level's best box needs to count")
    ap.add_argument("--phantoms", type=int, default=12, help="phantom studies for the sanity check")
    args = ap.parse_args()
    ultralytics_env(ROOT / ".ultralytics")  # before ultralytics is imported: config inside the repo, offline
    from lumbar.detection.predict import load_detector

    model = load_detector(args.model)
    out_dir = Path(args.out_dir)
    real = [(name, window_uint8(img, *WINDOW)[None], 0) for name, img in real_images(Path(args.real_dir), "t2")]
    lone, in_series = [], []
    for sid in study_ids(Path(args.phantom_dir), SAGITTAL_T2)[:args.phantoms]:
        vol = series_volume(Path(args.phantom_dir), sid, SAGITTAL_T2)
        lone.append((f"phantom {sid}", vol[len(vol) // 2][None], 0))
        in_series.append((f"phantom {sid} (series)", vol, len(vol) // 2))
    report = {"model": str(args.model), "imgsz": args.imgsz, "conf": args.conf}
    runs = [(key, items, counted) for counted in (False, True)
            for key, items in (("real", real), ("phantom_lone_slice", lone), ("phantom_in_series", in_series))]
    for key, items, counted in runs:
        key = key + ("_levels_counted" if counted else "")
        results = run_images(model, items, args.imgsz, args.conf, counted)
        k = sum(r["in_order"] for r in results)
        named = [sum(b["confidence"] >= args.conf for b in r["boxes"]) for r in results]
        report[key] = {"in_order": k, "images": len(results), "share": k / len(results) if results else None,
                       "levels_named": int(sum(named)), "most_levels_in_one_image": int(max(named, default=0)),
                       "per_image": [{x: r[x] for x in ("name", "in_order", "why", "boxes")} for r in results]}
        if results:
            report[key]["sheet"] = str(overlay_sheet(results, out_dir / f"sim_to_real_{key}.png",
                                                     f"spinal detector on {key.replace('_', ' ')} T2: "
                                                     f"{k} of {len(results)} with >= 4 levels in order", args.conf))
        print(f"{key:20s} levels in order: {k} of {len(results)}; levels named (conf >= {args.conf}): "
              f"{sum(named)} in all, at most {max(named, default=0)} in one image")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sim_to_real.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out_dir / 'sim_to_real.json'}")


if __name__ == "__main__":
    main()
