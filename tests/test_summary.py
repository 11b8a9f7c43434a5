"""Share, interval and distinctiveness arithmetic on tables built by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aipolicy.summary import category_matrix, category_shares, distinctive, top_examples


def _units(spec):
    """spec: list of (city, doc_id, labels) → a labelled unit table."""
    rows = []
    for i, (city, doc, labels) in enumerate(spec):
        rows.append({"unit_id": f"u{i}", "doc_id": doc, "source": f"{doc}.txt", "position": i, "city": city,
                     "text": f"text {i}", "labels": labels, "p_compute": 0.9 if "compute" in labels else 0.1,
                     "p_talent": 0.8 if "talent" in labels else 0.2})
    return pd.DataFrame(rows)


CATS = ["compute", "talent"]


def test_category_matrix_from_labels_column():
    df = category_matrix(_units([("A", "d1", "compute;talent"), ("A", "d1", ""), ("A", "d1", "talent")]), CATS)
    assert df["compute"].tolist() == [1, 0, 0] and df["talent"].tolist() == [1, 0, 1]


def test_shares_by_hand():
    spec = [("A", "d1", "compute")] * 3 + [("A", "d1", "")] * 7 + [("B", "d2", "talent")] * 5
    sh = category_shares(_units(spec), CATS, n_boot=2000, seed=1).set_index(["city", "category"])
    r = sh.loc[("A", "compute")]
    assert (r["n_units"], r["n_city_units"], r["share"]) == (3, 10, 0.3)
    # a unit bootstrap of 3 successes in 10: the 95% interval is about [0, 0.6]
    assert 0.0 <= r["ci_low"] <= 0.1 and 0.5 <= r["ci_high"] <= 0.7
    assert sh.loc[("A", "talent"), "share"] == 0.0
    assert sh.loc[("A", "talent"), "ci_low"] == sh.loc[("A", "talent"), "ci_high"] == 0.0
    b = sh.loc[("B", "talent")]
    assert b["share"] == 1.0 and b["ci_low"] == b["ci_high"] == 1.0


def test_cluster_bootstrap_uses_documents():
    # 6 documents: 3 all-compute, 3 without compute -> resampling documents gives a wide interval;
    # resampling the 60 units as if independent would give a much narrower one
    spec = []
    for d in range(6):
        spec += [("C", f"d{d}", "compute" if d < 3 else "")] * 10
    sh = category_shares(_units(spec), CATS, n_boot=2000, seed=3, min_docs_for_cluster=5).set_index(
        ["city", "category"]).loc[("C", "compute")]
    assert sh["share"] == 0.5
    assert sh["ci_high"] - sh["ci_low"] > 0.6
    unit_level = category_shares(_units(spec), CATS, n_boot=2000, seed=3, min_docs_for_cluster=99).set_index(
        ["city", "category"]).loc[("C", "compute")]
    assert unit_level["ci_high"] - unit_level["ci_low"] < 0.35


def test_shares_deterministic_for_a_seed():
    spec = [("A", "d1", "compute")] * 4 + [("A", "d1", "")] * 9
    a = category_shares(_units(spec), CATS, seed=5)
    b = category_shares(_units(spec), CATS, seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_distinctive_against_worked_example():
    # A: 10 units (compute 4, none 6); B: 30 units (compute 3, talent 6, none 21)
    spec = [("A", "a", "compute")] * 4 + [("A", "a", "")] * 6 \
        + [("B", "b", "compute")] * 3 + [("B", "b", "talent")] * 6 + [("B", "b", "")] * 21
    d = distinctive(_units(spec), CATS, prior_strength=10).set_index(["city", "category"])
    # worked by hand: alpha = 10 * (7, 6, 27) / 40 = (1.75, 1.5, 6.75), alpha0 = 10
    # delta = log(5.75 / 14.25) - log(4.75 / 35.25) = 1.09676; var = 1/5.75 + 1/4.75; z = 1.76888
    assert d.loc[("A", "compute"), "log_odds"] == pytest.approx(1.0967639, abs=1e-6)
    assert d.loc[("A", "compute"), "z"] == pytest.approx(1.7688834, abs=1e-6)
    # delta = log(1.5 / 18.5) - log(7.5 / 32.5) = -1.04597; z = -1.16943
    assert d.loc[("A", "talent"), "log_odds"] == pytest.approx(-1.0459686, abs=1e-6)
    assert d.loc[("A", "talent"), "z"] == pytest.approx(-1.1694284, abs=1e-6)
    assert d.loc[("A", "compute"), "emphasis"] == ""  # |z| < 1.96: not over-read
    # symmetric: B's compute log-odds is the negative of A's (two places only)
    assert d.loc[("B", "compute"), "log_odds"] == pytest.approx(-1.0967639, abs=1e-6)


def test_distinctive_shrinks_small_places():
    big = [("Big", "b", "compute")] * 40 + [("Big", "b", "")] * 60
    small = [("Small", "s", "compute")] * 2 + [("Small", "s", "")] * 1
    rest = [("Rest", "r", "")] * 300 + [("Rest", "r", "compute")] * 10
    d = distinctive(_units(big + small + rest), CATS).set_index(["city", "category"])
    # Small has the higher raw share (67% vs 40%) but far less evidence
    assert d.loc[("Big", "compute"), "z"] > d.loc[("Small", "compute"), "z"]
    assert d.loc[("Big", "compute"), "emphasis"] == "over"


def test_top_examples_orders_by_confidence_and_hides_text():
    df = _units([("A", "d", "compute"), ("A", "d", "compute"), ("A", "d", "talent")])
    df.loc[1, "p_compute"] = 0.99
    ex = top_examples(df, CATS, per=1)
    assert ex.set_index(["city", "category"]).loc[("A", "compute"), "unit_id"] == "u1"
    assert "text" not in top_examples(df, CATS, with_text=False).columns
