"""Limits on what one input file may cost, with safe defaults; a file over a limit is skipped with a
reason naming the limit, instead of hanging or exhausting memory.

The defaults keep the peak memory of ``label`` on any single file under 1 GB and no file longer than
``file_timeout`` seconds. Change them with ``--limit NAME=VALUE`` (repeatable; sizes take K/M/G
suffixes) or ``Limits(...)`` in Python; ``--max-mb`` sets ``max_bytes``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import AipolicyError, SkipFile
from .settings import DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES     # size of any input file (--max-mb)
    max_html_bytes: int = 5_000_000        # size of an HTML page (parsing takes ~25x its size in memory, and long)
    max_unzipped_bytes: int = 200_000_000  # all parts of a .docx/.xlsx (zip) container, decompressed
    max_xml_bytes: int = 40_000_000        # XML parsed whole in memory: a .docx's, an .xlsx's shared strings
    max_paragraphs: int = 100_000          # paragraphs (or lines) of one file
    max_rows: int = 100_000                # rows of a table (.csv/.jsonl/.xlsx or docx tables)
    max_cells: int = 2_000_000             # cells of a table file or of a docx's tables
    max_columns: int = 1_000               # columns of a table
    max_paragraph_chars: int = 200_000     # characters of one paragraph or table cell (before units)
    max_grid_span: int = 64                # columns one docx table cell may span (Word allows 63)
    file_timeout: float = 120.0            # seconds of work on one file (0: no limit)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def with_options(self, options: list[str] | None) -> "Limits":
        """A copy with ``NAME=VALUE`` options applied (the CLI's ``--limit``)."""
        changes = {}
        for opt in options or []:
            name, sep, value = opt.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in self.names():
                raise AipolicyError(f"--limit takes NAME=VALUE with NAME one of {', '.join(self.names())}; "
                                    f"got {opt!r}")
            changes[name] = _parse_value(name, value)
        return dataclasses.replace(self, **changes)


_SUFFIX = {"k": 1e3, "m": 1e6, "g": 1e9}


def _parse_value(name: str, value: str):
    v = value.strip().lower().removesuffix("b")
    mult = _SUFFIX.get(v[-1:], 1) if v else 1
    try:
        x = float(v[:-1] if mult != 1 else v) * mult
    except ValueError:
        raise AipolicyError(f"--limit {name}: not a number: {value!r}") from None
    if x < 0:
        raise AipolicyError(f"--limit {name}: must be >= 0, got {value!r}")
    return x if name == "file_timeout" else int(x)


DEFAULT = Limits()


def over(what: str, value: int, limit: int, name: str) -> SkipFile:
    """The SkipFile for a limit that is hit: one line naming the limit and how to raise it."""
    return SkipFile(f"over a limit: {what} {value:,} > {limit:,} (see --limit {name}=...)")


def check_zip(path: Path, limits: Limits) -> None:
    """Refuse a zip container (docx/xlsx) whose decompressed parts exceed the limits, before anything
    is decompressed. The sizes come from the zip's directory; zipfile never inflates an entry beyond
    its declared size (it stops with a CRC error), so they bound the memory of reading it."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise SkipFile(f"not a readable {path.suffix.lower()} (broken or truncated zip: {type(e).__name__})") from None
    total = sum(i.file_size for i in infos)
    if total > limits.max_unzipped_bytes:
        raise over("decompressed size (bytes)", total, limits.max_unzipped_bytes, "max_unzipped_bytes")
    # XML that is parsed whole in memory: all of a docx; of an xlsx all but the sheets, which openpyxl
    # streams row by row (bounded by max_rows/max_cells instead)
    xml = sum(i.file_size for i in infos if i.filename.lower().endswith((".xml", ".rels"))
              and not i.filename.startswith("xl/worksheets/"))
    if xml > limits.max_xml_bytes:
        raise over("decompressed XML (bytes)", xml, limits.max_xml_bytes, "max_xml_bytes")


class FileTimeout(SkipFile):
    """A file took longer than the per-file time budget."""


@contextlib.contextmanager
def time_budget(seconds: float, limit: float | None = None):
    """Raise FileTimeout in the block after ``seconds`` of wall time (a SIGALRM timer; in the main
    thread of a process only, elsewhere the block runs unbounded). A long call in C code is
    interrupted when it returns to Python; the size limits bound those calls. ``limit``: the limit named
    in the message, when ``seconds`` is what is left of it (default: ``seconds``)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise FileTimeout(f"over a limit: took more than {limit or seconds:g} s (see --limit file_timeout=...)")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
