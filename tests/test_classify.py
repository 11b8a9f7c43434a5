from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from aipolicy.classify import (KeywordBaseline, PolicyClassifier, best_thresholds, evaluate, grouped_folds,
                               scores_table)
from fixture_corpus import CATS, fixture_matrix


_data = fixture_matrix


def _clf(**kw):
    return PolicyClassifier(categories=tuple(CATS), min_df=1, calibration_cv=2, random_state=3, **kw)


def test_fit_predict_shapes_and_learning():
    texts, Y, _ = _data()
    clf = _clf().fit(texts, Y)
    P = clf.predict_proba(texts)
    assert P.shape == (len(texts), 6) and ((P >= 0) & (P <= 1)).all()
    assert clf.predict(texts).shape == Y.shape
    new = ["面向中小企业发放算力券，建设智算中心。", "引进领军人才和青年科技人才团队。"]
    p = clf.predict_proba(new)
    assert p[0, CATS.index("compute")] > p[0, CATS.index("talent")]
    assert p[1, CATS.index("talent")] > p[1, CATS.index("compute")]


def test_sklearn_conventions_clone_params_pickle():
    texts, Y, _ = _data()
    clf = _clf(C=2.0)
    assert clf.get_params()["C"] == 2.0
    c2 = clone(clf)
    assert c2.get_params() == clf.get_params() and not hasattr(c2, "estimators_")
    clf.fit(texts, Y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(texts), clf.predict_proba(texts))
    with pytest.raises(TypeError):
        PolicyClassifier(2.0)  # keyword-only hyper-parameters


def test_fit_is_deterministic():
    texts, Y, _ = _data()
    a = _clf().fit(texts, Y).predict_proba(texts)
    b = _clf().fit(texts, Y).predict_proba(texts)
    np.testing.assert_array_equal(a, b)


def test_label_adds_columns_and_evidence():
    import pandas as pd

    texts, Y, _ = _data()
    clf = _clf(thresholds=[0.3] * 6).fit(texts, Y)
    out = clf.label(pd.DataFrame({"text": ["建设智能算力中心，向企业发放算力券。", "全市粮食产量稳定。"]}))
    assert [c for c in out.columns if c.startswith("p_")] == [f"p_{c}" for c in CATS]
    assert "compute" in out["labels"][0].split(";")
    assert out["evidence"][0] and any(w in out["evidence"][0] for w in ("算力", "算力券", "算力中心", "智能"))
    assert out["labels"][1] == "" and out["evidence"][1] == ""


def test_keyword_baseline():
    kb = KeywordBaseline(cues={"compute": ["算力"], "talent": ["人才"]}).fit()
    assert kb.predict(["建设算力中心", "引进人才", "修建道路"]).tolist() == [[1, 0], [0, 1], [0, 0]]


def test_best_thresholds_and_scores():
    Y = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    P = np.array([[0.9, 0.2], [0.4, 0.8], [0.3, 0.1], [0.1, 0.7]])
    th = best_thresholds(Y, P)
    assert 0.3 < th[0] <= 0.4 and 0.2 < th[1] <= 0.7
    t = scores_table(Y, (P >= th).astype(int), ["x", "y"]).set_index("category")
    assert t.loc["x", "f1"] == 1.0 and t.loc["y", "f1"] == 1.0 and t.loc["macro", "f1"] == 1.0


def test_grouped_folds_never_split_a_document():
    groups = np.repeat(np.arange(9), [5, 1, 7, 2, 2, 3, 8, 1, 4])
    f = grouped_folds(groups, 4)
    for g in np.unique(groups):
        assert len(set(f[groups == g])) == 1
    assert len(set(f)) == 4
    with pytest.raises(ValueError):
        grouped_folds(np.zeros(5), 3)


def test_evaluate_beats_baseline_on_fixture():
    texts, Y, groups = _data()
    cues = {c: ["__never__"] for c in CATS}
    ev = evaluate(_clf(), texts, Y, groups, cues, folds=3)
    assert ev.baseline_macro_f1 == 0.0
    assert ev.macro_f1 > 0.3
    assert ev.oof_proba.shape == Y.shape and len(ev.thresholds) == 6


def test_evaluate_in_two_processes_and_refit_match_one_process_and_a_plain_fit():
    """Folds and the final fit run in parallel: same probabilities, thresholds and final model as
    running them one after the other, and the refitted model equals fitting on all units."""
    texts, Y, groups = _data()
    cues = {c: ["__never__"] for c in CATS}
    one = evaluate(_clf(), texts, Y, groups, cues, folds=3, n_jobs=1, refit=True)
    two = evaluate(_clf(), texts, Y, groups, cues, folds=3, n_jobs=2, refit=True)
    np.testing.assert_array_equal(one.oof_proba, two.oof_proba)
    np.testing.assert_array_equal(one.thresholds, two.thresholds)
    plain = _clf(thresholds=[float(t) for t in one.thresholds]).fit(texts, Y)
    np.testing.assert_array_equal(two.refitted.predict_proba(texts), plain.predict_proba(texts))
    np.testing.assert_array_equal(two.refitted.thresholds_, plain.thresholds_)
    assert evaluate(_clf(), texts, Y, groups, cues, folds=3).refitted is None
