"""aipolicy evaluate and --threshold: metrics on a user's labelled table, checked against scikit-learn."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_recall_fscore_support

from aipolicy import ingest
from aipolicy.batch import label_files
from aipolicy.cli import main
from aipolicy.evaluation import pr_curve
from aipolicy.models import load_predictor
from aipolicy.predictor import decide
from aipolicy.tables import read_table
from fixture_corpus import CATS

# Held-out units written for this test (not in the fixture gold the model was trained on).
HELD_OUT = [
    ("h1", "扩建智能算力中心，为企业提供算力券支持。", ["compute"]),
    ("h2", "开放公共数据资源，建设高质量数据集。", ["data"]),
    ("h3", "支持大模型研发和开源框架建设。", ["algorithm"]),
    ("h4", "推进智慧交通示范应用，开放应用场景。", ["scenario"]),
    ("h5", "引进领军人才团队，建设人工智能学院。", ["talent"]),
    ("h6", "完善人工智能伦理规范和安全监管。", ["governance"]),
    ("h7", "加强数据安全监管，保护个人信息。", ["data", "governance"]),
    ("h8", "全年粮食产量保持稳定，农民收入增加。", []),
    ("h9", "新建公园十座，城市绿化覆盖率提高。", []),
    ("h10", "建设超算中心，部署国产芯片服务器。", ["compute"]),
]


def _table(path, rows=HELD_OUT, text=True):
    df = pd.DataFrame([{"id": i, **({"text": t} if text else {}), **{c: int(c in labs) for c in CATS}}
                       for i, t, labs in rows])
    df.to_csv(path, index=False)
    return path


def _digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_pr_curve_matches_sklearn():
    rng = np.random.default_rng(3)
    y = rng.random(200) < 0.3
    p = np.round(rng.random(200), 2)  # ties on purpose
    from sklearn.metrics import precision_recall_curve

    prec, rec, th = pr_curve(y, p)
    sp, sr, st = precision_recall_curve(y, p)
    np.testing.assert_allclose(prec, sp)
    np.testing.assert_allclose(rec, sr)
    np.testing.assert_allclose(th, st)


def test_evaluate_metrics_files_and_determinism(trained, fixture_setup, tmp_path, capsys):
    table = _table(tmp_path / "mine.csv")
    model = str(trained[0])
    assert main(["evaluate", str(table), "-o", str(tmp_path / "ev"), "-m", model, "-q",
                 "--categories", str(fixture_setup["categories"])]) == 0
    assert "macro F1" in capsys.readouterr().out
    out = tmp_path / "ev"
    m = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert m["units"] == len(HELD_OUT) and set(m["model"]["per_category"]) == set(CATS)

    # the same numbers as scikit-learn computes from the model's probabilities at its thresholds
    clf = load_predictor(model)
    Y = np.array([[int(c in labs) for c in CATS] for _, _, labs in HELD_OUT])
    P = clf.predict_proba([t for _, t, _ in HELD_OUT])
    pred = decide(P, clf.thresholds_, clf.gates_).astype(int)
    p, r, f, s = precision_recall_fscore_support(Y, pred, zero_division=0)
    for j, c in enumerate(CATS):
        d = m["model"]["per_category"][c]
        assert (d["precision"], d["recall"], d["f1"], d["support"]) == pytest.approx((p[j], r[j], f[j], s[j]), abs=1e-4)
        assert d["average_precision"] == pytest.approx(average_precision_score(Y[:, j], P[:, j]), abs=1e-4)
        assert d["tp"] + d["fp"] + d["fn"] + d["tn"] == len(HELD_OUT)
    assert m["model"]["macro_f1"] == pytest.approx(f1_score(Y, pred, average="macro", zero_division=0), abs=1e-4)
    assert m["model"]["micro_f1"] == pytest.approx(f1_score(Y, pred, average="micro", zero_division=0), abs=1e-4)
    none = Y.sum(1) == 0
    assert m["model"]["none_flagged"] == pytest.approx(pred[none].any(1).mean(), abs=1e-4)
    # keyword baseline from labels/categories.yaml: h8, h9 contain no cue term, h1 contains 算力
    assert m["keyword_baseline"]["per_category"]["compute"]["tp"] == 2
    assert m["keyword_baseline"]["none_flagged"] == 0.0

    for name in ("per_category.csv", "confusion.csv", "thresholds.csv", "pr_curves.csv", "predictions.csv",
                 "summary.md"):
        assert (out / name).stat().st_size > 0, name
    for c in CATS:
        assert (out / "figures" / f"pr_{c}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    th = pd.read_csv(out / "thresholds.csv", encoding="utf-8-sig")
    assert th.groupby("category")["model_threshold"].sum().eq(1).all()
    assert "macro" in (out / "summary.md").read_text(encoding="utf-8")

    assert main(["evaluate", str(table), "-o", str(tmp_path / "ev2"), "-m", model, "-q"]) == 0
    for f in ("metrics.json", "per_category.csv", "thresholds.csv", "predictions.csv", "figures/pr_data.png"):
        assert _digest(out / f) == _digest(tmp_path / "ev2" / f), f


def test_threshold_override_on_evaluate(trained, tmp_path):
    table = _table(tmp_path / "mine.csv")
    assert main(["evaluate", str(table), "-o", str(tmp_path / "ev"), "-m", str(trained[0]), "-q",
                 "--threshold", "compute=0", "--threshold", "talent=1", "--threshold", "gate=0"]) == 0
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text(encoding="utf-8"))
    assert m["model"]["thresholds"]["compute"] == 0.0 and m["model"]["thresholds"]["talent"] == 1.0
    assert "gates" not in m["model"]  # gate=0: no gate, so every unit gets compute
    assert m["model"]["per_category"]["compute"]["fp"] + m["model"]["per_category"]["compute"]["tp"] == len(HELD_OUT)
    assert m["model"]["per_category"]["compute"]["recall"] == 1.0
    assert m["model"]["none_flagged"] == 1.0


def test_ids_joined_to_a_corpus(trained, fixture_setup, tmp_path):
    units = ingest(fixture_setup["corpus"]).head(12)
    gold = pd.read_csv(fixture_setup["gold"], dtype={"unit_id": str}).set_index("unit_id")
    rows = [(u.unit_id, u.text, [c for c in CATS if gold.at[u.unit_id, c]]) for u in units.itertuples()]
    with_text = _table(tmp_path / "with_text.csv", rows)
    ids_only = _table(tmp_path / "ids.csv", rows, text=False)
    model = str(trained[0])
    assert main(["evaluate", str(with_text), "-o", str(tmp_path / "a"), "-m", model, "-q"]) == 0
    assert main(["evaluate", str(ids_only), "-o", str(tmp_path / "b"), "-m", model, "-q",
                 "--corpus", f"fixture={fixture_setup['corpus']}"]) == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "b" / "metrics.json").read_text(encoding="utf-8"))
    assert a["model"] == b["model"] and a["units"] == b["units"] == 12


@pytest.mark.parametrize("mutate, args, message", [
    (lambda df: df.drop(columns=["talent"]), [], "missing category column(s) talent"),
    (lambda df: df.assign(data=["x"] + [0] * (len(df) - 1)), [], "column 'data' must hold 0 or 1; row 2"),
    (lambda df: df.rename(columns={"id": "key"}), [], "needs an id column"),
    (lambda df: df.drop(columns=["text"]), [], "no 'text' column"),
    (lambda df: df, ["--threshold", "money=0.3"], "unknown category money"),
    (lambda df: df, ["--threshold", "data=1.5"], "VALUE between 0 and 1"),
    (lambda df: df, ["--threshold", "data"], "CATEGORY=VALUE"),
])
def test_bad_input_one_line_error(trained, tmp_path, capsys, mutate, args, message):
    table = _table(tmp_path / "mine.csv")
    mutate(pd.read_csv(table)).to_csv(table, index=False)
    assert main(["evaluate", str(table), "-o", str(tmp_path / "ev"), "-m", str(trained[0]), "-q", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_threshold_override_on_label(trained, fixture_setup, tmp_path):
    model = str(trained[0])
    plain, low = tmp_path / "plain.csv", tmp_path / "low.csv"
    label_files([fixture_setup["corpus"]], plain, model=model)
    assert main(["label", str(fixture_setup["corpus"]), "-o", str(low), "-m", model, "-q", "-j", "1",
                 "--threshold", "compute=0", "--threshold", "gate=0"]) == 0
    a, b = read_table(plain), read_table(low)
    assert (b["labels"].fillna("").str.split(";").map(lambda s: "compute" in s)).all()
    gated = tmp_path / "gated.csv"  # the model's gate still holds when only a threshold is changed
    assert main(["label", str(fixture_setup["corpus"]), "-o", str(gated), "-m", model, "-q", "-j", "1",
                 "--threshold", "compute=0"]) == 0
    g = read_table(gated)
    P, gates = g[[f"p_{c}" for c in CATS]].to_numpy(), load_predictor(model).gates_
    below = (P < gates - 1e-4).all(axis=1)  # p_ columns are rounded to 4 decimals
    above = (P > gates + 1e-4).any(axis=1)
    labels = g["labels"].fillna("")
    assert below.any() and above.any()  # the fixture has units on both sides of the gate
    assert (labels[below] == "").all() and labels[above].str.split(";").map(lambda s: "compute" in s).all()
    assert not (a["labels"].fillna("").str.split(";").map(lambda s: "compute" in s)).all()
    assert (a["p_compute"] == b["p_compute"]).all()
