"""Round 5: which units of the AI-policy corpus were read for the gold set (recorded in
labels/selection_ai_policies.csv).

    python labels/select_ai_policies.py --corpus ../shared/corpus/ai-policies \
        --out labels/selection_ai_policies.csv --batches /work/annot/r5

Random share: every document of the corpus is cut into runs of 5 consecutive units and a random
fifth of the runs (at least one per document) is drawn, so every document and level is covered and
annotators read each unit with its neighbours. The active-learning share is drawn afterwards by
`aipolicy suggest` (uncertainty and diversity under the current model, spread over documents) from the
units not drawn here, and appended to the same file with pool `active`.

Each annotation batch also carries a double slice: whole runs taken from the next batch, read again by
an annotator who never sees the first labels (inter-annotator agreement, labels/AGREEMENT.md).
Unit texts go to --batches, outside the repository; the repository keeps ids only.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from aipolicy import ingest

SEED = 20261125
RUN = 5
COLUMNS = ["unit_id", "source", "position", "city", "text"]  # what an annotator sees


def levels(corpus, sources: pd.Series) -> pd.Series:
    """The level (national / province / city / district) of each unit's document, from the corpus's index.csv."""
    index = pd.read_csv(Path(corpus) / "index.csv", dtype=str)
    level = dict(zip(index["file"], index["level"]))
    return sources.map(lambda s: level.get(Path(s).name))


def write_batch(units: pd.DataFrame, path: Path) -> None:
    """One unit per line (JSONL), the columns an annotator sees."""
    units[COLUMNS].to_json(path, orient="records", lines=True, force_ascii=False)


def random_runs(units: pd.DataFrame, rng: np.random.Generator, share: float) -> pd.DataFrame:
    picked = []
    for _, doc in units.groupby("source", sort=True):
        doc = doc.sort_values("position")
        runs = [doc.iloc[i:i + RUN] for i in range(0, len(doc), RUN)]
        k = max(1, round(share * len(runs)))
        for j in sorted(rng.choice(len(runs), size=k, replace=False)):
            picked.append(runs[j].assign(run=f"{doc['source'].iat[0]}#{j}"))
    return pd.concat(picked, ignore_index=True)


def write_batches(sel: pd.DataFrame, folder: Path, n_batches: int, double_runs: int, prefix: str,
                  rng: np.random.Generator) -> pd.DataFrame:
    """Deal whole documents' runs to batches; batch i also reads `double_runs` runs of batch i+1."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = sel["run"].drop_duplicates().tolist()
    batch_of = {r: i % n_batches for i, r in enumerate(runs)}  # runs are in document order
    sel = sel.assign(batch=[f"{prefix}{batch_of[r] + 1}" for r in sel["run"]], double="")
    for i in range(n_batches):
        own = sel[sel["batch"] == f"{prefix}{i + 1}"]
        write_batch(own, folder / f"{prefix}{i + 1}.jsonl")
        nxt = sel[sel["batch"] == f"{prefix}{(i + 1) % n_batches + 1}"]
        nxt_runs = nxt["run"].drop_duplicates().tolist()
        chosen = set(rng.choice(nxt_runs, size=min(double_runs, len(nxt_runs)), replace=False))
        dbl = nxt[nxt["run"].isin(chosen)]
        sel.loc[dbl.index, "double"] = f"{prefix}{i + 1}d"
        write_batch(dbl, folder / f"{prefix}{i + 1}d.jsonl")
    return sel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", default="labels/selection_ai_policies.csv")
    ap.add_argument("--batches", required=True, help="folder for unit texts (outside the repository)")
    ap.add_argument("--share", type=float, default=0.2)
    ap.add_argument("--n-batches", type=int, default=6)
    ap.add_argument("--double-runs", type=int, default=8)
    ap.add_argument("--active", type=int, default=0, metavar="N",
                    help="instead: append N units chosen by `aipolicy suggest` under the shipped model")
    ap.add_argument("--active-batches", type=int, default=3)
    ap.add_argument("--double-units", type=int, default=35)
    ap.add_argument("--cue-pool", action="store_true",
                    help="instead: append every remaining unit with an algorithm or compute cue term")
    ap.add_argument("--round", nargs=3, type=int, metavar=("N", "RUNS", "ACTIVE"), dest="later_round",
                    help="instead: round N ≥ 6, RUNS new random runs and ACTIVE suggested units, in --k batches")
    ap.add_argument("--k", type=int, default=3, help="batches (annotators) of a --round or --rest")
    ap.add_argument("--rest", type=int, metavar="N", help="instead: round N, every unit not read before, all "
                    "read twice")
    args = ap.parse_args()
    if args.rest:
        return add_rest(args, args.rest, k=args.k)
    if args.later_round:
        return add_round(args, *args.later_round, k=args.k)
    if args.active:
        return add_active(args)
    if args.cue_pool:
        return add_cue_pool(args)

    rng = np.random.default_rng(SEED)
    units = ingest(args.corpus)
    sel = random_runs(units, rng, args.share)
    sel = write_batches(sel, Path(args.batches), args.n_batches, args.double_runs, "R", rng)
    out = sel.assign(corpus="ai-policies", pool="random", round=5, level=levels(args.corpus, sel["source"]))
    out[["unit_id", "corpus", "source", "position", "level", "pool", "round", "batch", "double"]].to_csv(
        args.out, index=False)
    print(f"{len(out)} units from {out['source'].nunique()} of {units['source'].nunique()} documents; "
          f"double: {(out['double'] != '').sum()}")
    print(out.groupby("level")["source"].agg(["size", "nunique"]))
    print(out.groupby("batch").size())


def add_active(args) -> None:
    """Active-learning share: `suggest` (uncertainty + diversity, spread over documents) under the
    shipped default model, from the units not drawn before; each batch re-reads some of the next one's."""
    from aipolicy.annotate import suggest
    from aipolicy.models import load_predictor

    rng = np.random.default_rng(SEED + 1)
    prev = pd.read_csv(args.out, dtype=str, keep_default_na=False)
    units = ingest(args.corpus)
    model = load_predictor()
    sel = suggest(units, model, n=args.active, exclude_ids=prev["unit_id"])
    k = args.active_batches
    sel["batch"] = [f"A{i % k + 1}" for i in range(len(sel))]  # ranks dealt in turn
    sel["double"] = ""
    folder = Path(args.batches)
    for i in range(k):
        write_batch(sel[sel["batch"] == f"A{i + 1}"].sort_values(["source", "position"]), folder / f"A{i + 1}.jsonl")
        nxt = sel[sel["batch"] == f"A{(i + 1) % k + 1}"]
        dbl = nxt.loc[sorted(rng.choice(nxt.index, size=min(args.double_units, len(nxt)), replace=False))]
        sel.loc[dbl.index, "double"] = f"A{i + 1}d"
        write_batch(dbl.sort_values(["source", "position"]), folder / f"A{i + 1}d.jsonl")
    out = sel.assign(corpus="ai-policies", pool="active", round=5,
                     level=levels(args.corpus, sel["source"]))
    out = pd.concat([prev, out[prev.columns].astype(str)], ignore_index=True)
    out.to_csv(args.out, index=False)
    print(f"{len(sel)} active-learning units from {sel['source'].nunique()} documents "
          f"(model {model.card_.get('version', '?')}); double: {(sel['double'] != '').sum()}")


def add_cue_pool(args, batches: int = 2) -> None:
    """Algorithm and compute are rare in a corpus dominated by data regulations: after the random and
    active shares, every remaining unit containing an algorithm or compute cue term of
    src/aipolicy/data/categories.yaml is read (cue terms choose what is read; the reading decides the labels).
    Evaluation on the AI-policy domain is also reported on the random share alone, which no cue chose."""
    import re

    import yaml

    cats = {c["name"]: c["cues"] for c in yaml.safe_load(
        Path("src/aipolicy/data/categories.yaml").read_text(encoding="utf-8"))["categories"]}
    pat = re.compile("|".join(map(re.escape, cats["algorithm"] + cats["compute"])))
    prev = pd.read_csv(args.out, dtype=str, keep_default_na=False)
    units = ingest(args.corpus)
    sel = units[~units["unit_id"].isin(prev["unit_id"]) & units["text"].str.contains(pat)]
    sel = sel.sort_values(["source", "position"]).reset_index(drop=True)
    sel["batch"] = [f"T{i * batches // len(sel) + 1}" for i in range(len(sel))]
    sel["double"] = ""
    for b, part in sel.groupby("batch"):
        write_batch(part, Path(args.batches) / f"{b}.jsonl")
    out = sel.assign(corpus="ai-policies", pool="cue: algorithm/compute", round=5,
                     level=levels(args.corpus, sel["source"]))
    pd.concat([prev, out[prev.columns].astype(str)], ignore_index=True).to_csv(args.out, index=False)
    print(f"{len(sel)} cue units from {sel['source'].nunique()} documents")


ROUND_PREFIX = {6: "B", 7: "C", 9: "D"}  # batch names of rounds after 5 (round 8 re-read gold units: labels/reread.py)


def add_round(args, rnd: int, n_runs: int, n_active: int, k: int = 3, double_units: int = 35) -> None:
    """Rounds 6 and later, after the previous model still lost most on algorithm and scenario: more random
    runs of 5 units (runs with no unit read before, drawn uniformly over the corpus) and more active-learning
    units (`suggest` under the shipped model, excluding everything read), dealt to ``k`` batches (B1..Bk in
    round 6, C1..Ck in round 7); batch i also re-reads ``double_units`` units of batch i+1 without seeing
    their labels."""
    from aipolicy.annotate import suggest
    from aipolicy.models import load_predictor

    prefix = ROUND_PREFIX[rnd]
    rng = np.random.default_rng(SEED + rnd)
    prev = pd.read_csv(args.out, dtype=str, keep_default_na=False)
    # ids read before, also under their current ids (labels/migrations/ renamed some after they were read)
    seen = set(prev["unit_id"]) | set(pd.read_csv(Path(__file__).with_name("gold.csv"), dtype=str)["unit_id"])
    units = ingest(args.corpus)
    runs = []
    for _, doc in units.groupby("source", sort=True):
        doc = doc.sort_values("position")
        runs += [doc.iloc[i:i + RUN] for i in range(0, len(doc), RUN)
                 if not seen & set(doc["unit_id"].iloc[i:i + RUN])]
    picked = sorted(rng.choice(len(runs), size=min(n_runs, len(runs)), replace=False))
    rnd_units = pd.concat([runs[i] for i in picked]).assign(pool="random")
    act = suggest(units, load_predictor(), n=n_active,
                  exclude_ids=seen | set(rnd_units["unit_id"])).assign(pool="active")
    sel = pd.concat([rnd_units, act[rnd_units.columns.drop("pool").tolist() + ["pool"]]], ignore_index=True)
    sel = sel.sort_values(["source", "position"]).reset_index(drop=True)
    sel["batch"] = [f"{prefix}{i * k // len(sel) + 1}" for i in range(len(sel))]  # contiguous: neighbours together
    sel["double"] = ""
    folder = Path(args.batches)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(k):
        write_batch(sel[sel["batch"] == f"{prefix}{i + 1}"], folder / f"{prefix}{i + 1}.jsonl")
        nxt = sel[sel["batch"] == f"{prefix}{(i + 1) % k + 1}"]
        dbl = nxt.loc[sorted(rng.choice(nxt.index, size=min(double_units, len(nxt)), replace=False))]
        sel.loc[dbl.index, "double"] = f"{prefix}{i + 1}d"
        write_batch(dbl, folder / f"{prefix}{i + 1}d.jsonl")
    out = sel.assign(corpus="ai-policies", round=rnd, level=levels(args.corpus, sel["source"]))
    pd.concat([prev, out[prev.columns].astype(str)], ignore_index=True).to_csv(args.out, index=False)
    print(f"round {rnd}: {len(rnd_units)} random units ({len(picked)} runs), {len(act)} active units, from "
          f"{sel['source'].nunique()} documents; double: {(sel['double'] != '').sum()}")
    print(sel.groupby(["batch", "pool"]).size().to_string())


def add_rest(args, rnd: int, k: int = 7) -> None:
    """Round 9: after rounds 5-7 and the re-reading of round 8, every unit of the corpus not read before
    (pool "rest": no sampling at all, so the AI-policy gold becomes the whole corpus). Whole documents are
    dealt to ``k`` batches (largest first, each to the batch with the fewest units); every batch is read by
    two annotators who never see each other's labels (D1 and D1d, ...), in document order, each unit with
    the start of its neighbours as context."""
    prefix = ROUND_PREFIX[rnd]
    prev = pd.read_csv(args.out, dtype=str, keep_default_na=False)
    seen = set(prev["unit_id"]) | set(pd.read_csv(Path(__file__).with_name("gold.csv"), dtype=str)["unit_id"])
    units = ingest(args.corpus).sort_values(["source", "position"]).reset_index(drop=True)
    same = units["source"].eq(units["source"].shift(1))
    units["before"] = units["text"].shift(1).str[:160].where(same, "")
    units["after"] = units["text"].shift(-1).str[:160].where(units["source"].eq(units["source"].shift(-1)), "")
    rest = units[~units["unit_id"].isin(seen)].copy()
    load, batch_of = [0] * k, {}
    for source, n in rest.groupby("source").size().sort_values(ascending=False, kind="stable").items():
        i = int(np.argmin(load))
        batch_of[source], load[i] = f"{prefix}{i + 1}", load[i] + n
    rest["batch"] = rest["source"].map(batch_of)
    rest["double"] = rest["batch"] + "d"
    folder = Path(args.batches)
    folder.mkdir(parents=True, exist_ok=True)
    for b, part in rest.groupby("batch"):
        part[COLUMNS[:-1] + ["before", "text", "after"]].to_json(folder / f"{b}.jsonl", orient="records",
                                                                lines=True, force_ascii=False)
    out = rest.assign(corpus="ai-policies", pool="rest", round=rnd,
                      level=levels(args.corpus, rest["source"]))
    pd.concat([prev, out[prev.columns].astype(str)], ignore_index=True).to_csv(args.out, index=False)
    print(f"round {rnd}: {len(rest)} remaining units of {rest['source'].nunique()} documents in {k} batches "
          f"({', '.join(map(str, load))} units), each read twice")


if __name__ == "__main__":
    main()
