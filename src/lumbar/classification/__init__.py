"""Grading crops: a VGG-19-bn per condition group, trained with the score's weights and calibrated.

Public API: `load_classifier(path, device) -> Classifier` (.predict_proba, .size) for inference, and
`train_classifier(...)` / `TrainConfig` for the classify stage.
"""
from .bundle import Classifier, load_classifier, save_bundle
from .model import build_model
from .train import TrainConfig, train_classifier

__all__ = ["Classifier", "load_classifier", "save_bundle", "build_model", "TrainConfig", "train_classifier"]
