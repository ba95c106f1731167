"""The `lumbar` command: what a user runs besides `dvc repro`.

  lumbar predict STUDY_DIR [--models models/bundle] [--report DIR]   one study's 25 predictions
  lumbar info [--models models/bundle]                                what a model bundle holds
  lumbar review --base main                                           the metrics/params review CI posts
  lumbar preset params-real.yaml                                      lay a preset over params.yaml
  lumbar kaggle-package [--bundle models/bundle] [--out dist/kaggle-dataset] [--download-deps]
                                                                      the folder to upload for an offline submission

`predict` needs only a model bundle folder (`dvc repro bundle`, `dvc get ... models/bundle`, or a
copy of one) and the study folder: no params, no training data.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import params as P
from .paths import Paths

DEFAULT_MODELS = str(Paths().bundle)
DEFAULT_KAGGLE_PACKAGE = str(Path("dist") / "kaggle-dataset")


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from .bundle import Bundle
    from .inference import predict_dicom_study
    from .prediction import study_series
    from .report import write_report
    from .vocabulary import ROW_ID, SUBMISSION_COLUMNS

    study_dir = Path(args.study_dir)
    if not study_dir.is_dir() or not study_dir.name.isdigit():
        print(f"error: {study_dir} is not a study folder named by its numeric study_id", file=sys.stderr)
        return 2
    bundle = Bundle.load(args.models)
    pred, _ = predict_dicom_study(bundle, int(study_dir.name), study_series(study_dir), study_dir,
                                  keep_images=args.report is not None)
    for note in pred.notes:
        logging.warning("%s", note)
    pd.set_option("display.width", 200)
    print(pred.probs.to_string(index=False, float_format=lambda v: f"{v:.4f}",
                               columns=[ROW_ID, *SUBMISSION_COLUMNS, "source"]))
    if args.report:
        print(f"report: {write_report([pred], Path(args.report))}")
    return 0


def _info(args: argparse.Namespace) -> int:
    path = Path(args.models) / "bundle.json"
    if not path.is_file():
        print(f"error: {path} not found: not a model bundle", file=sys.stderr)
        return 2
    m = json.loads(path.read_text(encoding="utf-8"))
    print(json.dumps({k: m[k] for k in ("format", "lumbar_version", "inference_code_sha256", "groups", "locate",
                                        "window") if k in m}, indent=1, sort_keys=True))
    return 0


def _review(args: argparse.Namespace) -> int:
    from .review import review_report

    text = review_report(args.base, Path("."))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


def _preset(args: argparse.Namespace) -> int:
    P.write_preset(args.preset, args.target)
    print(f"{args.target}: {args.preset} laid over it")
    return 0


def _kaggle_package(args: argparse.Namespace) -> int:
    from .kaggle_package import README, build_package

    if args.python_version and not args.download_deps:
        print("error: --python-version chooses the wheels --download-deps fetches; pass both", file=sys.stderr)
        return 2
    try:
        built = build_package(args.bundle, args.out, args.project, args.extra_wheels, args.download_deps,
                              args.python_version)
    except RuntimeError as exc:  # pip failed: its output says why
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for f in built["files"]:
        print(f"{Path(args.out) / f}")
    if not built["code_matches"]:
        logging.warning("%s: the bundle was built by other inference code than the packaged source", args.bundle)
    print(f"next: upload {args.out} as a Kaggle dataset ({Path(args.out) / README} says how to run it)")
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lumbar", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="{predict,info,review,preset,kaggle-package}")
    pr = sub.add_parser("predict", help="print the 25 predictions of one study folder")
    pr.add_argument("study_dir", help="a study folder of series folders, e.g. .../test_images/<study_id>")
    pr.add_argument("--models", default=DEFAULT_MODELS, help="model bundle folder (default: %(default)s)")
    pr.add_argument("--report", help="also write a PNG + index.html of what the models saw here")
    pr.set_defaults(run=_predict)
    info = sub.add_parser("info", help="what a model bundle holds (specs, code version)")
    info.add_argument("--models", default=DEFAULT_MODELS, help="model bundle folder (default: %(default)s)")
    info.set_defaults(run=_info)
    rv = sub.add_parser("review", help="markdown of `dvc metrics diff` and `dvc params diff` against a base")
    rv.add_argument("--base", default="main", help="git revision to compare the workspace with")
    rv.add_argument("--output", help="write the markdown here instead of stdout")
    rv.set_defaults(run=_review)
    ps = sub.add_parser("preset", help="lay a preset (e.g. params-real.yaml) over params.yaml")
    ps.add_argument("preset")
    ps.add_argument("--target", default=str(P.DEFAULT_PATH))
    ps.set_defaults(run=_preset)
    kp = sub.add_parser("kaggle-package", help="the folder to upload as a Kaggle dataset: bundle, wheels, submit.py")
    kp.add_argument("--bundle", default=DEFAULT_MODELS, help="model bundle folder (default: %(default)s)")
    kp.add_argument("--out", default=DEFAULT_KAGGLE_PACKAGE, help="folder to write (default: %(default)s)")
    kp.add_argument("--project", default=".", help="checkout whose source is packaged (default: %(default)s)")
    kp.add_argument("--extra-wheels", help="also copy the *.whl files of this folder (dependency wheels)")
    kp.add_argument("--download-deps", action="store_true",
                    help="pip download the wheels a Kaggle notebook lacks, at requirements.txt's pins (needs the network)")
    kp.add_argument("--python-version", help="with --download-deps: the notebook's Python (e.g. 3.10) when not this one's")
    kp.set_defaults(run=_kaggle_package)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return int(args.run(args))
    except (FileNotFoundError, ValueError) as exc:  # a missing or foreign file: say which, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
