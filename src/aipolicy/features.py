"""Stage 3 — features: TF-IDF over tokens (rjieba + domain dictionary) and over character n-grams.

Built by composition of scikit-learn parts. Word features use a vocabulary (readable, used for the
evidence column); character n-grams are hashed with numpy in one vectorised pass, because
scikit-learn's per-n-gram Python loop made them the slowest step of labelling (measured: 8.4 s for
(2, 4)-grams of the city-report corpus against 0.2 s here). The tokenizer is a module-level function
so the fitted vectorizer pickles.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from .tokens import tokenize

_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier
_BASE = np.uint64(1_000_003)


class CharNgramHasher(TransformerMixin, BaseEstimator):
    """Counts of hashed character n-grams (like ``HashingVectorizer(analyzer="char")``, vectorised).

    Each text's n-grams (no n-gram crosses two texts) are hashed by a polynomial over code points,
    then Fibonacci-hashed into ``2**n_bits`` columns. ``min_df`` (learned in ``fit``) zeroes columns
    seen in fewer training texts.
    """

    def __init__(self, *, ngram_range=(2, 3), n_bits=18, min_df=2):
        self.ngram_range = ngram_range
        self.n_bits = n_bits
        self.min_df = min_df

    def _counts(self, X) -> sp.csr_matrix:
        texts = [str(t) for t in X]
        n_docs = len(texts)
        width = 1 << self.n_bits
        if n_docs == 0:
            return sp.csr_matrix((0, width), dtype=np.float64)
        joined = "\x00".join(texts) + "\x00"
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        lens = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=n_docs)
        doc = np.repeat(np.arange(n_docs, dtype=np.int64), lens)
        doc[np.cumsum(lens) - 1] = -1  # separator positions belong to no text
        rows, cols = [], []
        lo, hi = self.ngram_range
        shift = np.uint64(64 - self.n_bits)
        for n in range(lo, hi + 1):
            m = len(codes) - n + 1
            if m <= 0:
                continue
            h = np.zeros(m, dtype=np.uint64)
            for k in range(n):
                h = h * _BASE + codes[k:k + m]
            ok = (doc[:m] >= 0) & (doc[:m] == doc[n - 1:n - 1 + m])
            rows.append(doc[:m][ok])
            cols.append(((h[ok] + np.uint64(n)) * _MIX) >> shift)
        r = np.concatenate(rows)
        c = np.concatenate(cols).astype(np.int64)
        m = sp.csr_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(n_docs, width))
        m.sum_duplicates()
        return m

    def fit(self, X, y=None):
        counts = self._counts(X)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.keep_ = np.flatnonzero(df >= self.min_df)
        return self

    def transform(self, X):
        counts = self._counts(X)
        mask = np.zeros(counts.shape[1], dtype=bool)
        mask[self.keep_] = True
        counts.data[~mask[counts.indices]] = 0.0
        counts.eliminate_zeros()
        return counts


class CueTerms(TransformerMixin, BaseEstimator):
    """Presence (0/1) of each codebook cue term: the domain knowledge of labels/categories.yaml as
    features, whose weights the classifier learns (unlike the keyword baseline, which trusts them all)."""

    def __init__(self, *, terms=()):
        self.terms = terms

    def fit(self, X, y=None):
        import re

        self.terms_ = sorted(set(self.terms))
        self.pattern_ = re.compile("|".join(map(re.escape, sorted(self.terms_, key=len, reverse=True)))) \
            if self.terms_ else None
        self.index_ = {t: i for i, t in enumerate(self.terms_)}
        return self

    def transform(self, X):
        rows, cols = [], []
        if self.pattern_ is not None:
            for i, t in enumerate(X):
                for j in {self.index_[m] for m in self.pattern_.findall(str(t))}:
                    rows.append(i)
                    cols.append(j)
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(X), max(len(self.terms_), 1)))


def make_vectorizer(*, word_ngram_range=(1, 2), char_ngram_range=(2, 3), min_df=2,
                    max_features=60000, char_bits=18, cue_terms=()) -> FeatureUnion:
    """Word and character TF-IDF side by side (each sublinear tf, L2-normalised), plus cue terms."""
    words = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False,
                            ngram_range=tuple(word_ngram_range), min_df=min_df,
                            max_features=max_features, sublinear_tf=True)
    chars = Pipeline([("hash", CharNgramHasher(ngram_range=tuple(char_ngram_range), n_bits=char_bits,
                                               min_df=min_df)),
                      ("tfidf", TfidfTransformer(sublinear_tf=True))])
    parts = [("w", words), ("c", chars)]
    if cue_terms:
        parts.append(("cue", CueTerms(terms=tuple(cue_terms))))
    return FeatureUnion(parts)


def word_feature_names(vectorizer: FeatureUnion) -> np.ndarray:
    """Names of the word features, which come first in the union's columns."""
    return dict(vectorizer.transformer_list)["w"].get_feature_names_out()
