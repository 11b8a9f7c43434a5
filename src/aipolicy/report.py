"""Stage 6 — report: per-city category shares, emphasis, topics, time and examples.

``build_report`` computes everything as tidy tables (no files); ``write_report`` writes
``report.html`` (self-contained: inline SVG charts, an embedded font subset, a small script for
sorting, grouping and filtering, no network requests), ``report.md`` (charts as SVG files in
``figures/``) and ``tables/*.csv``. The folder is assembled beside the output and put in place in one
rename, so a failed run leaves nothing behind and a re-run leaves no stale file.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .config import zh_names
from .errors import AipolicyError
from .settings import SEED
from .summary import category_matrix, category_shares, city_examples, distinctive, distinctive_terms, year_shares
from .tables import atomic_path, write_table

DOC_COLUMNS = ["doc_id", "file", "title", "issuer", "date", "year", "doc_number", "doc_type", "place",
               "near_duplicate_of"]


@dataclass
class Report:
    units: pd.DataFrame
    categories: list[str]
    shares: pd.DataFrame
    overall: pd.DataFrame
    distinct: pd.DataFrame
    examples: pd.DataFrame
    topics: object | None
    header: dict
    min_units: int
    with_text: bool
    groups: pd.DataFrame = None          # city, province, tier, level
    terms: pd.DataFrame = None           # distinctive terms per city
    documents: pd.DataFrame | None = None
    years: pd.DataFrame | None = None    # category shares by year, all and per tier
    quote: object = True                 # bool or per-unit bool Series: may the unit's text be shown
    zh: dict = field(default_factory=zh_names)  # Chinese names, from the package's categories

    @property
    def main_cities(self) -> list[str]:
        n = self.units.groupby("city").size()
        big = n[n >= self.min_units]
        return big.sort_values(ascending=False, kind="stable").index.tolist()

    @property
    def small_cities(self) -> pd.DataFrame:
        n = self.units.groupby("city").size()
        return n[n < self.min_units].sort_values(ascending=False, kind="stable").rename("units").reset_index()


def data_hash(units: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for uid, text in zip(units["unit_id"], units["text"]):
        h.update(f"{uid}\x1f{text}\n".encode("utf-8"))
    return h.hexdigest()


def report_date() -> str:
    """Today (UTC), or the date of $SOURCE_DATE_EPOCH for reproducible outputs."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return t.strftime("%Y-%m-%d")


def usable_documents(documents: pd.DataFrame | None, units: pd.DataFrame) -> pd.DataFrame | None:
    """The documents table restricted to the units' documents, every contract column present
    (missing ones empty); None when there is no table or it has no doc_id."""
    if documents is None or "doc_id" not in documents.columns or not len(documents):
        return None
    d = documents.copy()
    for c in DOC_COLUMNS:
        if c not in d.columns:
            d[c] = ""
    d = d[DOC_COLUMNS].drop_duplicates("doc_id")
    d = d[d["doc_id"].isin(set(units["doc_id"]))]
    d["year"] = pd.to_numeric(d["year"], errors="coerce")
    missing = d["year"].isna() & d["date"].astype(str).str.match(r"^\d{4}")
    d.loc[missing, "year"] = pd.to_numeric(d.loc[missing, "date"].astype(str).str[:4], errors="coerce")
    d["year"] = d["year"].astype("Int64")
    return d.fillna({c: "" for c in DOC_COLUMNS if c != "year"}).reset_index(drop=True)


def _check_columns(units: pd.DataFrame, cats) -> None:
    missing = [c for c in ["unit_id", "doc_id", "source", "position", "city", "text", *[f"p_{c}" for c in cats]]
               if c not in units.columns]
    if missing:
        raise AipolicyError(f"the labelled table lacks columns: {', '.join(missing)}")


def _header(units, card, inputs, skipped, min_units, documents) -> dict:
    return {"generated": report_date(), "aipolicy": __version__,
            "model": card.get("name", "(labelled table)"), "model_version": card.get("version", ""),
            "model_sha256": (card.get("manifest_sha256") or (card.get("artifact") or {}).get("sha256", ""))[:16],
            "data_sha256": data_hash(units)[:16], "units": len(units), "documents": int(units["doc_id"].nunique()),
            "cities": int(units["city"].nunique()), "inputs": ", ".join(map(str, inputs)),
            "skipped_files": skipped, "min_units": min_units,
            "with_metadata": documents is not None}


def _ai_terms(units: pd.DataFrame, cats) -> pd.DataFrame:
    """Distinctive terms of each place's AI-relevant (labelled) units against the other places'."""
    from .topics import tokenize_units

    ai = units[units[list(cats)].sum(axis=1) > 0]
    return distinctive_terms(tokenize_units(ai["text"].tolist()), ai["city"].to_numpy())


def build_report(units: pd.DataFrame, categories, *, documents: pd.DataFrame | None = None,
                 model_card: dict | None = None, min_units: int = 20, with_text: bool = True,
                 quote: pd.Series | None = None, topics=None, n_boot: int = 1000, seed: int = SEED,
                 inputs=(), skipped: int = 0) -> Report:
    """Every table of the report. ``documents``: the documents table (``DOC_COLUMNS``, joined by
    doc_id) or None; ``quote``: per-unit bool (aligned with ``units``) saying which texts may be shown
    (``with_text=False`` shows none)."""
    from .groups import place_groups

    cats = list(categories)
    _check_columns(units, cats)
    units = category_matrix(units.reset_index(drop=True), cats)
    units["city"] = units["city"].fillna("unknown").astype(str)
    docs = usable_documents(documents, units)
    if docs is not None:
        units = units.drop(columns=[c for c in ("year", "doc_type") if c in units.columns])
        units = units.merge(docs[["doc_id", "year", "doc_type"]], on="doc_id", how="left")
    if not with_text:
        q = pd.Series(False, index=units.index)
    else:
        q = pd.Series(True, index=units.index) if quote is None else pd.Series(np.asarray(quote, bool), index=units.index)
    if docs is not None:  # a title is text too: none for documents none of whose units may be quoted
        quotable = set(units.loc[q.to_numpy(), "doc_id"])
        docs.loc[~docs["doc_id"].isin(quotable), "title"] = ""
    groups = place_groups(units["city"])
    tier = units["city"].map(groups.set_index("city")["tier"])
    years = year_shares(units, cats, group=tier) if docs is not None else None
    return Report(units=units, categories=cats, shares=category_shares(units, cats, n_boot=n_boot, seed=seed),
                  overall=category_shares(units.assign(city="(all)"), cats, n_boot=n_boot, seed=seed),
                  distinct=distinctive(units, cats, n_boot=n_boot, seed=seed),
                  examples=city_examples(units, cats, with_text=q), topics=topics,
                  header=_header(units, model_card or {}, inputs, skipped, min_units, docs),
                  min_units=min_units, with_text=bool(q.any()), groups=groups, terms=_ai_terms(units, cats),
                  documents=docs, years=years if years is not None and years["year"].nunique() else None, quote=q)


# --------------------------------------------------------------------------- context for the templates

def _colour(v: float, significant: bool) -> str:
    """Diverging colour for a log-odds value: green over, red under; pale when not significant."""
    x = max(-1.0, min(1.0, v / 1.0))
    strength = abs(x) * (1.0 if significant else 0.35)
    base = (10, 107, 46) if x > 0 else (163, 38, 27)
    r, g, b = (round(255 - (255 - c) * strength * 0.8) for c in base)
    return f"#{r:02x}{g:02x}{b:02x}"


def _heat_rows(rep: Report) -> list[dict]:
    cities, cats = rep.main_cities, rep.categories
    d = rep.distinct[rep.distinct["category"].isin(cats)]

    def grid(df, col):
        return df.pivot(index="city", columns="category", values=col).reindex(index=cities, columns=cats).to_numpy(float)
    lo, z, share = grid(d, "log_odds"), grid(d, "z"), grid(rep.shares, "share")
    ci_lo = grid(d, "ci_low") if "ci_low" in d else np.full(lo.shape, np.nan)
    ci_hi = grid(d, "ci_high") if "ci_high" in d else np.full(lo.shape, np.nan)
    g = rep.groups.set_index("city")
    n = rep.units.groupby("city").size()
    rows = []
    for i, city in enumerate(cities):
        cells = [{"category": c, "lo": lo[i, j], "z": z[i, j], "ci": (ci_lo[i, j], ci_hi[i, j]), "share": share[i, j],
                  "sig": abs(z[i, j]) >= 1.96, "bg": _colour(lo[i, j], abs(z[i, j]) >= 1.96)}
                 for j, c in enumerate(cats)]
        rows.append({"city": city, "province": g.loc[city, "province"], "tier": g.loc[city, "tier"],
                     "units": int(n[city]), "cells": cells})
    return rows


def _records_by_city(df: pd.DataFrame | None, sort: list | None = None, ascending=True) -> dict:
    """city → list of row dicts, in ``sort`` order (one conversion for the whole table: pandas'
    ``to_dict`` per city costs milliseconds each)."""
    if df is None or not len(df):
        return {}
    if sort:
        df = df.sort_values(sort, ascending=ascending, kind="stable")
    out: dict = {}
    for r in df.to_dict("records"):
        out.setdefault(r["city"], []).append(r)
    return out


def _documents_by_city(rep: Report) -> dict:
    """city → its documents (with the number of its units in that city), newest first."""
    if rep.documents is None:
        return {}
    n = rep.units.groupby(["city", "doc_id"]).size().rename("units").reset_index()
    return _records_by_city(n.merge(rep.documents, on="doc_id"), ["city", "date", "title", "doc_id"],
                            [True, False, True, True])


def _topics_by_city(rep: Report) -> dict:
    """city → its three largest topics with their terms and group."""
    if rep.topics is None:
        return {}
    info = rep.topics.topics.set_index("topic")
    ct = rep.topics.city_topics
    ct = ct[ct["share"] > 0].sort_values(["city", "share", "topic"], ascending=[True, False, True], kind="stable")
    ct = ct.groupby("city", sort=False).head(3)
    return _records_by_city(ct.assign(terms=ct["topic"].map(info["top_terms"]), group=ct["topic"].map(info["group"])))


def _city_sections(rep: Report) -> list[dict]:
    from .plots import bars_svg

    g = rep.groups.set_index("city")
    shares = _records_by_city(rep.shares, ["city", "share", "category"], [True, False, True])
    distinct = _records_by_city(rep.distinct[rep.distinct["category"] != "none"], ["city", "z"], [True, False])
    terms, examples = _records_by_city(rep.terms), _records_by_city(rep.examples)
    topics, docs = _topics_by_city(rep), _documents_by_city(rep)
    n_docs = rep.units.groupby("city")["doc_id"].nunique()
    overall = {r["category"]: r["share"] for r in rep.overall.to_dict("records")}
    out = []
    for city in rep.main_cities:
        sh, di = shares[city], distinct.get(city, [])
        out.append({"city": city, "province": g.loc[city, "province"], "tier": g.loc[city, "tier"],
                    "units": int(sh[0]["n_city_units"]), "documents": int(n_docs[city]), "shares": sh,
                    "bars": bars_svg(sh, overall, rep.categories, rep.zh),
                    "over": [r for r in di if r["emphasis"] == "over"],
                    "under": [r for r in reversed(di) if r["emphasis"] == "under"],
                    "terms": terms.get(city, []), "topics": topics.get(city, []),
                    "examples": examples.get(city, []), "docs": docs.get(city, [])})
    return out


def _topics_context(rep: Report) -> dict | None:
    if rep.topics is None:
        return None
    t = rep.topics
    chosen = t.coherence[t.coherence["chosen"]]
    return {"k": t.k, "measure": t.measure, "table": t.topics.to_dict("records"),
            "chosen": chosen.to_dict("records"), "groups": list(dict.fromkeys(t.topics["group"])),
            "selection": t.selection, "n_units": len(t.unit_ids)}


def _years_context(rep: Report) -> dict | None:
    if rep.years is None:
        return None
    y = rep.years
    out = {}
    for grp, d in y.groupby("group", sort=False):
        piv = d.pivot(index="year", columns="category", values="share").reindex(columns=rep.categories)
        meta = d.drop_duplicates("year").set_index("year")
        out[grp] = [{"year": int(yr), "documents": int(meta.loc[yr, "n_documents"]),
                     "units": int(meta.loc[yr, "n_year_units"]), "shares": [float(v) for v in row]}
                    for yr, row in zip(piv.index, piv.to_numpy())]
    order = ["(all)"] + [g for g in _tier_order() if g in out and g != "(all)"]
    return {"groups": [(g, out[g]) for g in order if g in out]}


def _tier_order():
    from .groups import TIER_ORDER

    return TIER_ORDER


def table_names(rep: Report) -> list[str]:
    names = ["city_category_shares.csv", "city_distinctive.csv", "city_terms.csv", "examples.csv"]
    if rep.topics is not None:
        names += ["topics.csv", "topic_coherence.csv", "city_topics.csv"]
    if rep.documents is not None:
        names += ["documents.csv"]
    if rep.years is not None:
        names += ["year_category_shares.csv"]
    return names + ["labelled_units.parquet"]


def _context(rep: Report, svgs: dict) -> dict:
    return {"h": rep.header, "cats": rep.categories, "zh": rep.zh, "svgs": svgs,
            "overall": rep.overall.to_dict("records"), "cities": _city_sections(rep), "heat": _heat_rows(rep),
            "small": rep.small_cities.to_dict("records"), "topics": _topics_context(rep),
            "years": _years_context(rep), "with_text": rep.with_text, "has_docs": rep.documents is not None,
            "tiers": _tier_order(), "tables": table_names(rep)}


# --------------------------------------------------------------------------- writing

def _write_tables(rep: Report, out: Path) -> None:
    t = out / "tables"
    write_table(rep.shares.round({"share": 4, "ci_low": 4, "ci_high": 4}), t / "city_category_shares.csv")
    write_table(rep.distinct.merge(rep.groups[["city", "province", "tier"]], on="city", how="left")
                .round({"log_odds": 4, "z": 3, "ci_low": 4, "ci_high": 4}), t / "city_distinctive.csv")
    write_table(rep.terms, t / "city_terms.csv")
    ex = rep.examples if rep.with_text else rep.examples.drop(columns=["text"])
    write_table(ex, t / "examples.csv")
    if rep.topics is not None:
        write_table(rep.topics.city_topics, t / "city_topics.csv")
        write_table(rep.topics.topics, t / "topics.csv")
        write_table(rep.topics.coherence.assign(measure=rep.topics.measure), t / "topic_coherence.csv")
    if rep.documents is not None:
        write_table(rep.documents, t / "documents.csv")
    if rep.years is not None:
        write_table(rep.years, t / "year_category_shares.csv")
    cols = [c for c in rep.units.columns if c not in rep.categories]
    labelled = rep.units[cols].copy()
    if "text" in labelled:
        labelled["text"] = labelled["text"].where(rep.quote, "")
        if not rep.with_text:
            labelled = labelled.drop(columns=["text"])
    write_table(labelled, t / "labelled_units.parquet")


def _charts(rep: Report) -> dict:
    from .plots import coherence_svg, emphasis_svg, years_svg

    svgs = {}
    if rep.main_cities:
        svgs["emphasis"] = emphasis_svg(rep.distinct, rep.categories, rep.main_cities, zh=rep.zh)
    if rep.topics is not None:
        svgs["coherence"] = coherence_svg(rep.topics.coherence, rep.topics.measure)
    if rep.years is not None:
        svgs["years"] = years_svg(rep.years[rep.years["group"] == "(all)"], rep.categories, zh=rep.zh)
    return svgs


def _render(rep: Report, svgs: dict) -> tuple[str, str]:
    from jinja2 import Environment, PackageLoader, select_autoescape

    from .plots import embedded_font_css

    env = Environment(loader=PackageLoader("aipolicy", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = lambda v: f"{100 * float(v):.1f}%"
    env.filters["f2"] = lambda v: f"{float(v):.2f}"
    env.filters["signed"] = lambda v: f"{float(v):+.2f}"
    env.filters["anchor"] = lambda v: "city-" + str(v).replace(" ", "_")
    ctx = _context(rep, svgs)
    md = env.get_template("report.md.j2").render(**ctx)
    body = env.get_template("report.html.j2").render(**ctx, font_css="")
    html = env.get_template("report.html.j2").render(**ctx, font_css=embedded_font_css(body))
    return md, html


def _stage_dir(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "report.html").exists())):
        raise AipolicyError(f"{out} exists and is not a report folder (no report.html): choose another -o")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))


def _swap_in(stage: Path, out: Path) -> None:
    """Put the staged folder in place of ``out`` (its previous content removed)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    stage.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_report(rep: Report, out: str | Path, *, extra_tables: dict | None = None) -> Path:
    """Write the report folder ``out`` (replacing a previous report there). ``extra_tables``:
    name → DataFrame written at the top of the folder (e.g. the labelling manifest)."""
    out = Path(out)
    stage = _stage_dir(out)
    try:
        os.chmod(stage, 0o777 & ~_umask())
        _write_tables(rep, stage)
        for name, df in (extra_tables or {}).items():
            write_table(df, stage / name)
        svgs = _charts(rep)
        for name, svg in svgs.items():
            with atomic_path(stage / "figures" / f"{name}.svg") as tmp:
                tmp.write_text(svg, encoding="utf-8")
        md, html = _render(rep, svgs)
        (stage / "report.md").write_text(md, encoding="utf-8")
        (stage / "report.html").write_text(html, encoding="utf-8")
        _swap_in(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m

