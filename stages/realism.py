"""Stage realism: mid-sagittal phantoms beside real lumbar MRI (reports/realism.png), same windowing.

The real images are read from `realism.real_dir` when that folder exists (they are never copied into
the project); without it the sheet shows the phantoms alone.
"""
import argparse
from pathlib import Path

from lumbar import params as P
from lumbar.paths import Paths
from lumbar.realism import realism_sheet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default=str(P.DEFAULT_PATH))
    args = ap.parse_args()
    paths = Paths()
    real = Path(P.load(args.params).realism["real_dir"])
    out = realism_sheet(paths.synthetic / "kaggle", paths.realism_sheet, real if real.is_dir() else None)
    print(f"wrote {out}" + ("" if real.is_dir() else f" (phantoms only: {real} not found)"))


if __name__ == "__main__":
    main()
