"""Inter-annotator agreement between two label files over the units both labelled.

    python labels/agreement.py FIRST.csv SECOND.csv [--categories src/aipolicy/data/categories.yaml]

Prints per-category Cohen's kappa, F1 (one annotator taken as reference; F1 is symmetric), the
positives of each annotator, and the exact-match rate over all categories (a unit agrees exactly
when all its 0/1 values agree).
"""
from __future__ import annotations

import argparse

import pandas as pd
from sklearn.metrics import cohen_kappa_score, f1_score

from aipolicy.config import load_categories


def agreement(first: pd.DataFrame, second: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, float, int]:
    m = first.merge(second, on="unit_id", suffixes=("_a", "_b"))
    rows = []
    for n in names:
        a, b = m[f"{n}_a"].astype(int), m[f"{n}_b"].astype(int)
        rows.append({"category": n, "kappa": cohen_kappa_score(a, b), "f1": f1_score(a, b, zero_division=0),
                     "pos_first": int(a.sum()), "pos_second": int(b.sum()), "disagreements": int((a != b).sum())})
    exact = float((m[[f"{n}_a" for n in names]].astype(int).values
                   == m[[f"{n}_b" for n in names]].astype(int).values).all(axis=1).mean())
    return pd.DataFrame(rows), exact, len(m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--categories", default="src/aipolicy/data/categories.yaml")
    args = ap.parse_args()
    names = [c.name for c in load_categories(args.categories)]
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    table, exact, n = agreement(read(args.first), read(args.second), names)
    print(f"{n} units labelled by both\n")
    print(table.round(3).to_string(index=False))
    print(f"\nmacro kappa {table['kappa'].mean():.3f}, macro F1 {table['f1'].mean():.3f}, exact match {exact:.3f}")


if __name__ == "__main__":
    main()
