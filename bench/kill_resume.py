"""kill -9 of `aipolicy label` at random moments, then --resume: same output, nothing left behind.

    python bench/kill_resume.py INPUT... [--kills 10] [--seed 0] [--jobs 1] [--format .csv] [--model M]

Runs `aipolicy label INPUT -o OUT` once uninterrupted (the reference), then ``--kills`` times: start
the same command (with --resume after the first kill), kill -9 it after a random delay within the
reference run's duration, and finally let a --resume run finish. Checks that the final output and
manifest are byte-identical to the reference, that no temporary file, lock or OUT.parts is left, and
that a second run started on the same output while one is running is refused with a message.
Prints the counts; exit status 1 on any difference.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cmd(inputs, out: Path, jobs: int, model: str | None, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "aipolicy.cli", "label", *map(str, inputs), "-o", str(out), "-q", "-j", str(jobs)]
    if model:
        cmd += ["-m", model]
    return cmd + (["--resume"] if resume else [])


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "missing"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock", ".parts")))


def run(inputs, *, kills: int = 10, seed: int = 0, jobs: int = 1, fmt: str = ".csv", model: str | None = None,
        work: Path | None = None, log=print) -> dict:
    rng = random.Random(seed)
    work = Path(work or tempfile.mkdtemp(prefix="aipolicy-kill-"))
    ref, out = work / "ref" / f"labels{fmt}", work / "run" / f"labels{fmt}"
    ref.parent.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run(_cmd(inputs, ref, jobs, model, False), check=True, stdout=subprocess.DEVNULL)
    duration = time.perf_counter() - t0
    killed = refused = 0
    for k in range(kills):
        proc = subprocess.Popen(_cmd(inputs, out, jobs, model, k > 0), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        if k == 0:  # a second run on the same output, started while the first holds its lock, is refused
            lock = out.with_name(f".{out.name}.lock")
            while proc.poll() is None and not lock.exists():
                time.sleep(0.05)
            second = subprocess.run(_cmd(inputs, out, jobs, model, True), capture_output=True, text=True)
            refused += second.returncode == 2 and "another run is writing" in second.stderr
        else:
            time.sleep(rng.uniform(0.1, 0.9) * duration)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
    final = subprocess.run(_cmd(inputs, out, jobs, model, True), capture_output=True, text=True)
    res = {"kills": killed, "final_exit": final.returncode,
           "output_identical": _digest(out) == _digest(ref),
           "manifest_identical": _digest(Path(f"{out}.manifest.csv")) == _digest(Path(f"{ref}.manifest.csv")),
           "leftovers": leftovers(out.parent), "second_run_refused": refused, "reference_seconds": round(duration, 1)}
    log(res)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--format", default=".csv", choices=[".csv", ".jsonl", ".parquet", ".xlsx"])
    ap.add_argument("--model", default=None)
    args = ap.parse_args(argv)
    r = run(args.inputs, kills=args.kills, seed=args.seed, jobs=args.jobs, fmt=args.format, model=args.model)
    ok = r["output_identical"] and r["manifest_identical"] and not r["leftovers"] and r["final_exit"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
