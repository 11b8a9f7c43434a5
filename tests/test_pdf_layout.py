"""PDF: a generated Chinese government PDF with a running header, page-number footers, curly quotes in a
Latin font written after their line, and a paragraph split by the page break."""
from __future__ import annotations

import pytest

pytest.importorskip("reportlab")

from pdf_fixture import make_pdf, wrap  # noqa: E402

from aipolicy.readers import read_pdf  # noqa: E402

P1 = "为加快推进人工智能产业发展，打造“人工智能+”应用高地，根据《嘉兴市数字经济发展规划》，结合本市实际，制定本方案。"
P2 = "到2027年，全市建成智能算力规模超过5000P，培育“专精特新”企业50家以上，形成一批可复制推广的典型场景。"
P3 = "支持企业建设行业大模型训练平台，对购买算力服务的中小企业给予补贴，每家每年最高200万元。"


def test_headed_pdf(tmp_path):
    w1, w2 = wrap(P1), wrap(P2)
    pages = [["关于加快人工智能产业发展的实施方案", "一、总体要求"] + w1 + w2[:2],
             w2[2:] + ["二、重点任务"] + wrap(P3), ["三、保障措施"]]
    f = make_pdf(tmp_path / "plan.pdf", pages, header="嘉兴市人民政府办公室")
    text, raw = read_pdf(f)
    assert text.split("\n") == ["关于加快人工智能产业发展的实施方案", "一、总体要求", P1, P2, "二、重点任务", P3,
                                "三、保障措施"]
    assert "嘉兴市人民政府办公室" in raw and "— 2 —" in raw  # the raw lines keep header and footer


def test_pypdf_misorders_the_quotes(tmp_path):
    """Why pdfplumber: pypdf reads the same file with the quotes out of place."""
    from pypdf import PdfReader

    f = make_pdf(tmp_path / "q.pdf", [wrap(P1)], header=None)
    flat = PdfReader(str(f)).pages[0].extract_text().replace("\n", "")
    assert "打造“人工智能+”应用高地" not in flat
    assert "打造“人工智能+”应用高地" in read_pdf(f)[0]
