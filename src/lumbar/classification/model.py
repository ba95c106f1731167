"""The grading network: torchvision's VGG with batch norm, narrowed by a width multiplier.

The convolutional trunk is torchvision's own (`make_layers` over its configuration), so at width 1.0
torchvision's pretrained state dicts load unchanged. The head differs: the crops are small (32-128 px),
so the trunk's output is averaged to one vector (adaptive pooling) and mapped to the 3 grades by a
small MLP instead of torchvision's 25,088 -> 4,096 -> 4,096 -> 1,000 classifier.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models.vgg import VGG, cfgs, make_layers

from ..vocabulary import GRADES

# torchvision architecture name -> its layer configuration
ARCH_CONFIG: dict[str, str] = {"vgg11_bn": "A", "vgg13_bn": "B", "vgg16_bn": "D", "vgg19_bn": "E"}
# ImageNet statistics: the normalisation pretrained weights expect; harmless when training from scratch.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def scaled_config(arch: str, width: float) -> list:
    """torchvision's layer configuration with every channel count multiplied by `width` (min 1)."""
    if arch not in ARCH_CONFIG:
        raise ValueError(f"classifier.arch {arch!r} not supported (expected one of {sorted(ARCH_CONFIG)})")
    if not width > 0:
        raise ValueError(f"classifier.width must be > 0, got {width}")
    return [v if v == "M" else max(1, int(round(v * width))) for v in cfgs[ARCH_CONFIG[arch]]]


class GradeVGG(VGG):
    """VGG trunk + global average pooling + a small head over the 3 grades.

    Subclasses torchvision's VGG (same forward, same `features.*` state-dict keys) but builds its own
    pooling and head, so the unused 100M-parameter ImageNet classifier is never allocated.
    """

    def __init__(self, features: nn.Sequential, channels: int, num_classes: int = len(GRADES),
                 dropout: float = 0.3) -> None:
        nn.Module.__init__(self)
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        hidden = max(32, channels)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, hidden), nn.ReLU(True),
                                        nn.Dropout(dropout), nn.Linear(hidden, num_classes))
        for m in self.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


def build_model(arch: str = "vgg19_bn", width: float = 1.0, weights: str | Path | None = None,
                dropout: float = 0.3) -> GradeVGG:
    """A fresh grading network; `weights` = a local torchvision state dict for the trunk, or None.

    Pretrained weights need width 1.0 (their channel counts). A named file that does not exist is an
    error, never a silent fall-back to random initialisation.
    """
    cfg = scaled_config(arch, width)
    model = GradeVGG(make_layers(cfg, batch_norm=True), channels=int(cfg[-2]), dropout=dropout)
    if weights is not None and str(weights) != "":
        load_trunk(model, Path(weights), arch, width)
    return model


def load_trunk(model: GradeVGG, path: Path, arch: str, width: float) -> None:
    """Copy the `features.*` tensors of a torchvision state dict (e.g. vgg19_bn-c79401a0.pth) into the trunk."""
    if not path.is_file():
        raise FileNotFoundError(f"classifier.weights: pretrained weights file {str(path)!r} not found "
                                f"(set classifier.weights to null to train from scratch)")
    if width != 1.0:
        raise ValueError(f"classifier.weights needs classifier.width 1.0 (torchvision's channels), got {width}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    trunk = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    if not trunk:
        raise ValueError(f"{path}: no 'features.*' tensors; expected a torchvision {arch} state dict")
    try:
        model.features.load_state_dict(trunk, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{path}: does not match torchvision {arch}: {err}") from None


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> the network's input scale (ImageNet statistics)."""
    mean = torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def prepare(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N,3,S,S) -> normalised float32: the one input transform for training and prediction."""
    return normalize(images.float().div_(255.0))
