"""Near-duplicate detection: the prefix-filter index decides exactly as comparing every pair."""
from __future__ import annotations

import random

from aipolicy.textnorm import NON_WORD
from aipolicy.units import NEAR_DUP, _shingles, duplicate_mask

from conftest import PARAS


def brute_force(texts: list[str], t: float = NEAR_DUP) -> list[bool]:
    kept: list[set] = []
    keys: set[str] = set()
    out = []
    for text in texts:
        key = NON_WORD.sub("", text)
        sh = _shingles(key)
        dup = key in keys or any(len(sh & o) / len(sh | o) >= t for o in kept)
        out.append(dup)
        if not dup:
            keys.add(key)
            kept.append(sh)
    return out


def _variants(rng: random.Random, n: int) -> list[str]:
    """Reworded copies of the fixture paragraphs: characters dropped, swapped in, or appended."""
    out = []
    for _ in range(n):
        s = list(rng.choice(PARAS))
        for _ in range(rng.choice((0, 1, 2, 3, 6, 12))):
            op, k = rng.random(), rng.randrange(len(s))
            if op < 0.4 and len(s) > 8:
                del s[k]
            elif op < 0.8:
                s[k] = rng.choice("数据算力模型人才治理场景")
            else:
                s.append(rng.choice("，。的和与及"))
        out.append("".join(s))
    return out


def test_same_decisions_as_comparing_every_pair():
    rng = random.Random(7)
    texts = _variants(rng, 400)
    got = duplicate_mask(texts)
    assert got == brute_force(texts)
    assert 0 < sum(got) < len(texts)  # the case mixes kept units and both kinds of duplicates


def test_near_duplicate_with_different_clauses_and_ends_is_found():
    # differs at both ends and in every clause: the previous anchor-based check missed such pairs
    a = "(二)为了订立或者履行自然人作为一方当事人的合同所必需;"
    b = "(三)为了订立或者履行自然人作为一方当事人的合同所必需的;"
    assert duplicate_mask([a, b]) == [False, True]


def test_numbered_items_are_kept_when_different_enough():
    items = [f"第{i}项：支持{c}企业建设应用场景。" for i, c in enumerate("北京上海广州深圳杭州", 1)]
    assert duplicate_mask(items) == brute_force(items)


def test_all_shingle_codes_equal_the_per_key_codes():
    # the one vectorised pass over all keys gives each key's codes as hashing it alone does, short and
    # empty keys and a lone surrogate included
    import numpy as np

    from aipolicy.units import _all_shingle_codes, _shingle_codes

    rng = random.Random(3)
    keys = [NON_WORD.sub("", t) for t in _variants(rng, 60)] + ["", "数", "数据", "算力券", "ab\udcff", "数据数据数据"]
    rng.shuffle(keys)
    owner, codes = _all_shingle_codes(keys)
    for i, key in enumerate(keys):
        assert np.array_equal(codes[owner == i], _shingle_codes(key)), key


def test_no_match_shortcut_only_when_brute_force_finds_none():
    # _none_can_match answers "no duplicates" without the index; it must never say so of texts with one,
    # and it must say so of distinct paragraphs (the common document)
    from aipolicy.textnorm import strip_non_word
    from aipolicy.units import _none_can_match, _position_codes

    rng = random.Random(11)
    pool = _variants(rng, 300) + PARAS
    shortcuts = 0
    for _ in range(300):
        texts = rng.sample(pool, rng.choice((2, 3, 5, 8, 20)))
        for t in (NEAR_DUP, 0.5, 0.95):
            keys = strip_non_word(texts)
            if _none_can_match(len(keys), *_position_codes(keys), t):
                shortcuts += 1
                assert not any(brute_force(texts, t)), texts
    assert shortcuts > 100
    keys = strip_non_word(PARAS)
    assert _none_can_match(len(keys), *_position_codes(keys), NEAR_DUP)
    assert not _none_can_match(2, *_position_codes(["数据", "数据"]), NEAR_DUP)  # equal keys match
