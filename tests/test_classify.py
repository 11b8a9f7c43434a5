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
    plain.calibrate(Y, one.oof_proba)  # the final model's calibration comes from the folds' probabilities
    np.testing.assert_array_equal(two.refitted.predict_proba(texts), plain.predict_proba(texts))
    np.testing.assert_array_equal(two.refitted.thresholds_, plain.thresholds_)
    assert evaluate(_clf(), texts, Y, groups, cues, folds=3).refitted is None


# ------------------------------------------------------------------ the blended word-pair model

def test_word_pairs_are_adjacent_known_words_of_one_text():
    from aipolicy.predictor import _binary_csr, fit_pairs, word_ids

    vocab = {"数据": 0, "安全": 1, "平台": 2}
    segs = [["数据", "安全", "，", "平台"], ["数据", "安全"], ["安全", "数据", "未知", "平台"], ["平台"]]
    ids, indptr = word_ids(segs, vocab)
    assert ids.tolist() == [0, 1, -1, 2, 0, 1, 1, 0, -1, 2, 2]
    # 数据安全 in two texts; 安全数据 in one; punctuation, unknown words and text ends break pairs
    assert fit_pairs(ids, indptr, 3, 2).tolist() == [0 * 3 + 1]
    assert fit_pairs(ids, indptr, 3, 1).tolist() == [0 * 3 + 1, 1 * 3 + 0]
    X = _binary_csr(ids, indptr, 3, fit_pairs(ids, indptr, 3, 2)).tocsr().toarray()
    assert X.tolist() == [[1, 1, 1, 1], [1, 1, 0, 1], [1, 1, 1, 0], [0, 0, 1, 0]]  # 0/1, pair last


def test_word_pair_model_weights_follow_the_log_count_ratios():
    import scipy.sparse as sp

    from aipolicy.classify import _fit_pairs_model

    # feature 0 only in positives, feature 1 only in negatives, feature 2 everywhere
    X = sp.csr_matrix(np.array([[1, 0, 1]] * 6 + [[0, 1, 1]] * 6, dtype=float))
    y = np.array([1] * 6 + [0] * 6)
    w, b = _fit_pairs_model(X, y, None, C=1.0, class_weight="balanced", random_state=0, tol=1e-4)
    assert w[0] > 0 > w[1] and abs(w[2]) < 1e-9  # ratio 0: a feature as common in both says nothing
    assert _fit_pairs_model(X, np.ones(12, int), None, C=1.0, class_weight=None, random_state=0, tol=1e-4)[1] > 10


def test_blend_settings_are_checked_and_zero_weight_is_the_plain_regression():
    texts, Y, _ = _data()
    with pytest.raises(ValueError, match="nb_weight"):
        _clf(nb_weight=1.5, thresholds=0.5).fit(texts, Y)
    with pytest.raises(ValueError, match="word_ngram_range"):
        _clf(word_ngram_range=(1, 2), thresholds=0.5).fit(texts, Y)
    plain = _clf(nb_weight=0.0, thresholds=0.5).fit(texts, Y)
    assert plain.nb_coef_ is None and _clf(word_ngram_range=(1, 2), nb_weight=0.0, thresholds=0.5).fit(texts, Y)
    blended = _clf(thresholds=0.5).fit(texts, Y)
    p0, p1 = plain.predict_proba(texts), blended.predict_proba(texts)
    assert not np.allclose(p0, p1)
    # the blend is the weighted average of the regression's probabilities and the word-pair model's
    from aipolicy.classify import _texts

    Xv, Xb = blended._features_of(_texts(texts))
    pr = np.column_stack([e.predict_proba(Xv)[:, 1] for e in blended.estimators_])
    z = np.asarray(Xb @ blended.nb_coef_.T) + blended.nb_intercept_
    np.testing.assert_allclose(p1, 0.6 * pr + 0.4 / (1 + np.exp(-z)), rtol=0, atol=1e-12)


def test_a_predictor_of_format_1_still_loads_and_a_broken_blend_is_refused():
    from aipolicy.predictor import Predictor, from_estimator

    texts, Y, _ = _data()
    plain = _clf(nb_weight=0.0, gate=0.0, thresholds=0.5).fit(texts, Y)
    meta, arrays = from_estimator(plain).to_parts()
    assert set(arrays) == set(Predictor._ARRAYS)  # nothing of a blend
    old = {k: v for k, v in meta.items() if k != "nb_weight"} | {"format": "aipolicy-predictor/1"}
    np.testing.assert_allclose(Predictor.from_parts(old, arrays).predict_proba(texts), plain.predict_proba(texts),
                               rtol=0, atol=1e-12)
    blended = _clf(thresholds=0.5).fit(texts, Y)
    blended.calibrate(Y, blended.predict_proba(texts))
    meta, arrays = from_estimator(blended).to_parts()
    assert {"nb_pairs", "nb_coef", "nb_intercept", "post_a", "post_b"} <= set(arrays) and meta["nb_weight"] == 0.4
    with pytest.raises(ValueError, match="nb_coef"):
        Predictor.from_parts(meta, {k: v for k, v in arrays.items() if k != "nb_coef"})
    with pytest.raises(ValueError, match="post_a"):
        Predictor.from_parts(meta, {k: v for k, v in arrays.items() if k != "post_b"})


def test_pair_scores_from_word_counts_equal_the_pair_matrix_product():
    from aipolicy.predictor import _binary_csr, _count_csr, _pair_scores, fit_pairs

    rng = np.random.default_rng(0)
    ids = rng.integers(-1, 6, 400)
    indptr = np.concatenate([[0], np.sort(rng.choice(np.arange(1, 400), 30, replace=False)), [400]])
    indptr[5] = indptr[4]  # an empty text
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    counts = _count_csr(rows[ids >= 0], ids[ids >= 0], (len(indptr) - 1, 6))
    for min_df in (1, 3, 1000):
        pairs = fit_pairs(ids, indptr, 6, min_df)
        W = rng.normal(size=(3, 6 + len(pairs)))
        expected = _binary_csr(ids, indptr, 6, pairs).tocsr() @ W.T
        np.testing.assert_allclose(_pair_scores(counts, ids, indptr, pairs, W), expected, rtol=0, atol=1e-12)


def test_decide_labels_only_units_past_the_gate():
    from aipolicy.predictor import decide

    P = np.array([[0.9, 0.3], [0.45, 0.35], [0.2, 0.1]])
    t = [0.4, 0.3]
    assert decide(P, t).astype(int).tolist() == [[1, 1], [1, 1], [0, 0]]
    # the second unit reaches both thresholds but no gate: no label; the first keeps both
    assert decide(P, t, [0.5, 0.5]).astype(int).tolist() == [[1, 1], [0, 0], [0, 0]]
    assert decide(P, t, [0.5, 0.3]).astype(int).tolist() == [[1, 1], [1, 1], [0, 0]]


def test_the_gate_is_chosen_with_the_thresholds_and_applied_by_the_predictor():
    from aipolicy.classify import gated
    from aipolicy.predictor import from_estimator, post_calibrate

    texts, Y, groups = _data()
    clf = _clf(gate=0.5).fit(texts, Y, groups=groups)
    np.testing.assert_array_equal(clf.gates_, post_calibrate(np.full(6, 0.5), clf.post_a_, clf.post_b_))
    P = clf.predict_proba(texts)
    passed = (P >= clf.gates_).any(axis=1)
    pred = clf.predict(texts)
    assert (pred[~passed] == 0).all() and (pred[passed] == (P[passed] >= clf.thresholds_)).all()
    fast = from_estimator(clf)
    np.testing.assert_array_equal(fast.gates_, clf.gates_)
    assert clf.label(texts)["labels"].tolist() == fast.label_columns(texts)["labels"]
    assert _clf(gate=0.0).fit(texts, Y, groups=groups).gates_ is None
    with pytest.raises(ValueError, match="gate"):
        _clf(gate=2.0, thresholds=0.5).fit(texts, Y)
    assert gated(np.array([[0.1, 0.2]]), 0.5).tolist() == [True]  # nobody passes: thresholds on everyone
