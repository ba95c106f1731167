"""The folder to upload as a Kaggle dataset, so a notebook with no internet can submit.

Layout (fixed names, nothing dated, so two builds of the same inputs list the same files):

  bundle/        a copy of the model bundle (lumbar.bundle)
  wheels/        lumbar-<version>-py3-none-any.whl, plus dependency wheels when asked for
  submit.py      the notebook's entry point (lumbar/kaggle_submit.py of the packaged source)
  README.txt     what the folder holds and the notebook cell that runs it
  dataset-metadata.json   only if `kaggle datasets init` wrote one: a rebuild keeps it

Downloading the dependency wheels needs the network, so it only happens on request
(`download_deps`); otherwise they can be copied in from a folder (`extra_wheels`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .bundle import FORMAT, INFERENCE_MODULE, MANIFEST
from .codebase import closure_digest

__all__ = ["KAGGLE_MISSING", "BUNDLE_DIR", "WHEELS_DIR", "SCRIPT", "README", "METADATA", "PLATFORMS",
           "build_package", "pinned_versions", "download_command", "copy_wheels"]

# What a Kaggle notebook lacks among pyproject.toml's dependencies, as far as we know the Kaggle Python
# image: torch, torchvision, numpy, pandas, pyarrow, opencv-python, pillow, scipy, scikit-learn, pyyaml,
# tqdm and matplotlib are part of it (and building them into a dataset would be gigabytes); the
# pylibjpeg decoders (JPEG / JPEG 2000 / RLE pixel data) and ultralytics (the detectors) are not.
# pydicom may be missing or older than the 3.0 this package needs, so its wheel comes too.
# ultralytics' other requirements are left out: its imports of ultralytics-thop (FLOP counts) and
# nvidia-ml-py are guarded or scoped to code inference does not run, and ultralytics-platform is
# imported only on attribute access. Check with `pip list` in a notebook and extend the list if needed.
KAGGLE_MISSING: tuple[str, ...] = ("pydicom", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg",
                                   "pylibjpeg-rle", "ultralytics")
# The notebook's platform: Linux x86-64, glibc 2.35 (Ubuntu 22.04, which we take the Kaggle image to be
# based on; `ldd --version` in a notebook says). pip compares platform tags as exact strings and pip 23
# expands none of the manylinux_2_Y ones, so every tag up to that glibc is named.
KAGGLE_GLIBC_MINOR = 35
PLATFORMS: tuple[str, ...] = ("manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64",
                              *(f"manylinux_2_{m}_x86_64" for m in range(5, KAGGLE_GLIBC_MINOR + 1)))
BUNDLE_DIR, WHEELS_DIR, SCRIPT, README = "bundle", "wheels", "submit.py", "README.txt"
METADATA = "dataset-metadata.json"  # the Kaggle CLI's; kept across rebuilds
SCRIPT_SOURCE = Path("src") / "lumbar" / "kaggle_submit.py"
_EPOCH = "315532800"  # 1980-01-01, the earliest zip time: the wheel's file times do not depend on the build's
_MARK = "Built by `lumbar kaggle-package`"  # README.txt's first line: marks a folder safe to rebuild


def _check_bundle(bundle: Path) -> dict:
    path = bundle / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {bundle} is not a model bundle (build it with `dvc repro bundle`)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


def _replaceable(out: Path) -> bytes | None:
    """Check that `out` is absent, empty or a previous build (never overwrite a mistyped --out); return
    its dataset-metadata.json (`kaggle datasets init` wrote it, the upload needs it) to keep."""
    if not out.exists():
        return None
    readme, meta = out / README, out / METADATA
    ours = readme.is_file() and readme.read_text(encoding="utf-8").startswith(_MARK)
    if not out.is_dir() or (not ours and any(out.iterdir())):
        raise ValueError(f"{out} exists and is not a folder built by `lumbar kaggle-package`: "
                         "refusing to overwrite it (choose another --out or remove it)")
    return meta.read_bytes() if meta.is_file() else None


def _pip(args: list[str], what: str, env: dict[str, str] | None = None) -> None:
    res = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if res.returncode != 0:
        raise RuntimeError(f"{what} failed (pip exited {res.returncode}):\n{(res.stdout + res.stderr)[-3000:]}")


def _build_wheel(project: Path, dest: Path) -> Path:
    """`pip wheel --no-deps` of a clean copy of the project's source (pyproject.toml, README.md, src/),
    so the build leaves nothing in the checkout; no build isolation, so no network either."""
    with tempfile.TemporaryDirectory(prefix="lumbar-wheel-") as tmp:
        src = Path(tmp) / "project"
        shutil.copytree(project / "src", src / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(project / name, src / name)
        before = set(dest.glob("lumbar-*.whl"))
        _pip(["wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet", "-w", str(dest), str(src)],
             f"building the wheel of {project}", {"SOURCE_DATE_EPOCH": _EPOCH})
    built = sorted(set(dest.glob("lumbar-*.whl")) - before)
    if len(built) != 1:
        raise RuntimeError(f"building the wheel of {project} gave {[p.name for p in built]} in {dest}")
    return built[0]


def _norm(name: str) -> str:
    """A distribution name as PEP 503 compares them (and as a wheel's file name starts, `-` for `_`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(requirements: Path, names: tuple[str, ...] = KAGGLE_MISSING) -> dict[str, str]:
    """{name: version} of `names` from requirements.txt's `name==version` lines."""
    if not requirements.is_file():
        raise FileNotFoundError(f"{requirements} not found: the pinned versions of the dependency wheels come from it")
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+).*", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    missing = [n for n in names if _norm(n) not in pins]
    if missing:
        raise ValueError(f"{requirements}: no `name==version` pin for {missing}")
    return {n: pins[_norm(n)] for n in names}


def download_command(pins: dict[str, str], dest: Path, python_version: str | None = None) -> list[str]:
    """pip's arguments to fetch exactly the pinned wheels, nothing they depend on, never an sdist, built
    for the notebook's platform (PLATFORMS) and CPython `python_version` (default: this interpreter's)."""
    version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    args = ["download", "--no-deps", "--only-binary=:all:", "-d", str(dest), "--python-version", version,
            "--implementation", "cp"]
    for p in PLATFORMS:
        args += ["--platform", p]
    return args + [f"{n}=={v}" for n, v in pins.items()]


def copy_wheels(src: Path, dest: Path) -> list[Path]:
    """Copy the .whl files of src into dest (wheels downloaded elsewhere, e.g. on a machine online);
    a wheel dest already has is kept, so an old lumbar wheel in src never replaces the one just built."""
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder of wheels")
    wheels = sorted(src.glob("*.whl"))
    if not wheels:
        raise FileNotFoundError(f"{src}: no .whl files in it")
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(w, dest / w.name)) for w in wheels if not (dest / w.name).exists()]


def _readme(manifest: dict, wheels: list[str], code_matches: bool) -> str:
    have = {_norm(w.split("-")[0]) for w in wheels}
    missing = [n for n in KAGGLE_MISSING if _norm(n) not in have]
    lines = [
        f"{_MARK}: the lumbar spine grader (RSNA 2024), ready for a Kaggle notebook with no internet.",
        "",
        f"{BUNDLE_DIR}/     the model bundle (format {manifest['format']}, lumbar {manifest.get('lumbar_version')},",
        f"            inference code sha256 {manifest.get('inference_code_sha256')})",
        f"{WHEELS_DIR}/     " + (", ".join(wheels)),
        f"{SCRIPT}   installs the wheels (pip --no-index --no-deps, into a temporary folder), predicts",
        "            every study of the test set and writes /kaggle/working/submission.csv",
        "",
        "Notebook cell (add this dataset and the competition data as inputs; internet off):",
        "",
        f"    !python /kaggle/input/<this-dataset>/{SCRIPT}",
        "",
        f"Options: python {SCRIPT} --help (input folder, output file, bundle, wheels).",
    ]
    if not code_matches:
        lines += ["", "NOTE: the bundle was built by other inference code than the wheel's (digests differ)."]
    if missing:
        lines += ["", "Not included (the notebook must have them, or add their wheels to wheels/): " + ", ".join(missing),
                  "  lumbar kaggle-package --download-deps   (needs the network), or --extra-wheels DIR"]
    return "\n".join(lines) + "\n"


def build_package(bundle: str | Path, out: str | Path, project: str | Path = ".", extra_wheels: str | Path | None = None,
                  download_deps: bool = False, python_version: str | None = None) -> dict:
    """Write the dataset folder; return {"files": relative paths, "code_matches": bool}.

    `project` is the checkout whose source is packaged (pyproject.toml, requirements.txt, src/).
    `code_matches` says whether the bundle's recorded inference-code digest is this source's.
    """
    bundle, out, project = Path(bundle), Path(out).absolute(), Path(project).resolve()
    manifest = _check_bundle(bundle)
    for need in ("pyproject.toml", "README.md", SCRIPT_SOURCE):
        if not (project / need).is_file():
            raise FileNotFoundError(f"{project / need} not found: {project} is not the lumbar project (pass --project)")
    pins = pinned_versions(project / "requirements.txt") if download_deps else {}
    metadata = _replaceable(out)
    building = out.with_name(f".{out.name}.building")  # renamed to `out` once complete: no half-built folder
    shutil.rmtree(building, ignore_errors=True)
    try:
        code_matches = _fill(building, bundle, manifest, project, extra_wheels, pins, python_version)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if metadata is not None:
        (building / METADATA).write_bytes(metadata)
    if out.exists():
        shutil.rmtree(out)
    building.rename(out)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    return {"files": files, "code_matches": code_matches}


def _fill(out: Path, bundle: Path, manifest: dict, project: Path, extra_wheels: str | Path | None,
          pins: dict[str, str], python_version: str | None) -> bool:
    """Write the folder's contents; return whether the bundle's inference-code digest is the source's."""
    shutil.copytree(bundle, out / BUNDLE_DIR, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = out / WHEELS_DIR
    wheels.mkdir(parents=True)
    _build_wheel(project, wheels)
    if extra_wheels is not None:
        copy_wheels(Path(extra_wheels), wheels)
    if pins:
        _pip(download_command(pins, wheels, python_version), "downloading the dependency wheels (needs the network)")
    shutil.copy2(project / SCRIPT_SOURCE, out / SCRIPT)
    code_matches = manifest.get("inference_code_sha256") == closure_digest(
        INFERENCE_MODULE, package_dir=project / "src" / "lumbar")
    names = sorted(p.name for p in wheels.glob("*.whl"))
    (out / README).write_text(_readme(manifest, names, code_matches), encoding="utf-8")
    return code_matches
