"""Within-document near-duplicate detection: templated against unrelated paragraphs, in one run.

    python bench/near_duplicates.py [--n 16000] [--baseline-n 2000] [--seed 0]

Writes two .txt documents of ``--n`` paragraphs each, then times ``aipolicy.ingest`` on each (cleaning,
units, near-duplicate check, city attribution; median of ``--runs``):
(a) unrelated paragraphs: words drawn at random from a small policy vocabulary;
(b) numbered paragraphs that differ only by their number ("推进…第{i}项措施…", a list of measures),
    the case that made the old check quadratic;
(c) table-like rows from three templates with three random numbers each (a table read as one document).
Prints the times and the ratios b/a and c/a (target ≤ 3). With ``--baseline-n`` > 0 it also times the previous
check (every earlier unit sharing a clause or its first/last 10 characters is compared, kept below as
``OldDeduper``) against the current one on ``--baseline-n`` paragraphs of (b) and of (c), and counts
the paragraphs where their decisions differ (the current check looks at ``MAX_PROBES`` index entries
per unit at most, so on long lists of near-identical items it may keep a few the old check dropped). Compare ratios from the same run, not across runs.
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("人工智能", "算力", "数据要素", "大模型", "产业", "创新", "平台", "企业", "应用场景", "人才",
         "治理", "标准", "安全", "开放", "协同", "示范", "集群", "基础设施", "融合", "服务", "高质量",
         "发展", "支持", "建设", "推动", "培育", "完善", "机制", "政策", "资金", "园区", "研发", "评测",
         "语料", "芯片", "智能制造", "医疗", "交通", "教育", "金融", "政务", "城市", "区域", "国际")
LIST_ITEM = "推进人工智能产业发展第{i}项措施，由市经济和信息化局牵头负责落实到位。"
TEMPLATES = (
    "推进第{i}项措施落实，由市经济和信息化局牵头，{a}个部门配合，{b}月底前完成。",
    "第{i}项：支持企业建设人工智能应用场景{a}个，安排专项资金{b}万元。",
    "{i}. 开展算力券发放工作，第{a}批次覆盖企业{b}家。",
)


def unrelated(n: int, rng: random.Random) -> list[str]:
    return ["".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + "。" for _ in range(n)]


def numbered(n: int) -> list[str]:
    return [LIST_ITEM.format(i=i + 1) for i in range(n)]


def templated(n: int, rng: random.Random) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(i=i + 1, a=rng.randint(1, 99), b=rng.randint(1, 9999))
            for i in range(n)]


def time_ingest(path: Path, runs: int) -> tuple[float, int]:
    import aipolicy

    times, n = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        n = len(aipolicy.ingest(path))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), n


# ---------------------------------------------------------------- the previous check, for comparison

_KEY_STRIP = re.compile(r"[\W_]+", re.UNICODE)
_CLAUSE_SPLIT = re.compile(r"[,，、;；。!！?？:：()（）\s]+")


class OldDeduper:
    """The check before issue 14: candidates share a clause (≥ 6 characters) or the first/last 10."""

    def __init__(self, threshold: float = 0.8):
        from aipolicy.units import _shingles

        self.sh, self.threshold = _shingles, threshold
        self.keys, self.kept, self.cache, self.anchors = set(), [], {}, {}

    def seen(self, text: str) -> bool:
        key = _KEY_STRIP.sub("", text)
        if key in self.keys:
            return True
        anchors = {c for c in _CLAUSE_SPLIT.split(text) if len(c) >= 6} | {key[:10], key[-10:]}
        cands = {j for a in anchors for j in self.anchors.get(a, ())}
        k = len(self.kept)
        sh = self.sh(key)
        for j in sorted(cands):
            other = self.cache.setdefault(j, self.sh(self.kept[j]))
            inter = len(sh & other)
            if inter / (len(sh) + len(other) - inter) >= self.threshold:
                return True
        self.keys.add(key)
        self.kept.append(key)
        for a in anchors:
            self.anchors.setdefault(a, []).append(k)
        return False


def compare_baseline(texts: list[str]) -> None:
    from aipolicy.units import duplicate_mask

    t0 = time.perf_counter()
    old = OldDeduper()
    old_mask = [old.seen(t) for t in texts]
    t_old = time.perf_counter() - t0
    t0 = time.perf_counter()
    new_mask = duplicate_mask(texts)
    t_new = time.perf_counter() - t0
    diff = sum(a != b for a, b in zip(old_mask, new_mask))
    print(f"baseline, {len(texts):,} paragraphs: previous check {t_old:.2f} s, current "
          f"{t_new:.3f} s (x{t_old / max(t_new, 1e-9):.0f}); {sum(new_mask)} dropped, "
          f"{diff} decisions differ")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=16000, help="paragraphs per document (default: %(default)s)")
    ap.add_argument("--baseline-n", type=int, default=2000,
                    help="templated paragraphs for the previous check (0: skip; default: %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement, median used (default: 3)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        a, b, c = (Path(tmp) / f"{x}.txt" for x in ("unrelated", "numbered", "templated"))
        a.write_text("\n".join(unrelated(args.n, rng)), encoding="utf-8")
        b.write_text("\n".join(numbered(args.n)), encoding="utf-8")
        c.write_text("\n".join(templated(args.n, rng)), encoding="utf-8")
        time_ingest(a, 1)  # warm up: dictionaries, converters, gazetteer
        ta, na = time_ingest(a, args.runs)
        tb, nb = time_ingest(b, args.runs)
        tc, nc = time_ingest(c, args.runs)
    print(f"(a) {args.n:,} unrelated paragraphs: {ta:.2f} s ({na:,} units)")
    print(f"(b) {args.n:,} numbered list items: {tb:.2f} s ({nb:,} units)")
    print(f"(c) {args.n:,} templated table rows: {tc:.2f} s ({nc:,} units)")
    print(f"ratio b/a = {tb / ta:.2f}, c/a = {tc / ta:.2f} (target <= 3)")
    if args.baseline_n:
        compare_baseline(numbered(args.baseline_n))
        compare_baseline(templated(args.baseline_n, random.Random(args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
