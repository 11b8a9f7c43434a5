"""Per-city category statistics (pure functions on a labelled unit table → tidy DataFrames).

- ``category_shares``: share of a city's units that carry each category, with a 95% bootstrap
  interval. Resampling is by document when the city has at least ``min_docs_for_cluster`` documents
  (units of one document are not independent), otherwise by unit.
- ``distinctive``: weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi &
  Quinn 2008, "Fightin' Words"), each city against all other cities, over the label counts
  (the six categories and "none"); z-scores shrink small cities towards the overall mix.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

NONE = "none"


def category_matrix(units: pd.DataFrame, categories) -> pd.DataFrame:
    """0/1 columns per category from the ``labels`` column (';'-joined) when not already present."""
    if all(c in units.columns for c in categories):
        return units
    labs = units["labels"].fillna("").astype(str).str.split(";")
    out = units.copy()
    for c in categories:
        out[c] = labs.map(lambda xs, c=c: int(c in xs))
    return out


def category_shares(units: pd.DataFrame, categories, *, n_boot: int = 1000, seed: int = 0,
                    min_docs_for_cluster: int = 5, level: float = 0.95) -> pd.DataFrame:
    units = category_matrix(units, categories)
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    rows = []
    for city, g in units.groupby("city", sort=True):
        L = g[list(categories)].to_numpy(float)
        n = len(g)
        docs = g["doc_id"].to_numpy() if "doc_id" in g else np.arange(n)
        uniq = pd.unique(docs)
        if len(uniq) >= min_docs_for_cluster:
            # cluster bootstrap: resample documents, pool their units
            sums = np.vstack([L[docs == d].sum(axis=0) for d in uniq])
            sizes = np.array([(docs == d).sum() for d in uniq], float)
            idx = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
            boot = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)[:, None]
        else:
            idx = rng.integers(0, n, size=(n_boot, n))
            boot = L[idx].mean(axis=1)
        lo, hi = np.percentile(boot, [lo_q, hi_q], axis=0)
        for j, c in enumerate(categories):
            k = int(L[:, j].sum())
            rows.append({"city": city, "category": c, "n_units": k, "n_city_units": n, "share": k / n,
                         "ci_low": float(lo[j]), "ci_high": float(hi[j])})
    return pd.DataFrame(rows)


def distinctive(units: pd.DataFrame, categories, *, prior_strength: float = 100.0) -> pd.DataFrame:
    """Each city's over- and under-emphasised categories against all other cities.

    Counts: for city i and label w (the categories and ``none``), y_iw = units of i carrying w.
    Prior: α_w = prior_strength × (share of w among all label counts). Then
    δ_iw = log((y_iw+α_w)/(n_i+α0−y_iw−α_w)) − log((y_jw+α_w)/(n_j+α0−y_jw−α_w)) with j = all other
    cities, var ≈ 1/(y_iw+α_w) + 1/(y_jw+α_w), z = δ/√var.
    """
    units = category_matrix(units, categories)
    labels = list(categories) + [NONE]
    counts = units.groupby("city")[list(categories)].sum()
    counts[NONE] = units.assign(_n=(units[list(categories)].sum(axis=1) == 0).astype(int)).groupby("city")["_n"].sum()
    counts = counts[labels].astype(float)
    total = counts.sum(axis=0)
    alpha = prior_strength * total / total.sum()
    a0 = alpha.sum()
    rows = []
    for city, y in counts.iterrows():
        n_i = y.sum()
        other = total - y
        n_j = other.sum()
        for w in labels:
            yi, yj, a = y[w], other[w], alpha[w]
            if a == 0:  # a label no place has: nothing to compare
                rows.append({"city": city, "category": w, "count": 0, "city_total": int(n_i),
                             "log_odds": 0.0, "z": 0.0})
                continue
            d = np.log((yi + a) / (n_i + a0 - yi - a)) - np.log((yj + a) / (n_j + a0 - yj - a))
            var = 1 / (yi + a) + 1 / (yj + a)
            rows.append({"city": city, "category": w, "count": int(yi), "city_total": int(n_i),
                         "log_odds": float(d), "z": float(d / np.sqrt(var))})
    out = pd.DataFrame(rows)
    out["emphasis"] = np.select([out["z"] >= 1.96, out["z"] <= -1.96], ["over", "under"], "")
    return out


def top_examples(units: pd.DataFrame, categories, *, per: int = 3, with_text: bool = True) -> pd.DataFrame:
    """For each city and category, the ``per`` most confident units that carry the category."""
    units = category_matrix(units, categories)
    rows = []
    for c in categories:
        pos = units[units[c] == 1].sort_values([f"p_{c}", "unit_id"], ascending=[False, True], kind="stable")
        for city, g in pos.groupby("city", sort=True):
            for r in g.head(per).itertuples():
                row = {"city": city, "category": c, "unit_id": r.unit_id, "source": r.source,
                       "position": int(r.position), "p": round(float(getattr(r, f"p_{c}")), 4)}
                if with_text:
                    row["text"] = r.text
                rows.append(row)
    cols = ["city", "category", "unit_id", "source", "position", "p"] + (["text"] if with_text else [])
    return pd.DataFrame(rows, columns=cols)
