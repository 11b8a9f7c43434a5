"""textnorm.t2s converts only the lines that hold something OpenCC's t2s changes, from a list shipped for
one OpenCC version: the list is what the installed OpenCC's own dictionaries give, and t2s gives exactly
what converting the whole text gives."""
from __future__ import annotations

import random

import opencc
import pytest

from aipolicy import textnorm
from aipolicy.resources import data_file

import opencc_changes


def _need_dict_tool():
    if not opencc_changes.DICT_TOOL.exists():
        pytest.skip("OpenCC's opencc_dict tool is not installed with the opencc package")


@pytest.fixture(scope="module")
def derived():
    _need_dict_tool()
    return opencc_changes.derive()


@pytest.fixture(scope="module")
def entries():
    _need_dict_tool()
    return opencc_changes.dictionary_entries()


def test_shipped_list_is_derived_from_the_installed_opencc(derived):
    shipped = data_file("opencc_t2s_changes.txt").read_text(encoding="utf-8")
    if f"\nopencc {opencc.__version__}\n" not in shipped:
        assert textnorm._t2s_changes.__wrapped__() is None  # another version: every line is converted
        pytest.skip(f"list shipped for another OpenCC version than {opencc.__version__}")
    assert shipped == opencc_changes.text(*derived), "rewrite it: python tests/opencc_changes.py"
    assert textnorm._t2s_changes() is not None


def test_no_key_or_value_holds_a_line_break_and_no_character_listed_is_ascii(derived, entries):
    assert not any("\n" in k or "\r" in k or any("\n" in v for v in vs) for k, vs in entries)
    # nor a control character or line separator (textnorm._normalise: t2s neither makes nor removes one)
    assert not any(textnorm._CONTROL_OR_SEPARATOR.search(k + "".join(vs)) for k, vs in entries)
    assert not any(c.isascii() for c in derived[0])


def test_a_text_of_every_unlisted_character_is_left_alone(derived):
    chars = set(derived[0])
    rest = "".join(c for c in map(chr, range(0x110000)) if not 0xD800 <= ord(c) < 0xE000 and c not in chars)
    cc = opencc.OpenCC("t2s")
    assert cc.convert(rest) == rest
    assert textnorm.t2s(rest) == rest
    assert [textnorm.t2s(c) for c in derived[0]] == [cc.convert(c) for c in derived[0]]


def _random_text(rng: random.Random, chars: str, keys: list[str]) -> str:
    """Lines of listed characters, keys of t2s's dictionaries (whole, or cut by a line break) and other
    characters."""
    pool = (list("覆盖沈藉反回答重深一不以明瞭解甦醒的是人工智能发展政府工作报告，。、") + list("abc 12\t\r\u3000")
            + ["𠀀", "\U0002a6a5"])
    lines = []
    for _ in range(rng.randint(0, 12)):
        parts = []
        for _ in range(rng.randint(0, 10)):
            r = rng.random()
            if r < 0.15:
                parts.append(rng.choice(chars))
            elif r < 0.35:
                key = rng.choice(keys)
                parts.append(key if rng.random() < 0.7 else key[:rng.randint(1, len(key) - 1)] + "\n" + key[1:])
            else:
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
        lines.append("".join(parts))
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(4))
def test_t2s_equals_converting_the_whole_text(seed, derived, entries):
    chars = derived[0]
    keys = [k for k, _ in entries if len(k) > 1]  # every phrase, also those t2s keeps as they are
    rng = random.Random(seed)
    cc = opencc.OpenCC("t2s")
    texts = [_random_text(rng, chars, keys) for _ in range(300)]
    texts += ["", "\n", "覆盖", "反覆", "反\n覆", "覆\n", "\n反覆\n", "一目瞭然\n發展", "a" * 5, "想像力"]
    for text in texts:
        assert textnorm.t2s(text) == cc.convert(text), text


def test_t2s_under_another_opencc_version_converts_everything(monkeypatch):
    monkeypatch.setattr(opencc, "__version__", "0.0.0")
    assert textnorm._t2s_changes.__wrapped__() is None
    monkeypatch.setattr(textnorm, "_t2s_changes", lambda: None)
    assert textnorm.t2s("發展\n覆盖") == "发展\n覆盖"


def test_t2s_of_a_lone_surrogate_fails_as_opencc_does():
    with pytest.raises(UnicodeEncodeError):
        opencc.OpenCC("t2s").convert("a\ud800")
    with pytest.raises(UnicodeEncodeError):
        textnorm.t2s("a\ud800")
