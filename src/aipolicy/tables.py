"""Reading and writing tables by file extension, atomically (write to a temp file, then rename).

Every output reads back with pandas as the same rows and values, whatever the text or file name:
- CSV lines end in CRLF (RFC 4180), so a field holding a lone ``\r`` or ``\n`` is quoted;
- strings that are not valid Unicode (a file name that is not UTF-8 arrives as surrogate escapes)
  are written with backslash escapes (``\xff``) in every format (``safe_str``);
- in .xlsx every text cell is a string cell, never a formula (``=HYPERLINK(...)`` stays text), and the
  control characters a spreadsheet cannot hold are written as ``\x01``-style escapes (``xlsx_value``).
"""
from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import AipolicyError

WRITABLE = (".csv", ".jsonl", ".parquet", ".xlsx")


def check_output_path(path: str | os.PathLike, allowed=WRITABLE) -> Path:
    p = Path(path)
    if p.suffix.lower() not in allowed:
        raise AipolicyError(f"output {p} must end in one of {', '.join(allowed)}")
    return p  # its folder is made when something is written (atomic_path): a failed run leaves nothing


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a new temporary folder beside ``path``; on success it takes the place of ``path`` (an earlier
    folder there is moved aside in one rename, then removed), else it is removed."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
            os.replace(path, old / "old")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


CSV_LINE_END = "\r\n"  # with "\n" alone, Python's csv writer leaves a field holding "\r" unquoted
# what openpyxl refuses in a cell (C0 controls other than tab, newline, carriage return)
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_str(s: str) -> str:
    """``s`` unchanged when it is valid Unicode; else its lone surrogates (undecodable bytes of a file
    name, kept by Python as surrogate escapes) written as backslash escapes: b"\\xff" -> "\\xff"."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        pass
    try:
        raw = s.encode("utf-8", "surrogateescape")  # the file name's original bytes
    except UnicodeEncodeError:
        raw = s.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``safe_str`` applied to the text columns that need it (a copy only then)."""
    out = df
    for col in df.columns:
        if df[col].dtype != object:
            continue
        vals = df[col].tolist()
        fixed = [safe_str(v) if isinstance(v, str) else v for v in vals]
        if fixed != vals:
            out = out.copy() if out is df else out
            out[col] = fixed
    return out


def xlsx_value(ws, v):
    """A value for a write-only openpyxl sheet: text becomes a string cell (never a formula, whatever
    its first character) with illegal control characters escaped; other values pass through."""
    if not isinstance(v, str):
        import pandas as pd

        try:
            return None if pd.isna(v) else v
        except (TypeError, ValueError):
            return v
    from openpyxl.cell import WriteOnlyCell

    v = _XLSX_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", safe_str(v))
    cell = WriteOnlyCell(ws, value=v)
    cell.data_type = "s"  # openpyxl makes "=..." a formula; a string cell is shown as typed
    return cell


def append_xlsx(ws, df: pd.DataFrame) -> None:
    for row in df.itertuples(index=False):
        ws.append([xlsx_value(ws, v) for v in row])


def _write_xlsx(df: pd.DataFrame, path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append([xlsx_value(ws, str(c)) for c in df.columns])
    append_xlsx(ws, df)
    save_workbook(wb, path)


_STAMP = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def save_workbook(wb, path: Path) -> None:
    """Save an openpyxl workbook byte-identically for the same content: openpyxl stamps the time of
    saving into docProps/core.xml and into every zip entry; both are replaced by a fixed date."""
    import zipfile

    wb.save(path)
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = _STAMP.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
            dst.writestr(fixed, data)


def write_csv(df: pd.DataFrame, fh_or_path, *, header: bool = True) -> None:
    """CSV as written everywhere: CRLF line ends (see ``CSV_LINE_END``); UTF-8 with BOM when a path is
    given, so that Excel opens Chinese text correctly (pandas reads it back as is)."""
    kw = {"encoding": "utf-8-sig"} if isinstance(fh_or_path, (str, os.PathLike)) else {}
    safe_frame(df).to_csv(fh_or_path, index=False, header=header, lineterminator=CSV_LINE_END, **kw)


def _csv_cell(v):
    """A value as pandas' ``to_csv`` writes it: None and NaN empty, text with ``safe_str``, numbers
    by their shortest repr (what numpy's ``astype(str)`` gives for float64)."""
    if isinstance(v, str):
        return safe_str(v)
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return v


def _csv_column(col) -> list:
    """A column's values for the csv writer: as they are when they are valid text, None (written empty)
    or ints — the common case, checked in bulk — else value by value (``_csv_cell``)."""
    if getattr(col, "dtype", None) is not None and col.dtype.kind == "f" and not (col != col).any():
        return col.tolist()  # floats, none of them NaN: written as they are (as _csv_cell leaves them)
    col = col.tolist() if hasattr(col, "tolist") else list(col)
    kinds = set(map(type, col))
    if kinds <= {str, int, type(None)}:
        try:
            ("".join(col) if kinds == {str} else "".join([v for v in col if type(v) is str])).encode("utf-8")
            return col
        except UnicodeEncodeError:
            pass
    return [_csv_cell(v) for v in col]


def csv_body(columns: dict, names: list[str]) -> bytes:
    """The rows of ``columns`` ({name: list or numpy array}, in the order of ``names``) as CSV lines in
    UTF-8, no header: the bytes ``write_csv`` writes for the same rows through pandas, without pandas
    (tested). The label runner writes each file's rows like this and joins them into the output."""
    import csv
    import io

    values = [_csv_column(columns[name]) for name in names]
    buf = io.StringIO()
    csv.writer(buf, lineterminator=CSV_LINE_END).writerows(zip(*values))
    return buf.getvalue().encode("utf-8")


def write_rows_csv(rows: list[dict], columns: list[str], path: str | os.PathLike) -> Path:
    """Rows (dicts) as a CSV table, atomically: the bytes ``write_table`` writes for
    ``pd.DataFrame(rows, columns=columns)`` (UTF-8 with BOM, CRLF), without pandas."""
    path = Path(path)
    body = csv_body({c: [r.get(c) for r in rows] for c in columns}, columns)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(csv_header(columns) + body)
    return path


def csv_header(columns: list[str]) -> bytes:
    """The header line of a CSV output: UTF-8 with BOM (so Excel reads it as UTF-8), CRLF."""
    return ("\ufeff" + ",".join(columns) + CSV_LINE_END).encode("utf-8")


@contextmanager
def output_lock(out: str | os.PathLike):
    """Hold the lock of an output (``.OUT.lock`` beside it) for one run; refuse a second run on the same
    output while the first is alive. The kernel releases the lock when its process dies (even by
    kill -9), so a stale lock file never blocks: the next run takes it over. Removed on leaving. Yields the
    lock's file descriptor: a process forked meanwhile shares the lock until it closes its copy."""
    import fcntl

    out = Path(out)
    lock = out.with_name(f".{out.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            raise AipolicyError(f"another run is writing {out} (process {holder}); wait for it to finish or "
                                "stop it") from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if not same:  # the holder finished and removed the file between our open and our lock
            raise AipolicyError(f"another run on {out} has just finished or started; run again")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield fd
        finally:
            Path(lock).unlink(missing_ok=True)
    finally:
        os.close(fd)


def remove_stale_temps(out: str | os.PathLike, suffixes=("", ".manifest.csv", ".documents.csv")) -> int:
    """Remove the temporary files (``atomic_path``) that a killed run left beside ``out`` and its
    companions; call with the output's lock held. Returns how many were removed."""
    out = Path(out)
    names = "|".join(re.escape(out.name + s) for s in suffixes)
    pattern = re.compile(rf"\.(?:{names})\.[A-Za-z0-9_]{{8}}\.tmp")
    n = 0
    for p in out.parent.glob(f".{out.name}*.tmp"):
        if pattern.fullmatch(p.name):
            if p.is_dir() and not p.is_symlink():  # a dataset folder being written (atomic_dir)
                import shutil

                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            n += 1
    return n


def _write(df: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == ".csv":
        write_csv(df, path)
    elif fmt == ".jsonl":
        safe_frame(df).to_json(path, orient="records", lines=True, force_ascii=False)
    elif fmt == ".parquet":
        safe_frame(df).to_parquet(path, index=False)
    elif fmt == ".xlsx":
        _write_xlsx(df, path)
    else:  # pragma: no cover - guarded by check_output_path
        raise AipolicyError(f"unsupported output format {fmt}")


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    path = check_output_path(path)
    with atomic_path(path) as tmp:
        _write(df, tmp, path.suffix.lower())
    return path


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    p = Path(path)
    ext = p.suffix.lower()
    if not p.exists():
        raise AipolicyError(f"table not found: {p}")
    import pandas as pd

    try:
        if ext == ".csv":
            return pd.read_csv(p, encoding="utf-8-sig", dtype={"unit_id": str, "doc_id": str},
                               keep_default_na=False)
        if ext == ".jsonl":
            return pd.read_json(p, lines=True, dtype={"unit_id": str, "doc_id": str})
        if ext == ".parquet":
            return pd.read_parquet(p)
        if ext == ".xlsx":
            return pd.read_excel(p, dtype={"unit_id": str, "doc_id": str})
    except Exception as e:
        raise AipolicyError(f"cannot read table {p}: {type(e).__name__}: {e}") from None
    raise AipolicyError(f"{p}: unsupported table format {ext}")


def manifest_path(out: str | os.PathLike) -> Path:
    return Path(str(out) + ".manifest.csv")
