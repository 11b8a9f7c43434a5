"""Reading ahead (-j N): while the parent builds the tokenizer, a forked process runs the read stage of the
smallest files; the workers then only label them. It must change nothing in the output, and it is best
effort: a reader that dies or is slow to stop leaves every file to the workers."""
from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aipolicy.batch as batch
from aipolicy.pipeline import PipelineOptions, label_stage, read_stage
from conftest import PARAS

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the reader is a forked process")


def _files(tmp_path: Path, n: int = 5) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for i in range(n):  # distinct texts and sizes
        text = "\n".join(PARAS[: 2 + i]) + f"\n第{i}号文件。支持算力券发放。"
        (d / f"doc{i}.txt").write_text(text, encoding="utf-8")
    return d


def _tasks(folder: Path) -> list:
    files = sorted(folder.iterdir(), key=lambda p: p.stat().st_size)
    return [(i, str(p), p.name, str(p) + ".part", PipelineOptions(), None) for i, p in enumerate(files)]


def _same(a, b) -> bool:
    return (a.file, a.status, a.reason, a.columns, a.documents) == (b.file, b.status, b.reason, b.columns, b.documents)


def _readers() -> list:
    """The reader processes still alive (other tests may leave worker processes of their own)."""
    return [p for p in mp.active_children() if p.name == "aipolicy-read"]


def _read_ahead(tasks, build):
    return batch._read_ahead(mp.get_context("fork"), tasks, build, ((), os.getpid()))


def test_what_is_read_ahead_is_what_the_read_stage_gives(tmp_path):
    tasks = _tasks(_files(tmp_path))
    read = _read_ahead(tasks, lambda: time.sleep(1.0))  # a slow tokenizer: the reader reads them all
    assert sorted(read) == [t[0] for t in tasks]
    for t in tasks:
        res, seconds = read[t[0]]
        assert seconds >= 0
        assert _same(res, read_stage(t[1], t[2], t[4]))
    assert not _readers()


def test_only_files_up_to_the_size_limit_are_read_ahead(tmp_path, monkeypatch):
    tasks = _tasks(_files(tmp_path))
    limit = os.path.getsize(tasks[2][1])
    monkeypatch.setattr(batch, "READ_AHEAD_BYTES", limit)
    read = _read_ahead(tasks, lambda: time.sleep(1.0))
    assert sorted(read) == [0, 1, 2]  # smallest first, up to the first file over the limit
    monkeypatch.setattr(batch, "READ_AHEAD_BYTES", -1)
    built = []
    assert _read_ahead(tasks, lambda: built.append(1)) == {} and built == [1]  # no reader, still built


def test_a_reader_that_dies_leaves_every_file_to_the_workers(tmp_path, monkeypatch):
    tasks = _tasks(_files(tmp_path))
    real = batch.read_stage

    def dies_on_the_third(path, *a, **k):  # runs in the forked reader only
        if path == tasks[2][1]:
            os._exit(1)
        return real(path, *a, **k)

    monkeypatch.setattr(batch, "read_stage", dies_on_the_third)
    assert _read_ahead(tasks, lambda: time.sleep(1.0)) == {}
    assert not _readers()


def test_a_reader_slow_to_stop_is_stopped_and_its_files_left_to_the_workers(tmp_path, monkeypatch):
    tasks = _tasks(_files(tmp_path))
    monkeypatch.setattr(batch, "read_stage", lambda *a, **k: time.sleep(30))
    monkeypatch.setattr(batch, "READ_AHEAD_GRACE", 0.2)
    start = time.monotonic()
    assert _read_ahead(tasks, lambda: time.sleep(0.2)) == {}
    assert time.monotonic() - start < 10
    assert not _readers()


def test_the_label_stage_gets_what_the_reading_left_of_the_time_budget(tmp_path):
    from aipolicy.limits import Limits

    f = _files(tmp_path, 1) / "doc0.txt"
    options = PipelineOptions(limits=Limits(file_timeout=1.0))

    def slow_label(texts):
        time.sleep(0.6)
        return {}

    assert label_stage(read_stage(f, options=options), slow_label, options, spent=0.1).status == "ok"
    res = label_stage(read_stage(f, options=options), slow_label, options, spent=0.7)
    assert res.status == "skipped" and "took more than 1 s" in res.reason  # the whole limit is named
    assert res.columns is None


# A fresh process (the tokenizer not built yet, as for a user) with the tokenizer's build slowed down, so
# that the reader reads every small file; or with reading ahead switched off.
DRIVER = """
import sys, time
import aipolicy.batch as batch
import aipolicy.tokens as tokens
from aipolicy.cli import main

if sys.argv[1] == "off":
    batch.READ_AHEAD_BYTES = -1
else:
    real_read_ahead, real_cutter = batch._read_ahead, tokens._cutter

    def slow_build():
        time.sleep(1.0)
        return real_cutter()

    def counted(ctx, tasks, build, args):
        read = real_read_ahead(ctx, tasks, slow_build, args)
        print("read ahead:", len(read), file=sys.stderr)
        return read

    batch._read_ahead = counted
sys.exit(main(sys.argv[2:]))
"""


def test_a_run_that_reads_ahead_writes_the_same_bytes(tmp_path, trained):
    d = _files(tmp_path, 6)
    (d / "empty.txt").write_bytes(b"")  # skipped by the read stage: its record comes from the reader
    (d / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (d / "large.txt").write_text("\n".join(PARAS * 400), encoding="utf-8")  # over the limit: not read ahead
    outs = {}
    for mode in ("on", "off"):
        out = tmp_path / mode / "labels.csv"
        run = subprocess.run([sys.executable, "-c", DRIVER, mode, "label", str(d), "-o", str(out), "-j", "2",
                              "-q", "--model", str(trained[0])], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        outs[mode] = [Path(str(out) + ext).read_bytes() for ext in ("", ".manifest.csv", ".documents.csv")]
        if mode == "on":
            assert "read ahead: 8" in run.stderr  # six texts, the empty and the binary file
    assert outs["on"] == outs["off"]
    assert b"empty.txt" in outs["on"][1] and b"skipped" in outs["on"][1]
