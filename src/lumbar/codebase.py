"""Which of the package's source files a module really runs: its import closure, read from the source.

DVC re-runs a stage only when a declared dependency changes, so a stage's `deps:` must name every
module its script imports (tests/test_stage_deps.py checks dvc.yaml against this), and the model
bundle records a digest of the code inference runs. Imports are found with `ast`, including those
inside functions; importing a submodule also runs every parent package's __init__.py.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "lumbar"
PACKAGE_DIR = Path(__file__).resolve().parent

__all__ = ["module_file", "imports_of", "import_closure", "closure_digest"]


def module_file(name: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The file of a `lumbar...` module (a package's __init__.py), None when there is no such module."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path, package_dir: Path) -> str:
    rel = path.relative_to(package_dir).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """Absolute names of the `lumbar` modules one file imports (relative imports resolved)."""
    path = Path(path)
    inside = path.resolve().is_relative_to(package_dir)
    here = _module_name(path.resolve(), package_dir) if inside else ""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = here.split(".") if is_pkg else here.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            found.add(base)
            for a in node.names:  # `from pkg import submodule`
                if module_file(f"{base}.{a.name}", package_dir) is not None:
                    found.add(f"{base}.{a.name}")
    return found


def import_closure(*roots: str | Path, package_dir: Path = PACKAGE_DIR) -> set[Path]:
    """Every package file run by importing the given modules (names) or running the given scripts (paths)."""
    todo: list[Path] = []
    seen: set[Path] = set()

    def add(name: str) -> None:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):  # parents' __init__ run first
            f = module_file(".".join(parts[:k]), package_dir)
            if f is not None and f not in seen:
                seen.add(f)
                todo.append(f)

    for r in roots:
        if isinstance(r, Path) or str(r).endswith(".py"):
            for name in imports_of(Path(r), package_dir):
                add(name)
        else:
            add(str(r))
    while todo:
        for name in imports_of(todo.pop(), package_dir):
            add(name)
    return seen


def closure_digest(*roots: str, package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the closure's sources (by relative path): changes exactly when that code does."""
    h = hashlib.sha256()
    for p in sorted(import_closure(*roots, package_dir=package_dir)):
        h.update(p.relative_to(package_dir).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()
