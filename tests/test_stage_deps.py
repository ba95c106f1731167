"""dvc.yaml's code deps match the code: each stage declares exactly the package modules its script runs.

A module a stage imports but does not declare would let DVC skip the stage after that module changed
(the figure in metrics/ would then score code that no longer exists); a declared module it does not
import re-runs it for nothing.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from lumbar.bundle import INFERENCE_MODULE
from lumbar.codebase import import_closure

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
# Code a stage's output depends on beyond what its script imports: bundle.json records the digest of
# the inference code.
EXTRA_ROOTS = {"bundle": [INFERENCE_MODULE]}


def stages(dvc_yaml: dict) -> dict[str, tuple[Path, list[str]]]:
    """stage name -> (its script, its deps), from the `python stages/x.py` of each cmd."""
    out = {}
    for name, st in dvc_yaml["stages"].items():
        script = next(w for w in st["cmd"].split() if w.startswith("stages/") and w.endswith(".py"))
        out[name] = (ROOT / script, [str(d) for d in st["deps"]])
    return out


def check(name: str, script: Path, deps: list[str]) -> tuple[list[str], list[str]]:
    """(closure files no dep covers, src deps that cover a file outside the closure)."""
    closure = {p.resolve().relative_to(ROOT).as_posix()
               for p in import_closure(script, *EXTRA_ROOTS.get(name, []))}
    src_deps = [d.rstrip("/") for d in deps if d.startswith("src/")]
    missing = sorted(f for f in closure if not any(f == d or f.startswith(d + "/") for d in src_deps))
    extra = []
    for d in src_deps:
        path = ROOT / d
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        if not files or any(p.relative_to(ROOT).as_posix() not in closure for p in files):
            extra.append(d)
    return missing, extra


def _dvc_yaml() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


@pytest.mark.parametrize("name", sorted(_dvc_yaml()["stages"]))
def test_stage_declares_exactly_the_modules_its_script_runs(name):
    script, deps = stages(_dvc_yaml())[name]
    assert script.is_file(), f"{name}: {script} does not exist"
    assert script.relative_to(ROOT).as_posix() in deps, f"{name} does not depend on its own script"
    missing, extra = check(name, script, deps)
    assert not missing, f"dvc.yaml stage {name!r} runs but does not declare: {missing}"
    assert not extra, f"dvc.yaml stage {name!r} declares modules it never imports: {extra}"


def test_the_check_fails_when_a_module_is_removed_or_an_unused_one_added():
    script, deps = stages(_dvc_yaml())["locate"]
    assert "src/lumbar/detection/levels.py" in deps
    missing, _ = check("locate", script, [d for d in deps if d != "src/lumbar/detection/levels.py"])
    assert missing == ["src/lumbar/detection/levels.py"]
    _, extra = check("locate", script, deps + ["src/lumbar/report.py", "src/lumbar/synthetic"])
    assert extra == ["src/lumbar/report.py", "src/lumbar/synthetic"]


def test_import_closure_follows_relative_lazy_and_parent_package_imports(tmp_path):
    pkg = tmp_path / "lumbar"
    files = {
        "__init__.py": "",
        "a.py": "from .sub.b import thing\n",
        "sub/__init__.py": "from . import c\n",
        "sub/b.py": "def thing():\n    from ..d import x\n    return x\n",
        "sub/c.py": "import numpy\n",
        "d.py": "from lumbar import e\n",
        "e.py": "",
        "unused.py": "",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(textwrap.dedent(text))
    script = tmp_path / "run.py"
    script.write_text("import os\nfrom lumbar.a import thing\n")
    got = {p.relative_to(pkg).as_posix() for p in import_closure(script, package_dir=pkg)}
    assert got == {"__init__.py", "a.py", "sub/__init__.py", "sub/b.py", "sub/c.py", "d.py", "e.py"}
