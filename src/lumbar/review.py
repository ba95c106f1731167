"""The change review CI posts on a pull request: metrics and params against a base revision.

It only wraps `dvc metrics diff` and `dvc params diff`, so the same report runs locally before a push
(`lumbar review --base main`) and in CI, and reads the same as DVC's own output.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _dvc(args: list[str], cwd: Path) -> str:
    cmd = [sys.executable, "-m", "dvc", *args]
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed in {cwd}:\n{res.stderr.strip()}")
    return res.stdout.strip()


def review_report(base: str = "main", repo: Path | str = ".") -> str:
    """Markdown: metric changes (with deltas) and param changes of the workspace against `base`."""
    repo = Path(repo)
    metrics = _dvc(["metrics", "diff", base, "--md", "--precision", "4"], repo)
    params = _dvc(["params", "diff", base, "--md"], repo)
    return "\n".join([
        f"## Pipeline review against `{base}`",
        "",
        "### Metrics",
        "",
        metrics or "_No metric changed._",
        "",
        "### Params",
        "",
        params or "_No param changed._",
        "",
        "Lower `score` is better (competition log loss); `gap_captured` is the share of the gap between "
        "the class-prior baseline and the oracle that the pipeline closes.",
        "",
    ])
