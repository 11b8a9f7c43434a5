"""Gold labels: validation, statistics, and the join of labels to unit text through ingestion.

A labels file (CSV) has ``unit_id``, ``corpus`` (a corpus name of the training configuration),
``source`` (file relative to that corpus folder), one 0/1 column per category, ``annotator`` and
``note``. It holds no text: the text is joined by ``unit_id`` from ingesting the corpus folders.
"""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import Category
from .errors import AipolicyError

META_COLUMNS = ("unit_id", "corpus", "source", "annotator", "note")
REQUIRED = ("unit_id",)


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based line in the file (1 = header)
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class UnreadableLabels(AipolicyError):
    """A labels file that is not UTF-8/UTF-16 text or not well-formed CSV, at ``line`` (0: unknown)."""

    def __init__(self, path, line: int, message: str):
        super().__init__(f"{path}: line {line}: {message}" if line else f"{path}: {message}")
        self.line, self.message = line, message


def read_labels_text(path: str | Path) -> str:
    """The text of a labels file: UTF-8 (with or without BOM) or UTF-16/32 with a BOM.

    Anything else (GBK, binary) raises AipolicyError naming the first line that does not decode, so
    that the user can re-save the file as UTF-8; nothing is guessed.
    """
    data = Path(path).read_bytes()
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                     (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as e:
                raise UnreadableLabels(path, 0, f"declares {enc} by its byte-order mark but does not "
                                                f"decode ({e.reason} at byte {e.start})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UnreadableLabels(path, line, f"not UTF-8 (byte 0x{data[e.start]:02x}); a labels file must be "
                                           "UTF-8 (re-save it as 'CSV UTF-8'), or UTF-16 with a byte-order mark") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UnreadableLabels(path, line, "NUL byte: a binary file, not a CSV labels file")
    return text


def _rows(text: str, path=""):
    """(line, row) of a CSV text; a malformed quote raises UnreadableLabels with the line it opened on."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    last = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise UnreadableLabels(path, last + 1, f"malformed CSV ({e}); an unclosed or stray quote?") from None
        yield reader.line_num, row
        last = reader.line_num


def _header_problems(header: list[str], names: list[str]) -> list[Problem]:
    problems = [Problem(1, f"missing column '{col}'") for col in REQUIRED if col not in header]
    for col in header:
        if col not in names and col not in META_COLUMNS:
            problems.append(Problem(1, f"unknown category '{col}' (categories: {', '.join(names)})"))
    problems += [Problem(1, f"missing category column '{n}'") for n in names if n not in header]
    if len(set(header)) != len(header):
        problems.append(Problem(1, "duplicate column names"))
    return problems


def _row_problems(line: int, row: list[str], header: list[str], names: list[str], first_line: dict,
                  known) -> list[Problem]:
    if len(row) != len(header):
        return [Problem(line, f"{len(row)} fields, expected {len(header)}")]
    idx = {c: i for i, c in enumerate(header)}
    uid = row[idx["unit_id"]].strip()
    if not uid:
        return [Problem(line, "empty unit_id")]
    problems = []
    if uid in first_line:
        problems.append(Problem(line, f"duplicate unit_id {uid} (first on line {first_line[uid]})"))
    else:
        first_line[uid] = line
    for name in names:
        v = row[idx[name]].strip()
        if v not in ("0", "1"):
            problems.append(Problem(line, f"{name} = {v!r} for {uid}: must be 0 or 1"))
    if known is not None and uid not in known:
        problems.append(Problem(line, f"unit_id {uid} matches no unit of the configured corpora"
                                      " (text changed, file moved, or wrong id)"))
    return problems


def check_labels(path: str | Path, categories: list[Category],
                 units: pd.DataFrame | None = None) -> list[Problem]:
    """All problems of a labels file: unknown or missing category columns, duplicate ids,
    non-0/1 values, and (when ``units`` is given) ids that match no ingested unit. A file that is not
    UTF-8/UTF-16 text or not well-formed CSV is one problem with its line."""
    path = Path(path)
    if not path.exists():
        return [Problem(0, f"file not found: {path}")]
    names = [c.name for c in categories]
    try:
        rows = _rows(read_labels_text(path), path)
        first = next(rows, None)
        if first is None:
            return [Problem(1, "empty file (no header)")]
        header = [h.strip() for h in first[1]]
        problems = _header_problems(header, names)
        if problems:
            return problems
        first_line: dict[str, int] = {}
        known = set(units["unit_id"]) if units is not None else None
        for line, row in rows:
            if any(cell.strip() for cell in row):
                problems += _row_problems(line, row, header, names, first_line, known)
    except UnreadableLabels as e:
        return [Problem(e.line, e.message)]
    return problems


def count_labels(path: str | Path) -> int:
    """Labelled rows (non-empty lines after the header) of a file that passes ``check_labels``."""
    return sum(1 for _, row in _rows(read_labels_text(path), path) if any(c.strip() for c in row)) - 1


def read_labels(path: str | Path, categories: list[Category]) -> pd.DataFrame:
    """Read a labels file that passes ``check_labels`` (without the unit check)."""
    problems = check_labels(path, categories)
    if problems:
        shown = "\n  ".join(str(p) for p in problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise AipolicyError(f"{path} has {len(problems)} problem(s); run 'aipolicy labels check':\n  {shown}{more}")
    df = pd.read_csv(io.StringIO(read_labels_text(path)), dtype=str, keep_default_na=False)
    for c in categories:
        df[c.name] = df[c.name].astype(int)
    return df


def corpus_units(corpora: dict[str, Path], *, progress: bool = False, cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Ingest every configured corpus folder; the result has a ``corpus`` column. With ``cache_dir``, a
    folder ingested before (same files, same package and libraries) is read from there
    (``aipolicy.unitcache``)."""
    from .ingest import ingest
    from .unitcache import cached_ingest

    def read(folder):
        return ingest(folder, progress=progress)

    frames = []
    for name, folder in corpora.items():
        if not Path(folder).is_dir():
            raise AipolicyError(f"corpus '{name}' not found at {folder} (set it in training/config.yaml "
                                "or with --corpus NAME=PATH)")
        units = read(folder) if cache_dir is None else cached_ingest(folder, cache_dir, read)
        frames.append(units.assign(corpus=name))
    if not frames:
        raise AipolicyError("no corpora configured")
    return pd.concat(frames, ignore_index=True)


def join_labels(labels: pd.DataFrame, units: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(labelled units with text, labels whose unit no longer exists)."""
    keep = ["unit_id", "doc_id", "corpus", "source", "position", "city", "text"]
    u = units[keep].drop_duplicates("unit_id")
    lab = labels.drop(columns=[c for c in ("corpus", "source") if c in labels.columns])
    joined = lab.merge(u, on="unit_id", how="inner", validate="one_to_one")
    missing = labels[~labels["unit_id"].isin(u["unit_id"])]
    return joined, missing


def label_stats(joined: pd.DataFrame, categories: list[Category]) -> dict[str, pd.DataFrame]:
    names = [c.name for c in categories]
    none = (joined[names].sum(axis=1) == 0).astype(int)
    per_cat = pd.DataFrame({"category": names + ["(none)"],
                            "positives": [int(joined[n].sum()) for n in names] + [int(none.sum())]})
    per_cat["share"] = (per_cat["positives"] / max(len(joined), 1)).round(3)
    j = joined.assign(**{"(none)": none})
    per_corpus = j.groupby("corpus")[names + ["(none)"]].sum().assign(units=j.groupby("corpus").size())
    per_city = j.groupby("city")[names + ["(none)"]].sum().assign(units=j.groupby("city").size())
    per_source = j.groupby(["corpus", "source"])[names + ["(none)"]].sum().assign(
        units=j.groupby(["corpus", "source"]).size())
    return {"categories": per_cat, "corpus": per_corpus.reset_index(),
            "city": per_city.sort_values("units", ascending=False).reset_index(),
            "source": per_source.reset_index()}
