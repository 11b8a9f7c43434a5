"""Reading and writing tables by file extension, atomically (write to a temp file, then rename)."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

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


def _write(df: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == ".csv":
        # UTF-8 with BOM so that Excel opens Chinese text correctly; pandas reads it back as is
        df.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    elif fmt == ".jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    elif fmt == ".parquet":
        df.to_parquet(path, index=False)
    elif fmt == ".xlsx":
        df.to_excel(path, index=False, engine="openpyxl")
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
