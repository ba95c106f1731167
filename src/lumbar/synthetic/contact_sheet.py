"""A contact sheet of one synthetic study, read back from its DICOM files, with the label points drawn."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pydicom  # noqa: E402

from ..vocabulary import SERIES_DESCRIPTION, SERIES_ID, STUDY_ID, VIEWS  # noqa: E402


def contact_sheet(kaggle: Path, study_id: int, out_png: Path, per_view: int = 3) -> Path:
    """Per view, the `per_view` labelled slices with most points (neighbours if few), points drawn."""
    series = pd.read_csv(kaggle / "train_series_descriptions.csv")
    series = series[series[STUDY_ID] == study_id]
    pts = pd.read_csv(kaggle / "train_label_coordinates.csv")
    pts = pts[pts[STUDY_ID] == study_id]
    fig, axes = plt.subplots(len(VIEWS), per_view, figsize=(3.3 * per_view, 3.4 * len(VIEWS)), squeeze=False)
    for r, view in enumerate(VIEWS):
        sids = series.loc[series[SERIES_DESCRIPTION] == view, SERIES_ID].tolist()
        for ax in axes[r]:
            ax.axis("off")
        if not sids:
            axes[r, 0].set_title(f"{view}: series missing", fontsize=8)
            continue
        sid = sids[0]
        sp = pts[pts[SERIES_ID] == sid]
        chosen = sp["instance_number"].value_counts().index.tolist()[:per_view]
        files = sorted((kaggle / "train_images" / str(study_id) / str(sid)).glob("*.dcm"), key=lambda p: int(p.stem))
        chosen += [int(f.stem) for f in files[len(files) // 2:] if int(f.stem) not in chosen][: per_view - len(chosen)]
        for ax, inst in zip(axes[r], sorted(chosen)):
            ds = pydicom.dcmread(kaggle / "train_images" / str(study_id) / str(sid) / f"{inst}.dcm")
            img = ds.pixel_array.astype(float)
            lo, hi = np.percentile(img, [0.5, 99.5])
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
            on = sp[sp["instance_number"] == inst]
            ax.scatter(on["x"], on["y"], s=40, facecolors="none", edgecolors="#ff5252", linewidths=1)
            for _, p in on.iterrows():
                ax.text(p["x"] + 6, p["y"], f"{p['level']} {p['condition'].split(' ')[0][:1]}", color="#ffeb3b",
                        fontsize=5)
            ax.set_title(f"{view} · instance {inst}", fontsize=7)
    fig.suptitle(f"synthetic study {study_id}", fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out_png
