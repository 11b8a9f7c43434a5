"""How a model does on the user's own labelled units: ``aipolicy evaluate FILE -o DIR``.

The labelled table has an id column (``id`` or ``unit_id``), one 0/1 column per category of the model
and either a ``text`` column or ids that are joined to the units of corpus folders (the same join as
the gold labels in training: ingest the folders, match ``unit_id``). The model's probabilities are
scored at its thresholds (or ``--threshold`` overrides) next to the keyword baseline (a unit gets
every category whose codebook cue term it contains):

* ``metrics.json`` — per category precision, recall, F1, support, average precision and confusion
  counts, macro and micro F1, the share of units labelled none that get a label; model and baseline;
* ``per_category.csv``, ``confusion.csv``, ``thresholds.csv`` (precision/recall/F1 at thresholds
  0.05…0.95 and the model's own), ``pr_curves.csv``, ``predictions.csv`` (gold, predicted, p_*);
* ``figures/pr_<category>.png`` — precision–recall curves with the operating point and the baseline;
* ``summary.md`` — a short readable summary.

No threshold is tuned here: the scores are those of the model as it would label the user's data.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AipolicyError
from .predictor import decide
from .tables import atomic_path, read_table

ID_COLUMNS = ("unit_id", "id")
THRESHOLD_STEPS = np.round(np.arange(0.05, 0.951, 0.05), 2)


# ------------------------------------------------------------------ input

def _parse_corpora(items) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items or []:
        name, sep, path = str(item).partition("=")
        if not sep:
            name, path = Path(item).name or str(item), item
        out[name] = Path(path)
    return out


def _check_values(df: pd.DataFrame, names: list[str], path) -> None:
    for c in names:
        col = pd.to_numeric(df[c], errors="coerce")
        bad = ~col.isin((0, 1))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise AipolicyError(f"{path}: column '{c}' must hold 0 or 1; row {i + 2} has {df[c].iloc[i]!r} "
                                f"({int(bad.sum())} such rows)")
        df[c] = col.astype(int)


def read_labelled(path, names: list[str], *, corpora=None, progress: bool = False) -> pd.DataFrame:
    """The user's labelled units: ``unit_id``, ``text`` and one 0/1 column per category in ``names``."""
    df = read_table(path)
    df.columns = [str(c).strip() for c in df.columns]
    idc = next((c for c in ID_COLUMNS if c in df.columns), None)
    if idc is None:
        raise AipolicyError(f"{path}: needs an id column ('id' or 'unit_id')")
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise AipolicyError(f"{path}: missing category column(s) {', '.join(missing)} (the model's categories: "
                            f"{', '.join(names)})")
    df = df.rename(columns={idc: "unit_id"})
    df["unit_id"] = df["unit_id"].astype(str).str.strip()
    dup = df["unit_id"].duplicated()
    if dup.any():
        raise AipolicyError(f"{path}: duplicate id {df['unit_id'][dup].iloc[0]!r} ({int(dup.sum())} duplicates)")
    _check_values(df, names, path)
    if "text" not in df.columns:
        df = _join_corpus(df, names, path, corpora, progress)
    df["text"] = df["text"].fillna("").astype(str)
    if not len(df):
        raise AipolicyError(f"{path}: no labelled units")
    return df[["unit_id", "text", *names]].reset_index(drop=True)


def _join_corpus(df, names, path, corpora, progress) -> pd.DataFrame:
    from .labels import corpus_units, join_labels

    corpora = _parse_corpora(corpora)
    if not corpora:
        raise AipolicyError(f"{path} has no 'text' column: name the corpus folder(s) its ids come from with "
                            "--corpus PATH")
    joined, miss = join_labels(df[["unit_id", *names]], corpus_units(corpora, progress=progress))
    if len(miss):
        raise AipolicyError(f"{path}: {len(miss)} id(s) match no unit of {', '.join(map(str, corpora.values()))} "
                            f"(first: {', '.join(miss['unit_id'].head(3))}); 'aipolicy ingest' shows the unit ids")
    order = {u: i for i, u in enumerate(df["unit_id"])}
    return joined.sort_values("unit_id", key=lambda s: s.map(order)).reset_index(drop=True)


# ------------------------------------------------------------------ scoring

def confusion(Y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    Y, pred = Y.astype(bool), pred.astype(bool)
    return {"tp": (Y & pred).sum(0), "fp": (~Y & pred).sum(0), "fn": (Y & ~pred).sum(0), "tn": (~Y & ~pred).sum(0)}


def _ratio(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the step precision–recall curve (scikit-learn's ``average_precision_score``)."""
    if not y.any():
        return 0.0
    prec, rec, _ = pr_curve(y, p)
    return float(-np.sum(np.diff(rec) * prec[:-1]))


def pr_curve(y: np.ndarray, p: np.ndarray):
    """(precision, recall, thresholds) at every distinct score, recall decreasing, ending at (1, 0)."""
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order].astype(float), p[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]  # the last unit of each distinct score
    tp = np.cumsum(ys)[last]
    flagged = last + 1
    prec, rec = tp / flagged, tp / max(ys.sum(), 1)
    return np.r_[prec[::-1], 1.0], np.r_[rec[::-1], 0.0], ps[last][::-1]


def scores(Y: np.ndarray, pred: np.ndarray, names, proba: np.ndarray | None = None) -> dict:
    """Per category and averaged scores of 0/1 predictions (and average precision when ``proba``)."""
    cm = confusion(Y, pred)
    prec, rec = _ratio(cm["tp"], cm["tp"] + cm["fp"]), _ratio(cm["tp"], cm["tp"] + cm["fn"])
    f1 = _ratio(2 * cm["tp"], 2 * cm["tp"] + cm["fp"] + cm["fn"])
    per = {}
    for j, c in enumerate(names):
        per[c] = {"precision": prec[j], "recall": rec[j], "f1": f1[j], "support": int(Y[:, j].sum()),
                  **{k: int(v[j]) for k, v in cm.items()}}
        if proba is not None:
            per[c]["average_precision"] = average_precision(Y[:, j].astype(bool), proba[:, j])
    tp, fp, fn = (int(cm[k].sum()) for k in ("tp", "fp", "fn"))
    none = Y.sum(axis=1) == 0
    return {"macro_f1": float(f1.mean()), "micro_f1": float(_ratio(2 * tp, 2 * tp + fp + fn)),
            "macro_precision": float(prec.mean()), "macro_recall": float(rec.mean()),
            "none_units": int(none.sum()),
            "none_flagged": float(pred[none].any(axis=1).mean()) if none.any() else 0.0,
            "per_category": per}


def threshold_table(Y: np.ndarray, proba: np.ndarray, names, thresholds: np.ndarray, gates=None) -> pd.DataFrame:
    """Per category and threshold: precision, recall, F1 and units flagged, among the units that pass the
    model's gate (all units when it has none), as the model decides at its own thresholds."""
    passed = np.ones(len(proba), bool) if gates is None else (proba >= np.asarray(gates)).any(axis=1)
    rows = []
    for j, c in enumerate(names):
        grid = sorted({*map(float, THRESHOLD_STEPS), float(thresholds[j])})
        y = Y[:, j].astype(bool)
        for t in grid:
            flag = (proba[:, j] >= t) & passed
            tp, fp, fn = int((flag & y).sum()), int((flag & ~y).sum()), int((~flag & y).sum())
            rows.append({"category": c, "threshold": t, "precision": _ratio(tp, tp + fp).item(),
                         "recall": _ratio(tp, tp + fn).item(), "f1": _ratio(2 * tp, 2 * tp + fp + fn).item(),
                         "flagged": int(flag.sum()), "share_flagged": float(flag.mean()),
                         "model_threshold": bool(abs(t - thresholds[j]) < 1e-9)})
    return pd.DataFrame(rows)


@dataclass
class EvaluationResult:
    names: list[str]
    units: pd.DataFrame
    proba: np.ndarray
    thresholds: np.ndarray
    model: dict
    baseline: dict | None
    baseline_pred: np.ndarray | None
    model_info: dict = field(default_factory=dict)
    gates: np.ndarray | None = None  # the model's gates (classify.PolicyClassifier's gate), None for none

    @property
    def Y(self) -> np.ndarray:
        return self.units[self.names].to_numpy(int)

    @property
    def pred(self) -> np.ndarray:
        return decide(self.proba, self.thresholds, self.gates).astype(int)

    def metrics(self) -> dict:
        return {"input": self.model_info.get("input", ""), "units": len(self.units),
                "model": {**{k: self.model_info[k] for k in ("name", "version", "sha256") if k in self.model_info},
                          "thresholds": dict(zip(self.names, map(float, self.thresholds))),
                          **({} if self.gates is None else {"gates": dict(zip(self.names, map(float, self.gates)))}),
                          **self.model},
                "keyword_baseline": self.baseline}


def evaluate_model(units: pd.DataFrame, model, names: list[str], *, cues: dict | None = None) -> EvaluationResult:
    """Score ``model`` (a Predictor or PolicyClassifier with ``thresholds_``) on labelled ``units``;
    ``cues`` ({category: terms}) gives the keyword baseline."""
    texts = units["text"].tolist()
    proba = np.asarray(model.predict_proba(texts), dtype=float)
    thresholds = np.asarray(model.thresholds_, dtype=float)
    gates = model.gates_
    Y = units[names].to_numpy(int)
    res = scores(Y, decide(proba, thresholds, gates).astype(int), names, proba)
    base, bpred = None, None
    if cues:
        from .predictor import cue_pattern

        pats = [cue_pattern(cues.get(c, ())) for c in names]
        bpred = np.array([[1 if p is not None and p.search(t) else 0 for p in pats] for t in texts],
                         dtype=int).reshape(len(texts), len(names))
        base = scores(Y, bpred, names)
    return EvaluationResult(names, units, proba, thresholds, res, base, bpred, gates=gates)


# ------------------------------------------------------------------ writing

def _round(x):
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, (float, np.floating)):
        return round(float(x), 4)
    if isinstance(x, np.integer):
        return int(x)
    return x


def _csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n", float_format="%.4f")


def per_category_table(res: EvaluationResult) -> pd.DataFrame:
    rows = []
    for c in [*res.names, "macro", "micro"]:
        row = {"category": c}
        for who, m in (("", res.model), ("baseline_", res.baseline)):
            if m is None:
                continue
            if c in m["per_category"]:
                d = m["per_category"][c]
                row.update({f"{who}precision": d["precision"], f"{who}recall": d["recall"], f"{who}f1": d["f1"]})
                row.setdefault("support", d["support"])
                if "average_precision" in d:
                    row["average_precision"] = d["average_precision"]
            else:
                row[f"{who}f1"] = m[f"{c}_f1"]
                if c == "macro":
                    row.update({f"{who}precision": m["macro_precision"], f"{who}recall": m["macro_recall"]})
        rows.append(row)
    return pd.DataFrame(rows)


def confusion_table(res: EvaluationResult) -> pd.DataFrame:
    rows = []
    for who, m in (("model", res.model), ("keyword_baseline", res.baseline)):
        for c, d in (m or {}).get("per_category", {}).items():
            rows.append({"predictor": who, "category": c, "tp": d["tp"], "fp": d["fp"], "fn": d["fn"],
                         "tn": d["tn"], "support": d["support"]})
    return pd.DataFrame(rows)


def pr_points(res: EvaluationResult) -> pd.DataFrame:
    frames = []
    Y = res.Y.astype(bool)
    for j, c in enumerate(res.names):
        prec, rec, th = pr_curve(Y[:, j], res.proba[:, j])
        frames.append(pd.DataFrame({"category": c, "threshold": np.r_[th, np.nan], "precision": prec,
                                    "recall": rec}))
    return pd.concat(frames, ignore_index=True)


def predictions_table(res: EvaluationResult) -> pd.DataFrame:
    cats = np.asarray(res.names)

    def joined(M):
        return [";".join(cats[np.flatnonzero(r)]) for r in M]

    out = pd.DataFrame({"unit_id": res.units["unit_id"], "gold": joined(res.Y), "predicted": joined(res.pred)})
    if res.baseline_pred is not None:
        out["baseline"] = joined(res.baseline_pred)
    for j, c in enumerate(res.names):
        out[f"p_{c}"] = np.round(res.proba[:, j], 4)
    out["text"] = res.units["text"]
    return out


def _pr_png(res: EvaluationResult, j: int, path: Path) -> None:
    from .plots import figure

    c = res.names[j]
    y = res.Y[:, j].astype(bool)
    prec, rec, _ = pr_curve(y, res.proba[:, j])
    d = res.model["per_category"][c]
    with figure((4.2, 3.6)) as (fig, ax):
        _draw_pr(fig, ax, res, j, c, y, prec, rec, d)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})


def _draw_pr(fig, ax, res: EvaluationResult, j: int, c: str, y, prec, rec, d) -> None:
    ax.step(rec, prec, where="post", label=f"model (AP {d['average_precision']:.2f})")
    ax.scatter([d["recall"]], [d["precision"]], color="red", zorder=3,
               label=f"threshold {res.thresholds[j]:.3f}: F1 {d['f1']:.2f}")
    if res.baseline is not None:
        b = res.baseline["per_category"][c]
        ax.scatter([b["recall"]], [b["precision"]], marker="s", color="grey", zorder=3,
                   label=f"keyword baseline: F1 {b['f1']:.2f}")
    ax.axhline(y.mean() if len(y) else 0, color="lightgrey", lw=0.8, ls="--")
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
           title=f"{c} (n={int(y.sum())} of {len(y)})")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)


def summary_markdown(res: EvaluationResult, metrics: dict) -> str:
    m, b = res.model, res.baseline
    mi = metrics["model"]
    lines = [f"# Evaluation of model {mi.get('name', '?')} ({mi.get('version', '?')})", "",
             f"{metrics['units']} labelled units from `{metrics['input']}`; thresholds: "
             + ", ".join(f"{c} {t:.3f}" for c, t in mi["thresholds"].items()) + ".", "",
             "| category | precision | recall | F1 | baseline F1 | AP | support |", "|---|---|---|---|---|---|---|"]
    for c in res.names:
        d = m["per_category"][c]
        bf = f"{b['per_category'][c]['f1']:.3f}" if b else "–"
        lines.append(f"| {c} | {d['precision']:.3f} | {d['recall']:.3f} | **{d['f1']:.3f}** | {bf} | "
                     f"{d['average_precision']:.3f} | {d['support']} |")
    bm = f"{b['macro_f1']:.3f}" if b else "–"
    lines += [f"| **macro** | {m['macro_precision']:.3f} | {m['macro_recall']:.3f} | **{m['macro_f1']:.3f}** | "
              f"{bm} | | |",
              f"| micro | | | {m['micro_f1']:.3f} | {b['micro_f1']:.3f} | | |" if b else
              f"| micro | | | {m['micro_f1']:.3f} | – | | |", ""]
    none = (f"Of the {m['none_units']} units labelled none, the model gives a label to {m['none_flagged']:.0%}"
            + (f" (keyword baseline: {b['none_flagged']:.0%})." if b else "."))
    lines += [none if m["none_units"] else "No unit is labelled none.", ""]
    lines.append("The keyword baseline gives a unit every category whose codebook cue term it contains."
                 if b else "No keyword baseline: no categories file with cue terms was found (--categories).")
    lines += ["", "Units the model was trained on score higher than new ones: evaluate on units that are not in "
              "its training data (`aipolicy models show` names that data)."]
    lines += ["", "Files: `metrics.json`, `per_category.csv`, `confusion.csv`, `thresholds.csv` (scores at other "
              "thresholds: tuning them on these same units overstates what new data will show), `pr_curves.csv`, "
              "`predictions.csv`, `figures/pr_<category>.png`.", ""]
    return "\n".join(lines)


def write_evaluation(res: EvaluationResult, out_dir: str | os.PathLike) -> dict:
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    metrics = _round(res.metrics())
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _csv(per_category_table(res), out / "per_category.csv")
    _csv(confusion_table(res), out / "confusion.csv")
    _csv(threshold_table(res.Y, res.proba, res.names, res.thresholds, res.gates), out / "thresholds.csv")
    _csv(pr_points(res), out / "pr_curves.csv")
    _csv(predictions_table(res), out / "predictions.csv")
    for j, c in enumerate(res.names):
        _pr_png(res, j, out / "figures" / f"pr_{c}.png")
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text(summary_markdown(res, metrics), encoding="utf-8")
    return metrics


def load_cues(categories_file) -> dict | None:
    """{category: cue terms} from a categories file, or None when there is none."""
    from .config import DEFAULT_CATEGORIES

    categories_file = categories_file or DEFAULT_CATEGORIES
    if not Path(categories_file).is_file():
        return None
    from .config import load_categories

    return {c.name: list(c.cues) for c in load_categories(categories_file)}


def evaluate_file(path, out_dir, *, model=None, models_dir=None, thresholds=None, corpora=None,
                  categories_file=None, progress: bool = False) -> dict:
    """The API behind ``aipolicy evaluate``: read, score, write; returns the metrics dict."""
    from .models import load_predictor, override_thresholds

    clf = load_predictor(model, models_dir)
    override_thresholds(clf, thresholds)
    names = list(clf.categories_)
    units = read_labelled(path, names, corpora=corpora, progress=progress)
    res = evaluate_model(units, clf, names, cues=load_cues(categories_file))
    card = getattr(clf, "card_", {}) or {}
    res.model_info = {"input": str(path), "name": card.get("name", str(model or "default")),
                      "version": card.get("version", ""),
                      "sha256": getattr(clf, "manifest_sha256_", "")}
    return write_evaluation(res, out_dir)
