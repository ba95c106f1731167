"""Two clean runs of the data stages give the same bytes: the same DVC hashes in dvc.lock."""
from __future__ import annotations

import yaml

from pipeline_repo import dvc, make_repo

DATA_STAGES = ("synthesize", "extract", "split", "yolo_data@foraminal", "yolo_data@spinal",
               "yolo_data@subarticular", "crop@spinal")


def _out_hashes(lock_path) -> dict[str, str]:
    lock = yaml.safe_load(lock_path.read_text())["stages"]
    return {f"{stage}:{o['path']}": o["md5"] for stage in DATA_STAGES if stage in lock
            for o in lock[stage].get("outs", [])}


def test_second_clean_run_gives_identical_hashes(tiny_repo, tmp_path):
    """A second copy with its own empty cache re-runs the data stages (and the detectors and the locate
    stage crop@spinal reads); every output hash must match the first run's."""
    again = make_repo(tmp_path / "again", tmp_path / "storage")
    dvc(["repro", *DATA_STAGES], again)
    first, second = _out_hashes(tiny_repo.path / "dvc.lock"), _out_hashes(again / "dvc.lock")
    assert set(first) == set(second) and len(first) >= len(DATA_STAGES)
    assert {k: v for k, v in second.items() if first[k] != v} == {}
