"""Groups of places for the report: province (from the gazetteer) and city tier (``data/city_tiers.csv``,
a commercial convention — see the file's header for its source).

A place that is a province or municipality is its own province; ``national``, countries and
``unknown`` have no province. Tiers: the tier of the list for listed cities, ``其他城市`` for other
cities, ``省级`` for provinces, ``国家`` for national, ``境外`` for countries, ``未知`` otherwise.
"""
from __future__ import annotations

import csv
import io
from functools import lru_cache

import pandas as pd

from .resources import data_file

TIER_ORDER = ["一线", "新一线", "二线", "其他城市", "省级", "国家", "境外", "未知"]


@lru_cache(maxsize=1)
def city_tiers() -> dict[str, str]:
    text = data_file("city_tiers.csv").read_text(encoding="utf-8")
    lines = "\n".join(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {r["city"].strip(): r["tier"].strip() for r in csv.DictReader(io.StringIO(lines))}


def _place_row(place: str, gaz, tiers: dict) -> dict:
    level = gaz.level_of.get(place, "")
    province = gaz.province_of.get(place, "")
    if level in ("province", "municipality"):
        province = place
    if place in tiers:
        tier = tiers[place]
    elif level == "city":
        tier = "其他城市"
    elif level == "province":
        tier = "省级"
    elif place == "national" or level == "national":
        tier, province = "国家", ""
    elif level == "country":
        tier, province = "境外", ""
    else:
        tier = "未知"
    return {"city": place, "province": province or "—", "tier": tier, "level": level or "unknown"}


def place_groups(places) -> pd.DataFrame:
    """city, province, tier, level for each place name (the report's ``city`` values)."""
    from .cities import Gazetteer

    gaz = Gazetteer.default()
    tiers = city_tiers()
    rows = [_place_row(str(p), gaz, tiers) for p in sorted(set(places))]
    return pd.DataFrame(rows, columns=["city", "province", "tier", "level"])
