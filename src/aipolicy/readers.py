"""File readers that keep the document's layout: PDF by position, .docx in document order, every
sheet of a workbook, and .doc/.wps through LibreOffice when it is installed.

PDF: pdfplumber (on pdfminer.six) rather than pypdf. On Chinese government PDFs made by word processors
the curly quotes are separate Latin-font runs written after their line's Chinese text; pypdf emits
them in content-stream order ("打造\\n人工智能+\\n应用高地，\\n“\\n”"), pdfplumber groups characters
into lines by position and orders them left to right ("打造“人工智能+”应用高地，"), and gives each
line's position on the page, which is what tells a running header or footer from the body
(``tests/test_pdf_layout.py`` shows both on a generated PDF).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from .errors import SkipFile
from .layout import is_page_marker, repair_pages

EDGE = 0.08  # a line within this share of the page height from the top or bottom is header/footer zone
_DIGITS = re.compile(r"\d+")


# --------------------------------------------------------------------------- PDF

def pdf_pages(path: Path) -> list[list[tuple[str, str]]]:
    """Per page, its lines as (zone, text): zone 'head', 'body' or 'foot' by position on the page."""
    import logging

    import pdfplumber

    from .resources import quiet_logger

    pages = []
    try:
        # pdfminer's warnings about damaged files: we report those ourselves (level restored after)
        with quiet_logger("pdfminer", logging.ERROR), pdfplumber.open(str(path)) as pdf:
            for page in pdf.pages:
                h = float(page.height) or 1.0
                lines = []
                for ln in page.extract_text_lines(return_chars=False):
                    zone = "head" if ln["top"] < EDGE * h else "foot" if ln["bottom"] > (1 - EDGE) * h else "body"
                    lines.append((zone, ln["text"]))
                pages.append(lines)
    except SkipFile:
        raise
    except Exception as e:  # pdfminer raises many types for damaged or encrypted files
        name = type(e).__name__
        if "Password" in name or "Encrypt" in name:
            raise SkipFile("encrypted PDF (password needed)") from None
        raise SkipFile(f"not a readable PDF ({name}: {str(e)[:100]})") from None
    return pages


def pdf_chrome(pages: list[list[tuple[str, str]]]) -> set[str]:
    """Header and footer lines: in the edge zones and either a page number or repeated on at least
    half of the pages (numbers ignored, so "第 3 页" and "第 4 页" are one footer)."""
    counts: Counter = Counter()
    for page in pages:
        counts.update({_DIGITS.sub("#", t.strip()) for zone, t in page if zone != "body"})
    need = max(2, (len(pages) + 1) // 2)
    chrome = set()
    for page in pages:
        for zone, t in page:
            if zone != "body" and (is_page_marker(t) or counts[_DIGITS.sub("#", t.strip())] >= need):
                chrome.add(t.strip())
    return chrome


def read_pdf(path: Path) -> tuple[str, str]:
    """(paragraph text, raw text) of a PDF: the paragraph text has headers, footers and page numbers
    removed and lines re-joined into paragraphs; the raw text keeps every line (for metadata)."""
    pages = pdf_pages(path)
    raw = "\n".join(t for page in pages for _, t in page)
    if not raw.strip():
        raise SkipFile("PDF has no text layer (scanned image?); OCR it first")
    chrome = pdf_chrome(pages)
    paragraphs = repair_pages([[t for _, t in page] for page in pages], chrome=chrome)
    return "\n".join(paragraphs), raw


# --------------------------------------------------------------------------- docx

def docx_blocks(path: Path, limits=None) -> list[str]:
    """Paragraphs and table rows of a .docx in document order; a row is one line, cells joined by
    "｜" (merged cells once). ``limits`` (default: the defaults) are checked before the XML is parsed
    (zip sizes) and before it is read (paragraphs, rows, cells); a bogus merge is read cell by cell."""
    from .limits import DEFAULT, check_zip
    from .safe_read import check_docx_body

    limits = limits or DEFAULT
    check_zip(path, limits)
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph
    except ImportError as e:  # pragma: no cover - dependency is declared
        raise SkipFile(f"python-docx is required for .docx files: {e}") from None
    try:
        d = docx.Document(str(path))
        check_docx_body(d, limits)
        out: list[str] = []
        for block in d.iter_inner_content():
            if isinstance(block, Paragraph):
                out.append(block.text)
            elif isinstance(block, Table):
                out.extend(_table_rows(block, limits))
    except SkipFile:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise SkipFile(f"not a readable .docx (broken or truncated: {type(e).__name__})") from None
    except Exception as e:  # lxml or zip errors deep inside a damaged package
        raise SkipFile(f"not a readable .docx ({type(e).__name__}: {str(e)[:100]})") from None
    return out


def _table_rows(table, limits) -> list[str]:
    from .safe_read import row_cells

    rows = []
    for row in table.rows:
        cells: list[str] = []
        seen = set()
        for c in row_cells(row, limits):
            key = id(c._tc)
            text = " ".join(c.text.split())
            if key in seen or not text:
                continue
            seen.add(key)
            cells.append(text)
        if cells:
            rows.append("｜".join(cells))
    return rows


# --------------------------------------------------------------------------- workbooks

def read_sheets(path: Path, sheet: str | None = None, limits=None) -> list[tuple[str, "object"]]:
    """Every sheet of an .xlsx (or only ``sheet``) as (sheet name, DataFrame of str), within the
    limits (zip sizes checked first; a sheet's declared used range is not trusted: safe_read.read_xlsx)."""
    from .limits import DEFAULT, check_zip
    from .safe_read import read_xlsx

    limits = limits or DEFAULT
    check_zip(path, limits)
    try:
        return read_xlsx(path, limits, sheet)
    except SkipFile:
        raise
    except Exception as e:
        raise SkipFile(f"not a readable .xlsx table ({type(e).__name__}: {str(e)[:120]})") from None


TEXT_COLUMN_NAMES = ("text", "正文", "内容", "content", "body", "文本")


def text_column(columns, wanted: str | None = None) -> str:
    """The column that holds the text: ``wanted`` (``--text-column``), else the one known name present.

    Raises SkipFile when it is missing or ambiguous (two columns that differ only by case or spaces,
    or several known names).
    """
    cols = [str(c) for c in columns]
    if wanted is not None:
        hits = [c for c in cols if c.strip().lower() == wanted.strip().lower()]
        if not hits:
            raise SkipFile(f"no column '{wanted}' (columns: {', '.join(cols[:8])})")
        if len(hits) > 1 and wanted not in hits:
            raise SkipFile(f"text column '{wanted}' is ambiguous: {', '.join(hits)}")
        return wanted if wanted in hits else hits[0]
    hits = [c for c in cols if c.strip().lower() in TEXT_COLUMN_NAMES]
    if not hits:
        raise SkipFile(f"table has no text column (columns: {', '.join(cols[:8])}); name it with --text-column")
    if len(hits) > 1:
        raise SkipFile(f"text column is ambiguous ({', '.join(hits)}); choose one with --text-column")
    return hits[0]


# --------------------------------------------------------------------------- .doc / .wps

CONVERT_EXT = {".doc", ".wps"}
SOFFICE_TIMEOUT = 120


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_docx(path: Path, workdir: Path) -> Path:
    """Convert a .doc/.wps file to .docx with LibreOffice; SkipFile when it is not installed or fails."""
    exe = soffice()
    if exe is None:
        raise SkipFile(f"{path.suffix.lower()} needs LibreOffice (soffice) to be converted; it is not installed")
    env = dict(os.environ, HOME=str(workdir))  # a private profile: no clash with a running LibreOffice
    try:
        proc = subprocess.run([exe, "--headless", "--convert-to", "docx", "--outdir", str(workdir), str(path)],
                              capture_output=True, timeout=SOFFICE_TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise SkipFile(f"LibreOffice conversion took longer than {SOFFICE_TIMEOUT} s") from None
    except OSError as e:
        raise SkipFile(f"LibreOffice could not be started ({e.strerror})") from None
    out = workdir / (path.stem + ".docx")
    if proc.returncode != 0 or not out.is_file():
        msg = (proc.stderr or proc.stdout or b"").decode("utf-8", "replace").strip().splitlines()
        raise SkipFile(f"LibreOffice could not convert the file ({msg[-1][:100] if msg else 'no output'})")
    return out


def read_converted(path: Path, limits=None) -> list[str]:
    """Paragraphs of a .doc/.wps file converted to .docx in a private temporary folder."""
    with tempfile.TemporaryDirectory(prefix="aipolicy-soffice-") as tmp:
        return docx_blocks(convert_to_docx(path, Path(tmp)), limits)
