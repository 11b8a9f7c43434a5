"""Stage 2b — city attribution: each unit gets the place it speaks about, with evidence.

The gazetteer (``data/gazetteer.csv``: provinces, prefecture-level cities, districts, zones,
institutions, nicknames, countries and national bodies) is data, not code.

Document level, strongest evidence first (a document is "issued" — a government document — when
an issuer is found, or when its head reads like one: "我代表市人民政府", "人民政府关于", "政府工作报告"):
1. issuer: a place written with its suffix and followed by a government body
   ("北京市人民政府", "重庆市经济和信息化委员会") near the start of the document;
2. file name: a file named after a place ("北京.txt");
3. mentions: the place with at least half of the weighted mentions (title counts triple;
   districts, zones and institutions count for their city, so "中关村", "智源", "来京" → 北京);
   when no place has more than half, or only national bodies are named, the document is ``national``;
   when nothing at all is named it is ``unknown``.

Unit level: in a document that is not a government document (news, commentary), a unit that
names places gets the most-named one (ties: the first named); a unit that names none continues the
subject of the unit before (its place), unless it is a heading; otherwise it falls back to the
document's place. In a government document units keep the document's place, except that in a
provincial document a unit naming one city of that province gets that city.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

from .resources import read_csv_rows
from .units import NORM, ROW_CITY

NATIONAL = "national"
UNKNOWN = "unknown"
ISSUER_WINDOW = 600
# weight of one mention by gazetteer level
LEVEL_WEIGHT = {"municipality": 1.0, "province": 1.0, "city": 1.0, "district": 1.0, "zone": 1.0,
                "institution": 1.0, "alias": 1.0, "country": 1.0, NATIONAL: 0.0}
_ISSUER_TAIL = re.compile(
    r"(人民政府|政府办公厅|政府办公室|政府|人大常委会|发展和改革委员会|发展改革委|经济和信息化委员会|经济和信息化局|"
    r"经信委|经信局|科学技术委员会|科学技术局|科委|科技局|大数据局|数据局|工业和信息化局|网信办|委员会|委办公厅)")


_GOV_DOCUMENT = re.compile(r"代表.{0,12}(人民政府|政府|行署|行政公署)|人民政府(关于|办公厅|办公室)|政府工作报告|"
                          r"向大会报告|各位代表|各位主任|人民代表大会.{0,8}会议上")
# the document speaks as a city or as a province (decides a name shared by both, such as 吉林)
_VOICE = re.compile(r"代表(市|省|州)(人民)?政府|(市|省)人民代表大会|(市|省)人民政府(办公厅|办公室)?(关于|印发)")
_CITY_SCOPE = re.compile(r"全市|本市|我市")
_PROVINCE_SCOPE = re.compile(r"全省(?!第|前|率先|唯一|首|领先|排名|同类|同期|平均|乃至)|本省|我省")  # not a city's rank
SHARED_NAMES_RULE = (
    "A name shared by a province and one of its cities (吉林) means the province in running text; only "
    "its suffixed form (吉林市) names the city. A document's own place (from its issuer, title or file "
    "name, or the most named place of a government document) written with the bare shared name is the "
    "city when the document speaks as a city: its head says 代表市政府 / 市人民代表大会 / 市人民政府关于 "
    "(the province: 代表省政府 / 省人民代表大会 / 省人民政府关于), or, without such a line, its text "
    "says 全市/本市/我市 more often than 全省/本省/我省 (a ranking such as 全省第一 is a city speaking).")


@dataclass(frozen=True)
class Mention:
    surface: str
    place: str
    level: str
    start: int
    end: int
    full_form: bool  # written with its official suffix (北京市, 广东省)


class Gazetteer:
    """Multi-pattern place matcher (Aho–Corasick, leftmost-longest) over the gazetteer rows."""

    def __init__(self, rows):
        import ahocorasick

        self._auto = ahocorasick.Automaton()
        self.places: dict[str, str] = {}  # unambiguous written form -> place
        self.any_form: dict[str, str] = {}  # every written form, ambiguous ones too -> place
        self.level_of: dict[str, str] = {}  # place -> level of its main row
        self.province_of: dict[str, str] = {}
        entries: dict[str, tuple[str, str, bool]] = {}
        for r in rows:
            place, level = r["place"].strip(), r["level"].strip()
            name, full = r["name"].strip(), r["full"].strip()
            ambiguous = str(r.get("ambiguous", "0")).strip() == "1"
            if level in ("municipality", "province", "city", "country", NATIONAL):
                self.level_of.setdefault(place, level)
            if r.get("province"):
                self.province_of.setdefault(place, r["province"].strip())
            for form, is_full in ((full, True), (name, False)):
                if form:
                    self.any_form.setdefault(form, place)
                if not form or (not is_full and ambiguous and form != full):
                    continue
                self.places.setdefault(form, place)
                # a full form beats a bare one; the first row wins among equals
                if form not in entries or (is_full and not entries[form][2]):
                    entries[form] = (place, level, is_full and form != name)
        for form, (place, level, is_full) in entries.items():
            self._auto.add_word(form, (form, place, level, is_full))
        self._auto.make_automaton()

    @classmethod
    @lru_cache(maxsize=1)
    def default(cls) -> "Gazetteer":
        return cls(read_csv_rows("gazetteer.csv"))

    def mentions(self, text: str) -> list[Mention]:
        out = []
        for end, (form, place, level, is_full) in self._auto.iter_long(text):
            out.append(Mention(form, place, level, end - len(form) + 1, end + 1, is_full))
        return out

    def normalise(self, name: str | None) -> str | None:
        """北京市 → 北京; unknown names are returned stripped; None stays None."""
        if name is None:
            return None
        name = name.strip()
        if name.lower() == NATIONAL:
            return NATIONAL
        return self.places.get(name, name)

    def is_city_of(self, city: str, province: str) -> bool:
        return self.level_of.get(city) == "city" and self.province_of.get(city) == province


class _Tally(Counter):
    """Weighted mention counts per place, remembering the words that were seen for each place."""

    def __init__(self):
        super().__init__()
        self.words: dict[str, list[str]] = {}

    def add(self, m: Mention, weight: float) -> None:
        self[m.place] += weight
        ws = self.words.setdefault(m.place, [])
        if m.surface not in ws:
            ws.append(m.surface)

    def describe(self, k: int = 4) -> str:
        parts = []
        for p, n in self.most_common(k):
            words = [w for w in self.words[p] if w != p][:3]
            parts.append(f"{p}×{n:g}" + (f" ({'/'.join(words)})" if words else ""))
        return ", ".join(parts)


def _weighted(mentions, title_len: int = 0) -> _Tally:
    c = _Tally()
    for m in mentions:
        w = LEVEL_WEIGHT.get(m.level, 1.0)
        if w:
            c.add(m, w * (3 if m.start < title_len else 1))
    return c


def shared_name_place(form: str, head: str, gaz: Gazetteer, text: str = "") -> str:
    """The place of a document-level name under SHARED_NAMES_RULE (吉林 → 吉林市 or 吉林)."""
    text = text or head
    province = gaz.places.get(form) if gaz.level_of.get(gaz.places.get(form, "")) == "province" else None
    city = gaz.any_form.get(form)
    if province is None or city is None or gaz.level_of.get(city) != "city" or city == province:
        return gaz.any_form.get(form, form)
    voice = _VOICE.search(head)
    if voice:
        return province if "省" in voice.group(0) else city
    return city if len(_CITY_SCOPE.findall(text)) > len(_PROVINCE_SCOPE.findall(text)) else province


def issuer_place(issuer: str, gaz: Gazetteer, head: str = "") -> tuple[str, str] | None:
    """(place, evidence) of an issuer named in the metadata ("嘉兴市人民政府办公室", "国务院")."""
    issuer = (issuer or "").strip()
    if not issuer:
        return None
    for m in gaz.mentions(issuer):
        if LEVEL_WEIGHT.get(m.level, 1.0):
            place = m.place
            if not m.full_form:
                place = shared_name_place(m.surface, head, gaz)
            return place, f"issuer: {issuer}"
        if m.level == NATIONAL:
            return NATIONAL, f"issuer: {issuer}"
    if re.match(r"(国务院|全国人民代表大会|中共中央|国家|中华人民共和国|工业和信息化部|科学技术部|财政部|教育部)", issuer):
        return NATIONAL, f"issuer: {issuer}"
    return None


def document_place(doc, gaz: Gazetteer | None = None, *, issuer: str = "", doc_type: str = "",
                   place: str = "") -> tuple[str, str, bool]:
    """(place, evidence, issued_by_government) for one document.

    ``place`` (a sidecar's) and ``issuer`` (the document metadata's) come first when given.
    """
    gaz = gaz or Gazetteer.default()
    text = "\n".join(doc.norm if getattr(doc, "norm", None) else doc.paragraphs)
    head = text[:ISSUER_WINDOW]
    if place:
        norm = NATIONAL if place.strip() in ("国家", "全国", "中央", "中国") else gaz.normalise(place)
        return norm, f"metadata place: {place}", True
    found = issuer_place(issuer, gaz, head)
    if found:
        return found[0], found[1], True
    for m in gaz.mentions(head):
        if m.full_form and m.level in ("municipality", "province", "city") and _ISSUER_TAIL.match(head, m.end):
            tail = _ISSUER_TAIL.match(head, m.end).group(0)
            return m.place, f"issuer: {m.surface}{tail}", True
    # a government document whose issuer's name is missing ("我代表市人民政府向大会报告工作", a work report)
    issued = _GOV_DOCUMENT.search(head) is not None or doc_type == "工作报告"
    place, evidence = _place_without_issuer(doc, text, gaz, issued=issued, head=head)
    return place, evidence, issued


_DOC_LEVELS = ("municipality", "province", "city")


def _title_place(title: str, head: str, gaz: Gazetteer, text: str = "") -> tuple[str, str] | None:
    for m in gaz.mentions(title):
        if m.level in _DOC_LEVELS:
            place = m.place if m.full_form else shared_name_place(m.surface, head, gaz, text)
            return place, f"title: {title}"
    return None


def _place_without_issuer(doc, text: str, gaz: Gazetteer, *, issued: bool = False,
                          head: str = "") -> tuple[str, str]:
    stem = PurePosixPath(doc.source).stem
    # a file named after a place is about it, even where the bare name is ambiguous in running text
    named = gaz.any_form.get(stem)
    if named and gaz.level_of.get(named) in _DOC_LEVELS:
        return shared_name_place(stem, head, gaz, text), f"file name: {PurePosixPath(doc.source).name}"
    from .textnorm import normalise

    title = normalise(doc.title or "").replace("\n", " ")
    if issued:  # a government document speaks for the place in its title (政府工作报告 of 亳州市)
        found = _title_place(title, head, gaz, text)
        if found:
            return found
    mentions = gaz.mentions(title + "\n" + text)
    counts = _weighted(mentions, title_len=len(title) + 1)
    if counts:
        top, n = counts.most_common(1)[0]
        total = sum(counts.values())
        if n > 0.5 * total or len(counts) == 1:
            return top, f"mentions: {counts.describe()}"
        if issued:
            return _issuing_place(counts, gaz, text, head)
        return NATIONAL, f"several places, none dominant: {counts.describe()}"
    national = [m.surface for m in mentions if m.level == NATIONAL]
    if national:
        return NATIONAL, f"national bodies: {', '.join(sorted(set(national))[:4])}"
    return UNKNOWN, "no place named"


def attribute_cities(doc, units: list[dict], gaz: Gazetteer | None = None, *, issuer: str = "",
                     doc_type: str = "", place: str = "") -> list[dict]:
    """Set ``city`` and ``city_evidence`` on a document's unit rows (in place; returns them).

    ``issuer``, ``doc_type`` and ``place`` come from the document metadata (text or sidecar) when known.
    In a document that is not a government document, a unit that names no place continues the subject
    of the unit before it and keeps that unit's place (a heading starts a new subject).
    """
    from .layout import starts_heading

    gaz = gaz or Gazetteer.default()
    place, evidence, issued = document_place(doc, gaz, issuer=issuer, doc_type=doc_type, place=place)
    if hasattr(doc, "place"):
        doc.place = place
    level = gaz.level_of.get(place)
    doc_evidence = f"document ({evidence})"
    # units of a government document keep its place unless it is provincial: skip the scan
    scan = not issued or level == "province"
    carried: tuple[str, str] | None = None  # (place, evidence) of the unit before, in commentary
    for row in units:
        row_city = row.pop(ROW_CITY, None)
        norm = row.get(NORM) or row["text"]
        if row_city:
            row["city"], row["city_evidence"] = gaz.normalise(row_city), f"input column: {row_city}"
            continue
        chosen = _unit_place(norm, gaz, place, level, issued) if scan else None
        if chosen:
            row["city"], row["city_evidence"] = chosen
            carried = chosen if not issued else None
        elif carried and not starts_heading(norm):
            row["city"], row["city_evidence"] = carried[0], f"continues the unit before ({carried[0]})"
        else:
            row["city"], row["city_evidence"] = place, doc_evidence
            carried = None
    return units


def _unit_place(text: str, gaz: Gazetteer, place: str, level: str | None, issued: bool) -> tuple[str, str] | None:
    """The place a unit names itself, when it overrides the document's (None otherwise)."""
    counts = _Tally()
    first: dict[str, int] = {}
    for m in gaz.mentions(text):
        if LEVEL_WEIGHT.get(m.level, 1.0):
            counts.add(m, 1)
            first.setdefault(m.place, m.start)
    if not counts:
        national = sorted({m.surface for m in gaz.mentions(text) if m.level == NATIONAL})
        if national and not issued:
            return NATIONAL, f"unit: national bodies: {', '.join(national[:3])}"
        return None
    best = max(counts.values())
    top = min((p for p, n in counts.items() if n == best), key=lambda p: first[p])
    if not issued or (level == "province" and top != place and gaz.is_city_of(top, place)):
        return (top, f"unit: {counts.describe(3)}") if top != place else (place, f"unit: {counts.describe(3)}")
    return None


MIN_ISSUING_MENTIONS = 3  # fewer mentions than this do not make a government document's place
MIN_BARE_MENTIONS = 5  # a bare, ambiguous city name (德州, 长治) must be this frequent to count


def _issuing_place(counts: "_Tally", gaz: Gazetteer, text: str = "", head: str = "") -> tuple[str, str]:
    """A government document with no issuer, title or telling file name (a work report without its
    "我代表…市人民政府" line): the city, prefecture or province it names most (a city of that province
    named at least half as often as the province wins; a shared name such as 吉林 under
    SHARED_NAMES_RULE). A city whose bare name is ambiguous in running text (德州, 长治, 黄山)
    counts when written bare at least MIN_BARE_MENTIONS times and more often than the top place, or
    inside the province that tops. Fewer than MIN_ISSUING_MENTIONS mentions of the top place: unknown."""
    pool = [(n, p) for p, n in counts.items() if gaz.level_of.get(p) in _DOC_LEVELS]
    top, n = max(pool, key=lambda t: t[0])[::-1] if pool else ("", 0)
    own = [(m, p) for m, p in pool if gaz.is_city_of(p, top) and m >= 0.5 * n]
    if gaz.level_of.get(top) == "province" and own:  # a city's report names its province often too
        n, top = max(own, key=lambda t: t[0])
    bare = _bare_city(text, gaz)
    if bare and (bare[1] > n or (gaz.level_of.get(top) == "province" and gaz.is_city_of(bare[0], top))):
        return bare[0], f"bare city name ×{bare[1]} (government document): {counts.describe()}"
    if n < MIN_ISSUING_MENTIONS:
        return UNKNOWN, f"government document naming no place often enough: {counts.describe()}"
    if gaz.level_of.get(top) == "province":
        top = shared_name_place(top, head, gaz, text)
    return top, f"most named place (government document): {counts.describe()}"


def _bare_city(text: str, gaz: Gazetteer) -> tuple[str, int] | None:
    best = None
    for form, place in gaz.any_form.items():
        if form in gaz.places or gaz.level_of.get(place) != "city" or len(form) < 2:
            continue
        n = text.count(form)
        if n >= MIN_BARE_MENTIONS and (best is None or n > best[1]):
            best = (place, n)
    return best


def metadata_args(doc) -> dict:
    """The keyword arguments of attribute_cities that come from a document's metadata."""
    meta = getattr(doc, "meta", None)
    return {"issuer": getattr(meta, "issuer", "") or "", "doc_type": getattr(meta, "doc_type", "") or "",
            "place": getattr(doc, "place_hint", "") or ""}
