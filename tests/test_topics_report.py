from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aipolicy.errors import AipolicyError
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


def _cats(units):
    units = units.copy()
    units["compute"] = (units["labels"] == "compute").astype(int)
    units["talent"] = (units["labels"] == "talent").astype(int)
    return units


def test_topic_count_chosen_by_coherence_and_saved(tmp_path):
    units = _cats(_units())
    res = fit_topics(units, ks=range(2, 6), iterations=50, no_below=2, categories=["compute", "talent"], seed=1)
    curve = res.coherence
    assert curve["k"].tolist()[:4] == [2, 3, 4, 5]
    best = curve.loc[curve["coherence"].idxmax(), "k"]
    assert res.k == int(best) == int(curve.loc[curve["chosen"], "k"].iloc[0])
    assert set(res.city_topics["city"]) == {"甲", "乙", "丙"}
    shares = res.city_topics.groupby("city")["share"].sum()
    assert np.allclose(shares, 1.0, atol=0.02)
    assert res.topics["name"].str.startswith("T").all()
    assert set(res.topics["leans_to"]) <= {"compute", "talent", "none"}
    out = save_topics(res, tmp_path / "t", units=units)
    for f in ("coherence.csv", "topic_terms.csv", "topics.csv", "city_topics.csv", "unit_topics.csv",
              "lda/group0.bin"):
        assert (out / f).exists(), f
    again = fit_topics(units, ks=range(2, 6), iterations=50, no_below=2, categories=["compute", "talent"], seed=1)
    pd.testing.assert_frame_equal(res.terms, again.terms)  # fixed seed: same topics


def test_k_range_is_widened_while_the_best_k_is_at_its_edge():
    units = _units()
    res = fit_topics(units, ks=[2], iterations=50, no_below=2, seed=1)
    ks = res.coherence["k"].tolist()
    assert ks[0] == 2 and len(ks) >= 2  # 2 alone is both edges: the range grew upwards
    scores = res.coherence.set_index("k")["coherence"]
    assert res.k == int(scores.idxmax())
    assert res.k < max(ks) or max(ks) == len(units) // 5  # stopped because a larger K was worse, or at the cap


def test_npmi_matches_gensim_with_a_window_covering_the_unit():
    from gensim.corpora import Dictionary
    from gensim.models import CoherenceModel

    from aipolicy.topics import coherence_scores, incidence

    texts = [["算力", "芯片", "服务器"], ["算力", "芯片"], ["人才", "高校"], ["人才", "高校", "芯片"],
             ["服务器", "人才"], ["算力", "服务器", "芯片", "高校"]] * 3
    vocab = sorted({w for t in texts for w in t})
    index = {w: i for i, w in enumerate(vocab)}
    topics = [["算力", "芯片", "服务器"], ["人才", "高校", "芯片"]]
    ours = coherence_scores([[[index[w] for w in t] for t in topics]],
                            incidence([[index[w] for w in t] for t in texts], len(vocab)))[0]
    d = Dictionary(texts)
    ref = CoherenceModel(topics=topics, texts=texts, dictionary=d, coherence="c_npmi", window_size=50,
                         processes=1).get_coherence()
    assert ours == pytest.approx(ref, abs=1e-6)


def test_topic_units_and_groups():
    from aipolicy.topics import POOLED, select_topic_units, topic_groups

    units = _cats(_units())
    assert set(select_topic_units(units, ["compute", "talent"])["labels"]) == {"compute", "talent"}
    assert len(select_topic_units(units, ["compute", "talent"], "all")) == len(units)
    assert set(select_topic_units(units, ["compute", "talent"], "talent")["labels"]) == {"talent"}
    with pytest.raises(AipolicyError, match="topic units"):
        select_topic_units(units, ["compute", "talent"], "farm")
    types = pd.Series(["规划"] * 50 + ["条例"] * 30 + ["通知"] * 5 + [None] * 3)
    g = topic_groups(types, min_units=20)
    assert g[:50].eq("规划").all() and g[50:80].eq("条例").all() and g[80:].eq(POOLED).all()
    assert topic_groups(types, min_units=1000).eq("all").all()  # nothing big enough: one model


def test_topics_per_group_have_their_own_models():
    units = _cats(_units(n_per_city=60))
    groups = pd.Series(np.where(units["city"] == "甲", "规划", "工作报告"))
    res = fit_topics(units, ks=[2, 3], iterations=50, no_below=2, groups=groups, categories=["compute", "talent"])
    assert set(res.topics["group"]) == {"工作报告", "规划"} and len(res.fits) == 2
    assert res.doc_topics.shape == (len(units), res.k)
    # a unit only has weight on the topics of its own group
    bing = res.topics.loc[res.topics["group"] == "工作报告", "topic"].to_numpy()
    assert np.allclose(res.doc_topics[(units["city"] != "甲").to_numpy()][:, bing].sum(axis=1), 1.0, atol=1e-6)


def _documents(units):
    docs = units[["doc_id", "source"]].drop_duplicates("doc_id")
    meta = {"甲-doc": ("甲市人工智能行动计划", "甲市人民政府", "2024-03", "甲政发〔2024〕1号", "行动计划"),
            "乙-doc": ("乙市人才政策", "乙市人社局", "2025-01-02", "", "措施"),
            "丙-doc": ("丙市农业意见", "丙市农业局", "", "", "意见")}
    return pd.DataFrame([{"doc_id": d, "file": s, "title": meta[d][0], "issuer": meta[d][1], "date": meta[d][2],
                          "year": meta[d][2][:4], "doc_number": meta[d][3], "doc_type": meta[d][4], "place": "",
                          "near_duplicate_of": ""} for d, s in zip(docs["doc_id"], docs["source"])])


def _hrefs(html):
    import re

    return re.findall(r'(?:href|src)="([^"]*)"', html)


def test_report_contains_every_section_table_and_chart(tmp_path):
    units = _units()
    units = units[~((units["city"] == "丙") & (units["position"] >= 10))]  # 丙: a small place
    res = fit_topics(_cats(units), ks=range(2, 4), iterations=30, no_below=2)
    rep = build_report(units, ["compute", "talent"], documents=_documents(units), min_units=20, topics=res,
                       n_boot=200, model_card={"name": "test-model", "version": "9", "artifact": {"sha256": "ab" * 32}})
    out = write_report(rep, tmp_path / "rep")
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    for anchor in ('id="run-header"', 'id="toc"', 'id="overall-shares"', 'id="heat"', 'id="chart-coherence"',
                   'id="topic-table"', 'id="city-甲"', 'id="city-乙"', 'id="small"', 'id="time"', 'id="search"'):
        assert anchor in html, anchor
    assert "test-model" in html and "abababababababab" in html
    assert "@font-face" in html and "base64," in html  # self-contained: the CJK font travels along
    assert 'id="city-丙"' not in html and "丙" in html.split('id="small"')[1]
    for t in ("city_category_shares.csv", "city_distinctive.csv", "city_topics.csv", "examples.csv",
              "documents.csv", "year_category_shares.csv", "city_terms.csv"):
        assert (out / "tables" / t).exists() and f"tables/{t}" in html and f"tables/{t}" in md
    # documents of a place: title, issuer, date and document number in its section
    jia = html.split('id="city-甲"')[1].split("</details>")[0]
    assert "甲市人工智能行动计划" in jia and "甲市人民政府" in jia and "2024-03" in jia and "甲政发〔2024〕1号" in jia
    # time: one row per year with dates, over all places
    years = pd.read_csv(out / "tables" / "year_category_shares.csv", encoding="utf-8-sig")
    assert set(years.loc[years["group"] == "(all)", "year"]) == {2024, 2025}
    # emphasis table: log-odds with a bootstrap interval and a significance mark
    dist = pd.read_csv(out / "tables" / "city_distinctive.csv", encoding="utf-8-sig")
    assert {"log_odds", "z", "ci_low", "ci_high", "province", "tier"} <= set(dist.columns)
    row = dist[(dist["city"] == "甲") & (dist["category"] == "compute")].iloc[0]
    assert row["z"] > 1.96 and row["ci_low"] <= row["log_odds"] <= row["ci_high"] and row["ci_low"] > 0
    assert (out / "figures" / "emphasis.svg").exists() and "![emphasis by place](figures/emphasis.svg)" in md
    assert "<text" not in (out / "figures" / "emphasis.svg").read_text(encoding="utf-8")  # glyphs as paths
    sh = pd.read_csv(out / "tables" / "city_category_shares.csv", encoding="utf-8-sig")
    assert list(sh.columns) == ["city", "category", "n_units", "n_city_units", "share", "ci_low", "ci_high"]


def test_html_navigation_is_offline_and_every_anchor_resolves(tmp_path):
    import re

    units = _units()
    res = fit_topics(_cats(units), ks=[2, 3], iterations=30, no_below=2)
    rep = build_report(units, ["compute", "talent"], documents=_documents(units), min_units=10, topics=res, n_boot=50)
    html = (write_report(rep, tmp_path / "rep") / "report.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', html))
    links = _hrefs(html)
    assert links
    for link in links:
        assert not re.match(r"^(https?:)?//", link), link  # no network requests from the page
        if link.startswith("#"):
            assert link[1:] in ids, link
        else:
            assert (tmp_path / "rep" / link).exists(), link
    assert not re.search(r"url\((?!data:|#)", html)  # CSS loads nothing from outside either
    assert "<script>" in html and "getElementById('search')" in html and "'groupby'" in html
    assert html.count('<details class="city"') == 3  # per-place detail is collapsible


def test_no_topics_report_has_no_topic_links(tmp_path):
    units = _units()
    out = tmp_path / "rep"
    res = fit_topics(_cats(units), ks=[2], iterations=20, no_below=2)
    write_report(build_report(units, ["compute", "talent"], min_units=10, topics=res, n_boot=20), out)
    assert (out / "tables" / "topics.csv").exists()
    write_report(build_report(units, ["compute", "talent"], min_units=10, topics=None, n_boot=20), out)
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "topic" not in html.lower().replace("aipolicy", "") or 'href="#topics"' not in html
    assert 'href="#topics"' not in html and "topics.csv" not in html and "coherence" not in md
    assert not (out / "tables" / "topics.csv").exists() and not (out / "figures" / "coherence.svg").exists()
    assert not (out / "report.html").read_text(encoding="utf-8").count("#time")  # no documents: no time section
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(AipolicyError, match="not a report folder"):
        write_report(build_report(units, ["compute", "talent"], min_units=10, n_boot=20), foreign)
    assert (foreign / "notes.txt").exists()


def test_examples_show_each_unit_once_with_evidence_and_respect_the_quote_mask(tmp_path):
    units = _units()
    units["labels"] = np.where(units["city"] == "甲", "compute;talent", units["labels"])
    units["p_talent"] = np.where(units["city"] == "甲", 0.8, units["p_talent"])
    units["evidence"] = "算力;人才"
    quote = units["city"] != "乙"
    rep = build_report(units, ["compute", "talent"], min_units=10, n_boot=20, quote=quote)
    ex = rep.examples
    assert not ex.duplicated(["city", "unit_id"]).any()
    assert set(ex.loc[ex["city"] == "甲", "category"]) == {"compute", "talent"}
    assert (ex.loc[ex["city"] == "乙", "text"] == "").all() and (ex.loc[ex["city"] == "甲", "text"] != "").all()
    out = write_report(rep, tmp_path / "rep")
    html = (out / "report.html").read_text(encoding="utf-8")
    yi_texts = units.loc[units["city"] == "乙", "text"]
    assert not any(t in html for t in yi_texts) and "evidence: 算力;人才" in html
    # nor the title of a document none of whose units may be quoted (a headline is third-party text too)
    rep = build_report(units, ["compute", "talent"], documents=_documents(units), min_units=10, n_boot=20,
                       quote=quote)
    html = (write_report(rep, tmp_path / "rep") / "report.html").read_text(encoding="utf-8")
    assert "甲市人工智能行动计划" in html and "乙市人才政策" not in html
    assert "乙市人才政策" not in (tmp_path / "rep" / "tables" / "documents.csv").read_text(encoding="utf-8-sig")
    lab = pd.read_parquet(out / "tables" / "labelled_units.parquet")
    assert (lab.loc[lab["city"] == "乙", "text"] == "").all()


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
        res = fit_topics(_cats(units), ks=range(2, 4), iterations=30, no_below=2, seed=3)
        rep = build_report(units, ["compute", "talent"], documents=_documents(units), min_units=10, topics=res,
                           n_boot=100, seed=3)
        outs.append(write_report(rep, tmp_path / name))
    for f in ("report.html", "report.md", "tables/city_category_shares.csv", "tables/city_distinctive.csv",
              "tables/topics.csv", "figures/emphasis.svg", "figures/coherence.svg", "figures/years.svg"):
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f


def test_ldavis_page(tmp_path):
    pytest.importorskip("pyLDAvis", reason="pyLDAvis is an optional extra: pip install 'aipolicy[ldavis]'")
    from aipolicy.topics import write_ldavis

    res = fit_topics(_units(), ks=[3], iterations=30, no_below=2)
    page = write_ldavis(res, tmp_path / "ldavis.html")
    html = page.read_text(encoding="utf-8")
    assert "ldavis" in html.lower()
    assert "算力" in html or "\\u7b97\\u529b" in html  # the topic terms are in the page's data


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _browser_cmd(browser, tmp_path):
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]


BROWSER_SERVICES = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com", "chromium.org")


def _load(browser, tmp_path, url):
    """(DOM after scripts ran, http(s) requests in the browser's network log other than its own services)."""
    import re
    from urllib.parse import urlparse

    netlog = tmp_path / f"net{len(list(tmp_path.glob('net*.json')))}.json"
    dom = subprocess.run(_browser_cmd(browser, tmp_path) + [f"--log-net-log={netlog}", "--dump-dom", url],
                         check=True, capture_output=True, timeout=120, text=True).stdout
    urls = sorted(set(re.findall(r'"url":"([^"]+)"', netlog.read_text(encoding="utf-8", errors="replace"))))
    ext = [u for u in urls if u.startswith(("http:", "https:", "ws:", "wss:"))]
    return dom, [u for u in ext if not (urlparse(u).hostname or "").endswith(BROWSER_SERVICES)]


def test_report_in_headless_browser(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (apt-get install chromium) — the screenshot check needs a browser")
    units = _units()
    res = fit_topics(_cats(units), ks=[2, 3], iterations=30, no_below=2)
    rep = build_report(units, ["compute", "talent"], documents=_documents(units), min_units=10, topics=res, n_boot=100)
    page = (write_report(rep, tmp_path / "rep") / "report.html").as_uri()
    png = tmp_path / "shot.png"
    subprocess.run(_browser_cmd(browser, tmp_path) + ["--window-size=1200,1600", f"--screenshot={png}", page],
                   check=True, capture_output=True, timeout=120)
    from matplotlib import image

    img = image.imread(str(png))
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    assert img[..., :3].std() > 0.05  # not a blank page: text, tables and the chart were drawn
    # the page's script ran: the filter counted the places and opening #city-乙 opened its section;
    # the browser's network log of that load has no request other than the file itself
    dom, requests = _load(browser, tmp_path, page + "#city-乙")
    assert not requests, requests
    control = tmp_path / "control.html"  # the check sees a page's request when there is one
    control.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>', encoding="utf-8")
    assert _load(browser, tmp_path, control.as_uri())[1] == ["http://example.invalid/x.png"]
    assert "3 of 3 places" in dom
    assert '<details class="city" id="city-乙"' in dom and 'id="city-乙" data-city="乙" data-province' in dom
    assert dom.split('id="city-乙"')[1].split(">")[0].rstrip().endswith("open=\"\"")


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
    assert main(["topics", str(table), "-o", str(t), "--model", model, "--k", "2-3:1", "--iterations", "20",
                 "--topic-units", "all", "-q", "-j", "1"]) == 0
    assert (t / "coherence.csv").exists() and (t / "city_topics.csv").exists()
    assert main(["topics", corpus, "-o", str(t), "--k", "9-3"]) == 2
    assert "--k takes" in capsys.readouterr().err


def test_report_that_fails_writes_nothing(tmp_path, capsys):
    from aipolicy.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "broken.docx").write_bytes(b"not a docx")
    out = tmp_path / "rep"
    assert main(["report", str(empty), "-o", str(out), "-q", "-j", "1"]) == 2
    assert "no input file could be" in capsys.readouterr().err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["empty"]
