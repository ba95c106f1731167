from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "rsna2024"

from dataclasses import dataclass  # noqa: E402

import os  # noqa: E402

import pytest  # noqa: E402
from hypothesis import Phase, settings  # noqa: E402

# Under mutation testing (benchmarks/mutation.py) a failing property is all that counts: skip
# Hypothesis's shrinking, which can take minutes per mutant and tells mutmut nothing more.
settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate], derandomize=True)
if os.environ.get("LUMBAR_MUTATION") or os.environ.get("MUTANT_UNDER_TEST"):
    settings.load_profile("mutation")


@dataclass
class TinyRun:
    path: Path
    ran: set
    output: str


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory):
    """A repository copy on the tiny preset after one full `dvc repro`, everything committed."""
    from pipeline_repo import dvc, make_repo, sh, stages_run

    base = tmp_path_factory.mktemp("tiny")
    repo = make_repo(base / "repo", base / "storage")
    out = dvc(["repro"], repo)
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-qm", "tiny run"], repo)
    return TinyRun(repo, stages_run(out), out)
