"""Apply labels/migrations/issue10-unit-ids.csv to labels/gold.csv (idempotent).

Issue 10 changed two things that remove unit ids the gold referenced (every other id is unchanged:
ids are computed from the normalised text, as before):
- a hard-wrapped report (承德.txt, ~30 characters a line) is re-joined into paragraphs: each gold row of
  a wrapped line moves to its paragraph; rows that land on one paragraph are merged (a category is
  positive when any merged row had it; annotators and notes joined);
- chrome lines ("确认要删除这条内容吗?", "本文为转载内容…") are no longer units: their rows are dropped.

The mapping was made by ingesting the corpora with the code before and after the change (each old
line's text found in exactly one new unit).

    python labels/migrations/issue10_apply.py
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
GOLD = HERE.parent / "gold.csv"
CATS = ["compute", "data", "algorithm", "scenario", "talent", "governance"]


def migrate(gold: pd.DataFrame, mapping: pd.DataFrame, wrapped: bool = True) -> pd.DataFrame:
    """``wrapped``: the rows moved because wrapped lines were re-joined (issue 10's note); otherwise each
    moved row's note names the mapping's reason."""
    to_new = dict(zip(mapping["old_unit_id"], mapping["new_unit_id"]))
    why = dict(zip(mapping["old_unit_id"], mapping["reason"]))
    hit = gold["unit_id"].isin(to_new)
    if not hit.any():
        return gold
    moved = gold[hit].copy()
    moved["unit_id"] = moved["unit_id"].map(to_new)
    moved = moved[moved["unit_id"] != ""]
    merged = []
    for uid, grp in moved.groupby("unit_id", sort=False):
        row = grp.iloc[0].copy()
        for c in CATS:
            row[c] = str(grp[c].astype(int).max())
        row["annotator"] = "+".join(dict.fromkeys(grp["annotator"]))
        notes = [n for n in dict.fromkeys(grp["note"]) if n]
        head = (f"issue 10: merged from {len(grp)} wrapped line(s)" if wrapped
                else "id migrated: " + "; ".join(dict.fromkeys(why[o] for o in gold.loc[grp.index, "unit_id"])))
        row["note"] = "; ".join([head, *notes])
        merged.append(row)
    keep = gold[~hit & ~gold["unit_id"].isin([r["unit_id"] for r in merged])]
    return pd.concat([keep, pd.DataFrame(merged)], ignore_index=True)


def main() -> None:
    gold = pd.read_csv(GOLD, dtype=str, keep_default_na=False)
    mapping = pd.read_csv(HERE / "issue10-unit-ids.csv", dtype=str, keep_default_na=False)
    out = migrate(gold, mapping)
    out.to_csv(GOLD, index=False, lineterminator="\n")
    print(f"{len(gold)} rows -> {len(out)} rows")


if __name__ == "__main__":
    main()
