"""Stage 1 — ingestion: files and folders in, cleaned documents out.

Reads .txt/.md (encoding detected), .docx, .pdf (text layer), .html/.htm (main text only) and
tables of paragraphs (.csv, .jsonl, .xlsx), cleans the text (OpenCC traditional→simplified,
NFKC width normalisation, whitespace, page chrome) and hands each document to the unit and
city stages. Every input file ends up either ingested or in the manifest with a reason.
"""
from __future__ import annotations

import codecs
import hashlib
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

from .errors import AipolicyError, SkipFile
from .pipeline import (DOCUMENT_COLUMNS, MANIFEST_COLUMNS, UNIT_COLUMNS, FileResult, PipelineOptions,  # noqa: F401
                       excluded_by, process_file)
from .resources import read_lines
from .settings import DEFAULT_EXCLUDE, DEFAULT_MAX_BYTES

TEXT_EXT = {".txt", ".md", ".text"}
DOCX_EXT = {".docx"}
PDF_EXT = {".pdf"}
HTML_EXT = {".html", ".htm", ".xhtml"}
TABLE_EXT = {".csv", ".jsonl", ".xlsx"}
SUPPORTED_EXT = TEXT_EXT | DOCX_EXT | PDF_EXT | HTML_EXT | TABLE_EXT



@dataclass
class Document:
    """One cleaned document. ``paragraphs`` are cleaned lines; table rows carry their own ids."""

    doc_id: str
    source: str
    paragraphs: list[str]
    title: str = ""
    # table inputs only: per paragraph, a user-given unit id and city (None where absent)
    row_ids: list[str | None] | None = None
    row_cities: list[str | None] | None = None
    from_table: bool = False


# --------------------------------------------------------------------------- discovery

def discover(paths: Iterable[str | os.PathLike]) -> list[tuple[Path, str]]:
    """Expand files and folders (recursively) into (path, source-name) pairs, sorted.

    The source name is the path relative to the folder it was found in (or the file name for
    a file given directly), so it does not depend on where the command was run from.
    Raises AipolicyError for a path that does not exist.
    """
    found: list[tuple[Path, str]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if f.is_file():
                    found.append((f, rel.as_posix()))
        elif p.is_file():
            found.append((p, p.name))
        else:
            raise AipolicyError(f"input not found: {p}")
    return found


# --------------------------------------------------------------------------- decoding

_CJK_ENCODINGS = ("gb18030", "big5", "big5hkscs", "cp950", "gbk", "gb2312", "hz", "utf_16", "utf_32")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode bytes of unknown encoding; return (text, encoding).

    BOMs and strict UTF-8 are recognised exactly; anything else goes to charset-normalizer.
    Raises SkipFile for binary data or data no Chinese encoding explains.
    """
    if not data:
        raise SkipFile("empty file")
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
                     (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError as e:
                raise SkipFile(f"declares {enc} by its BOM but does not decode ({e.reason})") from None
    if b"\x00" in data[:8192]:
        raise SkipFile("binary content (NUL bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(_CJK_ENCODINGS)).best()
    if best is None:
        raise SkipFile("unknown text encoding (not UTF-8, GB18030/GBK or Big5)")
    enc = best.encoding
    if enc in ("gbk", "gb2312"):
        enc = "gb18030"  # superset: never loses characters that GBK guessing would
    try:
        return data.decode(enc), enc
    except UnicodeDecodeError:
        return str(best), best.encoding


# --------------------------------------------------------------------------- cleaning

@lru_cache(maxsize=1)
def _opencc():
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=1)
def _boilerplate_re() -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in read_lines("boilerplate.txt")))


_SPACE_RUN = re.compile(r"[ \t\u00a0\u3000]+")
_HAN = r"\u3400-\u9fff\uf900-\ufaff"
_CJK_PUNCT = "，。、；：！？“”‘’（）《》【】"
# a space next to a Chinese character or Chinese punctuation carries no meaning (PDF and web artefact)
_SPACE_BY_HAN = re.compile(rf"(?<=[{_HAN}{_CJK_PUNCT}]) | (?=[{_HAN}{_CJK_PUNCT}])")


# full-width ASCII and the ideographic space, the bulk of what NFKC changes in Chinese text
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def halfwidth(text: str) -> str:
    """``text.translate(_FULLWIDTH)`` as one numpy pass over the code points (15× faster on Chinese
    text, where full-width punctuation is everywhere)."""
    import numpy as np

    if text.isascii():
        return text
    try:
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    except UnicodeEncodeError:  # a lone surrogate: let str.translate keep it
        return text.translate(_FULLWIDTH)
    wide = (cps >= 0xFF01) & (cps <= 0xFF5E)
    space = cps == 0x3000
    if not (wide.any() or space.any()):
        return text
    cps = cps.copy()
    cps[wide] -= 0xFEE0
    cps[space] = 0x20
    return cps.tobytes().decode("utf-32-le")


def normalise(text: str) -> str:
    """Traditional→simplified (OpenCC), NFKC (full-width ASCII → half-width), tidy whitespace."""
    text = halfwidth(_opencc().convert(text))
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for line in text.split("\n"):
        line = _SPACE_RUN.sub(" ", line).strip()
        line = _SPACE_BY_HAN.sub("", line)
        lines.append(line)
    return "\n".join(lines)


def is_boilerplate(line: str) -> bool:
    return _boilerplate_re().fullmatch(line) is not None


def clean_paragraphs(text: str) -> list[str]:
    """Normalised, non-empty lines with page chrome and web boilerplate removed."""
    return [ln for ln in normalise(text).split("\n") if ln and not is_boilerplate(ln)]


def doc_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------- readers

def read_text_file(path: Path) -> str:
    text, _ = decode_bytes(path.read_bytes())
    return text


def read_docx(path: Path) -> str:
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError
    except ImportError as e:  # pragma: no cover - dependency is declared
        raise AipolicyError(f"python-docx is required for .docx files: {e}") from None
    try:
        d = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise SkipFile(f"not a readable .docx (broken or truncated: {type(e).__name__})") from None
    except Exception as e:  # lxml or zip errors deep inside a damaged package
        raise SkipFile(f"not a readable .docx ({type(e).__name__}: {e})") from None
    parts = [p.text for p in d.paragraphs]
    for table in d.tables:
        for row in table.rows:
            cells = []
            for c in row.cells:
                if c.text and (not cells or cells[-1] != c.text):
                    cells.append(c.text)
            parts.append(" ".join(cells))
    return "\n".join(parts)


def read_pdf(path: Path) -> str:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception:
                raise SkipFile("encrypted PDF (password needed)") from None
        pages = [page.extract_text() or "" for page in reader.pages]
    except SkipFile:
        raise
    except (PdfReadError, ValueError, KeyError, OSError) as e:
        raise SkipFile(f"not a readable PDF (broken or truncated: {type(e).__name__})") from None
    except Exception as e:
        raise SkipFile(f"not a readable PDF ({type(e).__name__}: {e})") from None
    text = "\n".join(pages)
    if not text.strip():
        raise SkipFile("PDF has no text layer (scanned image?); OCR it first")
    return _join_pdf_lines(text)


_PDF_SENT_END = re.compile(r"[。！？；!?;:：」』”）)]$")


def _join_pdf_lines(text: str) -> str:
    """PDF text layers break lines at the page width; re-join lines inside a paragraph.

    A line ends a paragraph when it ends with sentence punctuation or is short (a heading).
    """
    out: list[str] = []
    buf = ""
    lines = [ln.strip() for ln in text.split("\n")]
    width = max((len(ln) for ln in lines), default=0)
    for ln in lines:
        if not ln:
            if buf:
                out.append(buf)
                buf = ""
            continue
        buf += ln
        if _PDF_SENT_END.search(ln) or len(ln) < 0.6 * width:
            out.append(buf)
            buf = ""
    if buf:
        out.append(buf)
    return "\n".join(out)


def read_html(path: Path) -> tuple[str, str]:
    """Main text and title of a web page (navigation, ads, comments and footers removed)."""
    import trafilatura

    html, _ = decode_bytes(path.read_bytes())
    doc = trafilatura.bare_extraction(html, include_comments=False, include_tables=True,
                                      deduplicate=False, favor_precision=True, with_metadata=True)
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise SkipFile("no main text found in the HTML page")
    title = getattr(doc, "title", "") or ""
    return text, title


def read_table(path: Path) -> pd.DataFrame:
    ext = path.suffix.lower()
    try:
        if ext == ".csv":
            import io

            text, _ = decode_bytes(path.read_bytes())
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        elif ext == ".jsonl":
            text, _ = decode_bytes(path.read_bytes())
            import io

            df = pd.read_json(io.StringIO(text), lines=True, dtype=False)
        else:
            df = pd.read_excel(path, dtype=str)
    except SkipFile:
        raise
    except Exception as e:
        raise SkipFile(f"not a readable {ext} table ({type(e).__name__}: {str(e)[:120]})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "text" not in df.columns:
        raise SkipFile(f"table has no 'text' column (columns: {', '.join(df.columns[:8])})")
    return df


# --------------------------------------------------------------------------- files → documents

def _title_of(paragraphs: list[str]) -> str:
    return paragraphs[0] if paragraphs else ""


def _cell(v) -> str | None:
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    s = str(v).strip()
    return s or None


def read_documents(path: Path, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Document]:
    """Read one file into cleaned documents. Raises SkipFile with a one-line reason."""
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXT:
        raise SkipFile(f"unsupported file type '{ext or '(none)'}'")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise SkipFile(f"cannot read file ({e.strerror})") from None
    if size == 0:
        raise SkipFile("empty file")
    if size > max_bytes:
        raise SkipFile(f"too large ({size / 1e6:.1f} MB > limit {max_bytes / 1e6:.0f} MB; see --max-mb)")
    if not os.access(path, os.R_OK):
        raise SkipFile("permission denied")

    if ext in TABLE_EXT:
        return _table_documents(read_table(path), source)

    title = ""
    if ext in TEXT_EXT:
        raw = read_text_file(path)
    elif ext in DOCX_EXT:
        raw = read_docx(path)
    elif ext in PDF_EXT:
        raw = read_pdf(path)
    else:
        raw, title = read_html(path)
    paragraphs = clean_paragraphs(raw)
    if not paragraphs:
        raise SkipFile("no text after cleaning")
    if title:
        title = normalise(title).replace("\n", " ")
    return [Document(doc_id=doc_hash(raw), source=source, paragraphs=paragraphs,
                     title=title or _title_of(paragraphs))]


def _column_cells(df: pd.DataFrame, column: str) -> list[str | None]:
    """The cells of an optional column (None where empty, all None when the column is absent)."""
    return [_cell(v) for v in df[column].tolist()] if column in df.columns else [None] * len(df)


def _table_documents(df: pd.DataFrame, source: str) -> list[Document]:
    """A table of paragraphs: rows grouped by ``doc_id`` (or the whole file as one document)."""
    texts = [(_cell(t) or "") for t in df["text"].tolist()]
    ids, cities, groups = (_column_cells(df, c) for c in ("id", "city", "doc_id"))
    if not any(texts):
        raise SkipFile("table has no non-empty text")
    file_hash = doc_hash("\n".join(texts))
    order: dict[str, Document] = {}
    for text, uid, city, group in zip(texts, ids, cities, groups):
        paras = clean_paragraphs(text)
        if not paras:
            continue
        key = group or file_hash
        doc = order.get(key)
        if doc is None:
            doc = order[key] = Document(doc_id=key, source=source, paragraphs=[], row_ids=[],
                                        row_cities=[], from_table=True)
        # a row is one paragraph (its line breaks folded), keeping the user's id and city
        doc.paragraphs.append(" ".join(paras))
        doc.row_ids.append(uid)
        doc.row_cities.append(city)
    docs = list(order.values())
    for d in docs:
        d.title = _title_of(d.paragraphs)
    if not docs:
        raise SkipFile("table has no usable text after cleaning")
    return docs


# --------------------------------------------------------------------------- pipeline

def iter_files(paths: Iterable[str | os.PathLike], *, max_bytes: int = DEFAULT_MAX_BYTES,
               exclude: Iterable[str] = DEFAULT_EXCLUDE, progress: bool = False,
               desc: str = "ingest") -> Iterator[FileResult]:
    """Yield one :class:`~aipolicy.pipeline.FileResult` per input file, in a stable order.

    Every expected failure becomes a skipped FileResult; nothing raises for a bad file.
    """
    from tqdm.auto import tqdm

    options = PipelineOptions(max_bytes=max_bytes, exclude=tuple(exclude))
    files = discover(paths)
    for path, source in tqdm(files, desc=desc, unit="file", disable=not progress, dynamic_ncols=True):
        yield process_file(path, source, options)


@dataclass
class IngestResult:
    units: pd.DataFrame
    manifest: pd.DataFrame
    documents: pd.DataFrame | None = None  # DOCUMENT_COLUMNS, one row per document read

    @property
    def n_read(self) -> int:
        return int((self.manifest["status"] == "ok").sum())

    @property
    def n_skipped(self) -> int:
        return int((self.manifest["status"] != "ok").sum())

    def summary(self) -> str:
        return (f"{self.n_read} files read, {self.n_skipped} skipped, {len(self.units)} units"
                f" from {self.units['doc_id'].nunique() if len(self.units) else 0} documents")


def ingest_files(paths: Iterable[str | os.PathLike], *, max_bytes: int = DEFAULT_MAX_BYTES,
                 exclude: Iterable[str] = DEFAULT_EXCLUDE, progress: bool = False) -> IngestResult:
    frames, rows, docs = [], [], []
    for res in iter_files(paths, max_bytes=max_bytes, exclude=exclude, progress=progress):
        rows.append(res.manifest_row)
        docs.extend(res.documents)
        if res.units is not None:
            frames.append(res.units)
    units = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=UNIT_COLUMNS)
    units = units[UNIT_COLUMNS]
    units["position"] = units["position"].astype("int64")
    return IngestResult(units, pd.DataFrame(rows, columns=MANIFEST_COLUMNS),
                        pd.DataFrame(docs, columns=DOCUMENT_COLUMNS))


def ingest(paths, *, max_bytes: int = DEFAULT_MAX_BYTES, exclude: Iterable[str] = DEFAULT_EXCLUDE,
           progress: bool = False) -> pd.DataFrame:
    """Ingest files and folders; return the unit table (columns: ``UNIT_COLUMNS``).

    ``paths`` may be one path or a list. Use :func:`ingest_files` to also get the manifest.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return ingest_files(paths, max_bytes=max_bytes, exclude=exclude, progress=progress).units
