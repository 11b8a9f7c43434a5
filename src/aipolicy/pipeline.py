"""The per-file pipeline: read → clean → units → places (→ labels), with one error policy.

:func:`process_file` is the only place where one input file is turned into units. ``ingest``,
``label``, ``report`` and ``topics`` all call it (directly or through the batch runner), so the same
file gives the same units and the same manifest row whichever command reads it, and a bad file is
skipped — with the same one-line reason — by every command.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .errors import SkipFile
from .limits import Limits, time_budget
from .safe_read import check_entry
from .tables import safe_str
from .settings import DEFAULT_EXCLUDE, DEFAULT_MAX_BYTES
from .units import NORM  # the units' matching text, handed to ``label``, not kept in the output

UNIT_COLUMNS = ["unit_id", "doc_id", "source", "position", "city", "city_evidence", "text"]
MANIFEST_COLUMNS = ["file", "status", "reason", "units"]
# one row per document (CONTRACT.md); this module fills doc_id, file and title, the rest stays empty
# until the metadata stage fills it
DOCUMENT_COLUMNS = ["doc_id", "file", "title", "issuer", "date", "year", "doc_number", "doc_type", "place",
                    "near_duplicate_of"]

# The error policy, in one place (``process_file``), inherited by every runner:
# - SkipFile carries a reason written for the user (empty, binary, over a limit, link loop...);
# - FILE_ERRORS, and ANY exception raised while a reader parses the file (python-docx, pypdf, lxml,
#   openpyxl, pandas raise what they like on damaged or hostile input), mean the file is unreadable:
#   skipped with the exception named;
# - any other exception (in the unit, place or labelling stages: a bug, not the file's fault) is an
#   internal error: the file is listed as skipped with a reason starting with INTERNAL_ERROR, the
#   batch goes on, and the command exits with its own status (3), naming the file.
# Every reason is one line. Nothing but KeyboardInterrupt/SystemExit leaves process_file.
FILE_ERRORS = (OSError, MemoryError, RecursionError, ValueError)
INTERNAL_ERROR = "internal error: "


@dataclass(frozen=True)
class PipelineOptions:
    """What shapes the reading of a file. Picklable: it travels to worker processes."""

    max_bytes: int = DEFAULT_MAX_BYTES
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    sheet: str | None = None  # only this sheet of .xlsx tables (default: every sheet)
    text_column: str | None = None  # the column of tables that holds the text
    sidecar: dict | None = field(default=None, hash=False)  # metadata.read_sidecar(--metadata FILE)
    limits: Limits | None = None  # None: the default limits with ``max_bytes``

    @property
    def effective_limits(self) -> Limits:
        return self.limits if self.limits is not None else Limits(max_bytes=self.max_bytes)


@dataclass
class FileResult:
    """One input file after the pipeline: its manifest row, its units (None when skipped) and its
    documents' metadata rows (``DOCUMENT_COLUMNS``)."""

    file: str
    status: str  # "ok", "skipped" or "duplicate"
    reason: str = ""
    columns: dict | None = None  # the units as {column: list or array}; ``units`` is the DataFrame view
    documents: list[dict] = field(default_factory=list)

    @property
    def units(self) -> pd.DataFrame | None:
        """The units as a DataFrame (built on first use: the batch runner writes ``columns`` directly
        as Arrow, which is 10× cheaper than going through pandas)."""
        if self.columns is None:
            return None
        if "_units" not in self.__dict__:
            import pandas as pd

            self.__dict__["_units"] = pd.DataFrame(self.columns)
        return self.__dict__["_units"]

    @property
    def n_units(self) -> int:
        return 0 if self.columns is None else len(self.columns["unit_id"])

    @property
    def manifest_row(self) -> dict:
        return {"file": self.file, "status": self.status, "reason": self.reason, "units": self.n_units}


def excluded_by(name: str, exclude: Iterable[str]) -> str | None:
    """The first pattern of ``exclude`` that the file name matches, else None."""
    import fnmatch

    for pat in exclude:
        if fnmatch.fnmatch(name, pat):
            return pat
    return None


def _read_units(path: Path, source: str, options: PipelineOptions) -> tuple[dict, list[dict]]:
    """Columns of the file's units (``UNIT_COLUMNS``) and its document rows (with their near-duplicate
    sketches, settled over the run by documents.documents_table); raises on a bad file."""
    from .documents import file_documents

    rows, docs = file_documents(path, source, max_bytes=options.max_bytes, sheet=options.sheet,
                                text_column=options.text_column, sidecar=options.sidecar,
                                limits=options.effective_limits)
    if not rows:
        raise SkipFile("no units (only short fragments or boilerplate)")
    cols = {c: [r[c] for r in rows] for c in UNIT_COLUMNS}
    cols[NORM] = [r.get(NORM) or r["text"] for r in rows]
    return cols, docs


def read_file(path: Path, source: str, **kwargs) -> list:
    """``ingest.read_documents`` inside the reader part of the error policy: any exception a parser
    raises on a damaged or hostile file (beyond SkipFile and FILE_ERRORS) becomes a SkipFile naming it,
    so that what escapes the later stages can only be an internal error."""
    from .ingest import read_documents

    try:
        return read_documents(path, source, **kwargs)
    except (SkipFile, *FILE_ERRORS):
        raise
    except Exception as e:
        raise SkipFile(f"not a readable {path.suffix.lower() or 'file'} ({type(e).__name__}: {e})") from None


def process_file(path: str | os.PathLike, source: str | None = None, options: PipelineOptions | None = None,
                 *, label: Callable[[list[str]], dict] | None = None, dedupe=None) -> FileResult:
    """Run one file through the pipeline. Never raises for a bad file: it comes back skipped.

    ``source`` is the name recorded in the units (default: the file name). ``label``, if given, maps
    the list of the units' matching texts (textnorm.normalise of the shown text) to extra columns (the
    classifier's p_<category>, labels, evidence); it runs inside the same error boundary. ``dedupe`` (a
    duplicates.FileDeduper shared by the run) makes a file reached twice or byte-identical to an earlier
    one come back as ``duplicate``, unread. The same as :func:`label_stage` after :func:`read_stage`
    (which a runner may call in different processes).
    """
    start = time.monotonic()
    res = read_stage(path, source, options, dedupe=dedupe)
    return label_stage(res, label, options, spent=time.monotonic() - start)


def read_stage(path: str | os.PathLike, source: str | None = None, options: PipelineOptions | None = None,
               *, dedupe=None) -> FileResult:
    """:func:`process_file` up to the labelling: a skipped file, or the units with their matching texts
    still in the column ``NORM`` (for :func:`label_stage`)."""
    path = Path(path)
    name = safe_str(str(path))  # a file name that is not UTF-8 is written with backslash escapes
    options = options or PipelineOptions()
    pat = excluded_by(path.name, options.exclude)
    if pat:
        return FileResult(name, "skipped", f"excluded by pattern '{pat}' (see --exclude)")

    def read() -> FileResult:
        check_entry(path)  # before anything opens it (a FIFO would block)
        repeat = dedupe.check(path) if dedupe is not None else None
        if repeat:
            return FileResult(name, "duplicate", one_line(f"{repeat} (read once)"))
        cols, documents = _read_units(path, source or safe_str(path.name), options)
        return FileResult(name, "ok", "", cols, documents)

    return _guarded(name, read, options.effective_limits.file_timeout)


def label_stage(res: FileResult, label: Callable[[list[str]], dict] | None,
                options: PipelineOptions | None = None, *, spent: float = 0.0) -> FileResult:
    """The rest of :func:`process_file` for a :func:`read_stage` result: ``label`` on the units' matching
    texts, inside the error policy and what ``spent`` (seconds taken by the reading) leaves of the file's
    time budget; the matching texts dropped."""
    if res.columns is None:
        return res
    cols = res.columns

    def finish() -> FileResult:
        if label is not None:
            cols.update(label_in_chunks(label, cols[NORM]))
        del cols[NORM]
        return res

    limit = (options or PipelineOptions()).effective_limits.file_timeout
    return _guarded(res.file, finish, limit, spent)


def _guarded(name: str, stage: Callable[[], FileResult], limit: float | None, spent: float = 0.0) -> FileResult:
    """``stage()`` under the error policy, within the per-file time ``limit`` less ``spent``."""
    try:
        with time_budget(max(limit - spent, 1e-3) if limit else limit, limit):
            return stage()
    except SkipFile as e:
        return FileResult(name, "skipped", one_line(str(e)))
    except FILE_ERRORS as e:
        return FileResult(name, "skipped", one_line(f"{type(e).__name__}: {e}"))
    except Exception as e:
        return FileResult(name, "skipped", one_line(f"{INTERNAL_ERROR}{type(e).__name__}: {e} (a bug; please "
                                                    "report it with the file)"))


LABEL_CHUNK = 5_000  # units labelled at once: bounds the classifier's memory on a file of many units


def label_in_chunks(label: Callable[[list[str]], dict], texts: list[str], size: int = LABEL_CHUNK) -> dict:
    """``label(texts)`` computed ``size`` texts at a time and joined (same columns, same values)."""
    import numpy as np

    if len(texts) <= size:
        return label(texts)
    parts = [label(texts[i:i + size]) for i in range(0, len(texts), size)]
    return {k: np.concatenate([p[k] for p in parts]) if isinstance(parts[0][k], np.ndarray)
            else [x for p in parts for x in p[k]] for k in parts[0]}


def one_line(reason: str, limit: int = 300) -> str:
    """A reason as one line of at most ``limit`` characters (parsers' messages may hold newlines)."""
    r = " ".join(safe_str(reason).split())
    return r if len(r) <= limit else r[:limit - 1] + "…"


def not_read_summary(manifest) -> str:
    """'3 not read: 2× excluded by pattern 'README*'; 1× empty file' — why nothing could be read.
    ``manifest``: a DataFrame or a list of row dicts."""
    import re
    from collections import Counter

    rows = manifest.to_dict("records") if hasattr(manifest, "to_dict") else manifest
    reasons = [re.sub(r" \(.*$", "", str(r["reason"])) for r in rows if r["status"] != "ok"]
    return f"{len(reasons)} not read: " + "; ".join(f"{n}× {r}" for r, n in Counter(reasons).most_common(3))
