"""Imports flow one way: a module imports only from its own layer or the layers above (README, Layout)."""
from __future__ import annotations

from lumbar.codebase import PACKAGE_DIR, imports_of

LAYERS: tuple[tuple[str, ...], ...] = (
    ("lumbar", "vocabulary", "paths", "params", "dicom", "codebase"),
    ("geometry", "kaggle", "metric", "split", "windowing", "bootstrap"),
    ("extract", "extracted", "study", "realism"),
    ("synthetic", "detection", "classification", "crops"),
    ("locate", "located", "crop_sets"),
    ("bundle", "inference"),
    ("evaluation", "prediction", "report", "review", "kaggle_package", "kaggle_submit", "cli", "__main__"),
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def layer_of(module: str) -> int:
    """Layer of `lumbar.x...` by its first component below the package (a subpackage is one unit)."""
    parts = module.split(".")
    return LAYER[parts[1] if len(parts) > 1 else parts[0]]


def upward_imports() -> list[str]:
    bad = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        rel = path.relative_to(PACKAGE_DIR).with_suffix("")
        me = ".".join(["lumbar", *[p for p in rel.parts if p != "__init__"]])
        for target in sorted(imports_of(path)):
            if layer_of(target) > layer_of(me):
                bad.append(f"{me} (layer {layer_of(me)}) imports {target} (layer {layer_of(target)})")
    return bad


def test_every_module_has_a_layer():
    tops = {p.relative_to(PACKAGE_DIR).parts[0].removesuffix(".py") for p in PACKAGE_DIR.rglob("*.py")}
    tops.discard("__init__")
    assert sorted(tops - set(LAYER)) == []


def test_no_module_imports_from_a_layer_below_its_own():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(monkeypatch):
    """Plant one: with vocabulary's layer moved below inference, its own imports are fine but
    inference's import of vocabulary is an upward one."""
    monkeypatch.setitem(LAYER, "vocabulary", len(LAYERS))
    assert any("imports lumbar.vocabulary" in b for b in upward_imports())
