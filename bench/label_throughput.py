"""Labelling throughput against plain jieba tokenisation, start-up time and memory, in one run.

    python bench/label_throughput.py [--corpus ../shared/corpus/city-reports-2024] [--jobs 2]

(a) tokenise every unit of the corpus with plain ``jieba.lcut`` and nothing else (dictionary
    loaded beforehand, so (a) is tokenising only);
(b) the full ``aipolicy label CORPUS -o OUT`` command with the default model, as a user runs it:
    a new process, imports, model load and integrity check, ingestion, labelling, output.
Each is run ``--runs`` times (default 3) and the median is used: these 2-core machines are noisy.
(c) cold start: ``aipolicy --help`` (target ≤ 0.1 s) next to a bare ``python -c pass``, and
    ``aipolicy label`` on one short file of ``examples/`` (target ≤ 0.5 s);
Prints (a), (b), the ratio b/a (target ≤ 0.25), units per second, (c), and the peak memory of (b) —
summed over the process and its workers — for the corpus and for the corpus repeated 16 times (target:
peak memory grows by less than 30%). Compare ratios from the same run, not across runs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc), in kB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/status") as fh:
                kb = next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
        rss[int(d)] = kb
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def aipolicy_cmd() -> list[str]:
    """The installed console script (what a user runs), else ``python -m aipolicy.cli``."""
    script = Path(sys.executable).with_name("aipolicy")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "aipolicy.cli"]


def run_label(inputs: Path, out: Path, jobs: int) -> tuple[float, int]:
    """Wall time and peak tree RSS (kB) of one `aipolicy label` process."""
    cmd = aipolicy_cmd() + ["label", str(inputs), "-o", str(out), "-q", "-j", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"aipolicy label failed: {proc.stderr.read().decode()}")
    return wall, peak


def wall(cmd: list[str], runs: int) -> float:
    """Median wall time of a command (output discarded); it must succeed."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="../shared/corpus/city-reports-2024")
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--repeat", type=int, default=16, help="copies of the corpus for the memory check")
    ap.add_argument("--short", default=str(Path(__file__).resolve().parents[1] / "examples" / "示例市人工智能行动方案.txt"),
                    help="the short file for the cold-start measure")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of (a) and (b); the median is reported")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        raise SystemExit(f"corpus not found: {corpus}")

    import jieba

    from aipolicy import ingest

    units = ingest(corpus)
    texts = units["text"].tolist()
    chars = sum(map(len, texts))
    jieba.setLogLevel(60)
    jieba.initialize()
    a_runs = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        for t in texts:
            jieba.lcut(t)
        a_runs.append(time.perf_counter() - t0)
    a = statistics.median(a_runs)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        b_runs = [run_label(corpus, tmp / f"one{k}.parquet", args.jobs) for k in range(args.runs)]
        b = statistics.median(r[0] for r in b_runs)
        peak1 = max(r[1] for r in b_runs)
        help_s = wall(aipolicy_cmd() + ["--help"], 5)
        bare_s = wall([sys.executable, "-c", "pass"], 5)
        short_s = wall(aipolicy_cmd() + ["label", args.short, "-o", str(tmp / "short.csv"), "-q"], 3)
        big = tmp / "corpus_xN"
        for k in range(args.repeat):
            shutil.copytree(corpus, big / f"copy{k}")
        b5, peak5 = run_label(big, tmp / "many.parquet", args.jobs)

    n = len(texts)
    print(f"corpus: {corpus} — {n} units, {chars / 1e6:.2f} M characters; {os.cpu_count()} CPUs, --jobs {args.jobs}")
    fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(f"(a) jieba.lcut over every unit:         {a:7.2f} s  ({chars / a / 1e6:.2f} M chars/s; runs: {fmt(a_runs)})")
    print(f"(b) aipolicy label (whole command):     {b:7.2f} s  ({n / b:,.0f} units/s, peak memory {peak1 / 1024:,.0f} MiB;"
          f" runs: {fmt(r[0] for r in b_runs)})")
    print(f"ratio b/a = {b / a:.2f}   (target ≤ 0.25)")
    print(f"(c) aipolicy --help: {help_s:.3f} s (target ≤ 0.1; bare python -c pass: {bare_s:.3f} s); "
          f"aipolicy label on one short file ({Path(args.short).name}): {short_s:.2f} s (target ≤ 0.5)")
    print(f"corpus ×{args.repeat}: {args.repeat * n} units in {b5:.2f} s ({args.repeat * n / b5:,.0f} units/s), "
          f"peak memory {peak5 / 1024:,.0f} MiB = {peak5 / peak1:.2f} × the single corpus (target < 1.30)")


if __name__ == "__main__":
    main()
