"""Charts for the report. Functions take tidy tables and return SVG text; only the report writes files.

Chinese text: the package ships a subset of Noto Sans CJK SC (``fonts/``), registered with matplotlib
and used first, with common system CJK fonts as fallbacks. SVGs are written with glyphs as paths
(``svg.fonttype = "path"``), so they show correctly on any machine, with or without Chinese fonts,
and with a fixed hash salt and no date so the same data gives the same bytes.
"""
from __future__ import annotations

import io
from functools import lru_cache
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
    """Register the bundled CJK font; return the font family name used for charts."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager, rcParams

    font_manager.fontManager.addfont(str(font_path()))
    name = font_manager.FontProperties(fname=str(font_path())).get_name()
    rcParams["font.family"] = "sans-serif"
    rcParams["font.sans-serif"] = [name] + [f for f in FALLBACK_FONTS if f != name]
    rcParams["axes.unicode_minus"] = False
    rcParams["svg.fonttype"] = "path"
    rcParams["svg.hashsalt"] = "aipolicy"
    return name


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "aipolicy"})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog so it can be inlined in HTML


def heatmap_svg(shares: pd.DataFrame, categories, cities, *, zh: dict | None = None) -> str:
    """City × category heatmap of shares (rows in the given city order)."""
    setup_matplotlib()
    import matplotlib.pyplot as plt

    m = shares.pivot(index="city", columns="category", values="share").reindex(index=cities, columns=categories)
    data = m.to_numpy(float)
    h = max(2.5, 0.28 * len(cities) + 1.2)
    fig, ax = plt.subplots(figsize=(1.0 * len(categories) + 2.2, h))
    im = ax.imshow(data, aspect="auto", cmap="YlGnBu", vmin=0, vmax=max(0.05, float(np.nanmax(data))))
    labels = [f"{c}\n{zh.get(c, '')}" if zh else c for c in categories]
    ax.set_xticks(range(len(categories)), labels, fontsize=9)
    ax.set_yticks(range(len(cities)), cities, fontsize=9)
    ax.xaxis.tick_top()
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v = data[i, j]
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * im.norm.vmax else "black")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="share of the city's units / 单元占比")
    return _svg(fig)


def coherence_svg(curve: pd.DataFrame, chosen: int, measure: str) -> str:
    setup_matplotlib()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.8))
    ax.plot(curve["k"], curve["coherence"], marker="o")
    best = curve[curve["k"] == chosen]
    ax.scatter(best["k"], best["coherence"], s=120, facecolors="none", edgecolors="red", zorder=3,
               label=f"chosen K = {chosen}")
    ax.set_xlabel("number of topics K / 主题数")
    ax.set_ylabel(f"coherence ({measure})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def embedded_font_css(text: str, family: str = "aipolicy-cjk") -> str:
    """@font-face rule with the bundled font subset to the characters of ``text`` (base64)."""
    import base64

    from fontTools import subset

    opts = subset.Options()
    opts.layout_features = ["*"]
    opts.hinting = False
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
