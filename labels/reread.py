"""Round 8: two blind re-readings of gold units that the label audit flagged, plus a random control.

    python labels/reread.py [--review review.csv]        # from the repository root

`labels/annotations/r8/selection.csv` lists the units re-read: every AI-policy and seed unit that
`aipolicy labels audit` flagged as a likely label issue (pool `audit`) and 100 AI-policy units it did not
flag (pool `control`, a uniform sample), split into two halves; each half was labelled independently by two
annotators (E1+E2, E3+E4) who saw neither the gold, nor the model's probabilities, nor each other's labels.

Prints agreement between the two re-readers of each half, and between the gold (before round 8) and the
re-readers, per pool. The rule for a change: where BOTH re-readers agree with each other against the gold
on a category, the unit is read again and the gold changed if reading confirms it (then a line in
`labels/corrections.csv`, reason starting "r8"); where they split, the gold stays (it is then the majority
of three readings). ``--review`` writes those candidate changes with the unit text, for that reading.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from agreement import agreement  # noqa: E402

from aipolicy.config import load_categories  # noqa: E402

HERE = Path("labels")
R8 = HERE / "annotations" / "r8"


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def before_r8(gold: pd.DataFrame, corrections: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The gold as it was before round 8's corrections (their old values put back)."""
    g = gold.set_index("unit_id")[names].copy()
    for r in corrections[corrections["reason"].str.startswith("r8")].itertuples():
        g.loc[r.unit_id, r.category] = str(r.old)
    return g.reset_index()


def candidates(sel: pd.DataFrame, gold: pd.DataFrame, reads: dict[str, pd.DataFrame], names) -> pd.DataFrame:
    rows = []
    g = gold.set_index("unit_id")
    for half, pair in sel.groupby("readers"):
        a, b = (reads[x].set_index("unit_id") for x in half.split())
        for u in pair["unit_id"]:
            for n in names:
                va, vb, vg = a.at[u, n], b.at[u, n], g.at[u, n]
                if va == vb != vg:
                    rows.append({"unit_id": u, "category": n, "gold": vg, "rereaders": va,
                                 "pool": pair.set_index("unit_id").at[u, "pool"],
                                 "notes": f"{a.at[u, 'note']} / {b.at[u, 'note']}".strip(" /")})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--review", help="write the candidate changes with the unit text (CSV) for reading")
    args = ap.parse_args()
    names = [c.name for c in load_categories()]
    sel = read(R8 / "selection.csv")
    reads = {f.stem: read(f) for f in sorted(R8.glob("E*.csv"))}
    gold = before_r8(read(HERE / "gold.csv"), read(HERE / "corrections.csv"), names)
    for readers, part in sel.groupby("readers"):
        a, b = (reads[x][reads[x]["unit_id"].isin(part["unit_id"])] for x in readers.split())
        t, exact, n = agreement(a, b, names)
        print(f"{readers} ({n} units): macro kappa {t['kappa'].mean():.3f}, exact {exact:.3f}; "
              + ", ".join(f"{r.category} {r.kappa:.2f}" for r in t.itertuples()))
    for pool, part in sel.groupby("pool"):
        g = gold[gold["unit_id"].isin(part["unit_id"])]
        for x in reads:
            r = reads[x][reads[x]["unit_id"].isin(part["unit_id"])]
            t, exact, n = agreement(g, r, names)
            print(f"gold vs {x}, {pool} ({n} units): macro kappa {t['kappa'].mean():.3f}, exact {exact:.3f}")
    cand = candidates(sel, gold, reads, names)
    corr = read(HERE / "corrections.csv")
    corr = corr[corr["reason"].str.startswith("r8")]
    pools = sel.set_index("unit_id")["pool"]
    for pool, n in pools.value_counts().items():
        c = cand[cand["pool"] == pool]
        done = corr[corr["unit_id"].isin(c["unit_id"])]
        print(f"{pool}: {len(c)} category decisions on {c['unit_id'].nunique()} of {n} units where both "
              f"re-readers differ from the gold ({len(c) / (6 * n):.1%} of the decisions); after reading, "
              f"{len(done)} on {done['unit_id'].nunique()} units changed (labels/corrections.csv)")
    if args.review:
        from aipolicy.config import load_training_config
        from aipolicy.train import gold_units
        cfg = load_training_config("training/config.yaml")
        text = gold_units(cfg, load_categories(cfg.categories)).set_index("unit_id")["text"]
        cand.assign(text=cand["unit_id"].map(text)).to_csv(args.review, index=False)
        print(f"-> {args.review}")


if __name__ == "__main__":
    main()
