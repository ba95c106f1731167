"""Per-group YOLOv8 detectors: input images, datasets, training and prediction over whole series.

Ultralytics is imported only inside the functions that need it, after `env.ultralytics_env()` has
pointed its config dir into the repository, so importing this package never touches its settings.
"""
from .dataset import build_yolo_dataset, image_stem
from .images import detector_image, position_value
from .levels import assign_axial_levels, choose_boxes, level_points
from .predict import (DETECTION_COLUMNS, best_per_class, correct_sides, detect_series, evaluate_points,
                      load_detector)
from .train import train_detector

__all__ = ["DETECTION_COLUMNS", "assign_axial_levels", "best_per_class", "build_yolo_dataset", "choose_boxes",
           "correct_sides", "detect_series", "detector_image", "evaluate_points", "image_stem", "level_points",
           "load_detector", "position_value", "train_detector"]
