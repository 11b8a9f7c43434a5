"""Duplicate files and near-duplicate documents."""
from __future__ import annotations

from aipolicy.duplicates import DocumentDeduper, FileDeduper

from conftest import PARAS


def test_same_file_twice_and_identical_copy(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("\n".join(PARAS), encoding="utf-8")
    b = tmp_path / "b.txt"
    b.write_bytes(a.read_bytes())
    c = tmp_path / "c.txt"
    c.write_text("\n".join(PARAS[:3]), encoding="utf-8")
    d = FileDeduper()
    assert d.check(a) is None
    assert d.check(tmp_path / "." / "a.txt").startswith("same file as")
    assert d.check(b) == f"identical to {a}"
    assert d.check(c) is None


def test_file_deduper_hashes_only_files_of_a_shared_size(tmp_path, monkeypatch):
    """Files of sizes met once are never hashed; the first of a size is hashed when a second comes, and
    identical files are found in input order as when every file was hashed."""
    import aipolicy.duplicates as dup

    hashed = []
    real_sha = dup.file_sha256
    monkeypatch.setattr(dup, "file_sha256", lambda p: hashed.append(str(p)) or real_sha(p))
    files = {}
    for name, text in [("a", "甲" * 10), ("b", "乙" * 12), ("c", "丙" * 10), ("d", "甲" * 10), ("e", "乙" * 12),
                       ("f", "丁" * 30), ("g", "丙" * 10)]:
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text(text, encoding="utf-8")
    d = FileDeduper()
    got = {n: d.check(p) for n, p in files.items()}
    assert got == {"a": None, "b": None, "c": None, "d": f"identical to {files['a']}",
                   "e": f"identical to {files['b']}", "f": None, "g": f"identical to {files['c']}"}
    assert str(files["f"]) not in hashed  # its size is its own
    assert sorted(hashed) == sorted(str(files[n]) for n in "abcdeg")  # each hashed once
    assert d.check(files["f"]).startswith("same file as")


def test_near_duplicate_documents():
    d = DocumentDeduper()
    article = PARAS[1:]
    assert d.check("doc1", ["某网站 首页", *article]) == ""
    # the same article with other chrome and one paragraph edited
    edited = article[:-1] + [article[-1].replace("完善标准体系", "健全标准体系")]
    assert d.check("doc2", ["另一个网站", *edited, "责任编辑：某某"]) == "doc1"
    assert d.check("doc3", ["完全不同的文章，讨论算力调度和绿色数据中心的建设问题。"] * 2) == ""
    assert d.check("doc4", PARAS[1:3]) == ""  # shares two of six paragraphs: not a duplicate


def test_sketch_equals_the_plain_definition():
    # the bottom-k unique values of ((5-gram polynomial in _BASE) * _MIX mod 2**64) >> 32 over the
    # letters and digits of the text, hashed in place in numpy and sorted in 32 bits
    import random

    from aipolicy.duplicates import _BASE, _MIX, SHINGLE, sketch
    from aipolicy.textnorm import NON_WORD

    def plain(paragraphs, k):
        cps = [ord(c) for c in NON_WORD.sub("", "".join(paragraphs))]
        hashes = set()
        for i in range(len(cps) - SHINGLE + 1):
            h = 0
            for c in cps[i:i + SHINGLE]:
                h = (h * int(_BASE) + c) % 2**64
            hashes.add((h * int(_MIX) % 2**64) >> 32)
        return tuple(sorted(hashes)[:k])

    rng = random.Random(2)
    alphabet = list("数据算力模型，。 ab12") + ["\U00020000", "\uffff"]
    for n in (0, 4, 5, 6, 40, 700, 3000):
        paragraphs = ["".join(rng.choice(alphabet) for _ in range(n)) for _ in range(rng.randint(1, 3))]
        for k in (1, 16, 128):
            assert sketch(paragraphs, k) == plain(paragraphs, k)
