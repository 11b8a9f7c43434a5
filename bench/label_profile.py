"""Where the time of ``aipolicy label`` on one short file goes: a stage table in milliseconds.

    python bench/label_profile.py [--short examples/示例市人工智能行动方案.txt] [--runs 9]
                                  [--baseline-rev REV] [--baseline-model DIR] [--model DIR] [--bytecode]

Each run is a new process that does what ``aipolicy label SHORT -o OUT -q -m MODEL`` does, with a clock
read between the stages: the imports first (numpy, the CLI, then every module the label path uses), the
tokenizer built on its own (rjieba's dictionary and the user dictionary: inside a real run it is built by
the first file), then ``cli.main`` with its model loading, reading, units and places, labelling and
writing timed by wrapping the functions that do them. "start-up and exit" is the process's wall time
(measured outside) minus the stages measured inside. Every stage is the median over ``--runs`` runs
(default 9), versions interleaved run by run. ``--baseline-rev`` adds a column for the code (and, unless
``--baseline-model``, the shipped model) of another revision, as in ``label_throughput.py``, whose
``--bytecode`` this shares.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_throughput import ROOT, Code, copy_src, extract  # noqa: E402

# Runs inside the measured process. Stages are exclusive: nested ones are subtracted from the outer one.
PROBE = r'''
import json, sys, time
T0 = time.perf_counter()
short, out, model = sys.argv[1:4]
stages = {}
def mark(name, t):
    stages[name] = stages.get(name, 0.0) + (time.perf_counter() - t)
t = time.perf_counter(); import aipolicy.cli as cli; mark("import aipolicy CLI", t)
getattr(cli, "_no_blas_threads", lambda: None)()  # what cmd_label does first, where it does it
t = time.perf_counter(); import numpy; mark("import numpy", t)
t = time.perf_counter()
import aipolicy.batch as batch, aipolicy.models as models, aipolicy.pipeline as pipeline
import aipolicy.documents as documents, aipolicy.ingest as ingest, aipolicy.units as units
import aipolicy.cities as cities, aipolicy.predictor, aipolicy.tokens as tokens, aipolicy.metadata, aipolicy.layout
import aipolicy.tables as tables
mark("import label-path modules", t)
t = time.perf_counter(); tokens._cutter(); mark("tokenizer (rjieba dictionary + user words)", t)
inner = []
def wrap(mod, name, stage):
    f = getattr(mod, name, None)
    if f is None:
        return
    def w(*a, **k):
        t = time.perf_counter(); inner.append(0.0)
        try:
            return f(*a, **k)
        finally:
            dt = time.perf_counter() - t; nested = inner.pop()
            stages[stage] = stages.get(stage, 0.0) + dt - nested
            if inner:
                inner[-1] += dt
    setattr(mod, name, w)
wrap(models, "load_predictor", "model: card, predictor.json + .npz")
wrap(models, "verify_folder", "model: verify sha256 (manifest)")
wrap(pipeline, "read_file", "file: read, clean, layout, metadata")
wrap(units, "document_units", "file: units, places, sketch")
wrap(cities, "attribute_cities", "file: units, places, sketch")
wrap(documents, "document_row", "file: units, places, sketch")
wrap(pipeline, "label_in_chunks", "file: features, probabilities, evidence")
wrap(batch, "_write_outputs", "write CSV, manifest, documents")
import contextlib, io
t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    rc = cli.main(["label", short, "-o", out, "-q", "-m", model])
main_s = time.perf_counter() - t
stages["rest of cli.main (discovery, scheduling, state, lock)"] = main_s - sum(
    v for k, v in stages.items() if k.startswith(("model", "file", "write")))
stages["_total_in_process"] = time.perf_counter() - T0
print("STAGES" + json.dumps(stages))
sys.stdout.flush()
if hasattr(cli, "run"):  # what the console script does after main()
    import gc
    gc.freeze()
sys.exit(rc)
'''


def one_run(code: Code, short: str, out: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, short, str(out), code.model], env=code.env(),
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"[{code.name}] failed:\n{proc.stderr}")
    line = next(line for line in proc.stdout.splitlines() if line.startswith("STAGES"))
    stages = json.loads(line[len("STAGES"):])
    stages["start-up and exit (python, site, teardown)"] = wall - stages.pop("_total_in_process")
    stages["_wall"] = wall
    return stages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", default=str(ROOT / "examples" / "示例市人工智能行动方案.txt"))
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--model", default=str(ROOT / "models" / "default"))
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--baseline-model", default=None)
    ap.add_argument("--bytecode", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        codes = [Code("now", args.model, copy_src(tmp / "now"), bytecode=args.bytecode)]
        if args.baseline_rev:
            src = extract(args.baseline_rev, tmp)
            codes.insert(0, Code(f"baseline {args.baseline_rev}", args.baseline_model or str(tmp / "models" / "default"),
                                 src, bytecode=args.bytecode))
        for c in codes:  # untimed: bytecode cache (where enabled), file cache, remembered model hashes
            one_run(c, args.short, tmp / "warm.csv")
        runs = {c.name: [] for c in codes}
        for _ in range(args.runs):
            for c in codes:
                runs[c.name].append(one_run(c, args.short, tmp / "o.csv"))
    table(runs, codes, args)


def table(runs: dict, codes: list[Code], args) -> None:
    """The stage medians, one column per version, with their sum and the median wall time."""
    names = list(dict.fromkeys(k for c in codes for r in runs[c.name] for k in r if k != "_wall"))

    def med(c: Code, k: str) -> float:
        return 1000 * statistics.median(r.get(k, 0.0) for r in runs[c.name])

    print(f"aipolicy label {Path(args.short).name}: stage medians over {args.runs} runs, in ms")
    print(f"{'stage':58s}" + "".join(f"{c.name:>18s}" for c in codes))
    for k in names:
        print(f"{k:58s}" + "".join(f"{med(c, k):18.1f}" for c in codes))
    print(f"{'sum of the stage medians':58s}" + "".join(f"{sum(med(c, k) for k in names):18.1f}" for c in codes))
    print(f"{'whole process (median wall)':58s}" + "".join(f"{med(c, '_wall'):18.1f}" for c in codes))


if __name__ == "__main__":
    main()
