"""Limits on what one file may cost, hostile docx/xlsx/jsonl structures, and entries that are not
regular files: each ends as a skipped (or read) file with a one-line reason, quickly."""
from __future__ import annotations

import io
import os
import socket
import time
import zipfile

import pandas as pd
import pytest

from aipolicy import ingest_files
from aipolicy.errors import AipolicyError
from aipolicy.limits import FileTimeout, Limits, time_budget

from conftest import PARAS

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _docx(body: str, ns: str = W) -> bytes:
    ct = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
    rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship '
            'Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", ct)
        z.writestr("_rels/.rels", rels)
        z.writestr("word/document.xml", f'<w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>')
    return buf.getvalue()


def _p(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def _tc(text: str, props: str = "") -> str:
    return f"<w:tc><w:tcPr>{props}</w:tcPr>{_p(text)}</w:tc>"


def _manifest(tmp_path, files: dict, limits: Limits | None = None) -> pd.DataFrame:
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    for name, data in files.items():
        (d / name).write_bytes(data)
    res = ingest_files([d], limits=limits)
    return res.manifest.assign(name=[os.path.basename(f) for f in res.manifest["file"]]).set_index("name")


def test_docx_bogus_table_structures_are_read(tmp_path):
    m = _manifest(tmp_path, {
        "span.docx": _docx(_p(PARAS[1]) + "<w:tbl><w:tr>" + _tc(PARAS[2], '<w:gridSpan w:val="2000000000"/>')
                           + "</w:tr></w:tbl>"),
        "spantext.docx": _docx(_p(PARAS[1]) + "<w:tbl><w:tr>" + _tc(PARAS[3], '<w:gridSpan w:val="x"/>')
                               + "</w:tr></w:tbl>"),
        "vmerge.docx": _docx(_p(PARAS[1]) + "<w:tbl><w:tr>" + _tc(PARAS[4], "<w:vMerge/>") + _tc(PARAS[5])
                             + "</w:tr></w:tbl>"),
        "ns.docx": _docx(_p(PARAS[1]), ns="http://example.invalid/other"),
    })
    for name in ("span.docx", "spantext.docx", "vmerge.docx"):
        assert m.loc[name, "status"] == "ok" and m.loc[name, "units"] >= 2, m.loc[name].to_dict()
    assert m.loc["ns.docx", "status"] == "skipped"


def test_zip_bomb_and_paragraph_limits(tmp_path):
    many = _docx("".join(_p(f"第{i}项：{PARAS[1]}") for i in range(60)))
    lim = Limits(max_xml_bytes=2_000, max_paragraphs=50)
    m = _manifest(tmp_path, {"bomb.docx": _docx(_p("算" * 5000)), "many.docx": many,
                             "many.txt": "\n".join(f"第{i}项：{PARAS[1]}" for i in range(60)).encode()}, lim)
    assert "max_xml_bytes" in m.loc["bomb.docx", "reason"]
    assert "max_xml_bytes" in m.loc["many.docx", "reason"]
    assert m.loc["many.txt", "reason"].startswith("over a limit: paragraphs 60 > 50")


def test_xlsx_far_cell_and_bogus_dimension(tmp_path):
    from openpyxl import Workbook

    far = Workbook()
    far.active.cell(row=1048576, column=16384, value="x")
    ok = Workbook()
    ok.active.append(["id", "Text"])
    ok.active.append(["a1", PARAS[1]])
    ok.active.cell(row=1048576, column=2, value=None)
    bufs = {}
    for name, wb in (("far.xlsx", far), ("ok.xlsx", ok)):
        b = io.BytesIO()
        wb.save(b)
        bufs[name] = b.getvalue()
    t0 = time.perf_counter()
    m = _manifest(tmp_path, bufs)
    assert time.perf_counter() - t0 < 60
    assert "max_columns" in m.loc["far.xlsx", "reason"]
    assert m.loc["ok.xlsx", "status"] == "ok" and m.loc["ok.xlsx", "units"] == 1


def test_tables_with_duplicated_or_mixed_columns(tmp_path):
    m = _manifest(tmp_path, {
        "dup.csv": f"Text,text\n{PARAS[1]},{PARAS[2]}\n".encode(),
        "mixed.jsonl": f'{{"text": "{PARAS[1]}"}}\n["{PARAS[2]}"]\n'.encode(),
        "keys.jsonl": f'{{"Text": "{PARAS[1]}", "text": "{PARAS[2]}"}}\n'.encode(),
        "good.jsonl": f'{{"text": "{PARAS[1]}", "id": 7}}\n\n{{"text": "{PARAS[2]}", "extra": [1]}}\n'.encode(),
    })
    assert m.loc["dup.csv", "reason"].startswith("text column is ambiguous (Text, text)")
    assert m.loc["mixed.jsonl", "reason"].startswith("line 2: a JSON list")
    assert m.loc["keys.jsonl", "reason"].startswith("text column is ambiguous (Text, text)")
    assert m.loc["good.jsonl", "units"] == 2


def test_time_budget():
    with pytest.raises(FileTimeout, match="file_timeout"):
        with time_budget(0.2):
            while True:
                pass
    with time_budget(5):
        pass  # the timer is cleared on leaving


def test_limit_options():
    lim = Limits().with_options(["max_bytes=2M", "file-timeout=1.5", "max_rows=10"])
    assert (lim.max_bytes, lim.file_timeout, lim.max_rows) == (2_000_000, 1.5, 10)
    with pytest.raises(AipolicyError, match="NAME=VALUE"):
        Limits().with_options(["nope=1"])
    with pytest.raises(AipolicyError, match="not a number"):
        Limits().with_options(["max_rows=lots"])


def test_cli_limit_flag(tmp_path, policy_txt, capsys):
    from aipolicy.cli import main

    out = tmp_path / "u.csv"
    assert main(["ingest", str(policy_txt), "-o", str(out), "-q", "--limit", "max_paragraphs=3"]) == 2
    assert "over a limit: paragraphs 7 > 3" in capsys.readouterr().err
    assert "max_paragraphs" in ingest_files([policy_txt], limits=Limits(max_paragraphs=3)).manifest.loc[0, "reason"]
    assert main(["ingest", str(policy_txt), "-o", str(out), "-q", "--limit", "bogus"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_entries_that_are_not_regular_files_are_listed(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "good.txt").write_text("\n".join(PARAS), encoding="utf-8")
    os.symlink(d / "loop.txt", d / "loop.txt")
    os.symlink(tmp_path / "nowhere.txt", d / "broken.txt")
    os.symlink(tmp_path, d / "folder_link")
    os.mkfifo(d / "pipe.txt")  # opening it would block: it must never be opened
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(d / "sock.txt"))
    s.close()
    res = ingest_files([d])
    m = res.manifest.assign(name=[os.path.basename(f) for f in res.manifest["file"]]).set_index("name")
    assert len(m) == 6
    assert m.loc["good.txt", "status"] == "ok"
    assert m.loc["loop.txt", "reason"] == "symbolic link loop"
    assert m.loc["broken.txt", "reason"].startswith("broken symbolic link")
    assert "link to a folder" in m.loc["folder_link", "reason"]
    assert m.loc["pipe.txt", "reason"].startswith("a FIFO")
    assert m.loc["sock.txt", "reason"].startswith("a socket")
