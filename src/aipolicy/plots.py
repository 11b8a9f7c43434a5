"""Charts for the report. Functions take tidy tables and return SVG text; only the report writes files.

Chinese text: the package ships a subset of Noto Sans CJK SC (``fonts/``), registered with matplotlib
and used first, with common system CJK fonts as fallbacks. SVGs are written with glyphs as paths
(``svg.fonttype = "path"``), so they show correctly on any machine, with or without Chinese fonts,
and with a fixed hash salt and no date so the same data gives the same bytes.
"""
from __future__ import annotations

import io
from contextlib import contextmanager
from functools import lru_cache, wraps
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

FONT_FILE = "NotoSansSC-subset.otf"
FALLBACK_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "SimHei",
                  "Microsoft YaHei", "PingFang SC", "DejaVu Sans"]


def font_path() -> Path:
    return Path(str(resources.files("aipolicy") / "fonts" / FONT_FILE))


@lru_cache(maxsize=1)
def setup_matplotlib() -> str:
    """Register the bundled CJK font with matplotlib's font manager; return its family name.

    Nothing else of matplotlib's global state is touched: no backend is selected (charts are plain
    ``matplotlib.figure.Figure`` objects, not pyplot's) and the chart settings apply only while a
    chart function runs (:func:`charted`).
    """
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(font_path()))
    return font_manager.FontProperties(fname=str(font_path())).get_name()


def chart_rc() -> dict:
    """The rcParams of every chart (CJK font first, glyphs as paths, fixed SVG hash salt)."""
    name = setup_matplotlib()
    return {"font.family": "sans-serif", "font.sans-serif": [name] + [f for f in FALLBACK_FONTS if f != name],
            "axes.unicode_minus": False, "svg.fonttype": "path", "svg.hashsalt": "aipolicy"}


def charted(func):
    """Run a chart function under :func:`chart_rc` (restored afterwards)."""
    @wraps(func)
    def run(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(chart_rc()):
            return func(*args, **kwargs)
    return run


def subplots(figsize):
    """(figure, axes) without pyplot: no backend, no global figure registry."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


@contextmanager
def figure(figsize):
    """(figure, axes) drawn and saved under :func:`chart_rc` (for charts outside this module)."""
    import matplotlib

    with matplotlib.rc_context(chart_rc()):
        yield subplots(figsize)


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "aipolicy"})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog so it can be inlined in HTML


@charted
def emphasis_svg(distinct: pd.DataFrame, categories, cities, *, zh: dict | None = None) -> str:
    """City × category heatmap of emphasis: the weighted log-odds of each category in the city against
    all other places (green over, red under; a star when |z| ≥ 1.96; the values are in the tables)."""

    d = distinct[distinct["category"].isin(categories)]
    lo = d.pivot(index="city", columns="category", values="log_odds").reindex(index=cities, columns=categories)
    z = d.pivot(index="city", columns="category", values="z").reindex(index=cities, columns=categories)
    data, zz = lo.to_numpy(float), z.to_numpy(float)
    h = max(2.5, 0.26 * len(cities) + 1.2)
    fig, ax = subplots((1.0 * len(categories) + 2.2, h))
    im = ax.imshow(np.clip(data, -1.5, 1.5), aspect="auto", cmap="RdYlGn", vmin=-1.5, vmax=1.5)
    labels = [f"{c}\n{zh.get(c, '')}" if zh else c for c in categories]
    ax.set_xticks(range(len(categories)), labels, fontsize=9)
    ax.set_yticks(range(len(cities)), cities, fontsize=9)
    ax.xaxis.tick_top()
    sig = np.argwhere(np.abs(zz) >= 1.96)  # the values are in the table beside the chart; mark significance
    ax.scatter(sig[:, 1], sig[:, 0], marker="*", s=18, c="black", linewidths=0)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="log-odds vs. other places / 相对侧重")
    return _svg(fig)


@charted
def coherence_svg(curve: pd.DataFrame, measure: str) -> str:
    """Coherence by K, one line per topic group, the chosen K circled; integer K ticks."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = subplots((5.5, 3))
    groups = curve["group"].unique() if "group" in curve else [None]
    for g in groups:
        c = curve if g is None else curve[curve["group"] == g]
        ax.plot(c["k"], c["coherence"], marker="o", label=str(g) if g is not None else None)
        best = c[c["chosen"]]
        ax.scatter(best["k"], best["coherence"], s=120, facecolors="none", edgecolors="red", zorder=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of topics K / 主题数 (circled: chosen)")
    ax.set_ylabel(f"coherence ({measure})")
    if len(groups) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


@charted
def years_svg(years: pd.DataFrame, categories, *, zh: dict | None = None) -> str:
    """Category shares by document year (one line per category; integer year ticks)."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = subplots((6, 3.2))
    for c in categories:
        d = years[years["category"] == c].sort_values("year")
        ax.plot(d["year"], d["share"], marker="o", label=f"{c} {zh.get(c, '')}" if zh else c)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("document year / 发文年份")
    ax.set_ylabel("share of units / 单元占比")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _svg(fig)


def bars_svg(shares: list[dict], overall: dict, categories, zh: dict) -> str:
    """A small hand-written SVG: one bar per category (the place's share, rows of ``shares`` with
    category, share, ci_low, ci_high), its 95% interval as a line, and the share over all places
    (``overall``: category → share) as a tick. Text uses the page's (embedded) font."""
    s = {r["category"]: r for r in shares}
    vmax = max([0.05] + [float(r["ci_high"]) for r in shares] + [float(v) for v in overall.values()])
    w, left, row = 420, 110, 20
    scale = (w - left - 50) / vmax
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{row * len(categories) + 6}" '
             f'role="img" aria-label="category shares">']
    for i, c in enumerate(categories):
        y = 3 + i * row
        r = s[c]
        x1, lo, hi, ov = (left + scale * float(v) for v in (r["share"], r["ci_low"], r["ci_high"], overall.get(c, 0.0)))
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" font-size="12">{c} {zh.get(c, "")}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{x1 - left:.1f}" height="12" fill="#4a7fb5"/>'
                     f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 9}" y2="{y + 9}" stroke="#222" stroke-width="1.5"/>'
                     f'<line x1="{ov:.1f}" x2="{ov:.1f}" y1="{y + 1}" y2="{y + 17}" stroke="#d08000" stroke-width="2"/>'
                     f'<text x="{max(x1, hi) + 4:.1f}" y="{y + 13}" font-size="11">{100 * float(r["share"]):.0f}%</text>')
    parts.append("</svg>")
    return "".join(parts)


def embedded_font_css(text: str, family: str = "aipolicy-cjk") -> str:
    """@font-face rule with the bundled font subset to the characters of ``text`` (base64)."""
    import base64

    from fontTools import subset

    opts = subset.Options()
    opts.layout_features = []  # no OpenType layout tables: horizontal CJK needs none; subsetting is 40% faster
    opts.hinting = True  # keeping the hints skips fontTools' slow hint-removal pass (13 s on a long report)
    opts.name_IDs = ["*"]
    font = subset.load_font(str(font_path()), opts)
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=sorted({ord(c) for c in text if ord(c) > 0x7F}) or [0x4E00])
    sub.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, opts)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f"@font-face {{ font-family: '{family}'; "
            f"src: url(data:font/otf;base64,{data}) format('opentype'); }}")
