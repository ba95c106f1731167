"""A throw-away copy of this repository on a preset (tiny by default), for tests that run DVC end to end.

The copy is made from the working tree (tracked and untracked, not ignored), so the tests check what
is about to be committed, not the last commit; it gets its own git history, DVC cache and remote.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from lumbar.vocabulary import GROUP_NAMES

ROOT = Path(__file__).resolve().parents[1]
TINY = Path(__file__).with_name("tiny.yaml")
# Every stage of dvc.yaml, matrix stages expanded: what one full `dvc repro` runs.
ALL_STAGES = {"synthesize", "realism", "extract", "split", "locate", "bundle", "evaluate", "predict"} | {
    f"{s}@{g}" for s in ("yolo_data", "detect", "crop", "classify") for g in GROUP_NAMES}


def env(extra: dict[str, str] | None = None, cwd_src: Path | None = None) -> dict[str, str]:
    """The test's interpreter first on PATH, so dvc.yaml's `python` is the one with our packages."""
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e.get('PATH', '')}"
    e.pop("PYTHONPATH", None)
    if cwd_src is not None:  # a copy runs its own src/, the code its dvc.lock hashes, not the editable install
        e["PYTHONPATH"] = str(cwd_src)
    e["GIT_AUTHOR_NAME"] = e["GIT_COMMITTER_NAME"] = "tests"
    e["GIT_AUTHOR_EMAIL"] = e["GIT_COMMITTER_EMAIL"] = "tests@localhost"
    e.update(extra or {})
    return e


def sh(args: list[str], cwd: Path, check: bool = True, extra_env: dict[str, str] | None = None) -> str:
    """Run a command; on failure raise with its whole output, which is what one needs to debug."""
    src = Path(cwd) / "src"
    res = subprocess.run(args, cwd=cwd, env=env(extra_env, src if (src / "lumbar").is_dir() else None),
                         capture_output=True, text=True)
    out = res.stdout + res.stderr
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {res.returncode} in {cwd}:\n{out[-6000:]}")
    return out


def dvc(args: list[str], cwd: Path, check: bool = True) -> str:
    return sh([sys.executable, "-m", "dvc", *args], cwd, check)


def stages_run(output: str) -> set[str]:
    """Stage names DVC reports running in `dvc repro` / `dvc exp run` output."""
    return set(re.findall(r"Running stage '([^']+)'", output))


def make_repo(dst: Path, remote: Path, presets: Sequence[Path] = (TINY,)) -> Path:
    """Copy the working tree to dst, lay `presets` over its params in order, commit, set a local remote."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file() and not rel.startswith(("data/", "models/", "metrics/", "dvclive/", "reports/")):
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    from lumbar.params import write_preset

    for preset in presets:
        write_preset(preset, dst / "params.yaml")
    sh(["git", "init", "-q", "-b", "main"], dst)
    dvc(["remote", "add", "-d", "-f", "local", str(remote)], dst)
    sh(["git", "add", "-A"], dst)
    sh(["git", "commit", "-qm", "presets: " + ", ".join(Path(p).name for p in presets)], dst)
    return dst


def clone(src: Path, dst: Path) -> Path:
    """git clone of a tiny repo sharing its DVC cache, so outputs check out without re-running."""
    sh(["git", "clone", "-q", str(src), str(dst)], src.parent)
    dvc(["cache", "dir", str(src / ".dvc" / "cache")], dst)
    dvc(["checkout", "-q"], dst, check=False)
    return dst
