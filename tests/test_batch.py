from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from aipolicy import batch
from aipolicy.batch import label_columns, label_files
from aipolicy.cli import main
from aipolicy.errors import AipolicyError
from aipolicy.tables import read_table
from fixture_corpus import CATS


def _model(trained):
    return str(trained[0])


@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".parquet", ".xlsx"])
def test_output_schema_and_manifest(inputs, trained, tmp_path, ext):
    out = tmp_path / f"labels{ext}"
    run = label_files([inputs], out, model=_model(trained))
    df = read_table(out)
    assert list(df.columns) == label_columns(CATS)
    assert len(df) == 48 == run.units
    assert df["unit_id"].is_unique
    assert ((df[[f"p_{c}" for c in CATS]] >= 0) & (df[[f"p_{c}" for c in CATS]] <= 1)).all().all()
    labs = df["labels"].fillna("").astype(str)
    assert all(set(filter(None, s.split(";"))) <= set(CATS) for s in labs)
    man = pd.read_csv(str(out) + ".manifest.csv", encoding="utf-8-sig")
    assert len(man) == 8 and (man["status"] == "skipped").sum() == 2
    assert not Path(str(out) + ".parts").exists()


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_deterministic_and_independent_of_jobs(inputs, trained, tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    label_files([inputs], a, model=_model(trained), jobs=1)
    label_files([inputs], b, model=_model(trained), jobs=1)
    label_files([inputs], c, model=_model(trained), jobs=2)
    assert _digest(a) == _digest(b) == _digest(c)


def test_resume_after_interruption(inputs, trained, tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    real = batch._label_file
    calls = []

    def flaky(task):
        calls.append(task[1])
        if len(calls) == 4:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the 4th file
        return real(task)

    monkeypatch.setattr(batch, "_label_file", flaky)
    with pytest.raises(KeyboardInterrupt):
        label_files([inputs], out, model=_model(trained), jobs=1)
    assert not out.exists()  # nothing half-written
    with pytest.raises(AipolicyError, match="--resume"):
        label_files([inputs], out, model=_model(trained), jobs=1)
    calls.clear()
    monkeypatch.setattr(batch, "_label_file", lambda t: (calls.append(t[1]), real(t))[1])
    run = label_files([inputs], out, model=_model(trained), jobs=1, resume=True)
    assert len(calls) == 5 and run.resumed_files == 3  # 8 files: 3 kept, 5 done now
    full = tmp_path / "full.csv"
    label_files([inputs], full, model=_model(trained), jobs=1)
    assert _digest(out) == _digest(full)  # no duplicates, nothing missing


def test_resume_rewrites_a_part_cut_short(inputs, trained, tmp_path, monkeypatch):
    """A part is written in place; one cut short by an interruption (its state line not yet written) is
    not taken as finished: resume labels that file again and the output is whole."""
    out = tmp_path / "r.csv"
    real = batch._label_file
    calls, cut = [], []

    def cut_short(task):
        calls.append(task[1])
        rec = real(task)
        if rec["part"] and not cut:  # the part is written, then the run dies before the parent records it
            part = Path(task[3])
            part.write_bytes(part.read_bytes()[:40])
            cut.append(task[1])
            raise KeyboardInterrupt
        return rec

    monkeypatch.setattr(batch, "_label_file", cut_short)
    with pytest.raises(KeyboardInterrupt):
        label_files([inputs], out, model=_model(trained), jobs=1)
    assert len(list(batch._parts_dir(out).glob("*.csv"))) == 1  # the part cut short, not recorded
    kept = len(calls) - 1
    calls.clear()
    monkeypatch.setattr(batch, "_label_file", lambda t: (calls.append(t[1]), real(t))[1])
    run = label_files([inputs], out, model=_model(trained), jobs=1, resume=True)
    assert run.resumed_files == kept and cut[0] in calls  # labelled again
    full = tmp_path / "full.csv"
    label_files([inputs], full, model=_model(trained), jobs=1)
    assert _digest(out) == _digest(full)


def test_cli_label(inputs, trained, tmp_path, capsys):
    out = tmp_path / "o.parquet"
    assert main(["label", str(inputs), "-o", str(out), "--model", _model(trained), "-q", "-j", "1"]) == 0
    assert "6 files labelled, 2 skipped, 48 units" in capsys.readouterr().out
    assert main(["label", str(inputs / "empty.txt"), "-o", str(tmp_path / "x.csv"), "--model", _model(trained),
                 "-q"]) == 2
    assert "no input file could be labelled" in capsys.readouterr().err


def test_label_with_shipped_default_model(tmp_path, policy_txt):
    out = tmp_path / "d.csv"
    run = label_files([policy_txt], out)
    df = read_table(out)
    assert run.units == len(df) == 7
    by_text = dict(zip(df["text"], df["labels"].fillna("")))
    assert "compute" in by_text[df["text"][1]]
    assert "talent" in by_text[df["text"][5]]


def _same_rows(dataset: Path, csv: Path) -> None:
    """The dataset reads back with pandas as the CSV output's rows, in the same order."""
    got, want = pd.read_parquet(dataset), read_table(csv)
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    pd.testing.assert_frame_equal(got.fillna("").astype(str), want.fillna("").astype(str), check_dtype=False)


def test_parquet_dataset_has_the_csv_rows(inputs, trained, tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "DATASET_PART_ROWS", 10)  # several part files: their name order is row order
    monkeypatch.setattr(batch, "DATASET_GROUP_ROWS", 4)
    csv, ds = tmp_path / "l.csv", tmp_path / "ds"
    label_files([inputs], csv, model=_model(trained), jobs=1)
    run = label_files([inputs], ds, model=_model(trained), jobs=2, output_format="parquet-dataset")
    assert run.units == 48
    assert sorted(p.name for p in ds.iterdir()) == [f"part-{i:05d}.parquet" for i in range(5)]
    _same_rows(ds, csv)
    assert Path(f"{ds}.manifest.csv").read_bytes() == Path(f"{csv}.manifest.csv").read_bytes()
    assert not Path(f"{ds}.parts").exists() and not list(tmp_path.glob(".ds*"))
    label_files([inputs / "甲市.txt"], ds, model=_model(trained), output_format="parquet-dataset")
    assert len(pd.read_parquet(ds)) < 48  # a new run replaces the whole dataset


def test_parquet_dataset_refuses_a_folder_of_other_files(inputs, trained, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(AipolicyError, match="not a Parquet dataset"):
        label_files([inputs], tmp_path / "mine", model=_model(trained), output_format="parquet-dataset")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_parquet_dataset_resume_and_cli(inputs, trained, tmp_path, monkeypatch, capsys):
    ds, csv = tmp_path / "ds", tmp_path / "l.csv"
    real, calls = batch._label_file, []

    def flaky(task):
        calls.append(task[1])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(batch, "_label_file", flaky)
    with pytest.raises(KeyboardInterrupt):
        label_files([inputs], ds, model=_model(trained), jobs=1, output_format="parquet-dataset")
    monkeypatch.undo()
    assert not ds.exists()
    assert main(["label", str(inputs), "-o", str(ds), "--format", "parquet-dataset", "--resume", "-q",
                 "-m", _model(trained)]) == 0
    assert "(3 files kept from the interrupted run)" in capsys.readouterr().out
    label_files([inputs], csv, model=_model(trained), jobs=1)
    _same_rows(ds, csv)


def test_parquet_dataset_folder_left_by_a_killed_run_is_removed(inputs, trained, tmp_path):
    stale = tmp_path / ".ds.abcd1234.tmp"  # what atomic_dir makes; a run killed while writing leaves it
    stale.mkdir()
    (stale / "part-0.parquet").write_bytes(b"half")
    label_files([inputs], tmp_path / "ds", model=_model(trained), output_format="parquet-dataset")
    assert not stale.exists()
    assert len(pd.read_parquet(tmp_path / "ds")) == 48


def test_worker_processes_parent_sleeps_until_a_result_or_a_death(inputs, trained, tmp_path, monkeypatch):
    """With -j 2 the parent runs no helper thread and wakes only when a worker sends a result or exits
    (multiprocessing.Pool's maintenance thread went round thousands of times per run while a result waited
    in the pipe), and the output is the -j 1 output."""
    import multiprocessing as mp
    import multiprocessing.connection as mpc
    import threading

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("fork only")
    real, wakes, threads = mpc.wait, [], threading.active_count()

    def counting(objects, timeout=None):
        ready = real(objects, timeout)
        if timeout is None:  # the runner's wait (Connection.poll and Process.join call it with a timeout)
            assert threading.active_count() == threads
            wakes.append(len(ready))
        return ready

    monkeypatch.setattr(mpc, "wait", counting)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    run = label_files([inputs], b, model=_model(trained), jobs=2)
    label_files([inputs], a, model=_model(trained), jobs=1)
    files = len(run.manifest_rows) - sum(r["status"] == "duplicate" for r in run.manifest_rows)
    assert 0 < len(wakes) <= files and all(wakes)  # every wake has something to read
    assert a.read_bytes() == b.read_bytes()
    assert not [p for p in mp.active_children() if p.name == "aipolicy-label"]  # ours (joblib may keep its own)
