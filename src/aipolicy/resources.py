"""Access to the data files shipped inside the package (gazetteer, stopwords, user dictionary...).

Only the package's *own* data is located this way; user data (corpora, labels, models, reports)
always comes from options or configuration relative to the working directory.
"""
from __future__ import annotations

import csv
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).parent / "data"


def data_file(name: str) -> Path:
    """A data file of the package. The package is installed as files (its data, fonts and templates are
    opened by path), so this is the folder beside this module: what ``importlib.resources.files`` gave,
    without its import and first look-up (5 ms of a short run)."""
    return DATA / name


def read_lines(name: str) -> list[str]:
    """Non-empty lines of a shipped data file, without comments (lines starting with '#')."""
    out = []
    for line in data_file(name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


@lru_cache(maxsize=None)
def read_csv_rows(name: str) -> tuple[dict, ...]:
    with data_file(name).open(encoding="utf-8", newline="") as fh:
        return tuple(dict(r) for r in csv.DictReader(fh))


@contextmanager
def quiet_logger(name: str, level: int):
    """Raise a library's logger to ``level`` for the duration of a block, then restore it (nothing is
    changed at import time, and the caller's own logging configuration survives)."""
    import logging

    logger = logging.getLogger(name)
    old = logger.level
    logger.setLevel(max(level, old))
    try:
        yield logger
    finally:
        logger.setLevel(old)
