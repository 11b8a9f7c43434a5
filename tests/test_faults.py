"""Faults: the one error boundary (a reader's exception skips the file, a bug exits 3 naming it),
the output lock, temporary files of killed runs, kill -9 and --resume."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from aipolicy.cli import main
from aipolicy.errors import AipolicyError

from conftest import PARAS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        (d / f"doc{i}.txt").write_text("\n".join(PARAS[i:] + PARAS[:i]) + f"\n第{i}号文件。支持算力券发放。",
                                       encoding="utf-8")
    return d


def test_reader_exception_skips_the_file(folder, tmp_path, monkeypatch):
    from aipolicy import ingest as ingest_mod  # the function; its module:
    mod = sys.modules["aipolicy.ingest"]
    real = mod.read_text_file

    def flaky(path):  # noqa: D401
        if path.name == "doc1.txt":
            raise KeyError("damaged structure")  # not one of the usual I/O errors
        return real(path)

    monkeypatch.setattr(mod, "read_text_file", flaky)
    out = tmp_path / "u.csv"
    assert main(["ingest", str(folder), "-o", str(out), "-q"]) == 0
    man = pd.read_csv(str(out) + ".manifest.csv", encoding="utf-8-sig").set_index("file")
    assert man.loc[str(folder / "doc1.txt"), "reason"].startswith("not a readable .txt (KeyError")
    assert (man["status"] == "ok").sum() == 2
    assert callable(ingest_mod)


@pytest.mark.parametrize("command", ["ingest", "label"])
def test_internal_error_exits_3_naming_the_file(folder, tmp_path, monkeypatch, capsys, command):
    import aipolicy.cities as cities

    real = cities.attribute_cities

    def buggy(doc, rows, **kw):
        if doc.source == "doc2.txt":
            raise ZeroDivisionError("division by zero in a stage")
        return real(doc, rows, **kw)

    monkeypatch.setattr(cities, "attribute_cities", buggy)
    out = tmp_path / "u.csv"
    code = main([command, str(folder), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 3
    assert "internal error: ZeroDivisionError" in err and str(folder / "doc2.txt") in err and "Traceback" not in err
    man = pd.read_csv(str(out) + ".manifest.csv", encoding="utf-8-sig")
    assert len(man) == 3 and (man["status"] == "ok").sum() == 2  # the rest was written
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == man["units"].sum()


def test_unforeseen_error_outside_files_is_one_line_exit_3(folder, tmp_path, monkeypatch, capsys):
    import aipolicy.tables as tables

    def broken(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tables, "write_table", broken)
    assert main(["ingest", str(folder), "-o", str(tmp_path / "u.csv"), "-q"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: disk on fire" in err and "Traceback" not in err


def test_lock_refuses_a_second_run_and_stale_temps_are_removed(folder, tmp_path, trained):
    from aipolicy.batch import label_files
    from aipolicy.tables import output_lock

    out = tmp_path / "out" / "labels.csv"
    out.parent.mkdir()
    stale = [out.parent / ".labels.csv.ab12cd34.tmp", out.parent / ".labels.csv.manifest.csv.zz99yy88.tmp"]
    other = out.parent / ".labels.csv.x.csv.ab12cd34.tmp"  # another output's temporary file: kept
    for p in stale + [other]:
        p.write_text("partial")
    with output_lock(out):
        with pytest.raises(AipolicyError, match="another run is writing"):
            label_files([folder], out, model=str(trained[0]))
    label_files([folder], out, model=str(trained[0]))
    assert not any(p.exists() for p in stale) and other.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        [other.name, "labels.csv", "labels.csv.manifest.csv", "labels.csv.documents.csv"])


@pytest.mark.slow
def test_kill_9_and_resume(folder, tmp_path, trained):
    import kill_resume

    for i in range(3, 12):  # enough files that a kill lands mid-run
        (folder / f"more{i}.txt").write_text("\n".join(PARAS[i % 7:] + [f"第{i}项：支持算力券发放。"]), encoding="utf-8")
    r = kill_resume.run([folder], kills=3, seed=1, model=str(trained[0]), work=tmp_path / "k", log=lambda m: None)
    assert r["final_exit"] == 0 and r["output_identical"] and r["manifest_identical"], r
    assert r["leftovers"] == [] and r["kills"] >= 1, r  # the lock itself: test_lock_refuses_a_second_run


@pytest.mark.parametrize("ext", [".xlsx", ".parquet", ".jsonl"])
def test_every_format_is_byte_identical_across_runs_and_jobs(folder, tmp_path, trained, ext):
    import hashlib
    import time

    from aipolicy.batch import label_files

    digests = []
    for name, jobs in (("a", 1), ("b", 2)):
        out = tmp_path / f"{name}{ext}"
        label_files([folder], out, model=str(trained[0]), jobs=jobs)
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
        time.sleep(1.1)  # a time stamp in the file would differ
    assert digests[0] == digests[1]


def test_labelling_in_chunks_gives_the_same_columns(trained):
    from aipolicy.models import load_predictor
    from aipolicy.pipeline import label_in_chunks

    clf = load_predictor(str(trained[0]))
    texts = PARAS * 5
    whole, chunked = clf.label_columns(texts), label_in_chunks(clf.label_columns, texts, size=4)
    assert whole.keys() == chunked.keys()
    for k in whole:
        assert list(whole[k]) == list(chunked[k])
