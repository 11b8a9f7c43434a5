"""Time of `aipolicy train` on the gold labels, now against the training code of an earlier commit, in one run.

    python bench/train_speed.py [--baseline 7c8da13] [--jobs 2] [--repeat 2] [--busy 1] [--skip-baseline]

For each version (this checkout, and the package of ``--baseline`` extracted with ``git archive`` into a
temporary folder and put first on the path of its own processes):

* stages, in one process: joining the gold to its text (ingesting the three corpora; now also a second
  time with the units read back from the cache of unchanged corpus folders), and the grouped
  cross-validation with the final fit (``cross_validate(refit=True)``, ``--jobs`` processes, one BLAS thread);
* the whole ``aipolicy train`` process (imports, join, cross-validation, writing the model folder) into
  a temporary models folder (``models/`` is never touched), with a warm cache for now, ``--repeat``
  times alternating between the versions: fastest and slowest wall time, and the least CPU time.

Then the ratios, and whether both give the same thresholds, the same scores (per domain and category),
the same out-of-fold probabilities and the same predictions of the final model (largest difference
shown), and byte-identical predictor files. ``--busy N`` runs N busy loops (one core each) during every
measurement, as another user of the machine would.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_throughput import extract  # noqa: E402  (REV's src/ extracted with git archive)

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "7c8da13"  # main before issue 13's training speed-up (prepared features, compacted fits, unit cache)


def child(out: str, config: str, jobs: int, cache: str | None) -> None:
    """Run the stages with whichever aipolicy is first on the path; write times and results to ``out``."""
    import numpy as np

    import aipolicy
    from aipolicy.config import load_categories, load_training_config
    from aipolicy.train import cross_validate, domain_weights, gold_units, make_classifier, unit_weights

    cfg = load_training_config(config)
    cats = load_categories(cfg.categories)
    times = {}
    if hasattr(cfg, "cache_dir"):
        cfg.cache_dir = None
    t0 = time.perf_counter()
    joined = gold_units(cfg, cats, log=lambda *a: None)
    times["join"] = time.perf_counter() - t0
    if cache and hasattr(cfg, "cache_dir"):
        cfg.cache_dir = Path(cache)
        gold_units(cfg, cats, log=lambda *a: None)  # fills the cache
        t0 = time.perf_counter()
        joined = gold_units(cfg, cats, log=lambda *a: None)
        times["join_cached"] = time.perf_counter() - t0
    w = unit_weights(domain_weights(cfg), joined["corpus"])
    t0 = time.perf_counter()
    ev = cross_validate(cfg, cats, joined, make_classifier(cfg, cats), weights=w, refit=True, jobs=jobs)
    times["cv"] = time.perf_counter() - t0
    final = ev.refitted.predict_proba(joined["text"].tolist())
    np.savez(out + ".npz", oof=ev.oof_proba, pred=ev.pred, thresholds=ev.thresholds, final=final)
    ev.per_domain().to_csv(out + ".per_domain.csv", index=False)
    Path(out).write_text(json.dumps({"times": times, "units": len(joined), "package": aipolicy.__file__}))


def _env(src: Path | None) -> dict:
    env = dict(os.environ)
    if src is not None:  # the baseline's package first on the path (before the installed one)
        env["PYTHONPATH"] = str(src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_version(label: str, src: Path | None, tmp: Path, args) -> dict:
    out = tmp / f"{label}.json"
    cache = tmp / f"{label}-cache"
    subprocess.run([sys.executable, __file__, "--child", str(out), "--config", args.config, "--jobs", str(args.jobs),
                    "--cache", str(cache)], env=_env(src), check=True)
    res = json.loads(out.read_text())
    cfg_copy = tmp / f"{label}-config.yaml"  # the configuration with the cache folder the stages filled
    _rebase_config(Path(args.config), cfg_copy, cache)
    res["out"] = str(out)
    res["model"] = str(tmp / f"{label}-models" / "bench")
    res["cmd"] = [sys.executable, "-c", "import sys; from aipolicy.cli import main; sys.exit(main())", "train",
                  "--config", str(cfg_copy), "--models-dir", str(tmp / f"{label}-models"), "--name", "bench", "-q",
                  "--jobs", str(args.jobs)]
    res["src"] = src
    return res


def time_process(res: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one whole `aipolicy train` process; CPU is user + system time of the process
    and of its worker processes (all waited for), which other users of the machine do not change much."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(res["cmd"], env=_env(res["src"]), check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _rebase_config(config: Path, path: Path, cache: Path) -> None:
    """Copy ``config`` to ``path`` with its relative paths made absolute (as they were beside the
    original) and its cache at ``cache``."""
    import yaml

    base = config.resolve().parent
    d = yaml.safe_load(config.read_text(encoding="utf-8"))
    d["corpora"] = {k: str((base / v).resolve()) for k, v in d["corpora"].items()}
    for key in ("labels", "models_dir", "categories"):
        if d.get(key):
            d[key] = str((base / d[key]).resolve())
    d["cache_dir"] = str(cache)
    path.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")


def compare(now: dict, old: dict) -> list[str]:
    import numpy as np
    import pandas as pd

    a, b = np.load(now["out"] + ".npz"), np.load(old["out"] + ".npz")
    lines = []
    for k in ("thresholds", "pred", "oof", "final"):
        diff = float(np.abs(a[k].astype(float) - b[k].astype(float)).max())
        lines.append(f"  {k:<10} identical: {'yes' if np.array_equal(a[k], b[k]) else 'no'} (largest difference {diff:.3g})")
    same_scores = pd.read_csv(now["out"] + ".per_domain.csv").equals(pd.read_csv(old["out"] + ".per_domain.csv"))
    lines.append(f"  scores per domain and category identical: {'yes' if same_scores else 'no'}")
    ma = json.loads(Path(now["model"], "manifest.json").read_text())["files"]
    mb = json.loads(Path(old["model"], "manifest.json").read_text())["files"]
    ca = json.loads(Path(now["model"], "card.json").read_text())
    cb = json.loads(Path(old["model"], "card.json").read_text())
    lines.append("  `aipolicy train`: same thresholds and metrics in the card: "
                 f"{'yes' if (ca['thresholds'], ca['metrics'], ca['evaluation']) == (cb['thresholds'], cb['metrics'], cb['evaluation']) else 'no'}; "
                 "byte-identical predictor files: "
                 f"{'yes' if all(ma[f] == mb[f] for f in ('predictor.npz', 'predictor.json')) else 'no'}")
    return lines


def report(now: dict, old: dict | None, baseline: str) -> None:
    rows = [("join gold to text (ingest the corpora)", "join"), ("join gold to text, unit cache warm", "join_cached"),
            ("cross-validation + final fit", "cv"), ("whole `aipolicy train`, fastest run", "process"),
            ("whole `aipolicy train`, slowest run", "process_max"), ("  its CPU time (user + sys), least", "cpu")]
    print(f"{'stage':<42}{'main ' + baseline if old else '':>16}{'now':>10}{'now / main' if old else '':>13}")
    for name, key in rows:
        n = now["times"].get(key)
        o = old["times"].get(key) if old else None
        ratio = f"{n / o:.2f}" if n is not None and o else ""
        print(f"{name:<42}{'' if o is None else f'{o:.1f} s':>16}{'' if n is None else f'{n:.1f} s':>10}{ratio:>13}")
    if old:
        print("same results as main:")
        print("\n".join(compare(now, old)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "training" / "config.yaml"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--baseline", default=BASELINE, help="git revision whose training code is the baseline")
    ap.add_argument("--skip-baseline", action="store_true", help="only time the current code")
    ap.add_argument("--repeat", type=int, default=2, help="whole `aipolicy train` runs per version (default 2)")
    ap.add_argument("--busy", type=int, default=0, help="busy loops (one core each) running during the measurement")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.config, args.jobs, args.cache)
    load = os.getloadavg()[0]
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.busy)]
    tmp = Path(tempfile.mkdtemp(prefix="train-speed-"))
    try:
        now = run_version("now", None, tmp, args)
        old = None if args.skip_baseline else run_version("main", extract(args.baseline, tmp), tmp, args)
        runs = {id(v): [] for v in (now, old) if v}
        for _ in range(args.repeat):  # alternating, so that a change of the machine's load hits both
            for v in (now, old):
                if v:
                    runs[id(v)].append(time_process(v))
        for v in (now, old):
            if v:
                v["times"].update(process=min(w for w, _ in runs[id(v)]), process_max=max(w for w, _ in runs[id(v)]),
                                  cpu=min(c for _, c in runs[id(v)]))
    finally:
        for p in busy:
            p.kill()
            p.wait()
    print(f"units {now['units']}; {args.jobs} process(es); {args.busy} busy loop(s) running; "
          f"{os.cpu_count()} cores; load average before {load:.2f}")
    print(f"packages: now {now['package']}" + (f", main {old['package']}" if old else ""))
    report(now, old, args.baseline)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
