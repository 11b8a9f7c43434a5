from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from aipolicy import ingest, ingest_files
from aipolicy.ingest import UNIT_COLUMNS, decode_bytes, is_boilerplate, normalise, tidy
from aipolicy.errors import SkipFile

from conftest import PARAS


def _texts(df: pd.DataFrame) -> list[str]:
    return df["text"].tolist()


def test_txt_utf8_columns_and_order(policy_txt):
    df = ingest(policy_txt)
    assert list(df.columns) == UNIT_COLUMNS
    assert _texts(df) == [tidy(p) for p in PARAS]
    assert df["position"].tolist() == list(range(len(PARAS)))
    assert df["doc_id"].nunique() == 1
    assert df["source"].unique().tolist() == ["beijing_policy.txt"]


def test_unit_ids_stable_across_runs_and_folders(policy_txt, tmp_path):
    a = ingest(policy_txt)
    other = tmp_path / "elsewhere"
    other.mkdir()
    copy = other / "renamed.txt"
    copy.write_bytes(policy_txt.read_bytes())
    b = ingest(copy)
    assert a["unit_id"].tolist() == b["unit_id"].tolist()
    assert a["unit_id"].is_unique


def test_gbk_file_detected(tmp_path):
    f = tmp_path / "gbk.txt"
    f.write_bytes("\n".join(PARAS).encode("gbk"))
    text, enc = decode_bytes(f.read_bytes())
    assert enc == "gb18030"
    assert _texts(ingest(f)) == [tidy(p) for p in PARAS]


def test_utf8_bom_and_big5(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes(b"\xef\xbb\xbf" + "\n".join(PARAS).encode("utf-8"))
    assert _texts(ingest(f))[1] == tidy(PARAS[1])
    trad = "臺北市政府推動人工智慧產業發展，建設智慧運算中心與資料交換平臺。"
    g = tmp_path / "big5.txt"
    g.write_bytes((trad + "\n" + trad.replace("臺北", "新竹")).encode("big5"))
    texts = _texts(ingest(g))
    assert texts[0].startswith("臺北市政府推動人工智慧產業發展")  # shown as written
    assert normalise(texts[0]).startswith("台北市政府推动人工智慧产业发展")


def test_traditional_kept_in_output_simplified_for_matching(tmp_path):
    f = tmp_path / "trad.txt"
    trad = "支持企業研發通用大模型，建設資料標註基地與開源社群。"
    f.write_text(trad, encoding="utf-8")
    df = ingest(f)
    (text,) = _texts(df)
    assert text == trad  # original characters, full-width punctuation kept
    from aipolicy.units import unit_id

    assert df["unit_id"].iloc[0] == unit_id(df["doc_id"].iloc[0], normalise(trad))  # ids from the matching text
    assert "企业研发通用大模型" in normalise(text) and "标注" in normalise(text)


def test_fullwidth_and_whitespace_normalised():
    assert normalise("ＡＩ　产业\t规模  达到１００亿元") == "AI产业规模达到100亿元"
    assert normalise("GPT 4 模型 与 数据") == "GPT 4模型与数据"


def test_docx(tmp_path):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    for p in PARAS:
        d.add_paragraph(p)
    t = d.add_table(rows=1, cols=2)
    t.rows[0].cells[0].text = "表格中的措施：建设人工智能公共算力中心"
    t.rows[0].cells[1].text = "2024年"
    f = tmp_path / "policy.docx"
    d.save(f)
    texts = _texts(ingest(f))
    assert texts[:len(PARAS)] == [tidy(p) for p in PARAS]
    assert any("公共算力中心" in t for t in texts)


def _make_pdf(path: Path, paragraphs: list[str]) -> None:
    reportlab = pytest.importorskip("reportlab")  # noqa: F841
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("STSong-Light", 11)
    y = 800
    for p in paragraphs:
        c.drawString(40, y, p)
        y -= 30
    c.save()


def test_pdf_text_layer(tmp_path):
    f = tmp_path / "policy.pdf"
    _make_pdf(f, PARAS[1:4])
    texts = _texts(ingest(f))
    assert len(texts) == 3
    assert "算力券" in texts[0] and "语料库" in texts[1] and "大模型" in texts[2]


HTML = """<!DOCTYPE html><html><head><meta charset="gb18030"><title>某市发布人工智能新政</title></head>
<body>
<div class="nav"><a href="/">首页</a> | <a href="/news">新闻中心</a> | <a href="/about">关于我们</a></div>
<div class="share">分享到：微信 微博 QQ空间</div>
<article><h1>某市发布人工智能新政</h1>
<p>{p1}</p>
<p>{p2}</p>
<p>{p3}</p>
</article>
<div class="ad">扫一扫下载新闻APP</div>
<div class="comments"><h3>网友评论</h3><p>这政策太好了，点赞点赞点赞！！！</p></div>
<footer>版权所有 © 2024 某某新闻网 京ICP备00000000号</footer>
</body></html>"""


def test_html_main_text_without_boilerplate(tmp_path):
    f = tmp_path / "page.html"
    f.write_bytes(HTML.format(p1=PARAS[1], p2=PARAS[2], p3=PARAS[3]).encode("gb18030"))
    texts = _texts(ingest(f))
    joined = "\n".join(texts)
    assert "算力券" in joined and "语料库" in joined and "大模型" in joined
    for junk in ("新闻中心", "扫一扫", "点赞点赞", "版权所有", "ICP", "分享到"):
        assert junk not in joined, junk


def test_boilerplate_lines():
    for line in ("扫一扫下载界面新闻APP", "本站声明:网站内容来源于网络,如有侵权,请联系我们。", "分享", "收藏",
                 "文章链接:https://example.com/1.html", "更新时间:2023年07月27日", "正在阅读:", "128 阅读"):
        assert is_boilerplate(normalise(line)), line
    for line in PARAS:
        assert not is_boilerplate(normalise(line)), line


def test_repeated_article_kept_once(tmp_path):
    article = "\n".join(PARAS[1:])
    f = tmp_path / "twice.txt"
    f.write_text("扫一扫下载新闻APP\n" + article + "\n分享\n收藏\n" + article + "\n", encoding="utf-8")
    texts = _texts(ingest(f))
    assert texts == [tidy(p) for p in PARAS[1:]]


def test_near_duplicate_dropped(tmp_path):
    f = tmp_path / "near.txt"
    a = PARAS[1]
    b = a.replace("降低企业", "降低中小企业")  # a reworded copy
    f.write_text(a + "\n" + b + "\n" + PARAS[2], encoding="utf-8")
    assert len(ingest(f)) == 2


def test_long_paragraph_split_into_sentence_runs(tmp_path):
    sent = "支持建设城市级智能算力平台，向中小企业发放算力券，降低企业使用算力的成本，推动算力资源统筹调度。"
    long_par = "".join(f"第{i}条：" + sent for i in range(20))
    f = tmp_path / "long.txt"
    f.write_text(long_par, encoding="utf-8")
    texts = _texts(ingest(f))
    assert len(texts) > 1
    assert all(len(t) <= 500 for t in texts)
    assert all(t.endswith("。") for t in texts)  # whole sentences
    assert "".join(texts) == long_par


def test_short_fragments_dropped_headings_kept(tmp_path):
    f = tmp_path / "frag.txt"
    f.write_text("分享\n2023-05-19\n123\n各位代表：\n建设人工智能公共算力中心\n" + PARAS[1], encoding="utf-8")
    texts = _texts(ingest(f))
    assert texts == ["建设人工智能公共算力中心", PARAS[1]]


def test_tables_csv_jsonl_xlsx(tmp_path):
    rows = [{"id": f"u{i}", "doc_id": "d1" if i < 3 else "d2", "city": "北京市" if i < 3 else "",
             "text": p} for i, p in enumerate(PARAS[1:])]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False, encoding="gbk")
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    pd.DataFrame(rows).to_excel(tmp_path / "t.xlsx", index=False)
    for name in ("t.csv", "t.jsonl", "t.xlsx"):
        df = ingest(tmp_path / name)
        assert df["unit_id"].tolist() == [r["id"] for r in rows], name
        assert df["doc_id"].tolist() == [r["doc_id"] for r in rows], name
        assert df["city"].tolist()[:3] == ["北京"] * 3, name


def _bad_folder(tmp_path) -> Path:
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.txt").write_text("\n".join(PARAS), encoding="utf-8")
    (d / "empty.txt").write_bytes(b"")
    (d / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (d / "broken.docx").write_bytes(b"PK\x03\x04 this is not really a zip")
    (d / "truncated.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\n")
    (d / "huge.txt").write_text("人工智能" * 400_000, encoding="utf-8")
    (d / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (d / "notext.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (d / "fragments.txt").write_text("2023-05-19\n123\n各位代表:\n", encoding="utf-8")
    return d


def test_bad_input_manifest(tmp_path):
    d = _bad_folder(tmp_path)
    res = ingest_files([d], max_bytes=1_000_000)
    m = res.manifest.set_index(res.manifest["file"].map(lambda s: Path(s).name))
    assert len(m) == 9
    assert m.loc["good.txt", "status"] == "ok" and m.loc["good.txt", "units"] == len(PARAS)
    expect = {"empty.txt": "empty", "binary.txt": "binary", "broken.docx": "docx",
              "truncated.pdf": "PDF", "huge.txt": "too large", "photo.png": "unsupported",
              "notext.csv": "no text column", "fragments.txt": "no units"}
    for name, word in expect.items():
        assert m.loc[name, "status"] == "skipped", name
        assert word in m.loc[name, "reason"], (name, m.loc[name, "reason"])
        assert "\n" not in m.loc[name, "reason"]
    assert len(res.units) == len(PARAS)


def test_cli_ingest_bad_folder_exit0_and_manifest(tmp_path, capsys):
    from aipolicy.cli import main

    d = _bad_folder(tmp_path)
    out = tmp_path / "units.csv"
    assert main(["ingest", str(d), "-o", str(out), "--max-mb", "1", "-q"]) == 0
    df = pd.read_csv(out, encoding="utf-8-sig")
    assert len(df) == len(PARAS)
    man = pd.read_csv(str(out) + ".manifest.csv", encoding="utf-8-sig")
    assert set(man["status"]) == {"ok", "skipped"} and len(man) == 9
    assert "1 files read, 8 skipped" in capsys.readouterr().out


def test_cli_unreadable_explicit_input_exits_nonzero(tmp_path, capsys):
    from aipolicy.cli import main

    f = tmp_path / "empty.txt"
    f.write_bytes(b"")
    assert main(["ingest", str(f), "-o", str(tmp_path / "u.csv"), "-q"]) == 2
    assert main(["ingest", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "u.csv"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "no input file could be read" in err and "input not found" in err
    assert "Traceback" not in err


def test_cli_explicit_bad_file_beside_good_one(tmp_path, policy_txt, capsys):
    from aipolicy.cli import main

    bad = tmp_path / "broken.docx"
    bad.write_bytes(b"PK\x03\x04 not a docx")
    out = tmp_path / "u.csv"
    assert main(["ingest", str(policy_txt), str(bad), "-o", str(out), "-q"]) == 1
    assert out.exists() and len(pd.read_csv(out, encoding="utf-8-sig")) == len(PARAS)  # the rest is written
    err = capsys.readouterr().err
    assert f"{bad} could not be read: not a readable .docx" in err and "Traceback" not in err


@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".parquet"])
def test_outputs_round_trip(policy_txt, tmp_path, ext):
    from aipolicy.cli import main
    from aipolicy.tables import read_table

    out = tmp_path / f"u{ext}"
    assert main(["ingest", str(policy_txt), "-o", str(out), "-q"]) == 0
    back = read_table(out)
    assert back["text"].tolist() == [tidy(p) for p in PARAS]
    assert list(back.columns) == UNIT_COLUMNS


def test_decode_rejects_binary():
    with pytest.raises(SkipFile):
        decode_bytes(b"\x00\x01\x02abc")
