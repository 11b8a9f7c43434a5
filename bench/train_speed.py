"""Stage times of `aipolicy train` on the gold labels, against the previous training setup, in one run.

    python bench/train_speed.py [--config training/config.yaml] [--jobs 2]

Stages: joining the gold to its text (ingesting the corpora), grouped cross-validation with the final fit
(``evaluate(refit=True)``, in ``--jobs`` processes, dual liblinear), and writing nothing (no model folder is
touched). The baseline is the setup before this change: primal liblinear, folds and then the final fit one
after the other in one process. Both run with BLAS limited to one thread inside the process
(threadpoolctl). Prints seconds per stage, the ratio, and whether both give the same thresholds and scores.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from unittest import mock

import numpy as np
from sklearn.linear_model import LogisticRegression

from aipolicy.config import load_categories, load_training_config
from aipolicy.train import cross_validate, domain_weights, gold_units, make_classifier, unit_weights

ROOT = Path(__file__).resolve().parents[1]


def _primal(*args, **kw):
    kw["dual"] = False
    return LogisticRegression(*args, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "training" / "config.yaml"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--skip-baseline", action="store_true", help="only time the current setup")
    args = ap.parse_args()
    cfg = load_training_config(args.config)
    cats = load_categories(cfg.categories)
    t0 = time.perf_counter()
    joined = gold_units(cfg, cats, log=lambda *a: None)
    t_join = time.perf_counter() - t0
    clf = make_classifier(cfg, cats)
    w = unit_weights(domain_weights(cfg), joined["corpus"])

    t0 = time.perf_counter()
    ev = cross_validate(cfg, cats, joined, clf, weights=w, refit=True, jobs=args.jobs)
    t_now = time.perf_counter() - t0
    print(f"units {len(joined)}; join gold to text {t_join:.1f} s")
    print(f"now:      cross-validation + final fit, {args.jobs} process(es), dual solver: {t_now:.1f} s "
          f"(total with join {t_join + t_now:.1f} s); macro F1 {ev.macro_f1:.4f}")
    if args.skip_baseline:
        return
    t0 = time.perf_counter()
    with mock.patch("aipolicy.classify.LogisticRegression", _primal):
        evb = cross_validate(cfg, cats, joined, clf, weights=w, refit=True, jobs=1)
    t_old = time.perf_counter() - t0
    same = np.allclose(ev.thresholds, evb.thresholds) and abs(ev.macro_f1 - evb.macro_f1) < 1e-3
    print(f"baseline: same fits, 1 process, primal solver: {t_old:.1f} s; macro F1 {evb.macro_f1:.4f}")
    print(f"ratio now / baseline: {t_now / t_old:.2f}; same thresholds and macro F1 (±0.001): {same} "
          f"(thresholds now {np.round(ev.thresholds, 3).tolist()}, baseline {np.round(evb.thresholds, 3).tolist()})")


if __name__ == "__main__":
    main()
