from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aipolicy.report import build_report, write_report
from aipolicy.topics import fit_topics, save_topics

THEMES = {
    "compute": "算力 芯片 服务器 智算中心 超算 机架 算力券 调度 云计算 集群".split(),
    "talent": "人才 高校 培训 学院 专家 院士 工程师 团队 公寓 技能".split(),
    "farm": "粮食 农田 灌溉 种植 乡村 农机 水稻 果园 养殖 合作社".split(),
}


def _units(n_per_city=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    cities = {"甲": ["compute"] * 3 + ["talent"], "乙": ["talent"] * 3 + ["farm"], "丙": ["farm"] * 4}
    i = 0
    for city, mix in cities.items():
        for k in range(n_per_city):
            theme = mix[k % len(mix)]
            words = rng.choice(THEMES[theme], size=8)
            text = "，".join(words) + "。"
            labs = {"compute": "compute", "talent": "talent", "farm": ""}[theme]
            rows.append({"unit_id": f"u{i}", "doc_id": f"{city}-doc", "source": f"{city}.txt", "position": k,
                         "city": city, "city_evidence": "test", "text": text,
                         **{f"p_{c}": (0.9 if labs == c else 0.05) for c in ["compute", "talent"]},
                         "labels": labs, "evidence": ""})
            i += 1
    return pd.DataFrame(rows)


def test_topic_count_chosen_by_coherence_and_saved(tmp_path):
    units = _units()
    units["compute"] = (units["labels"] == "compute").astype(int)
    units["talent"] = (units["labels"] == "talent").astype(int)
    res = fit_topics(units, ks=range(2, 6), passes=5, no_below=2, categories=["compute", "talent"], seed=1)
    curve = res.coherence
    assert curve["k"].tolist() == [2, 3, 4, 5]
    assert res.k == int(curve.loc[curve["coherence"].idxmax(), "k"])
    assert set(res.city_topics["city"]) == {"甲", "乙", "丙"}
    shares = res.city_topics.groupby("city")["share"].sum()
    assert np.allclose(shares, 1.0, atol=0.02)
    assert res.topics["name"].str.startswith("T").all()
    assert set(res.topics["leans_to"]) <= {"compute", "talent", "none"}
    out = save_topics(res, tmp_path / "t", units=units)
    for f in ("coherence.csv", "topic_terms.csv", "topics.csv", "city_topics.csv", "unit_topics.csv",
              "lda/lda.model", "lda/dictionary.dict"):
        assert (out / f).exists(), f
    again = fit_topics(units, ks=range(2, 6), passes=5, no_below=2, categories=["compute", "talent"], seed=1)
    pd.testing.assert_frame_equal(res.terms, again.terms)  # fixed seed: same topics


def test_report_contains_every_table_and_chart(tmp_path):
    units = _units()
    units = units[~((units["city"] == "丙") & (units["position"] >= 10))]  # 丙: a small place
    res = fit_topics(units, ks=range(2, 4), passes=3, no_below=2)
    rep = build_report(units, ["compute", "talent"], min_units=20, topics=res, n_boot=200,
                       model_card={"name": "test-model", "version": "9", "artifact": {"sha256": "ab" * 32}})
    out = write_report(rep, tmp_path / "rep")
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    for anchor in ('id="run-header"', 'id="overall-shares"', 'id="chart-heatmap"', 'id="chart-coherence"',
                   'id="topic-table"', 'id="city-甲"', 'id="city-乙"', 'id="small"'):
        assert anchor in html, anchor
    assert html.count("<svg") == 2 and "test-model" in html and "abababababababab" in html
    assert "@font-face" in html and "base64," in html  # self-contained: the CJK font travels along
    assert 'id="city-丙"' not in html and "丙" in html.split('id="small"')[1]
    for t in ("city_category_shares.csv", "city_distinctive.csv", "city_topics.csv", "examples.csv"):
        assert (out / "tables" / t).exists() and f"tables/{t}" in html and f"tables/{t}" in md
    assert "![city × category shares](figures/heatmap.svg)" in md
    assert (out / "figures" / "heatmap.svg").exists() and (out / "figures" / "coherence.svg").exists()
    sh = pd.read_csv(out / "tables" / "city_category_shares.csv", encoding="utf-8-sig")
    assert list(sh.columns) == ["city", "category", "n_units", "n_city_units", "share", "ci_low", "ci_high"]
    heat = (out / "figures" / "heatmap.svg").read_text(encoding="utf-8")
    assert "<text" not in heat  # glyphs drawn as paths: Chinese renders without any font installed


def test_no_text_report_quotes_nothing(tmp_path):
    units = _units()
    rep = build_report(units, ["compute", "talent"], min_units=10, with_text=False, topics=None, n_boot=100)
    out = write_report(rep, tmp_path / "rep")
    blob = (out / "report.html").read_text(encoding="utf-8") + (out / "report.md").read_text(encoding="utf-8")
    blob += (out / "tables" / "examples.csv").read_text(encoding="utf-8-sig")
    assert not any(t in blob for t in units["text"])
    assert "u0" in blob or "u1" in blob  # ids are shown instead
    assert "text" not in pd.read_parquet(out / "tables" / "labelled_units.parquet").columns


def test_report_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    units = _units()
    outs = []
    for name in ("a", "b"):
        res = fit_topics(units, ks=range(2, 4), passes=3, no_below=2, seed=3)
        rep = build_report(units, ["compute", "talent"], min_units=10, topics=res, n_boot=100, seed=3)
        outs.append(write_report(rep, tmp_path / name))
    for f in ("report.html", "report.md", "tables/city_category_shares.csv", "tables/city_distinctive.csv",
              "figures/heatmap.svg"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f


def test_ldavis_page(tmp_path):
    pytest.importorskip("pyLDAvis", reason="pyLDAvis is an optional extra: pip install 'aipolicy[ldavis]'")
    from aipolicy.topics import write_ldavis

    res = fit_topics(_units(), ks=[3], passes=3, no_below=2)
    page = write_ldavis(res, tmp_path / "ldavis.html")
    html = page.read_text(encoding="utf-8")
    assert "ldavis" in html.lower()
    assert "算力" in html or "\\u7b97\\u529b" in html  # the topic terms are in the page's data


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_report_screenshot_in_headless_browser(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium) — the screenshot check needs a browser")
    units = _units()
    rep = build_report(units, ["compute", "talent"], min_units=10, topics=None, n_boot=100)
    out = write_report(rep, tmp_path / "rep")
    png = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600", f"--screenshot={png}",
           (out / "report.html").as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    from matplotlib import image

    img = image.imread(str(png))
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    assert img[..., :3].std() > 0.05  # not a blank page: text, tables and the chart were drawn


def test_cli_report_and_topics_route(fixture_setup, trained, tmp_path, capsys):
    from aipolicy.cli import main

    corpus, model = str(fixture_setup["corpus"]), str(trained[0])
    out = tmp_path / "rep"
    assert main(["report", corpus, "-o", str(out), "--model", model, "--no-topics", "--min-units", "5",
                 "--bootstrap", "100", "-q", "-j", "1"]) == 0
    assert (out / "report.html").exists() and (out / "manifest.csv").exists()
    labelled = out / "tables" / "labelled_units.parquet"
    # a labelled table given as the only input is used as it is (no relabelling)
    again = tmp_path / "rep2"
    assert main(["report", str(labelled), "-o", str(again), "--no-topics", "--min-units", "5", "-q"]) == 0
    a = pd.read_csv(out / "tables" / "city_category_shares.csv", encoding="utf-8-sig")
    b = pd.read_csv(again / "tables" / "city_category_shares.csv", encoding="utf-8-sig")
    pd.testing.assert_frame_equal(a[["city", "category", "n_units", "share"]], b[["city", "category", "n_units", "share"]])
    t = tmp_path / "topics"
    assert main(["topics", corpus, "-o", str(t), "--model", model, "--k", "2-3:1", "-q", "-j", "1"]) == 2
    assert "too little text for topics" in capsys.readouterr().err  # 48 short units: a clear refusal
    table = tmp_path / "paragraphs.csv"
    _units()[["unit_id", "city", "text"]].rename(columns={"unit_id": "id"}).to_csv(table, index=False)
    assert main(["topics", str(table), "-o", str(t), "--model", model, "--k", "2-3:1", "--passes", "2", "-q",
                 "-j", "1"]) == 0
    assert (t / "coherence.csv").exists() and (t / "city_topics.csv").exists()
    assert main(["topics", corpus, "-o", str(t), "--k", "9-3"]) == 2
    assert "--k takes" in capsys.readouterr().err
