"""The documents table: one row per document, joinable to the units by ``doc_id``.

Columns (CONTRACT.md): ``doc_id, file, title, issuer, date, year, doc_number, doc_type, place,
near_duplicate_of``. Written as ``OUT.documents.csv`` beside the output. Near-duplicates are decided
over the whole run in input order (the later document points at the earlier one), so the per-file
pipeline returns each document's sketch and :func:`documents_table` settles them at the end.
"""
from __future__ import annotations

import os
from pathlib import Path

from .duplicates import DocumentDeduper, sketch
from .metadata import DOCUMENT_COLUMNS

SKETCH_KEY = "_sketch"


def document_row(doc) -> dict:
    """The documents-table row of one read (and place-attributed) document, with its sketch."""
    meta = doc.meta
    row = {"doc_id": doc.doc_id, "file": doc.source, "title": getattr(meta, "title", "") or doc.title,
           "issuer": getattr(meta, "issuer", ""), "date": getattr(meta, "date", ""),
           "year": getattr(meta, "year", None), "doc_number": getattr(meta, "doc_number", ""),
           "doc_type": getattr(meta, "doc_type", ""), "place": doc.place, "near_duplicate_of": ""}
    row[SKETCH_KEY] = list(sketch(doc.norm or doc.paragraphs))
    return row


def documents_table(rows: list[dict]) -> pd.DataFrame:
    """Rows in input order → the documents table, near-duplicates flagged, one row per doc_id."""
    return documents_frame(document_records(rows))


def documents_frame(records: list[dict]) -> pd.DataFrame:
    """Documents-table records (``document_records``) as a DataFrame: its columns, year as Int64."""
    import pandas as pd

    df = pd.DataFrame(records, columns=DOCUMENT_COLUMNS)
    df["year"] = df["year"].astype("Int64")
    return df


def document_records(rows: list[dict]) -> list[dict]:
    """``documents_table`` as a list of row dicts (no pandas): the label runner writes them directly."""
    dedupe = DocumentDeduper()
    seen: set[str] = set()
    out = []
    for r in rows:
        if r["doc_id"] in seen:
            continue
        seen.add(r["doc_id"])
        r = dict(r)
        r["near_duplicate_of"] = dedupe.check(r["doc_id"], sk=tuple(r.pop(SKETCH_KEY, ()) or ()))
        out.append(r)
    return out


def documents_path(out: str | os.PathLike) -> Path:
    return Path(str(out) + ".documents.csv")


def drop_near_duplicates(units: pd.DataFrame, documents: pd.DataFrame | None) -> pd.DataFrame:
    """Units without those of documents flagged as near-duplicates of an earlier one (reports count
    an article once)."""
    if documents is None or "near_duplicate_of" not in documents or not len(units):
        return units
    flagged = documents.loc[documents["near_duplicate_of"].fillna("").astype(str) != "", "doc_id"]
    return units[~units["doc_id"].isin(set(flagged))]


def file_documents(path: Path, source: str, *, max_bytes: int, sheet: str | None = None,
                   text_column: str | None = None, sidecar: dict | None = None,
                   limits=None) -> tuple[list[dict], list[dict]]:
    """One file → (unit rows with their places, documents-table rows with sketches).

    read → layout repair and cleaning → metadata (text, then sidecar) → units → places.
    Raises SkipFile with a one-line reason.
    """
    from .cities import attribute_cities, metadata_args
    from .pipeline import read_file
    from .units import document_units

    units: list[dict] = []
    docs: list[dict] = []
    for doc in read_file(path, source, max_bytes=max_bytes, sheet=sheet, text_column=text_column,
                         sidecar=sidecar, limits=limits):
        units.extend(attribute_cities(doc, document_units(doc), **metadata_args(doc)))
        docs.append(document_row(doc))
    return units, docs
