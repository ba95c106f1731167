"""Is a change better, or luck? The paired patient bootstrap of two evaluate runs' scores.

    python benchmarks/compare.py [--base HEAD] [--new workspace]

Both runs must have scored the same unseen patients (same data stages). Each side's
`data/evaluate/predictions.csv` and `solution.csv` come from the DVC cache of that git revision (or the
working tree for `workspace`). Every replicate draws the same patients for both runs, so the interval of the difference is far narrower than the difference of two intervals: two
runs of one demo share most of their luck.

On synthetic data (`data.oracle` in params.yaml exists) the difference is given twice: on the
reader's grades, and expected over the grades the generator's posterior gives (evaluate's
`expected`), which leaves the reader's coin flips out of the comparison.
"""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pandas as pd

from lumbar.bootstrap import bootstrap, interval, study_sums, sums_parts
from lumbar.params import load as load_params
from lumbar.vocabulary import COLUMN_GROUP, ROW_ID, STUDY_ID, SUBMISSION_COLUMNS, split_row_id


def _read(path: str, rev: str) -> pd.DataFrame:
    if rev == "workspace":
        return pd.read_csv(path)
    import dvc.api

    with dvc.api.open(path, rev=rev) as f:
        return pd.read_csv(io.StringIO(f.read()))


def _solution(frame: pd.DataFrame) -> pd.DataFrame:
    """evaluate's solution.csv (one-hot, sample_weight) back to the scorer's long solution table."""
    ids = [split_row_id(r) for r in frame[ROW_ID]]
    return pd.DataFrame({ROW_ID: frame[ROW_ID], STUDY_ID: [int(s) for s, _ in ids], "column": [c for _, c in ids],
                         "group": [COLUMN_GROUP[c] for _, c in ids],
                         "grade": frame[list(SUBMISSION_COLUMNS)].to_numpy().argmax(axis=1),
                         "weight": frame["sample_weight"].astype(float)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="HEAD", help="git revision of the baseline run")
    ap.add_argument("--new", default="workspace", help="git revision of the new run, or workspace")
    ap.add_argument("--replicates", type=int, default=2000)
    args = ap.parse_args()
    sol = {r: _read("data/evaluate/solution.csv", r) for r in (args.base, args.new)}
    if sorted(sol[args.base][ROW_ID]) != sorted(sol[args.new][ROW_ID]):
        raise SystemExit("the two runs scored different rows: compare runs on the same data")
    solution = _solution(sol[args.new])
    subs = {name: _read("data/evaluate/predictions.csv", rev) for name, rev in (("base", args.base), ("new", args.new))}
    metrics = json.loads(Path("metrics/evaluate.json").read_text())
    print(f"{solution[STUDY_ID].nunique()} patients, {args.replicates} paired replicates")
    _report("on the reader's grades", solution, subs, None, metrics, args)
    oracle = Path(str(load_params().data.oracle or ""))
    if oracle.is_file() and "expected" in metrics:
        _report("expected over the posterior's grades", solution, subs, pd.read_csv(oracle), metrics["expected"], args)


def _report(title: str, solution: pd.DataFrame, subs: dict, truth, metrics: dict, args) -> None:
    """Point scores, intervals and the paired difference (score and gap_captured) of base and new."""
    reps = bootstrap(solution, subs, n=args.replicates, truth=truth)
    point = {name: sums_parts(*study_sums(solution, sub, truth)[:2])["score"] for name, sub in subs.items()}
    span = metrics["prior"]["score"] - metrics["oracle"]["score"]  # same patients, so the same prior and oracle
    print(title)
    for name in ("base", "new"):
        print(f"  {name:4s} ({getattr(args, name)}): score {point[name]:.4f} {interval(reps[name])}")
    d = reps["new"] - reps["base"]
    print(f"  new - base: {point['new'] - point['base']:+.4f} {interval(d)}  (negative: new is better)")
    print(f"  gap_captured change: {(point['base'] - point['new']) / span:+.3f} "
          f"{[round(-v / span, 3) for v in interval(d)[::-1]]}")


if __name__ == "__main__":
    main()
