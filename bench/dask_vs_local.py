"""Dask with 2 workers against the local runner with -j2, in one run, on the same corpus.

    python bench/dask_vs_local.py [--corpus ../shared/corpus/city-reports-2024] [--runs 3]

Times (median of --runs) three ways of labelling the corpus, each a whole `aipolicy label` command:
(a) local: ``-j 2`` (two forked worker processes);
(b) ``--dask local -j 2``: a LocalCluster of 2 single-threaded worker processes started by the command
    (cluster start-up and model shipping included);
(c) ``--dask tcp://…``: a cluster started beforehand the way the README shows for real machines
    (``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1``), so start-up is not counted.
Checks that (b) and (c) write exactly the bytes (a) writes, and prints the ratios to (a).
On one 2-core machine Dask cannot beat local processes (same cores, plus its scheduling and the
results travelling back); the point of (c) is the per-file overhead, which is what remains when the
workers are on other machines.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def aipolicy_cmd() -> list[str]:
    script = Path(sys.executable).with_name("aipolicy")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "aipolicy.cli"]


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(tmp: Path) -> tuple[str, list[subprocess.Popen]]:
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp / "cluster.log", "w")
    sched = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--dashboard-address", ":0"], stdout=log, stderr=log)
    time.sleep(2)
    workers = subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                "--dashboard-address", ":0"], stdout=log, stderr=log)
    from distributed import Client

    with Client(address, timeout="60s") as c:
        c.wait_for_workers(2, timeout=120)
    return address, [workers, sched]


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="../shared/corpus/city-reports-2024")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        raise SystemExit(f"corpus not found: {corpus}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        address, procs = start_cluster(tmp)
        try:
            ways = {"(a) local -j 2": ["-j", "2"], "(b) --dask local -j 2": ["--dask", "local", "-j", "2"],
                    "(c) --dask tcp:// (2 workers running)": ["--dask", address]}
            times: dict[str, list[float]] = {k: [] for k in ways}
            outs = {}
            for r in range(args.runs):
                for k, extra in ways.items():  # interleaved, so load on the machine hits all alike
                    out = tmp / f"{len(outs)}_{r}.csv"
                    times[k].append(timed(aipolicy_cmd() + ["label", str(corpus), "-o", str(out), "-q", *extra]))
                    outs.setdefault(k, out)
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)
        same = len({digest(p) for p in outs.values()}) == 1
        base = statistics.median(times["(a) local -j 2"])
        print(f"corpus: {corpus}; median of {args.runs} runs, whole commands")
        for k, ts in times.items():
            m = statistics.median(ts)
            print(f"{k:<40} {m:6.2f} s  ({m / base:.2f} × local; runs: {', '.join(f'{t:.2f}' for t in ts)})")
        print(f"outputs byte-identical: {same}")


if __name__ == "__main__":
    main()
