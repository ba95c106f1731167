"""Invariants that say more than examples (Hypothesis): geometry round trips on any plane, the metric's
indifference to row order and scale, the split's guarantees on any label table."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumbar.geometry import patient_to_pixel, pixel_to_patient
from lumbar.metric import score_parts, solution_table
from lumbar.split import make_split
from lumbar.vocabulary import FOLD, GRADES, LABEL_COLUMNS, SPLIT, SUBMISSION_COLUMNS

finite = st.floats(-500, 500, allow_nan=False, allow_infinity=False)
unit = st.floats(-1, 1, allow_nan=False, allow_infinity=False)


def _frame(angles, origin, spacing):
    """A plane of any orientation: the axial frame turned by three angles."""
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    rot = rz @ ry @ rx
    r, col = rot @ [1.0, 0, 0], rot @ [0, 1.0, 0]
    return {"ipp_x": origin[0], "ipp_y": origin[1], "ipp_z": origin[2], "row_x": r[0], "row_y": r[1],
            "row_z": r[2], "col_x": col[0], "col_y": col[1], "col_z": col[2],
            "spacing_row": spacing[0], "spacing_col": spacing[1]}


angles = st.tuples(*[st.floats(-np.pi, np.pi, allow_nan=False)] * 3)
spacings = st.tuples(st.floats(0.2, 2.0), st.floats(0.2, 2.0))


@given(angles, st.tuples(finite, finite, finite), spacings, st.floats(0, 800), st.floats(0, 800), st.floats(-20, 20))
def test_pixel_patient_round_trip_on_any_plane(ang, origin, spacing, x, y, off):
    f = _frame(ang, origin, spacing)
    normal = np.cross([f["row_x"], f["row_y"], f["row_z"]], [f["col_x"], f["col_y"], f["col_z"]])
    p = pixel_to_patient(f, x, y) + off * normal
    x2, y2, d = patient_to_pixel(f, p)
    assert np.allclose((x2, y2, d), (x, y, off), atol=1e-6)


def _labels(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = rng.choice(np.array(GRADES, dtype=object), size=(n, len(LABEL_COLUMNS)), p=[0.65, 0.22, 0.13])
    text[rng.random(text.shape) < 0.05] = None
    df = pd.DataFrame(text, columns=list(LABEL_COLUMNS))
    df.insert(0, "study_id", rng.choice(10**9, n, replace=False) + 1)
    return df


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 12), st.floats(0.1, 10.0))
def test_score_ignores_row_order_and_the_scale_of_each_row(seed, n, scale):
    sol = solution_table(_labels(seed, n))
    rng = np.random.default_rng(seed + 1)
    sub = pd.DataFrame(rng.dirichlet([1, 1, 1], size=len(sol)), columns=list(SUBMISSION_COLUMNS))
    sub.insert(0, "row_id", sol["row_id"].to_numpy())
    base = score_parts(sol, sub)
    shuffled = sub.sample(frac=1.0, random_state=seed % 2**32).reset_index(drop=True)
    scaled = sub.copy()
    scaled[list(SUBMISSION_COLUMNS)] *= scale * rng.uniform(0.5, 2.0, size=(len(sub), 1))
    for other in (shuffled, scaled):
        got = score_parts(sol, other)
        assert all(abs(got[k] - base[k]) < 1e-9 for k in base)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 4))
def test_constructed_cases_have_their_known_scores(seed, grade_shift):
    """A prediction that puts p on the true grade scores -log p in every part."""
    labels = _labels(seed, 6)
    sol = solution_table(labels)
    p = 0.25 + 0.7 * (seed % 7) / 7
    probs = np.full((len(sol), 3), (1 - p) / 2)
    probs[np.arange(len(sol)), sol["grade"].to_numpy()] = p
    sub = pd.DataFrame(probs, columns=list(SUBMISSION_COLUMNS))
    sub.insert(0, "row_id", sol["row_id"].to_numpy())
    parts = score_parts(sol, sub)
    for g in ("spinal", "foraminal", "subarticular"):
        if (sol["group"] == g).any():
            assert abs(parts[g] + np.log(p)) < 1e-9


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.integers(40, 160), st.sampled_from([0.15, 0.2, 0.25]), st.integers(3, 6))
def test_split_puts_every_study_in_exactly_one_place(seed, n, holdout, folds):
    labels = _labels(seed, n)
    s = make_split(labels, holdout=holdout, folds=folds, val_fold=0, seed=seed % 1000)
    assert sorted(s["study_id"]) == sorted(labels["study_id"]) and s["study_id"].is_unique
    assert abs((s[SPLIT] == "holdout").sum() - round(holdout * n)) <= 1
    rest = s[s[SPLIT] != "holdout"]
    assert set(rest[FOLD]) == set(range(folds)) and ((s[SPLIT] == "holdout") == (s[FOLD] == -1)).all()
    assert ((rest[SPLIT] == "val") == (rest[FOLD] == 0)).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**6), st.integers(1, 8), st.booleans(), st.booleans())
def test_train_csv_reads_back_whatever_its_line_endings_bom_and_blanks(tmp_path_factory, seed, n, crlf, bom):
    from dicom_fixtures import write_kaggle
    from lumbar.kaggle import read_kaggle

    root = write_kaggle(tmp_path_factory.mktemp("k"), images=False)
    labels = _labels(seed, n).sort_values("study_id").reset_index(drop=True)
    nl = "\r\n" if crlf else "\n"
    def text(v):
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

    lines = [",".join(labels.columns)] + [",".join(text(v) for v in row) for row in labels.itertuples(index=False)]
    (root / "train.csv").write_bytes(("\ufeff" if bom else "").encode() + (nl.join(lines) + nl).encode())
    got = read_kaggle(root, "train").labels.sort_values("study_id").reset_index(drop=True)
    assert list(got["study_id"]) == list(labels["study_id"])
    for c in LABEL_COLUMNS:
        want = [text(v) or None for v in labels[c]]
        have = [text(v) or None for v in got[c]]
        assert have == want, c


def _rotation(ax: float, ay: float) -> np.ndarray:
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    return ry @ rx


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(2, 5), st.floats(2.5, 5.0), st.floats(-0.25, 0.25), st.floats(-0.25, 0.25)),
                min_size=1, max_size=4),
       st.randoms(use_true_random=False))
def test_read_series_recovers_any_set_of_oblique_stacks(tmp_path_factory, blocks, rnd):
    """Per-disc axial blocks at any tilt, files named and numbered in any order: read_series keeps
    every slice, finds each block as one stack, orders blocks head-wards and slices along their own normal."""
    from dicom_fixtures import AX_IOP, write_dicom
    from lumbar.dicom import read_series

    folder = tmp_path_factory.mktemp("series")
    truth = []  # (stack, position along its normal) per written slice, by instance number
    specs = []
    for k, (n, step, ax, ay) in enumerate(blocks):
        rot = _rotation(ax, ay)
        row, col = rot @ np.array(AX_IOP[:3]), rot @ np.array(AX_IOP[3:])
        normal = np.cross(row, col)
        centre = np.array([0.0, 0.0, 45.0 * k])  # blocks 45 mm apart, each at most 20 mm thick
        for j in range(n):
            specs.append((k, centre + (j - n / 2) * step * normal, row, col, (j - n / 2) * step))
    numbers = rnd.sample(range(1, 10 * len(specs) + 1), len(specs))
    order = list(range(len(specs)))
    rnd.shuffle(order)  # files are written, named and numbered in no particular order
    for i in order:
        k, pos, row, col, along = specs[i]
        write_dicom(folder / f"{numbers[i]}.dcm", np.zeros((4, 4), np.uint16), pos, (*row, *col), (0.8, 0.8),
                    numbers[i])
        truth.append((numbers[i], k, along))
    series = read_series(folder, pixels=False)
    assert not series.skipped and len(series.slices) == len(specs)
    assert series.n_stacks == len(blocks)
    stack_of = {num: k for num, k, _ in truth}
    along_of = {num: a for num, _, a in truth}
    got = [(stack_of[s.instance_number], along_of[s.instance_number]) for s in series.slices]
    assert [k for k, _ in got] == sorted(k for k, _ in got)  # blocks in order, each contiguous
    for k in range(len(blocks)):
        positions = [a for kk, a in got if kk == k]
        assert positions == sorted(positions)  # spatial order inside the block
    assert len(set(zip(series.stacks, (k for k, _ in got)))) == len(blocks)  # stack ids match blocks
