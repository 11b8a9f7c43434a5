"""Layout repair: lines as they come out of a PDF or a text copied from one, back into paragraphs.

Rules (documented in the README, tested in tests/test_layout.py):

- **page markers** — a line that is only a page number ("— 1 —", "－2－", "- 3 -", "第 4 页", "第4页 共9页",
  "5/9", a bare "12") is removed; all but a bare number also mark a page break;
- **running headers and footers** — a short line that repeats (at least ``MIN_REPEATS`` times) and
  each time stands next to a page break (a page marker, a form feed, or a page edge in a PDF) is removed;
- **hard wraps** — a text is *hard-wrapped* when many of its lines are "full" (at least ``FULL`` of the
  typical line width) and do not end a sentence. In such a text a full line that does not end a
  sentence is joined with the next line, across blank lines and page breaks, unless the next line
  starts a heading or a list item ("一、", "（二）", "3.", "第五条"). Short lines (headings, the last
  line of a paragraph) end their paragraph. A text whose lines are whole paragraphs is left as it is;
- pages: ``repair_pages`` takes one list of lines per page (PDF) so that the break between two pages is
  known exactly; a paragraph split by a page break is re-joined by the same rule.

Everything works on the original characters (full-width punctuation kept): matching uses
``_fold`` locally, never changing the text.
"""
from __future__ import annotations

import re
from collections import Counter

FULL = 0.8  # a line at least this share of the typical width is "full"
WRAPPED_SHARE = 0.3  # share of full, unfinished lines that makes a text hard-wrapped
MIN_LINES = 6  # fewer lines than this: never treated as hard-wrapped
MIN_REPEATS = 3
MAX_CHROME_LEN = 40

PAGE_BREAK = "\f"

_DASH_CHARS = "-－—–―‐‑﹣─━~～_"
_DASH = f"[{_DASH_CHARS}]"
_PAGE_MARKER = re.compile(
    rf"\s*(?:{_DASH}+\s*\d{{1,4}}\s*{_DASH}+"  # — 1 —, －2－, - 3 -
    r"|第\s*[\d一二三四五六七八九十百]{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"  # 第4页 共9页
    r"|(?:共\s*\d{1,4}\s*页\s*)?第\s*\d{1,4}\s*页"
    r"|\d{1,4}\s*/\s*\d{1,4}"  # 5/9
    r"|[Pp]age\s*\d{1,4}(?:\s*of\s*\d{1,4})?"
    r"|\d{1,4})\s*"
)
# sentence ends (original or half-width forms) and closing brackets/quotes after them
_SENTENCE_END = re.compile(r"[。！？；：!?;:…][”’」』）)\]】\"']*$|[。！？!?][”’」』\"']?[）)]$")
_HEADING_START = re.compile(
    r"\s*(?:[一二三四五六七八九十百]+[、.．]"  # 一、
    r"|[（(][一二三四五六七八九十百\d]+[）)]"  # （一） (1)
    r"|\d{1,3}[、.．](?!\d)"  # 1. 2、 (not 3.5)
    r"|[①-⑳]"
    r"|第[一二三四五六七八九十百零〇\d]+[章节条部分篇]"  # 第五条
    r"|附件|附表)"
)


# the first character after the leading spaces of any page marker: a dash, 第, 共, P/p or a digit
_MARKER_FIRST = frozenset(_DASH_CHARS + "第共Pp")


def is_page_marker(line: str) -> bool:
    # the pattern is tried only on lines that start (after spaces: str.lstrip strips what \s matches) as
    # one of its branches does; most lines do not, and the answer is the same (tested)
    s = line.lstrip()
    if not s or (s[0] not in _MARKER_FIRST and not s[0].isdecimal()):
        return False
    return _PAGE_MARKER.fullmatch(line) is not None


_ENDERS = "。！？；：!?;:…"
_CLOSERS = "”’」』）)]】\"'"


def ends_sentence(line: str) -> bool:
    """``_SENTENCE_END.search(line.rstrip())`` from the line's end: its first branch is a sentence end
    followed by closing marks only, and the closing marks never end a sentence, so it matches when the
    last character before the trailing closing marks ends a sentence; every match of the second branch
    is one of the first (tested). No scan of the whole line."""
    t = line.rstrip().rstrip(_CLOSERS)
    return bool(t) and t[-1] in _ENDERS


def starts_heading(line: str) -> bool:
    return _HEADING_START.match(line) is not None


def _width(lines: list[str]) -> int:
    """Typical width of a full line: the 90th percentile of the non-empty line lengths."""
    lengths = sorted(len(ln) for ln in lines if ln)
    if not lengths:
        return 0
    return lengths[min(len(lengths) - 1, int(0.9 * len(lengths)))]


def is_hard_wrapped(lines: list[str]) -> bool:
    """Many full lines that stop mid-sentence: the text was wrapped at a fixed width."""
    return _wrapped_body([ln.strip() for ln in lines if ln.strip() and not is_page_marker(ln)])


def _wrapped_body(body: list[str]) -> bool:
    """``is_hard_wrapped`` of the lines' non-empty stripped lines that are not page markers."""
    if len(body) < MIN_LINES:
        return False
    width = _width(body)
    if width < 10:
        return False
    cut = sum(1 for ln in body if len(ln) >= FULL * width and not ends_sentence(ln))
    return cut >= WRAPPED_SHARE * len(body)


def _split_pages(lines: list[str]) -> list[list[str]]:
    """Split a text's lines at form feeds and page markers (a marker ends its page)."""
    pages: list[list[str]] = [[]]
    for ln in lines:
        parts = ln.split(PAGE_BREAK) if PAGE_BREAK in ln else (ln,)  # no list per line without a form feed
        for k, part in enumerate(parts):
            if k:
                pages.append([])
            if is_page_marker(part) and not part.strip().isdigit():  # a bare number is removed, not a break
                pages[-1].append(part)
                pages.append([])
            else:
                pages[-1].append(part)
    return [p for p in pages if any(x.strip() for x in p)]


def _edge_lines(page: list[str], n: int = 2) -> set[str]:
    body = [ln.strip() for ln in page if ln.strip() and not is_page_marker(ln)]
    return set(body[:n]) | set(body[-n:])


def running_chrome(pages: list[list[str]]) -> set[str]:
    """Short lines that recur at the top or bottom of at least MIN_REPEATS pages (and most pages seen)."""
    if len(pages) < 2:
        return set()
    counts: Counter = Counter()
    for page in pages:
        counts.update(ln for ln in _edge_lines(page) if len(ln) <= MAX_CHROME_LEN)
    need = max(MIN_REPEATS if len(pages) >= MIN_REPEATS else 2, int(0.5 * len(pages)))
    return {ln for ln, n in counts.items() if n >= need}


def _join(lines: list[str], width: int) -> list[str]:
    """Join hard-wrapped lines (blank lines and removed chrome between them are ignored)."""
    out: list[str] = []
    buf = ""
    for ln in lines:
        ln = ln.strip()
        if not ln:
            continue
        if buf and not starts_heading(ln):
            buf += _glue(buf, ln) + ln
        else:
            if buf:
                out.append(buf)
            buf = ln
        if ends_sentence(ln) or len(ln) < FULL * width:
            out.append(buf)
            buf = ""
    if buf:
        out.append(buf)
    return out


def _glue(left: str, right: str) -> str:
    """A space between two Latin words split by the wrap, nothing between Chinese characters."""
    return " " if left[-1:].isascii() and left[-1:].isalpha() and right[:1].isascii() and right[:1].isalpha() else ""


def repair_pages(pages: list[list[str]], *, chrome: set[str] | None = None) -> list[str]:
    """Pages of lines → paragraphs: page markers and running headers/footers removed, hard wraps and
    paragraphs split by a page break re-joined. ``chrome``: header/footer lines already known (PDF)."""
    chrome = running_chrome(pages) if chrome is None else chrome
    kept = [[ln.strip() for ln in page if ln.strip() and not is_page_marker(ln) and ln.strip() not in chrome]
            for page in pages]
    lines = [ln for page in kept for ln in page]
    if is_hard_wrapped(lines):
        return _join(lines, _width(lines))
    return _stitch_pages(kept, _width(lines))


def _stitch_pages(pages: list[list[str]], width: int) -> list[str]:
    """Lines are paragraphs; only a paragraph cut by a page break (the page's last line is long and
    unfinished, the next page does not start a heading) is re-joined."""
    out: list[str] = []
    for page in pages:
        body = list(page)
        if (out and body and not ends_sentence(out[-1]) and len(out[-1]) >= 0.5 * width
                and not starts_heading(body[0])):
            out[-1] += _glue(out[-1], body[0]) + body[0]
            body = body[1:]
        out.extend(body)
    return out


def repair_text(text: str) -> str:
    """A whole plain text (possibly copied from a PDF) with its layout repaired; lines are paragraphs.

    A text with no page markers, no form feeds and no hard wraps comes back unchanged.
    """
    lines = (text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text).split("\n")
    pages = None
    if not any(map(is_page_marker, lines)):  # no marker: unchanged unless it has pages or hard wraps
        if PAGE_BREAK not in text:  # one page (or none): only hard wraps (each line tried as a marker once)
            if not _wrapped_body([s for s in map(str.strip, lines) if s]):
                return text
        else:
            pages = _split_pages(lines)
            if len(pages) <= 1 and not is_hard_wrapped(lines):
                return text
    return "\n".join(repair_pages(_split_pages(lines) if pages is None else pages))
