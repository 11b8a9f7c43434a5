"""Build labels/gold.csv from the annotators' files, the second annotation and the adjudication.

    python labels/build_gold.py            # from the repository root

- labels/annotations/batch_K.csv: first annotation, annotator AK (one file per annotator);
- labels/annotations/double.csv: independent second annotation of a sample, annotator B1;
- labels/adjudication.csv: the decision on every category where the two disagree (read, not voted).
Writes labels/gold.csv and labels/agreement.json (first vs. second, before adjudication).
Fails if a disagreement has no adjudication or an adjudication matches no disagreement.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from agreement import agreement  # noqa: E402

from aipolicy.config import load_categories  # noqa: E402

HERE = Path("labels")


def main() -> None:
    names = [c.name for c in load_categories(HERE / "categories.yaml")]
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    parts = []
    for f in sorted((HERE / "annotations").glob("batch_*.csv"), key=lambda p: int(p.stem.split("_")[1])):
        parts.append(read(f).assign(annotator=f"A{f.stem.split('_')[1]}"))
    first = pd.concat(parts, ignore_index=True)
    if not first["unit_id"].is_unique:
        raise SystemExit("a unit was labelled twice in the first annotation")
    second = read(HERE / "annotations" / "double.csv")
    table, exact, n = agreement(first, second, names)
    (HERE / "agreement.json").write_text(json.dumps({
        "units": n, "exact_match": round(exact, 4), "macro_kappa": round(float(table["kappa"].mean()), 4),
        "macro_f1": round(float(table["f1"].mean()), 4),
        "per_category": json.loads(table.round(4).to_json(orient="records"))}, indent=2) + "\n")

    adj = read(HERE / "adjudication.csv")
    both = first.merge(second, on="unit_id", suffixes=("", "_b"))
    needed = {(r.unit_id, c) for r in both.itertuples() for c in names if getattr(r, c) != getattr(r, f"{c}_b")}
    given = set(zip(adj["unit_id"], adj["category"]))
    if needed - given or given - needed:
        raise SystemExit(f"adjudication mismatch: missing {sorted(needed - given)}, extra {sorted(given - needed)}")

    gold = first.set_index("unit_id")
    for r in adj.itertuples():
        gold.loc[r.unit_id, r.category] = r.value
        gold.loc[r.unit_id, "note"] = (gold.loc[r.unit_id, "note"] + " | " if gold.loc[r.unit_id, "note"] else "") \
            + f"adjudicated {r.category}={r.value}: {r.reason}"
    for uid in both["unit_id"]:
        gold.loc[uid, "annotator"] = f"{gold.loc[uid, 'annotator']}+B1"
    gold = gold.reset_index()
    sel = read(HERE / "selection.csv")[["unit_id", "corpus", "source", "position"]]
    gold = gold.merge(sel, on="unit_id", how="left", validate="one_to_one")
    if gold["corpus"].eq("").any() or gold["corpus"].isna().any():
        raise SystemExit("a labelled unit is not in labels/selection.csv")
    gold["position"] = gold["position"].astype(int)
    gold = gold.sort_values(["corpus", "source", "position"], kind="stable")
    gold[["unit_id", "corpus", "source", *names, "annotator", "note"]].to_csv(HERE / "gold.csv", index=False)
    print(f"{len(gold)} gold units; agreement on {n} double-labelled units: exact {exact:.3f}, "
          f"macro kappa {table['kappa'].mean():.3f}; {len(adj)} adjudicated decisions")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
