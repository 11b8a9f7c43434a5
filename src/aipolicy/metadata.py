"""Document metadata from the text: title, issuer, date, document number (文号) and document type.

Layouts recognised (each has a fixture in tests/fixtures/metadata/ and is scored by
``bench/metadata_accuracy.py``):

- the GB/T 9704 公文 header: 发文机关标志 ("嘉兴市人民政府办公室文件"), 文号 ("嘉政办发〔2025〕18号"),
  title ("关于…的通知"), 主送, body, 落款 (issuer) and 成文日期 at the end;
- the 印发 notice that wraps a plan ("关于印发《…》的通知 … 现将《…》印发给你们"): the document is the
  plan, so its title is the plan's title (and the type comes from it);
- a "（2025年6月12日…印发）" or "（…通过）" line under the title;
- dates in Chinese numerals (二〇二五年六月十二日);
- a web page's metadata table (索引号, 发文机关, 成文日期, 发文字号, 标题/名称);
- a government work report ("政府工作报告 ——2024年1月16日在亳州市第五届人民代表大会第三次会议上").

``date`` is an ISO string at the precision known ('2025-06-12', '2025-06' or '2025'); ``year`` an int
or None. A sidecar CSV (``--metadata FILE``, keyed by file name) overrides what the text says:
see :func:`read_sidecar` and :func:`apply_sidecar`.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

DOC_TYPES = ("规划", "行动计划", "实施方案", "措施", "条例", "办法", "意见", "通知", "工作报告", "新闻评论", "其他")
DOCUMENT_COLUMNS = ["doc_id", "file", "title", "issuer", "date", "year", "doc_number", "doc_type", "place",
                    "near_duplicate_of"]
HEAD_LINES = 25  # title block, header and web metadata are in the first lines
TAIL_LINES = 12  # 落款 and date are in the last lines

_CN_DIGIT = {"〇": 0, "○": 0, "零": 0, "Ｏ": 0, "O": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
             "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:\d{1,4}|[〇○零Ｏ一二三四五六七八九十]{1,4})"
_DATE_RE = re.compile(rf"((?:19|20)\d\d|[一二][〇○零Ｏ一二三四五六七八九]{{3}})\s*年\s*({_NUM})\s*月(?:\s*({_NUM})\s*日)?")
_ISO_DATE_RE = re.compile(r"((?:19|20)\d\d)[-/.](\d{1,2})(?:[-/.](\d{1,2}))?")
_BRACKETS = "〔［\\[【(（"
_DOC_NUMBER_RE = re.compile(
    rf"[\u4e00-\u9fff]{{1,14}}[{_BRACKETS}]\s*(?:19|20)\d\d\s*[〕］\]】)）]\s*\d{{1,4}}\s*号"
    r"|[\u4e00-\u9fff]{1,12}令\s*第\s*(?:\d{1,4}|[〇零一二三四五六七八九十百]{1,6})\s*号")


# what each alternative of _DOC_NUMBER_RE must contain: a bracketed year, or 令 … 第. Matched as one of
# those openers, then a year or 第 (a few places more than needed, e.g. "令 2024"): a pattern that opens
# with a character class is scanned by re's fast character-set prefix search (about 2.5 times faster here)
_DOC_NUMBER_HINT = re.compile(rf"[{_BRACKETS}令]\s*(?:(?:19|20)\d\d|第)")


def _doc_number(text: str):
    """``_DOC_NUMBER_RE.search(text)`` without its slow scan (up to 14 characters tried at every position):
    every match holds a ``_DOC_NUMBER_HINT`` (a bracket before a year, or 令 … 第) 1 to 14 characters after
    its start, so the pattern is tried only at the 14 positions before each hint, in order. Those windows
    cover every possible start (more hints only add windows), and the first window holding the leftmost
    match meets it before any later start: the same match as the search (tested)."""
    if "号" not in text:
        return None
    for hint in _DOC_NUMBER_HINT.finditer(text):
        at = hint.start()
        for start in range(max(0, at - 14), at):
            m = _DOC_NUMBER_RE.match(text, start)
            if m:
                return m
    return None


_ORG_TAIL = (r"(?:人民政府办公厅|人民政府办公室|人民政府|政府办公厅|政府办公室|行政公署|人民代表大会常务委员会|人大常委会|"
             r"委员会办公室|委员会|办公厅|办公室|管理委员会|管委会|领导小组|局|厅|委|部|院|署|办|中心|政府)")
_ORG_LINE = re.compile(rf"[\u4e00-\u9fff（）()、]{{2,40}}?{_ORG_TAIL}")
_HEADER_MARK = re.compile(rf"^\s*((?:[\u4e00-\u9fff（）()]{{2,40}}?{_ORG_TAIL}\s*)+)文件\s*$")
_WEB_FIELDS = {
    "issuer": re.compile(r"^\s*(?:发文机关|发布机构|发文单位|发布单位|制发机关)\s*[:：]\s*(.+?)\s*$"),
    "date": re.compile(r"^\s*(?:成文日期|发文日期|发布日期|发布时间|印发日期|生成日期)\s*[:：]\s*(.+?)\s*$"),
    "doc_number": re.compile(r"^\s*(?:发文字号|文号|文件编号)\s*[:：]\s*(.+?)\s*$"),
    "title": re.compile(r"^\s*(?:标题|名称|文件名称|题名)\s*[:：]\s*(.+?)\s*$"),
}
# a line no field pattern matches is passed over by one match of their alternation
_WEB_FIELD_ANY = re.compile("|".join(f"(?:{rx.pattern})" for rx in _WEB_FIELDS.values()))
_INDEX_NO = re.compile(r"^\s*索引号\s*[:：]")
_WRAPPED_TITLE = re.compile(r"关于(?:印发|转发|发布)《(.+?)》的(?:通知|决定)")
_WRAPPED_BARE = re.compile(r"关于(?:印发|转发|发布)(.{4,80}?)的(?:通知|决定)$")
_NOTICE_BODY = re.compile(r"现将《(.+?)》(?:印发|转发|发布)给|《(.+?)》(?:已经.{1,20}同意，?)?现(?:予)?(?:印发|转发|发布)给")
_FIELD_LINE = re.compile(r"^[\u4e00-\u9fff\s]{2,10}[:：]")
_FIELD_LABEL = re.compile(r"索引|分类|日期|时间|机关|机构|单位|文号|字号|有效|主题|来源|作者|编辑|标\s*题|名\s*称|题名|"
                          r"体裁|关键词|发布|成文")
_PRINTED_LINE = re.compile(r"^[（(](.{4,120})[）)]$")
_WORK_REPORT_LINE = re.compile(r"在(.{2,20}?)(?:第[一二三四五六七八九十]+届)?人民代表大会")
_WORK_REPORT = re.compile(r"政府工作报告|向大会报告|各位代表|各位主任|报告(政府)?工作，请予审议")
# a work report's own sections, when its head (title, 我代表 line) is missing
_WORK_REPORT_BODY = re.compile(r"(?:年|一、)\s*工作回顾|政府自身建设|(?:今年|年)(?:主要)?工作(?:安排|任务)")
_NEWS_MARKS = re.compile(r"(?:来源|记者|责任编辑|编辑|作者)\s*[:：丨|]|(?:本报讯|新华社|据.{1,8}报道)")
_TITLE_END = re.compile(r"(?:通知|意见|方案|计划|规划|纲要|办法|条例|规定|细则|措施|政策|决定|指引|指南|报告|公告|通告|"
                        r"批复|函|法|规则|清单|要点|标准)(?:[（(][^）)]*[）)])?$")

# (pattern over the title, type); first match wins — a notice wrapping a plan is typed by the plan
_TYPE_RULES = [
    (re.compile(r"工作报告"), "工作报告"),
    (re.compile(r"行动计划|行动方案|三年行动|攻坚行动"), "行动计划"),
    (re.compile(r"方案"), "实施方案"),
    (re.compile(r"规划|纲要"), "规划"),
    (re.compile(r"措施|政策|若干|举措"), "措施"),
    (re.compile(r"办法|规定|细则|规则|规程|导则|标准"), "办法"),
    (re.compile(r"条例|(?<!办)法$|法律|(?<!办)法[（(]"), "条例"),
    (re.compile(r"意见|指引|指南|决定"), "意见"),
    (re.compile(r"通知|通告|公告|函|批复"), "通知"),
    (re.compile(r"新闻|评论|报道|解读|资讯|新闻评论|news|commentary", re.I), "新闻评论"),
]


@dataclass
class DocMeta:
    title: str = ""
    issuer: str = ""
    date: str = ""
    doc_number: str = ""
    doc_type: str = ""
    found: dict = field(default_factory=dict)  # field -> which rule found it (for debugging and tests)

    @property
    def year(self) -> int | None:
        return int(self.date[:4]) if self.date[:4].isdigit() else None

    def row(self) -> dict:
        d = asdict(self)
        d.pop("found")
        d["year"] = self.year
        return d


# --------------------------------------------------------------------------- numbers and dates

def cn_number(s: str) -> int | None:
    """Arabic or Chinese numerals: '12', '十二', '二十', '三十一', '二〇二五' (digit by digit)."""
    s = s.strip()
    if s.isdigit():
        return int(s)
    if not s or any(ch not in _CN_DIGIT and ch != "十" for ch in s):
        return None
    if "十" not in s:
        return int("".join(str(_CN_DIGIT[ch]) for ch in s))
    tens, _, ones = s.partition("十")
    return (_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0)


def _iso(y: int | None, m: int | None, d: int | None) -> str:
    if y is None or not 1900 <= y <= 2100:
        return ""
    if m is None or not 1 <= m <= 12:
        return f"{y:04d}"
    if d is None or not 1 <= d <= 31:
        return f"{y:04d}-{m:02d}"
    return f"{y:04d}-{m:02d}-{d:02d}"


def parse_date(text: str) -> str:
    """The first date in ``text`` as an ISO string at its precision, or ''."""
    m = _DATE_RE.search(text)
    if m:
        y, mo, d = (cn_number(g) if g else None for g in m.groups())
        return _iso(y, mo, d)
    m = _ISO_DATE_RE.search(text)
    if m:
        y, mo, d = (int(g) if g else None for g in m.groups())
        return _iso(y, mo, d)
    return ""


def _is_date_line(line: str) -> bool:
    # a line's spaceless length is at least its first 15 or 64 characters': a long paragraph is rejected
    # from them (its first run of characters that are not spaces, or those of the first 64)
    first = line[:15].split(None, 1)
    if first and len(first[0]) == 15:
        return False
    if len(line) > 64 and len("".join(line[:64].split())) > 14:
        return False
    s = "".join(line.split())  # re.sub(r"\s+", "", line): str.split's whitespace is re's \s (tested), faster
    return bool(s) and len(s) <= 14 and bool(_DATE_RE.fullmatch(s) or _ISO_DATE_RE.fullmatch(s))


# --------------------------------------------------------------------------- pieces

def doc_type_of(title: str, *, news: bool | Callable[[], bool] = False) -> str:
    """The type of a document from its title; ``news`` (or ``news()``, asked only when no type word is in
    the title): whether it reads as news, then 新闻评论 instead of 其他."""
    t = re.sub(r"[（(][^）)]*[）)]$", "", title.strip())
    # the head noun of a Chinese title comes last: the type word that ends latest wins (ties: rule order)
    best, best_end = "", -1
    for pattern, kind in _TYPE_RULES:
        ends = [m.end() for m in pattern.finditer(t)]
        if ends and max(ends) > best_end:
            best, best_end = kind, max(ends)
    if best:
        return best
    return "新闻评论" if (news() if callable(news) else news) else ("其他" if t else "")


_SPACES = re.compile(r"\s+")
_CLAUSE_MARK = re.compile(r"[，。；：:！？]")


def _is_org_line(line: str) -> bool:
    s = _SPACES.sub(" ", line).strip()
    if not s or len(s) > 60 or _CLAUSE_MARK.search(s):
        return False
    return all(_ORG_LINE.fullmatch(part) for part in s.split(" ") if part)


def _clean_org(line: str) -> str:
    return "、".join(p for p in re.sub(r"\s+", " ", line).strip().split(" ") if p)


def _web_table(lines: list[str], meta: DocMeta) -> None:
    for ln in lines[:HEAD_LINES]:
        ln = _squeeze_label(ln)
        if _WEB_FIELD_ANY.match(ln) is None:
            continue
        for key, rx in _WEB_FIELDS.items():
            m = rx.match(ln)
            if m and not getattr(meta, key):
                value = m.group(1)
                setattr(meta, key, parse_date(value) if key == "date" else value)
                meta.found[key] = "web metadata"


def _squeeze_label(line: str) -> str:
    """"标　　题：…" → "标题：…" (spaces inside a field label)."""
    m = _FIELD_LINE.match(line)
    return re.sub(r"\s+", "", m.group(0)) + line[m.end():] if m else line


def _header(lines: list[str], meta: DocMeta) -> None:
    """GB/T 9704 header: 发文机关标志 ("…文件", joint issuers on the lines above) and the 文号 under it."""
    for i, ln in enumerate(lines[:HEAD_LINES]):
        m = _HEADER_MARK.match(ln)
        if m and not meta.issuer:
            orgs = [_clean_org(m.group(1))]
            j = i - 1
            while j >= 0 and _is_org_line(lines[j]):
                orgs.insert(0, _clean_org(lines[j]))
                j -= 1
            meta.issuer, meta.found["issuer"] = "、".join(orgs), "header mark"
    for ln in lines[:HEAD_LINES]:
        m = _doc_number(ln) if len(ln.strip()) <= 40 and not meta.doc_number else None  # the cheap tests first
        if m:
            meta.doc_number, meta.found["doc_number"] = re.sub(r"\s+", "", m.group(0)), "header"


def _title(lines: list[str], meta: DocMeta) -> int:
    """The title: the first heading-like line of the head (joined with a wrapped second line);
    returns its index (or -1)."""
    for i, ln in enumerate(lines[:HEAD_LINES]):
        s = ln.strip()
        if not s or _skip_as_title(s):
            continue
        title = s
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if nxt and len(s) + len(nxt) <= 80 and not _TITLE_END.search(s) and _TITLE_END.search(nxt) \
                and not _skip_as_title(nxt):  # pure tests: the cheap length test first
            title = s + nxt  # a title set on two lines
        if not meta.title:
            meta.title, meta.found["title"] = title, "first heading"
        return i
    return -1


_FOUR_HAN = re.compile(r"(?:[^\u4e00-\u9fff]*[\u4e00-\u9fff]){4}")  # at least 4 Chinese characters
_SENTENCE_END = re.compile(r"[。；]$")
_ADDRESS = re.compile(r"各位(代表|主任|委员)")
_SECTION_NUMBER = re.compile(r"[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[）)]")
_URGENCY = re.compile(r"[★☆\s]*(?:特急|加急|平急|机密|秘密|绝密|公开)[★☆\s\d]*")


def _skip_as_title(s: str) -> bool:
    # pure tests joined by "or": the cheap ones first (a long line, then fewer than 4 Chinese characters
    # found by a match that stops at the fourth instead of a findall of them all)
    if len(s) > 80 or not _FOUR_HAN.match(s):
        return True
    field = _FIELD_LINE.match(s)
    return bool(_HEADER_MARK.match(s) or _INDEX_NO.match(s) or (field and _FIELD_LABEL.search(field.group(0)))
                or _is_org_line(s)
                or (_DOC_NUMBER_RE.fullmatch(s.replace(" ", "")) is not None) or _is_date_line(s)
                or _SENTENCE_END.search(s) or _ADDRESS.match(s) or _SECTION_NUMBER.match(s)
                or _URGENCY.fullmatch(s) is not None)


def _wrapped_plan(head: str, meta: DocMeta) -> None:
    """印发 notice: the document is the plan it wraps (``head``: the first HEAD_LINES lines joined)."""
    m = (_WRAPPED_TITLE.search(meta.title) or _notice_body(head) or _WRAPPED_TITLE.search(head)
         or _WRAPPED_BARE.search(meta.title))
    if m:
        meta.title, meta.found["title"] = next(g for g in m.groups() if g).strip(), "印发 notice"


def _notice_body(head: str):
    """``_NOTICE_BODY.search(head)``, scanned only when the head holds 发给 or 布给, one of which ends every
    match (印发给, 转发给, 发布给): the scan tries the rest of the line at every 《 and 现 (tested)."""
    if "发给" not in head and "布给" not in head:
        return None
    return _NOTICE_BODY.search(head)


def _printed_line(lines: list[str], meta: DocMeta, title_at: int) -> None:
    """"（2025年6月12日嘉兴市人民政府第35次常务会议通过 嘉政发〔2025〕9号印发）" under the title."""
    for ln in lines[title_at + 1:title_at + 4]:
        m = _PRINTED_LINE.match(ln.strip())
        if not m or not _DATE_RE.search(m.group(1)):
            continue
        inner = m.group(1)
        if not meta.date:
            meta.date, meta.found["date"] = parse_date(inner), "印发 line"
        num = _doc_number(inner)
        if num and not meta.doc_number:
            meta.doc_number, meta.found["doc_number"] = num.group(0), "印发 line"
        rest = _DATE_RE.sub("", inner, count=1)
        org = re.match(rf"\s*([\u4e00-\u9fff]{{2,30}}?{_ORG_TAIL})", rest)
        if org and not meta.issuer:
            meta.issuer, meta.found["issuer"] = org.group(1), "印发 line"
        return


def _signature(lines: list[str], meta: DocMeta) -> None:
    """落款: an issuer line (or several) directly above a date line near the end (also in a notice that
    wraps a plan, where the signature is above the plan)."""
    candidates = list(range(len(lines) - 1, max(-1, len(lines) - TAIL_LINES - 1), -1))
    candidates += [i for i in range(min(len(lines), HEAD_LINES + 15)) if i not in candidates]
    for i in candidates:
        if not _is_date_line(lines[i]):
            continue
        orgs = []
        j = i - 1
        while j >= 0 and _is_org_line(lines[j]) and len(orgs) < 4:
            orgs.insert(0, _clean_org(lines[j]))
            j -= 1
        if not meta.date:
            meta.date, meta.found["date"] = parse_date(lines[i]), "signature"
        if orgs and not meta.issuer:
            meta.issuer, meta.found["issuer"] = "、".join(orgs), "signature"
        if orgs or meta.found.get("date") == "signature":
            return


def _work_report(lines: list[str], meta: DocMeta) -> None:
    head = "\n".join(lines[:8])
    if not _WORK_REPORT.search(head) and len(_work_report_sections(lines)) < 2:
        return
    for ln in lines[:6]:
        m = _WORK_REPORT_LINE.search(ln)
        if m:
            place = m.group(1)
            if not meta.issuer:
                meta.issuer, meta.found["issuer"] = _report_issuer(place), "work report line"
            if not meta.date:
                meta.date, meta.found["date"] = parse_date(ln), "work report line"
            break
    meta.doc_type = meta.doc_type or "工作报告"
    if meta.title in ("政府工作报告", "工作报告") and meta.issuer:
        meta.title = f"{meta.issuer.removesuffix('人民政府').removesuffix('行政公署')}政府工作报告"


def _work_report_sections(lines: list[str]) -> set[str]:
    """The distinct work-report sections (``_WORK_REPORT_BODY``, by their last 4 characters) in the lines;
    the scan of the whole text only when one of the words every match ends in is there."""
    text = "\n".join(lines)
    if not any(w in text for w in _WORK_REPORT_BODY_WORDS):
        return set()
    return {m.group(0)[-4:] for m in _WORK_REPORT_BODY.finditer(text)}


_WORK_REPORT_BODY_WORDS = ("工作回顾", "政府自身建设", "工作安排", "工作任务")  # one is in every match


def _report_issuer(place: str) -> str:
    place = place.strip()
    if place.endswith(("地区", "盟")):
        return place + "行政公署"
    return place + "人民政府"


# --------------------------------------------------------------------------- entry point

def extract(lines: list[str], *, file_name: str = "", title_hint: str = "") -> DocMeta:
    """Metadata of one document from its lines (original characters, in order)."""
    lines = [ln.strip() for ln in lines if ln and ln.strip()]
    head = "\n".join(lines[:HEAD_LINES])
    meta = DocMeta()
    _web_table(lines, meta)
    _header(lines, meta)
    if title_hint and not meta.title:
        meta.title, meta.found["title"] = title_hint.strip(), "file metadata"
    title_at = _title(lines, meta)
    _wrapped_plan(head, meta)
    _printed_line(lines, meta, title_at)
    _signature(lines, meta)
    _work_report(lines, meta)
    _fallbacks(lines, head, meta, file_name)
    return meta


def _news_marks(text: str) -> bool:
    """``_NEWS_MARKS.search(text)``, scanned only when a word every match holds is in the text."""
    if not (any(w in text for w in ("来源", "记者", "编辑", "作者", "本报讯", "新华社")) or ("据" in text and "报道" in text)):
        return False
    return _NEWS_MARKS.search(text) is not None


def _fallbacks(lines: list[str], head: str, meta: DocMeta, file_name: str) -> None:
    """Title from the file name, a dated line in the head (news: "2025-04-22 10:15 来源：…"), a 文号
    anywhere in the head, the type from the title (news when no type word is in it, no issuer is known and
    the head has news marks: looked for only then)."""
    if not meta.title and file_name:
        meta.title, meta.found["title"] = PurePosixPath(file_name).stem, "file name"
    if not meta.date:
        dated = next((ln for ln in lines[:6] if len(ln) <= 60 and ln != meta.title and parse_date(ln)), None)
        if dated:
            meta.date, meta.found["date"] = parse_date(dated), "head date"
    m = None if meta.doc_number else _doc_number(head)
    if m:
        meta.doc_number, meta.found["doc_number"] = m.group(0), "head"
    meta.doc_type = meta.doc_type or doc_type_of(meta.title, news=lambda: not meta.issuer and _news_marks(head))


# --------------------------------------------------------------------------- sidecar CSV

SIDECAR_FIELDS = ("title", "issuer", "date", "doc_number", "doc_type", "place")


class SidecarError(ValueError):
    pass


def read_sidecar(path: str | Path) -> dict[str, dict]:
    """A metadata CSV keyed by ``file`` (the file name): {file name: {field: value}}.

    Columns among title, issuer, date, doc_number, doc_type (or kind), place; others are ignored.
    Raises SidecarError (one line) when the file is unreadable or has no ``file`` column.
    """
    import pandas as pd

    p = Path(path)
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise SidecarError(f"metadata file not found: {p}") from None
    except Exception as e:
        raise SidecarError(f"cannot read metadata file {p}: {type(e).__name__}: {str(e)[:100]}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "file" not in df.columns:
        raise SidecarError(f"metadata file {p} has no 'file' column (columns: {', '.join(df.columns[:8])})")
    if "doc_type" not in df.columns and "kind" in df.columns:
        df["doc_type"] = df["kind"]
    keep = [c for c in SIDECAR_FIELDS if c in df.columns]
    out: dict[str, dict] = {}
    for rec in df[["file", *keep]].to_dict("records"):
        name = PurePosixPath(str(rec.pop("file")).strip().replace("\\", "/")).name
        if name:
            out[name] = {k: v.strip() for k, v in rec.items() if str(v).strip()}
    return out


def apply_sidecar(meta: DocMeta, values: dict | None) -> tuple[DocMeta, str]:
    """Sidecar values override the text's; returns (meta, place from the sidecar or '')."""
    if not values:
        return meta, ""
    for key in ("title", "issuer", "doc_number"):
        if values.get(key):
            setattr(meta, key, values[key])
            meta.found[key] = "sidecar"
    if values.get("date"):
        meta.date = parse_date(values["date"]) or meta.date
        meta.found["date"] = "sidecar"
    if values.get("doc_type"):
        kind = values["doc_type"]
        meta.doc_type = kind if kind in DOC_TYPES else doc_type_of(kind)
        meta.found["doc_type"] = "sidecar"
    return meta, values.get("place", "")
