"""The label-free check that a sagittal image's boxes are a spine's row of discs (order_failure),
used by benchmarks/sim_to_real.py on real scans without labels."""
import numpy as np
import pandas as pd

from lumbar.detection.levels import ORDER_CONF, levels_in_order, order_failure
from lumbar.vocabulary import GROUPS, LEVELS


def _chain(levels=LEVELS, x=None, y=None, conf=0.9):
    g = GROUPS["spinal"]
    y = y if y is not None else [60.0 + 40 * LEVELS.index(lv) for lv in levels]
    x = x if x is not None else [100.0] * len(levels)
    return pd.DataFrame({"class_index": [LEVELS.index(lv) for lv in levels],
                         "column": [g.classes[LEVELS.index(lv)] for lv in levels],
                         "confidence": conf, "x1": np.array(x) - 10, "y1": np.array(y) - 8,
                         "x2": np.array(x) + 10, "y2": np.array(y) + 8})


def test_a_vertical_chain_of_five_levels_is_in_order():
    assert levels_in_order(_chain())
    assert levels_in_order(_chain(levels=LEVELS[:2] + LEVELS[3:]))  # a missed middle level leaves a gap


def test_a_lordotic_curve_is_in_order():
    angle = np.radians(np.cumsum([0, 8, 12, 15, 20]))  # the chain turns more towards the sacrum
    x, y = 100 + np.cumsum(40 * np.sin(angle)), 60 + np.cumsum(40 * np.cos(angle))
    assert levels_in_order(_chain(x=list(x), y=list(y)))


def test_swapped_levels_are_not_in_order():
    d = _chain()
    d.loc[[1, 2], ["y1", "y2"]] = d.loc[[2, 1], ["y1", "y2"]].to_numpy()
    assert not levels_in_order(d)
    assert "order" in order_failure(d)


def test_three_levels_are_not_enough():
    assert not levels_in_order(_chain(levels=LEVELS[:3]))
    weak = _chain()
    weak.loc[[0, 4], "confidence"] = 0.01  # named, but not with confidence
    assert not levels_in_order(weak)
    assert levels_in_order(weak, min_levels=3)


def test_a_box_off_the_line_or_out_of_step_is_not_in_order():
    for i in (2, 4):  # the middle and an end box moved sideways by one and a half disc steps
        x = [100.0] * 5
        x[i] += 60
        assert not levels_in_order(_chain(x=x)), i
    y = [60.0, 100.0, 140.0, 150.0, 190.0]  # two boxes on nearly the same disc
    assert not levels_in_order(_chain(y=y))

def test_each_failure_names_its_reason():
    assert order_failure(_chain().iloc[:0]) == "no box (need 4 levels)"
    assert order_failure(_chain(levels=LEVELS[:3])) == f"3 levels with confidence >= {ORDER_CONF} (need 4)"
    assert order_failure(_chain(levels=LEVELS[:3]), min_levels=2, min_conf=0.5) == ""
    y = [60.0, 100.0, 140.0, 150.0, 190.0]
    assert order_failure(_chain(y=y)) == "uneven steps (0.25-1.00 x the median)"
    x = [100.0] * 5
    x[2] += 60
    assert order_failure(_chain(x=x)).startswith("centres off one smooth line (turns ")
    assert order_failure(_chain()) == ""


def test_a_level_named_twice_counts_once_at_its_most_confident_box():
    d = _chain()
    dup = d.iloc[[2]].assign(confidence=0.5, x1=d.x1[2] + 200, x2=d.x2[2] + 200)  # weaker, far off the line
    assert levels_in_order(pd.concat([d, dup], ignore_index=True))
    strong = dup.assign(confidence=0.95)
    assert not levels_in_order(pd.concat([d, strong], ignore_index=True))


def test_the_limits_are_inclusive_and_configurable():
    weak = _chain(conf=ORDER_CONF)  # exactly at the confidence bar: counts
    assert levels_in_order(weak)
    assert not levels_in_order(_chain(conf=ORDER_CONF - 1e-6))
    y = [60.0, 100.0, 140.0, 200.0, 240.0]  # one step 1.5 x the median
    assert levels_in_order(_chain(y=y)) and not levels_in_order(_chain(y=y), step_range=(0.5, 1.4))
    assert levels_in_order(_chain(y=y), step_range=(0.5, 1.5))
    angle = np.radians([0, 0, 25, 50, 75])  # turns 25 deg per step
    x, yy = 100 + np.cumsum(40 * np.sin(angle)), 60 + np.cumsum(40 * np.cos(angle))
    assert levels_in_order(_chain(x=list(x), y=list(yy)))
    assert not levels_in_order(_chain(x=list(x), y=list(yy)), max_turn_deg=20)


def test_order_failure_edges():
    d = _chain(y=[60.0, 100.0, 100.0, 140.0, 180.0], x=[100.0, 100.0, 140.0, 140.0, 140.0])  # a flat step
    assert order_failure(d) == "levels not in cranio-caudal order (centre y not increasing)"
    tiny = _chain(y=[60.0, 100.0, 100.5, 140.0, 180.0])  # downward, if barely: in order, but uneven
    assert order_failure(tiny).startswith("uneven steps")
    x = [100.0] * 5
    x[2] += 12  # 12 px off a 40 px step turns the chain by 33 deg: off the line
    assert order_failure(_chain(x=x)).startswith("centres off one smooth line (turns 33 deg")
    short = _chain(y=[60.0, 100.0, 140.0, 160.0, 200.0])  # one step exactly half the median
    assert levels_in_order(short) and not levels_in_order(short, step_range=(0.51, 2.0))
    bend = _chain(y=[60.0, 100.0, 140.0, 180.0, 220.0], x=[100.0, 100.0, 100.0, 140.0, 180.0])  # turns 45 deg
    assert levels_in_order(bend, max_turn_deg=45.0) and not levels_in_order(bend, max_turn_deg=44.9)
