"""`aipolicy report` against `aipolicy label` on the same input, in one run.

    python bench/report_speed.py [--shared ../shared] [--jobs 2] [--runs 3]

Input: the seeds, the city reports and the AI-policy corpus (with its index.csv as --metadata for
the report, so topics are fitted per document type and the time section is built). Both are run
as a user runs them — a new process each, model load included — alternately, ``--runs`` times; the
medians are compared. Prints both times and the ratio report/label (target ≤ 8).
These 2-core machines are shared and noisy: compare ratios from the same run, not across runs.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    shared = Path(args.shared)
    inputs = [shared / "seeds", shared / "corpus" / "city-reports-2024", shared / "corpus" / "ai-policies"]
    for p in inputs:
        if not p.exists():
            sys.exit(f"missing input {p} (use --shared)")
    exe = [sys.executable, "-m", "aipolicy.cli"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    label_t, report_t = [], []
    try:
        for i in range(args.runs):
            label_t.append(timed(exe + ["label", *map(str, inputs), "-o", str(tmp / f"l{i}.parquet"), "-q",
                                        "-j", str(args.jobs)]))
            report_t.append(timed(exe + ["report", *map(str, inputs), "-o", str(tmp / f"r{i}"), "-q",
                                         "-j", str(args.jobs), "--metadata",
                                         str(shared / "corpus" / "ai-policies" / "index.csv")]))
            print(f"run {i + 1}: label {label_t[-1]:.1f} s, report {report_t[-1]:.1f} s "
                  f"(ratio {report_t[-1] / label_t[-1]:.2f})", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lab, rep = statistics.median(label_t), statistics.median(report_t)
    print(f"\ninput: seeds + city-reports-2024 + ai-policies, --jobs {args.jobs}, median of {args.runs}")
    print(f"(a) aipolicy label : {lab:6.1f} s")
    print(f"(b) aipolicy report: {rep:6.1f} s")
    print(f"ratio b/a: {rep / lab:.2f}  (target <= 8)")


if __name__ == "__main__":
    main()
