"""A tiny labelled corpus written for the tests: 6 documents, one short unit per line.

Each unit is paired with its labels (the categories it states); the texts are ours, not third-party.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

CATS = ["compute", "data", "algorithm", "scenario", "talent", "governance"]

DOCS = {
    "甲市.txt": [
        ("甲市人民政府关于加快人工智能产业发展的实施意见", []),
        ("建设城市级智能算力中心，面向企业发放算力券。", ["compute"]),
        ("推动公共数据开放共享，建设高质量中文语料库。", ["data"]),
        ("支持企业研发通用大模型，建设大模型评测平台。", ["algorithm"]),
        ("在医疗领域开展人工智能示范应用，发布场景清单。", ["scenario"]),
        ("引进人工智能领军人才，支持高校设立人工智能学院。", ["talent"]),
        ("建立人工智能伦理审查机制，完善算法监管规则。", ["governance"]),
        ("全市地区生产总值增长百分之六，财政收入稳步增长。", []),
    ],
    "乙市.txt": [
        ("乙市人民政府印发数字经济发展行动方案", []),
        ("新建超算中心一座，扩大智能算力规模，部署国产服务器。", ["compute"]),
        ("建设数据交易所，培育数据标注基地，促进数据要素流通。", ["data"]),
        ("攻关计算机视觉和自然语言处理关键算法，发展开源框架。", ["algorithm"]),
        ("推进智慧交通建设，开展自动驾驶道路测试和示范运营。", ["scenario"]),
        ("开展产业工人技能培训，建设人工智能实训基地。", ["talent"]),
        ("健全数据安全和个人信息保护制度，加强网络安全监管。", ["data", "governance"]),
        ("新建中小学三所，改造老旧小区两百个。", []),
    ],
    "丙市.txt": [
        ("丙市人民政府关于推动通用人工智能创新发展的若干措施", []),
        ("统筹算力调度平台建设，推进东数西算枢纽节点。", ["compute"]),
        ("完善公共数据授权运营，建设行业数据集。", ["data"]),
        ("支持大模型训练和推理技术创新，建设开源社区。", ["algorithm"]),
        ("推动人工智能赋能制造业，建设智能工厂和城市大脑。", ["scenario"]),
        ("设立人工智能人才专项，提供人才公寓和安居补贴。", ["talent"]),
        ("制定人工智能标准体系，开展安全检测和认证。", ["governance"]),
        ("加强生态环境保护，空气质量持续改善。", []),
    ],
    "丁市.txt": [
        ("丁市人民政府关于印发智能经济发展规划的通知", []),
        ("建设人工智能计算中心，推进芯片与服务器适配。", ["compute"]),
        ("开展数据确权和数据交易试点，推动数据跨境流通。", ["data"]),
        ("研发行业大模型和多模态模型，攻关深度学习框架。", ["algorithm"]),
        ("开放政务服务和教育领域应用场景，推广智能终端。", ["scenario"]),
        ("引进高层次人才团队，建设产教融合实训中心。", ["talent"]),
        ("落实包容审慎监管，设立人工智能监管沙盒。", ["governance"]),
        ("新增城镇就业两万人，城乡居民收入稳步提高。", []),
    ],
    "戊市.txt": [
        ("戊市人民政府关于支持人工智能与实体经济融合的政策", []),
        ("为中小企业提供算力补贴，建设边缘计算节点。", ["compute"]),
        ("建设公共数据资源平台，提升数据质量。", ["data"]),
        ("支持类脑智能和具身智能基础研究，建设算法开源平台。", ["algorithm"]),
        ("建设数字孪生城市，推进智慧医疗和智慧教育应用。", ["scenario"]),
        ("实施卓越工程师培养计划，吸引青年科技人才。", ["talent"]),
        ("加强知识产权保护，完善人工智能安全风险评估。", ["governance"]),
        ("推进乡村振兴，建设高标准农田十万亩。", []),
    ],
    "己市.txt": [
        ("己市人民政府关于建设人工智能创新应用先导区的方案", []),
        ("布局智算中心和超算中心，提升智能算力供给。", ["compute"]),
        ("培育数据要素市场，建设数据交易服务机构。", ["data"]),
        ("研发自然语言大模型，建设模型评测基准。", ["algorithm"]),
        ("开展人工智能+医疗、+交通示范应用，发布应用场景清单。", ["scenario"]),
        ("支持高校建设人工智能学科，培养复合型人才。", ["talent"]),
        ("建立人工智能伦理规范，加强个人信息保护。", ["data", "governance"]),
        ("文化旅游持续繁荣，接待游客一千万人次。", []),
    ],
}


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, units in DOCS.items():
        (folder / name).write_text("\n".join(t for t, _ in units) + "\n", encoding="utf-8")
    return folder


def write_gold(corpus: Path, path: Path, corpus_name: str = "fixture") -> pd.DataFrame:
    """Labels for every fixture unit, joined by text to the ids ingestion gives them."""
    from aipolicy.ingest import ingest  # not "from aipolicy import": the submodule may shadow the lazy name
    from aipolicy.ingest import normalise

    units = ingest(corpus)
    truth = {normalise(t): labs for doc in DOCS.values() for t, labs in doc}
    rows = []
    for u in units.itertuples():
        labs = truth[normalise(u.text)]
        rows.append({"unit_id": u.unit_id, "corpus": corpus_name, "source": u.source,
                     **{c: int(c in labs) for c in CATS}, "annotator": "test", "note": ""})
    gold = pd.DataFrame(rows)
    gold.to_csv(path, index=False)
    return gold


def write_categories(path: Path) -> Path:
    import shutil

    from aipolicy.config import DEFAULT_CATEGORIES

    shutil.copy(DEFAULT_CATEGORIES, path)
    return path


def write_config(tmp: Path, corpus: Path, gold: Path, categories: Path, models: Path, folds: int = 3) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(f"""corpora:
  fixture: {corpus}
labels: {gold}
categories: {categories}
models_dir: {models}
model:
  seed: 7
  min_df: 1
  calibration_cv: 2
evaluation:
  folds: {folds}
""", encoding="utf-8")
    return cfg


def fixture_matrix():
    """(texts, Y, groups) of DOCS: one row per unit, a 0/1 column per category, the document as group."""
    import numpy as np

    texts, Y, groups = [], [], []
    for g, (_name, units) in enumerate(DOCS.items()):
        for t, labs in units:
            texts.append(t)
            Y.append([int(c in labs) for c in CATS])
            groups.append(g)
    return texts, np.array(Y), np.array(groups)
