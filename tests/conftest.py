"""Shared fixtures. Every fixture text here is written for these tests (no third-party text)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Short policy-like paragraphs written for the tests.
PARAS = [
    "北京市人民政府关于推动人工智能产业发展的若干措施",
    "支持建设城市级智能算力平台，向中小企业发放算力券，降低企业使用算力的成本。",
    "推动公共数据分级分类开放，建设行业高质量中文语料库，培育数据交易市场。",
    "支持企业研发千亿参数通用大模型，建设大模型评测平台和开源社区。",
    "在医疗、交通领域开展人工智能示范应用，每年发布一批应用场景清单。",
    "引进人工智能领军人才和创新团队，支持高校设立人工智能学院。",
    "建立人工智能伦理审查机制，探索包容审慎的监管方式，完善标准体系。",
]


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory):
    """The tests' own cache folder (models' remembered hashes), never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIPOLICY_CACHE_DIR", str(tmp_path_factory.mktemp("aipolicy-cache")))
        yield


def shared_dir() -> Path | None:
    """../shared beside the repository (or $AIPOLICY_SHARED), if present."""
    env = os.environ.get("AIPOLICY_SHARED")
    p = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return p if (p / "corpus").is_dir() else None


@pytest.fixture
def shared():
    p = shared_dir()
    if p is None:
        pytest.skip("../shared (seeds and corpus) is not beside the repository; set AIPOLICY_SHARED")
    return p


@pytest.fixture
def policy_txt(tmp_path) -> Path:
    f = tmp_path / "beijing_policy.txt"
    f.write_text("\n\n".join(PARAS) + "\n", encoding="utf-8")
    return f


@pytest.fixture(scope="session")
def fixture_setup(tmp_path_factory):
    """The fixture corpus, its gold labels, categories and a training configuration."""
    from fixture_corpus import write_categories, write_config, write_corpus, write_gold

    tmp = tmp_path_factory.mktemp("fixture")
    corpus = write_corpus(tmp / "corpus")
    gold = tmp / "gold.csv"
    write_gold(corpus, gold)
    cats = write_categories(tmp / "categories.yaml")
    cfg = write_config(tmp, corpus, gold, cats, tmp / "models")
    return {"tmp": tmp, "corpus": corpus, "gold": gold, "categories": cats, "config": cfg,
            "models": tmp / "models"}


@pytest.fixture(scope="session")
def trained(fixture_setup):
    """A model trained on the fixture corpus: (folder, card)."""
    from aipolicy.config import load_training_config
    from aipolicy.train import train

    cfg = load_training_config(fixture_setup["config"])
    folder, card = train(cfg, name="fixture", agreement=None, log=lambda *a: None)
    return folder, card


@pytest.fixture
def inputs(tmp_path, fixture_setup):
    """A folder of the fixture corpus plus a broken docx and an empty file (batch and Dask runs)."""
    d = tmp_path / "in"
    d.mkdir()
    for f in sorted(fixture_setup["corpus"].iterdir()):
        (d / f.name).write_bytes(f.read_bytes())
    (d / "broken.docx").write_bytes(b"PK\x03\x04 not a docx")
    (d / "empty.txt").write_bytes(b"")
    return d
