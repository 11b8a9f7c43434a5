"""The vectorised hot-path helpers give exactly what the plain versions they replaced gave."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from aipolicy.ingest import _FULLWIDTH, halfwidth
from aipolicy.predictor import count_matrix, cue_presence, label_strings, mask_columns, top_terms


def _plain_top_terms(X, predicted, coef, names, k=3):
    """The per-unit loop that top_terms replaced."""
    n_words = len(names)
    Xw = X if X.shape[1] == n_words else X[:, :n_words].tocsr()
    W = np.asarray(coef[:, :n_words])
    out = []
    for i in range(Xw.shape[0]):
        cats = np.flatnonzero(predicted[i])
        lo, hi = Xw.indptr[i], Xw.indptr[i + 1]
        if not len(cats) or lo == hi:
            out.append("")
            continue
        idx, val = Xw.indices[lo:hi], Xw.data[lo:hi]
        contrib = (W[cats][:, idx] * val).max(axis=0)
        order = np.argsort(-contrib, kind="stable")[:k]
        out.append(";".join(names[idx[o]] for o in order if contrib[o] > 0))
    return out


@pytest.mark.parametrize("width", [1 << 12, 1 << 27])  # positions in 32 bits; over 2**31: in 64 bits
@pytest.mark.parametrize("seed", range(5))
def test_count_matrix_equals_scipy_sum_duplicates(seed, width):
    rng = np.random.default_rng(seed)
    n = 40
    rows = rng.integers(0, n, 3000)
    cols = rng.integers(0, 60, 3000) * 67 % width  # many duplicates
    rows[:50] = n - 1  # a busy last row; some rows stay empty
    ref = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, width))
    ref.sum_duplicates()
    got = count_matrix(rows, cols, (n, width))
    assert got.has_sorted_indices
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.data, ref.data)
    assert count_matrix(np.array([], int), np.array([], int), (3, 8)).nnz == 0


@pytest.mark.parametrize("seed", range(5))
def test_top_terms_equals_the_per_unit_loop(seed):
    rng = np.random.default_rng(seed)
    n, words, extra, k = 60, 30, 10, 4
    X = sp.random(n, words + extra, density=0.2, random_state=seed, format="csr")
    X.data = np.round(X.data, 1)  # ties in the pushes
    X = X.tolil()
    X[5] = 0  # an empty row
    X = X.tocsr()
    coef = np.round(rng.normal(size=(k, words + extra)), 1)
    predicted = rng.random((n, k)) < 0.4
    names = [f"w{i}" for i in range(words)]
    assert top_terms(X, predicted, coef, names) == _plain_top_terms(X, predicted, coef, names)
    assert top_terms(X, predicted, sp.csr_matrix(coef), names, k=2) == _plain_top_terms(X, predicted, coef, names, 2)
    for few in (rng.random((n, k)) < 0.03, np.zeros((n, k), dtype=bool)):  # most units, or all, without labels
        assert top_terms(X, few, coef, names) == _plain_top_terms(X, few, coef, names)


def test_label_strings():
    cats = np.array(["a", "b", "c"])
    pred = np.array([[0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]])
    assert label_strings(pred, cats) == [";".join(cats[np.flatnonzero(r)]) for r in pred]


def test_halfwidth_equals_translate():
    samples = ["", "plain ascii", "全角，标点（ＡＢＣ）：１２３！", "\u3000开头空格", "～\uff5f\uff00\uff01",
               "lone \ud800 surrogate，", "混合 text ｗｉｔｈ　spaces"]
    for s in samples:
        assert halfwidth(s) == s.translate(_FULLWIDTH)


def test_lazy_package_keeps_the_api_names():
    import subprocess
    import sys

    code = ("import sys, aipolicy; assert 'pandas' not in sys.modules; import aipolicy.batch; "
            "from aipolicy import ingest, label_files, load_model, AipolicyError; "
            "assert callable(ingest) and ingest.__module__ == 'aipolicy.ingest'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_whitespace_tidying_in_one_pass_equals_line_by_line():
    from aipolicy.textnorm import _SPACE_BY_HAN, _SPACE_BY_HAN_DISPLAY, _SPACE_RUN, _lines

    def by_line(text, by_han):  # the rule as stated: each line collapsed, stripped, spaces by Chinese dropped
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return "\n".join(by_han.sub("", _SPACE_RUN.sub(" ", line).strip()) for line in text.split("\n"))

    samples = ["", " ", "\n\n", "数据 \n 算力", "  中 文  \t\u3000字\u00a0\u00a0 A B \r\n 模型 ， 数据 。\u2003",
               "a  b\n\u3000\u3000第一条  总则 \r 二 、 目标\n\n 《规划》 “数据” ABC  ", "x \u2003\n\u2003 y 中 z"]
    import re

    from aipolicy.textnorm import _CJK_PUNCT, _HAN, _KEPT_PUNCT

    # the space rules as first written (lookbehind or lookahead around a space)
    old = {_SPACE_BY_HAN: re.compile(rf"(?<=[{_HAN}{_CJK_PUNCT}]) | (?=[{_HAN}{_CJK_PUNCT}])"),
           _SPACE_BY_HAN_DISPLAY: re.compile(rf"(?<=[{_HAN}{_KEPT_PUNCT}]) | (?=[{_HAN}{_KEPT_PUNCT}])")}
    for s in samples + ["中 文  字 a b 。 x", " 中", "中 ", "a 。 b", "《 书 》 x  y"]:
        for by_han in (_SPACE_BY_HAN, _SPACE_BY_HAN_DISPLAY):
            assert _lines(s, by_han) == by_line(s, old[by_han]), repr(s)
            assert by_han.sub("", s) == old[by_han].sub("", s), repr(s)


def test_csv_body_equals_pandas_csv():
    # the label runner writes CSV rows without pandas: the same bytes as write_csv (pandas' to_csv)
    import io

    import pandas as pd

    from aipolicy.tables import csv_body, write_csv

    cols = {"unit_id": ["a1", "b2", "c3", "d4"], "position": [0, 1, 2, 30],
            "city_evidence": [None, "", "北京市", "a,b"],
            "text": ['他说"好"，数据', "line\nbreak", "cr\ronly", "=HYPERLINK(x)"],
            "p_data": np.array([0.1234, 1e-05, 0.0, 1.0]), "p_x": np.round(np.array([0.99995, 0.5, 1 / 3, 2e-4]), 4),
            "labels": ["data;compute", "", "talent", ""]}
    names = list(cols)
    buf = io.StringIO()
    write_csv(pd.DataFrame(cols)[names], buf, header=False)
    assert csv_body(cols, names) == buf.getvalue().encode("utf-8")
    # float columns with NaN or infinities, a list of floats: value by value, still pandas' bytes
    cols = {"a": np.array([0.5, np.nan, 1e-300, 2.0]), "b": np.array([np.inf, -np.inf, 0.1, -0.0]),
            "c": np.array([0.1, 0.25, 3, 1e20]), "d": [0.5, float("nan"), None, 1.5]}
    buf = io.StringIO()
    write_csv(pd.DataFrame(cols), buf, header=False)
    assert csv_body(cols, list(cols)) == buf.getvalue().encode("utf-8")


@pytest.mark.parametrize("seed", [0, 1])
def test_scipy_free_sparse_arithmetic_is_bit_identical(seed):
    # the label path's Csr operations against the scipy operations they replace: same bits
    import scipy.sparse as sp

    from aipolicy.predictor import _count_csr, _cue_csr, _mask_csr, _tfidf, cue_pattern

    rng = np.random.default_rng(seed)
    n, width = 40, 300
    rows = np.sort(rng.integers(0, n - 3, 2000))  # the last rows stay empty
    counts = _count_csr(rows, rng.integers(0, width, 2000), (n, width))
    idf = rng.uniform(1, 9, width)
    keep = np.sort(rng.choice(width, 200, replace=False))
    W = rng.normal(size=(width, 6))

    ref = mask_columns(counts.tocsr().copy(), keep)  # the scipy versions (mask_columns works in place)
    ref = ref.astype(np.float64, copy=True)
    np.log(ref.data, out=ref.data)
    ref.data += 1.0
    ref.data *= idf[ref.indices]
    norms = np.sqrt(np.asarray(sp.csr_matrix((ref.data * ref.data, ref.indices, ref.indptr),
                                             shape=ref.shape).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    ref.data /= np.repeat(norms, np.diff(ref.indptr))
    got = _tfidf(_mask_csr(counts, keep), idf)
    assert np.array_equal(got.indptr, ref.indptr) and np.array_equal(got.indices, ref.indices)
    assert np.array_equal(got.data, ref.data)
    assert np.array_equal(got.dot_dense(np.ascontiguousarray(W.T)), ref @ W)

    terms = ["数据", "数据要素", "算力", "人才", "模型"]
    texts = ["数据要素和算力", "", "人才人才模型数据", "无关", "算力数据模型人才数据要素"]
    cues = _cue_csr(texts, terms, cue_pattern(terms))
    ref_cues = cue_presence(texts, terms)
    assert np.array_equal(cues.tocsr().toarray(), ref_cues.toarray())
    assert np.array_equal(cues.indices, ref_cues.indices) and np.array_equal(cues.indptr, ref_cues.indptr)
    assert np.array_equal(cues.dot_dense(W[:5].T), ref_cues @ W[:5])


def test_bottom_unique_and_doc_number_prefilter():
    from aipolicy.duplicates import _bottom_unique
    from aipolicy.metadata import _DOC_NUMBER_RE, _doc_number

    rng = np.random.default_rng(5)
    for h in (rng.integers(0, 50, 3000), rng.integers(0, 2**32, 3000), np.repeat(np.arange(10), 100),
              rng.integers(0, 2**32, 100), np.zeros(0, dtype=np.uint64)):
        h = h.astype(np.uint64)
        assert np.array_equal(_bottom_unique(h, 128), np.unique(h)[:128])
    lines = ["嘉政办发〔2025〕18号", "关于印发的通知 浙政发[ 2024 ] 3 号文件", "省人民政府令第 12 号", "令 第三号",
             "第5号", "2025年第3号公告", "（2023）5号", "国发【2019】7号x", "无文号", "号", "人民政府令 第一百二十号"]
    for s in lines:
        want = _DOC_NUMBER_RE.search(s)
        got = _doc_number(s)
        assert (got and got.group(0)) == (want and want.group(0)), s


def test_nfkc_by_line_and_space_runs_equal_the_plain_versions():
    import re
    import unicodedata

    from aipolicy.textnorm import _SPACE_RUN, nfkc_by_line

    samples = ["", "\n", "ＡＢＣ１２３\n普通一行\n……①ﬁ\u3000全角\n", "e\n\u0301x", "a\u0301\nb", "㍿\n\n㈱\n",
               "第一行\n\uff76\uff9e\n最后"]
    for s in samples:
        assert nfkc_by_line(s) == unicodedata.normalize("NFKC", s), repr(s)
    plain = re.compile(r"[ \t\u00a0\u3000]+")
    for s in ["", " ", "  ", "a b", "a  b", "a\tb", " \u3000 x\u00a0y  \t z", "\u3000", "中 文　字"]:
        assert _SPACE_RUN.sub(" ", s) == plain.sub(" ", s), repr(s)


def test_csv_body_escapes_names_that_are_not_utf8():
    from aipolicy.tables import csv_body

    cols = {"file": ["ok.txt", "\udcb1\udcb1.txt", None], "units": [1, 2, 3], "p": [0.5, float("nan"), 1e-05]}
    assert csv_body(cols, ["file", "units", "p"]) == b"ok.txt,1,0.5\r\n\\xb1\\xb1.txt,2,\r\n,3,1e-05\r\n"


@pytest.mark.parametrize("block", [None, 1, 7, 150])
@pytest.mark.parametrize("seed", [0, 1])
def test_dot_weights_equals_the_column_by_column_products(seed, block, monkeypatch):
    # one gather of each entry's k weights from the transposed weights; the same bits as the loop it
    # replaced (one pass per output column over that column's weights)
    # (in blocks of rows of about ``block`` entries: a row longer than a block is a block of its own; the
    # last rows are empty)
    from aipolicy import predictor
    from aipolicy.predictor import _count_csr, _tfidf

    if block is not None:
        monkeypatch.setattr(predictor, "_DOT_BLOCK", block)
    rng = np.random.default_rng(seed)
    n, width, k = 30, 500, 6
    X = _tfidf(_count_csr(np.sort(rng.integers(0, n - 2, 3000)), rng.integers(0, width, 3000), (n, width)),
               rng.uniform(1, 5, width))
    Wt = rng.normal(size=(k, width))
    rows, cols = X.row_ids(), X.indices.astype(np.intp)
    ref = np.zeros((n, k))
    for j in range(k):
        ref[:, j] = np.bincount(rows, weights=X.data * Wt[j].take(cols), minlength=n)
    assert np.array_equal(X.dot_weights(np.ascontiguousarray(Wt.T)), ref)
    assert np.array_equal(X.dot_dense(Wt), ref)
    assert np.array_equal(X.dot_dense(Wt[::-1]), ref[:, ::-1])  # a view of the weights, not contiguous


def test_segment_ids_cuts_joined_texts_as_one_by_one():
    from aipolicy.predictor import segment_ids, separator_vocabulary, word_ids
    from aipolicy.tokens import _cutter

    cut = _cutter()
    base = ["推动人工智能产业发展，建设算力中心。", "", "  ", "AI 大模型 2.0版", "数据要素×", "。", "深圳市"]
    vocab = {w: i for i, w in enumerate(sorted({w for t in base for w in cut(t) if w.isalnum()}))}
    cases = [base, base[:1], [], ["", ""], ["以\r", "数据"], ["含\n换行的文本", "算力"], ["a\r\nb", "c"],
             [t + " " for t in base], ["\t" + t for t in base]]
    for texts in cases:
        ref = word_ids(map(cut, texts), vocab)
        for v in (vocab, separator_vocabulary(vocab)):
            got = segment_ids(texts, v, cut)
            assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1]), texts
            assert got[0].dtype == ref[0].dtype and got[1].dtype == ref[1].dtype
    with pytest.raises(ValueError):
        separator_vocabulary({"\n": 0})


def test_metadata_line_tests_equal_the_regex_scans_they_replace():
    import re
    import sys

    from aipolicy.metadata import (_DATE_RE, _FOUR_HAN, _ISO_DATE_RE, _WORK_REPORT_BODY, _is_date_line,
                                   _work_report_sections)

    # str.split() removes exactly what re's \s matches (so _is_date_line's join equals re.sub(r"\s+", "", …))
    ws = re.compile(r"\s")
    assert all((ws.match(c) is not None) == c.isspace() for c in map(chr, range(sys.maxunicode + 1)))
    lines = ["2025年6月12日", " 2025 年 6 月 12 日 ", "二〇二五年六月十二日", "2025-06-12", "\u30002025年\u3000", "x" * 20,
             "关于印发《人工智能行动方案》的通知", "人民政府", "a b", "", "abc数据要素", "数据要", "一二三四", "１２３数据要素！"]
    for ln in lines:
        s = re.sub(r"\s+", "", ln)
        ref = bool(s) and len(s) <= 14 and bool(_DATE_RE.fullmatch(s) or _ISO_DATE_RE.fullmatch(s))
        assert _is_date_line(ln) == ref, ln
        assert (_FOUR_HAN.match(ln) is None) == (len(re.findall(r"[\u4e00-\u9fff]", ln)) < 4), ln
    # long lines (the first 64 characters decide when they hold more than 14 that are not spaces)
    import random

    rng = random.Random(4)
    dates = ["2025年6月12日", "二〇二五年十二月三十一日", "2025-06-12", "2025年6月", "2025/6/1"]
    spaces = ["", "", " ", "\u3000", "\t", " " * 30, " " * 70]
    for _ in range(5000):
        ln = rng.choice(spaces) + "".join(c + rng.choice(spaces) for c in rng.choice(dates)) + rng.choice(
            ["", "", "日", "x" * 60])
        s = re.sub(r"\s+", "", ln)
        ref = bool(s) and len(s) <= 14 and bool(_DATE_RE.fullmatch(s) or _ISO_DATE_RE.fullmatch(s))
        assert _is_date_line(ln) == ref, ln
    texts = [["一、2024年工作回顾", "加强政府自身建设", "今年主要工作任务"], ["年工作安排"], ["工作", "回顾"], [],
             ["二、工作回顾与今年工作安排"]]
    for t in texts:
        assert _work_report_sections(t) == {m.group(0)[-4:] for m in _WORK_REPORT_BODY.finditer("\n".join(t))}, t


def test_lines_prechecks_skip_only_substitutions_that_change_nothing():
    # _lines runs the control-character and space-run substitutions only when a cheap test says they can
    # match; the result equals running them always, on random texts rich in the characters concerned
    import random

    from aipolicy.textnorm import (_CONTROLS, _LINE_SEPARATORS, _SPACE_BY_HAN, _SPACE_BY_HAN_DISPLAY, _SPACE_RUN,
                                   _lines, has_space_run)

    def always(text, by_han):
        text = _CONTROLS.sub("", _LINE_SEPARATORS.sub("\n", text))
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return by_han.sub("", "\n".join(line.strip() for line in _SPACE_RUN.sub(" ", text).split("\n")))

    rng = random.Random(3)
    alphabet = list("数据a。 ，\n\r\t") + ["\u3000", "\u00a0", "\u2003", "\x00", "\x0b", "\x0c", "\x1c", "\x1f",
                                          "\x7f", "\x85", "\x9f", "\u2028", "\u2029", "\x08", "\x0e"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert has_space_run(text) == (_SPACE_RUN.search(text) is not None), repr(text)
        for by_han in (_SPACE_BY_HAN, _SPACE_BY_HAN_DISPLAY):
            assert _lines(text, by_han) == always(text, by_han), repr(text)


def test_control_characters_found_by_table_and_kept_through_normalisation():
    # _has_controls looks code points up in a table of the regex's characters; t2s, halfwidth and NFKC
    # neither make nor remove a control character or line separator, so tidy_and_normalise searches the
    # text once for both forms
    import random
    import sys
    import unicodedata

    from aipolicy.textnorm import (_CONTROL_OR_SEPARATOR, _code_points, _control_table, _has_controls, halfwidth,
                                   normalise, tidy, tidy_and_normalise)

    table = _control_table()
    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    found = [i for i, c in enumerate(every) if _CONTROL_OR_SEPARATOR.match(c)]
    assert found == [i for i, c in enumerate(every) if table[min(ord(c), len(table) - 1)]]
    controls = [every[i] for i in found]
    assert all(unicodedata.decomposition(c) == "" for c in controls)  # no composition makes one
    for c in every:  # nor a decomposition, and NFKC keeps each one
        assert (_CONTROL_OR_SEPARATOR.search(unicodedata.normalize("NFKC", c)) is None) == (c not in controls), c
    rest = "".join(c for c in every if c not in set(controls))
    assert _CONTROL_OR_SEPARATOR.search(halfwidth(rest)) is None  # (t2s's dictionaries: test_textnorm_t2s)
    rng = random.Random(5)
    alphabet = list("数据發展覆盖反覆a。 ，\n\r\t") + ["\u3000", "\u00a0", "\uff21", "\u2460", "\x00", "\x0b", "\x1f",
                                                       "\x85", "\u2028", "\U00020000", "e\u0301"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert _has_controls(text, _code_points(text)) == (_CONTROL_OR_SEPARATOR.search(text) is not None)
        assert tidy_and_normalise(text) == (tidy(text), normalise(text)), repr(text)


def test_strip_non_word_equals_the_regex():
    import random
    import re
    import sys

    from aipolicy.textnorm import NON_WORD, _word_table, strip_non_word, word_code_points

    # the table is str.isalnum, and re's \w is isalnum or "_", for every code point
    table = _word_table()
    word = re.compile(r"[^\W_]")
    assert all((word.match(c) is not None) == c.isalnum() for c in map(chr, range(sys.maxunicode + 1)))
    assert all(table[i] == chr(i).isalnum() for i in range(0x10000))
    rng = random.Random(7)
    alphabet = list("数据a_1 ，。\n\t-Ⅻ①²") + ["\U00020000", "\U0001F600", "\U0001D7CE", "\u3000", "\u00b2"]
    for _ in range(500):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(0, 5))]
        assert strip_non_word(texts) == [NON_WORD.sub("", t) for t in texts], texts
        for t in texts:
            assert word_code_points(t).tobytes().decode("utf-32-le") == NON_WORD.sub("", t)
    lone = ["数据\ud800算力", "x"]  # a lone surrogate cannot be encoded: the regex does it
    assert strip_non_word(lone) == ["数据算力", "x"] and word_code_points(lone[0]) is None


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 3), (2, 3), (3, 4)])
def test_char_ngrams_hashed_incrementally_and_masked_before_counting(ngram_range):
    # the n-gram hashes built from the (n-1)-grams' equal the sum of n terms from 0, as first written, and
    # dropping the columns not kept before counting equals _mask_csr after
    from aipolicy.predictor import _BASE, _MIX, _char_ngram_csr, _count_csr, _mask_csr

    texts = ["推动人工智能产业发展", "", "a", "ab", "数据要素 × AI。", "算力算力算力", "x\u3000y"]
    n_bits = 10
    rows, cols = [], []
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps, as in the arrays
        for i, t in enumerate(texts):  # the plain per-text definition
            cps = [np.uint64(ord(c)) for c in t]
            for n in range(ngram_range[0], ngram_range[1] + 1):
                for j in range(len(cps) - n + 1):
                    h = np.uint64(0)
                    for c in cps[j:j + n]:
                        h = h * _BASE + c
                    rows.append(i)
                    cols.append(int(((h + np.uint64(n)) * _MIX) >> np.uint64(64 - n_bits)))
    ref = _count_csr(np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), (len(texts), 1 << n_bits))
    got = _char_ngram_csr(texts, ngram_range, n_bits)
    keep = np.zeros(1 << n_bits, dtype=bool)
    keep[::3] = True
    masked = _char_ngram_csr(texts, ngram_range, n_bits, keep=keep)
    for a, b in ((got, ref), (masked, _mask_csr(ref, np.flatnonzero(keep)))):
        assert a.shape == b.shape
        for f in ("data", "indices", "indptr"):
            assert np.array_equal(getattr(a, f), getattr(b, f)) and getattr(a, f).dtype == getattr(b, f).dtype, f


def test_windowed_doc_number_sentence_end_and_news_marks_equal_the_regex_scans():
    import random

    from aipolicy.layout import _SENTENCE_END, ends_sentence
    from aipolicy.metadata import _DOC_NUMBER_RE, _NEWS_MARKS, _doc_number, _news_marks

    rng = random.Random(11)
    # document numbers: random texts made of the pattern's pieces (spans and groups compared)
    pieces = ["嘉", "政办发", "〔", "［", "[", "【", "(", "（", "2025", "19", "20", "〕", "］", "]", "】", ")", "）",
              "18", "号", "令", "第", "三", " ", "\n", "人民政府", "a", "，", "省人民政府令", "一百二十"]
    for _ in range(4000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        want, got = _DOC_NUMBER_RE.search(text), _doc_number(text)
        assert (got and (got.span(), got.group(0))) == (want and (want.span(), want.group(0))), text
    long = "各地区各部门" * 10 + "国办发〔2024〕12号" + "令" * 3 + "人民政府令第5号"
    assert _doc_number(long).group(0) == _DOC_NUMBER_RE.search(long).group(0)
    # sentence ends: random line ends
    chars = list("。！？；：!?;:…”’」』）)]】\"'（(文a ，\t") + ["\u3000"]
    for _ in range(4000):
        line = "".join(rng.choice(chars) for _ in range(rng.randint(0, 6)))
        assert ends_sentence(line) == (_SENTENCE_END.search(line.rstrip()) is not None), repr(line)
    # news marks
    words = ["来源", "来", "源", "记者", "责任编辑", "编辑", "作者", "本报讯", "新华社", "据", "报道", "本地", "：", ":",
             "丨", "|", " ", "\n", "数据", "x"]
    for _ in range(4000):
        text = "".join(rng.choice(words) for _ in range(rng.randint(0, 8)))
        assert _news_marks(text) == (_NEWS_MARKS.search(text) is not None), text


def test_page_marker_first_character_test_equals_the_pattern():
    import random
    import re
    import sys

    from aipolicy.layout import _PAGE_MARKER, is_page_marker

    digit = re.compile(r"\d")  # re's \d is str.isdecimal, for every code point
    assert all((digit.match(c) is not None) == c.isdecimal() for c in map(chr, range(sys.maxunicode + 1)))
    rng = random.Random(2)
    alphabet = list("-－—–―‐‑﹣─━~～_第共页Ppageof12３٣ /，,一十百 \t\u3000x数")
    for _ in range(20000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        assert is_page_marker(line) == (bool(line.strip()) and _PAGE_MARKER.fullmatch(line) is not None), repr(line)
    for line in ["— 1 —", "－2－", "第 4 页", "第4页 共9页", "5/9", "12", " Page 3 of 9 ", "共9页 第4页", "推动发展 1"]:
        assert is_page_marker(line) == (_PAGE_MARKER.fullmatch(line) is not None), line


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_key_index_finds_what_searchsorted_finds(seed):
    from aipolicy.predictor import KeyIndex

    rng = np.random.default_rng(seed)
    for keys in (np.unique(rng.integers(0, 10**9, 3000)), np.arange(500, 2500),  # spread, consecutive
                 np.unique(rng.integers(0, 2**62, 100)), np.array([], dtype=np.int64), np.array([0, 7])):
        index = KeyIndex(keys)
        queries = np.concatenate([keys, rng.integers(0, 10**9, 2000), keys[::-1] + 1, [0, 2**62]])
        pos = np.searchsorted(keys, queries)
        want = np.where((pos < len(keys)) & (keys[np.minimum(pos, max(len(keys) - 1, 0))] == queries)
                        if len(keys) else False, pos, -1)
        assert np.array_equal(index.find(queries), want)
    with pytest.raises(ValueError):
        KeyIndex(np.array([3, 1, 2]))
    with pytest.raises(ValueError):
        KeyIndex(np.array([1, 1, 2]))


def test_char_ngrams_of_texts_too_short_for_any_ngram():
    from aipolicy.predictor import _char_ngram_csr

    X = _char_ngram_csr(["", "a"], (2, 3), 10)
    assert X.shape == (2, 1024) and X.nnz == 0 and list(X.indptr) == [0, 0, 0]
    assert _char_ngram_csr(["", "ab"], (2, 3), 10).nnz == 1


def test_notice_body_precheck_and_lazy_news_type_equal_the_plain_versions():
    import random

    from aipolicy.metadata import _NOTICE_BODY, _TYPE_RULES, doc_type_of, _notice_body

    rng = random.Random(13)
    # the slots of a match, each with variants that break it
    slots = [["现将", "现", "", "\n"], ["《"], ["方案", "", "\n"], ["》", ""], ["", "已经市政府同意，", "\n"],
             ["现", "现予", "", "予"], ["印发", "转发", "发布", "发", "布", "印"], ["给", "", "\n"]]
    for _ in range(6000):
        head = "".join(rng.choice(slot) for slot in slots for _ in range(rng.choice([1, 1, 1, 2])))
        want, got = _NOTICE_BODY.search(head), _notice_body(head)
        assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups())), head
    # _fallbacks asks for news marks only when the title's type is 其他 or '': the only results news changes
    words = [w for rx, _ in _TYPE_RULES for w in rx.pattern.replace("(?<!办)", "").replace("$", "").split("|")]
    words = [w.strip("()[（(]") for w in words] + ["数据", "（2025年）", "(试行)", " ", "", "办"]
    for _ in range(3000):
        title = "".join(rng.choice(words) for _ in range(rng.randint(0, 4)))
        plain = doc_type_of(title)
        assert doc_type_of(title, news=True) == ("新闻评论" if plain in ("其他", "") else plain), title


def test_web_field_alternation_matches_where_a_field_pattern_does():
    import random

    from aipolicy.metadata import _WEB_FIELD_ANY, _WEB_FIELDS

    assert all(rx.flags == _WEB_FIELD_ANY.flags for rx in _WEB_FIELDS.values())  # the alternation has no flags
    rng = random.Random(17)
    labels = [w for rx in _WEB_FIELDS.values() for w in rx.pattern.split("(?:")[1].split(")")[0].split("|")]
    pieces = labels + ["索引号", "：", ":", " ", "\u3000", "2025年6月12日", "x", "", "\n"]
    for _ in range(4000):
        ln = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
        assert (_WEB_FIELD_ANY.match(ln) is not None) == any(rx.match(ln) for rx in _WEB_FIELDS.values()), ln
