"""Outputs read back as written whatever the text or name; spreadsheets never hold a formula;
labels files in a wrong encoding or with a broken quote are refused with their line."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from aipolicy.errors import AipolicyError
from aipolicy.tables import read_table, safe_str, write_table

from conftest import PARAS

HOSTILE = ["a\rb", "line\nbreak", "=HYPERLINK(\"http://example.invalid\",\"x\")", "+1+2", "-3", "@SUM(A1)",
           'quote " and , comma', "tab\tin", "bell\x07and\x1besc", "\x00nul", "\ufeffbom", "普通文本"]


def _xlsx_expected(s: str) -> str:
    import re

    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", lambda m: f"\\x{ord(m.group()):02x}", s)


@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".parquet", ".xlsx"])
def test_write_table_round_trips_hostile_strings(tmp_path, ext):
    df = pd.DataFrame({"unit_id": [f"u{i}" for i in range(len(HOSTILE))], "text": HOSTILE,
                       "n": range(len(HOSTILE))})
    out = write_table(df, tmp_path / f"t{ext}")
    back = read_table(out)
    assert len(back) == len(df)
    want = [_xlsx_expected(s) for s in HOSTILE] if ext == ".xlsx" else HOSTILE
    assert back["text"].tolist() == want
    assert back["n"].tolist() == list(range(len(HOSTILE)))


def test_xlsx_cells_are_never_formulas(tmp_path):
    from openpyxl import load_workbook

    df = pd.DataFrame({"text": HOSTILE})
    out = write_table(df, tmp_path / "t.xlsx")
    ws = load_workbook(out).active
    types = {c.data_type for row in ws.iter_rows() for c in row}
    assert "f" not in types and types <= {"s", "n"}


def test_safe_str_escapes_undecodable_file_name_bytes():
    name = os.fsdecode(b"\xb1\xb1\xbe\xa9.txt")  # GBK bytes of a name on a UTF-8 file system
    assert safe_str(name) == "\\xb1\\xb1\\xbe\\xa9.txt"
    assert safe_str("北京.txt") == "北京.txt"
    assert safe_str("\ud800x") == "\\xed\\xa0\\x80x"  # a lone surrogate that is not an escaped byte


@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".parquet", ".xlsx"])
def test_label_output_round_trips_names_ids_and_text(tmp_path, trained, ext):
    from aipolicy.batch import label_files

    d = tmp_path / "in"
    d.mkdir()
    with open(os.path.join(os.fsencode(d), b"\xb1\xb1\xbe\xa9\r.txt"), "wb") as fh:  # not UTF-8, with \r
        fh.write("\n".join(PARAS).encode("utf-8"))
    rows = pd.DataFrame({"id": ["r\r1", "=cmd|'/c calc'!A1", "r\x013"],
                         "text": ["=HYPERLINK(\"http://x.invalid\")支持建设城市级智能算力平台，发放算力券。",
                                  PARAS[2], "控制\x02字符：" + PARAS[3]]})
    rows.to_csv(d / "table.csv", index=False, lineterminator="\r\n")  # so that "\r" is quoted
    out = tmp_path / f"labels{ext}"
    run = label_files([d], out, model=str(trained[0]))
    back = read_table(out)
    manifest = pd.read_csv(str(out) + ".manifest.csv", encoding="utf-8-sig", keep_default_na=False)
    assert len(back) == run.units == manifest["units"].sum() == len(PARAS) + 3
    assert set(back["source"]) == {"\\xb1\\xb1\\xbe\\xa9\r.txt", "table.csv"}
    ids = back.loc[back["source"] == "table.csv", "unit_id"].tolist()
    assert ids == ["r\r1", "=cmd|'/c calc'!A1", "r\\x013" if ext == ".xlsx" else "r\x013"]
    texts = back.loc[back["source"] == "table.csv", "text"].tolist()
    assert texts[0].startswith("=HYPERLINK(") and texts[2].startswith("控制字符")  # control char dropped
    assert manifest["file"].str.contains("\\xb1", regex=False).any()


# ---------------------------------------------------------------- labels files

def _cats(fixture_setup):
    from aipolicy.config import load_categories

    return load_categories(fixture_setup["categories"])


def _gold_lines(fixture_setup) -> list[str]:
    return fixture_setup["gold"].read_text(encoding="utf-8").splitlines()


def test_labels_utf16_is_read(tmp_path, fixture_setup):
    from aipolicy.labels import check_labels, read_labels

    p = tmp_path / "utf16.csv"
    p.write_text("\n".join(_gold_lines(fixture_setup)) + "\n", encoding="utf-16")
    assert check_labels(p, _cats(fixture_setup)) == []
    assert len(read_labels(p, _cats(fixture_setup))) == len(_gold_lines(fixture_setup)) - 1


@pytest.mark.parametrize("case", ["gbk", "binary", "unclosed_quote"])
def test_bad_labels_files_refused_with_line(tmp_path, fixture_setup, case, capsys):
    from aipolicy.cli import main
    from aipolicy.labels import check_labels, read_labels

    lines = _gold_lines(fixture_setup)
    p = tmp_path / f"{case}.csv"
    if case == "gbk":
        lines[3] = lines[3].rsplit(",", 1)[0] + ",备注"
        p.write_bytes("\n".join(lines).encode("gbk"))
    elif case == "binary":
        p.write_bytes("\n".join(lines[:5]).encode() + b"\n\x00\x01\x02\xff")
    else:
        lines[4] = lines[4].rsplit(",", 1)[0] + ',"note never closed'
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    probs = check_labels(p, _cats(fixture_setup))
    first_non_ascii = next(i + 1 for i, ln in enumerate(lines) if not ln.isascii())
    assert len(probs) == 1 and probs[0].line == {"gbk": first_non_ascii, "binary": 6, "unclosed_quote": 5}[case]
    with pytest.raises(AipolicyError, match=f"line {probs[0].line}"):
        read_labels(p, _cats(fixture_setup))
    code = main(["labels", "check", str(p), "--no-units", "--config", str(fixture_setup["config"]), "-q"])
    err = capsys.readouterr()
    assert code == 1 and f"line {probs[0].line}" in err.out and "Traceback" not in err.err


def test_category_without_positives_stops_training(fixture_setup):
    from aipolicy.train import check_positives

    df = pd.DataFrame({"compute": [1, 0, 1], "data": [0, 0, 0], "talent": [1, 1, 1]})
    with pytest.raises(AipolicyError, match=r"data \(no positive\).*talent \(no negative\)"):
        check_positives(df, ["compute", "data", "talent"])
    check_positives(df, ["compute"])
