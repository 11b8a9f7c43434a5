"""Stage 5 — topics: LDA over the AI-relevant units, the number of topics chosen by coherence.

Which units: by default those the classifier gives at least one category (``select_topic_units``),
so that topics describe what places push in AI policy rather than the generic themes of a work
report; the caller may pass any subset. Units are fitted per document type (``topic_groups``: a
type with enough units gets its own model, the others are pooled), because a regulation, an action
plan and a news article use different words for the same thing.

Model: tomotopy's collapsed Gibbs sampler (C++), one model per K with a fixed seed and one worker.
Measured on this project's corpora (``bench/report_speed.py`` and the notes in the README) it is
about 10× faster than gensim's variational ``LdaModel`` at 5 passes, at equal or better coherence.

K: every K of a range is scored with NPMI coherence (Bouma 2009; the mean over the pairs of each
topic's 10 top terms, averaged over topics) computed from one shared unit × term co-occurrence
matrix: a unit (paragraph) is the co-occurrence window, which for units of ≤ 500 characters is what
gensim's ``c_npmi`` gives with a window that covers the unit (tested). When the best K sits at the
upper (lower) edge of the range the range is widened by one step at a time, up to ``k_max``.

Topic terms are ranked by relevance (Sievert & Shirley 2014, λ = 0.6), each topic is named by its
three most relevant terms, leans to the category its units carry most often relative to all units,
and each place gets the mean topic share of its units. Functions return tidy DataFrames; only
``save_topics`` writes files.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AipolicyError
from .settings import SEED
from .tokens import content_tokens

POOLED = "其他类型"


@dataclass
class GroupFit:
    """One LDA model for one group of units (a document type, or several pooled)."""
    group: str
    k: int
    model: object                 # tomotopy.LDAModel
    vocab: list[str]
    phi: np.ndarray               # topics × vocabulary, rows sum to 1
    theta: np.ndarray             # units of the group × topics
    curve: pd.DataFrame           # k, coherence
    term_freq: np.ndarray         # corpus frequency of each vocabulary term


@dataclass
class TopicResult:
    k: int                        # total number of topics (over all groups)
    coherence: pd.DataFrame       # group, k, coherence, chosen
    terms: pd.DataFrame           # topic, rank, term, relevance, p_term_topic
    topics: pd.DataFrame          # topic, group, name, top_terms, share, n_units, leans_to, lift
    doc_topics: np.ndarray        # fitted units × all topics (0 outside the unit's group)
    city_topics: pd.DataFrame     # city, topic, name, share, n_units
    measure: str
    unit_ids: list = field(default_factory=list)   # the fitted units, in the order of doc_topics
    fits: list = field(default_factory=list)       # GroupFit per group
    selection: str = "labelled"   # which units were fitted (for the report's wording)


# --------------------------------------------------------------------------- units and groups

def select_topic_units(units: pd.DataFrame, categories, how: str = "labelled") -> pd.DataFrame:
    """The units topics are fitted on: ``labelled`` (at least one category), ``all``, or one
    category name (the units carrying it)."""
    cats = [c for c in categories if c in units.columns]
    if how == "all" or not cats:
        return units
    if how == "labelled":
        return units[units[cats].sum(axis=1) > 0]
    if how in cats:
        return units[units[how] == 1]
    raise AipolicyError(f"topic units must be 'labelled', 'all' or a category ({', '.join(cats)}), got {how!r}")


def topic_groups(types: pd.Series, min_units: int = 400) -> pd.Series:
    """Group label per unit: its document type when that type has at least ``min_units`` units,
    else the pooled group. Missing types count as one type '(unknown)'."""
    t = types.fillna("").astype(str).replace("", "(unknown)")
    n = t.value_counts()
    big = set(n[n >= min_units].index)
    out = t.where(t.isin(big), POOLED)
    if out.nunique() == 1:
        return pd.Series("all", index=types.index)
    return out


# --------------------------------------------------------------------------- tokens

def tokenize_units(texts) -> list[list[str]]:
    """Content tokens without place names: a work report names its own city in every other
    paragraph, and topics should say what places push, not which place wrote them."""
    from .cities import Gazetteer

    from .textnorm import normalise_all

    places = Gazetteer.default().any_form.keys()
    return [[w for w in content_tokens(t) if w not in places] for t in normalise_all(texts)]


def build_vocab(tokens, *, no_below: int = 5, no_above: float = 0.5, keep_n: int = 20000) -> list[str]:
    """Terms in at least ``no_below`` units and at most ``no_above`` of them (sorted, deterministic)."""
    df = Counter(w for t in tokens for w in set(t))
    n = max(len(tokens), 1)
    kept = [(w, c) for w, c in df.items() if c >= no_below and c / n <= no_above]
    kept.sort(key=lambda x: (-x[1], x[0]))
    return sorted(w for w, _ in kept[:keep_n])


def incidence(ids: list[list[int]], n_terms: int):
    """Boolean unit × term matrix (scipy CSC) of term presence."""
    import scipy.sparse as sp

    rows = np.repeat(np.arange(len(ids)), [len(x) for x in ids])
    cols = np.fromiter((i for x in ids for i in x), dtype=np.int64, count=len(rows))
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), n_terms))
    m.data[:] = 1.0  # duplicates summed: back to presence
    return m.tocsc()


# --------------------------------------------------------------------------- coherence

def coherence_scores(topic_sets: list[list[list[int]]], presence, measure: str = "c_npmi") -> list[float]:
    """Mean coherence of each set of topics (lists of term ids, best first) from one shared
    co-occurrence computation over the union of their terms."""
    union = sorted({i for ts in topic_sets for t in ts for i in t})
    if not union:
        return [float("nan")] * len(topic_sets)
    pos = {w: j for j, w in enumerate(union)}
    sub = presence[:, union]
    n_units = presence.shape[0]
    co = (sub.T @ sub).toarray()
    out = []
    for ts in topic_sets:
        out.append(float(np.mean([_topic_coherence([pos[i] for i in t], co, n_units, measure) for t in ts])))
    return out


def _topic_coherence(idx: list[int], co: np.ndarray, n: int, measure: str) -> float:
    vals = []
    for a in range(1, len(idx)):
        for b in range(a):
            i, j = idx[a], idx[b]
            if measure == "u_mass":  # Mimno et al. 2011: later term given the earlier one
                vals.append(np.log((co[i, j] + 1) / max(co[j, j], 1)))
                continue
            pij = co[i, j] / n
            if pij == 0:
                vals.append(-1.0)
            elif pij == 1:
                vals.append(1.0)
            else:
                vals.append(np.log(pij / ((co[i, i] / n) * (co[j, j] / n))) / -np.log(pij))
    return float(np.mean(vals)) if vals else float("nan")


# --------------------------------------------------------------------------- LDA

def _train_lda(docs: list[list[str]], k: int, *, seed: int, iterations: int):
    import tomotopy as tp

    m = tp.LDAModel(k=k, alpha=0.1, eta=0.01, seed=seed)
    for d in docs:
        m.add_doc(d)
    m.burn_in = 0
    m.train(iterations, workers=1, parallel=tp.ParallelScheme.NONE, show_progress=False)
    return m


def _top_ids(m, vocab_index: dict, topn: int = 10) -> list[list[int]]:
    return [[vocab_index[w] for w, _ in m.get_topic_words(t, top_n=topn)] for t in range(m.k)]


def _k_grid(ks) -> tuple[list[int], int]:
    ks = sorted(set(int(k) for k in ks))
    step = min((b - a for a, b in zip(ks, ks[1:])), default=2)
    return ks, max(step, 1)


def choose_k(docs, presence, vocab_index, ks, *, seed: int, iterations: int, measure: str = "c_npmi",
             k_max: int = 40, progress: bool = False):
    """Train one model per K, score all with one shared coherence computation, and widen the range
    by one step while the best K sits at an edge (not past 2 or ``k_max``). Returns (model, K, curve)."""
    from tqdm.auto import tqdm

    ks, step = _k_grid(ks)
    models: dict[int, object] = {}
    scores: dict[int, float] = {}
    todo = list(ks)
    bar = tqdm(desc="topics (K by coherence)", unit="K", disable=not progress)
    while todo:
        for k in todo:
            models[k] = _train_lda(docs, k, seed=seed, iterations=iterations)
            bar.update(1)
        for k, s in zip(todo, coherence_scores([_top_ids(models[k], vocab_index) for k in todo], presence,
                                                measure)):
            scores[k] = s
        tried = sorted(scores)
        best = max(tried, key=lambda k: (scores[k], -k))
        todo = []
        if best == tried[-1] and best + step <= k_max:
            todo.append(best + step)
        if best == tried[0] and best - step >= 2:
            todo.append(best - step)
    bar.close()
    curve = pd.DataFrame({"k": sorted(scores), "coherence": [scores[k] for k in sorted(scores)]})
    return models[best], best, curve


def relevance_terms(phi: np.ndarray, term_freq: np.ndarray, vocab: list[str], *, lam: float = 0.6,
                    topn: int = 10, offset: int = 0) -> pd.DataFrame:
    """Top terms per topic by relevance = λ·log p(w|t) + (1−λ)·log(p(w|t)/p(w))."""
    pw = term_freq / max(term_freq.sum(), 1)
    rel = lam * np.log(phi + 1e-12) + (1 - lam) * np.log((phi + 1e-12) / (pw + 1e-12))
    rows = []
    for t in range(phi.shape[0]):
        order = np.lexsort((np.arange(phi.shape[1]), -rel[t]))[:topn]  # stable: ties by term id
        for r, i in enumerate(order):
            rows.append({"topic": t + offset, "rank": r + 1, "term": vocab[int(i)],
                         "relevance": round(float(rel[t, i]), 4), "p_term_topic": round(float(phi[t, i]), 5)})
    return pd.DataFrame(rows)


def topic_categories(theta: np.ndarray, labels: pd.DataFrame | None, categories,
                     min_weight: float = 10.0) -> pd.DataFrame:
    """Per topic: the category its units carry most often relative to all units (lift), among the
    categories with at least ``min_weight`` topic-weighted units (a rare category's lift is noise)."""
    rows = []
    for t in range(theta.shape[1]):
        row = {"topic": t, "share": round(float(theta[:, t].mean()), 4) if len(theta) else 0.0, "leans_to": "",
               "lift": np.nan}
        if labels is not None and len(categories) and len(theta):
            w = theta[:, t]
            L = labels[list(categories)].to_numpy(float)
            base = L.mean(axis=0)
            mass = w @ L
            weighted = mass / max(w.sum(), 1e-12)
            lift = np.divide(weighted, base, out=np.zeros_like(base), where=base > 0)
            lift[mass < min_weight] = 0.0
            j = int(np.argmax(lift))
            row.update(leans_to=str(list(categories)[j]) if lift[j] > 1.0 else "none", lift=round(float(lift[j]), 3))
        rows.append(row)
    return pd.DataFrame(rows)


def _distributions(model, vocab: list[str], index: dict, ids: list[list[int]], keep: list[int]):
    """(phi, theta) in our vocabulary order and for every unit of the group (tomotopy keeps its own
    vocabulary order and only the units with at least one kept term)."""
    k = model.k
    order = np.array([index[w] for w in model.used_vocabs])
    phi = np.zeros((k, len(vocab)))
    for t in range(k):
        phi[t, order] = model.get_topic_word_dist(t)
    theta = np.full((len(ids), k), 1.0 / k)  # a unit with no kept term: no information
    for doc, j in zip(model.docs, keep):
        theta[j] = doc.get_topic_dist()
    return phi, theta


def fit_group(tokens: list[list[str]], group: str, ks, *, seed: int, iterations: int, measure: str,
              no_below: int, no_above: float, k_max: int, progress: bool) -> GroupFit | None:
    """One group's model, or None when too little text remains after filtering."""
    vocab = build_vocab(tokens, no_below=no_below, no_above=no_above)
    if len(vocab) < 10:
        return None
    index = {w: i for i, w in enumerate(vocab)}
    ids = [[index[w] for w in t if w in index] for t in tokens]
    keep = [i for i, x in enumerate(ids) if x]
    docs = [[vocab[i] for i in ids[j]] for j in keep]
    presence = incidence(ids, len(vocab))
    k_cap = max(2, min(k_max, len(keep) // 5))
    ks = [k for k in ks if k <= k_cap] or [min(min(ks), k_cap)]
    model, k, curve = choose_k(docs, presence, index, ks, seed=seed, iterations=iterations, measure=measure,
                               k_max=k_cap, progress=progress)
    phi, theta = _distributions(model, vocab, index, ids, keep)
    freq = np.bincount(np.fromiter((i for x in ids for i in x), dtype=np.int64), minlength=len(vocab))
    return GroupFit(group, k, model, vocab, phi, theta, curve, freq)


def _check_fits(fits, groups) -> None:
    if not any(f is not None for f in fits):
        raise AipolicyError(f"too little text for topics in {', '.join(groups)}: fewer than 10 terms remain "
                            "after filtering (terms must occur in enough units)")


def fit_topics(units: pd.DataFrame, *, ks=range(4, 13, 2), seed: int = SEED, iterations: int = 200,
               measure: str = "c_npmi", no_below: int = 5, no_above: float = 0.5, categories=None,
               groups: pd.Series | None = None, k_max: int = 40, selection: str = "given",
               progress: bool = False) -> TopicResult:
    """LDA topics of ``units`` (needs ``unit_id``, ``text`` and ``city``; category 0/1 columns if given),
    one model per group of ``groups`` (a Series aligned with ``units``; default: one group)."""
    units = units.reset_index(drop=True)
    if groups is None:
        groups = pd.Series("all", index=units.index)
    groups = pd.Series(np.asarray(groups), index=units.index).astype(str)
    tokens = tokenize_units(units["text"].tolist())
    names = sorted(groups.unique(), key=lambda g: (g == POOLED, -int((groups == g).sum()), g))
    fits = []
    for g in names:
        idx = np.flatnonzero((groups == g).to_numpy())
        fits.append(fit_group([tokens[i] for i in idx], g, ks, seed=seed, iterations=iterations,
                              measure=measure, no_below=no_below, no_above=no_above, k_max=k_max,
                              progress=progress))
    _check_fits(fits, names)
    return _assemble(units, groups, names, fits, categories, measure, selection)


def _group_tables(units, groups, g, f, offset, labels, cats):
    """Relevance terms and the topic table of one group, topic ids shifted by ``offset``."""
    idx = np.flatnonzero((groups == g).to_numpy())
    terms = relevance_terms(f.phi, f.term_freq, f.vocab, offset=offset)
    tab = topic_categories(f.theta, labels.iloc[idx] if labels is not None else None, cats)
    tab["topic"] += offset
    tab.insert(1, "group", g)
    tab.insert(4, "n_units", len(idx))
    return idx, terms, tab


def _assemble(units, groups, names, fits, categories, measure, selection) -> TopicResult:
    total = sum(f.k for f in fits if f is not None)
    theta = np.zeros((len(units), total))
    cats = list(categories or [])
    labels = units[cats] if cats and all(c in units for c in cats) else None
    terms, tables, curves, offset = [], [], [], 0
    for g, f in zip(names, fits):
        if f is None:
            continue
        idx, t, tab = _group_tables(units, groups, g, f, offset, labels, cats)
        theta[np.ix_(idx, np.arange(offset, offset + f.k))] = f.theta
        terms.append(t)
        tables.append(tab)
        curves.append(f.curve.assign(group=g, chosen=f.curve["k"] == f.k))
        offset += f.k
    terms = pd.concat(terms, ignore_index=True)
    topics = pd.concat(tables, ignore_index=True)
    top3 = terms[terms["rank"] <= 3].groupby("topic")["term"].agg("·".join)
    top10 = terms.groupby("topic")["term"].agg(" ".join)
    topics.insert(2, "name", [f"T{t}: {top3[t]}" for t in topics["topic"]])
    topics.insert(3, "top_terms", [top10[t] for t in topics["topic"]])
    curve = pd.concat(curves, ignore_index=True)[["group", "k", "coherence", "chosen"]]
    return TopicResult(k=total, coherence=curve, terms=terms, topics=topics, doc_topics=theta,
                       city_topics=city_topic_shares(units, theta, topics), measure=measure,
                       unit_ids=units["unit_id"].tolist() if "unit_id" in units else [],
                       fits=[f for f in fits if f is not None], selection=selection)


def city_topic_shares(units: pd.DataFrame, theta: np.ndarray, topics: pd.DataFrame) -> pd.DataFrame:
    """Mean topic share of each place's fitted units (over all topics of all groups)."""
    city = units["city"].fillna("unknown").astype(str).to_numpy()
    names = topics.set_index("topic")["name"]
    frames = []
    for c in sorted(set(city)):
        mask = city == c
        share = theta[mask].mean(axis=0)
        frames.append(pd.DataFrame({"city": c, "topic": np.arange(theta.shape[1]), "share": share.round(4),
                                    "n_units": int(mask.sum())}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["city", "topic", "share", "n_units"])
    out.insert(2, "name", out["topic"].map(names))
    return out


# --------------------------------------------------------------------------- output

def write_ldavis(res: TopicResult, path: str | Path) -> Path:
    """The interactive pyLDAvis page of the first (largest) group (optional extra:
    ``pip install 'aipolicy[ldavis]'``). The page loads pyLDAvis's JavaScript and D3 from their CDNs,
    so viewing it needs a network connection."""
    try:
        import pyLDAvis
    except ImportError:
        raise AipolicyError("--ldavis needs pyLDAvis: pip install 'aipolicy[ldavis]'") from None
    f = res.fits[0]
    lengths = np.array([len(d.words) for d in f.model.docs])
    theta = np.vstack([d.get_topic_dist() for d in f.model.docs])
    vis = pyLDAvis.prepare(f.phi, theta, lengths, f.vocab, np.maximum(f.term_freq, 1), sort_topics=False)
    path = Path(path)
    pyLDAvis.save_html(vis, str(path))
    return path


def save_topics(res: TopicResult, out: str | Path, *, units: pd.DataFrame | None = None) -> Path:
    """Write each group's tomotopy model (``lda/GROUP.bin``) and the tables."""
    from .tables import write_table

    out = Path(out)
    (out / "lda").mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(res.fits):
        f.model.save(str(out / "lda" / f"group{i}.bin"))
    write_table(res.coherence.assign(measure=res.measure), out / "coherence.csv")
    write_table(res.terms.merge(res.topics[["topic", "group", "name", "leans_to"]], on="topic"),
                out / "topic_terms.csv")
    write_table(res.topics, out / "topics.csv")
    write_table(res.city_topics, out / "city_topics.csv")
    if units is not None:
        dt = pd.DataFrame(res.doc_topics.round(4), columns=[f"topic_{t}" for t in range(res.k)])
        fitted = units.set_index("unit_id").loc[res.unit_ids, ["city"]].reset_index()
        write_table(pd.concat([fitted, dt], axis=1), out / "unit_topics.csv")
    return out
