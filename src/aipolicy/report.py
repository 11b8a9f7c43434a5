"""Stage 6 — report: per-city category shares, distinctive categories, topics and examples.

``build_report`` computes everything as tidy tables (no files); ``write_report`` writes
``report.html`` (self-contained: inline SVG charts, an embedded font subset), ``report.md`` (charts
as SVG files in ``figures/``) and ``tables/*.csv``.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from . import __version__
from .errors import AipolicyError
from .summary import category_matrix, category_shares, distinctive, top_examples
from .tables import atomic_path, write_table

DEFAULT_ZH = {"compute": "算力", "data": "数据", "algorithm": "算法/模型", "scenario": "场景/应用",
              "talent": "人才", "governance": "治理", "none": "无"}


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
    zh: dict = field(default_factory=lambda: dict(DEFAULT_ZH))

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


def build_report(units: pd.DataFrame, categories, *, model_card: dict | None = None, min_units: int = 20,
                 with_text: bool = True, topics=None, n_boot: int = 1000, seed: int = 20241122,
                 inputs=(), skipped: int = 0) -> Report:
    cats = list(categories)
    missing = [c for c in ["unit_id", "doc_id", "source", "position", "city", "text", *[f"p_{c}" for c in cats]]
               if c not in units.columns]
    if missing:
        raise AipolicyError(f"the labelled table lacks columns: {', '.join(missing)}")
    units = category_matrix(units.reset_index(drop=True), cats)
    units["city"] = units["city"].fillna("unknown").astype(str)
    shares = category_shares(units, cats, n_boot=n_boot, seed=seed)
    overall = category_shares(units.assign(city="(all)"), cats, n_boot=n_boot, seed=seed, min_docs_for_cluster=5)
    card = model_card or {}
    header = {"generated": report_date(), "aipolicy": __version__,
              "model": card.get("name", "(labelled table)"), "model_version": card.get("version", ""),
              "model_sha256": (card.get("artifact") or {}).get("sha256", "")[:16],
              "data_sha256": data_hash(units)[:16], "units": len(units), "documents": int(units["doc_id"].nunique()),
              "cities": int(units["city"].nunique()), "inputs": ", ".join(map(str, inputs)),
              "skipped_files": skipped, "min_units": min_units}
    return Report(units=units, categories=cats, shares=shares, overall=overall,
                  distinct=distinctive(units, cats), examples=top_examples(units, cats, with_text=with_text),
                  topics=topics, header=header, min_units=min_units, with_text=with_text)


def _city_sections(rep: Report) -> list[dict]:
    out = []
    for city in rep.main_cities:
        sh = rep.shares[rep.shares["city"] == city].sort_values(["share", "category"], ascending=[False, True])
        di = rep.distinct[rep.distinct["city"] == city]
        sec = {"city": city, "units": int(sh["n_city_units"].iloc[0]),
               "documents": int(rep.units.loc[rep.units["city"] == city, "doc_id"].nunique()),
               "shares": sh.to_dict("records"),
               "over": di[di["emphasis"] == "over"].sort_values("z", ascending=False).to_dict("records"),
               "under": di[di["emphasis"] == "under"].sort_values("z").to_dict("records"),
               "topics": [], "examples": []}
        if rep.topics is not None:
            ct = rep.topics.city_topics
            t = ct[ct["city"] == city].sort_values(["share", "topic"], ascending=[False, True]).head(3)
            terms = rep.topics.topics.set_index("topic")["top_terms"]
            sec["topics"] = [dict(r, terms=terms[r["topic"]]) for r in t.to_dict("records")]
        ex = rep.examples[rep.examples["city"] == city]
        for c in [r["category"] for r in sec["shares"] if r["n_units"] > 0][:3]:
            sec["examples"].extend(ex[ex["category"] == c].head(2).to_dict("records"))
        out.append(sec)
    return out


def _context(rep: Report, svgs: dict) -> dict:
    topics = None
    if rep.topics is not None:
        topics = {"k": rep.topics.k, "measure": rep.topics.measure,
                  "table": rep.topics.topics.to_dict("records"),
                  "curve": rep.topics.coherence.to_dict("records")}
    return {"h": rep.header, "cats": rep.categories, "zh": rep.zh, "svgs": svgs,
            "overall": rep.overall.to_dict("records"), "cities": _city_sections(rep),
            "small": rep.small_cities.to_dict("records"), "topics": topics, "with_text": rep.with_text,
            "main_shares": rep.shares[rep.shares["city"].isin(rep.main_cities)],
            "tables": ["city_category_shares.csv", "city_distinctive.csv", "city_topics.csv", "examples.csv",
                       "labelled_units.parquet"]}


def write_report(rep: Report, out: str | Path) -> Path:
    from jinja2 import Environment, PackageLoader, select_autoescape

    from .plots import coherence_svg, embedded_font_css, heatmap_svg

    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    # tables
    write_table(rep.shares.round({"share": 4, "ci_low": 4, "ci_high": 4}), out / "tables" / "city_category_shares.csv")
    write_table(rep.distinct.round({"log_odds": 4, "z": 3}), out / "tables" / "city_distinctive.csv")
    write_table(rep.examples, out / "tables" / "examples.csv")
    if rep.topics is not None:
        write_table(rep.topics.city_topics, out / "tables" / "city_topics.csv")
        write_table(rep.topics.topics, out / "tables" / "topics.csv")
        write_table(rep.topics.coherence, out / "tables" / "topic_coherence.csv")
    cols = [c for c in rep.units.columns if c not in rep.categories]
    labelled = rep.units[cols] if rep.with_text else rep.units[[c for c in cols if c != "text"]]
    write_table(labelled, out / "tables" / "labelled_units.parquet")
    # charts
    svgs = {}
    if rep.main_cities:
        svgs["heatmap"] = heatmap_svg(rep.shares, rep.categories, rep.main_cities, zh=rep.zh)
    if rep.topics is not None:
        svgs["coherence"] = coherence_svg(rep.topics.coherence, rep.topics.k, rep.topics.measure)
    for name, svg in svgs.items():
        with atomic_path(out / "figures" / f"{name}.svg") as tmp:
            tmp.write_text(svg, encoding="utf-8")
    env = Environment(loader=PackageLoader("aipolicy", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["pct"] = lambda v: f"{100 * float(v):.1f}%"
    env.filters["f2"] = lambda v: f"{float(v):.2f}"
    ctx = _context(rep, svgs)
    md = env.get_template("report.md.j2").render(**ctx)
    html_body = env.get_template("report.html.j2").render(**ctx, font_css="")
    font_css = embedded_font_css(html_body)
    html = env.get_template("report.html.j2").render(**ctx, font_css=font_css)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(md, encoding="utf-8")
    with atomic_path(out / "report.html") as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out
