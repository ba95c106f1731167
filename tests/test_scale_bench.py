"""The scaling benchmark's pure helpers: the fit it reports, the memory check, reading dvc.yaml's stages.

The benchmark itself (benchmarks/scale.py) takes an hour and is never run here.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "benchmarks" / "scale.py")
scale = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = scale   # dataclasses look their module up there
_spec.loader.exec_module(scale)


def test_linear_fit_recovers_a_line_and_extrapolates():
    f = scale.linear_fit([100, 300, 900], [12.0, 32.0, 92.0])   # 2 + 0.1 N
    assert f.a == pytest.approx(2.0) and f.b == pytest.approx(0.1)
    assert f.r2 == pytest.approx(1.0) and f.marginal_ratio == pytest.approx(1.0)
    assert f.at(1975) == pytest.approx(199.5)


def test_linear_fit_flags_growth_faster_than_linear():
    f = scale.linear_fit([100, 300, 900], [100.0, 900.0, 8100.0])   # N^2 / 100
    assert f.marginal_ratio == pytest.approx((8100 - 900) / 600 / ((900 - 100) / 200))
    assert f.marginal_ratio > 2 and f.r2 < 1


def test_linear_fit_of_a_flat_series_and_bad_input():
    f = scale.linear_fit([10, 20, 40], [300.0, 300.0, 300.0])
    assert (f.a, f.b, f.r2) == pytest.approx((300.0, 0.0, 1.0))
    with pytest.raises(ValueError):
        scale.linear_fit([10, 10], [1.0, 2.0])


def test_memory_check_compares_largest_with_smallest_size_in_any_order():
    assert scale.memory_check([900, 100, 300], [450.0, 300.0, 320.0]) == (1.5, True)
    ratio, ok = scale.memory_check([100, 900], [200.0, 301.0])
    assert ratio == pytest.approx(1.505) and not ok


def test_every_dvc_stage_is_classified_and_matrix_stages_expand():
    stages = scale.dvc_stages(yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8")))
    names = [n for n, _, _ in stages]
    assert {scale.stage_kind(n) for n in names} == {"data", "inference", "training", "skipped"}
    crop = dict((n, (c, o)) for n, c, o in stages)["crop@spinal"]
    assert crop == ("python stages/crop.py --group spinal", ["data/crops/spinal"])
    assert names.index("extract") < names.index("locate") < names.index("evaluate")
    with pytest.raises(ValueError, match="not classified"):
        scale.stage_kind("newstage")


def test_extrapolation_of_time_follows_the_fit_and_memory_its_last_step():
    ns = [100, 300, 900]
    assert scale.extrapolate(ns, [12.0, 32.0, 92.0], 1975, "time") == pytest.approx(199.5)
    assert scale.extrapolate(ns, [5.0, 3.0, 1.0], 1975, "disk") == 0.0          # a line below 0 is 0
    # a peak that saturates is carried on at its last slope, not its first
    assert scale.extrapolate(ns, [1000.0, 1100.0, 1130.0], 1975, "memory") == pytest.approx(1130 + 0.05 * 1075)
    # a flat one that noise bent down stays at what was measured
    assert scale.extrapolate(ns, [500.0, 520.0, 510.0], 1975, "memory") == 510.0
