"""How the data stages and inference scale with the number of studies, and what the real data set would cost.

    python benchmarks/scale.py                                   # 100, 300 and 900 studies: ~1 h on 2 quiet cores
    python benchmarks/scale.py --studies 10 20 40 --out /tmp/scale-small

For each size N, a scratch project under --out gets this repository's params.yaml with
`synthetic.n_train = N` (image_scale 1.0: real-scale images) and `n_test = test_share * N`, and runs
every data stage of dvc.yaml (synthesize, extract, split, yolo_data@*, locate, crop@*) and the two
inference stages (evaluate, predict) exactly as `dvc repro` runs them: the stage's own `cmd` from
dvc.yaml, in its own child process, with the scratch folder as working directory. Per stage: wall
time, CPU time, peak RSS (ru_maxrss of the stage's process tree: its largest single process, worker
pools included), the peak of the tree's summed RSS (sampled), and the size of its dvc.yaml outputs.

Models: locate, evaluate and predict need detectors and a bundle. --models DIR copies them from a
finished run's models/ folder (detect/{group}/best.pt and bundle/; default: this checkout's, after
`dvc repro`); `--models train`, or no finished models, runs the training stages (detect@*, classify@*,
bundle) once at the first size on 1-epoch params, and their models serve every size. Inference cost
depends on the architecture (params.yaml: YOLOv8n at imgsz 160, VGG-19-bn width 0.25 on 64-px
crops), not on how well trained the weights are.

Writes scale.json and scale.md to --out: the table per stage and N, a linear fit (time = a + b*N, R^2,
and the marginal cost of the last step over the first), the extrapolation to the real training set
(1,975 studies, ~147,000 DICOM files), and the check that each data stage's peak RSS at the largest
N is within 1.5x of its value at the smallest. Each size's scratch folder is deleted after it is
measured unless --keep; the YOLO sets are deleted as soon as measured (nothing later reads them).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
REAL_STUDIES, REAL_FILES, REAL_GB = 1975, 147_000, 35.0   # the Kaggle training set
MEMORY_LIMIT = 1.5          # peak RSS at the largest N over the smallest, per data stage
DISK_PER_STUDY_MIB = 27.0   # the demo run: synthetic 16.2 + extracted 8.7 + the largest YOLO set ~2 MiB/study
DATA, INFERENCE, TRAINING, SKIPPED = (("synthesize", "extract", "split", "yolo_data", "locate", "crop"),
                                      ("evaluate", "predict"), ("detect", "classify", "bundle"), ("realism",))
SKIPPED_WHY = {"realism": "a report of 12 fixed phantoms beside real scans: does not depend on N"}


# --- pure helpers (tests/test_scale_bench.py) ---------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    """y = a + b*N by least squares over the measured sizes."""

    a: float
    b: float
    r2: float
    marginal_ratio: float   # slope of the last step over slope of the first (> 1: grows faster than N)

    def at(self, n: float) -> float:
        return self.a + self.b * n


def linear_fit(ns: Sequence[float], ys: Sequence[float]) -> Fit:
    """Least-squares line through (N, y); R^2 is 1.0 when y is constant (a flat line fits perfectly)."""
    x, y = np.asarray(ns, float), np.asarray(ys, float)
    if len(x) < 2 or len(set(x.tolist())) < 2:
        raise ValueError("a linear fit needs at least two different sizes")
    b, a = np.polyfit(x, y, 1)
    ss_res, ss_tot = float(((y - (a + b * x)) ** 2).sum()), float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    order = np.argsort(x)
    x, y = x[order], y[order]
    first, last = (y[1] - y[0]) / (x[1] - x[0]), (y[-1] - y[-2]) / (x[-1] - x[-2])
    ratio = float(last / first) if first > 0 else float("nan")
    return Fit(float(a), float(b), float(r2), ratio)


def extrapolate(ns: Sequence[float], ys: Sequence[float], n: float, kind: str) -> float:
    """y at n studies. Time and disk: the fitted line (never below 0). Memory: the value at the largest
    N plus the growth per study of the last step, never negative: a peak that saturates (caches filled
    once per input shape, the largest series met so far) is not carried on at its early slope, and a
    flat one is not pulled below what was measured by noise."""
    if kind != "memory":
        return max(linear_fit(ns, ys).at(n), 0.0)
    order = np.argsort(np.asarray(ns, float))
    x, y = np.asarray(ns, float)[order], np.asarray(ys, float)[order]
    return float(y[-1] + max((y[-1] - y[-2]) / (x[-1] - x[-2]), 0.0) * (n - x[-1]))


def memory_check(ns: Sequence[float], rss: Sequence[float], limit: float = MEMORY_LIMIT) -> tuple[float, bool]:
    """(peak RSS at the largest N / at the smallest N, within `limit`)."""
    lo, hi = int(np.argmin(ns)), int(np.argmax(ns))
    ratio = float(rss[hi]) / float(rss[lo])
    return ratio, ratio <= limit


def stage_kind(name: str) -> str:
    """data, inference, training or skipped, from the stage's dvc.yaml name (`crop@spinal` -> crop)."""
    base = name.split("@")[0]
    for kind, names in (("data", DATA), ("inference", INFERENCE), ("training", TRAINING), ("skipped", SKIPPED)):
        if base in names:
            return kind
    raise ValueError(f"dvc.yaml stage {name!r} is not classified in benchmarks/scale.py: add it to one kind")


def _expand(text: str, item: dict[str, Any]) -> str:
    for key, value in item.items():
        text = text.replace(f"${{item.{key}}}", str(value))
    return text


def dvc_stages(dvc_yaml: dict) -> list[tuple[str, str, list[str]]]:
    """(name, cmd, output paths) of every stage in dvc.yaml order, matrix stages expanded per item."""
    out = []
    for name, st in dvc_yaml["stages"].items():
        matrix = st.get("matrix", {})
        if len(matrix) > 1:
            raise ValueError(f"{name}: a matrix over more than one key is not expanded here")
        items = [{k: v} for k, values in matrix.items() for v in values] or [{}]
        for item in items:
            paths = [_expand(o if isinstance(o, str) else next(iter(o)), item)
                     for o in st.get("outs", []) + st.get("metrics", [])]
            full = "@".join([name, *map(str, item.values())])
            out.append((full, _expand(st["cmd"], item), paths))
    return out


# --- measuring one stage --------------------------------------------------------------------------------

@dataclass
class Measure:
    stage: str
    kind: str
    wall_s: float
    cpu_s: float
    rss_mib: float        # ru_maxrss: the largest single process of the stage's tree
    tree_rss_mib: float   # the peak of the summed RSS of every process of the tree (sampled every 0.2 s)
    disk_mib: float
    extra: dict = field(default_factory=dict)


class TreeSampler(threading.Thread):
    """Peak summed RSS of a process and all its descendants, read from /proc."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.done = pid, every, 0, threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def _tree_rss(self) -> int:
        parent: dict[int, int] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat", "rb") as fh:
                        parent[int(d)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        tree, grew = {self.pid}, True
        while grew:
            more = {p for p, pp in parent.items() if pp in tree} - tree
            tree |= more
            grew = bool(more)
        total = 0
        for p in tree:
            try:
                with open(f"/proc/{p}/statm", "rb") as fh:
                    total += int(fh.read().split()[1]) * self.page
            except (OSError, ValueError, IndexError):
                pass
        return total

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.peak = max(self.peak, self._tree_rss())


def disk_mib(root: Path, paths: list[str]) -> float:
    """Apparent size of the stage's outputs (files under each output path)."""
    total = 0
    for rel in paths:
        p = root / rel
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())
    return total / 2**20


def run_stage(name: str, cmd: str, outs: list[str], cwd: Path) -> Measure:
    """Run one dvc.yaml cmd in cwd as `dvc repro` would (its `python` is this interpreter)."""
    args = shlex.split(cmd)
    if args[0] == "python":
        args[0] = sys.executable
    # this checkout's package first, whatever the environment has installed (an editable install may point elsewhere)
    path = [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    log = cwd / "logs" / f"{name.replace('@', '_')}.log"
    log.parent.mkdir(exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, ru = os.wait4(proc.pid, 0)   # rusage of the child and every descendant it waited for
        proc.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}) in {cwd}; last lines of {log}:\n{log.read_text()[-3000:]}")
    return Measure(name, stage_kind(name), wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024,
                   max(sampler.peak, ru.ru_maxrss * 1024) / 2**20, disk_mib(cwd, outs))


# --- one size -------------------------------------------------------------------------------------------

def n_test_studies(n: int, share: float) -> int:
    """Synthetic test studies beside N training studies (at least 2, as the predict stage's report wants some)."""
    return max(2, round(share * n))


def scratch_params(n: int, test_share: float) -> dict[str, Any]:
    """params.yaml with N training studies at real image scale; 1-epoch training (used only without --models)."""
    from lumbar.params import overlay

    base = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    groups = base["detector"]["epochs"]
    return overlay(base, {"synthetic": {"n_train": int(n), "n_test": n_test_studies(n, test_share),
                                        "image_scale": 1.0},
                          "detector": {"epochs": {g: 1 for g in groups}}, "classifier": {"epochs": 1}})


def has_models(folder: Path) -> bool:
    """Whether a models/ folder holds what locate, evaluate and predict read."""
    from lumbar.vocabulary import GROUP_NAMES

    return (folder / "bundle" / "bundle.json").is_file() and all(
        (folder / "detect" / g / "best.pt").is_file() for g in GROUP_NAMES)


def copy_models(src: Path, dst: Path) -> None:
    """detect/{group}/best.pt and bundle/ of a finished run into dst/models."""
    for sub in ("detect", "bundle"):
        target = dst / "models" / sub
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(src / sub, target, ignore=shutil.ignore_patterns("*.gitignore"))


def data_facts(root: Path) -> dict[str, Any]:
    """Files, slices and image sizes by view: that the synthetic studies are real-scale."""
    import pandas as pd

    synth = json.loads((root / "metrics" / "synthetic.json").read_text())
    slices = pd.read_parquet(root / "data" / "extracted" / "slices.parquet")
    sizes = {view: {"min": int(v.min()), "median": int(v.median()), "max": int(v.max())}
             for view, v in slices.groupby("series_description")["rows"]}
    dicom = disk_mib(root, ["data/synthetic/kaggle/train_images", "data/synthetic/kaggle/test_images"])
    return {"files": int(synth["files"]), "slices": int(len(slices)), "series": int(slices.groupby(
        ["study_id", "series_id"]).ngroups), "image_rows_by_view": sizes, "dicom_mib": round(dicom, 1),
            "kib_per_file": round(dicom * 1024 / max(synth["files"], 1), 1)}


def measure_size(n: int, out: Path, stages: list[tuple[str, str, list[str]]], models: Path | None,
                 test_share: float, keep: bool) -> tuple[list[Measure], dict, Path | None]:
    """Every data and inference stage at N studies; training stages too when there are no models yet."""
    root = out / f"n{n}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "stages").symlink_to(ROOT / "stages")
    (root / "params.yaml").write_text(yaml.safe_dump(scratch_params(n, test_share), sort_keys=False))
    if models is not None:
        copy_models(models, root)
    results = []
    for name, cmd, outs in stages:
        kind = stage_kind(name)
        if kind == "skipped" or (kind == "training" and models is not None):
            continue
        m = run_stage(name, cmd, outs, root)
        results.append(m)
        print(f"  N={n} {name:<22} {m.wall_s:7.1f} s  {m.rss_mib:6.0f} MiB (tree {m.tree_rss_mib:6.0f})  "
              f"{m.disk_mib:8.1f} MiB", flush=True)
        if name.startswith("yolo_data") and models is not None and not keep:
            shutil.rmtree(root / outs[0])   # nothing after it reads a YOLO set but training
    facts = data_facts(root)
    trained = None
    if models is None:   # the models trained here serve every later size
        trained = out / "models"
        shutil.rmtree(trained, ignore_errors=True)
        for sub in ("detect", "bundle"):
            shutil.copytree(root / "models" / sub, trained / sub)
    if not keep:
        shutil.rmtree(root)
    return results, facts, trained


# --- the report -----------------------------------------------------------------------------------------

def summarize(ns: list[int], runs: dict[int, list[Measure]]) -> dict[str, Any]:
    """Per stage: fits of time, RSS and disk against N, extrapolated to the real set, and the RSS check."""
    names = [m.stage for m in runs[ns[0]] if m.kind in ("data", "inference")]
    out = {}
    for name in names:
        row = {k: [next(m for m in runs[n] if m.stage == name).__dict__[k] for n in ns]
               for k in ("wall_s", "cpu_s", "rss_mib", "tree_rss_mib", "disk_mib")}
        fits = {k: linear_fit(ns, v) for k, v in row.items()}
        ratio, ok = memory_check(ns, row["rss_mib"])
        tree_ratio, _ = memory_check(ns, row["tree_rss_mib"])
        out[name] = {"kind": stage_kind(name), **row, "fit": {k: asdict(f) for k, f in fits.items()},
                     "at_real": {k: round(extrapolate(ns, v, REAL_STUDIES, "memory" if "rss" in k else "other"), 2)
                                 for k, v in row.items()},
                     "rss_ratio": round(ratio, 3), "tree_rss_ratio": round(tree_ratio, 3),
                     "rss_check": "PASS" if ok else "FAIL"}
    return out


def architecture(bundle_dir: Path) -> str:
    """What inference runs, from the bundle's own record: its cost depends on this, not on the weights."""
    p = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))["params"]
    d, c = p["detector"], p["classifier"]
    return (f"detectors {d['model']} at imgsz {d['imgsz']}, classifiers {c['arch']} width {c['width']} on "
            f"{p['crop']['size']}-px crops")


def markdown(ns: list[int], summary: dict, facts: dict[int, dict], training: list[Measure], context: dict) -> str:
    """The tables of the README's Scaling section."""
    lines = [f"Studies N = {', '.join(map(str, ns))} training studies (evaluate reads their holdout; predict "
             f"{', '.join(str(facts[n]['test_studies']) for n in ns)} test studies). Per cell: wall s (CPU s) / "
             "peak RSS MiB (largest process of the stage) / output MiB.", "",
             "| stage | " + " | ".join(f"N={n}" for n in ns) + " | time fit a + b·N (R², last/first step) "
             f"| at {REAL_STUDIES:,}: time, RSS, disk | RSS max N / min N |",
             "|---|" + "---|" * len(ns) + "---|---|---|"]
    for name, s in summary.items():
        cells = [f"{s['wall_s'][i]:.1f} ({s['cpu_s'][i]:.0f}) / {s['rss_mib'][i]:.0f} / {s['disk_mib'][i]:.2f}"
                 for i in range(len(ns))]
        f, r = s["fit"]["wall_s"], s["at_real"]
        lines.append(f"| {name} | " + " | ".join(cells) +
                     f" | {f['a']:.1f} + {f['b']:.3f}·N ({f['r2']:.3f}, {f['marginal_ratio']:.2f}) "
                     f"| {_hms(r['wall_s'])}, {r['rss_mib']:.0f} MiB, {r['disk_mib'] / 1024:.2f} GiB "
                     f"| {s['rss_ratio']:.2f} **{s['rss_check']}**{'' if s['kind'] == 'data' else ' (inference)'} |")
    # real data is downloaded, not synthesized: the pipeline's own data stages start at extract
    total = sum(s["at_real"]["wall_s"] for k, s in summary.items() if s["kind"] == "data" and k != "synthesize")
    ext, last = summary.get("extract"), facts[ns[-1]]
    lines += ["", f"- At {REAL_STUDIES:,} studies, from the fits: the data stages after synthesize **{_hms(total)}** "
              f"on {context['cores']} cores; " + ", ".join(f"{k} {_hms(summary[k]['at_real']['wall_s'])}"
                                                            for k in INFERENCE if k in summary) +
              f" (predict at {REAL_STUDIES * context['test_share']:.0f} test studies). Peak RSS: the largest "
              f"N plus the growth per study of its last step."]
    if ext:
        per_slice = ext["disk_mib"][-1] / last["slices"]
        lines.append(f"- Extract output at {REAL_STUDIES:,} studies: {ext['at_real']['disk_mib'] / 1024:.1f} GiB by "
                     f"the fit in N; {per_slice * REAL_FILES / 1024:.1f} GiB at {per_slice * 1024:.0f} KiB per "
                     f"slice × {REAL_FILES:,} files.")
    lines.append(f"- Synthetic DICOM: {last['kib_per_file']:.0f} KiB per file (real: {REAL_GB * 2**20 / REAL_FILES:.0f}"
                 f" KiB), {last['files'] / (ns[-1] + last['test_studies']):.0f} files per study (real "
                 f"{REAL_FILES / REAL_STUDIES:.0f}); image rows by view (min / median / max): " + "; ".join(
                     f"{v} {d['min']} / {d['median']} / {d['max']}"
                     for v, d in last["image_rows_by_view"].items()) + ".")
    lines.append(f"- Models: {context['models']}; {context['architecture']}.")
    if training:
        lines.append("- Training at N=%d, 1 epoch each (not part of the scaling): " % ns[0] +
                     ", ".join(f"{m.stage} {m.wall_s:.0f} s" for m in training) + ".")
    lines.append("- Skipped: " + "; ".join(f"{k} ({v})" for k, v in SKIPPED_WHY.items()) + ".")
    lines.append(f"- Whole benchmark {_hms(context['wall_s'])}; load average (1 min) {context['load_start']:.1f} "
                 f"at the start, {context['load_end']:.1f} at the end: other work on the machine slows every stage.")
    return "\n".join(lines) + "\n"


def _hms(seconds: float) -> str:
    s = int(round(max(seconds, 0)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--studies", type=int, nargs="+", default=[100, 300, 900])
    ap.add_argument("--out", type=Path, default=Path("/tmp/lumbar-scale"), help="scratch folder, outside the repo")
    ap.add_argument("--models", default=str(ROOT / "models") if has_models(ROOT / "models") else "train",
                    help="a finished run's models/ folder (detect/, bundle/), or `train`: 1-epoch models at the "
                         "first size (default: this checkout's models/ if complete, else train)")
    ap.add_argument("--test-share", type=float, default=0.05, help="n_test = share * N (at least 2)")
    ap.add_argument("--keep", action="store_true", help="keep every size's scratch project")
    ap.add_argument("--no-disk-check", action="store_true")
    ap.add_argument("--report", action="store_true", help="only rewrite scale.md from --out's scale.json")
    args = ap.parse_args()
    if args.report:
        saved = json.loads((args.out / "scale.json").read_text())
        ns = saved["studies"]
        runs = {n: [Measure(**m) for m in saved["runs"][str(n)]] for n in ns}
        facts = {n: saved["facts"][str(n)] for n in ns}
        report = markdown(ns, summarize(ns, runs), facts, [Measure(**m) for m in saved["training"]], saved["context"])
        (args.out / "scale.md").write_text(report)
        print(report)
        return
    ns = sorted(set(args.studies))
    if len(ns) < 2:
        sys.exit("give at least two sizes")
    models = None if args.models == "train" else Path(args.models).resolve()
    if models is not None and not has_models(models):
        sys.exit(f"--models {models}: no bundle/bundle.json and detect/<group>/best.pt there")
    out = args.out.resolve()
    if out == ROOT or ROOT in out.parents:
        sys.exit(f"--out {out} is inside the repository; use a scratch folder outside it")
    out.mkdir(parents=True, exist_ok=True)
    need = DISK_PER_STUDY_MIB * (sum(ns) if args.keep else max(ns)) / 1024
    free = shutil.disk_usage(out).free / 2**30
    if need > free and not args.no_disk_check:
        sys.exit(f"about {need:.0f} GiB needed under {out}, {free:.0f} GiB free (--no-disk-check to try anyway)")
    stages = dvc_stages(yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8")))
    for name, _, _ in stages:
        stage_kind(name)   # an unclassified new stage stops here, before an hour of work
    context: dict[str, Any] = {"cores": os.cpu_count(), "test_share": args.test_share,
                               "load_start": os.getloadavg()[0],
                               "models": str(models) if models else "trained here at the first size, 1 epoch"}
    start = time.perf_counter()
    runs, facts, training = {}, {}, []
    for n in ns:
        print(f"N = {n}", flush=True)
        measured, facts[n], trained = measure_size(n, out, stages, models, args.test_share, args.keep)
        facts[n]["test_studies"] = n_test_studies(n, args.test_share)
        training += [m for m in measured if m.kind == "training"]
        runs[n] = [m for m in measured if m.kind != "training"]
        models = trained or models
        _write_json(out, ns, context, runs, training, facts)
    context.update(wall_s=time.perf_counter() - start, load_end=os.getloadavg()[0],
                   architecture=architecture(models / "bundle"))
    summary = summarize(ns, runs)
    report = markdown(ns, summary, facts, training, context)
    _write_json(out, ns, context, runs, training, facts, summary)
    (out / "scale.md").write_text(report)
    print("\n" + report)


def _write_json(out: Path, ns: list[int], context: dict, runs: dict, training: list[Measure], facts: dict,
                summary: dict | None = None) -> None:
    """scale.json after every size, so an interrupted run keeps what it measured."""
    (out / "scale.json").write_text(json.dumps(
        {"studies": ns, "context": context, "runs": {n: [asdict(m) for m in v] for n, v in runs.items()},
         "training": [asdict(m) for m in training], "facts": facts, "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
