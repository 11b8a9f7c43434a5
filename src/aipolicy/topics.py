"""Stage 5 — topics: gensim LDA over the units, the number of topics chosen by coherence.

Tokens are rjieba words without the stopwords of ``data/stopwords.txt`` (policy boilerplate such as
坚持, 推进, 加快 included). For each K in a range an LdaModel is trained with a fixed seed and scored
with gensim's CoherenceModel (c_npmi by default); the K with the best coherence wins and the whole
curve is kept. Topic terms are ranked by relevance (Sievert & Shirley 2014, λ = 0.6), each topic is
named by its three most relevant terms, leans to the category its units carry most often relative
to all units (from the classifier's labels), and each city gets the mean topic share of its units.
Functions return tidy DataFrames; only ``save_topics`` writes files.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .tokens import content_tokens

logging.getLogger("gensim").setLevel(logging.WARNING)


@dataclass
class TopicResult:
    model: object                 # gensim LdaModel
    dictionary: object            # gensim Dictionary
    k: int
    coherence: pd.DataFrame       # k, coherence
    terms: pd.DataFrame           # topic, rank, term, relevance, p_term_topic
    topics: pd.DataFrame          # topic, name, top_terms, share, leans_to, lift
    doc_topics: np.ndarray        # units × topics
    city_topics: pd.DataFrame     # city, topic, name, share, n_units
    measure: str
    corpus: list = None           # bag-of-words of every unit (for pyLDAvis)


def tokenize_units(texts) -> list[list[str]]:
    """Content tokens without place names: a work report names its own city in every other
    paragraph, and topics should say what places push, not which place wrote them."""
    from .cities import Gazetteer

    from .textnorm import normalise_all

    places = Gazetteer.default().any_form.keys()
    return [[w for w in content_tokens(t) if w not in places] for t in normalise_all(texts)]


def _lda(corpus, dictionary, k: int, *, seed: int, passes: int, iterations: int):
    from gensim.models import LdaModel

    return LdaModel(corpus=corpus, id2word=dictionary, num_topics=k, random_state=seed, passes=passes,
                    iterations=iterations, alpha="symmetric", eta=None, chunksize=2000,
                    eval_every=None, update_every=1)


def choose_k(tokens, corpus, dictionary, ks, *, seed: int, passes: int, iterations: int,
             measure: str = "c_npmi", progress: bool = False):
    """Train one model per K; return (best model, best K, coherence curve DataFrame)."""
    from gensim.models import CoherenceModel
    from tqdm.auto import tqdm

    rows, models = [], {}
    for k in tqdm(list(ks), desc="topics (K by coherence)", unit="K", disable=not progress):
        m = _lda(corpus, dictionary, k, seed=seed, passes=passes, iterations=iterations)
        cm = CoherenceModel(model=m, texts=tokens, dictionary=dictionary, coherence=measure, topn=10,
                            processes=1)
        rows.append({"k": k, "coherence": float(cm.get_coherence())})
        models[k] = m
    curve = pd.DataFrame(rows)
    best = int(curve.sort_values(["coherence", "k"], ascending=[False, True]).iloc[0]["k"])
    return models[best], best, curve


def relevance_terms(model, dictionary, corpus, *, lam: float = 0.6, topn: int = 10) -> pd.DataFrame:
    """Top terms per topic by relevance = λ·log p(w|t) + (1−λ)·log(p(w|t)/p(w))."""
    phi = model.get_topics()  # topics × vocabulary, rows sum to 1
    freq = np.zeros(phi.shape[1])
    for doc in corpus:
        for i, c in doc:
            freq[i] += c
    pw = freq / freq.sum()
    rel = lam * np.log(phi + 1e-12) + (1 - lam) * np.log((phi + 1e-12) / (pw + 1e-12))
    rows = []
    for t in range(phi.shape[0]):
        order = np.lexsort((np.arange(phi.shape[1]), -rel[t]))[:topn]  # stable: ties by term id
        for r, i in enumerate(order):
            rows.append({"topic": t, "rank": r + 1, "term": dictionary[int(i)],
                         "relevance": round(float(rel[t, i]), 4), "p_term_topic": round(float(phi[t, i]), 5)})
    return pd.DataFrame(rows)


def doc_topic_matrix(model, corpus) -> np.ndarray:
    k = model.num_topics
    out = np.zeros((len(corpus), k))
    for d, bow in enumerate(corpus):
        for t, p in model.get_document_topics(bow, minimum_probability=0.0):
            out[d, t] = p
    return out


def topic_categories(theta: np.ndarray, labels: pd.DataFrame | None, categories,
                     min_weight: float = 10.0) -> pd.DataFrame:
    """Per topic: the category its units carry most often relative to all units (lift), among the
    categories with at least ``min_weight`` topic-weighted units (a rare category's lift is noise)."""
    rows = []
    for t in range(theta.shape[1]):
        row = {"topic": t, "share": float(theta[:, t].mean()), "leans_to": "", "lift": np.nan}
        if labels is not None and len(categories):
            w = theta[:, t]
            L = labels[list(categories)].to_numpy(float)
            base = L.mean(axis=0)
            mass = w @ L
            weighted = mass / max(w.sum(), 1e-12)
            lift = np.divide(weighted, base, out=np.zeros_like(base), where=base > 0)
            lift[mass < min_weight] = 0.0
            j = int(np.argmax(lift))
            if lift[j] > 1.0:
                row.update(leans_to=str(list(categories)[j]), lift=round(float(lift[j]), 3))
            else:
                row.update(leans_to="none", lift=round(float(lift[j]), 3))
        rows.append(row)
    return pd.DataFrame(rows)


def fit_topics(units: pd.DataFrame, *, ks=range(4, 13, 2), seed: int = 20241122, passes: int = 10,
               iterations: int = 100, measure: str = "c_npmi", no_below: int = 5, no_above: float = 0.5,
               categories=None, progress: bool = False) -> TopicResult:
    """LDA topics of ``units`` (needs ``text`` and ``city``; category 0/1 columns if given)."""
    from gensim.corpora import Dictionary

    tokens = tokenize_units(units["text"].tolist())
    dictionary = Dictionary(tokens)
    dictionary.filter_extremes(no_below=no_below, no_above=no_above, keep_n=20000)
    dictionary.compactify()
    if len(dictionary) < 10:
        from .errors import AipolicyError

        raise AipolicyError(f"too little text for topics: {len(dictionary)} terms remain after filtering "
                            f"(terms must occur in ≥ {no_below} units)")
    corpus = [dictionary.doc2bow(t) for t in tokens]
    model, k, curve = choose_k(tokens, corpus, dictionary, ks, seed=seed, passes=passes,
                               iterations=iterations, measure=measure, progress=progress)
    terms = relevance_terms(model, dictionary, corpus)
    theta = doc_topic_matrix(model, corpus)
    cats = list(categories or [])
    labels = units[cats] if cats and all(c in units for c in cats) else None
    topics = topic_categories(theta, labels, cats)
    top = terms[terms["rank"] <= 3].groupby("topic")["term"].agg("·".join)
    top10 = terms.groupby("topic")["term"].agg(" ".join)
    topics.insert(1, "name", [f"T{t}: {top[t]}" for t in topics["topic"]])
    topics.insert(2, "top_terms", [top10[t] for t in topics["topic"]])
    city = units["city"].to_numpy()
    rows = []
    for c in sorted(set(city)):
        mask = city == c
        share = theta[mask].mean(axis=0)
        for t in range(k):
            rows.append({"city": c, "topic": t, "name": topics.loc[t, "name"], "share": round(float(share[t]), 4),
                         "n_units": int(mask.sum())})
    return TopicResult(model, dictionary, k, curve, terms, topics, theta, pd.DataFrame(rows), measure, corpus)


def write_ldavis(res: TopicResult, path: str | Path) -> Path:
    """The interactive pyLDAvis page (optional extra: ``pip install 'aipolicy[ldavis]'``). The page
    loads pyLDAvis's JavaScript and D3 from their CDNs, so viewing it needs a network connection."""
    try:
        import pyLDAvis
    except ImportError:
        from .errors import AipolicyError

        raise AipolicyError("--ldavis needs pyLDAvis: pip install 'aipolicy[ldavis]'") from None
    lengths = np.array([sum(c for _, c in bow) for bow in res.corpus])
    keep = lengths > 0  # units with no remaining term carry no information for the page
    freq = np.zeros(len(res.dictionary))
    for bow in res.corpus:
        for i, c in bow:
            freq[i] += c
    vis = pyLDAvis.prepare(res.model.get_topics(), res.doc_topics[keep], lengths[keep],
                           [res.dictionary[i] for i in range(len(res.dictionary))], freq, sort_topics=False)
    path = Path(path)
    pyLDAvis.save_html(vis, str(path))
    return path


def save_topics(res: TopicResult, out: str | Path, *, units: pd.DataFrame | None = None) -> Path:
    """Write the gensim model (its files kept together in ``lda/``) and the tables."""
    from .tables import write_table

    out = Path(out)
    (out / "lda").mkdir(parents=True, exist_ok=True)
    res.model.save(str(out / "lda" / "lda.model"))
    res.dictionary.save(str(out / "lda" / "dictionary.dict"))
    write_table(res.coherence.assign(measure=res.measure, chosen=lambda d: d["k"] == res.k),
                out / "coherence.csv")
    write_table(res.terms.merge(res.topics[["topic", "name", "leans_to"]], on="topic"), out / "topic_terms.csv")
    write_table(res.topics, out / "topics.csv")
    write_table(res.city_topics, out / "city_topics.csv")
    if units is not None:
        dt = pd.DataFrame(res.doc_topics.round(4), columns=[f"topic_{t}" for t in range(res.k)])
        write_table(pd.concat([units[["unit_id", "city"]].reset_index(drop=True), dt], axis=1),
                    out / "unit_topics.csv")
    return out
