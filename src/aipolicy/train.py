"""Training: gold labels + corpus text → evaluated, versioned model folder with a model card."""
from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from . import __version__
from .classify import PolicyClassifier, evaluate, start_workers
from .config import TrainingConfig, load_categories
from .errors import AipolicyError
from .labels import corpus_units, join_labels, read_labels
from .models import next_version_name, save_model


def data_hash(joined: pd.DataFrame, names: list[str]) -> str:
    """sha256 over the sorted (unit_id, labels, text) rows: what the model was trained on."""
    h = hashlib.sha256()
    for r in joined.sort_values("unit_id")[["unit_id", *names, "text"]].itertuples(index=False):
        h.update(("\x1f".join(map(str, r)) + "\n").encode("utf-8"))
    return h.hexdigest()


def _versions() -> dict:
    from importlib.metadata import version  # not by importing them: gensim alone takes 1.2 s to import

    return {"aipolicy": __version__, "python": platform.python_version(), "scikit-learn": version("scikit-learn"),
            "numpy": np.__version__, "scipy": version("scipy"), "pandas": pd.__version__,
            "joblib": version("joblib"), "rjieba": version("rjieba"), "gensim": version("gensim")}


def _per_category(names: list[str], values) -> dict | None:
    return None if values is None else {c: float(v) for c, v in zip(names, values)}


def _model_params(cfg: TrainingConfig) -> dict:
    """The classifier's hyper-parameters from the configuration; a value it leaves out is the
    estimator's own default (defined once, in PolicyClassifier's signature)."""
    d = PolicyClassifier().get_params()
    m = cfg.model
    return {"word_ngram_range": tuple(m.get("word_ngram_range", d["word_ngram_range"])),
            "char_ngram_range": tuple(m.get("char_ngram_range", d["char_ngram_range"])),
            "min_df": int(m.get("min_df", d["min_df"])), "max_features": int(m.get("max_features", d["max_features"])),
            "char_bits": int(m.get("char_bits", d["char_bits"])),
            "C": float(m.get("C", d["C"])), "class_weight": m.get("class_weight", d["class_weight"]),
            "calibration_cv": int(m.get("calibration_cv", d["calibration_cv"])),
            "nb_weight": float(m.get("nb_weight", d["nb_weight"])), "nb_C": float(m.get("nb_C", d["nb_C"])),
            "gate": float(m.get("gate", d["gate"])), "tol": float(m.get("tol", d["tol"])),
            "threshold_folds": int(cfg.evaluation.get("folds", d["threshold_folds"])),
            "random_state": int(m.get("seed", d["random_state"]))}


def gold_units(cfg: TrainingConfig, cats, *, labels: str | Path | None = None, progress: bool = False,
               log=print) -> pd.DataFrame:
    """The gold labels joined to their text by ingesting the configured corpora (or reading them from
    ``cfg.cache_dir`` when they were ingested before, unchanged), in a fixed order."""
    joined, missing = join_labels(read_labels(labels or cfg.labels, cats),
                                  corpus_units(cfg.corpora, progress=progress, cache_dir=cfg.cache_dir))
    if len(missing):
        log(f"warning: {len(missing)} labelled unit(s) match no unit of the corpora and are left out "
            f"(first: {', '.join(missing['unit_id'].head(3))}); run 'aipolicy labels check'")
    joined = joined.sort_values(["corpus", "source", "position"], kind="stable").reset_index(drop=True)
    joined.attrs["missing"] = len(missing)
    return joined


def check_positives(joined: pd.DataFrame, names: list[str]) -> None:
    """Refuse to train when a category has no positive (or no negative) gold unit: its classifier
    cannot be fitted, and a model that never predicts it would be written without a warning."""
    bad = [f"{n} ({'no positive' if joined[n].sum() == 0 else 'no negative'})" for n in names
           if joined[n].sum() in (0, len(joined))]
    if bad:
        raise AipolicyError(f"cannot train: {', '.join(bad)} among the {len(joined)} gold units joined to text; "
                            "label examples of every category (or remove it from the categories file)")


def make_classifier(cfg: TrainingConfig, cats, **overrides) -> PolicyClassifier:
    """The configured (unfitted) classifier; ``overrides`` replace hyper-parameters."""
    cue_terms = tuple(sorted({t for c in cats for t in c.cues})) if cfg.model.get("cue_features", True) else ()
    return PolicyClassifier(categories=tuple(c.name for c in cats), cue_terms=cue_terms,
                            **{**_model_params(cfg), **overrides})


def domain_weights(cfg: TrainingConfig) -> dict[str, float]:
    return {str(k): float(v) for k, v in (cfg.model.get("domain_weights") or {}).items()}


def unit_weights(dw: dict[str, float], corpora) -> np.ndarray | None:
    """Each unit's weight in the fits, from its corpus (None when no domain is weighted)."""
    return np.array([dw.get(c, 1.0) for c in corpora]) if dw else None


def cross_validate(cfg: TrainingConfig, cats, joined: pd.DataFrame, clf: PolicyClassifier, *,
                   weights=None, progress: bool = False, refit: bool = False, jobs: int | None = None):
    """Grouped cross-validation of ``clf`` on the gold units (``refit``: and the final fit on all of
    them), in ``jobs`` processes (default: ``evaluation.jobs`` of the configuration), BLAS limited to one
    thread per process (on a shared 2-core machine its threads thrash: 290 s against 39 s measured)."""
    names = [c.name for c in cats]
    jobs = int(cfg.evaluation.get("jobs", 1)) if jobs is None else int(jobs)
    with threadpool_limits(1):
        return evaluate(clf, joined["text"].tolist(), joined[names].to_numpy(int), joined["doc_id"].to_numpy(),
                        {c.name: list(c.cues) for c in cats}, folds=int(cfg.evaluation.get("folds", 5)),
                        domains=joined["corpus"].to_numpy(), sample_weight=weights, progress=progress,
                        n_jobs=jobs, refit=refit)


def train(cfg: TrainingConfig, *, name: str | None = None, agreement: str | Path | None = "labels/agreement.json",
          progress: bool = False, jobs: int | None = None, log=print) -> tuple[Path, dict]:
    """Evaluate and fit; write ``models_dir/NAME``. Without ``name`` a new versioned folder
    (``YYYY-MM-DD-N``) is written: an existing model (the shipped ``default`` included) is replaced
    only when its name is given."""
    name = name or next_version_name(cfg.models_dir)
    cats = load_categories(cfg.categories)
    names = [c.name for c in cats]
    workers = start_workers(int(cfg.evaluation.get("jobs", 1)) if jobs is None else int(jobs))
    joined = gold_units(cfg, cats, progress=progress, log=log)
    if workers is not None:
        workers.join()
    check_positives(joined, names)
    if len(joined) < 20:
        raise AipolicyError(f"only {len(joined)} labelled units joined to text; need at least 20 to train")
    params = _model_params(cfg)
    clf = make_classifier(cfg, cats)
    log(f"training on {len(joined)} units from {joined['doc_id'].nunique()} documents; "
        f"{int(cfg.evaluation.get('folds', 5))}-fold cross-validation grouped by document")
    dw = domain_weights(cfg)
    weights = unit_weights(dw, joined["corpus"])
    ev = cross_validate(cfg, cats, joined, clf, weights=weights, progress=progress, refit=True, jobs=jobs)
    final = ev.refitted

    ia = None
    if agreement and Path(agreement).is_file():
        ia = json.loads(Path(agreement).read_text(encoding="utf-8"))
    dh = data_hash(joined, names)
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    side = ev.side_by_side()
    card = {
        "name": name,
        "version": f"{__version__}+{dh[:8]}",
        "created": created,
        "categories": names,
        "thresholds": _per_category(names, final.thresholds_),
        "gates": _per_category(names, final.gates_),
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        "seed": params["random_state"],
        "domain_weights": dw,
        "choice": str(cfg.model.get("why", "")).strip(),
        "training_data": {
            "units": len(joined), "documents": int(joined["doc_id"].nunique()),
            "corpora": {k: str(v) for k, v in cfg.corpora.items()}, "labels_file": str(cfg.labels),
            "sha256": dh, "label_counts": {c: int(joined[c].sum()) for c in names},
            "none": int((joined[names].sum(axis=1) == 0).sum()), "missing_labels": int(joined.attrs["missing"]),
        },
        "evaluation": {
            "method": f"{ev.folds}-fold GroupKFold by document; thresholds for each fold chosen on the other "
                      "folds' out-of-fold predictions",
            "per_category": json.loads(side.round(4).to_json(orient="records")),
            "per_domain": json.loads(ev.per_domain().round(4).to_json(orient="records")),
        },
        "metrics": {"macro_f1": round(ev.macro_f1, 4), "baseline_macro_f1": round(ev.baseline_macro_f1, 4),
                    "micro_f1": round(float(ev.model.set_index("category").loc["micro", "f1"]), 4),
                    "baseline_micro_f1": round(float(ev.baseline.set_index("category").loc["micro", "f1"]), 4),
                    "inter_annotator": ia},
        "versions": _versions(),
    }
    folder = save_model(final, Path(cfg.models_dir) / name, card, model_card_markdown(card, side))
    for r in ev.per_domain().query("category == 'macro'").itertuples():
        log(f"  {r.domain:<20} macro F1 {r.f1:.3f} (keyword baseline {r.baseline_f1:.3f}) on {r.units} units")
    log(f"macro F1 {ev.macro_f1:.3f} (keyword baseline {ev.baseline_macro_f1:.3f})"
        + (f"; inter-annotator macro F1 {ia['macro_f1']:.3f}" if ia else ""))
    return folder, card


def _weights_text(dw: dict) -> str:
    return ", ".join(f"{k} × {v:g}" for k, v in dw.items()) + ", others × 1" if dw else "none (all × 1)"


def domain_table(per_domain: list[dict]) -> str:
    """Markdown: one row per category, per domain the model's F1 next to the keyword baseline's."""
    d = pd.DataFrame(per_domain)
    doms = list(dict.fromkeys(d["domain"]))
    units = d.groupby("domain")["units"].first()
    head = "| category | " + " | ".join(f"{x} ({units[x]} units): model / baseline" for x in doms) + " |"
    lines = [head, "|---" * (len(doms) + 1) + "|"]
    for cat in dict.fromkeys(d["category"]):
        cells = []
        for x in doms:
            r = d[(d["domain"] == x) & (d["category"] == cat)].iloc[0]
            f, b = f"{r['f1']:.3f}", f"{r['baseline_f1']:.3f}"
            if cat == "none flagged":
                cells.append(f"{f} / {b} (of {r['support']})")
            else:
                cells.append(f"**{f}** / {b}" if cat == "macro" else f"{f} / {b} (n={r['support']})")
        lines.append(f"| {'**macro F1**' if cat == 'macro' else cat} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _calibration_text(params: dict) -> str:
    cv = int(params.get("calibration_cv", 0))
    return f", sigmoid-calibrated with {cv}-fold cross-fitting" if cv > 1 else ""


def _gate_text(card: dict) -> str:
    g = float(card["params"].get("gate", 0.0))
    if g <= 0:
        return ""
    gates = ", ".join(f"{c} {t:.3f}" for c, t in (card.get("gates") or {}).items())
    return (f"\nA unit gets labels only when its highest probability before calibration reaches {g:g} (the gate; per "
            f"category on the calibrated scale: {gates}); the thresholds are chosen on the units that pass it.")


def _blend_text(params: dict) -> str:
    w = float(params.get("nb_weight", 0.0))
    if w <= 0:
        return "Probabilities are sigmoid-calibrated on the out-of-fold probabilities of the cross-validation."
    return (f"Its probability is averaged (weight {1 - w:g} : {w:g}) with that of a second logistic regression "
            f"(C={params.get('nb_C', 1.0)}) on the presence of each word and each pair of adjacent words, scaled by "
            "their log-count ratios (NB-SVM, Wang & Manning 2012); the average is sigmoid-calibrated on the "
            "out-of-fold probabilities of the cross-validation.")


def model_card_markdown(card: dict, side: pd.DataFrame) -> str:
    td, m = card["training_data"], card["metrics"]
    ia = m.get("inter_annotator")
    rows = "\n".join(
        f"| {r.category} | {r.precision:.3f} | {r.recall:.3f} | **{r.f1:.3f}** | {r.baseline_precision:.3f} | "
        f"{r.baseline_recall:.3f} | {r.baseline_f1:.3f} | {r.support} |" for r in side.itertuples())
    th = ", ".join(f"{c} {t:.3f}" for c, t in card["thresholds"].items())
    ia_line = (f"Inter-annotator agreement on {ia['units']} double-labelled units (the ceiling): macro F1 "
               f"{ia['macro_f1']:.3f}, macro Cohen's kappa {ia['macro_kappa']:.3f}, exact match {ia['exact_match']:.3f} "
               "(`labels/AGREEMENT.md`)." if ia else "No inter-annotator agreement file was found.")
    return f"""# Model card: {card['name']} ({card['version']})

Multi-label classifier of Chinese AI-policy units into {', '.join(card['categories'])}
(meanings: `labels/CODEBOOK.md`). Created {card['created']} by aipolicy {card['versions']['aipolicy']}.

## Model
TF-IDF over rjieba tokens (domain user dictionary; word n-grams {tuple(card['params']['word_ngram_range'])})
and over hashed character n-grams {tuple(card['params']['char_ngram_range'])}, plus the presence of each codebook
cue term of `src/aipolicy/data/categories.yaml` as a feature; one logistic regression per
category (C={card['params']['C']}, class_weight={card['params']['class_weight']}){_calibration_text(card['params'])}.
{_blend_text(card['params'])}
Seed {card['seed']}. Units are weighted by domain in the fits: {_weights_text(card.get('domain_weights') or {})}.
Decision thresholds (chosen on out-of-fold predictions, on the calibrated scale): {th}.{_gate_text(card)}
{card.get('choice', '')}

## Training data
{td['units']} gold units from {td['documents']} documents ({', '.join(td['corpora'])}); labels
`{td['labels_file']}`, data sha256 `{td['sha256'][:16]}…`. Positives: {', '.join(f"{c} {n}" for c, n in td['label_counts'].items())};
none {td['none']}.

## Evaluation
{card['evaluation']['method']}. Classifier vs. keyword baseline (codebook cue terms):

| category | precision | recall | F1 | baseline P | baseline R | baseline F1 | support |
|---|---|---|---|---|---|---|---|
{rows}

Per domain (the same cross-fitted predictions, split by corpus; "none flagged" is the share of units
labelled none in the gold that the model, or the baseline, gives a label):

{domain_table(card['evaluation']['per_domain'])}

Over all domains: macro F1 **{m['macro_f1']:.3f}** vs. baseline {m['baseline_macro_f1']:.3f} (difference {m['macro_f1'] - m['baseline_macro_f1']:+.3f}).
{ia_line}

## Intended use and limits
For labelling paragraphs of Chinese AI, data and digital policy documents (plans, action plans, measures,
regulations), government work reports and news about them, and for comparing category shares between
places. Trained on official AI-policy documents of 2021–2026, 2023 news articles and 2024 municipal work
reports; other genres (English text, social media) are out of domain. In AI-policy documents the model
gives a label to many units that the gold calls none (headings, purpose clauses, procedural articles; the
"none flagged" row above), so per-city shares there are upper bounds on what a reader would count.
Files: `predictor.npz` + `predictor.json` (the inference model, no pickle), `model.joblib` (the scikit-learn
estimator, a pickle, loaded only by `aipolicy.load_model`), `manifest.json` (sha256 of every file, verified
before anything is read).
"""
