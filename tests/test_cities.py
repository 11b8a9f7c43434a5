from __future__ import annotations

import pytest

from aipolicy import ingest
from aipolicy.cities import NATIONAL, Gazetteer


def _doc(tmp_path, name, paragraphs):
    f = tmp_path / name
    f.write_text("\n".join(paragraphs), encoding="utf-8")
    return ingest(f)


def test_normalise_city_names():
    g = Gazetteer.default()
    assert g.normalise("北京市") == "北京"
    assert g.normalise("广东省") == "广东"
    assert g.normalise("恩施土家族苗族自治州") == "恩施"
    assert g.normalise("National") == NATIONAL


def test_gazetteer_maps_zones_and_institutions():
    g = Gazetteer.default()
    places = {m.surface: m.place for m in g.mentions("海淀区中关村和智源研究院，两江新区，前海，横琴，南沙")}
    assert places["中关村"] == "北京" and places["两江新区"] == "重庆"
    assert places["前海"] == "深圳" and places["横琴"] == "珠海" and places["南沙"] == "广州"
    assert any(p == "北京" for s, p in places.items() if s.startswith("智源"))


def test_ambiguous_bare_name_needs_suffix():
    g = Gazetteer.default()
    assert not [m for m in g.mentions("确保社会长治久安") if m.place == "长治"]
    assert [m.place for m in g.mentions("长治市人民政府")][:1] == ["长治"]


def test_issuer_gives_every_unit_the_city(tmp_path):
    df = _doc(tmp_path, "doc.txt", [
        "北京市人民政府关于加快人工智能发展的通知",
        "支持建设城市级智能算力平台，向中小企业发放算力券。",
        "学习借鉴上海、深圳等地的经验，完善产业政策。",
    ])
    assert set(df["city"]) == {"北京"}
    assert df["city_evidence"].iloc[0].startswith("document (issuer: 北京市人民政府")


def test_stripped_city_name_inferred_from_context(tmp_path):
    # the city's name was removed from this text; zones, institutions and 来京 still point to Beijing
    df = _doc(tmp_path, "stripped.txt", [
        "市放出大招，连续发布三个支持人工智能发展的文件。",
        "用足用好中关村先行先试改革措施，吸引顶尖人才来京交流合作。",
        "智源研究院提出建设大模型开源生态，中关村企业积极参与。",
        "业内人士认为，政策将带动算力和数据产业快速发展。",
    ])
    assert set(df["city"]) == {"北京"}
    assert "中关村" in df["city_evidence"].iloc[0]


def test_commentary_gives_each_paragraph_its_place(tmp_path):
    df = _doc(tmp_path, "commentary.txt", [
        "人工智能政策竞赛：各地纷纷出台新政，抢占发展先机。",
        "美国发布人工智能行政令，要求对大模型开展安全测试。",
        "欧盟通过人工智能法案，按风险等级实施分类监管。",
        "深圳提出打造人工智能先锋城市，深圳将设立专项基金。",
        "上海聚焦大模型创新，建设上海人工智能实验室。",
        "国务院印发规划，提出到2030年人工智能理论技术与应用达到世界领先水平。",
        "总体来看，一线城市比拼算力，二线城市竞争应用。",
    ])
    cities = df.set_index("position")["city"].tolist()
    assert cities[1] == "美国" and cities[2] == "欧盟" and cities[3] == "深圳" and cities[4] == "上海"
    assert cities[6] == NATIONAL  # no place named: falls back to the document (several places: national)
    assert cities[5] == NATIONAL
    assert df["city_evidence"].iloc[3].startswith("unit: 深圳")


def test_provincial_document_unit_naming_a_city(tmp_path):
    df = _doc(tmp_path, "gd.txt", [
        "广东省人民政府印发关于加快建设通用人工智能产业创新引领地的实施意见。",
        "支持深圳建设国家人工智能先导区，打造大模型产业集聚区。",
        "构建全省一体化算力网络，建设智能算力枢纽中心。",
    ])
    assert df["city"].tolist() == ["广东", "深圳", "广东"]


def test_file_name_names_the_city(tmp_path):
    df = _doc(tmp_path, "安顺.txt", ["我代表市人民政府向大会报告工作，请予审议。",
                                   "推进大数据中心建设，发展算力产业。"])
    assert set(df["city"]) == {"安顺"}
    assert df["city_evidence"].iloc[0] == "document (file name: 安顺.txt)"


def test_seed_documents(shared):
    df = ingest(shared / "seeds")
    by_doc = {s: g for s, g in df.groupby("source")}
    top = {s: g["city"].value_counts().index[0] for s, g in by_doc.items()}
    assert top["000_69605e715a0f7e7e.txt"] == "北京"
    assert top["001_fa7179139e29cf41.txt"] == "重庆"
    assert top["002_c2c7bd8a1a09d68f.txt"] == "北京"  # name stripped, inferred from 中关村/智源/来京
    assert top["003_eb9fc48e1d17277a.txt"] == "广东"
    c004 = set(by_doc["004_4696a65150befa57.txt"]["city"])
    assert {NATIONAL, "美国", "欧盟", "北京", "杭州"} <= c004


def test_corpus_cities_match_file_names(shared):
    df = ingest(shared / "corpus" / "city-reports-2024")
    top = df.groupby("source")["city"].agg(lambda s: s.value_counts().index[0])
    wrong = {src: c for src, c in top.items() if src[:-4] != c and not (src == "吉林.txt" and c == "吉林市")}
    assert not wrong
    assert df["source"].nunique() == 103
