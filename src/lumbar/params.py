"""Typed access to params.yaml, so a misspelt key fails loudly instead of defaulting."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = ROOT / "params.yaml"


class Params(dict):
    """A nested dict whose missing keys raise KeyError naming the full dotted path."""

    def __init__(self, data: dict[str, Any], prefix: str = "") -> None:
        super().__init__({k: Params(v, f"{prefix}{k}.") if isinstance(v, dict) else v for k, v in data.items()})
        self._prefix = prefix

    def __getitem__(self, key: str) -> Any:
        try:
            return super().__getitem__(key)
        except KeyError:
            raise KeyError(f"params: missing key {self._prefix}{key}") from None

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]


def load(path: str | Path = DEFAULT_PATH) -> Params:
    """Read params.yaml (or a preset) into a Params tree."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return Params(data)
