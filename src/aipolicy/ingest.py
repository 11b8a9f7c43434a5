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
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from .errors import AipolicyError, SkipFile
from .pipeline import (DOCUMENT_COLUMNS, MANIFEST_COLUMNS, UNIT_COLUMNS, FileResult, PipelineOptions,  # noqa: F401
                       excluded_by, process_file)
from .resources import read_lines
from .settings import DEFAULT_EXCLUDE, DEFAULT_MAX_BYTES
from .limits import DEFAULT as DEFAULT_LIMITS
from .limits import Limits, over
from .safe_read import check_csv_header, check_entry, check_paragraphs, check_table, read_jsonl
from .tables import safe_str

TEXT_EXT = {".txt", ".md", ".text"}
DOCX_EXT = {".docx"}
PDF_EXT = {".pdf"}
HTML_EXT = {".html", ".htm", ".xhtml"}
TABLE_EXT = {".csv", ".jsonl", ".xlsx"}
CONVERT_EXT = {".doc", ".wps"}  # through LibreOffice (soffice) when installed
SUPPORTED_EXT = TEXT_EXT | DOCX_EXT | PDF_EXT | HTML_EXT | TABLE_EXT | CONVERT_EXT



@dataclass
class Document:
    """One cleaned document. ``paragraphs`` are cleaned lines in their original characters, ``norm``
    the same lines normalised (for matching, features and ids); table rows carry their own ids."""

    doc_id: str
    source: str
    paragraphs: list[str]
    title: str = ""
    # table inputs only: per paragraph, a user-given unit id and city (None where absent)
    row_ids: list[str | None] | None = None
    row_cities: list[str | None] | None = None
    from_table: bool = False
    norm: list[str] | None = None
    meta: object = None  # metadata.DocMeta
    place_hint: str = ""  # a sidecar's place
    place: str = ""  # set by cities.attribute_cities
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- discovery

def _walk(root: Path) -> list[Path]:
    """Every entry under ``root`` that is not a folder (hidden ones left out), symbolic links not
    followed into folders; a folder that cannot be listed is returned as an entry (skipped later)."""
    out: list[Path] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            out.append(Path(d))
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            (stack if is_dir else out).append(Path(e.path))
    return sorted(out)


def discover(paths: Iterable[str | os.PathLike]) -> list[tuple[Path, str]]:
    """Expand files and folders (recursively) into (path, source-name) pairs, sorted.

    Every entry that is not a folder is listed — also broken links, link loops, FIFOs, sockets and
    unreadable files, which ``read_documents`` then skips with their reason; nothing goes missing.
    The source name is the path relative to the folder it was found in (or the file name for
    a file given directly), so it does not depend on where the command was run from.
    Raises AipolicyError for a path that does not exist.
    """
    found: list[tuple[Path, str]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend((f, safe_str(f.relative_to(p).as_posix())) for f in _walk(p))
        elif os.path.lexists(p):
            found.append((p, safe_str(p.name)))
        else:
            raise AipolicyError(f"input not found: {safe_str(str(p))}")
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

from .textnorm import (_FULLWIDTH, _opencc, halfwidth, normalise, tidy,  # noqa: E402,F401  (re-exported)
                       tidy_and_normalise)


@lru_cache(maxsize=1)
def _boilerplate_re() -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in read_lines("boilerplate.txt")))


def is_boilerplate(line: str) -> bool:
    return _boilerplate_re().fullmatch(line) is not None


def clean_lines(text: str) -> tuple[list[str], list[str]]:
    """(shown, normalised) non-empty lines, page chrome and web boilerplate removed (matched on the
    normalised form)."""
    shown, norm = [], []
    shown_text, norm_text = tidy_and_normalise(text)
    for disp, n in zip(shown_text.split("\n"), norm_text.split("\n")):
        if n and not is_boilerplate(n):
            shown.append(disp)
            norm.append(n)
    return shown, norm


def clean_paragraphs(text: str) -> list[str]:
    """Non-empty lines (original characters) with page chrome and web boilerplate removed."""
    return clean_lines(text)[0]


def doc_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


# --------------------------------------------------------------------------- readers

def read_text_file(path: Path) -> str:
    text, _ = decode_bytes(path.read_bytes())
    return text


def read_docx(path: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """Paragraphs and table rows in document order (a row is one line, cells separated by "｜")."""
    from .readers import docx_blocks

    return "\n".join(docx_blocks(path, limits))


def read_pdf(path: Path) -> str:
    """The PDF's paragraphs: headers, footers and page numbers removed, lines re-joined (see readers)."""
    from .readers import read_pdf as _read_pdf

    return _read_pdf(path)[0]


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


def read_table(path: Path, *, sheet: str | None = None, text_column: str | None = None,
               limits: Limits = DEFAULT_LIMITS) -> list[pd.DataFrame]:
    """A table of paragraphs as DataFrames (one per .xlsx sheet) with the text in column ``text``.

    The text column is ``text_column`` or the one column named text/正文/内容/content (any case);
    SkipFile when it is missing or ambiguous.
    """
    import pandas as pd

    from .readers import read_sheets, text_column as find_text_column

    ext = path.suffix.lower()
    try:
        if ext == ".csv":
            import io

            text, _ = decode_bytes(path.read_bytes())
            check_csv_header(text, limits)
            frames = [pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)]
        elif ext == ".jsonl":
            frames = [read_jsonl(decode_bytes(path.read_bytes())[0], limits)]
        else:
            frames = [df for _, df in read_sheets(path, sheet, limits)]
        for df in frames:
            check_table(df, limits)
    except SkipFile:
        raise
    except Exception as e:
        raise SkipFile(f"not a readable {ext} table ({type(e).__name__}: {str(e)[:120]})") from None
    out = [_text_table(df, find_text_column(df.columns, text_column)) for df in frames
           if not (df.empty and len(frames) > 1)]
    if not out:
        raise SkipFile("table has no rows")
    return out


def _text_table(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """The text column and the optional id, city and doc_id columns, by position (duplicated or
    differently-cased column names cannot clash)."""
    import pandas as pd

    names = [str(c) for c in df.columns]
    data = {"text": df.iloc[:, names.index(str(col))].tolist()}
    for want in ("id", "city", "doc_id"):
        pos = [i for i, c in enumerate(names) if c.strip().lower() == want and c != str(col)]
        if pos:
            data[want] = df.iloc[:, pos[0]].tolist()
    return pd.DataFrame(data)


# --------------------------------------------------------------------------- files → documents

def _title_of(paragraphs: list[str]) -> str:
    return paragraphs[0] if paragraphs else ""


def _cell(v) -> str | None:
    import pandas as pd

    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    s = str(v).strip()
    return s or None


def _check_file(path: Path, limits: Limits) -> str:
    ext = path.suffix.lower()
    size = check_entry(path)
    max_bytes = limits.max_bytes
    if ext not in SUPPORTED_EXT:
        raise SkipFile(f"unsupported file type '{safe_str(ext) or '(none)'}'")
    if size == 0:
        raise SkipFile("empty file")
    if size > max_bytes:
        raise SkipFile(f"too large ({size / 1e6:.1f} MB > limit {max_bytes / 1e6:.0f} MB; see --max-mb)")
    if ext in HTML_EXT and size > limits.max_html_bytes:
        raise over("HTML page (bytes)", size, limits.max_html_bytes, "max_html_bytes")
    return ext


def _read_body(path: Path, ext: str, limits: Limits = DEFAULT_LIMITS) -> tuple[str, str, str, str]:
    """(raw text for the doc_id, paragraph text, text for metadata, title hint) of a non-table file."""
    if ext in TEXT_EXT:
        from .layout import repair_text

        raw = read_text_file(path)
        return raw, repair_text(raw), raw, ""
    if ext in DOCX_EXT:
        raw = read_docx(path, limits)
        return raw, raw, raw, ""
    if ext in CONVERT_EXT:
        from .readers import read_converted

        raw = "\n".join(read_converted(path, limits))
        return raw, raw, raw, ""
    if ext in PDF_EXT:
        from .readers import read_pdf as read_pdf_pages

        body, raw = read_pdf_pages(path)
        return raw, body, raw, ""
    raw, title = read_html(path)
    return raw, raw, raw, title


def read_documents(path: Path, source: str, *, max_bytes: int = DEFAULT_MAX_BYTES, sheet: str | None = None,
                   text_column: str | None = None, sidecar: dict | None = None,
                   limits: Limits | None = None) -> list[Document]:
    """Read one file into cleaned documents with their metadata. Raises SkipFile with a one-line reason.

    ``sidecar``: {file name: {field: value}} from ``--metadata FILE``, overriding what the text says.
    ``limits`` (default: the defaults with ``max_bytes``) bound what the file may cost.
    """
    from .metadata import apply_sidecar, extract

    if limits is None:
        limits = DEFAULT_LIMITS if max_bytes == DEFAULT_LIMITS.max_bytes else Limits(max_bytes=max_bytes)
    ext = _check_file(path, limits)
    side = (sidecar or {}).get(Path(source).name)
    if ext in TABLE_EXT:
        docs = [d for df in read_table(path, sheet=sheet, text_column=text_column, limits=limits)
                for d in _table_documents(df, source, limits)]
        for d in docs:
            d.meta, d.place_hint = apply_sidecar(extract(d.paragraphs, file_name=source), side)
        return docs
    raw, body, meta_text, title_hint = _read_body(path, ext, limits)
    paragraphs, norm = clean_lines(body)
    check_paragraphs(paragraphs, limits)
    if not paragraphs:
        raise SkipFile("no text after cleaning")
    # metadata reads the lines as written (a space between two issuers in a title is kept)
    lines = meta_text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta, place = apply_sidecar(extract(lines, file_name=source, title_hint=" ".join(title_hint.split())), side)
    return [Document(doc_id=doc_hash(raw), source=source, paragraphs=paragraphs, norm=norm,
                     title=meta.title or _title_of(paragraphs), meta=meta, place_hint=place)]


def _column_cells(df: pd.DataFrame, column: str) -> list[str | None]:
    """The cells of an optional column (None where empty, all None when the column is absent)."""
    return [_cell(v) for v in df[column].tolist()] if column in df.columns else [None] * len(df)


def _table_documents(df: pd.DataFrame, source: str, limits: Limits = DEFAULT_LIMITS) -> list[Document]:
    """A table of paragraphs: rows grouped by ``doc_id`` (or the whole table as one document)."""
    texts = [(_cell(t) or "") for t in df["text"].tolist()]
    check_paragraphs(texts, limits, count=False)  # rows: checked against max_rows by check_table
    ids, cities, groups = (_column_cells(df, c) for c in ("id", "city", "doc_id"))
    if not any(texts):
        raise SkipFile("table has no non-empty text")
    file_hash = doc_hash("\n".join(texts))
    order: dict[str, Document] = {}
    for text, uid, city, group in zip(texts, ids, cities, groups):
        paras, norm = clean_lines(text)
        if not paras:
            continue
        key = group or file_hash
        doc = order.get(key)
        if doc is None:
            doc = order[key] = Document(doc_id=key, source=source, paragraphs=[], row_ids=[],
                                        row_cities=[], from_table=True, norm=[])
        # a row is one paragraph (its line breaks folded), keeping the user's id and city
        doc.paragraphs.append(" ".join(paras))
        doc.norm.append(" ".join(norm))
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
               desc: str = "ingest", options: PipelineOptions | None = None,
               limits: Limits | None = None) -> Iterator[FileResult]:
    """Yield one :class:`~aipolicy.pipeline.FileResult` per input file, in a stable order.

    Every expected failure becomes a skipped FileResult; nothing raises for a bad file. A file reached
    twice, or byte-identical to an earlier one, is read once (status ``duplicate``). ``options``
    overrides ``max_bytes``, ``exclude`` and ``limits``.
    """
    from tqdm.auto import tqdm

    from .duplicates import FileDeduper

    options = options or PipelineOptions(max_bytes=max_bytes, exclude=tuple(exclude), limits=limits)
    dedupe = FileDeduper()
    files = discover(paths)
    for path, source in tqdm(files, desc=desc, unit="file", disable=not progress, dynamic_ncols=True):
        yield process_file(path, source, options, dedupe=dedupe)


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
        return int((self.manifest["status"] == "skipped").sum())

    @property
    def n_duplicate(self) -> int:
        return int((self.manifest["status"] == "duplicate").sum())

    def summary(self) -> str:
        dup = f", {self.n_duplicate} duplicate files" if self.n_duplicate else ""
        near = 0
        if self.documents is not None and len(self.documents):
            near = int((self.documents["near_duplicate_of"] != "").sum())
        near_s = f", {near} near-duplicate documents flagged" if near else ""
        return (f"{self.n_read} files read, {self.n_skipped} skipped{dup}, {len(self.units)} units"
                f" from {self.units['doc_id'].nunique() if len(self.units) else 0} documents{near_s}")


def ingest_files(paths: Iterable[str | os.PathLike], *, max_bytes: int = DEFAULT_MAX_BYTES,
                 exclude: Iterable[str] = DEFAULT_EXCLUDE, progress: bool = False,
                 options: PipelineOptions | None = None, limits: Limits | None = None) -> IngestResult:
    """Ingest files and folders: units, manifest and documents table (near-duplicates flagged).
    ``limits`` (default: the defaults with ``max_bytes``) bound what one file may cost."""
    import pandas as pd

    from .documents import documents_table

    frames, rows, docs = [], [], []
    for res in iter_files(paths, max_bytes=max_bytes, exclude=exclude, progress=progress, options=options,
                          limits=limits):
        rows.append(res.manifest_row)
        docs.extend(res.documents)
        if res.units is not None:
            frames.append(res.units)
    units = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=UNIT_COLUMNS)
    units = units[UNIT_COLUMNS]
    units["position"] = units["position"].astype("int64")
    return IngestResult(units, pd.DataFrame(rows, columns=MANIFEST_COLUMNS), documents_table(docs))


def ingest(paths, *, max_bytes: int = DEFAULT_MAX_BYTES, exclude: Iterable[str] = DEFAULT_EXCLUDE,
           progress: bool = False, limits: Limits | None = None) -> pd.DataFrame:
    """Ingest files and folders; return the unit table (columns: ``UNIT_COLUMNS``).

    ``paths`` may be one path or a list. Use :func:`ingest_files` to also get the manifest.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return ingest_files(paths, max_bytes=max_bytes, exclude=exclude, progress=progress, limits=limits).units
