"""Stage 3 — features: TF-IDF over tokens (rjieba + domain dictionary) and over character n-grams.

Built by composition of scikit-learn parts. Word features use a vocabulary (readable, used for the
evidence column); character n-grams are hashed with numpy in one vectorised pass, because
scikit-learn's per-n-gram Python loop made them the slowest step of labelling (measured on the
city-report corpus: 4.5 s for (2, 3)-grams against about 0.5 s here). The tokenizer is a module-level function
so the fitted vectorizer pickles.

Training fits six models on overlapping sets of the same units (five cross-validation folds and the
final model). What a unit's features need that is not learned — its tokens, its character n-gram
counts, its cue terms — is computed once (``prepare``); each model then learns its vocabulary, idf,
n-gram mask and weights from its own rows only (``PreparedTexts.take``), with the same result as
fitting the union on those texts (``fit_transform_prepared``, tested).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from .predictor import _binary_csr, char_ngram_counts, cue_pattern, cue_presence, fit_pairs, mask_columns, word_ids
from .tokens import _cutter, tokenize


class CharNgramHasher(TransformerMixin, BaseEstimator):
    """Counts of hashed character n-grams (like ``HashingVectorizer(analyzer="char")``, vectorised).

    ``min_df`` (learned in ``fit``) zeroes the columns seen in fewer training texts.
    """

    def __init__(self, *, ngram_range=(2, 3), n_bits=18, min_df=2):
        self.ngram_range = ngram_range
        self.n_bits = n_bits
        self.min_df = min_df

    def fit(self, X, y=None):
        return self.fit_counts(char_ngram_counts(X, self.ngram_range, self.n_bits))

    def fit_counts(self, counts: sp.csr_matrix):
        """``fit`` from the texts' n-gram counts (``char_ngram_counts``)."""
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.keep_ = np.flatnonzero(df >= self.min_df)
        return self

    def transform(self, X):
        return mask_columns(char_ngram_counts(X, self.ngram_range, self.n_bits), self.keep_)


class CueTerms(TransformerMixin, BaseEstimator):
    """Presence (0/1) of each codebook cue term: the domain knowledge of the categories file (data/categories.yaml) as
    features, whose weights the classifier learns (unlike the keyword baseline, which trusts them all)."""

    def __init__(self, *, terms=()):
        self.terms = terms

    def fit(self, X, y=None):
        self.terms_ = sorted(set(self.terms))
        self.pattern_ = cue_pattern(self.terms_)
        return self

    def transform(self, X):
        return cue_presence(X, self.terms_, self.pattern_, width=max(len(self.terms_), 1))

    def transform_prepared(self, prep: "PreparedTexts") -> sp.csr_matrix:
        """``transform`` of prepared texts (their presence matrix, computed once for these terms)."""
        return prep.cues


def make_vectorizer(*, word_ngram_range=(1, 1), char_ngram_range=(2, 3), min_df=2,
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


@dataclass(frozen=True)
class PreparedTexts:
    """Per-text inputs of the features that nothing learned changes: tokens, character n-gram counts
    and cue-term presence of each (matching) text, row ``i`` for ``texts[i]``; ``segments``: the raw
    segmentation (punctuation included) that ``tokens`` keeps the words of, for the word pairs."""

    texts: list
    tokens: list
    chars: sp.csr_matrix
    cues: sp.csr_matrix | None
    segments: list

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, rows) -> "PreparedTexts":
        """The units ``rows`` (indices or a boolean mask) only: what a model fitted on them may see."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.intp)
        return PreparedTexts([self.texts[i] for i in rows], [self.tokens[i] for i in rows], self.chars[rows],
                             None if self.cues is None else self.cues[rows], [self.segments[i] for i in rows])


def _parts(vectorizer: FeatureUnion) -> tuple:
    parts = dict(vectorizer.transformer_list)
    return parts["w"], parts["c"], parts.get("cue")


def prepare(vectorizer: FeatureUnion, texts: list[str]) -> PreparedTexts:
    """Tokens, n-gram counts and cue presence of ``texts`` for a (fitted or not) ``make_vectorizer`` union."""
    _, chars, cue = _parts(vectorizer)
    hasher = chars.named_steps["hash"]
    segments = segments_of(texts)
    return PreparedTexts(list(texts), [list(filter(str.isalnum, s)) for s in segments],  # = tokenize(text)
                         char_ngram_counts(texts, hasher.ngram_range, hasher.n_bits),
                         None if cue is None else CueTerms(terms=cue.terms).fit(None).transform(texts), segments)


def _with_tokens(words: TfidfVectorizer, prep: PreparedTexts, method: str):
    """``words.<method>(prep.texts)`` with each text's tokens looked up instead of computed again; the
    vectorizer keeps its own tokenizer (what it learns does not depend on where the tokens come from)."""
    own = words.tokenizer
    words.set_params(tokenizer=dict(zip(prep.texts, prep.tokens)).__getitem__)
    try:
        return getattr(words, method)(prep.texts)
    finally:
        words.set_params(tokenizer=own)


def fit_transform_prepared(vectorizer: FeatureUnion, prep: PreparedTexts) -> sp.csr_matrix:
    """Fit ``vectorizer`` (a ``make_vectorizer`` union) on the prepared texts: the same fitted state and
    matrix as ``vectorizer.fit_transform(prep.texts).tocsr()``, without tokenising or counting again."""
    words, chars, cue = _parts(vectorizer)
    hasher, tfidf = chars.named_steps["hash"], chars.named_steps["tfidf"]
    blocks = [_with_tokens(words, prep, "fit_transform"),
              tfidf.fit_transform(mask_columns(prep.chars.copy(), hasher.fit_counts(prep.chars).keep_))]
    if cue is not None:
        blocks.append(cue.fit(prep.texts).transform_prepared(prep))
    return sp.hstack(blocks).tocsr()


def transform_prepared(vectorizer: FeatureUnion, prep: PreparedTexts) -> sp.csr_matrix:
    """``vectorizer.transform(prep.texts)`` (fitted union) from the prepared texts."""
    words, chars, cue = _parts(vectorizer)
    hasher, tfidf = chars.named_steps["hash"], chars.named_steps["tfidf"]
    blocks = [_with_tokens(words, prep, "transform"), tfidf.transform(mask_columns(prep.chars.copy(), hasher.keep_))]
    if cue is not None:
        blocks.append(cue.transform_prepared(prep))
    return sp.hstack(blocks).tocsr()


def segments_of(texts) -> list:
    """The raw segmentation of each (matching) text, as ``PreparedTexts.segments``."""
    return list(map(_cutter(), texts))


def fit_word_pairs(vectorizer: FeatureUnion, segments: list, min_df: int) -> tuple[np.ndarray, sp.csr_matrix]:
    """(the word pairs seen in at least ``min_df`` of the texts, their 0/1 matrix of words and pairs) for a
    fitted union: words are its word vocabulary, pairs two of them adjacent in a text's segmentation."""
    vocab = _parts(vectorizer)[0].vocabulary_
    ids, indptr = word_ids(segments, vocab)
    pairs = fit_pairs(ids, indptr, len(vocab), min_df)
    return pairs, _binary_csr(ids, indptr, len(vocab), pairs).tocsr()


def word_pair_matrix(vectorizer: FeatureUnion, segments: list, pairs: np.ndarray) -> sp.csr_matrix:
    """The 0/1 matrix of words and known ``pairs`` (``fit_word_pairs``) of segmented texts."""
    vocab = _parts(vectorizer)[0].vocabulary_
    return _binary_csr(*word_ids(segments, vocab), len(vocab), pairs).tocsr()
