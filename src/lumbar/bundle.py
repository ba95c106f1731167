"""The trained models as one self-contained folder: what `dvc get`, a Kaggle notebook or `lumbar
predict --models DIR` receives, and everything inference needs besides the images.

Layout: bundle.json (format, code version: the package version and a digest of the inference code,
the crop and locate specs the models were trained with, the training params), prior.csv (the training prior, each cell's fallback), detect/{group}.pt and
classify/{group}.pt. Nothing in it points outside the folder, so it works wherever it is copied.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from . import __version__
from .codebase import closure_digest
from .classification.checkpoint import Classifier, load_classifier
from .crops import CropSpec
from .detection.predict import load_detector
from .locate import LocateConfig
from .metric import training_prior
from .vocabulary import GROUPS, LABEL_COLUMNS, SUBMISSION_COLUMNS

__all__ = ["FORMAT", "INFERENCE_MODULE", "Bundle", "build_bundle"]

FORMAT = "lumbar-bundle/1"
MANIFEST, PRIOR = "bundle.json", "prior.csv"
INFERENCE_MODULE = "lumbar.inference"  # the code a bundle is run by: its digest is the code version


@dataclass
class Bundle:
    """The six models, loaded, with the specs they were trained with and the training prior."""

    detectors: dict[str, Any]
    classifiers: dict[str, Classifier]
    prior: pd.DataFrame            # LABEL_COLUMNS x SUBMISSION_COLUMNS
    crop: dict[str, CropSpec]
    locate: LocateConfig
    low_pct: float
    high_pct: float
    manifest: dict

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> "Bundle":
        """Load a bundle folder; errors name the file that is missing or foreign."""
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: not a model bundle (build it with `dvc repro bundle`)")
        m = json.loads(path.read_text(encoding="utf-8"))
        if m.get("format") != FORMAT:
            raise ValueError(f"{path}: format {m.get('format')!r}, expected {FORMAT!r}")
        prior = pd.read_csv(folder / PRIOR, index_col="column")
        missing = sorted(set(LABEL_COLUMNS) - set(prior.index))
        if missing:
            raise ValueError(f"{folder / PRIOR}: no prior for {missing[0]}")
        return cls({g: load_detector(folder / m["groups"][g]["detector"]) for g in GROUPS},
                   {g: load_classifier(folder / m["groups"][g]["classifier"], device) for g in GROUPS},
                   prior.loc[list(LABEL_COLUMNS), list(SUBMISSION_COLUMNS)],
                   {g: CropSpec(**m["groups"][g]["crop"]) for g in GROUPS}, LocateConfig(**m["locate"]),
                   float(m["window"]["low_percentile"]), float(m["window"]["high_percentile"]), m)


def build_bundle(out_dir: Path, detectors: Mapping[str, Path], classifiers: Mapping[str, Path],
                 labels: pd.DataFrame, training_studies: list[int], locate: LocateConfig,
                 window: tuple[float, float], params: Mapping[str, Any]) -> dict:
    """Copy the six model files into out_dir and write bundle.json and prior.csv; return the manifest.

    The prior is fitted on the grades (train.csv rows) of `training_studies`, the studies the models
    could learn from (everything but the holdout).
    Each group's crop spec is the one its classifier was trained on (recorded in its checkpoint), so
    inference crops exactly as training did whatever params.yaml says later.
    """
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    (out_dir / "detect").mkdir(parents=True)
    (out_dir / "classify").mkdir()
    groups = {}
    for g in GROUPS:
        clf = load_classifier(classifiers[g])
        if not clf.crop:
            raise ValueError(f"{classifiers[g]}: the checkpoint records no crop spec (re-run classify@{g})")
        if clf.group != g:
            raise ValueError(f"{classifiers[g]}: grades group {clf.group!r}, expected {g!r}")
        shutil.copyfile(detectors[g], out_dir / "detect" / f"{g}.pt")
        shutil.copyfile(classifiers[g], out_dir / "classify" / f"{g}.pt")
        groups[g] = {"detector": f"detect/{g}.pt", "classifier": f"classify/{g}.pt",
                     "crop": asdict(CropSpec(float(clf.crop["side_mm"]), int(clf.crop["size"]),
                                             bool(clf.crop.get("mirror_right", False))))}
    prior = training_prior(labels, training_studies)
    prior = training_prior(labels, training_studies)
    prior.loc[list(LABEL_COLUMNS), list(SUBMISSION_COLUMNS)].rename_axis("column").to_csv(
        out_dir / PRIOR, float_format="%.8f", lineterminator="\n")
    manifest = {"format": FORMAT, "lumbar_version": __version__, "inference_code_sha256": closure_digest(INFERENCE_MODULE),
                "groups": groups, "locate": asdict(locate),
                "window": {"low_percentile": float(window[0]), "high_percentile": float(window[1])},
                "params": json.loads(json.dumps(params))}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
