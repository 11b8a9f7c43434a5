from __future__ import annotations

import pandas as pd
import pytest

from aipolicy import ingest
from aipolicy.cli import main
from aipolicy.config import load_categories
from aipolicy.labels import check_labels, corpus_units, join_labels, label_stats, read_labels
from aipolicy.errors import AipolicyError

from fixture_corpus import CATS


def _cats(fixture_setup):
    return load_categories(fixture_setup["categories"])


def test_good_file_has_no_problems(fixture_setup):
    units = corpus_units({"fixture": fixture_setup["corpus"]})
    assert check_labels(fixture_setup["gold"], _cats(fixture_setup), units) == []


def _bad(tmp_path, fixture_setup, edit) -> "Path":
    lines = fixture_setup["gold"].read_text(encoding="utf-8").splitlines()
    lines = edit(lines)
    p = tmp_path / "bad.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_unknown_category_column(tmp_path, fixture_setup):
    p = _bad(tmp_path, fixture_setup, lambda ls: [ls[0] + ",ethics"] + [l + ",0" for l in ls[1:]])
    probs = check_labels(p, _cats(fixture_setup))
    assert [(x.line, "unknown category 'ethics'" in x.message) for x in probs] == [(1, True)]


def test_duplicate_ids_and_bad_values_with_lines(tmp_path, fixture_setup):
    def edit(ls):
        ls = list(ls)
        ls.append(ls[3])                       # duplicate of line 4
        f = ls[5].split(",")
        f[3] = "2"                             # compute = 2 on line 6
        ls[5] = ",".join(f)
        g = ls[6].split(",")
        g[4] = "yes"                           # data = 'yes' on line 7
        ls[6] = ",".join(g)
        return ls
    p = _bad(tmp_path, fixture_setup, edit)
    probs = check_labels(p, _cats(fixture_setup))
    msgs = {(x.line, x.message.split(" ")[0]) for x in probs}
    n = len(fixture_setup["gold"].read_text(encoding="utf-8").splitlines())
    assert (n + 1, "duplicate") in msgs
    assert (6, "compute") in msgs and (7, "data") in msgs
    assert len(probs) == 3


def test_ids_matching_no_unit(tmp_path, fixture_setup):
    p = _bad(tmp_path, fixture_setup, lambda ls: ls + ["ffffffffffffffff,fixture,x.txt,0,0,0,0,0,0,t,"])
    units = corpus_units({"fixture": fixture_setup["corpus"]})
    probs = check_labels(p, _cats(fixture_setup), units)
    assert len(probs) == 1 and "matches no unit" in probs[0].message
    assert probs[0].line == len(p.read_text().splitlines())


def test_missing_file_and_read_labels_refuses_bad(tmp_path, fixture_setup):
    assert check_labels(tmp_path / "nope.csv", _cats(fixture_setup))[0].message.startswith("file not found")
    p = _bad(tmp_path, fixture_setup, lambda ls: ls + [ls[1]])
    with pytest.raises(AipolicyError, match="duplicate"):
        read_labels(p, _cats(fixture_setup))


def test_cli_check_exit_codes(tmp_path, fixture_setup, capsys):
    cfg = str(fixture_setup["config"])
    assert main(["labels", "check", "--config", cfg, "-q"]) == 0
    p = _bad(tmp_path, fixture_setup, lambda ls: ls + [ls[1]])
    assert main(["labels", "check", str(p), "--config", cfg, "-q"]) == 1
    out = capsys.readouterr()
    assert f"{p}:line {len(p.read_text().splitlines())}: duplicate unit_id" in out.out


def test_join_reports_missing_and_stats_count(fixture_setup, capsys):
    cats = _cats(fixture_setup)
    labels = read_labels(fixture_setup["gold"], cats)
    extra = pd.concat([labels, labels.head(1).assign(unit_id="0000000000000000")], ignore_index=True)
    joined, missing = join_labels(extra, corpus_units({"fixture": fixture_setup["corpus"]}))
    assert len(joined) == len(labels) and missing["unit_id"].tolist() == ["0000000000000000"]
    st = label_stats(joined, cats)
    counts = dict(zip(st["categories"]["category"], st["categories"]["positives"]))
    assert counts == {"compute": 6, "data": 8, "algorithm": 6, "scenario": 6, "talent": 6, "governance": 6,
                      "(none)": 12}
    assert main(["labels", "stats", "--config", str(fixture_setup["config"]), "-q"]) == 0
    assert "48 labelled units joined to text" in capsys.readouterr().out


def test_repository_gold_set(shared, capsys, monkeypatch):
    """The committed gold set validates against the real corpora and meets the counts of issue 3."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    args = ["--corpus", f"seeds={shared / 'seeds'}", "--corpus",
            f"city-reports-2024={shared / 'corpus' / 'city-reports-2024'}", "--corpus",
            f"ai-policies={shared / 'corpus' / 'ai-policies'}", "-q"]
    assert main(["labels", "check", *args]) == 0
    cats = load_categories()
    gold = read_labels(root / "labels" / "gold.csv", cats)
    seeds = ingest(shared / "seeds")
    assert set(seeds["unit_id"]) <= set(gold["unit_id"])  # every seed unit is labelled
    corpus = gold[gold["corpus"] == "city-reports-2024"]
    assert len(corpus) >= 800 and corpus["source"].nunique() >= 60
    assert (corpus[CATS].sum(axis=1) == 0).mean() >= 1 / 3


def test_repository_gold_covers_the_ai_policy_domain(shared):
    """Issue 9: ≥ 1,500 AI-policy units from ≥ 60 % of the documents and every level, ≥ 300 of them
    double-annotated, every category ≥ 150 positives over all gold."""
    import json
    from pathlib import Path

    import pandas as pd

    root = Path(__file__).resolve().parents[1]
    cats = load_categories()
    gold = read_labels(root / "labels" / "gold.csv", cats)
    ai = gold[gold["corpus"] == "ai-policies"]
    index = pd.read_csv(shared / "corpus" / "ai-policies" / "index.csv", dtype=str)
    files = ai["source"].map(lambda s: Path(s).name)
    assert len(ai) >= 1500
    assert files.nunique() >= 0.6 * len(index)
    level = dict(zip(index["file"], index["level"]))
    assert {"national", "province", "city"} <= set(files.map(level))
    assert (gold[CATS].sum() >= 150).all()
    agreement = json.loads((root / "labels" / "agreement.json").read_text(encoding="utf-8"))
    assert agreement["units"] >= 300
    assert ai["annotator"].str.contains(r"\+", regex=True).sum() >= 300   # second annotator recorded


def test_gold_is_what_build_gold_makes_of_the_annotations(tmp_path):
    """labels/gold.csv and agreement.json are exactly what labels/build_gold.py makes of the annotation files,
    adjudications, re-readings and corrections (every disagreement decided, every decision matching one)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "labels", tmp_path / "labels")
    (tmp_path / "labels" / "gold.csv").unlink()
    done = subprocess.run([sys.executable, "labels/build_gold.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("gold.csv", "agreement.json"):
        assert (tmp_path / "labels" / name).read_bytes() == (root / "labels" / name).read_bytes(), name


def test_reread_candidates_need_both_rereaders_against_the_gold():
    """labels/reread.py: a category is a candidate change only where both re-readers of its half agree with
    each other and differ from the gold."""
    import importlib.util
    from pathlib import Path

    import pandas as pd

    spec = importlib.util.spec_from_file_location("reread", Path(__file__).resolve().parents[1] / "labels" / "reread.py")
    reread = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reread)
    names = ["data", "governance"]
    sel = pd.DataFrame({"unit_id": ["u1", "u2"], "readers": ["E1 E2"] * 2, "pool": ["audit", "control"]})
    gold = pd.DataFrame({"unit_id": ["u1", "u2"], "data": ["1", "0"], "governance": ["0", "0"]})
    e1 = pd.DataFrame({"unit_id": ["u1", "u2"], "data": ["0", "1"], "governance": ["1", "0"], "note": ["a", ""]})
    e2 = pd.DataFrame({"unit_id": ["u1", "u2"], "data": ["0", "0"], "governance": ["0", "0"], "note": ["b", ""]})
    cand = reread.candidates(sel, gold, {"E1": e1, "E2": e2}, names)
    assert cand[["unit_id", "category", "gold", "rereaders", "pool"]].values.tolist() == [["u1", "data", "1", "0", "audit"]]
