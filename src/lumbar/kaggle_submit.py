"""Kaggle notebook entry point (submit.py of the `lumbar kaggle-package` folder): no internet needed.

    !python /kaggle/input/<dataset>/submit.py

1. installs every wheel of the dataset folder (in subfolders, or in the .zip/.tar archives an upload
   may leave them as) with `pip install --no-index --no-deps --target` into
   a fresh temporary folder put first on sys.path: pip never looks for anything online, and the
   notebook's own packages (torch, numpy, ...) serve every dependency the folder has no wheel for;
2. predicts the test set with lumbar.prediction.predict_test_set, the predict stage's own code
   (a study that cannot be read or predicted gets the training prior, the run goes on);
3. writes submission.csv with sample_submission.csv's rows in its order, or, without one, 25 rows
   per test study in the competition's column order.

Only the standard library is imported before the wheels are installed: this file runs before
`lumbar` is importable. Paths default to Kaggle's and can be changed by argument or environment.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COMPETITION = "rsna-2024-lumbar-spine-degenerative-classification"
DEFAULTS = {  # argument: (environment variable, Kaggle default)
    "input": ("LUMBAR_KAGGLE_INPUT", f"/kaggle/input/{COMPETITION}"),
    "output": ("LUMBAR_SUBMISSION", "/kaggle/working/submission.csv"),
}
SAMPLE, SERIES, IMAGES = "sample_submission.csv", "test_series_descriptions.csv", "test_images"
log = logging.getLogger("submit")


def install(wheels: list[Path], site: Path) -> None:
    """pip-install the wheels into `site` (offline, no dependency resolution) and import from there first."""
    if not any(w.name.startswith("lumbar-") for w in wheels):
        raise FileNotFoundError(f"no lumbar-*.whl among the wheels {[w.name for w in wheels]}")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-cache-dir", "--quiet",
           "--upgrade", "--target", str(site), *map(str, wheels)]  # --upgrade: replace what a reused --site has
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"pip install of {len(wheels)} wheel(s) into {site} failed:\n{res.stdout}{res.stderr}")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()


def missing_requirements() -> list[str]:
    """lumbar's requirements that no installed distribution provides (the wheels the folder lacks)."""
    from importlib import metadata

    missing = []
    for req in metadata.requires("lumbar") or []:
        if "extra ==" in req:
            continue
        name = re.match(r"[A-Za-z0-9._-]+", req).group(0)
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def default_sample(input_dir: Path):
    """25 rows per test study (listed in the series CSV or a folder of test_images), columns in the
    competition's order, studies by id: the rows when there is no sample_submission.csv."""
    import pandas as pd

    from lumbar.kaggle import read_kaggle
    from lumbar.vocabulary import LABEL_COLUMNS, ROW_ID, STUDY_ID, SUBMISSION_COLUMNS, row_id

    studies = set(read_kaggle(input_dir, part="test").series[STUDY_ID].astype(int))
    if (input_dir / IMAGES).is_dir():
        studies |= {int(p.name) for p in (input_dir / IMAGES).iterdir() if p.is_dir() and p.name.isdigit()}
    sample = pd.DataFrame({ROW_ID: [row_id(s, c) for s in sorted(studies) for c in LABEL_COLUMNS]})
    for c in SUBMISSION_COLUMNS:
        sample[c] = 1.0 / len(SUBMISSION_COLUMNS)
    return sample


def with_sample(input_dir: Path, work: Path) -> Path:
    """input_dir itself when it has sample_submission.csv; else `work` laid out like it (links to its
    images and series CSV) plus a default sample, since predict_test_set takes its rows from one."""
    if (input_dir / SAMPLE).is_file():
        return input_dir
    from lumbar.vocabulary import LABEL_COLUMNS

    sample = default_sample(input_dir)
    work.mkdir(parents=True, exist_ok=True)
    for name in (IMAGES, SERIES):
        if (input_dir / name).exists():
            (work / name).symlink_to((input_dir / name).resolve())
    sample.to_csv(work / SAMPLE, index=False, float_format="%.6f")
    log.warning("%s not found: %d rows written for the %d test studies of %s", input_dir / SAMPLE, len(sample),
                len(sample) // len(LABEL_COLUMNS), input_dir)
    return work


def locate(folder: Path, work: Path) -> tuple[Path | None, list[Path]]:
    """The bundle folder (the one holding bundle.json) and the wheels under `folder`.

    An upload can nest the folders, or leave them as the .zip/.tar archives the Kaggle CLI uploads
    subfolders as: when no bundle or no lumbar wheel is found, the archives directly in `folder` are
    unpacked under `work` and searched too.
    """
    def find(roots: list[Path]) -> tuple[Path | None, list[Path]]:
        bundles = sorted({p.parent for r in roots for p in r.rglob("bundle.json")})
        wheels: dict[str, Path] = {}
        for p in (p for r in roots for p in sorted(r.rglob("*.whl"))):
            wheels.setdefault(p.name, p)  # one file per wheel name: pip refuses the same one twice
        return (bundles[0] if len(bundles) == 1 else None), sorted(wheels.values(), key=lambda p: p.name)

    bundle, wheels = find([folder])
    if bundle is None or not any(w.name.startswith("lumbar-") for w in wheels):
        for archive in sorted(folder.glob("*.zip")) + sorted(folder.glob("*.tar")):
            shutil.unpack_archive(archive, work / "unpacked" / archive.stem)
        if (work / "unpacked").is_dir():
            bundle, wheels = find([folder, work / "unpacked"])
    return bundle, wheels


def _args(argv: list[str] | None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, (var, default) in DEFAULTS.items():
        ap.add_argument(f"--{name}", type=Path, default=Path(os.environ.get(var, default)),
                        help=f"(${var}, default %(default)s)")
    ap.add_argument("--package", type=Path, default=here,
                    help="the dataset folder: bundle and wheels are found in it (default %(default)s)")
    ap.add_argument("--bundle", type=Path, help="model bundle folder (default: the one in --package)")
    ap.add_argument("--wheels", type=Path, help="folder of the *.whl files to install (default: those in --package)")
    ap.add_argument("--site", type=Path, help="install the wheels here (default: a new temporary folder)")
    ap.add_argument("--no-install", action="store_true", help="use the lumbar already installed")
    return ap.parse_args(argv)


def run(args: argparse.Namespace, work: Path) -> dict:
    """Install, predict, write the submission; return predict_test_set's figures."""
    # ultralytics writes its settings at import: keep them out of /kaggle/working (the notebook's output)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(work / "ultralytics"))
    bundle, wheels = locate(args.package, work)
    bundle = args.bundle or bundle
    if bundle is None:
        raise FileNotFoundError(f"no single folder with a bundle.json in {args.package}: pass --bundle")
    if not args.no_install:
        install(sorted(args.wheels.glob("*.whl")) if args.wheels else wheels, args.site or work / "site")
    missing = missing_requirements()
    if missing:
        log.warning("not installed, and no wheel for them in the dataset: %s", missing)
    try:
        import lumbar
        from lumbar.prediction import predict_test_set
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"{exc}: add its wheel to the dataset (lumbar kaggle-package --download-deps)") from exc
    log.info("lumbar %s from %s", lumbar.__version__, Path(lumbar.__file__).parent)
    metrics = predict_test_set(bundle, with_sample(args.input, work / "input"), args.output, report_studies=0)
    log.info("%s: %d rows, %d studies, %d cells from the prior", args.output, metrics["rows"], metrics["studies"],
             metrics["cells_from_prior"])
    return metrics


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _args(argv)
    with tempfile.TemporaryDirectory(prefix="lumbar-submit-") as work:
        try:
            run(args, Path(work))
        except (FileNotFoundError, ValueError, RuntimeError) as exc:  # say which file or value, no traceback
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
