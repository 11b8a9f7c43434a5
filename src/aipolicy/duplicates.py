"""Duplicate files and near-duplicate documents.

- **Files**: a file reached twice (the same path through two arguments, or a symlink) or two files with
  byte-identical content are read once; the later ones are listed in the manifest with status
  ``duplicate`` and the file they repeat (:class:`FileDeduper`).
- **Documents**: the same article in two files (other chrome, a changed heading, a few edits) is a
  *near-duplicate*: the Jaccard similarity of the two documents' sets of character 5-grams (punctuation
  and spaces removed), estimated from bottom-128 sketches, is at least ``NEAR_DUP_DOCS``. Candidates
  are the earlier documents whose sketch shares at least a quarter of its hashes (an inverted index), so
  the check stays linear for documents that share nothing; memory is 128 integers a document. The later document is flagged with
  the earlier one's ``doc_id`` (:class:`DocumentDeduper`). Kept in this one module so that it can move
  to datasketch's MinHash LSH, like the within-document unit check (issue 14), without other changes.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter

import numpy as np
from pathlib import Path

from .textnorm import NON_WORD, word_code_points

NEAR_DUP_DOCS = 0.8
SHINGLE = 5
SKETCH_SIZE = 128


class FileDeduper:
    """Remembers the files read in a run by resolved path and by content hash. A file is hashed only
    when another file of its size is met (files of different sizes cannot be identical): the first file
    of a size is hashed when a second one comes, so most files of a run are never read here."""

    def __init__(self):
        self._paths: dict[str, str] = {}
        self._hashes: dict[str, str] = {}
        # size -> the one file seen of that size while it is not hashed yet, None once it is
        self._first_of_size: dict[int, str | None] = {}

    def check(self, path: Path) -> str | None:
        """The earlier file this one repeats ('same file as …' / 'identical to …'), or None (and remember it)."""
        try:
            real = os.path.realpath(path)
        except OSError:
            real = str(path)
        if real in self._paths:
            return f"same file as {self._paths[real]}"
        self._paths[real] = str(path)
        try:
            size = os.stat(path).st_size
        except OSError:
            size = None
        if size is not None:
            if size not in self._first_of_size:  # no earlier file of this size: nothing to repeat
                self._first_of_size[size] = str(path)
                return None
            first, self._first_of_size[size] = self._first_of_size[size], None
            if first is not None:  # the earlier file of this size, hashed now that it has company
                first_digest = file_sha256(first)
                if first_digest is not None:
                    self._hashes.setdefault(first_digest, first)
        digest = file_sha256(path)
        if digest is None:
            return None
        if digest in self._hashes:
            return f"identical to {self._hashes[digest]}"
        self._hashes[digest] = str(path)
        return None


def file_sha256(path) -> str | None:
    """sha256 of a file's bytes, read in blocks; None when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


_BASE = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def sketch(paragraphs, k: int = SKETCH_SIZE) -> tuple[int, ...]:
    """Bottom-k sketch: the k smallest hashes of the text's character shingles (punctuation and spaces
    removed), computed in one numpy pass. Two sketches estimate the Jaccard similarity of the shingle
    sets."""
    text = "".join(paragraphs)
    cps = word_code_points(text)  # the code points of NON_WORD.sub("", text), by table look-up
    if cps is None:  # a lone surrogate (not a word character: the regex drops it)
        cps = np.frombuffer(NON_WORD.sub("", text).encode("utf-32-le"), dtype=np.uint32)
    if len(cps) < SHINGLE:
        return ()
    cps = cps.astype(np.uint64)
    m = len(cps) - SHINGLE + 1
    with np.errstate(over="ignore"):  # sum of cps[i + j] * _BASE ** (SHINGLE - 1 - j), modulo 2**64, in place
        h = cps[:m] * _BASE
        for j in range(1, SHINGLE - 1):
            h += cps[j:j + m]
            h *= _BASE
        h += cps[SHINGLE - 1:SHINGLE - 1 + m]
        h *= _MIX
    h = (h >> np.uint64(32)).astype(np.uint32)  # Fibonacci hashing: well-mixed 32-bit values (sorted in 32 bits)
    return tuple(int(x) for x in _bottom_unique(h, k))


def _bottom_unique(h: np.ndarray, k: int) -> np.ndarray:
    """``np.unique(h)[:k]`` without sorting all of ``h``: the unique values among its 4k smallest
    (``np.partition``) are the k smallest unique values whenever there are k of them — every value left
    out is at least the largest one kept (tested); else the full sort."""
    m = 4 * k
    if len(h) > m:
        low = _sorted_unique(np.partition(h, m - 1)[:m])
        if len(low) >= k:
            return low[:k]
    return _sorted_unique(h)[:k]


def flat_keys(rows: np.ndarray, cols: np.ndarray, n_rows: int, width: int) -> np.ndarray:
    """``rows * width + cols``, one integer per (row, column) pair of an ``n_rows`` × ``width`` grid, in 32
    bits when every key fits (sorting them is most of the time where they are made, and a 32-bit sort is
    about twice as fast), else in 64."""
    kt = np.int32 if n_rows * width < 2**31 else np.int64
    return rows.astype(kt) * kt(width) + cols.astype(kt)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` by sorting (np.unique without flags imports numpy.ma to check for a mask: 40 ms
    per process)."""
    a = np.sort(a)
    keep = np.ones(len(a), dtype=bool)
    keep[1:] = a[1:] != a[:-1]
    return a[keep]


def estimate_jaccard(a: tuple[int, ...], b: tuple[int, ...], k: int = SKETCH_SIZE) -> float:
    union_bottom = sorted(set(a) | set(b))[:k]
    both = set(a) & set(b)
    return sum(1 for h in union_bottom if h in both) / len(union_bottom) if union_bottom else 0.0


class DocumentDeduper:
    """Flags near-duplicate documents against the documents seen before (in input order)."""

    def __init__(self, threshold: float = NEAR_DUP_DOCS):
        self.threshold = threshold
        self._sketches: dict[str, tuple[int, ...]] = {}
        self._index: dict[int, list[str]] = {}

    def check(self, doc_id: str, paragraphs=None, *, sk: tuple[int, ...] | None = None) -> str:
        """The doc_id of an earlier near-duplicate of this document, or '' (and remember it).
        Give the paragraphs, or their ``sketch`` computed elsewhere (in a worker)."""
        if doc_id in self._sketches:
            return ""
        sk = sketch(paragraphs or []) if sk is None else tuple(sk)
        found = ""
        # a document with Jaccard >= threshold shares most of its bottom-k: check only those sharing a quarter
        shared = Counter(d for h in sk for d in self._index.get(h, ()))
        for other, n in shared.items():
            if n < len(sk) / 4:
                continue
            if estimate_jaccard(sk, self._sketches[other]) >= self.threshold:
                found = other
                break
        self._sketches[doc_id] = sk
        if not found:  # index only originals, so a chain of copies points at the first
            for h in sk:
                self._index.setdefault(h, []).append(doc_id)
        return found
