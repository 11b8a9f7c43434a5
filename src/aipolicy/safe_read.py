"""Readers for the parts of docx and table files where a hostile or damaged file could hang or blow
up memory, each bounded by the ``Limits``; every problem is a SkipFile with a one-line reason.

- docx tables: a cell spanning a bogus number of columns (``gridSpan``) or a vertical merge with no
  cell above (``vMerge`` orphan) is read cell by cell instead of through python-docx's layout grid;
- xlsx: the sheets' declared used range (``<dimension>``) is ignored (openpyxl would pad every row to
  it: one cell at XFD1048576 means 17 billion empty cells); rows and cells are counted as they are read;
- jsonl: one JSON object per line, read line by line; a line that is not an object names its line;
- entries that are not regular files are recognised without being opened (a FIFO would block).
"""
from __future__ import annotations

import errno
import io
import json
import os
import stat

from .errors import SkipFile
from .limits import Limits, over




# ------------------------------------------------------------------------------------------- entries

_NOT_REGULAR = ((stat.S_ISDIR, "a folder that could not be listed, or a link to a folder (not followed)"),
                (stat.S_ISFIFO, "a FIFO (named pipe), not a regular file: not opened"),
                (stat.S_ISSOCK, "a socket, not a regular file"),
                (stat.S_ISCHR, "a character device, not a regular file"),
                (stat.S_ISBLK, "a block device, not a regular file"))


def check_entry(path: Path) -> int:
    """The size of a regular, readable file (a link is followed); else SkipFile saying what it is.
    Never opens the entry, so a FIFO cannot block."""
    try:
        st = os.stat(path)
    except OSError as e:
        if os.path.islink(path):
            if e.errno == errno.ELOOP:
                raise SkipFile("symbolic link loop") from None
            if e.errno == errno.ENOENT:
                raise SkipFile("broken symbolic link (its target does not exist)") from None
        raise SkipFile(f"cannot read entry ({e.strerror})") from None
    for test, reason in _NOT_REGULAR:
        if test(st.st_mode):
            raise SkipFile(reason)
    if not stat.S_ISREG(st.st_mode):
        raise SkipFile("not a regular file")
    if not os.access(path, os.R_OK):
        raise SkipFile("permission denied")
    return st.st_size




# ------------------------------------------------------------------------------------------- docx

def _grid_span(tc) -> int:
    try:
        return int(tc.grid_span)
    except (ValueError, TypeError, AttributeError):
        return 1 << 30  # unreadable: treated as over any limit


def row_cells(row, limits: Limits) -> list:
    """The cells of one docx table row (python-docx ``_Cell`` objects, a merged cell possibly repeated,
    as ``row.cells`` gives them); read cell by cell, each once, when a cell spans a bogus number of
    columns or a vertical merge has no cell above (python-docx would loop or raise)."""
    from docx.table import _Cell

    tcs = row._tr.tc_lst
    if all(_grid_span(tc) <= limits.max_grid_span for tc in tcs):
        try:
            return list(row.cells)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError):
            pass  # an orphan vMerge, a malformed merge
    return [_Cell(tc, row.table) for tc in tcs]


def check_docx_body(d, limits: Limits) -> None:
    """Refuse a docx body with more paragraphs, table rows or cells than the limits, before reading."""
    body = d.element.body
    n_par = sum(1 for _ in body.iterchildren("{*}p"))
    if n_par > limits.max_paragraphs:
        raise over("paragraphs", n_par, limits.max_paragraphs, "max_paragraphs")
    n_rows = sum(1 for _ in body.iter("{*}tr"))
    if n_rows > limits.max_rows:
        raise over("table rows", n_rows, limits.max_rows, "max_rows")
    n_cells = sum(1 for _ in body.iter("{*}tc"))
    if n_cells > limits.max_cells:
        raise over("table cells", n_cells, limits.max_cells, "max_cells")


# ------------------------------------------------------------------------------------------- tables

def _xlsx_value(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _sheet_frame(ws, limits: Limits, seen: list[int]) -> pd.DataFrame:
    """One sheet as strings (first non-empty row = header; empty rows left out). ``seen`` counts the
    cells read so far in the workbook."""
    import pandas as pd

    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # rows come as stored; no padding to a bogus <dimension>
    rows = []
    for row in ws.iter_rows(values_only=True):
        if not any(v is not None for v in row):
            continue  # empty rows (stored or skipped over) carry nothing
        if len(row) > limits.max_columns:
            raise over("columns", len(row), limits.max_columns, "max_columns")
        seen[0] += len(row)
        if seen[0] > limits.max_cells:
            raise over("cells", seen[0], limits.max_cells, "max_cells")
        if len(rows) > limits.max_rows:
            raise over("rows", len(rows), limits.max_rows, "max_rows")
        rows.append([_xlsx_value(v) for v in row])
    if not rows:
        return pd.DataFrame()
    header = [str(h) if h is not None else f"Unnamed: {i}" for i, h in enumerate(rows[0])]
    body = [(r + [None] * len(header))[:len(header)] for r in rows[1:]]
    return pd.DataFrame(body, columns=header, dtype=object)


def read_xlsx(path, limits: Limits, sheet: str | None = None) -> list[tuple[str, pd.DataFrame]]:
    """Every sheet (or only ``sheet``) as (name, DataFrame of strings), the sheets' declared used range
    not trusted and rows, cells and columns counted as they are read."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        names = wb.sheetnames if sheet is None else [sheet]
        if sheet is not None and sheet not in wb.sheetnames:
            raise SkipFile(f"no sheet named '{sheet}' (see --sheet)")
        seen = [0]
        return [(n, _sheet_frame(wb[n], limits, seen)) for n in names]
    finally:
        wb.close()


def read_jsonl(text: str, limits: Limits) -> pd.DataFrame:
    """One JSON object per line (blank lines ignored), every key a column, values as strings (nested
    values as JSON); a line that is not a JSON object is named."""
    import pandas as pd

    records, columns = [], {}
    for n, line in enumerate(io.StringIO(text), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise SkipFile(f"line {n}: not valid JSON ({str(e)[:80]})") from None
        if not isinstance(obj, dict):
            raise SkipFile(f"line {n}: a JSON {type(obj).__name__}, not an object with a text key")
        if len(records) >= limits.max_rows:
            raise over("rows", len(records) + 1, limits.max_rows, "max_rows")
        for k in obj:
            columns.setdefault(str(k), None)
        if len(columns) > limits.max_columns:
            raise over("columns", len(columns), limits.max_columns, "max_columns")
        records.append({str(k): v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                        for k, v in obj.items()})
    return pd.DataFrame(records, columns=list(columns), dtype=object)


def check_table(df: pd.DataFrame, limits: Limits) -> None:
    """Refuse a table over the row, column or cell limits."""
    cols = len(df.columns)
    if cols > limits.max_columns:
        raise over("columns", cols, limits.max_columns, "max_columns")
    if len(df) > limits.max_rows:
        raise over("rows", len(df), limits.max_rows, "max_rows")
    if len(df) * max(cols, 1) > limits.max_cells:
        raise over("cells", len(df) * cols, limits.max_cells, "max_cells")


def check_csv_header(text: str, limits: Limits) -> None:
    """Refuse a CSV whose first line has more fields than ``max_columns`` before pandas parses it."""
    end = text.find("\n")
    first = text if end < 0 else text[:end]
    if first.count(",") + 1 > limits.max_columns:
        raise over("columns", first.count(",") + 1, limits.max_columns, "max_columns")


def check_paragraphs(paragraphs: list[str], limits: Limits, *, count: bool = True) -> None:
    """Refuse more than ``max_paragraphs`` paragraphs (unless ``count`` is False: table rows are counted
    against ``max_rows``) or one longer than ``max_paragraph_chars``."""
    if count and len(paragraphs) > limits.max_paragraphs:
        raise over("paragraphs", len(paragraphs), limits.max_paragraphs, "max_paragraphs")
    longest = max((len(p) for p in paragraphs), default=0)
    if longest > limits.max_paragraph_chars:
        raise over("characters in one paragraph", longest, limits.max_paragraph_chars, "max_paragraph_chars")
