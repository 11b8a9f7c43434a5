"""Stage 2 — units: a document's paragraphs become units (paragraphs or runs of whole sentences).

Rules (documented in the README):
- a paragraph (one cleaned line) is a unit;
- a paragraph longer than ``MAX_CHARS`` is split into runs of whole sentences (ending in 。！？；)
  of at most ``MAX_CHARS`` characters; a single sentence longer than that is cut at commas;
- a unit with fewer than ``MIN_HAN`` Chinese characters is a fragment ("分享", "2023-05-19",
  "各位代表:") and is dropped; headings such as "建设人工智能公共算力中心" are kept;
- within one document, exact duplicates (ignoring punctuation and spaces) and near-duplicates
  (character 4-gram Jaccard similarity >= ``NEAR_DUP`` with an earlier kept unit) are dropped, which
  also removes an article repeated inside one file; the search is an exact prefix-filter index, in
  time linear in the number of units, skipped when a linear count shows that no two units can reach
  the threshold (see ``duplicate_mask``);
- ``unit_id`` = sha256(doc_id + text)[:16]: same text in the same document, same id, everywhere.
"""
from __future__ import annotations

import hashlib
import math
import re

import numpy as np

from .duplicates import flat_keys
from .textnorm import split_points, strip_non_word, word_points

MAX_CHARS = 500
# private keys of a unit row, read by the place and label stages and dropped before output
NORM = "_norm"            # the normalised text (matching, features, places)
ROW_CITY = "_row_city"    # a table input's own city column
MIN_HAN = 6
NEAR_DUP = 0.8
SHINGLE = 4
# index entries looked at per unit when searching its near-duplicates (bounds the time per unit)
MAX_PROBES = 64

_SENTENCE_RE = re.compile(r"[^。!?;！？；]*[。!?;！？；]+[”’\"')）]*|[^。!?;！？；]+$")
_CLAUSE_RE = re.compile(r"[^,，、]*[,，、]+|[^,，、]+$")
_CLAUSE_SPLIT = re.compile(r"[,，、;；。!！?？:：()（）\s]+")


def _min_han_re(n: int) -> re.Pattern:
    return re.compile(r"(?:[^\u3400-\u9fff\uf900-\ufaff]*[\u3400-\u9fff\uf900-\ufaff]){%d}" % n)


_ENOUGH_HAN = _min_han_re(MIN_HAN)


def _pack(pieces: list[str], limit: int) -> list[str]:
    runs, cur = [], ""
    for p in pieces:
        if cur and len(cur) + len(p) > limit:
            runs.append(cur)
            cur = ""
        cur += p
    if cur:
        runs.append(cur)
    return runs


def split_paragraph(par: str, limit: int = MAX_CHARS) -> list[str]:
    """Split a long paragraph into runs of whole sentences of at most ``limit`` characters."""
    if len(par) <= limit:
        return [par]
    pieces: list[str] = []
    for sent in _SENTENCE_RE.findall(par):
        if len(sent) <= limit:
            pieces.append(sent)
            continue
        for run in _pack(_CLAUSE_RE.findall(sent), limit):  # an over-long sentence: cut at commas
            pieces.extend(run[i:i + limit] for i in range(0, len(run), limit))
    return [r.strip() for r in _pack(pieces, limit) if r.strip()]


def unit_id(doc_id: str, text: str) -> str:
    return hashlib.sha256(f"{doc_id}\x1f{text}".encode("utf-8")).hexdigest()[:16]


def _shingles(key: str) -> set:
    """The character 4-grams of a key (the key itself when shorter): what Jaccard compares."""
    if len(key) <= SHINGLE:
        return {key}
    return {key[i:i + SHINGLE] for i in range(len(key) - SHINGLE + 1)}


_P = np.uint64(0x100000001B3)  # FNV-1 64-bit prime: a 4-gram's code points folded into one 64-bit code
_SHORT = np.uint64(0x9E3779B97F4A7C15)  # marks a key shorter than a 4-gram (its own single shingle)


def _shingle_codes(key: str) -> np.ndarray:
    """The key's 4-grams as sorted unique 64-bit codes: ``_shingles`` in 8 bytes per shingle instead of
    a Python string each (collisions between different 4-grams: ~1e-7 for a million distinct ones)."""
    cps = np.frombuffer(key.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    if len(cps) < SHINGLE:
        h = _SHORT
        with np.errstate(over="ignore"):  # arithmetic modulo 2**64, as below
            for c in cps:
                h = h * _P + c
        return np.array([h], dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = cps[:-3] * _P
        h = (h + cps[1:-2]) * _P
        h = (h + cps[2:-1]) * _P
        h = h + cps[3:]
    return np.unique(h)


_POS = 1 << 20  # index entries pack (text, position in its prefix) into one int; a prefix is shorter


def _prefix_len(n: int, threshold: float) -> int:
    """Length of the prefix filter: two sets with Jaccard >= t share a token within the first
    ``n - ceil(t*n) + 1`` tokens of each, under any one global order of the tokens."""
    return n - math.ceil(threshold * n - 1e-9) + 1


def _position_codes(keys: list[str], points: tuple[np.ndarray, np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(owner, codes): the code of every 4-gram position of every key, in text order, then the single
    code of each key shorter than a 4-gram; ``owner`` is the key of each code. Repeats are kept.
    ``points``: the keys' code points one after the other and the length of each, if already known
    (``textnorm.word_points``); then ``keys`` is not read."""
    if points is None:
        points = (np.frombuffer("".join(keys).encode("utf-32-le", "surrogatepass"), dtype=np.uint32),
                  np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)))
    cps, lens = points[0].astype(np.uint64), points[1]
    owner_of = np.repeat(np.arange(len(lens), dtype=np.int32), lens)
    m = max(len(cps) - SHINGLE + 1, 0)
    with np.errstate(over="ignore"):
        h = cps[:m] * _P
        h += cps[1:m + 1]
        h *= _P
        h += cps[2:m + 2]
        h *= _P
        h += cps[3:m + 3]
        inside = owner_of[:m] == owner_of[SHINGLE - 1:]  # a 4-gram within one key
        short = np.flatnonzero(lens < SHINGLE)  # a key shorter than a 4-gram is its own single shingle
        hs = np.full(len(short), _SHORT, dtype=np.uint64)
        starts = np.cumsum(lens) - lens
        for j in range(SHINGLE - 1):
            more = lens[short] > j
            hs[more] = hs[more] * _P + cps[starts[short][more] + j]
    return np.concatenate([owner_of[:m][inside], short]), np.concatenate([h[inside], hs])


def _all_shingle_codes(keys: list[str], positions: tuple[np.ndarray, np.ndarray] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(owner, codes): ``_shingle_codes`` of every key in one vectorised pass over all their code points —
    the distinct (key, code) pairs ordered by code (so ``codes[owner == i]`` is ``_shingle_codes(keys[i])``);
    ``owner`` is the key of each code. ``positions``: ``_position_codes(keys)`` if already computed."""
    owner, codes = _position_codes(keys) if positions is None else positions
    # one stable sort by code: within a code the 4-grams of one key stay together (in text order, and a
    # short key has one code), so a repeated 4-gram of a key is next to its first occurrence
    order = np.argsort(codes, kind="stable")
    owner, codes = owner[order], codes[order]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = (owner[1:] != owner[:-1]) | (codes[1:] != codes[:-1])
    return owner[first], codes[first]


def _none_can_match(n_keys: int, owner: np.ndarray, codes: np.ndarray, threshold: float) -> bool:
    """True when no two of the keys can have Jaccard >= ``threshold`` (nor be equal), so that none is a
    duplicate — decided in linear time from the keys' position codes (``_position_codes``), without
    the sorts of the index.

    A key whose 4-gram positions hold more than a (1 - t) share of codes found nowhere else in the
    document cannot reach Jaccard t with any other key: it shares at most n - u of its n distinct
    shingles (u: its positions whose code is alone, each a distinct shingle of its own), so J <= 1 - u/n
    <= 1 - u/positions < t. Two keys that match are both not so; when at most one key is not, nothing
    matches. A code is found alone by counting codes in hash buckets; if that leaves a few keys in doubt
    (more than one, at most a tenth: bucket collisions put few in doubt, repeated text many), the codes
    sharing a bucket are sorted to find those alone among them (two equal codes always share a bucket).
    """
    if n_keys < 2:
        return True
    # never below 0: two equal keys (no position alone) are always in doubt, whatever the threshold
    most_alone = max(1 - threshold, 0) * np.bincount(owner, minlength=n_keys) + 1e-9

    def in_doubt(alone):  # keys that may match another: at most a (1 - t) share of their positions alone
        return np.count_nonzero(np.bincount(owner[alone], minlength=n_keys) <= most_alone)

    bits = max(int(8 * len(codes)).bit_length(), 10)  # about 8 buckets per position: few collisions
    bucket = (codes >> np.uint64(64 - bits)).astype(np.intp)  # the top bits: the best mixed of the hash
    alone = np.bincount(bucket, minlength=1 << bits)[bucket] == 1
    doubt = in_doubt(alone)
    if 1 < doubt <= n_keys / 10:
        crowded = np.flatnonzero(~alone)
        order = np.argsort(codes[crowded])
        c = codes[crowded][order]
        single = np.ones(len(c), dtype=bool)
        single[1:] &= c[1:] != c[:-1]
        single[:-1] &= c[:-1] != c[1:]
        alone[crowded[order]] = single
        doubt = in_doubt(alone)
    return doubt <= 1


def _ranked(keys: list[str], positions=None) -> tuple[list[np.ndarray], int]:
    """Each key's shingles as ranks in one order of the document's shingles, rarest first (ties by
    code), sorted: the start of each array is its rarest shingles. Also the number of shingles that
    only one key has: they are ranks 0 … n-1, and no other key can share them."""
    if not keys:
        return [], 0
    owner, codes = _all_shingle_codes(keys, positions)
    new_code = np.ones(len(codes), dtype=bool)
    new_code[1:] = codes[1:] != codes[:-1]
    starts = np.flatnonzero(new_code)
    counts = np.diff(np.append(starts, len(codes)))  # keys holding each distinct shingle
    n_uniq = len(starts)
    rank_of = np.empty(n_uniq, dtype=np.int64)
    # rarest first, ties by code: a stable sort of the counts, in 16 bits when they fit (a radix sort)
    small = counts.astype(np.uint16) if len(keys) < 1 << 16 else counts
    rank_of[np.argsort(small, kind="stable")] = np.arange(n_uniq)
    # every key's ranks, sorted within the key: one sort of key * n_uniq + rank (in 32 bits when it fits)
    packed = np.sort(flat_keys(owner, rank_of[np.cumsum(new_code) - 1], len(keys), n_uniq))
    ranks = (packed % packed.dtype.type(n_uniq)).astype(np.int32)
    ends = np.cumsum(np.bincount(owner, minlength=len(keys))).tolist()
    return [ranks[a:b] for a, b in zip([0] + ends[:-1], ends)], int(np.count_nonzero(counts == 1))


def duplicate_mask(texts: list[str], threshold: float = NEAR_DUP) -> list[bool]:
    """For each text, True when it is an exact duplicate (ignoring punctuation and spaces) or a
    near-duplicate (character 4-gram Jaccard >= ``threshold``) of an earlier kept text.

    Exact, not approximate: every earlier kept text with Jaccard >= threshold is found, through a
    prefix-filter index with positional filtering (PPJoin: Xiao et al., "Efficient similarity joins for
    near duplicate detection", WWW 2008). Shingles are ordered rarest first within the document and only
    the first ``_prefix_len`` shingles of each kept text are indexed; a new text meets only the kept
    texts sharing one of its own prefix shingles, of a compatible size, whose overlap can still reach
    the threshold given where the shared shingle sits in both; those few are compared exactly.
    Templated paragraphs that differ by a number share their common shingles, but those come last in
    the order, so the candidates stay few and the time linear in the number of texts. Shingles are
    held as sorted int32 ranks (4 bytes each), so 100,000 paragraphs take tens of MB, not GB.
    """
    points = word_points(texts)  # the code points of [NON_WORD.sub("", t) for t in texts], in one pass
    keys = strip_non_word(texts) if points is None else None
    positions = _position_codes(keys, points)
    if _none_can_match(len(texts), *positions, threshold):  # most documents: no pair comes near t
        return [False] * len(texts)
    keys = keys if keys is not None else split_points(*points)
    ranks, single = _ranked(keys, positions)
    index: dict[int, list[int]] = {}  # shingle rank -> kept texts, as text * _POS + position in its prefix
    kept_keys: set[str] = set()
    out = []
    for i, key in enumerate(keys):
        dup = key in kept_keys or _near(i, ranks, index, threshold, single)
        out.append(dup)
        if not dup:
            kept_keys.add(key)
    return out


def _near(i: int, ranks: list[np.ndarray], index: dict, t: float, single: int = 0) -> bool:
    """Is text ``i`` a near-duplicate of an indexed (kept) text? If not, index its prefix.

    The kept texts sharing a prefix shingle are met rarest shingle first, the most recent text first
    within a shingle. A text met for the first time is compared exactly when it passes the size filter
    (t*n <= m <= n/t) and the positional filter (1 + the fewer of the shingles left after the shared
    one must reach ceil(t/(1+t)*(n+m))); it is met once either way (PPJoin: a text failing the
    positional filter on its first shared shingle cannot reach the threshold). At most ``MAX_PROBES``
    index entries are looked at: this bounds the work per text whatever the document (a list of
    thousands of items that differ by a number); on the shared corpora no text needs more than 13.
    The answer does not depend on the order the candidates are met in, within that bound.
    Shingles of rank < ``single`` belong to this text alone: they have no postings and are not indexed
    (skipping them changes nothing but the time)."""
    mine = ranks[i]
    n = len(mine)
    prefix = mine[:_prefix_len(n, t)]
    start = int(np.searchsorted(prefix, single))  # the prefix's first shingle shared with another text
    prefix = prefix[start:].tolist()
    lo, hi, c = t * n - 1e-9, n / t + 1e-9, t / (1 + t)
    met: set[int] = set()
    mine_set = None  # built when a first candidate is compared
    budget = MAX_PROBES
    for px, r in enumerate(prefix, start):
        postings = index.get(r, ())
        for entry in reversed(postings[-budget:]):
            j, py = divmod(entry, _POS)
            if j in met:
                continue
            met.add(j)
            other = ranks[j]
            m = len(other)
            if lo <= m <= hi and 1 + min(n - px - 1, m - py - 1) >= math.ceil(c * (n + m) - 1e-9):
                mine_set = set(mine.tolist()) if mine_set is None else mine_set
                inter = len(mine_set.intersection(other.tolist()))
                if inter / (n + m - inter) >= t:
                    return True
        budget -= min(len(postings), budget)
        if budget <= 0:
            break
    for pos, r in enumerate(prefix, start):
        index.setdefault(r, []).append(i * _POS + pos)
    return False


def _row_unit_id(uid: str | None, k: int, n: int) -> str | None:
    """A table row's own id; a row split into n pieces gets id-1, id-2…"""
    return f"{uid}-{k + 1}" if uid is not None and n > 1 else uid


def _piece_norms(doc, pieces_of: list[list[str]]) -> list[str]:
    """The matching text of every piece, in order. A paragraph kept whole has it already (doc.norm);
    only the pieces of split paragraphs are normalised here."""
    from .textnorm import normalise_all

    known = doc.norm if doc.norm is not None and len(doc.norm) == len(doc.paragraphs) else None
    if known is None:
        return normalise_all([p for pieces in pieces_of for p in pieces])
    todo = iter(normalise_all([p for pieces in pieces_of if len(pieces) > 1 for p in pieces]))
    out = []
    for i, pieces in enumerate(pieces_of):
        out.extend([known[i]] if len(pieces) == 1 else [next(todo) for _ in pieces])
    return out


def _unit_candidates(doc, max_chars: int, enough_han: re.Pattern) -> list[tuple[int, str | None, str, str]]:
    """(paragraph index, user id, text, normalised text) of every unit candidate: paragraphs split into
    runs, table rows keeping their id (suffixed when split), fragments of other documents left out."""
    pieces_of = [split_paragraph(par, max_chars) for par in doc.paragraphs]
    norms = iter(_piece_norms(doc, pieces_of))
    cands = []
    for i, pieces in enumerate(pieces_of):
        for k, text in enumerate(pieces):
            norm = next(norms)
            if doc.from_table:
                if text.strip():
                    cands.append((i, _row_unit_id(doc.row_ids[i], k, len(pieces)), text, norm))
            elif enough_han.match(norm):
                cands.append((i, None, text, norm))
    return cands


def document_units(doc, *, max_chars: int = MAX_CHARS, min_han: int = MIN_HAN) -> list[dict]:
    """Units of one document as rows with unit_id, doc_id, source, position, text (original characters)
    and the private ``_norm`` (normalised text, for places) and, for table inputs, ``_row_city``.

    Fragments, duplicates and ids are decided on the normalised text: ``unit_id`` = sha256(doc_id +
    normalised text), so ids do not change with how the text is shown.
    """
    enough_han = _ENOUGH_HAN if min_han == MIN_HAN else _min_han_re(min_han)
    cands = _unit_candidates(doc, max_chars, enough_han)
    if not doc.from_table:
        drop = duplicate_mask([c[3] for c in cands])
        cands = [c for c, d in zip(cands, drop) if not d]
    return [{
        "unit_id": uid or unit_id(doc.doc_id, norm),
        "doc_id": doc.doc_id,
        "source": doc.source,
        "position": pos,
        "text": text,
        NORM: norm,
        ROW_CITY: doc.row_cities[i] if doc.from_table else None,
    } for pos, (i, uid, text, norm) in enumerate(cands)]
