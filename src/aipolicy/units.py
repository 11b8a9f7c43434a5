"""Stage 2 — units: a document's paragraphs become units (paragraphs or runs of whole sentences).

Rules (documented in the README):
- a paragraph (one cleaned line) is a unit;
- a paragraph longer than ``MAX_CHARS`` is split into runs of whole sentences (ending in 。！？；)
  of at most ``MAX_CHARS`` characters; a single sentence longer than that is cut at commas;
- a unit with fewer than ``MIN_HAN`` Chinese characters is a fragment ("分享", "2023-05-19",
  "各位代表:") and is dropped; headings such as "建设人工智能公共算力中心" are kept;
- within one document, exact duplicates (ignoring punctuation and spaces) and near-duplicates
  (character 4-gram Jaccard similarity >= ``NEAR_DUP`` with an earlier unit that shares a clause or
  its first/last 10 characters) are dropped, which also removes an article repeated inside one file;
- ``unit_id`` = sha256(doc_id + text)[:16]: same text in the same document, same id, everywhere.
"""
from __future__ import annotations

import hashlib
import re

MAX_CHARS = 500
# private keys of a unit row, read by the place and label stages and dropped before output
NORM = "_norm"            # the normalised text (matching, features, places)
ROW_CITY = "_row_city"    # a table input's own city column
MIN_HAN = 6
NEAR_DUP = 0.8
SHINGLE = 4

_SENTENCE_RE = re.compile(r"[^。!?;！？；]*[。!?;！？；]+[”’\"')）]*|[^。!?;！？；]+$")
_CLAUSE_RE = re.compile(r"[^,，、]*[,，、]+|[^,，、]+$")
_KEY_STRIP = re.compile(r"[\W_]+", re.UNICODE)
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
    if len(key) <= SHINGLE:
        return {key}
    return {key[i:i + SHINGLE] for i in range(len(key) - SHINGLE + 1)}


class _Deduper:
    """Exact and near-duplicate detection within one document.

    Candidates for a near-duplicate are the earlier units that share an anchor with the new one
    (a clause of at least 6 characters, or the first or last 10 characters); only those are compared
    by shingle Jaccard. A reworded copy keeps most clauses or its ends, so this finds it without
    comparing every pair.
    """

    def __init__(self, threshold: float = NEAR_DUP):
        self.threshold = threshold
        self.keys: set[str] = set()
        self.kept: list[str] = []  # keys of kept units
        self._shingles: dict[int, set] = {}  # computed only when a unit becomes a candidate
        self.anchors: dict[str, list[int]] = {}

    def _sh(self, j: int) -> set:
        sh = self._shingles.get(j)
        if sh is None:
            sh = self._shingles[j] = _shingles(self.kept[j])
        return sh

    def seen(self, text: str) -> bool:
        key = _KEY_STRIP.sub("", text)
        if key in self.keys:
            return True
        anchors = {c for c in _CLAUSE_SPLIT.split(text) if len(c) >= 6}
        anchors.update((key[:10], key[-10:]))
        cands = {j for a in anchors for j in self.anchors.get(a, ())}
        k = len(self.kept)
        if cands:
            sh = self._shingles[k] = _shingles(key)
            for j in sorted(cands):
                other = self._sh(j)
                inter = len(sh & other)
                if inter / (len(sh) + len(other) - inter) >= self.threshold:
                    self._shingles.pop(k)
                    return True
        self.keys.add(key)
        self.kept.append(key)
        for a in anchors:
            self.anchors.setdefault(a, []).append(k)
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


def document_units(doc, *, max_chars: int = MAX_CHARS, min_han: int = MIN_HAN) -> list[dict]:
    """Units of one document as rows with unit_id, doc_id, source, position, text (original characters)
    and the private ``_norm`` (normalised text, for places) and, for table inputs, ``_row_city``.

    Fragments, duplicates and ids are decided on the normalised text: ``unit_id`` = sha256(doc_id +
    normalised text), so ids do not change with how the text is shown.
    """
    rows = []
    dedupe = None if doc.from_table else _Deduper()
    enough_han = _ENOUGH_HAN if min_han == MIN_HAN else _min_han_re(min_han)
    pieces_of = [split_paragraph(par, max_chars) for par in doc.paragraphs]
    norms = iter(_piece_norms(doc, pieces_of))
    for i, pieces in enumerate(pieces_of):
        for k, text in enumerate(pieces):
            norm = next(norms)
            if doc.from_table:
                uid = _row_unit_id(doc.row_ids[i], k, len(pieces))
                if not text.strip():
                    continue
            else:
                if not enough_han.match(norm) or dedupe.seen(norm):
                    continue
                uid = None
            rows.append({
                "unit_id": uid or unit_id(doc.doc_id, norm),
                "doc_id": doc.doc_id,
                "source": doc.source,
                "position": len(rows),
                "text": text,
                NORM: norm,
                ROW_CITY: doc.row_cities[i] if doc.from_table else None,
            })
    return rows
