"""How the gold units were chosen (run once, recorded in labels/selection.csv).

    python labels/select_candidates.py --seeds ../shared/seeds \
        --corpus ../shared/corpus/city-reports-2024 --out labels/selection.csv --batches DIR

1. every unit that ingestion makes of the seed articles;
2. every corpus unit that contains a compute, data or algorithm cue term of src/aipolicy/data/categories.yaml
   (these categories are rare in work reports; without this the gold set would have too few);
3. per scenario, talent and governance cue: a random 110 of the corpus units that contain one,
   at most 2 per city (so that no city dominates);
4. a uniform random sample of 400 further corpus units (realistic share of non-AI text).
Round 2 (after round 1 had been read and gave fewer than 80 algorithm and governance positives):
5. every remaining corpus unit naming an AI technology (人工智能, 机器人, 算法, 模型, 视觉, 语音 …);
6. a random 130 of the remaining corpus units naming a governance lever (知识产权, 网络安全, 数据安全,
   个人信息, 检测认证, 标准化, 立法 …), at most 2 per city.
Round 3 (algorithm still short of 80): every remaining corpus unit that names 智能 together with
   research or technology (研发, 攻关, 技术, 实验室, 创新中心, 创新平台).
Round 4 (more training data for the classifier, whose scenario, talent and governance errors were
   the largest): a random 300 remaining units with a scenario cue, 250 with a governance cue, 200 with
   a talent cue, and 250 further uniform random units.
Cue terms only choose which units are read; every label is a reading of the unit against the codebook.
The batches (unit text for the annotators) are written outside the repository.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from aipolicy import ingest

SEED = 20241122
ROUND2_ALGORITHM = "人工智能|机器人|类脑|智能体|元宇宙|虚拟现实|脑机|语音|视觉|算法|模型"
ROUND2_GOVERNANCE = "知识产权|网络安全|数据安全|信息安全|个人信息|检测认证|网络和数据|标准化|立法"
ROUND3_RESEARCH = "研发|攻关|技术|实验室|创新中心|创新平台"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--categories", default="src/aipolicy/data/categories.yaml")
    ap.add_argument("--out", default="labels/selection.csv")
    ap.add_argument("--batches", help="folder for annotation batches (unit texts; keep outside the repo)")
    ap.add_argument("--n-batches", type=int, default=7)
    ap.add_argument("--n-double", type=int, default=170)
    args = ap.parse_args()

    rng = np.random.default_rng(SEED)
    cats = yaml.safe_load(Path(args.categories).read_text(encoding="utf-8"))["categories"]
    seeds = ingest(args.seeds).assign(pool="seed", corpus="seeds")
    corpus = ingest(args.corpus).assign(corpus="city-reports-2024")
    cue = {c["name"]: re.compile("|".join(map(re.escape, c["cues"]))) for c in cats}

    chosen: dict[str, str] = {}
    rare = corpus["text"].str.contains(cue["compute"]) | corpus["text"].str.contains(cue["data"]) \
        | corpus["text"].str.contains(cue["algorithm"])
    for uid in corpus.loc[rare, "unit_id"]:
        chosen.setdefault(uid, "cue:compute/data/algorithm")
    for name in ("scenario", "talent", "governance"):
        hits = corpus[corpus["text"].str.contains(cue[name]) & ~corpus["unit_id"].isin(chosen)]
        hits = hits.iloc[rng.permutation(len(hits))].groupby("source").head(2).head(110)
        for uid in hits["unit_id"]:
            chosen.setdefault(uid, f"cue:{name}")
    rest = corpus[~corpus["unit_id"].isin(chosen)]
    for uid in rest.iloc[rng.permutation(len(rest))[:400]]["unit_id"]:
        chosen.setdefault(uid, "random")
    corp_sel = corpus[corpus["unit_id"].isin(chosen)].assign(pool=lambda d: d["unit_id"].map(chosen))

    sel = pd.concat([seeds, corp_sel], ignore_index=True)
    sel = sel.sort_values(["corpus", "source", "position"], kind="stable").reset_index(drop=True)
    cols = ["unit_id", "corpus", "source", "position", "city", "pool", "round"]
    # second annotation: a seeded sample over seeds and every corpus pool
    double = pd.concat([g.sample(frac=args.n_double / len(sel), random_state=SEED)
                        for _, g in sel.groupby("pool")])
    sel["double"] = sel["unit_id"].isin(double["unit_id"]).astype(int)
    sel["round"] = 1

    # round 2
    rest = corpus[~corpus["unit_id"].isin(chosen)]
    more: dict[str, str] = {}
    ai = rest["text"].str.contains(ROUND2_ALGORITHM)
    for uid in rest.loc[ai, "unit_id"]:
        more[uid] = "cue2:algorithm"
    gov = rest[rest["text"].str.contains(ROUND2_GOVERNANCE) & ~ai]
    gov = gov.iloc[rng.permutation(len(gov))].groupby("source").head(2).head(130)
    for uid in gov["unit_id"]:
        more[uid] = "cue2:governance"
    sel2 = corpus[corpus["unit_id"].isin(more)].assign(pool=lambda d: d["unit_id"].map(more), round=2, double=0)

    # round 3
    rest = rest[~rest["unit_id"].isin(more)]
    r3 = rest[rest["text"].str.contains("智能") & rest["text"].str.contains(ROUND3_RESEARCH)]
    sel3 = r3.assign(pool="cue3:algorithm", round=3, double=0)

    # round 4
    rest = rest[~rest["unit_id"].isin(r3["unit_id"])]
    r4: dict[str, str] = {}
    for name, n in (("scenario", 300), ("governance", 250), ("talent", 200)):
        hits = rest[rest["text"].str.contains(cue[name]) & ~rest["unit_id"].isin(r4)]
        for uid in hits.iloc[rng.permutation(len(hits))[:n]]["unit_id"]:
            r4[uid] = f"cue4:{name}"
    left = rest[~rest["unit_id"].isin(r4)]
    for uid in left.iloc[rng.permutation(len(left))[:250]]["unit_id"]:
        r4[uid] = "random4"
    sel4 = corpus[corpus["unit_id"].isin(r4)].assign(pool=lambda d: d["unit_id"].map(r4), round=4, double=0)
    sel = pd.concat([sel, sel2, sel3, sel4], ignore_index=True)
    sel[cols + ["double"]].to_csv(args.out, index=False)
    print(f"{len(sel)} units ({len(seeds)} seed, {len(corp_sel)} corpus from "
          f"{corp_sel['source'].nunique()} cities); {sel['double'].sum()} for double annotation")
    print(sel["pool"].value_counts().to_string())

    if args.batches:
        out = Path(args.batches)
        out.mkdir(parents=True, exist_ok=True)
        r1 = sel[sel["round"] == 1]
        for k, part in enumerate(np.array_split(np.arange(len(r1)), args.n_batches)):
            _write_batch(out / f"batch_{k + 1}.jsonl", r1.iloc[part])
        _write_batch(out / "double.jsonl", r1[r1["double"] == 1].sample(frac=1.0, random_state=SEED))
        r2 = sel[sel["round"] == 2]
        for k, part in enumerate(np.array_split(np.arange(len(r2)), 2)):
            _write_batch(out / f"batch_{args.n_batches + k + 1}.jsonl", r2.iloc[part])
        _write_batch(out / f"batch_{args.n_batches + 3}.jsonl", sel[sel["round"] == 3])
        r4 = sel[sel["round"] == 4]
        for k, part in enumerate(np.array_split(np.arange(len(r4)), 6)):
            _write_batch(out / f"batch_{args.n_batches + 4 + k}.jsonl", r4.iloc[part])


def _write_batch(path: Path, df: pd.DataFrame) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in df.itertuples():
            fh.write(json.dumps({"unit_id": r.unit_id, "source": r.source, "position": int(r.position),
                                 "city": r.city, "text": r.text}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
