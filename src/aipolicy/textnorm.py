"""Two forms of every text: what is shown and what is matched.

- ``tidy``: the **output text** — the original characters (full-width punctuation, traditional
  characters, all kept); only whitespace is tidied (runs collapsed, line ends unified, a space next
  to a Chinese character dropped — a PDF and web artefact).
- ``normalise``: the **matching text** — OpenCC traditional→simplified, NFKC (full-width letters, digits
  and punctuation become half-width), the same whitespace rules. Used for features, places, duplicate
  checks and unit ids, never shown. ``normalise(tidy(x)) == normalise(x)`` (tested), so unit ids
  (sha256 of doc_id + normalised unit text) are the ones computed before the output kept the original
  characters.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1)
def _opencc():
    import opencc

    _t2s_changes()  # built with the converter: the label runner builds both before its workers fork
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _t2s_changes():
    """What OpenCC's t2s can change, from the list shipped for one OpenCC version (data/opencc_t2s_changes.txt,
    derived and tested by tests/opencc_changes.py): (kind of every code point — 1 for a character t2s
    changes on its own, 2 for the character a listed phrase changes —, a pattern finding the listed
    phrases, the length of the longest); None under any other OpenCC version."""
    import numpy as np
    import opencc

    from .resources import read_lines

    version, *lines = read_lines("opencc_t2s_changes.txt")
    if version != f"opencc {opencc.__version__}":
        return None
    fields = [line.split(": ", 1) for line in lines]
    chars = "".join(v for name, v in fields if name == "chars")
    kind = np.zeros(0x110000, dtype=np.uint8)
    kind[np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32)] = 1
    keys = []
    for pair in (p for name, v in fields if name == "phrases" for p in v.split()):
        key, value = pair.split(">")
        kind[ord(next((k for k, v in zip(key, value) if k != v), key[0]))] = 2  # the character it changes
        keys.append(key)
    return kind, re.compile("|".join(map(re.escape, keys))), max(map(len, keys))


def _code_points(text: str):
    """The code points of ``text`` (uint32 array); None when it holds a lone surrogate."""
    import numpy as np

    try:
        return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    except UnicodeEncodeError:
        return None


def t2s(text: str, cps=None) -> str:
    """OpenCC traditional→simplified of ``text``, converting only the lines that hold a character t2s
    changes or a phrase it changes (``_t2s_changes``): the same text as converting it whole. No key of
    t2s's dictionaries holds a line break, so no replacement crosses one and the lines convert
    independently; a line holding neither holds no key whose value differs from it, so t2s leaves it as
    it is (tested). A Chinese report in simplified characters has a handful of such lines, or none.
    ``cps``: ``_code_points(text)`` if already known."""
    import numpy as np

    cc = _opencc()
    changes = _t2s_changes()
    cps = _code_points(text) if cps is None and changes is not None else cps
    if changes is None or cps is None:  # (a lone surrogate: what OpenCC does with it)
        return cc.convert(text)
    kind, phrases, longest = changes
    hits = np.flatnonzero(kind[cps])
    if not len(hits):
        return text
    alone = kind[cps[hits]] == 1
    todo = hits[alone].tolist()
    for p in hits[~alone].tolist():
        # a listed phrase holding the character at p lies within ``longest`` of it; it is found, or
        # overlaps a phrase found before it (in the same line, as no phrase holds a line break)
        todo += [m.start() for m in phrases.finditer(text, max(p - longest + 1, 0), p + longest)]
    spans = []  # (start, end) of each line to convert
    for p in sorted(todo):
        if not spans or p >= spans[-1][1]:
            end = text.find("\n", p)
            spans.append((text.rfind("\n", 0, p) + 1, len(text) if end < 0 else end))
    if not spans:
        return text
    out, last = [], 0
    for (a, b), line in zip(spans, cc.convert("\n".join([text[a:b] for a, b in spans])).split("\n")):
        out += [text[last:a], line]
        last = b
    out.append(text[last:])
    return "".join(out)


# runs of spaces, tabs, no-break and ideographic spaces become one space; a lone space is left as it is
# (the same result as replacing every run, without a replacement per space)
_SPACE_RUN = re.compile(r"[\t\u00a0\u3000][ \t\u00a0\u3000]*| [ \t\u00a0\u3000]+")
_HAN = r"\u3400-\u9fff\uf900-\ufaff"
_CJK_PUNCT = "，。、；：！？“”‘’（）《》【】"
# a space next to a Chinese character or Chinese punctuation carries no meaning (PDF and web artefact)
# (written to start with the space itself, so that the regex engine jumps from space to space; the same
# matches as "(?<=[…]) | (?=[…])", tested)
_SPACE_BY_HAN = re.compile(rf" (?:(?<=[{_HAN}{_CJK_PUNCT}] )|(?=[{_HAN}{_CJK_PUNCT}]))")
# the same rule before width folding: only the punctuation that NFKC leaves as it is (，；：！？（） become
# ASCII under NFKC, and the matching text keeps a space next to ASCII punctuation)
_KEPT_PUNCT = "。、“”‘’《》【】"
_SPACE_BY_HAN_DISPLAY = re.compile(rf" (?:(?<=[{_HAN}{_KEPT_PUNCT}] )|(?=[{_HAN}{_KEPT_PUNCT}]))")

# full-width ASCII and the ideographic space, the bulk of what NFKC changes in Chinese text
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def halfwidth(text: str, cps=None) -> str:
    """``text.translate(_FULLWIDTH)`` as one numpy pass over the code points (15× faster on Chinese
    text, where full-width punctuation is everywhere). ``cps``: ``_code_points(text)`` if already known."""
    if text.isascii():
        return text
    cps = _code_points(text) if cps is None else cps
    if cps is None:  # a lone surrogate: let str.translate keep it
        return text.translate(_FULLWIDTH)
    wide = (cps >= 0xFF01) & (cps <= 0xFF5E)
    space = cps == 0x3000
    if not (wide.any() or space.any()):
        return text
    cps = cps.copy()
    cps[wide] -= 0xFEE0
    cps[space] = 0x20
    return cps.tobytes().decode("utf-32-le")


# control characters carry no text: line-separating ones (vertical tab, form feed, NEL, U+2028/9) become
# line breaks, the others are dropped, so no text holds one (a spreadsheet cell cannot)
_SEPARATOR_CHARS = "\x0b\x0c\x1c-\x1e\x85\u2028\u2029"
_CONTROL_CHARS = "\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f"
_LINE_SEPARATORS = re.compile(f"[{_SEPARATOR_CHARS}]")
_CONTROLS = re.compile(f"[{_CONTROL_CHARS}]")
# either of the two: one scan finds whether there is anything for them to do (usually nothing)
_CONTROL_OR_SEPARATOR = re.compile(f"[{_SEPARATOR_CHARS}{_CONTROL_CHARS}]")


@lru_cache(maxsize=1)
def _control_table():
    """For every code point below U+2030: is it in ``_CONTROL_OR_SEPARATOR``? (None above U+2029 is, nor
    U+202F, which stands for all above it in ``_has_controls``; tested.)"""
    import numpy as np

    return np.fromiter((_CONTROL_OR_SEPARATOR.match(chr(c)) is not None for c in range(0x2030)), dtype=bool,
                       count=0x2030)


def _has_controls(text: str, cps=None) -> bool:
    """``_CONTROL_OR_SEPARATOR.search(text) is not None``, by a table look-up per code point when they are
    known (``cps``, of ``text``)."""
    import numpy as np

    if cps is None:
        return _CONTROL_OR_SEPARATOR.search(text) is not None
    return bool(np.take(_control_table(), cps, mode="clip").any())


def has_space_run(text: str) -> bool:
    """Could ``_SPACE_RUN`` match in ``text``? Each of its matches starts with a tab, no-break or
    ideographic space, or is a space followed by one of those or a space: four substring tests (each a
    fast scan of the text) instead of a regex scan. ``False`` means ``_SPACE_RUN.sub`` would change nothing."""
    return "  " in text or "\t" in text or "\u3000" in text or "\u00a0" in text


def _lines(text: str, by_han: re.Pattern, controls: bool | None = None) -> str:
    """The whitespace rules; ``controls``: whether ``text`` holds a control character or line separator,
    if already known."""
    if _CONTROL_OR_SEPARATOR.search(text) if controls is None else controls:
        text = _CONTROLS.sub("", _LINE_SEPARATORS.sub("\n", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # per line: space runs collapsed, the line stripped, spaces next to Chinese dropped — each step as one
    # pass over the whole text (no space run, and after stripping no space, touches a line break)
    if has_space_run(text):
        text = _SPACE_RUN.sub(" ", text)
    return by_han.sub("", "\n".join([line.strip() for line in text.split("\n")]))


def tidy(text: str) -> str:
    """Original characters, whitespace tidied: the text shown in outputs."""
    return _lines(text, _SPACE_BY_HAN_DISPLAY)


def normalise(text: str) -> str:
    """Traditional→simplified (OpenCC), NFKC (full-width ASCII → half-width), tidy whitespace."""
    return _normalise(text, _code_points(text))


def tidy_and_normalise(text: str) -> tuple[str, str]:
    """``(tidy(text), normalise(text))``, the code points read and searched for control characters once."""
    cps = _code_points(text)
    controls = _has_controls(text, cps)
    return _lines(text, _SPACE_BY_HAN_DISPLAY, controls), _normalise(text, cps, controls)


def _normalise(text: str, cps, controls: bool | None = None) -> str:
    """``normalise(text)``; ``cps``: ``_code_points(text)``, ``controls``: ``_has_controls(text)`` if known.
    The text holds a control character or line separator as much after t2s, halfwidth and NFKC as
    before: none of them makes or changes one (tested)."""
    if controls is None:
        controls = _has_controls(text, cps)
    simplified = t2s(text, cps)
    text = halfwidth(simplified, cps if simplified is text else None)
    if not unicodedata.is_normalized("NFKC", text):
        text = nfkc_by_line(text)
    return _lines(text, _SPACE_BY_HAN, controls)


def nfkc_by_line(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, normalising only the lines that need it: a line break
    neither decomposes nor combines with a neighbour, so normalisation never crosses it (tested). A long
    text with a few such lines takes 1/20 of the time of normalising it whole."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not unicodedata.is_normalized("NFKC", line):
            lines[i] = unicodedata.normalize("NFKC", line)
    return "\n".join(lines)


def normalise_all(texts) -> list[str]:
    """``normalise`` for a list of one-line texts, in one OpenCC call (the feature and place hot path)."""
    texts = ["" if t is None else _LINE_SEPARATORS.sub(" ", str(t).replace("\r", " ").replace("\n", " "))
             for t in texts]
    if not texts:
        return []
    return normalise("\n".join(texts)).split("\n")


# --------------------------------------------------------------------------- letters and digits only

NON_WORD = re.compile(r"[\W_]+")  # what duplicate keys and sketches drop: all but letters and digits


@lru_cache(maxsize=1)
def _word_table():
    """``str.isalnum`` of every code point below 0x10000 (re's \\w is isalnum or "_", tested)."""
    import numpy as np

    return np.fromiter(map(str.isalnum, map(chr, range(0x10000))), dtype=bool, count=0x10000)


def _is_word(cps):
    """For each code point (uint32 array): is it a letter or digit (``str.isalnum``)?"""
    small = cps < 0x10000
    if small.all():
        return _word_table()[cps]
    keep = small.copy()
    keep[small] = _word_table()[cps[small]]
    big = ~small
    keep[big] = [chr(c).isalnum() for c in cps[big].tolist()]
    return keep


def word_code_points(text: str):
    """The code points (uint32 array) of ``NON_WORD.sub("", text)``, by a table look-up per code point
    (4× faster than the regex on Chinese text); None when ``text`` holds a lone surrogate."""
    cps = _code_points(text)
    return None if cps is None else cps[_is_word(cps)]


def word_points(texts: list[str]):
    """The code points (uint32 array) of ``NON_WORD.sub("", t)`` for every text, one after the other, and
    how many each text keeps (int64 array); None when a text holds a lone surrogate."""
    import numpy as np

    cps = _code_points("".join(texts))
    if cps is None:
        return None
    keep = _is_word(cps)
    ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
    kept_before = np.zeros(len(cps) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return cps[keep], np.diff(kept_before[ends], prepend=0)


def split_points(cps, lens) -> list[str]:
    """The texts of ``word_points``: its code points cut into strings of the given lengths."""
    import numpy as np

    kept = cps.tobytes().decode("utf-32-le")
    bounds = [0] + np.cumsum(lens).tolist()
    return [kept[a:b] for a, b in zip(bounds, bounds[1:])]


def strip_non_word(texts) -> list[str]:
    """``[NON_WORD.sub("", t) for t in texts]``: one look-up pass over all the texts' code points."""
    texts = list(texts)
    got = word_points(texts)
    if got is None:
        return [NON_WORD.sub("", t) for t in texts]
    return split_points(*got)
