"""Mutation score of the core modules: mutmut plants one small bug at a time, the fast tests that
cover the mutated function run, and a bug no test notices "survives".

    pip install mutmut==3.8.1
    python benchmarks/mutation.py            # mutmut run (about 75 min on 2 cores), then the table
    python benchmarks/mutation.py --report   # the table from the last run only

The modules and the tests are configured in pyproject.toml ([tool.mutmut]). Survivors that are
equivalent (no test could tell them from the original, e.g. a dtype numpy promotes anyway) are listed
with a one-line reason in benchmarks/mutation_equivalent.txt; the score leaves them out:
score = killed / (mutants - equivalent). `mutmut show NAME` prints one mutant's diff.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.txt")
MUTMUT = [sys.executable, "-m", "mutmut"]
KILLED = {"killed", "timeout", "segfault"}   # a crash or hang is the test run noticing the bug


def equivalents(path: Path = EQUIVALENT) -> dict[str, str]:
    """mutant name -> why it is equivalent; '#' starts a comment line."""
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1) if path.is_file() else []:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, why = line.partition(" ")
        if not why.strip():
            raise ValueError(f"{path}:{n}: {name} has no reason")
        out[name] = why.strip()
    return out


def results() -> dict[str, str]:
    """mutant name -> status, from mutmut's stored results."""
    res = subprocess.run([*MUTMUT, "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True)
    out = {}
    for line in res.stdout.splitlines():
        m = re.match(r"\s*(\S+): (.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def module_of(mutant: str) -> str:
    """lumbar.split.x_make_split__mutmut_4 -> lumbar.split"""
    return mutant.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[0]


def table(status: dict[str, str], equiv: dict[str, str]) -> tuple[str, float]:
    """Markdown table per module and the overall score."""
    stale = sorted(set(equiv) - set(status))
    if stale:
        raise SystemExit(f"{EQUIVALENT.name}: {len(stale)} names are not mutants of this code, e.g. {stale[0]}")
    killed_yet_listed = sorted(n for n in equiv if status[n] in KILLED)
    if killed_yet_listed:  # a test tells it apart, so it is not equivalent: the list is wrong
        raise SystemExit(f"{EQUIVALENT.name}: {len(killed_yet_listed)} listed mutants are killed, e.g. "
                         f"{killed_yet_listed[0]}; remove them")
    per: dict[str, Counter] = defaultdict(Counter)
    for name, st in status.items():
        c = per[module_of(name)]
        c["mutants"] += 1
        if name in equiv:
            c["equivalent"] += 1
        elif st in KILLED:
            c["killed"] += 1
        else:
            c["survived" if st == "survived" else "not run" if st == "not checked" else "no test"] += 1
    lines = ["| module | mutants | equivalent | killed | survived | no test | not run | score |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    total = Counter()
    for mod in sorted(per):
        c = per[mod]
        total.update(c)
        live = c["mutants"] - c["equivalent"]
        lines.append(f"| {mod} | {c['mutants']} | {c['equivalent']} | {c['killed']} | {c['survived']} | "
                     f"{c['no test']} | {c['not run']} | {c['killed'] / max(live, 1):.1%} |")
    live = total["mutants"] - total["equivalent"]
    score = total["killed"] / max(live, 1)
    lines.append(f"| **all** | {total['mutants']} | {total['equivalent']} | {total['killed']} | {total['survived']} | "
                 f"{total['no test']} | {total['not run']} | **{score:.1%}** |")
    return "\n".join(lines), score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", action="store_true", help="only print the table of the last run")
    ap.add_argument("--survivors", action="store_true", help="also list the survivors not marked equivalent")
    ap.add_argument("--max-children", type=int, default=2)
    args = ap.parse_args()
    if not args.report:
        env = {**os.environ, "LUMBAR_MUTATION": "1"}  # tests/conftest.py: Hypothesis without shrinking
        subprocess.run([*MUTMUT, "run", "--max-children", str(args.max_children)], cwd=ROOT, check=True, env=env)
    status, equiv = results(), equivalents()
    text, _ = table(status, equiv)
    print(text)
    if args.survivors:
        for name, st in sorted(status.items()):
            if name not in equiv and st not in KILLED:
                print(f"{st:>12}  {name}")


if __name__ == "__main__":
    main()
