"""Peak memory and time of `aipolicy label` on single files at (or just over) the default limits.

    python bench/limits_memory.py [--only NAME,...] [--timeout 900]

Each file is written to a temporary folder and labelled alone in a fresh process (-j1, default
limits); prints its size, the manifest status/reason, wall time and the process's peak RSS (target:
<= 1 GB on any single file). The files: a .txt and a .csv of ~50 MB (the file-size limit) with fewer
paragraphs/rows than the limits, a .docx whose XML is just under ``max_xml_bytes`` (one long paragraph,
and ``max_paragraphs`` short ones), a 200 MB docx zip bomb, an .xlsx just under ``max_cells``, a
.jsonl holding one 45 MB string, and an HTML page just under ``max_html_bytes``.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz import CT, RELS, W, run_process  # noqa: E402

LINE = "推进人工智能产业发展，支持建设城市级智能算力平台，向中小企业发放算力券，第{i}项措施由市经济和信息化局牵头落实。"


def _docx_xml(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CT)
        z.writestr("_rels/.rels", RELS)
        z.writestr("word/document.xml", f'<w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>')
    return buf.getvalue()


def make(name: str, folder: Path) -> Path:
    from aipolicy.limits import DEFAULT as L

    p = folder / name
    if name == "big.txt":
        n = 49_000_000 // len(LINE.format(i=0).encode()) // 2  # lines of ~150 bytes, doubled by a blank line
        p.write_text("\n\n".join(LINE.format(i=i) for i in range(min(n, L.max_paragraphs - 1))), encoding="utf-8")
    elif name == "big.csv":
        rows = [f"{i},{LINE.format(i=i)}" for i in range(min(L.max_rows - 1, 45_000_000 // 160))]
        p.write_text("id,text\n" + "\n".join(rows), encoding="utf-8")
    elif name == "long_paragraph.docx":
        p.write_bytes(_docx_xml("<w:p><w:r><w:t>" + "算力" * (L.max_xml_bytes // 7) + "</w:t></w:r></w:p>"))
    elif name == "many_paragraphs.docx":
        para = "<w:p><w:r><w:t>{}</w:t></w:r></w:p>"
        n = min(L.max_paragraphs - 1, L.max_xml_bytes // (len(para) + 160))
        p.write_bytes(_docx_xml("".join(para.format(LINE.format(i=i)) for i in range(n))))
    elif name == "bomb.docx":
        p.write_bytes(_docx_xml("<w:p><w:r><w:t>" + "算" * 70_000_000 + "</w:t></w:r></w:p>"))
    elif name == "cells.xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(["id", "text", "a", "b", "c", "d", "e", "f", "g", "h"])
        for i in range(min(L.max_rows - 1, L.max_cells // 10 - 1)):
            ws.append([i, LINE.format(i=i), *range(8)])
        wb.save(p)
    elif name == "huge_string.jsonl":
        p.write_text(json.dumps({"text": "数据" * 7_500_000}, ensure_ascii=False), encoding="utf-8")
    elif name == "page.html":
        body = "".join(f"<p>{LINE.format(i=i)}</p>" for i in range(L.max_html_bytes // 200))
        p.write_text(f"<html><head><title>通知</title></head><body><article>{body}</article></body></html>",
                     encoding="utf-8")
    return p


NAMES = ["big.txt", "big.csv", "long_paragraph.docx", "many_paragraphs.docx", "bomb.docx", "cells.xlsx",
         "huge_string.jsonl", "page.html"]


def main(argv=None) -> int:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated names among: " + ", ".join(NAMES))
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args(argv)
    worst = 0.0
    for name in (args.only.split(",") if args.only else NAMES):
        with tempfile.TemporaryDirectory() as tmp:
            f = make(name, Path(tmp))
            out = Path(tmp) / "out.parquet"
            import time

            t0 = time.perf_counter()
            code, err, rss = run_process([sys.executable, "-m", "aipolicy.cli", "label", str(f), "-o", str(out), "-q",
                                          "-j", "1"], args.timeout)
            wall = time.perf_counter() - t0
            man = Path(str(out) + ".manifest.csv")
            row = pd.read_csv(man, encoding="utf-8-sig", keep_default_na=False).iloc[0] if man.exists() else None
            what = f"{row['status']} {row['units']} units {row['reason']}" if row is not None else f"exit {code}"
            worst = max(worst, rss)
            print(f"{name:22s} {f.stat().st_size / 1e6:7.1f} MB  {wall:6.1f} s  peak {rss:6.0f} MB  {what}"
                  + ("" if code in (0, 1, 2) and "Traceback" not in err else f"  EXCEPTION/HANG: {err[-300:]}"))
    print(f"worst peak RSS: {worst:.0f} MB (target <= 1024)")
    return 0 if worst <= 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
