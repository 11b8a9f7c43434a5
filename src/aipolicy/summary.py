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

from .settings import SEED

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


def category_shares(units: pd.DataFrame, categories, *, n_boot: int = 1000, seed: int = SEED,
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
            _, inv = np.unique(docs, return_inverse=True)
            sums = np.zeros((len(uniq), L.shape[1]))
            np.add.at(sums, inv, L)
            sizes = np.bincount(inv, minlength=len(uniq)).astype(float)
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


def _label_counts(units: pd.DataFrame, categories) -> pd.DataFrame:
    """Per unit: its 0/1 categories and ``none`` (1 when it has no category)."""
    L = units[list(categories)].astype(float)
    L[NONE] = (L.sum(axis=1) == 0).astype(float)
    return L


def _log_odds(yi, ni, yj, nj, a, a0):
    return np.log((yi + a) / (ni + a0 - yi - a)) - np.log((yj + a) / (nj + a0 - yj - a))


def distinctive(units: pd.DataFrame, categories, *, prior_strength: float = 100.0, n_boot: int = 0,
                seed: int = 0, min_docs_for_cluster: int = 5, level: float = 0.95) -> pd.DataFrame:
    """Each city's over- and under-emphasised categories against all other cities.

    Counts: for city i and label w (the categories and ``none``), y_iw = units of i carrying w.
    Prior: α_w = prior_strength × (share of w among all label counts). Then
    δ_iw = log((y_iw+α_w)/(n_i+α0−y_iw−α_w)) − log((y_jw+α_w)/(n_j+α0−y_jw−α_w)) with j = all other
    cities, var ≈ 1/(y_iw+α_w) + 1/(y_jw+α_w), z = δ/√var. With ``n_boot`` > 0, ``ci_low``/``ci_high``
    is a bootstrap interval of δ: the city's documents (or units, under ``min_docs_for_cluster``
    documents) are resampled, the other cities' counts held fixed.
    """
    units = category_matrix(units, categories)
    labels = list(categories) + [NONE]
    L = _label_counts(units, categories)
    city = units["city"].to_numpy()
    counts = L.groupby(city).sum()[labels]
    total = counts.sum(axis=0)
    alpha = (prior_strength * total / total.sum()).to_numpy()
    a0 = alpha.sum()
    rng = np.random.default_rng(seed)
    rows_of = pd.Series(np.arange(len(units))).groupby(city).indices
    L_np, docs = L[labels].to_numpy(), units["doc_id"].to_numpy()
    rows = []
    for c, y in counts.iterrows():
        y = y.to_numpy()
        other = total.to_numpy() - y
        with np.errstate(divide="ignore", invalid="ignore"):  # a label no place has (α = 0): reported as 0 below
            d = _log_odds(y, y.sum(), other, other.sum(), alpha, a0)
            var = 1 / (y + alpha) + 1 / (other + alpha)
        lo = hi = np.full(len(labels), np.nan)
        if n_boot:
            idx = rows_of[c]
            boot = _boot_counts(L_np[idx], docs[idx], n_boot, rng, min_docs_for_cluster)
            with np.errstate(divide="ignore", invalid="ignore"):
                bd = _log_odds(boot, boot.sum(axis=1, keepdims=True), other, other.sum(), alpha, a0)
            lo, hi = np.percentile(bd, [(1 - level) / 2 * 100, (1 + level) / 2 * 100], axis=0)
        for j, w in enumerate(labels):
            empty = alpha[j] == 0  # a label no place has: nothing to compare
            rows.append({"city": c, "category": w, "count": int(y[j]), "city_total": int(y.sum()),
                         "log_odds": 0.0 if empty else float(d[j]),
                         "z": 0.0 if empty else float(d[j] / np.sqrt(var[j])),
                         "ci_low": 0.0 if empty else float(lo[j]), "ci_high": 0.0 if empty else float(hi[j])})
    out = pd.DataFrame(rows)
    if not n_boot:
        out = out.drop(columns=["ci_low", "ci_high"])
    out["emphasis"] = np.select([out["z"] >= 1.96, out["z"] <= -1.96], ["over", "under"], "")
    return out


def _boot_counts(L: np.ndarray, docs: np.ndarray, n_boot: int, rng, min_docs: int) -> np.ndarray:
    """Bootstrap label counts (n_boot × labels): resample documents, or units when too few documents."""
    uniq, inv = np.unique(docs, return_inverse=True)
    if len(uniq) >= min_docs:
        sums = np.zeros((len(uniq), L.shape[1]))
        np.add.at(sums, inv, L)
        idx = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
        return sums[idx].sum(axis=1)
    idx = rng.integers(0, len(L), size=(n_boot, len(L)))
    return L[idx].sum(axis=1)


def distinctive_terms(tokens: list[list[str]], city: np.ndarray, *, top: int = 8, min_count: int = 3,
                      prior_strength: float = 500.0) -> pd.DataFrame:
    """Per city, the terms it uses more than the other cities: the same weighted log-odds with an
    informative Dirichlet prior (Monroe et al. 2008) over term counts; ``top`` terms with z ≥ 1.96."""
    from collections import Counter

    per_city: dict[str, Counter] = {}
    for toks, c in zip(tokens, city):
        per_city.setdefault(str(c), Counter()).update(toks)
    total = Counter()
    for cnt in per_city.values():
        total.update(cnt)
    vocab = sorted(w for w, n in total.items() if n >= min_count)
    if not vocab:
        return pd.DataFrame(columns=["city", "rank", "term", "count", "z"])
    tot = np.array([total[w] for w in vocab], float)
    alpha = prior_strength * tot / tot.sum()
    a0 = alpha.sum()
    rows = []
    for c in sorted(per_city):
        y = np.array([per_city[c].get(w, 0) for w in vocab], float)
        other = tot - y
        d = _log_odds(y, y.sum(), other, other.sum(), alpha, a0)
        z = d / np.sqrt(1 / (y + alpha) + 1 / (other + alpha))
        order = np.lexsort((np.arange(len(vocab)), -z))
        picked = [i for i in order[:top] if z[i] >= 1.96 and y[i] >= min_count]
        for r, i in enumerate(picked):
            rows.append({"city": c, "rank": r + 1, "term": vocab[i], "count": int(y[i]), "z": round(float(z[i]), 2)})
    return pd.DataFrame(rows, columns=["city", "rank", "term", "count", "z"])


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


def _ranked_positives(units: pd.DataFrame, categories) -> dict:
    """(city, category) → row positions of the units carrying the category, most confident first
    (ties by unit id): one sort per category instead of one per city."""
    city = units["city"].astype(str).to_numpy()
    uid = units["unit_id"].astype(str).to_numpy()
    out: dict = {}
    for c in categories:
        idx = np.flatnonzero(units[c].to_numpy() == 1)
        p = units[f"p_{c}"].to_numpy(float)[idx]
        idx = idx[np.lexsort((uid[idx], -p, city[idx]))]
        cs = city[idx]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]]) if len(cs) else np.array([], int)
        for s0, s1 in zip(starts, np.r_[starts[1:], len(cs)]):
            out[(cs[s0], c)] = idx[s0:s1]
    return out


def city_examples(units: pd.DataFrame, categories, *, per_category: int = 2, max_categories: int = 3,
                  with_text=True) -> pd.DataFrame:
    """Example measures per city: for each of its ``max_categories`` most frequent categories, the
    ``per_category`` most confident units carrying it that were not already shown (each unit once),
    with their evidence terms. ``with_text`` is a bool or a boolean Series (per unit) saying whether
    its text may be quoted."""
    units = category_matrix(units, categories).reset_index(drop=True)
    quote = np.asarray(with_text, bool) if isinstance(with_text, pd.Series) else np.full(len(units), bool(with_text))
    ranked = _ranked_positives(units, categories)
    counts = units.groupby("city")[list(categories)].sum()
    picked = []
    for city, n in counts.iterrows():
        order = sorted([c for c in categories if n[c] > 0], key=lambda c: (-n[c], c))[:max_categories]
        seen: set = set()
        for c in order:
            take = [i for i in ranked.get((city, c), []) if i not in seen][:per_category]
            seen.update(take)
            picked.extend((city, c, i) for i in take)
    return _example_table(units, picked, quote)


EXAMPLE_COLUMNS = ["city", "category", "unit_id", "source", "position", "p", "labels", "evidence", "text"]


def _example_table(units: pd.DataFrame, picked: list, quote: np.ndarray) -> pd.DataFrame:
    """The picked (city, category, row) examples as a table; text only where ``quote`` allows."""
    if not picked:
        return pd.DataFrame(columns=EXAMPLE_COLUMNS)
    rows = np.array([i for _, _, i in picked])
    sub = units.iloc[rows]
    cats = [c for _, c, _ in picked]
    return pd.DataFrame({"city": [x[0] for x in picked], "category": cats,
                         "unit_id": sub["unit_id"].to_numpy(), "source": sub["source"].to_numpy(),
                         "position": sub["position"].astype(int).to_numpy(),
                         "p": np.round([float(units.at[i, f"p_{c}"]) for _, c, i in picked], 4),
                         "labels": sub["labels"].to_numpy() if "labels" in sub else cats,
                         "evidence": sub["evidence"].to_numpy() if "evidence" in sub else "",
                         "text": np.where(quote[rows], sub["text"].to_numpy(), "")}, columns=EXAMPLE_COLUMNS)


def year_shares(units: pd.DataFrame, categories, group: pd.Series | None = None) -> pd.DataFrame:
    """Category shares by document year (units need a ``year`` column; units without a year are
    left out), over all units and, when ``group`` is given (aligned with ``units``), per group."""
    units = category_matrix(units, categories)
    y = pd.to_numeric(units.get("year"), errors="coerce")
    ok = y.notna()
    if not ok.any():
        return pd.DataFrame(columns=["group", "year", "category", "n_units", "n_year_units", "n_documents", "share"])
    u = units[ok].assign(year=y[ok].astype(int))
    frames = [u.assign(_g="(all)")]
    if group is not None:
        frames.append(u.assign(_g=group[ok].astype(str).to_numpy()))
    rows = []
    for (g, yr), d in pd.concat(frames).groupby(["_g", "year"], sort=True):
        for c in categories:
            k = int(d[c].sum())
            rows.append({"group": g, "year": int(yr), "category": c, "n_units": k, "n_year_units": len(d),
                         "n_documents": int(d["doc_id"].nunique()), "share": round(k / len(d), 4)})
    return pd.DataFrame(rows)
