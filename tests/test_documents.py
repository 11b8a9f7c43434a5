"""The documents table, duplicate files, near-duplicate documents, issuer-less reports, sidecar metadata,
and the CLI's exit 2 that writes nothing."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from aipolicy.cli import main
from aipolicy.metadata import DOCUMENT_COLUMNS

from conftest import PARAS

FIXTURES = Path(__file__).parent / "fixtures" / "metadata"

REPORT = """政府工作报告
——2024年1月16日在亳州市第五届人民代表大会第三次会议上
各位代表：
　　一、2023年工作回顾
　　过去一年，我们与北京中关村合作共建人工智能创新中心，对接长三角算力枢纽，引进上海企业12家。
　　深化与江苏、浙江的产业协作，承接产业转移项目30个，新增规模以上工业企业80家。
　　二、2024年工作安排
　　加快建设智能算力中心，推动中药材产业数字化转型，打造现代中药产业集群。
"""


def _read(out: Path, suffix: str) -> pd.DataFrame:
    return pd.read_csv(str(out) + suffix, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def test_documents_table_written_and_joinable(tmp_path):
    out = tmp_path / "units.csv"
    assert main(["ingest", str(FIXTURES / "gbt_notice_jiaxing.txt"), str(FIXTURES / "web_table_hangzhou.txt"),
                 "-o", str(out), "-q"]) == 0
    docs = _read(out, ".documents.csv")
    units = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(docs.columns) == DOCUMENT_COLUMNS
    assert set(units["doc_id"]) == set(docs["doc_id"])
    row = docs.set_index("file").loc["gbt_notice_jiaxing.txt"]
    assert (row["title"], row["issuer"], row["date"], row["year"], row["doc_number"], row["doc_type"], row["place"]) == \
        ("嘉兴市加快人工智能产业发展行动计划（2025—2027年）", "嘉兴市人民政府办公室", "2025-06-12", "2025",
         "嘉政办发〔2025〕18号", "行动计划", "嘉兴")
    assert "，" in "".join(units["text"])  # full-width punctuation kept in the output


def test_issuerless_report_units_stay_on_its_city(tmp_path):
    f = tmp_path / "report_017.txt"  # a neutral file name, no "我代表…" line
    f.write_text(REPORT, encoding="utf-8")
    out = tmp_path / "u.csv"
    assert main(["ingest", str(f), "-o", str(out), "-q"]) == 0
    units = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert set(units["city"]) == {"亳州"}  # partners named (北京, 长三角, 上海, 江苏) do not take the units
    assert _read(out, ".documents.csv")["issuer"].tolist() == ["亳州市人民政府"]


def test_duplicate_files_read_once_and_near_duplicates_flagged(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    article = "\n".join(PARAS[1:])
    (d / "a.txt").write_text("某网站\n" + article, encoding="utf-8")
    (d / "b.txt").write_bytes((d / "a.txt").read_bytes())  # byte-identical
    (d / "c.txt").write_text("另一家网站转载\n" + article.replace("完善标准体系", "健全标准体系") + "\n责任编辑：某某",
                             encoding="utf-8")
    out = tmp_path / "u.csv"
    assert main(["ingest", str(d), str(d / "a.txt"), "-o", str(out), "-q"]) == 0
    man = _read(out, ".manifest.csv")
    assert man["status"].tolist() == ["ok", "duplicate", "ok", "duplicate"]  # a, b, c in the folder, then a again
    assert man["reason"].iloc[1].startswith("identical to") and man["reason"].iloc[3].startswith("same file as")
    units = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert not units["unit_id"].duplicated().any()
    docs = _read(out, ".documents.csv").set_index("file")
    assert docs.loc["c.txt", "near_duplicate_of"] == docs.loc["a.txt", "doc_id"]
    assert docs.loc["a.txt", "near_duplicate_of"] == ""


def test_sidecar_metadata(tmp_path):
    f = tmp_path / "plan.txt"
    f.write_text("\n".join(PARAS[1:]), encoding="utf-8")
    side = tmp_path / "index.csv"
    side.write_text("file,title,issuer,place,date,doc_number,kind\nplan.txt,某市算力行动计划,苏州市人民政府,苏州,"
                    "2024-12,苏府〔2024〕1号,行动计划\n", encoding="utf-8")
    out = tmp_path / "u.csv"
    assert main(["ingest", str(f), "--metadata", str(side), "-o", str(out), "-q"]) == 0
    doc = _read(out, ".documents.csv").iloc[0]
    assert (doc["title"], doc["issuer"], doc["date"], doc["year"], doc["doc_type"], doc["place"]) == \
        ("某市算力行动计划", "苏州市人民政府", "2024-12", "2024", "行动计划", "苏州")
    assert set(pd.read_csv(out, encoding="utf-8-sig")["city"]) == {"苏州"}


def test_exit_2_writes_nothing_and_exclude_adds(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    (d / "README.txt").write_text("\n".join(PARAS), encoding="utf-8")
    (d / "draft.txt").write_text("\n".join(PARAS), encoding="utf-8")
    out = tmp_path / "out" / "u.csv"
    assert main(["ingest", str(d), "--exclude", "draft*", "-o", str(out), "-q"]) == 2
    assert not out.exists() and not Path(str(out) + ".manifest.csv").exists()
    assert not Path(str(out) + ".documents.csv").exists()
    assert "could be read" in capsys.readouterr().err
    assert main(["ingest", str(d), "--no-default-excludes", "--exclude", "draft*", "-o", str(out), "-q"]) == 0
    assert pd.read_csv(out, encoding="utf-8-sig")["source"].unique().tolist() == ["README.txt"]


def test_label_writes_documents_reads_duplicates_once_and_nothing_on_exit_2(tmp_path, trained):
    from aipolicy.batch import label_files
    from aipolicy.errors import AipolicyError

    d = tmp_path / "in"
    d.mkdir()
    (d / "a.txt").write_text("\n".join(PARAS), encoding="utf-8")
    (d / "b.txt").write_bytes((d / "a.txt").read_bytes())
    (d / "c.txt").write_text("\n".join(PARAS[1:]) + "\n责任编辑：某某", encoding="utf-8")
    out = tmp_path / "labels.csv"
    run = label_files([d], out, model=str(trained[0]), jobs=2)
    assert run.manifest["status"].tolist() == ["ok", "duplicate", "ok"]
    docs = _read(out, ".documents.csv").set_index("file")
    assert docs.loc["c.txt", "near_duplicate_of"] == docs.loc["a.txt", "doc_id"]
    assert docs.loc["a.txt", "title"] == PARAS[0] and docs.loc["a.txt", "place"] == "北京"
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "README.md").write_text("说明文件，不是政策文本。", encoding="utf-8")
    never = tmp_path / "never" / "labels.csv"
    with pytest.raises(AipolicyError, match="no input file could be labelled"):
        label_files([empty], never, model=str(trained[0]))
    assert not never.parent.exists()
