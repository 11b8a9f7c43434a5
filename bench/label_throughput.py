"""Labelling throughput against plain jieba tokenisation, start-up time and memory, in one run.

    python bench/label_throughput.py [--corpus ../shared/corpus/city-reports-2024] [--jobs 2]
                                     [--runs 3] [--short-runs 9] [--baseline-rev REV] [--cold-start-only]
                                     [--bytecode]

(a) tokenise every unit of the corpus with plain ``jieba.lcut`` and nothing else (dictionary
    loaded beforehand, so (a) is tokenising only);
(b) the full ``aipolicy label CORPUS -o OUT`` command with the default model, as a user runs it:
    a new process, imports, model load and integrity check, ingestion, labelling, output.
Each is run ``--runs`` times (default 3), (a) and (b) interleaved round by round so that both see the
same machine load, and the medians are used: these 2-core machines are noisy. The timed runs of (b) are
only waited for: the memory of (d) is sampled in runs of their own (walking /proc every 20 ms takes
about 3 ms of a core, which a 2-core run shares: it added 0.07 s to a 1.12 s run).
(c) cold start: ``aipolicy --help`` (target ≤ 0.1 s) next to a bare ``python -c pass``, and
    ``aipolicy label`` on one short file of ``examples/`` (target ≤ 0.5 s), each the median of
    ``--short-runs`` runs (default 9), the versions interleaved run by run;
(d) peak memory of (b), in runs of its own, summed over the process and its workers — for the corpus
    and for 16 copies of it (target: ×16 input → ≤ 1.3× the memory). Every copy is a distinct document: each file of copy k
    gets one line of its own appended, so no copy is a byte-identical duplicate read once — all 16 are
    really read and labelled (the units printed are the units written).
Prints (a), (b), the ratio b/a (target ≤ 0.25), units per second, (c) and (d).
``--cold-start-only`` measures (c) alone (no corpus needed).

The current code runs from a copy of ``src/`` put first on PYTHONPATH (``python -m aipolicy.cli``).
``--baseline-rev REV`` (e.g. ``main`` or a commit) also times (b) and (c) with the code of REV (its
``src/`` extracted with ``git archive`` to a temporary folder and put first on PYTHONPATH, same
Python) and the model REV ships (its ``models/default``, unless ``--baseline-model`` names another: a
model written by newer code may not load in older code), interleaved run by run with the current code
and ``--model``, so that before → after comes from one run on the same machine load. Compare ratios
from the same run, not across runs. The short file's outputs (CSV, manifest, documents table) of the two
versions are compared byte for byte and the result printed.

Python's bytecode cache: with ``PYTHONDONTWRITEBYTECODE`` set (as in some shells) every run compiles the
package's sources again (≈ 0.08 s of a short run); a ``pip install`` writes the cache once. The line
``bytecode cache:`` says which; ``--bytecode`` unsets the variable for the timed commands (each version
writes its cache, in its temporary copy, in an untimed first run), as a user's installed package runs.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


class Code:
    """One version of the code: how to start its CLI (current: the installed console script) and the
    model it labels with."""

    def __init__(self, name: str, model: str, src: Path | None = None, bytecode: bool = False):
        self.name, self.model, self.src, self.bytecode = name, model, src, bytecode

    def cmd(self) -> list[str]:
        if self.src is None:
            script = Path(sys.executable).with_name("aipolicy")
            return [str(script)] if script.is_file() else [sys.executable, "-m", "aipolicy.cli"]
        return [sys.executable, "-m", "aipolicy.cli"]

    def env(self) -> dict:
        env = dict(os.environ)
        if self.src is not None:
            env["PYTHONPATH"] = str(self.src) + os.pathsep + env.get("PYTHONPATH", "")
        if self.bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env


def run_label(code: Code, inputs: Path, out: Path, jobs: int, memory: bool = False) -> tuple[float, int]:
    """Wall time of one `aipolicy label` process and, with ``memory``, its peak tree RSS (kB; else 0),
    sampled every 20 ms (which slows the run: do not time a run that samples)."""
    cmd = code.cmd() + ["label", str(inputs), "-o", str(out), "-q", "-j", str(jobs), "-m", code.model]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=code.env())
    peak = 0
    if memory:
        while proc.poll() is None:
            peak = max(peak, tree_rss_kb(proc.pid))
            time.sleep(0.02)
    err = proc.stderr.read()  # until the process closes it: its end
    proc.wait()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"aipolicy label ({code.name}) failed: {err.decode()}")
    return wall, peak


def timed(code: Code, args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(code.cmd() + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=code.env())
    return time.perf_counter() - t0


def distinct_copies(corpus: Path, dest: Path, n: int) -> None:
    """``n`` copies of the corpus in which every file differs from its other copies (one line added)."""
    for k in range(n):
        shutil.copytree(corpus, dest / f"copy{k}")
        for f in sorted((dest / f"copy{k}").rglob("*")):
            if f.is_file() and f.suffix.lower() in (".txt", ".md"):
                with open(f, "ab") as fh:  # UTF-8 corpus; the line is a unit of its own
                    fh.write(f"\n第{k + 1}份副本：本行为基准测试加入的区分说明，确保每份副本都是不同的文件。\n"
                             .encode("utf-8"))


def corpus_texts(corpus: Path) -> list[str]:
    """The units' texts of the corpus, as ``aipolicy ingest`` reads them; jieba's dictionary loaded."""
    import jieba

    from aipolicy import ingest

    texts = ingest(corpus)["text"].tolist()
    jieba.setLogLevel(60)
    jieba.initialize()
    return texts


def jieba_seconds(texts: list[str]) -> float:
    """One timed run of (a): ``jieba.lcut`` over every text."""
    import jieba

    t0 = time.perf_counter()
    for t in texts:
        jieba.lcut(t)
    return time.perf_counter() - t0


def extract(rev: str, dest: Path) -> Path:
    """REV's ``src/`` and ``models/default`` under ``dest``; returns the ``src`` folder."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src", "models/default"], check=True,
                         capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest / "src"


def copy_src(dest: Path) -> Path:
    """The working tree's ``src/`` copied under ``dest`` without bytecode caches, so that the current code
    starts as the baseline does (with ``PYTHONDONTWRITEBYTECODE`` set, a cache left in ``src/`` by an
    earlier run would still be read)."""
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest / "src"


def short_outputs(out: Path) -> list[bytes]:
    """The bytes of the short file's output, manifest and documents table."""
    return [Path(str(out) + ext).read_bytes() for ext in ("", ".manifest.csv", ".documents.csv")]


def cold_start(codes: list[Code], short: Path, tmp: Path, runs: int) -> tuple[dict, dict, float, bool]:
    """Median seconds of `aipolicy --help` and of `aipolicy label SHORT` per version (interleaved run by
    run), of a bare `python -c pass`, and whether every version wrote the same bytes for SHORT."""
    outs = {c.name: tmp / f"short-{i}.csv" for i, c in enumerate(codes)}
    for c in codes:  # untimed: writes the bytecode cache where it is enabled, warms the file cache
        timed(c, ["label", str(short), "-o", str(outs[c.name]), "-q", "-m", c.model])
    help_runs = {c.name: [] for c in codes}
    short_runs = {c.name: [] for c in codes}
    for _ in range(runs):
        for c in codes:
            help_runs[c.name].append(timed(c, ["--help"]))
            short_runs[c.name].append(timed(c, ["label", str(short), "-o", str(outs[c.name]), "-q", "-m", c.model]))
    same = all(short_outputs(outs[c.name]) == short_outputs(outs[codes[0].name]) for c in codes)
    bare = statistics.median(_bare() for _ in range(runs))
    return ({n: statistics.median(r) for n, r in help_runs.items()},
            {n: statistics.median(r) for n, r in short_runs.items()}, bare, same)


def fmt(xs) -> str:
    return ", ".join(f"{x:.2f}" for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="../shared/corpus/city-reports-2024")
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--repeat", type=int, default=16, help="distinct copies of the corpus for the memory check")
    ap.add_argument("--short", default=str(ROOT / "examples" / "示例市人工智能行动方案.txt"),
                    help="the short file for the cold-start measure")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of (a) and (b); the median is reported")
    ap.add_argument("--short-runs", type=int, default=9, help="timed runs of (c) per version; the median is reported")
    ap.add_argument("--model", default=str(ROOT / "models" / "default"), help="model folder used by every run")
    ap.add_argument("--baseline-rev", default=None, help="also time the code of this git revision")
    ap.add_argument("--baseline-model", default=None,
                    help="model folder for the baseline (default: the baseline revision's models/default)")
    ap.add_argument("--cold-start-only", action="store_true", help="only (c): --help and one short file")
    ap.add_argument("--bytecode", action="store_true",
                    help="let the timed commands use Python's bytecode cache (unset PYTHONDONTWRITEBYTECODE)")
    ap.add_argument("--no-memory", action="store_true", help="skip the ×16 memory check")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if not args.cold_start_only and not corpus.is_dir():
        raise SystemExit(f"corpus not found: {corpus}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        codes = [Code("now", args.model, copy_src(tmp / "now"), bytecode=args.bytecode)]
        if args.baseline_rev:
            src = extract(args.baseline_rev, tmp)
            model = args.baseline_model or str(tmp / "models" / "default")
            codes.insert(0, Code(f"baseline {args.baseline_rev}", model, src, bytecode=args.bytecode))
        env = codes[-1].env()
        print(f"bytecode cache: {'off (PYTHONDONTWRITEBYTECODE set)' if env.get('PYTHONDONTWRITEBYTECODE') else 'on'}; "
              + "; ".join(f"[{c.name}] model {c.model}" for c in codes))
        help_s, short_s, bare_s, same = cold_start(codes, Path(args.short), tmp, args.short_runs)
        for c in codes:
            print(f"[{c.name}] (c) aipolicy --help: {help_s[c.name]:.3f} s (target ≤ 0.1; bare python -c pass: "
                  f"{bare_s:.3f} s); aipolicy label on one short file ({Path(args.short).name}): "
                  f"{short_s[c.name]:.3f} s (target ≤ 0.5; median of {args.short_runs})")
        if len(codes) > 1:
            print(f"(c) short file: {short_s[codes[-1].name] / short_s[codes[0].name]:.2f} × the baseline's time; "
                  f"outputs (CSV, manifest, documents) {'byte-identical' if same else 'DIFFER'} between versions")
        if not args.cold_start_only:
            _throughput(args, corpus, codes, tmp)


def _throughput(args, corpus: Path, codes: list[Code], tmp: Path) -> None:
    """(a), (b) and (d)."""
    texts = corpus_texts(corpus)
    n, chars = len(texts), sum(map(len, texts))
    for c in codes:  # untimed: writes the bytecode cache where it is enabled, warms the file cache
        run_label(c, corpus, tmp / "warm.csv", args.jobs)
    a_runs, b_runs = [], {c.name: [] for c in codes}
    for k in range(args.runs):  # interleaved: the same machine load for (a) and every version of (b)
        a_runs.append(jieba_seconds(texts))
        for c in codes:
            b_runs[c.name].append(run_label(c, corpus, tmp / f"one{k}.csv", args.jobs)[0])
    a = statistics.median(a_runs)
    print(f"corpus: {corpus} — {n} units, {chars / 1e6:.2f} M characters; {os.cpu_count()} CPUs, --jobs {args.jobs}")
    print(f"(a) jieba.lcut over every unit:  {a:7.2f} s  ({chars / a / 1e6:.2f} M chars/s; runs: {fmt(a_runs)})")
    for c in codes:
        b = statistics.median(b_runs[c.name])
        per_round = statistics.median(x / y for x, y in zip(b_runs[c.name], a_runs))
        print(f"[{c.name}] (b) aipolicy label (whole command): {b:7.2f} s  ({n / b:,.0f} units/s; "
              f"runs: {fmt(b_runs[c.name])})")
        print(f"[{c.name}] ratio b/a = {b / a:.2f}   (target ≤ 0.25; median of the rounds' own ratios: "
              f"{per_round:.2f})")
    if not args.no_memory:
        now = codes[-1]
        peak1 = run_label(now, corpus, tmp / "memory.csv", args.jobs, memory=True)[1]
        big = tmp / "corpus_xN"
        distinct_copies(corpus, big, args.repeat)
        b16, peak16 = run_label(now, big, tmp / "many.csv", args.jobs, memory=True)
        with open(tmp / "many.csv", encoding="utf-8-sig", newline="") as fh:
            rows = sum(1 for _ in csv.reader(fh)) - 1
        print(f"[{now.name}] (d) corpus ×{args.repeat} (distinct copies): {rows} units written in {b16:.2f} s "
              f"({rows / b16:,.0f} units/s), peak memory {peak16 / 1024:,.0f} MiB = {peak16 / peak1:.2f} × "
              f"the single corpus's {peak1 / 1024:,.0f} MiB (target ≤ 1.30)")


def _bare() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
