"""Fast inference: a fitted PolicyClassifier reduced to arrays, usable without importing scikit-learn.

Batch labelling is the hot path. Importing scikit-learn alone costs about 1.9 s on the project's
2-core machines (``python -X importtime``), more than tokenising a whole report, and its
per-call input validation adds up over thousands of small batches. ``Predictor`` holds the same
learned numbers — word vocabulary and idf, character-hash mask and idf, cue terms, one weight
vector, intercept and sigmoid calibration (a, b) per category, thresholds — and computes exactly
the estimator's ``predict_proba`` with numpy alone (tested against it). It is written next to
the estimator at training time and checked by sha256 like it.

The label path does not import scipy either (``import scipy.sparse`` pulls in its array-API layer,
which walks numpy's attributes and imports numpy.f2py: 0.3 s of a 1 s short run). Its sparse matrices
are :class:`Csr` — scipy's three CSR arrays — and every operation on them does scipy's arithmetic in
scipy's order (row sums by ``np.add.reduceat`` as ``csr.sum(axis=1)``; products with the weights
summed entry by entry in row order, as ``csr_matvecs``), so probabilities are bit-identical (tested).
The public ``count_matrix``, ``char_ngram_counts`` and ``cue_presence`` still return scipy matrices
for training.
"""
from __future__ import annotations

import re
from functools import cached_property
from itertools import repeat

import numpy as np

from .duplicates import _sorted_unique, flat_keys
from .textnorm import normalise_all
from .tokens import _cutter, tokenize

_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing multiplier
_BASE = np.uint64(1_000_003)


_DOT_BLOCK = 1 << 15  # entries per block of Csr.dot_weights: about 1.5 MB of products for six categories (measured
# on 5,000 city-report units: 0.078 s and 6 MB at its peak, against 0.098 s and 200 MB in one block)


class Csr:
    """A CSR matrix as scipy holds it (``data``, ``indices``, ``indptr``, ``shape``), without scipy."""

    __slots__ = ("data", "indices", "indptr", "shape")

    def __init__(self, data, indices, indptr, shape):
        self.data, self.indices, self.indptr, self.shape = data, indices, indptr, tuple(shape)

    @property
    def nnz(self) -> int:
        return len(self.data)

    def row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def tocsr(self):
        import scipy.sparse as sp

        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)

    def dot_dense(self, Wt: np.ndarray) -> np.ndarray:
        """``self @ Wt.T`` (``Wt``: k × shape[1], one row of weights per output column) with scipy's
        ``csr_matvecs`` arithmetic: each output entry summed from 0 over the row's entries in order
        (``np.bincount`` adds its weights in input order)."""
        return self.dot_weights(np.ascontiguousarray(np.asarray(Wt).T))

    def dot_weights(self, WT: np.ndarray) -> np.ndarray:
        """``self @ WT`` (``WT``: shape[1] × k, C-contiguous: one row of k weights per column of self) with
        ``dot_dense``'s arithmetic. The k weights of every entry are gathered in one pass over rows of
        k adjacent numbers (not k passes over k scattered rows: the cache misses were most of the time),
        and summed by one ``np.bincount`` over (row, column) bins: each bin still adds its entries from 0 in
        entry order, as a bincount per output column did (the same bits), without transposing the products.
        Done in blocks of whole rows of about ``_DOT_BLOCK`` entries, so that the nnz × k products and bins
        never exist whole (a label chunk's character block has millions of entries)."""
        n, k = self.shape[0], WT.shape[1]
        out = np.empty((n, k))
        indptr = np.asarray(self.indptr)
        r0 = 0
        while r0 < n:
            end = min(int(indptr[r0]) + _DOT_BLOCK, int(indptr[-1]))
            r1 = max(int(np.searchsorted(indptr, end, side="right")) - 1, r0 + 1)
            r1 = min(r1, n)
            lo, hi = int(indptr[r0]), int(indptr[r1])
            prod = WT.take(self.indices[lo:hi], axis=0)  # entries × k: each entry's weights
            prod *= self.data[lo:hi, None]  # entry value × weight, as dot_dense multiplies them
            rows = np.repeat(np.arange(r1 - r0), np.diff(indptr[r0:r1 + 1]))
            bins = (rows * k)[:, None] + np.arange(k)
            out[r0:r1] = np.bincount(bins.ravel(), weights=prod.ravel(), minlength=(r1 - r0) * k).reshape(-1, k)
            r0 = r1
        return out


def count_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]):
    """CSR matrix (scipy) of how often each (row, col) pair occurs, indices sorted within rows.

    The same matrix as ``csr_matrix((ones, (rows, cols))).sum_duplicates()``, from one ``np.unique``
    over the flattened positions instead of scipy's COO → CSR conversion and per-row index sort.
    """
    return _count_csr(rows, cols, shape).tocsr()


def _count_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> Csr:
    """``count_matrix`` as a :class:`Csr`."""
    n_rows, width = shape
    uniq, counts = np.unique(flat_keys(rows, cols, n_rows, width), return_counts=True)
    uniq = uniq.astype(np.int64, copy=False)
    r = uniq // width
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_rows), out=indptr[1:])
    idx_dtype = np.int32 if max(width, len(uniq)) < 2**31 else np.int64
    return Csr(counts.astype(np.float64), (uniq - r * width).astype(idx_dtype), indptr.astype(idx_dtype), shape)


def char_ngram_counts(texts, ngram_range=(2, 3), n_bits=18):
    """Counts of hashed character n-grams, in one vectorised pass (no n-gram crosses two texts).

    Each n-gram is hashed by a polynomial over its code points, then Fibonacci-hashed into
    ``2**n_bits`` columns. A scipy CSR matrix (``_char_ngram_csr``: the same as a :class:`Csr`).
    """
    return _char_ngram_csr(texts, ngram_range, n_bits).tocsr()


def _char_ngram_csr(texts, ngram_range=(2, 3), n_bits=18, keep: np.ndarray | None = None) -> Csr:
    """``char_ngram_counts`` as a :class:`Csr`. ``keep`` (one bool per column): only those columns' counts
    — ``_mask_csr(_char_ngram_csr(texts), flatnonzero(keep))`` with the other n-grams dropped before they
    are counted. The hash of the n-grams is the (n-1)-grams' times the base plus the next code point:
    the same wrapping arithmetic as summing the n terms from 0."""
    texts = [str(t) for t in texts]
    n_docs = len(texts)
    width = 1 << n_bits
    if n_docs == 0:
        return Csr(np.zeros(0), np.zeros(0, np.int32), np.zeros(1, np.int32), (0, width))
    joined = "\x00".join(texts) + "\x00"
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lens = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=n_docs)
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lens)
    doc[np.cumsum(lens) - 1] = -1  # separator positions belong to no text
    rows, cols = [], []
    lo, hi = ngram_range
    shift = np.uint64(64 - n_bits)
    h = codes  # the 1-grams' hash: 0 * _BASE + code
    for n in range(1, hi + 1):
        m = len(codes) - n + 1
        if m <= 0:
            break
        if n > 1:
            h = h[:m] * _BASE + codes[n - 1:n - 1 + m]
        if n < lo:
            continue
        ok = (doc[:m] >= 0) & (doc[:m] == doc[n - 1:n - 1 + m])
        col = ((h[ok] + np.uint64(n)) * _MIX) >> shift
        row = doc[:m][ok]
        if keep is not None:
            kept = keep[col]
            row, col = row[kept], col[kept]
        rows.append(row)
        cols.append(col)
    if not rows:  # every text shorter than the smallest n: no n-gram at all
        return _count_csr(np.zeros(0, np.int64), np.zeros(0, np.int64), (n_docs, width))
    return _count_csr(np.concatenate(rows), np.concatenate(cols), (n_docs, width))


def mask_columns(X, keep: np.ndarray):
    """Zero every column not in ``keep`` (in place) and drop the zeros (a scipy CSR matrix)."""
    mask = np.zeros(X.shape[1], dtype=bool)
    mask[keep] = True
    X.data[~mask[X.indices]] = 0.0
    X.eliminate_zeros()
    return X


def _mask_csr(X: Csr, keep: np.ndarray) -> Csr:
    """``mask_columns`` for a :class:`Csr` of counts (no zeros of its own): the entries of other columns
    dropped."""
    mask = np.zeros(X.shape[1], dtype=bool)
    mask[keep] = True
    kept = mask[X.indices]
    indptr = np.zeros(len(X.indptr), dtype=X.indptr.dtype)
    np.cumsum(np.bincount(X.row_ids()[kept], minlength=X.shape[0]), out=indptr[1:])
    return Csr(X.data[kept], X.indices[kept], indptr, X.shape)


def _pair_keys(ids: np.ndarray, indptr: np.ndarray, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, key) of every pair of adjacent segments of one text that are both words of the vocabulary
    (``ids`` ≥ 0; -1 marks punctuation and unknown words, which break pairs); key = first × n_words + second."""
    ids = np.asarray(ids, dtype=np.int64)
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    ok = (ids[:-1] >= 0) & (ids[1:] >= 0) & (rows[:-1] == rows[1:])
    return rows[:-1][ok], ids[:-1][ok] * n_words + ids[1:][ok]


def fit_pairs(ids: np.ndarray, indptr: np.ndarray, n_words: int, min_df: int) -> np.ndarray:
    """The sorted keys of the word pairs (``_pair_keys``) found in at least ``min_df`` texts."""
    rows, keys = _pair_keys(ids, indptr, n_words)
    n_rows = max(len(indptr) - 1, 1)
    keys = np.unique(keys * n_rows + rows) // n_rows  # each pair once per text, in order
    keys, df = np.unique(keys, return_counts=True)
    return keys[df >= min_df]


class KeyIndex:
    """Where each of sorted distinct non-negative int64 keys is: ``find(queries)`` gives what a
    ``searchsorted`` and an equality test give (the key's position, -1 when it is not a key), by hashing
    instead of a binary search per query — a few vectorised rounds of one gather each.

    Open addressing with linear probing and no wrap-around: a table of 4 slots per key (plus room at the
    end), each key in the first free slot from its home slot (Fibonacci hashing) on. Placing the keys in
    the order of their home slots, key i (in that order) lands in ``max(home_i, slot_(i-1) + 1)``, which
    is ``i + cummax(home - i)``: one pass. A query probes from its home slot until it meets its key or an
    empty slot (a key's slot and its home slot have only occupied slots between them)."""

    def __init__(self, keys: np.ndarray):
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys) and (keys[0] < 0 or np.any(keys[1:] <= keys[:-1])):
            raise ValueError("KeyIndex needs sorted distinct non-negative keys")
        bits = max(int(4 * len(keys)).bit_length(), 4)
        self._shift = np.uint64(64 - bits)
        home = self._home(keys)
        order = np.argsort(home, kind="stable")
        slot = np.maximum.accumulate(home[order] - np.arange(len(keys))) + np.arange(len(keys))
        size = (1 << bits) + len(keys) + 1  # never full: the last slot stays empty
        self._keys = np.full(size, -1, dtype=np.int64)  # -1: an empty slot
        self._pos = np.full(size, -1, dtype=np.int32 if len(keys) < 2**31 else np.int64)
        self._keys[slot], self._pos[slot] = keys[order], order

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * _MIX) >> self._shift).astype(np.int64)

    def find(self, queries: np.ndarray) -> np.ndarray:
        queries = np.asarray(queries, dtype=np.int64)
        out = np.full(len(queries), -1, dtype=np.int64)
        todo, q, slot = np.arange(len(queries)), queries, self._home(queries)
        while len(todo):
            there = self._keys[slot]
            hit = there == q
            out[todo[hit]] = self._pos[slot[hit]]
            on = ~hit & (there != -1)  # another key's slot: probe the next one
            todo, q, slot = todo[on], q[on], slot[on] + 1
        return out


def _known_pairs(ids: np.ndarray, indptr: np.ndarray, n_words: int, pairs: np.ndarray,
                 index: KeyIndex | None = None):
    """(row, column among ``pairs``) of every pair of adjacent words (``_pair_keys``) that is one of ``pairs``
    (``index``: a ``KeyIndex`` of ``pairs``, which finds them faster)."""
    prow, keys = _pair_keys(ids, indptr, n_words)
    if index is not None:
        pos = index.find(keys)
        hit = pos >= 0
        return prow[hit], pos[hit]
    pos = np.searchsorted(pairs, keys)
    hit = pos < len(pairs)
    hit[hit] = pairs[pos[hit]] == keys[hit]
    return prow[hit], pos[hit]


def _binary_csr(ids: np.ndarray, indptr: np.ndarray, n_words: int, pairs: np.ndarray) -> Csr:
    """0/1 matrix: the vocabulary's words (columns 0..n_words) and known word pairs (after them) of each text."""
    ids = np.asarray(ids, dtype=np.int64)
    n = len(indptr) - 1
    rows = np.repeat(np.arange(n), np.diff(indptr))
    known = ids >= 0
    prow, pos = _known_pairs(ids, indptr, n_words, pairs)
    m = _count_csr(np.concatenate([rows[known], prow]), np.concatenate([ids[known], n_words + pos]),
                   (n, n_words + len(pairs)))
    m.data[:] = 1.0
    return m


def _pair_scores(counts: Csr, ids: np.ndarray, indptr: np.ndarray, pairs: np.ndarray, W: np.ndarray,
                 WT: np.ndarray | None = None, index: KeyIndex | None = None) -> np.ndarray:
    """``_binary_csr(ids, indptr, n_words, pairs) @ W.T`` from the texts' word counts (``_count_csr`` of the
    same ``ids``: each word of a text once, as the 0/1 matrix has it) without building that matrix: the
    words' weights summed per text, then the known pairs' (each pair once per text). ``WT``: ``W.T``
    C-contiguous, when the caller keeps one (the weights are gathered from its rows, as in
    ``Csr.dot_weights``); ``index``: a ``KeyIndex`` of ``pairs``."""
    n_words, n = counts.shape[1], counts.shape[0]
    WT = np.ascontiguousarray(np.asarray(W).T) if WT is None else WT
    prow, pos = _known_pairs(ids, indptr, n_words, pairs, index)
    width = max(len(pairs), 1)
    # np.unique without counts takes numpy 2's hash-table path here, 7× slower than sorting
    found = _sorted_unique(flat_keys(prow, pos, n, width)).astype(np.int64, copy=False)
    rows = counts.row_ids()
    prow, pcol = found // width, n_words + found % width
    words, known = WT.take(counts.indices, axis=0).T.copy(), WT.take(pcol, axis=0).T.copy()
    out = np.empty((n, WT.shape[1]))
    for k in range(WT.shape[1]):
        out[:, k] = (np.bincount(rows, weights=words[k], minlength=n)
                     + np.bincount(prow, weights=known[k], minlength=n))
    return out


def word_ids(segments, vocabulary: dict) -> tuple[np.ndarray, np.ndarray]:
    """(vocabulary id of every segment, -1 when it is not a word of it; row pointer) of segmented texts."""
    get, ids, indptr = vocabulary.get, [], [0]
    for seg in segments:
        ids.extend(map(get, seg, repeat(-1)))
        indptr.append(len(ids))
    return np.asarray(ids, dtype=np.int64), np.asarray(indptr, dtype=np.int64)


_SEP_ID = -2  # the id of the newline between joined texts in ``separator_vocabulary``


def separator_vocabulary(vocabulary: dict) -> dict:
    """``vocabulary`` with the newline as a word of id -2, for :func:`segment_ids` (keep it: it is a copy).
    A vocabulary that has the newline as a word already is refused."""
    if "\n" in vocabulary:
        raise ValueError("the newline is a word of the vocabulary")
    return {**vocabulary, "\n": _SEP_ID}


def _one_by_one(texts: list[str], vocabulary: dict, cut) -> tuple[np.ndarray, np.ndarray]:
    """``word_ids`` of the texts cut one by one; a newline inside a text is no word (-1) even when the
    vocabulary is a ``separator_vocabulary``."""
    ids, indptr = word_ids(map(cut, texts), vocabulary)
    ids[ids == _SEP_ID] = -1
    return ids, indptr


def segment_ids(texts: list[str], vocabulary: dict, cut) -> tuple[np.ndarray, np.ndarray]:
    """``word_ids(map(cut, texts), vocabulary)`` with one call of ``cut`` on the texts joined by newlines
    instead of one per text (a quarter less time: the per-call cost of the tokenizer is much of a short
    text's). jieba and rjieba cut a text into blocks at every character that is not a word character
    before segmenting each block, and a newline is always a token of its own (only "\\r\\n" is one token
    of two characters): the joined text's tokens are the texts' tokens with one "\\n" between texts.
    Texts that hold a newline themselves, or a "\\r\\n", are cut one by one. ``vocabulary`` may be a
    ``separator_vocabulary`` (else one is made for the call)."""
    texts = texts if isinstance(texts, list) else list(texts)
    joined = "\n".join(texts)
    if len(texts) < 2 or joined.count("\n") != len(texts) - 1 or "\r\n" in joined:
        return _one_by_one(texts, vocabulary, cut)
    if vocabulary.get("\n") != _SEP_ID:
        vocabulary = separator_vocabulary(vocabulary)
    toks = cut(joined)
    ids = np.fromiter(map(vocabulary.get, toks, repeat(-1)), dtype=np.int64, count=len(toks))
    sep = ids == _SEP_ID
    row = np.cumsum(sep)  # the text each token belongs to
    if len(toks) and row[-1] != len(texts) - 1:  # pragma: no cover - not how jieba cuts
        return _one_by_one(texts, vocabulary, cut)
    keep = ~sep
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[keep], minlength=len(texts)), out=indptr[1:])
    return ids[keep], indptr


def cue_pattern(terms) -> re.Pattern | None:
    """One alternation of the cue terms, longest first (so 数据要素 wins over 数据)."""
    return re.compile("|".join(map(re.escape, sorted(terms, key=len, reverse=True)))) if terms else None


def cue_presence(texts, terms, pattern=None, width=None):
    """0/1 matrix (scipy CSR): which of ``terms`` (columns, in that order) each text contains."""
    return _cue_csr(texts, terms, pattern, width).tocsr()


def _cue_csr(texts, terms, pattern=None, width=None) -> Csr:
    """``cue_presence`` as a :class:`Csr`, column indices sorted within each row (as scipy's COO → CSR
    conversion leaves them)."""
    index = {t: i for i, t in enumerate(terms)}
    pattern = pattern if pattern is not None else cue_pattern(terms)
    indptr, cols = [0], []
    for t in texts if pattern is not None else ():
        cols.extend(sorted({index[m] for m in pattern.findall(str(t))}))
        indptr.append(len(cols))
    if pattern is None:
        indptr = [0] * (len(texts) + 1)
    return Csr(np.ones(len(cols)), np.asarray(cols, dtype=np.int32), np.asarray(indptr, dtype=np.int32),
               (len(texts), len(terms) if width is None else width))


def top_terms(X, predicted, coef, names, k: int = 3) -> list[str]:
    """For each unit, the ``k`` word features that pushed its predicted labels up most.

    ``coef`` (categories × features, dense or sparse) holds each feature's weight per category; the
    word features are the first ``len(names)`` columns of ``X``. A feature's push is its largest
    weight × value over the unit's predicted categories; ties keep the order of the row's entries.
    One vectorised pass over the non-zeros of the units with a predicted label instead of a Python loop
    per unit.
    """
    n_words = len(names)
    Xw = X if X.shape[1] == n_words else X.tocsr()[:, :n_words].tocsr()
    W = coef[:, :n_words]
    W = W.toarray() if hasattr(W, "toarray") else np.asarray(W)
    predicted = np.asarray(predicted).astype(bool)
    n = Xw.shape[0]
    row = np.repeat(np.arange(n), np.diff(Xw.indptr))
    # only the entries of units with a predicted label can push one (most units have none)
    pos = np.flatnonzero(predicted.any(axis=1)[row])
    row, idx, val = row[pos], Xw.indices[pos], Xw.data[pos]
    push = np.where(predicted[row].T, W[:, idx] * val, -np.inf)  # categories × non-zeros
    contrib = push.max(axis=0) if len(push) else np.full(len(idx), -np.inf)
    keep = contrib > 0
    pos = pos[keep]
    row, contrib, idx = row[keep], contrib[keep], idx[keep]
    order = np.lexsort((pos, -contrib, row))  # by row, then push descending, then entry order
    row, idx = row[order], idx[order]
    first = np.searchsorted(row, row, side="left")
    top = (np.arange(len(row)) - first) < k
    out = [[] for _ in range(n)]
    for i, j in zip(row[top].tolist(), idx[top].tolist()):
        out[i].append(names[j])
    return [";".join(t) for t in out]


def label_strings(predicted, categories) -> list[str]:
    """';'-joined category names of each row of a 0/1 matrix (empty for none)."""
    predicted = np.asarray(predicted).astype(bool)
    k = predicted.shape[1]
    if k > 16:
        return [";".join(np.asarray(categories)[np.flatnonzero(r)]) for r in predicted]
    cats = [str(c) for c in categories]
    table = [";".join(c for b, c in enumerate(cats) if code >> b & 1) for code in range(1 << k)]
    codes = predicted.astype(np.int64) @ (1 << np.arange(k, dtype=np.int64)) if k else np.zeros(len(predicted), int)
    return [table[c] for c in codes.tolist()]


def decide(proba: np.ndarray, thresholds, gates=None) -> np.ndarray:
    """0/1 labels: a category where its probability reaches its threshold, but only for units where some
    category's probability reaches its gate (``gates``: per category; None: no gate)."""
    pred = np.asarray(proba) >= np.asarray(thresholds, dtype=float)
    if gates is not None:
        pred &= (np.asarray(proba) >= np.asarray(gates, dtype=float)).any(axis=1)[:, None]
    return pred


def add_label_columns(units, proba, thresholds, categories, evidence, gates=None):
    """``units`` plus p_<category> (4 decimals), labels (';'-joined, empty for none) and evidence."""
    pred = decide(proba, thresholds, gates)
    out = units.copy()
    for j, c in enumerate(categories):
        out[f"p_{c}"] = np.round(proba[:, j], 4)
    out["labels"] = [";".join(categories[np.flatnonzero(r)]) for r in pred]
    out["evidence"] = evidence
    return out


def _tfidf(counts: Csr, idf: np.ndarray) -> Csr:
    """sublinear tf (1 + log), times idf, rows L2-normalised — TfidfTransformer's arithmetic."""
    data = counts.data.astype(np.float64, copy=True)
    np.log(data, out=data)
    data += 1.0
    data *= idf[counts.indices]
    # the squared entries summed per row as scipy's csr.sum(axis=1) does (np.add.reduceat over the
    # non-empty rows): the same bits as X.multiply(X).sum(axis=1)
    sq_sums = np.zeros(counts.shape[0])
    rows = np.flatnonzero(np.diff(counts.indptr))
    if len(rows):
        sq_sums[rows] = np.add.reduceat(data * data, counts.indptr[rows])
    norms = np.sqrt(sq_sums)
    norms[norms == 0] = 1.0
    data /= np.repeat(norms, np.diff(counts.indptr))
    return Csr(data, counts.indices, counts.indptr, counts.shape)


def blend(p: np.ndarray, z: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * p + weight * sigmoid(z)``: the probabilities of two models averaged."""
    return (1.0 - weight) * p + weight / (1.0 + np.exp(-z))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1.0 - p))


def post_calibrate(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sigmoid (Platt) calibration of probabilities ``p``: ``1 / (1 + exp(a logit(p) + b))`` per column."""
    return 1.0 / (1.0 + np.exp(a * logit(p) + b))


class Predictor:
    def __init__(self, *, categories, thresholds, word_names, word_ngram_range, word_idf, char_ngram_range,
                 char_bits, char_keep, char_idf, cue_terms, coef, intercept, calib_a, calib_b,
                 nb_weight=0.0, nb_pairs=None, nb_coef=None, nb_intercept=None, post_a=None, post_b=None,
                 gates_=None):
        self.categories_ = np.asarray(categories)
        self.thresholds_ = np.asarray(thresholds, dtype=float)
        # the vocabulary is stored as one string of names in column order: it unpickles in
        # microseconds, where a 60,000-entry dict takes joblib's Python unpickler most of a second
        self.word_names_text = "\n".join(word_names)
        self.word_ngram_range = tuple(word_ngram_range)
        self.word_idf = word_idf
        self.char_ngram_range = tuple(char_ngram_range)
        self.char_bits = char_bits
        self.char_keep = char_keep
        self.char_idf = char_idf
        self.cue_terms = list(cue_terms)
        self.coef = coef            # n_categories × n_features, dense (unused hash columns are zero)
        self.intercept = intercept
        self.calib_a = calib_a
        self.calib_b = calib_b
        # the word-and-word-pair model blended in with weight nb_weight (classify.PolicyClassifier):
        # nb_coef holds its weights already multiplied by the log-count ratios (words, then the pairs nb_pairs)
        self.nb_weight = float(nb_weight)
        self.nb_pairs, self.nb_coef, self.nb_intercept = nb_pairs, nb_coef, nb_intercept
        self.post_a, self.post_b = post_a, post_b  # sigmoid calibration of the blend (None: none)
        self.gates_ = gates_  # a unit gets labels only when a category reaches its gate (None: no gate)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    # ---------------------------------------------------------------- storage without pickle
    _ARRAYS = ("thresholds_", "word_idf", "char_keep", "char_idf", "coef", "intercept", "calib_a", "calib_b")
    _OPTIONAL = ("nb_pairs", "nb_coef", "nb_intercept", "post_a", "post_b", "gates_")
    FORMAT = "aipolicy-predictor/2"
    READS = ("aipolicy-predictor/1", FORMAT)  # format 1: no blended model, no calibration of the blend

    def to_parts(self) -> tuple[dict, dict]:
        """(JSON-able settings and vocabulary, numeric arrays): the whole Predictor, without pickle."""
        meta = {"format": self.FORMAT, "categories": [str(c) for c in self.categories_],
                "thresholds": [float(t) for t in self.thresholds_],
                "word_ngram_range": list(self.word_ngram_range), "char_ngram_range": list(self.char_ngram_range),
                "char_bits": int(self.char_bits), "cue_terms": list(self.cue_terms),
                "word_names": self.word_names, "nb_weight": self.nb_weight}
        arrays = {k: np.asarray(getattr(self, k)) for k in self._ARRAYS}
        arrays.update({k: np.asarray(getattr(self, k)) for k in self._OPTIONAL if getattr(self, k) is not None})
        return meta, arrays

    @classmethod
    def from_parts(cls, meta: dict, arrays: dict) -> "Predictor":
        """Inverse of :meth:`to_parts`; checks that the parts fit together."""
        if meta.get("format") not in cls.READS:
            raise ValueError(f"predictor format {meta.get('format')!r}, expected one of {', '.join(cls.READS)}")
        k, n_words = len(meta["categories"]), len(meta["word_names"])
        n_features = n_words + (1 << int(meta["char_bits"])) + len(meta["cue_terms"])
        shapes = {"thresholds_": (k,), "word_idf": (n_words,), "char_idf": (1 << int(meta["char_bits"]),),
                  "coef": (k, n_features), "intercept": (k,), "calib_a": (k,), "calib_b": (k,)}
        for key, shape in shapes.items():
            if arrays[key].shape != shape:
                raise ValueError(f"array {key} has shape {arrays[key].shape}, expected {shape}")
        if not np.array_equal(arrays["thresholds_"], np.asarray(meta["thresholds"], dtype=float)):
            raise ValueError("thresholds in predictor.json and predictor.npz differ")
        opt = cls._optional_parts(meta, arrays, k, n_words)
        return cls(categories=meta["categories"], thresholds=arrays["thresholds_"], word_names=meta["word_names"],
                   word_ngram_range=meta["word_ngram_range"], word_idf=arrays["word_idf"],
                   char_ngram_range=meta["char_ngram_range"], char_bits=int(meta["char_bits"]),
                   char_keep=arrays["char_keep"], char_idf=arrays["char_idf"], cue_terms=meta["cue_terms"],
                   coef=arrays["coef"], intercept=arrays["intercept"], calib_a=arrays["calib_a"],
                   calib_b=arrays["calib_b"], nb_weight=float(meta.get("nb_weight", 0.0)), **opt)

    @classmethod
    def _optional_parts(cls, meta: dict, arrays: dict, k: int, n_words: int) -> dict:
        """The arrays of format 2 (None where absent), checked: the word-pair model's when it is blended in,
        both calibration arrays or neither, one gate per category."""
        opt = {key: arrays.get(key) for key in cls._OPTIONAL}
        if float(meta.get("nb_weight", 0.0)) > 0:
            width = n_words + len(opt["nb_pairs"] if opt["nb_pairs"] is not None else ())
            for key, shape in {"nb_coef": (k, width), "nb_intercept": (k,)}.items():
                if opt[key] is None or opt[key].shape != shape:
                    raise ValueError(f"array {key} is missing or not of shape {shape}")
        if (opt["post_a"] is None) != (opt["post_b"] is None) or any(
                opt[key] is not None and opt[key].shape != (k,) for key in ("post_a", "post_b")):
            raise ValueError(f"arrays post_a and post_b must both be present with shape ({k},), or neither")
        if opt["gates_"] is not None and opt["gates_"].shape != (k,):
            raise ValueError(f"array gates_ has shape {opt['gates_'].shape}, expected ({k},)")
        return opt

    @property
    def word_names(self) -> list[str]:
        if "_names" not in self.__dict__:
            self._names = self.word_names_text.split("\n") if self.word_names_text else []
        return self._names

    @property
    def vocabulary(self) -> dict:
        if "_vocab" not in self.__dict__:
            self._vocab = {w: i for i, w in enumerate(self.word_names)}
        return self._vocab

    # ---------------------------------------------------------------- features
    def _segment_ids(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """``word_ids`` of the texts' raw segmentation (punctuation included, as -1)."""
        return segment_ids(texts, self._seg_vocab, _cutter())

    @cached_property
    def _seg_vocab(self) -> dict:
        return separator_vocabulary(self.vocabulary)

    def _word_counts(self, texts, seg=None) -> Csr:
        lo, hi = self.word_ngram_range
        get = self.vocabulary.get
        indptr, ids = [0], []
        if (lo, hi) == (1, 1) and self._vocabulary_alnum:
            # single words: tokenize() only drops tokens that are not alphanumeric (punctuation,
            # spaces), and such a token is never in a vocabulary built from tokenize(): look the raw
            # segmentation up directly and skip the filter and the list per text
            ids, indptr = seg if seg is not None else self._segment_ids(texts)
            texts = ()
        for t in texts:
            toks = tokenize(t)
            for n in range(lo, hi + 1):
                grams = toks if n == 1 else map(" ".join, zip(*(toks[i:] for i in range(n))))
                ids.extend(map(get, grams, repeat(-1)))  # -1: not in the vocabulary
            indptr.append(len(ids))
        n_texts = len(indptr) - 1
        ids = np.asarray(ids, dtype=np.int64)
        known = ids >= 0
        rows = np.repeat(np.arange(n_texts), np.diff(indptr))[known]
        return _count_csr(rows, ids[known], (n_texts, len(self.word_idf)))

    @cached_property
    def _vocabulary_alnum(self) -> bool:
        return all(map(str.isalnum, self.word_names))

    @cached_property
    def _char_mask(self) -> np.ndarray:
        """One bool per hashed character column: is it among ``char_keep``?"""
        mask = np.zeros(1 << int(self.char_bits), dtype=bool)
        mask[self.char_keep] = True
        return mask

    @cached_property
    def _cue_re(self):
        return cue_pattern(self.cue_terms)

    def _cue_matrix(self, texts) -> Csr:
        return _cue_csr(texts, self.cue_terms, self._cue_re)

    def feature_blocks(self, texts, *, normalised: bool = False, counts: Csr | None = None) -> list[Csr]:
        """[word TF-IDF, character TF-IDF, cue presence] — the estimator's FeatureUnion, in order.
        Features see the matching text (textnorm.normalise); ``normalised=True`` says the texts already are
        (``counts``: their ``_word_counts``, when already computed)."""
        texts = [str(t) for t in texts] if normalised else normalise_all(texts)
        w = _tfidf(self._word_counts(texts) if counts is None else counts, self.word_idf)
        chars = _char_ngram_csr(texts, self.char_ngram_range, self.char_bits, keep=self._char_mask)
        return [w, _tfidf(chars, self.char_idf), self._cue_matrix(texts)]

    def features(self, texts):
        """The feature matrix (scipy CSR), blocks side by side."""
        import scipy.sparse as sp

        return sp.hstack([b.tocsr() for b in self.feature_blocks(texts)], format="csr")

    # ---------------------------------------------------------------- prediction
    def _proba(self, blocks, pair_scores: np.ndarray | None = None) -> np.ndarray:
        # sum of the blocks' products with their columns of the (categories × features) weights
        f = np.tile(self.intercept, (blocks[0].shape[0], 1))
        start = 0
        for b in blocks:
            end = start + b.shape[1]
            f += b.dot_weights(self._weights_t[start:end]) if isinstance(b, Csr) else b @ self._weights_t[start:end]
            start = end
        p = 1.0 / (1.0 + np.exp(self.calib_a * f + self.calib_b))
        if pair_scores is not None:
            p = blend(p, pair_scores + self.nb_intercept, self.nb_weight)
        return p if self.post_a is None else post_calibrate(p, self.post_a, self.post_b)

    def _blocks(self, texts, normalised: bool = False) -> tuple[list[Csr], np.ndarray | None]:
        """(``feature_blocks``, the word-pair model's scores or None) of the texts, segmenting each once."""
        texts = [str(t) for t in texts] if normalised else normalise_all(texts)
        if self.nb_weight <= 0:
            return self.feature_blocks(texts, normalised=True), None
        seg = self._segment_ids(texts)  # the blend needs single words: _word_counts' fast path
        counts = self._word_counts(texts, seg)
        return (self.feature_blocks(texts, normalised=True, counts=counts),
                _pair_scores(counts, *seg, self.nb_pairs, self.nb_coef, self._nb_weights_t, self._pair_index))

    @cached_property
    def _weights_t(self) -> np.ndarray:
        """The weights as features × categories, contiguous (for ``Csr.dot_weights`` and scipy matrices):
        a view when ``coef`` is column-major (as ``load_predictor`` reads it), else a copy (13 MB for the
        default model)."""
        return np.ascontiguousarray(self.coef.T)

    @cached_property
    def _pair_index(self) -> KeyIndex:
        """A ``KeyIndex`` of the word pairs."""
        return KeyIndex(self.nb_pairs)

    @cached_property
    def _nb_weights_t(self) -> np.ndarray:
        """The word-pair model's weights as words-and-pairs × categories, contiguous."""
        return np.ascontiguousarray(self.nb_coef.T)

    def predict_proba(self, texts) -> np.ndarray:
        return self._proba(*self._blocks(texts))

    def label_columns(self, texts, *, evidence_terms: int = 3, normalised: bool = False) -> dict:
        """The label columns for ``texts``: p_<category> arrays, labels and evidence lists."""
        blocks, pairs = self._blocks(texts, normalised)
        proba = self._proba(blocks, pairs)
        pred = decide(proba, self.thresholds_, self.gates_)
        cols = {f"p_{c}": np.round(proba[:, j], 4) for j, c in enumerate(self.categories_)}
        cols["labels"] = label_strings(pred, self.categories_)
        cols["evidence"] = top_terms(blocks[0], pred, self.coef, self.word_names, evidence_terms)
        return cols

    def label(self, units, *, evidence_terms: int = 3):
        """Same columns as PolicyClassifier.label: ``units`` with the ``label_columns`` added."""
        out = units.copy()
        for name, values in self.label_columns(units["text"].tolist(), evidence_terms=evidence_terms).items():
            out[name] = values
        return out


def from_estimator(clf) -> Predictor:
    """Reduce a fitted PolicyClassifier (with sigmoid calibration, ensemble=False, or none; with or without
    the blended word-pair model and the calibration of the blend) to a Predictor."""
    union = dict(clf.vectorizer_.transformer_list)
    words, chars = union["w"], union["c"]
    hasher = chars.named_steps["hash"]
    k = len(clf.categories_)
    coef = np.zeros((k, clf.coef_.shape[1]))
    intercept, a, b = np.zeros(k), np.zeros(k), np.zeros(k)
    for j, est in enumerate(clf.estimators_):
        if isinstance(est, float):  # a category with one class only: constant probability
            a[j], b[j] = 0.0, float(np.log(1 / est - 1)) if 0 < est < 1 else (-50.0 if est >= 1 else 50.0)
            continue
        if hasattr(est, "calibrated_classifiers_"):
            (cc,) = est.calibrated_classifiers_
            lr, cal = cc.estimator, cc.calibrators[0]
            a[j], b[j] = cal.a_, cal.b_
        else:  # too few positives to calibrate: plain logistic regression
            lr = est
            a[j], b[j] = -1.0, 0.0
        coef[j] = lr.coef_[0]
        intercept[j] = lr.intercept_[0]
    cues = list(union["cue"].terms_) if "cue" in union else []
    return Predictor(categories=list(clf.categories_), thresholds=clf.thresholds_,
                     word_names=list(clf._word_names()), word_ngram_range=words.ngram_range,
                     word_idf=words.idf_.copy(), char_ngram_range=hasher.ngram_range, char_bits=hasher.n_bits,
                     char_keep=hasher.keep_, char_idf=chars.named_steps["tfidf"].idf_.copy(), cue_terms=cues,
                     coef=coef, intercept=intercept, calib_a=a, calib_b=b,
                     nb_weight=clf.nb_weight if clf.nb_coef_ is not None else 0.0, nb_pairs=clf.nb_pairs_,
                     nb_coef=clf.nb_coef_, nb_intercept=clf.nb_intercept_, post_a=clf.post_a_, post_b=clf.post_b_,
                     gates_=clf.gates_)
