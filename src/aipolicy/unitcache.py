"""A cache of ingested corpus folders, so that training joins the gold to its text without ingesting
the corpora again (5–8 s of the training time on the three corpora: layout repair, metadata, places,
near-duplicates).

A unit's id depends on the whole ingestion (layout repair joins lines, cleaning and splitting make the
text, near-duplicates are dropped), so no shortcut through it gives the same units provably. The cache
stores the ingestion's own output instead, under a key of everything that output depends on: every
entry of the folder (relative path, kind, sha256 of the bytes of every file, link targets), the
package's source and data files, the versions of the installed distributions and of Python. A changed,
added or removed file, another aipolicy or another library version is another key: the folder is
ingested again. A cache file that cannot be read is ignored (ingested again and rewritten); one that
cannot be written only costs the time. Files are Parquet (no pickle: reading one runs no code), written
atomically.
"""
from __future__ import annotations

import hashlib
import os
import platform
import stat
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pandas as pd

from .duplicates import file_sha256
from .tables import atomic_path

CACHE_VERSION = 1


def _file_digest(path: str) -> str:
    return file_sha256(path) or "unreadable"


def _entry(path: str) -> str:
    """Kind and content of one folder entry (a link: its target and what it points to)."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return f"gone:{e.errno}"
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        return f"link:{target}:" + (_file_digest(path) if os.path.isfile(path) else "not-a-file")
    if stat.S_ISREG(st.st_mode):
        return "file:" + _file_digest(path)
    return f"other:{stat.S_IFMT(st.st_mode)}"  # a FIFO, socket or device: never opened


def folder_listing(folder: str | Path) -> list[tuple[str, str]]:
    """(relative path, kind and content) of every entry under ``folder``, hidden ones too, sorted;
    links to folders are listed, not followed (as ingestion does)."""
    folder = os.fspath(folder)
    out = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            out.append((os.path.relpath(path, folder), _entry(path)))
    return sorted(out)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the package's files (source, data, templates) and of the installed distributions' versions."""
    h = hashlib.sha256(f"aipolicy-units-cache {CACHE_VERSION} python {platform.python_version()}\n".encode())
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(f"{p.relative_to(pkg).as_posix()}\0{_file_digest(str(p))}\n".encode())
    dists = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
                    if d.metadata and d.metadata["Name"]})
    h.update("\n".join(dists).encode())
    return h.hexdigest()


def folder_key(folder: str | Path) -> str:
    h = hashlib.sha256(code_fingerprint().encode())
    for rel, entry in folder_listing(folder):
        h.update(f"{rel}\0{entry}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def cached_ingest(folder: str | Path, cache_dir: str | Path, ingest_folder) -> pd.DataFrame:
    """``ingest_folder(folder)`` (a unit table), read from ``cache_dir`` when the folder, the package and
    the libraries are as they were when it was stored."""
    path = Path(cache_dir) / f"units-{folder_key(folder)[:40]}.parquet"
    if path.is_file():
        try:
            return pd.read_parquet(path)
        except Exception:  # noqa: BLE001 - a damaged cache file is ingested again and replaced
            pass
    units = ingest_folder(folder)
    try:
        with atomic_path(path) as tmp:
            units.to_parquet(tmp, index=False)
    except OSError:
        pass  # not cached: only costs the time next run
    return units
