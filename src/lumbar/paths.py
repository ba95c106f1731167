"""Every artifact path of the pipeline, in one place, relative to the project root.

The stages run from the repository root (DVC's working directory), so the default root is the current
directory; tests and tools pass another root. Library functions take the paths they read and write
as arguments: only the stage scripts and the command line build them, from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """The pipeline's files under `root` (dvc.yaml names the same paths)."""

    root: Path = Path(".")

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def _p(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    # --- inputs and data stages -------------------------------------------------------------
    @property
    def params(self) -> Path:
        return self._p("params.yaml")

    @property
    def synthetic(self) -> Path:
        return self._p("data", "synthetic")

    @property
    def contact_sheet(self) -> Path:
        return self._p("reports", "contact_sheet.png")

    @property
    def realism_sheet(self) -> Path:
        """Phantoms beside real scans: local only (git-ignored, never cached or pushed), since it may
        show images of the reference set."""
        return self._p("reports", "realism.png")

    @property
    def synthetic_metrics(self) -> Path:
        return self._p("metrics", "synthetic.json")

    @property
    def extracted(self) -> Path:
        return self._p("data", "extracted")

    @property
    def split(self) -> Path:
        return self._p("data", "split.csv")

    def yolo(self, group: str) -> Path:
        return self._p("data", "yolo", group)

    # --- detectors --------------------------------------------------------------------------
    def detector_dir(self, group: str) -> Path:
        return self._p("models", "detect", group)

    def detector(self, group: str) -> Path:
        return self.detector_dir(group) / "best.pt"

    def detect_metrics(self, group: str) -> Path:
        return self._p("metrics", "detect", f"{group}.json")

    def detect_live(self, group: str) -> Path:
        return self._p("dvclive", "detect", group)

    @property
    def detect_runs(self) -> Path:
        """ultralytics' own run folders (scratch, git- and DVC-ignored)."""
        return self._p("runs", "detect")

    # --- located boxes and crops -------------------------------------------------------------
    @property
    def located(self) -> Path:
        return self._p("data", "located")

    @property
    def locate_metrics(self) -> Path:
        return self._p("metrics", "locate.json")

    def crops(self, group: str) -> Path:
        return self._p("data", "crops", group)

    # --- classifiers and the bundle ----------------------------------------------------------
    def classifier_dir(self, group: str) -> Path:
        return self._p("models", "classify", group)

    def classifier(self, group: str) -> Path:
        return self.classifier_dir(group) / "model.pt"

    def classify_metrics(self, group: str) -> Path:
        return self._p("metrics", "classify", f"{group}.json")

    def classify_live(self, group: str) -> Path:
        return self._p("dvclive", "classify", group)

    @property
    def bundle(self) -> Path:
        return self._p("models", "bundle")

    # --- evaluation and prediction -----------------------------------------------------------
    @property
    def evaluation(self) -> Path:
        return self._p("data", "evaluate")

    @property
    def evaluate_metrics(self) -> Path:
        return self._p("metrics", "evaluate.json")

    @property
    def submission(self) -> Path:
        return self._p("data", "submission.csv")

    @property
    def predict_cells(self) -> Path:
        return self._p("data", "predict", "cells.csv")

    @property
    def predict_report(self) -> Path:
        return self._p("reports", "predict")

    @property
    def predict_metrics(self) -> Path:
        return self._p("metrics", "predict.json")
