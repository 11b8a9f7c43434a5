"""Document metadata from the text: every fixture layout, numerals, sidecar CSV."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from aipolicy.metadata import SidecarError, apply_sidecar, cn_number, doc_type_of, extract, parse_date, read_sidecar

FIXTURES = Path(__file__).parent / "fixtures"


def _cases():
    for folder in ("metadata", "metadata_heldout"):
        for row in csv.DictReader(open(FIXTURES / folder / "expected.csv", encoding="utf-8")):
            yield pytest.param(folder, row, id=f"{folder}/{row['file']}")


@pytest.mark.parametrize("folder,row", list(_cases()))
def test_fixture_metadata(folder, row):
    text = (FIXTURES / folder / row["file"]).read_text(encoding="utf-8")
    got = extract(text.split("\n"), file_name=row["file"]).row()
    for key in ("title", "issuer", "date", "doc_number", "doc_type"):
        assert (got[key] or "") == row[key], key
    assert got["year"] == (int(row["date"][:4]) if row["date"] else None)


def test_chinese_numerals_and_dates():
    assert cn_number("二〇二五") == 2025 and cn_number("十二") == 12 and cn_number("三十一") == 31
    assert cn_number("二十") == 20 and cn_number("十") == 10 and cn_number("7") == 7
    assert parse_date("二〇二五年六月十二日") == "2025-06-12"
    assert parse_date("2025年6月") == "2025-06"
    assert parse_date("成文日期：2024-07-09") == "2024-07-09"
    assert parse_date("（2025—2027年）") == ""


def test_doc_type_head_noun_wins():
    assert doc_type_of("若干政策措施有关条款资金管理办法（试行）") == "办法"
    assert doc_type_of("公共数据管理办法") == "办法"
    assert doc_type_of("数据安全法") == "条例"
    assert doc_type_of("人工智能行动方案（2024—2026年）") == "行动计划"
    assert doc_type_of("标准化指引（2025版）") == "意见"


def test_sidecar_overrides(tmp_path):
    f = tmp_path / "meta.csv"
    f.write_text("file,title,issuer,date,doc_number,kind,place\n"
                 "sub/a.txt,某市人工智能条例,某市人大常委会,2021-06,第8号,条例,苏州\n", encoding="utf-8")
    side = read_sidecar(f)
    meta, place = apply_sidecar(extract(["标题行", "正文。"]), side["a.txt"])
    assert (meta.title, meta.issuer, meta.date, meta.year, meta.doc_type, place) == \
        ("某市人工智能条例", "某市人大常委会", "2021-06", 2021, "条例", "苏州")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,title\nx,y\n", encoding="utf-8")
    with pytest.raises(SidecarError, match="no 'file' column"):
        read_sidecar(bad)
