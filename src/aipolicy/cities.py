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
names places gets the most-named one (ties: the first named); otherwise it falls back to the
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

NATIONAL = "national"
UNKNOWN = "unknown"
ISSUER_WINDOW = 600
# weight of one mention by gazetteer level
LEVEL_WEIGHT = {"municipality": 1.0, "province": 1.0, "city": 1.0, "district": 1.0, "zone": 1.0,
                "institution": 1.0, "alias": 1.0, "country": 1.0, NATIONAL: 0.0}
_ISSUER_TAIL = re.compile(
    r"(人民政府|政府办公厅|政府办公室|政府|人大常委会|发展和改革委员会|发展改革委|经济和信息化委员会|经济和信息化局|"
    r"经信委|经信局|科学技术委员会|科学技术局|科委|科技局|大数据局|数据局|工业和信息化局|网信办|委员会|委办公厅)")


_GOV_DOCUMENT = re.compile(r"代表.{0,12}人民政府|人民政府(关于|办公厅|办公室)|政府工作报告|向大会报告")


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


def document_place(doc, gaz: Gazetteer | None = None) -> tuple[str, str, bool]:
    """(place, evidence, issued_by_government) for one document."""
    gaz = gaz or Gazetteer.default()
    text = "\n".join(doc.paragraphs)
    head = text[:ISSUER_WINDOW]
    for m in gaz.mentions(head):
        if m.full_form and m.level in ("municipality", "province", "city") and _ISSUER_TAIL.match(head, m.end):
            tail = _ISSUER_TAIL.match(head, m.end).group(0)
            return m.place, f"issuer: {m.surface}{tail}", True
    # a government document whose issuer's name is missing ("我代表市人民政府向大会报告工作")
    issued = _GOV_DOCUMENT.search(head) is not None
    place, evidence = _place_without_issuer(doc, text, gaz)
    return place, evidence, issued


def _place_without_issuer(doc, text: str, gaz: Gazetteer) -> tuple[str, str]:
    stem = PurePosixPath(doc.source).stem
    # a file named after a place is about it, even where the bare name is ambiguous in running text
    named = gaz.any_form.get(stem)
    if named and gaz.level_of.get(named) in ("municipality", "province", "city"):
        return named, f"file name: {PurePosixPath(doc.source).name}"
    title = doc.title or ""
    mentions = gaz.mentions(title + "\n" + text)
    counts = _weighted(mentions, title_len=len(title) + 1)
    if counts:
        top, n = counts.most_common(1)[0]
        total = sum(counts.values())
        if n > 0.5 * total or len(counts) == 1:
            return top, f"mentions: {counts.describe()}"
        return NATIONAL, f"several places, none dominant: {counts.describe()}"
    national = [m.surface for m in mentions if m.level == NATIONAL]
    if national:
        return NATIONAL, f"national bodies: {', '.join(sorted(set(national))[:4])}"
    return UNKNOWN, "no place named"


def _unit_place(text: str, place: str, level: str | None, issued: bool, gaz: Gazetteer):
    """(place, evidence) a unit's own mentions give it, or None when it keeps the document's place."""
    counts = _Tally()
    first: dict[str, int] = {}
    for m in gaz.mentions(text):
        if LEVEL_WEIGHT.get(m.level, 1.0):
            counts.add(m, 1)
            first.setdefault(m.place, m.start)
    if not counts:
        return None
    best = max(counts.values())
    top = min((p for p, n in counts.items() if n == best), key=lambda p: first[p])
    if issued and not (level == "province" and gaz.is_city_of(top, place)):
        return None
    if top == place:
        return None
    return top, f"unit: {counts.describe(3)}"


def attribute_cities(doc, units: list[dict], gaz: Gazetteer | None = None) -> list[dict]:
    """Set ``city`` and ``city_evidence`` on a document's unit rows (in place; returns them)."""
    gaz = gaz or Gazetteer.default()
    place, evidence, issued = document_place(doc, gaz)
    level = gaz.level_of.get(place)
    doc_evidence = f"document ({evidence})"
    # units of a government document keep its place unless it is provincial: skip the scan
    scan = not issued or level == "province"
    for row in units:
        row_city = row.pop("_row_city", None)
        if row_city:
            row["city"], row["city_evidence"] = gaz.normalise(row_city), f"input column: {row_city}"
            continue
        own = _unit_place(row["text"], place, level, issued, gaz) if scan else None
        row["city"], row["city_evidence"] = own or (place, doc_evidence)
    return units
