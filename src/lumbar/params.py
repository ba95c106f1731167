"""Typed access to params.yaml, so a misspelt key fails loudly instead of defaulting."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path("params.yaml")  # the stages run from the repository root


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


def overlay(base: dict[str, Any], overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`base` with `overrides` laid over it; an override naming a key `base` lacks is an error.

    Presets (params-real.yaml, the tests' tiny preset) are overlays, so a renamed or misspelt key
    fails here instead of silently doing nothing.
    """
    out = dict(base)
    for key, value in overrides.items():
        if key not in base:
            raise KeyError(f"preset names unknown param {prefix}{key}")
        if isinstance(value, dict) and isinstance(base[key], dict):
            out[key] = overlay(base[key], value, f"{prefix}{key}.")
        else:
            out[key] = value
    return out


def write_preset(preset: str | Path, target: str | Path = DEFAULT_PATH) -> dict[str, Any]:
    """Lay a preset file over `target` (params.yaml) and write the result back to `target`."""
    with open(target, encoding="utf-8") as fh:
        base = yaml.safe_load(fh) or {}
    with open(preset, encoding="utf-8") as fh:
        merged = overlay(base, yaml.safe_load(fh) or {})
    with open(target, "w", encoding="utf-8") as fh:
        yaml.safe_dump(merged, fh, sort_keys=False)
    return merged
