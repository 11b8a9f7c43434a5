"""Labelling support: suggest, labelling sheets and Label Studio files, import, audit; per-domain scores."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from aipolicy import ingest
from aipolicy.annotate import audit, import_labels, suggest, uncertainty, write_suggestions
from aipolicy.classify import Evaluation, scores_table
from aipolicy.cli import main
from aipolicy.errors import AipolicyError
from aipolicy.models import load_predictor
from fixture_corpus import CATS


@pytest.fixture
def units(fixture_setup):
    return ingest(fixture_setup["corpus"]).assign(corpus="fixture")


@pytest.fixture
def gold_copy(fixture_setup, tmp_path):
    """A gold file with the first document's units only, so the others are unlabelled."""
    g = pd.read_csv(fixture_setup["gold"], dtype=str, keep_default_na=False)
    first = g["source"].iloc[0]
    p = tmp_path / "gold.csv"
    g[g["source"] == first].to_csv(p, index=False)
    return p


def test_uncertainty_is_one_on_the_threshold_and_zero_when_sure():
    P = np.array([[0.3, 0.9], [0.0, 1.0], [0.65, 0.0]])
    u = uncertainty(P, np.array([0.3, 0.5]))
    assert u[0] == pytest.approx(1.0)          # first category sits on its threshold
    assert u[1] == pytest.approx(0.0)          # certain on both
    assert 0.0 < u[2] < 1.0


def test_suggest_excludes_labelled_spreads_over_documents_and_is_deterministic(units, trained):
    model = load_predictor(trained[0])
    labelled = units["unit_id"].iloc[:5].tolist()
    a = suggest(units, model, n=8, exclude_ids=labelled, per_doc=2)
    b = suggest(units, model, n=8, exclude_ids=labelled, per_doc=2)
    assert a["unit_id"].tolist() == b["unit_id"].tolist()
    assert len(a) == 8 and a["rank"].tolist() == list(range(1, 9))
    assert not set(a["unit_id"]) & set(labelled)
    assert a.groupby("doc_id").size().max() <= 2
    assert {f"p_{c}" for c in CATS} <= set(a.columns)
    # without diversity the most uncertain unit comes first
    top = suggest(units, model, n=1, diversity=0.0, per_doc=50)
    assert top["uncertainty"].iat[0] == pytest.approx(
        uncertainty(model.predict_proba(units["text"].tolist()), model.thresholds_).max(), abs=1e-4)


def test_sheet_and_label_studio_files(units, trained, tmp_path):
    sug = suggest(units, load_predictor(trained[0]), n=4)
    paths = write_suggestions(sug, CATS, tmp_path / "sheet.xlsx")
    sheet = pd.read_excel(paths[0], dtype=str)
    assert list(sheet.columns[-7:]) == [*CATS, "note"] and len(sheet) == 4
    tasks = json.loads(paths[1].read_text(encoding="utf-8"))
    assert [t["data"]["unit_id"] for t in tasks] == sug["unit_id"].tolist()
    root = ET.fromstring(paths[2].read_text(encoding="utf-8"))
    choices = [c.get("value") for c in root.iter("Choice")]
    assert choices == [*CATS, "none"]
    assert root.find("Choices").get("choice") == "multiple"


def _fill(sheet: pd.DataFrame, labels: dict) -> pd.DataFrame:
    sheet = sheet.copy()
    for i, cats in labels.items():
        for c in CATS:
            sheet.loc[i, c] = str(int(c in cats))
    return sheet


def test_import_sheet_merges_valid_rows_and_skips_unlabelled(units, trained, gold_copy, tmp_path):
    sug = suggest(units, load_predictor(trained[0]), n=5, exclude_ids=pd.read_csv(gold_copy)["unit_id"])
    write_suggestions(sug, CATS, tmp_path / "s.csv")
    sheet = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    _fill(sheet, {0: ["data"], 1: []}).to_csv(tmp_path / "filled.csv", index=False)
    merged, res, counts = import_labels(gold_copy, tmp_path / "filled.csv", CATS, units=units, annotator="me")
    assert counts == {"added": 2, "replaced": 0, "unchanged": 0, "unlabelled": 3}
    row = merged.set_index("unit_id").loc[sheet["unit_id"][0]]
    assert row["data"] == "1" and row["compute"] == "0" and row["annotator"] == "me"
    assert row["source"] == sug["source"][0]


@pytest.mark.parametrize("breakage, message", [
    (lambda s: s.assign(unit_id=["nosuchid0000000", *s["unit_id"][1:]]), "row 2: unknown unit_id"),
    (lambda s: s.assign(data=["2", *s["data"][1:]]), "row 2: data = '2'"),
    (lambda s: pd.concat([s, s.iloc[[0]]]), "duplicate unit_id"),
    (lambda s: s.drop(columns=["talent"]), "missing category column 'talent'"),
    (lambda s: s.assign(ethics="0"), "unknown column 'ethics'"),
])
def test_import_refuses_bad_sheets_with_row_numbers_and_merges_nothing(
        units, trained, gold_copy, tmp_path, fixture_setup, capsys, breakage, message):
    sug = suggest(units, load_predictor(trained[0]), n=3, exclude_ids=pd.read_csv(gold_copy)["unit_id"])
    write_suggestions(sug, CATS, tmp_path / "s.csv")
    sheet = _fill(pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False), {0: ["data"], 1: ["talent"]})
    breakage(sheet).to_csv(tmp_path / "bad.csv", index=False)
    before = gold_copy.read_bytes()
    code = main(["labels", "import", str(tmp_path / "bad.csv"), "--labels", str(gold_copy),
                 "--config", str(fixture_setup["config"]), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "nothing was merged" in err
    assert gold_copy.read_bytes() == before


def test_import_conflict_needs_replace(units, gold_copy, tmp_path):
    g = pd.read_csv(gold_copy, dtype=str, keep_default_na=False)
    sheet = g[["unit_id", *CATS]].head(1).assign(compute=lambda d: 1 - d["compute"].astype(int))
    sheet.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(AipolicyError, match="row 2: conflict for"):
        import_labels(gold_copy, tmp_path / "c.csv", CATS, units=units, annotator="me")
    merged, _, counts = import_labels(gold_copy, tmp_path / "c.csv", CATS, units=units, annotator="me",
                                      replace=True)
    assert counts["replaced"] == 1 and len(merged) == len(g)


def _ls_task(uid, choices, cancelled=False):
    return {"id": 7, "data": {"unit_id": uid, "text": "…"},
            "annotations": [{"id": 1, "was_cancelled": cancelled, "result": [
                {"from_name": "categories", "to_name": "text", "type": "choices", "value": {"choices": choices}},
                {"from_name": "note", "to_name": "text", "type": "textarea", "value": {"text": ["ok"]}}]}]}


def test_import_label_studio_export(units, gold_copy, tmp_path):
    free = [u for u in units["unit_id"] if u not in set(pd.read_csv(gold_copy)["unit_id"])]
    export = [_ls_task(free[0], ["compute", "governance"]), _ls_task(free[1], ["none"]),
              _ls_task(free[2], ["data"], cancelled=True)]
    (tmp_path / "export.json").write_text(json.dumps(export), encoding="utf-8")
    merged, _, counts = import_labels(gold_copy, tmp_path / "export.json", CATS, units=units, annotator="ls")
    assert counts["added"] == 2 and counts["unlabelled"] == 1
    m = merged.set_index("unit_id")
    assert m.loc[free[0], ["compute", "governance", "data"]].tolist() == ["1", "1", "0"]
    assert m.loc[free[1], CATS].tolist() == ["0"] * 6 and m.loc[free[1], "note"] == "ok"
    bad = [_ls_task(free[0], ["ethics"]), _ls_task(free[1], ["none", "data"]), _ls_task(free[3], [])]
    (tmp_path / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(AipolicyError) as e:
        import_labels(gold_copy, tmp_path / "bad.json", CATS, units=units, annotator="ls")
    msg = str(e.value)
    assert "task 1" in msg and "unknown category 'ethics'" in msg
    assert "task 2" in msg and "together with categories" in msg and "task 3" in msg


def test_audit_ranks_flipped_labels_first():
    rng = np.random.default_rng(0)
    Y = (rng.random((300, 3)) < 0.3).astype(int)
    P = np.clip(np.where(Y == 1, 0.8, 0.2) + rng.normal(0, 0.1, Y.shape), 0.01, 0.99)
    flip = rng.choice(300, 15, replace=False)
    Y[flip, 1] = 1 - Y[flip, 1]                 # labels the model contradicts
    out = audit(Y, P, ["a", "b", "c"])
    worst = set(out.nsmallest(15, "quality").index)
    assert len(worst & set(flip)) >= 10
    flagged = set(out.index[out["issue"] == 1])
    assert flagged and len(flagged & set(flip)) >= 0.8 * len(flagged)
    assert all(out.loc[i, "suspect"].startswith(("+b", "-b")) for i in flagged & set(flip))


def test_per_domain_scores_and_none_flagged():
    Y = np.array([[1, 0], [0, 0], [0, 1], [0, 0], [1, 0]])
    pred = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [0, 0]])
    base = np.zeros_like(Y)
    cats = ["x", "y"]
    ev = Evaluation(model=scores_table(Y, pred, cats), baseline=scores_table(Y, base, cats),
                    thresholds=np.array([.5, .5]), oof_proba=pred.astype(float), folds=2, pred=pred,
                    baseline_pred=base, Y=Y, domains=np.array(["a", "a", "b", "b", "b"]))
    t = ev.per_domain().set_index(["domain", "category"])
    assert t.loc[("a", "none flagged"), "f1"] == 1.0      # the one none unit of a got a label
    assert t.loc[("b", "none flagged"), "f1"] == 0.0
    assert t.loc[("b", "x"), "recall"] == 0.0 and t.loc[("b", "y"), "f1"] == 1.0
    assert t.loc[("all", "macro"), "units"] == 5
