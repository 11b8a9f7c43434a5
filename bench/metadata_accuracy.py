"""Accuracy of document metadata found in the text (aipolicy.metadata.extract).

1. The fixture sets tests/fixtures/metadata/ (development) and metadata_heldout/ (written after the
   rules, scored once before a fix: 90% title+issuer+year, the news item missed)  (short invented documents in the layouts real files come in:
   GB/T 9704 header, 印发 notice, "（…印发）" line, Chinese-numeral dates, web metadata table, work
   reports, news) against tests/fixtures/metadata/expected.csv: share right per field.
2. With --shared DIR: the ai-policies corpus (bodies whose first line is the title) against its
   index.csv: title exact match, and doc_type against index.csv's kind where the kind is one of ours.

    python bench/metadata_accuracy.py [--shared ../shared]
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aipolicy.ingest import decode_bytes  # noqa: E402
from aipolicy.metadata import DOC_TYPES, doc_type_of, extract  # noqa: E402

FIELDS = ("title", "issuer", "year", "date", "doc_number", "doc_type")


def fixture_scores(folder: Path, verbose: bool = False) -> dict[str, float]:
    rows = list(csv.DictReader(open(folder / "expected.csv", encoding="utf-8")))
    right = {f: 0 for f in FIELDS}
    all3 = 0
    for r in rows:
        text, _ = decode_bytes((folder / r["file"]).read_bytes())
        m = extract(text.split("\n"), file_name=r["file"])
        got = m.row()
        exp = dict(r, year=r["date"][:4])
        ok = {f: str(got[f] or "") == str(exp[f] or "") for f in FIELDS}
        for f in FIELDS:
            right[f] += ok[f]
        all3 += ok["title"] and ok["issuer"] and ok["year"]
        if verbose and not all(ok.values()):
            print(f"  {r['file']}: " + "; ".join(f"{f}: got {got[f]!r} want {exp[f]!r}" for f in FIELDS if not ok[f]))
    n = len(rows)
    out = {f: right[f] / n for f in FIELDS}
    out["title+issuer+year"] = all3 / n
    out["n"] = n
    return out


def corpus_scores(shared: Path, verbose: bool = False) -> dict[str, float]:
    folder = shared / "corpus" / "ai-policies"
    rows = list(csv.DictReader(open(folder / "index.csv", encoding="utf-8")))
    title_ok = type_ok = type_n = 0
    for r in rows:
        text, _ = decode_bytes((folder / "texts" / r["file"]).read_bytes())
        m = extract(text.split("\n"), file_name=r["file"])
        title_ok += m.title == r["title"]
        if verbose and m.title != r["title"]:
            print(f"  title {r['file']}: got {m.title!r}")
        want = r["kind"] if r["kind"] in DOC_TYPES else doc_type_of(r["kind"])
        type_n += 1
        type_ok += m.doc_type == want
        if verbose and m.doc_type != want:
            print(f"  type {r['file']}: got {m.doc_type} want {want} ({r['kind']})")
    return {"title": title_ok / len(rows), "doc_type": type_ok / type_n, "n": len(rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    for name in ("metadata", "metadata_heldout"):
        fx = fixture_scores(ROOT / "tests" / "fixtures" / name, a.verbose)
        print(f"fixtures/{name} ({fx.pop('n')} documents): " + ", ".join(f"{k} {v:.0%}" for k, v in fx.items()))
    if (a.shared / "corpus" / "ai-policies" / "index.csv").is_file():
        cs = corpus_scores(a.shared, a.verbose)
        print(f"ai-policies vs index.csv ({cs.pop('n')} documents): "
              + ", ".join(f"{k} {v:.0%}" for k, v in cs.items()))
    else:
        print(f"ai-policies corpus not found under {a.shared}: skipped")


if __name__ == "__main__":
    main()
