"""Build labels/gold.csv from the annotators' files, the second annotation and the adjudication.

    python labels/build_gold.py            # from the repository root

- labels/annotations/batch_K.csv: first annotation, annotator AK (one file per annotator);
- labels/annotations/double.csv: independent second annotation of a sample, annotator B1;
- labels/adjudication.csv: the decision on every category where the two disagree (read, not voted).
Rounds 5 and 6 (AI-policy documents, labels/select_ai_policies.py):
- labels/annotations/r5/{R,A,T}K.csv: first annotation of batch K (random, active-learning, cue pools);
  labels/annotations/r6/BK.csv: round 6 (new random runs and active-learning units);
- labels/annotations/rN/*Kd.csv: independent second annotation of a slice of the next batch;
- labels/adjudication_rN.csv: the decision on every disagreement of round N;
- labels/annotations/r5/S1.csv + labels/seed_reread.csv: the seed units re-read against the codebook's
  Hard cases, and the decision on every unit where the re-reading differs from the round-1 gold.
- labels/corrections.csv: label errors found by `aipolicy labels audit` and confirmed by reading (a log:
  unit, category, old and new value, reason), applied after the annotations;
- labels/migrations/*.csv: unit ids changed by later ingestion changes (old id → new id, merged or dropped),
  applied last.
Writes labels/gold.csv and labels/agreement.json (first vs. second, before adjudication, per round).
Fails if a disagreement has no adjudication or an adjudication matches no disagreement.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from agreement import agreement  # noqa: E402
from migrations.issue10_apply import migrate  # noqa: E402

from aipolicy.config import load_categories  # noqa: E402

HERE = Path("labels")
AI_ROUNDS = (5, 6, 7, 9)  # rounds of annotation on AI-policy documents (labels/select_ai_policies.py; round 8 re-read gold units, labels/reread.py)


def _apply(gold: pd.DataFrame, decisions: pd.DataFrame, needed: set, what: str) -> None:
    given = set(zip(decisions["unit_id"], decisions["category"]))
    if needed - given or given - needed:
        raise SystemExit(f"{what} mismatch: missing {sorted(needed - given)}, extra {sorted(given - needed)}")
    for r in decisions.itertuples():
        gold.loc[r.unit_id, r.category] = str(r.value)
        gold.loc[r.unit_id, "note"] = (gold.loc[r.unit_id, "note"] + " | " if gold.loc[r.unit_id, "note"] else "") \
            + f"{what} {r.category}={r.value}: {r.reason}"


def correct(gold: pd.DataFrame, corrections: pd.DataFrame) -> None:
    """Apply logged corrections (found by `aipolicy labels audit`, confirmed by reading) in place."""
    for r in corrections.itertuples():
        if r.unit_id not in gold.index:
            raise SystemExit(f"correction of {r.unit_id}: no such gold unit (before or after the id migrations)")
        if gold.at[r.unit_id, r.category] != r.old:
            raise SystemExit(f"correction of {r.unit_id} {r.category}: gold has {gold.at[r.unit_id, r.category]}, "
                             f"the log says {r.old}")
        gold.at[r.unit_id, r.category] = r.value
        gold.at[r.unit_id, "note"] = (gold.at[r.unit_id, "note"] + " | " if gold.at[r.unit_id, "note"] else "") \
            + f"corrected {r.category}={r.value}: {r.reason}"


def _disagreements(first: pd.DataFrame, second: pd.DataFrame, names: list[str]) -> set:
    both = first.merge(second, on="unit_id", suffixes=("", "_b"))
    return {(r.unit_id, c) for r in both.itertuples() for c in names if getattr(r, c) != getattr(r, f"{c}_b")}


def ai_round(rnd: int, names: list[str], read) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Gold of one round on AI-policy units: first annotations, adjudicated where the second disagrees.
    Returns (gold, first, second)."""
    folder = HERE / "annotations" / f"r{rnd}"
    firsts, seconds = [], []
    for f in sorted(folder.glob("[RATBCD]*.csv")):
        df = read(f).assign(annotator=f"R{rnd}-{f.stem}")
        (seconds if f.stem.endswith("d") else firsts).append(df)
    first, second = pd.concat(firsts, ignore_index=True), pd.concat(seconds, ignore_index=True)
    if not first["unit_id"].is_unique:
        raise SystemExit(f"a round-{rnd} unit was labelled twice in the first annotation")
    sel = read(HERE / "selection_ai_policies.csv")
    gold = first.set_index("unit_id")
    _apply(gold, read(HERE / f"adjudication_r{rnd}.csv"), _disagreements(first, second, names), "adjudicated")
    for uid, b in zip(second["unit_id"], second["annotator"]):
        gold.loc[uid, "annotator"] = f"{gold.loc[uid, 'annotator']}+{b}"
    gold = gold.reset_index().merge(sel[["unit_id", "corpus", "source", "position"]], on="unit_id",
                                    how="left", validate="one_to_one")
    if gold["corpus"].isna().any():
        raise SystemExit(f"a round-{rnd} unit is not in labels/selection_ai_policies.csv")
    return gold, first, second


def ai_agreement(first: pd.DataFrame, second: pd.DataFrame, names: list[str], read) -> dict:
    """First vs. second annotation (before adjudication), overall and per sampling pool."""
    table, exact, n = agreement(first, second, names)
    sel = read(HERE / "selection_ai_policies.csv")
    pools = {}
    both = first.merge(second[["unit_id"]], on="unit_id").merge(sel[["unit_id", "pool"]], on="unit_id")
    for pool, part in both.groupby("pool"):
        t, e, k = agreement(first[first["unit_id"].isin(part["unit_id"])], second, names)
        pools[pool] = {"units": k, "exact_match": round(e, 4), "macro_kappa": round(float(t["kappa"].mean()), 4)}
    return {"units": n, "exact_match": round(exact, 4), "macro_kappa": round(float(table["kappa"].mean()), 4),
            "macro_f1": round(float(table["f1"].mean()), 4), "per_pool": pools,
            "per_category": json.loads(table.round(4).to_json(orient="records"))}


def reread_seeds(gold: pd.DataFrame, names: list[str], read) -> int:
    """Seed units: the re-reading under the Hard cases, with a decision wherever it differs."""
    new = read(HERE / "annotations" / "r5" / "S1.csv").set_index("unit_id")
    seeds = gold.index[gold["corpus"] == "seeds"]
    if set(seeds) != set(new.index):
        raise SystemExit("the seed re-reading does not cover exactly the seed units of the gold")
    needed = {(u, c) for u in seeds for c in names if gold.at[u, c] != new.at[u, c]}
    for u in seeds:
        for c in names:
            gold.at[u, c] = new.at[u, c]
        gold.at[u, "annotator"] = f"{gold.at[u, 'annotator']}>S1"
    _apply(gold, read(HERE / "seed_reread.csv"), needed, "re-read")
    return len(needed)


def main() -> None:
    names = [c.name for c in load_categories()]
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    parts = []
    for f in sorted((HERE / "annotations").glob("batch_*.csv"), key=lambda p: int(p.stem.split("_")[1])):
        parts.append(read(f).assign(annotator=f"A{f.stem.split('_')[1]}"))
    first = pd.concat(parts, ignore_index=True)
    if not first["unit_id"].is_unique:
        raise SystemExit("a unit was labelled twice in the first annotation")
    second = read(HERE / "annotations" / "double.csv")
    table, exact, n = agreement(first, second, names)
    round1 = {"units": n, "exact_match": round(exact, 4), "macro_kappa": round(float(table["kappa"].mean()), 4),
              "macro_f1": round(float(table["f1"].mean()), 4),
              "per_category": json.loads(table.round(4).to_json(orient="records"))}

    adj = read(HERE / "adjudication.csv")
    both = first.merge(second, on="unit_id", suffixes=("", "_b"))
    gold = first.set_index("unit_id")
    _apply(gold, adj, _disagreements(first, second, names), "adjudicated")
    for uid in both["unit_id"]:
        gold.loc[uid, "annotator"] = f"{gold.loc[uid, 'annotator']}+B1"
    sel = read(HERE / "selection.csv")[["unit_id", "corpus", "source", "position"]].set_index("unit_id")
    gold = gold.join(sel, how="left")
    if gold["corpus"].eq("").any() or gold["corpus"].isna().any():
        raise SystemExit("a labelled unit is not in labels/selection.csv")
    n_reread = reread_seeds(gold, names, read)
    gold = gold.reset_index()
    rounds = [ai_round(r, names, read) for r in AI_ROUNDS]
    first = pd.concat([f for _, f, _ in rounds], ignore_index=True)
    second = pd.concat([s for _, _, s in rounds], ignore_index=True)
    agree_ai = ai_agreement(first, second, names, read)
    per_round = {f"round_{r}": ai_agreement(f, s, names, read) for r, (_, f, s) in zip(AI_ROUNDS, rounds)}
    gold = pd.concat([gold, *[g for g, _, _ in rounds]], ignore_index=True).set_index("unit_id")
    corrections = read(HERE / "corrections.csv")
    known = corrections["unit_id"].isin(gold.index)  # the others name a unit by its id after the migrations
    correct(gold, corrections[known])
    gold = gold.reset_index()
    gold["position"] = gold["position"].astype(int)
    gold = gold.sort_values(["corpus", "source", "position"], kind="stable")
    n_before = len(gold)
    for m in sorted((HERE / "migrations").glob("*.csv")):  # unit ids changed by later ingestion changes
        gold = migrate(gold, read(m), wrapped=m.stem.startswith("issue10"))
    gold = gold.set_index("unit_id")
    correct(gold, corrections[~known])
    gold = gold.reset_index()
    gold[["unit_id", "corpus", "source", *names, "annotator", "note"]].to_csv(HERE / "gold.csv", index=False)
    # the agreement that matters for the product: AI-policy units (round 5); round 1 kept beside it
    (HERE / "agreement.json").write_text(json.dumps(
        {**agree_ai, "domain": f"ai-policies (rounds {', '.join(map(str, AI_ROUNDS))})", **per_round,
         "round_1": round1}, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(gold)} gold units; round 1: {n} double-labelled, exact {exact:.3f}, macro kappa "
          f"{table['kappa'].mean():.3f}; AI policies: {agree_ai['units']} double-labelled, exact "
          f"{agree_ai['exact_match']:.3f}, macro kappa {agree_ai['macro_kappa']:.3f} "
          + "".join(f"(round {r}: {v['units']} units, kappa {v['macro_kappa']:.3f}) " for r, v in
                    zip(AI_ROUNDS, per_round.values())) + f"; {n_reread} seed decisions re-read; "
          f"{n_before} units before the id migrations")
    print(pd.DataFrame(agree_ai["per_category"]).round(3).to_string(index=False))
    print(gold.groupby("corpus")[names].apply(lambda d: d.astype(int).sum()).to_string())


if __name__ == "__main__":
    main()
