"""params.yaml access and presets: a misspelt or stale key fails loudly."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lumbar import params as P

ROOT = Path(__file__).resolve().parents[1]


def test_missing_key_names_its_dotted_path():
    p = P.Params({"classifier": {"lr": 1e-3}})
    assert p.classifier.lr == 1e-3
    with pytest.raises(KeyError, match="classifier.epochs"):
        p.classifier.epochs


def test_floats_in_params_yaml_are_floats():
    """`1e-4` would be a string to PyYAML; every float-looking value must load as a number."""
    def walk(node, path=""):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, f"{path}{k}.")
        elif isinstance(node, str):
            try:
                float(node)
            except ValueError:
                return
            yield path.rstrip(".")
    assert list(walk(yaml.safe_load((ROOT / "params.yaml").read_text()))) == []


@pytest.mark.parametrize("preset", ["params-real.yaml", "tests/tiny.yaml", "tests/real-cpu.yaml"])
def test_presets_parse_and_name_only_existing_keys(preset):
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    over = yaml.safe_load((ROOT / preset).read_text())
    merged = P.overlay(base, over)

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    got, want, laid = dict(leaves(merged)), dict(leaves(base)), dict(leaves(over))
    assert laid and set(got) >= set(want)
    for key, value in got.items():   # every leaf the preset names takes its value, every other stays
        assert value == laid.get(key, want.get(key)), key
    assert any(want.get(k) != v for k, v in laid.items())   # the preset changes something


def test_overlay_refuses_an_unknown_key():
    with pytest.raises(KeyError, match="classifier.lrr"):
        P.overlay({"classifier": {"lr": 1.0}}, {"classifier": {"lrr": 2.0}})


def test_write_preset_lays_values_over_the_target(tmp_path):
    target, preset = tmp_path / "params.yaml", tmp_path / "preset.yaml"
    target.write_text("a:\n  b: 1\n  c: 2\nd: x\n")
    preset.write_text("a:\n  c: 3\n")
    P.write_preset(preset, target)
    assert yaml.safe_load(target.read_text()) == {"a": {"b": 1, "c": 3}, "d": "x"}
