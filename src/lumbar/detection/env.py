"""Ultralytics, configured to stay inside the repository and offline.

`YOLO_CONFIG_DIR` must be set before ultralytics is first imported (it reads its settings file at
import time), so every entry point of this package calls `ultralytics_env()` and imports ultralytics
only afterwards. Integrations that log elsewhere (its own DVCLive callback, MLflow, W&B, ...) are
switched off: the detect stage keeps its own dvclive.Live. Nothing is downloaded at run time:
YOLO_OFFLINE is set, and the font ultralytics checks for on every dataset check is provided locally
(matplotlib's DejaVu Sans under the name it looks for), so that check never reaches the network.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

_OFF = ("sync", "dvc", "mlflow", "clearml", "comet", "raytune", "tensorboard", "wandb", "hub",
        "vscode_msg", "openvino_msg")


def _provide_font(config_dir: Path) -> None:
    target = config_dir / "Arial.ttf"
    if target.exists():
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if source.exists():
        shutil.copyfile(source, target)


def ultralytics_env(config_dir: Path | None = None):
    """Set up the environment, import ultralytics, turn integrations off; return `ultralytics.YOLO`.

    The config dir is `config_dir`, else an existing YOLO_CONFIG_DIR, else .ultralytics/ in the
    working directory (the project root when DVC runs a stage).
    """
    if "ultralytics" not in sys.modules:
        if config_dir is not None or "YOLO_CONFIG_DIR" not in os.environ:
            os.environ["YOLO_CONFIG_DIR"] = str(Path(config_dir or ".ultralytics").resolve())
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO, settings
    from ultralytics.utils import USER_CONFIG_DIR, torch_utils

    _provide_font(Path(USER_CONFIG_DIR))
    # ultralytics trains and predicts on the CPU with cpu_count - 1 torch threads (one, on 2 cores),
    # resetting it at every device selection; use every core instead (2x faster detectors on 2 cores).
    torch_utils.NUM_THREADS = max(1, os.cpu_count() or 1)

    wanted = {k: False for k in _OFF if k in settings and settings[k] is not False}
    if wanted:
        settings.update(wanted)
    return YOLO
