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
