"""The shortcuts of training give what the plain path gives: features of prepared texts equal the
feature union's, regressions fitted on compacted columns equal those fitted on all columns, and the
unit cache gives the table that ingesting gives (and is not used when anything it depends on changed)."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from aipolicy import unitcache
from aipolicy.classify import PolicyClassifier, _fit_category, _texts, compact_columns
from aipolicy.features import fit_transform_prepared, make_vectorizer, prepare, transform_prepared
from aipolicy.labels import corpus_units
from fixture_corpus import CATS, fixture_matrix


def _same_csr(a, b):
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("params", [{"min_df": 1}, {"min_df": 2, "word_ngram_range": (1, 2), "max_features": 40},
                                    {"min_df": 1, "cue_terms": ()}])
def test_prepared_features_equal_the_feature_union(params):
    """Fitted on some rows of prepared texts: the same fitted vectorizer (pickled bytes) and the same matrix as
    the union fitted on those texts; then the same transform of the other rows."""
    texts, _, _ = fixture_matrix()
    texts = _texts(texts)
    rows = np.arange(len(texts)) % 3 != 0
    kw = {"cue_terms": ("算力", "数据", "人才"), **params}
    plain = make_vectorizer(**kw)
    X_plain = plain.fit_transform([t for t, r in zip(texts, rows) if r]).tocsr()
    prepared = make_vectorizer(**kw)
    prep = prepare(prepared, texts)
    X_prep = fit_transform_prepared(prepared, prep.take(rows))
    _same_csr(X_prep, X_plain)
    assert pickle.dumps(prepared) == pickle.dumps(plain)
    _same_csr(transform_prepared(prepared, prep.take(~rows)),
              plain.transform([t for t, r in zip(texts, rows) if not r]).tocsr())


def test_take_keeps_only_the_rows_asked_for():
    texts = _texts(["支持建设智算中心。", "推动数据要素流通。", "引进高端人才。"])
    prep = prepare(make_vectorizer(cue_terms=("数据",)), texts)
    sub = prep.take(np.array([False, True, True]))
    assert sub.texts == texts[1:] and sub.tokens == prep.tokens[1:] and len(sub) == 2
    _same_csr(sub.chars, prep.chars[1:])
    _same_csr(sub.cues, prep.cues[1:])


def test_regressions_on_compacted_columns_equal_those_on_all_columns():
    texts, Y, _ = fixture_matrix()
    X = make_vectorizer(min_df=1).fit_transform(_texts(texts)).tocsr()
    cols, Xc = compact_columns(X)
    assert Xc.shape[1] < X.shape[1] and Xc.nnz == X.nnz
    for j in range(Y.shape[1]):
        est, coef = _fit_category(Xc, Y, j, None, cols=cols, width=X.shape[1], C=10.0, class_weight="balanced",
                                  calibration_cv=1, random_state=3, tol=1e-3)
        full = LogisticRegression(C=10.0, class_weight="balanced", solver="liblinear", dual=True, max_iter=2000,
                                  random_state=3, tol=1e-3).fit(X.copy(), Y[:, j])
        np.testing.assert_array_equal(est.coef_, full.coef_)
        np.testing.assert_array_equal(est.intercept_, full.intercept_)
        np.testing.assert_array_equal(est.predict_proba(X), full.predict_proba(X))
        assert est.n_features_in_ == X.shape[1]


def test_fit_equals_the_union_and_regressions_on_all_columns():
    """PolicyClassifier.fit (prepared features, compacted fits) against the plain recipe written out."""
    texts, Y, _ = fixture_matrix()
    clf = PolicyClassifier(categories=tuple(CATS), min_df=1, calibration_cv=1, random_state=3, thresholds=0.5)
    clf.fit(texts, Y)
    X = make_vectorizer(min_df=1, cue_terms=clf._cue_terms(list(CATS))).fit_transform(_texts(texts)).tocsr()
    for j, est in enumerate(clf.estimators_):
        full = LogisticRegression(C=10.0, class_weight="balanced", solver="liblinear", dual=True, max_iter=2000,
                                  random_state=3, tol=clf.tol).fit(X, Y[:, j])
        np.testing.assert_array_equal(est.predict_proba(X)[:, 1], full.predict_proba(X)[:, 1])


# ------------------------------------------------------------------ unit cache

def test_cached_units_equal_ingested_units(fixture_setup, tmp_path):
    corpora = {"fixture": fixture_setup["corpus"]}
    plain = corpus_units(corpora)
    first = corpus_units(corpora, cache_dir=tmp_path / "cache")  # ingests and stores
    assert len(list((tmp_path / "cache").glob("units-*.parquet"))) == 1
    again = corpus_units(corpora, cache_dir=tmp_path / "cache")  # reads
    pd.testing.assert_frame_equal(first, plain)
    pd.testing.assert_frame_equal(again, plain)


def test_cache_is_not_used_when_a_file_changed(fixture_setup, tmp_path, monkeypatch):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for f in fixture_setup["corpus"].iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    cache = tmp_path / "cache"
    calls = []

    def ingest_counted(path):
        calls.append(path)
        from aipolicy.ingest import ingest

        return ingest(path)

    unitcache.cached_ingest(folder, cache, ingest_counted)
    unitcache.cached_ingest(folder, cache, ingest_counted)
    assert len(calls) == 1
    name = sorted(folder.iterdir())[0]
    name.write_text(name.read_text(encoding="utf-8") + "新增一段关于建设智算中心和发放算力券的内容。\n", encoding="utf-8")
    changed = unitcache.cached_ingest(folder, cache, ingest_counted)
    assert len(calls) == 2
    assert changed["text"].str.contains("算力券的内容").any()
    (folder / "新文件.txt").write_text("另一个文件里关于数据要素市场的一段话。\n", encoding="utf-8")
    unitcache.cached_ingest(folder, cache, ingest_counted)
    assert len(calls) == 3
    monkeypatch.setattr(unitcache, "code_fingerprint", lambda: "another version of the package")
    unitcache.cached_ingest(folder, cache, ingest_counted)
    assert len(calls) == 4


def test_damaged_cache_file_is_ingested_again(fixture_setup, tmp_path):
    cache = tmp_path / "cache"
    corpora = {"fixture": fixture_setup["corpus"]}
    plain = corpus_units(corpora, cache_dir=cache)
    (stored,) = cache.glob("units-*.parquet")
    stored.write_bytes(b"not parquet")
    pd.testing.assert_frame_equal(corpus_units(corpora, cache_dir=cache), plain)
    pd.testing.assert_frame_equal(pd.read_parquet(stored), plain.drop(columns="corpus"))
    assert not list(cache.glob("*.tmp"))
