"""Formats as analysts receive them: a wrapped text with page markers, a two-sheet workbook, a docx with a
mid-document table, table text columns, .doc/.wps through LibreOffice (skipped when absent; a fake
soffice on PATH for the conversion path)."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pandas as pd
import pytest

from aipolicy import ingest
from aipolicy.errors import SkipFile
from aipolicy.ingest import read_documents

from conftest import PARAS
from test_layout import P1, P2, P3, wrapped_report


def test_wrapped_text_with_page_markers_becomes_paragraphs(tmp_path):
    f = tmp_path / "copied_from_pdf.txt"
    f.write_text(wrapped_report(), encoding="utf-8")
    texts = ingest(f)["text"].tolist()
    assert P1 in texts and P2 in texts and P3 in texts
    assert not any("— 1 —" in t or t == "嘉禾市人民政府办公室文件" for t in texts)
    assert len(texts) == 6  # the 8 paragraphs less the short headings "一、总体要求", "二、重点任务" (< 6 Han)


def test_all_sheets_and_sheet_option(tmp_path):
    f = tmp_path / "book.xlsx"
    with pd.ExcelWriter(f) as xw:
        pd.DataFrame({"text": PARAS[1:3]}).to_excel(xw, sheet_name="第一批", index=False)
        pd.DataFrame({"正文": PARAS[3:5]}).to_excel(xw, sheet_name="第二批", index=False)
    assert sorted(ingest(f)["text"]) == sorted(PARAS[1:5])
    (doc,) = read_documents(f, f.name, sheet="第二批")
    assert doc.paragraphs == PARAS[3:5]
    with pytest.raises(SkipFile, match="no sheet named '第三批'"):
        read_documents(f, f.name, sheet="第三批")


def test_text_column_choice_and_clear_errors(tmp_path):
    f = tmp_path / "both.csv"
    pd.DataFrame({"Text": PARAS[1:3], "text": PARAS[3:5], "id": ["a", "b"]}).to_csv(f, index=False)
    with pytest.raises(SkipFile, match="ambiguous.*--text-column"):
        read_documents(f, f.name)
    (doc,) = read_documents(f, f.name, text_column="Text")
    assert doc.paragraphs == PARAS[1:3] and doc.row_ids == ["a", "b"]
    g = tmp_path / "content.csv"
    pd.DataFrame({"标题": ["x", "y"], "内容": PARAS[1:3]}).to_csv(g, index=False)
    assert ingest(g)["text"].tolist() == PARAS[1:3]  # 内容 is a known name for the text column
    with pytest.raises(SkipFile, match="no column 'body'"):
        read_documents(g, g.name, text_column="body")
    res = ingest([f])  # the ambiguous table is skipped with its reason, not a traceback
    assert res.empty


def test_docx_table_in_document_order(tmp_path):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_paragraph(PARAS[1])
    t = d.add_table(rows=2, cols=2)
    t.rows[0].cells[0].text, t.rows[0].cells[1].text = "建设人工智能公共算力中心", "2025年底前完成"
    t.rows[1].cells[0].text, t.rows[1].cells[1].text = "设立人工智能产业投资基金", "规模不低于100亿元"
    d.add_paragraph(PARAS[2])
    f = tmp_path / "mid_table.docx"
    d.save(f)
    assert ingest(f)["text"].tolist() == [PARAS[1], "建设人工智能公共算力中心｜2025年底前完成",
                                          "设立人工智能产业投资基金｜规模不低于100亿元", PARAS[2]]


def test_doc_skipped_without_libreoffice(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    f = tmp_path / "old.doc"
    f.write_bytes(b"\xd0\xcf\x11\xe0 not really a doc")
    from aipolicy import ingest_files

    res = ingest_files([f])
    (row,) = res.manifest.to_dict("records")
    assert row["status"] == "skipped" and "LibreOffice (soffice)" in row["reason"] and "not installed" in row["reason"]


def test_doc_converted_with_soffice(tmp_path, monkeypatch):
    """A fake soffice on PATH that writes a .docx the way LibreOffice's --convert-to does."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "soffice"
    fake.write_text(f"""#!{sys.executable}
import sys, pathlib, docx
args = sys.argv[1:]
assert args[:3] == ["--headless", "--convert-to", "docx"], args
outdir, src = pathlib.Path(args[4]), pathlib.Path(args[5])
d = docx.Document()
for line in src.read_text(encoding="utf-8").splitlines():
    d.add_paragraph(line)
d.save(outdir / (src.stem + ".docx"))
""", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    f = tmp_path / "plan.wps"
    f.write_text("\n".join(PARAS[1:4]), encoding="utf-8")
    assert ingest(f)["text"].tolist() == PARAS[1:4]
    broken = tmp_path / "broken.doc"
    broken.write_bytes(b"\xff\xfe\x00binary")
    from aipolicy import ingest_files

    (row,) = ingest_files([broken]).manifest.to_dict("records")
    assert row["status"] == "skipped" and "LibreOffice could not convert" in row["reason"]
