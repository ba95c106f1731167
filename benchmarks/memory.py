"""Peak resident memory of extract and of predict on the demo data, each in its own process.

    python benchmarks/memory.py

Each job runs in a fresh child process writing to a temporary folder (the pipeline's own outputs are
not touched); the child's peak RSS (ru_maxrss, including its worker processes) is reported.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

JOBS = {
    "extract": """
from lumbar import params as P
from lumbar.extract import extract
p = P.load()
extract(p.data.kaggle_dir, OUT, workers=int(p.extract.workers),
        low_pct=float(p.extract.low_percentile), high_pct=float(p.extract.high_percentile))
""",
    "predict": """
from lumbar import params as P
from lumbar.paths import Paths
from lumbar.prediction import predict_test_set
predict_test_set(Paths().bundle, P.load().data.kaggle_dir, OUT / "submission.csv", progress=False)
""",
}


def peak_rss_mib(code: str, out: Path) -> float:
    """Run code in a child interpreter; return the largest RSS of it or any of its children (MiB)."""
    wrapper = ("import resource\nfrom pathlib import Path\n"
               f"OUT = Path({str(out)!r})\n{code}\n"
               "me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
               "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
               "print('RSS', max(me, kids))\n")
    res = subprocess.run([sys.executable, "-c", wrapper], cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(res.stderr[-3000:])
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RSS ")][-1]
    return int(line.split()[1]) / 1024


def main() -> None:
    for name, code in JOBS.items():
        with tempfile.TemporaryDirectory() as tmp:
            print(f"{name}: peak RSS {peak_rss_mib(code, Path(tmp)):.0f} MiB")


if __name__ == "__main__":
    main()
