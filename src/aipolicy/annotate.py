"""Labelling support: which units to label next, labelling sheets and Label Studio tasks, merging
filled sheets into the gold file, and auditing the gold for likely label errors.

* ``suggest`` ranks unlabelled units by how unsure the current model is about them (the category whose
  probability is nearest its decision threshold, relative to the room on that side), then picks greedily
  so that each new unit is also unlike the ones already picked (cosine similarity of the model's own
  features; Brinker 2003's uncertainty + diversity) and no document supplies more than its share.
* A sheet (CSV/XLSX) has one empty 0/1 column per category; the Label Studio files are a task list and a
  labelling configuration with one multiple-choice control (the categories plus an explicit "none").
* ``import_labels`` validates a filled sheet or a Label Studio JSON export completely before it merges
  anything: every problem is reported with its row, and one problem means nothing is merged.
* ``audit`` uses out-of-fold probabilities (grouped by document) and cleanlab's multi-label label-quality
  scores to rank gold units whose labels the data most disagree with, for a person to re-read.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AipolicyError
from .labels import Problem

NONE_CHOICE = "none"
SHEET_COLUMNS = ("unit_id", "corpus", "source", "position", "city", "text")


# ----------------------------------------------------------------------------- suggest

def uncertainty(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """1 for a unit on a decision boundary, 0 for a unit certain on every category.

    Per category the margin is the distance of the probability from the threshold divided by the room on
    that side (threshold below it, 1 - threshold above it); a unit is as uncertain as its least certain
    category.
    """
    t = np.asarray(thresholds, dtype=float)
    room = np.where(proba < t, t, 1.0 - t)
    margin = np.abs(proba - t) / np.maximum(room, 1e-9)
    return 1.0 - np.clip(margin, 0.0, 1.0).min(axis=1)


def _unit_rows(X):
    """Rows scaled to unit length (so that a dot product is a cosine similarity)."""
    import scipy.sparse as sp

    X = sp.csr_matrix(X, dtype=np.float64)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms) @ X


def suggest(units: pd.DataFrame, model, *, n: int = 200, exclude_ids=(), per_doc: int | None = None,
            diversity: float = 0.5, pool_factor: int = 10) -> pd.DataFrame:
    """The ``n`` units most worth labelling next, in order of choice, with ``uncertainty`` and ``rank``.

    ``model`` is a loaded Predictor or PolicyClassifier. ``per_doc`` caps the units taken from one
    document (default: twice an even share, at least 2). Deterministic: ties break by unit_id.
    """
    cand = units[~units["unit_id"].isin(set(exclude_ids))].drop_duplicates("unit_id")
    cand = cand.sort_values("unit_id", kind="stable").reset_index(drop=True)
    if cand.empty or n <= 0:
        return cand.assign(uncertainty=pd.Series(dtype=float), rank=pd.Series(dtype=int)).iloc[:0]
    texts = cand["text"].tolist()
    proba = model.predict_proba(texts)
    u = uncertainty(proba, model.thresholds_)
    doc = cand["doc_id"].to_numpy() if "doc_id" in cand else cand["source"].to_numpy()
    n_docs = len(np.unique(doc))
    cap = per_doc if per_doc else max(2, int(np.ceil(2 * n / n_docs)))
    order = np.lexsort((cand["unit_id"].to_numpy(), -u))  # most uncertain first, then by id
    pool = order[:min(len(order), max(n * pool_factor, n))]
    feats = model.features(texts) if hasattr(model, "features") else model.transform_texts(texts)
    Xp = _unit_rows(feats[pool])
    max_sim = np.zeros(len(pool))
    blocked = np.zeros(len(pool), dtype=bool)   # taken, or its document has reached the cap
    pool_doc = doc[pool]
    per: dict = {}
    picked: list[int] = []
    for _ in range(min(n, len(pool))):
        score = np.where(blocked, -np.inf, u[pool] - diversity * max_sim)
        best = int(np.argmax(score))
        if not np.isfinite(score[best]):
            break
        blocked[best] = True
        picked.append(int(pool[best]))
        d = pool_doc[best]
        per[d] = per.get(d, 0) + 1
        if per[d] >= cap:
            blocked |= pool_doc == d
        sim = np.asarray((Xp @ Xp[best].T).todense()).ravel()
        np.maximum(max_sim, sim, out=max_sim)
    out = cand.iloc[picked].copy()
    out["uncertainty"] = np.round(u[picked], 4)
    for j, c in enumerate(model.categories_):
        out[f"p_{c}"] = np.round(proba[picked, j], 4)
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- sheets / Label Studio

def labelling_sheet(suggested: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    """One row per unit: context columns, one empty column per category, note."""
    cols = [c for c in (*SHEET_COLUMNS, "rank", "uncertainty") if c in suggested.columns]
    sheet = suggested[cols].copy()
    for c in categories:
        sheet[c] = ""
    sheet["note"] = ""
    return sheet


def label_studio_config(categories: list, descriptions: dict | None = None) -> str:
    """A Label Studio labelling configuration: the unit text and one multiple-choice control."""
    from xml.sax.saxutils import quoteattr

    descriptions = descriptions or {}
    choices = "\n".join(f'    <Choice value={quoteattr(c)} hint={quoteattr(descriptions.get(c, c))}/>'
                        for c in [*categories, NONE_CHOICE])
    return f"""<View>
  <Header value="$source (position $position, $city)"/>
  <Text name="text" value="$text"/>
  <Choices name="categories" toName="text" choice="multiple" showInline="true" required="true">
{choices}
  </Choices>
  <TextArea name="note" toName="text" maxSubmissions="1" editable="true" placeholder="note (optional)"/>
</View>
"""


def label_studio_tasks(suggested: pd.DataFrame) -> list[dict]:
    cols = [c for c in SHEET_COLUMNS if c in suggested.columns]
    return [{"data": {k: (int(v) if isinstance(v, (np.integer,)) else v) for k, v in r.items()}}
            for r in suggested[cols].to_dict("records")]


def write_suggestions(suggested: pd.DataFrame, categories, out: str | Path, *, descriptions=None) -> list[Path]:
    """Write the sheet (``out``: .csv or .xlsx) and, beside it, ``<stem>.label_studio.json`` (tasks)
    and ``<stem>.label_studio.xml`` (labelling configuration). Returns the paths written."""
    from .tables import atomic_path, check_output_path, write_table

    out = check_output_path(out, (".csv", ".xlsx"))
    names = [c.name if hasattr(c, "name") else str(c) for c in categories]
    written = [write_table(labelling_sheet(suggested, names), out)]
    tasks, config = out.with_name(out.stem + ".label_studio.json"), out.with_name(out.stem + ".label_studio.xml")
    with atomic_path(tasks) as tmp:
        tmp.write_text(json.dumps(label_studio_tasks(suggested), ensure_ascii=False, indent=1), encoding="utf-8")
    with atomic_path(config) as tmp:
        tmp.write_text(label_studio_config(names, descriptions), encoding="utf-8")
    return written + [tasks, config]


# ----------------------------------------------------------------------------- import

@dataclass
class ImportResult:
    rows: pd.DataFrame                      # validated labels: unit_id, categories, note (+ corpus, source)
    problems: list[Problem] = field(default_factory=list)
    unlabelled: int = 0                     # sheet rows left entirely empty (not yet labelled)


def _sheet_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Header and (row number as a spreadsheet shows it, values) of a CSV or XLSX sheet."""
    if path.suffix.lower() == ".xlsx":
        df = pd.read_excel(path, dtype=str, keep_default_na=False)
    elif path.suffix.lower() == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                raise AipolicyError(f"{path}: not UTF-8 or GB18030 text") from None
        import csv
        import io

        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise AipolicyError(f"{path}: empty file (no header)") from None
        except csv.Error as e:
            raise AipolicyError(f"{path}: line 1: {e}") from None
        rows = []
        try:
            for row in reader:
                if not any(c.strip() for c in row):
                    continue
                rows.append((reader.line_num, dict(zip(header, row)) | ({"__fields__": len(row)})))
        except csv.Error as e:
            raise AipolicyError(f"{path}: line {reader.line_num}: {e}") from None
        return header, rows
    else:
        raise AipolicyError(f"{path}: a labelling sheet must be .csv or .xlsx (or a Label Studio .json export)")
    header = [str(h).strip() for h in df.columns]
    df.columns = header
    return header, [(i + 2, r) for i, r in enumerate(df.to_dict("records"))]


def _sheet_header_problems(header: list[str], categories: list[str]) -> list[Problem]:
    problems = []
    known = set(categories) | {"note", "rank", "uncertainty", "annotator", *SHEET_COLUMNS}
    if "unit_id" not in header:
        problems.append(Problem(1, "missing column 'unit_id'"))
    for c in categories:
        if c not in header:
            problems.append(Problem(1, f"missing category column '{c}'"))
    for c in header:
        if c not in known and not c.startswith("p_") and not c.startswith("Unnamed"):
            problems.append(Problem(1, f"unknown column '{c}' (categories: {', '.join(categories)})"))
    if len(set(header)) != len(header):
        problems.append(Problem(1, "duplicate column names"))
    return problems


def _sheet_record(line: int, r: dict, header: list[str], categories: list[str], first: dict):
    """One sheet row: None when not labelled yet, a list of problems, or the validated record."""
    if r.get("__fields__", len(header)) != len(header):
        return [Problem(line, f"{r['__fields__']} fields, expected {len(header)}")]
    uid = str(r.get("unit_id", "")).strip()
    vals = {c: str(r.get(c, "")).strip() for c in categories}
    if not any(vals.values()):
        return None
    if not uid:
        return [Problem(line, "empty unit_id")]
    if uid in first:
        return [Problem(line, f"duplicate unit_id {uid} (first on row {first[uid]})")]
    first[uid] = line
    bad = {c: v for c, v in vals.items() if v not in ("0", "1", "0.0", "1.0")}
    if bad:
        return [Problem(line, f"{c} = {v!r} for {uid}: must be 0 or 1 (leave every category "
                              "empty for a unit not labelled yet)") for c, v in bad.items()]
    rec = {"unit_id": uid, **{c: int(float(v)) for c, v in vals.items()},
           "note": str(r.get("note", "")).strip(), "_line": line}
    for c in ("corpus", "source", "annotator"):
        if c in r:
            rec[c] = str(r[c]).strip()
    return rec


def _gather(records, problems: list) -> "ImportResult":
    """Sort parsed rows into labelled records, problems (one or a list per row) and unlabelled rows
    (None), in order; shared by the sheet and the Label Studio readers."""
    out, unlabelled = [], 0
    for got in records:
        if got is None:
            unlabelled += 1
        elif isinstance(got, Problem):
            problems.append(got)
        elif isinstance(got, list):
            problems.extend(got)
        else:
            out.append(got)
    return ImportResult(pd.DataFrame(out), problems, unlabelled)


def read_sheet(path: str | Path, categories: list[str]) -> ImportResult:
    """Validate a filled labelling sheet; rows whose category cells are all empty are not labelled yet."""
    path = Path(path)
    header, rows = _sheet_rows(path)
    problems = _sheet_header_problems(header, categories)
    if problems:
        return ImportResult(pd.DataFrame(), problems)
    first = {}
    return _gather((_sheet_record(line, r, header, categories, first) for line, r in rows), problems)


def _ls_annotation(task: dict, control: str):
    """(choices, note) of the newest annotation that was not cancelled; None when there is none."""
    anns = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not anns:
        return None
    ann = max(anns, key=lambda a: (str(a.get("updated_at", "")), str(a.get("id", ""))))
    chosen, note = None, ""
    for res in ann.get("result") or []:
        if res.get("from_name") == control and res.get("type") == "choices":
            chosen = list((res.get("value") or {}).get("choices") or [])
        elif res.get("type") == "textarea":
            note = " ".join((res.get("value") or {}).get("text") or [])
    return chosen, note


def _ls_choice_problem(chosen, uid: str, control: str, categories: list[str]) -> str | None:
    allowed = set(categories) | {NONE_CHOICE}
    if not chosen:
        return (f"no choice in control '{control}' for {uid} "
                f"(choose '{NONE_CHOICE}' for a unit with no category)")
    unknown = [c for c in chosen if c not in allowed]
    if unknown:
        return (f"unknown category {', '.join(map(repr, unknown))} for {uid} "
                f"(categories: {', '.join(categories)}, {NONE_CHOICE})")
    if NONE_CHOICE in chosen and len(chosen) > 1:
        return f"'{NONE_CHOICE}' chosen together with categories for {uid}"
    return None


def _ls_task(i: int, task, categories: list[str], control: str, first: dict):
    """One Label Studio task: None when not labelled yet, a Problem, or the validated record."""
    where = f"task {i}" + (f" (id {task.get('id')})" if isinstance(task, dict) and "id" in task else "")
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        return Problem(i, f"{where}: not a task with 'data'")
    data = task["data"]
    uid = str(data.get("unit_id", "")).strip()
    ann = _ls_annotation(task, control)
    if ann is None:
        return None
    chosen, note = ann
    if not uid:
        return Problem(i, f"{where}: no unit_id in its data")
    if uid in first:
        return Problem(i, f"{where}: duplicate unit_id {uid} (first in task {first[uid]})")
    first[uid] = i
    problem = _ls_choice_problem(chosen, uid, control, categories)
    if problem:
        return Problem(i, f"{where}: {problem}")
    return {"unit_id": uid, **{c: int(c in chosen) for c in categories}, "note": note.strip(), "_line": i,
            **{k: data[k] for k in ("corpus", "source") if k in data}}


def read_label_studio(path: str | Path, categories: list[str], *, control: str = "categories") -> ImportResult:
    """Validate a Label Studio JSON export made with ``label_studio_config``. The newest annotation that
    was not cancelled counts; a task without one is not labelled yet."""
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AipolicyError(f"{path}: not a Label Studio JSON export ({e})") from None
    if not isinstance(tasks, list):
        raise AipolicyError(f"{path}: a Label Studio JSON export is a list of tasks")
    first = {}
    return _gather((_ls_task(i, task, categories, control, first) for i, task in enumerate(tasks, start=1)), [])


def _gold_conflicts(res: ImportResult, gold: pd.DataFrame, info: pd.DataFrame, categories: list[str],
                    replace: bool, what: str) -> None:
    """Add to ``res.problems`` the rows whose unit is unknown or, without ``replace``, conflicts with the gold."""
    gold_by_id = gold.set_index("unit_id")
    for r in res.rows.to_dict("records"):
        uid = r["unit_id"]
        if uid not in info.index:
            res.problems.append(Problem(r["_line"], f"unknown unit_id {uid}: it matches no unit of the "
                                                    "configured corpora"))
        elif uid in gold_by_id.index and not replace:
            old = [int(gold_by_id.at[uid, c]) for c in categories]
            new = [r[c] for c in categories]
            if old != new:
                res.problems.append(Problem(r["_line"], f"conflict for {uid}: gold has "
                                                        f"{_fmt(old, categories)}, this {what} says "
                                                        f"{_fmt(new, categories)} (use --replace to overwrite)"))


def _raise_problems(new_path: Path, problems: list[Problem], what: str) -> None:
    shown = "\n  ".join(f"{what} {p.line}: {p.message}" if p.line else p.message for p in problems[:50])
    more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
    raise AipolicyError(f"{new_path}: {len(problems)} problem(s); nothing was merged:\n  {shown}{more}")


def _new_gold_rows(res: ImportResult, info: pd.DataFrame, categories: list[str], annotator: str,
                   columns: list[str]) -> pd.DataFrame:
    """The imported rows in the gold file's columns, with corpus and source from the units."""
    new = res.rows.drop(columns=["_line"], errors="ignore") if len(res.rows) else pd.DataFrame(columns=["unit_id"])
    new = new.assign(corpus=[info.at[u, "corpus"] if "corpus" in info else "" for u in new["unit_id"]],
                     source=[info.at[u, "source"] for u in new["unit_id"]],
                     annotator=new["annotator"] if "annotator" in new and new["annotator"].ne("").all()
                     else annotator)
    for c in categories:
        new[c] = new[c].astype(int).astype(str)
    return new.reindex(columns=columns, fill_value="")


def _import_counts(gold: pd.DataFrame, new: pd.DataFrame, categories: list[str], unlabelled: int) -> dict:
    existing = set(gold["unit_id"])
    counts = {"added": int((~new["unit_id"].isin(existing)).sum()),
              "replaced": 0, "unchanged": 0, "unlabelled": unlabelled}
    same = new[new["unit_id"].isin(existing)]
    if len(same):
        g = gold.set_index("unit_id")
        differs = [any(g.at[u, c] != v for c, v in zip(categories, row))
                   for u, row in zip(same["unit_id"], same[categories].itertuples(index=False))]
        counts["replaced"] = int(sum(differs))
        counts["unchanged"] = len(same) - counts["replaced"]
    return counts


def import_labels(gold_path: str | Path, new_path: str | Path, categories: list[str], *, units: pd.DataFrame,
                  annotator: str, replace: bool = False) -> tuple[pd.DataFrame, ImportResult, dict]:
    """Validate ``new_path`` (sheet or Label Studio export) against the gold file and the corpus units and
    return (merged gold, the import, counts). Raises AipolicyError, naming every row at fault, when any
    row is invalid: unknown unit ids, unknown categories, values other than 0/1, duplicate ids, missing
    columns, or (without ``replace``) a unit already in the gold file with different labels."""
    new_path = Path(new_path)
    if not new_path.exists():
        raise AipolicyError(f"file not found: {new_path}")
    is_json = new_path.suffix.lower() == ".json"
    res = read_label_studio(new_path, categories) if is_json else read_sheet(new_path, categories)
    gold = pd.read_csv(gold_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    what = "task" if is_json else "row"
    info = units.drop_duplicates("unit_id").set_index("unit_id")
    if not res.problems and len(res.rows):
        _gold_conflicts(res, gold, info, categories, replace, what)
    if res.problems:
        _raise_problems(new_path, res.problems, what)
    new = _new_gold_rows(res, info, categories, annotator, list(gold.columns))
    counts = _import_counts(gold, new, categories, res.unlabelled)
    merged = pd.concat([gold[~gold["unit_id"].isin(set(new["unit_id"]))], new], ignore_index=True)
    return merged, res, counts


def _fmt(v, categories) -> str:
    on = [c for c, x in zip(categories, v) if x]
    return "{" + ", ".join(on) + "}" if on else "{none}"


# ----------------------------------------------------------------------------- audit

def audit(Y: np.ndarray, oof_proba: np.ndarray, categories: list[str]) -> pd.DataFrame:
    """Rank units by cleanlab's multi-label label-quality score (lowest first) from out-of-fold
    probabilities; ``suspect`` lists, per unit, the categories whose given label the model contradicts
    most (probability of the given label below 0.5), and ``issue`` marks the units that cleanlab's
    confident-learning filter flags as label issues."""
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    Y = np.asarray(Y, dtype=int)
    P = np.clip(np.asarray(oof_proba, dtype=float), 1e-6, 1 - 1e-6)
    labels = [list(np.flatnonzero(r)) for r in Y]
    quality = get_label_quality_scores(labels, P)
    issue = find_label_issues(labels, P)
    given = np.where(Y == 1, P, 1 - P)  # probability the model gives to the label as annotated
    suspect = [";".join(f"{'-' if Y[i, j] else '+'}{categories[j]}" for j in np.argsort(given[i])
                        if given[i, j] < 0.5) for i in range(len(Y))]
    out = pd.DataFrame({"quality": np.round(quality, 4), "issue": issue.astype(int), "suspect": suspect})
    for j, c in enumerate(categories):
        out[c] = Y[:, j]
    for j, c in enumerate(categories):
        out[f"p_{c}"] = np.round(P[:, j], 4)
    return out
