"""Which characters can OpenCC's t2s conversion change? Derived from the installed OpenCC, for the shipped
list ``src/aipolicy/data/opencc_t2s_changes.txt`` that ``textnorm.t2s`` uses to convert only the lines that
hold one (tested in test_textnorm_t2s.py). Rewrite the list after an OpenCC upgrade:

    python tests/opencc_changes.py

A line of text is changed by t2s only if it holds a key of t2s's dictionaries that t2s replaces by
something else (OpenCC replaces the longest key matching at each position by the key's first value and
copies any other character). The list holds every character that t2s changes on its own (found by
converting each code point) and every longer key (a phrase) with a value that differs from it, made only
of characters that t2s leaves alone on their own (as key>value, the value the first that differs). A
line holding no listed character and none of the listed phrases is left as it is.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import opencc

SHARE = Path(opencc.__file__).parent / "clib" / "share" / "opencc"
DICT_TOOL = Path(opencc.__file__).parent / "clib" / "bin" / "opencc_dict"  # OpenCC's own dictionary tool
LIST = Path(__file__).resolve().parents[1] / "src" / "aipolicy" / "data" / "opencc_t2s_changes.txt"


def _dict_files(node) -> list[str]:
    """The dictionary files named anywhere in (part of) an OpenCC configuration."""
    if isinstance(node, dict):
        own = [node["file"]] if "file" in node else []
        return own + [f for v in node.values() for f in _dict_files(v)]
    if isinstance(node, list):
        return [f for v in node for f in _dict_files(v)]
    return []


def dictionary_entries(config: str = "t2s.json") -> list[tuple[str, list[str]]]:
    """(key, values) of every entry of every dictionary of the configuration, dumped as text by
    ``opencc_dict``."""
    files = _dict_files(json.loads((SHARE / config).read_text(encoding="utf-8")))
    assert files and all(f.endswith(".ocd2") for f in files), files
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in files:
            txt = Path(tmp) / (name + ".txt")
            subprocess.run([str(DICT_TOOL), "-i", str(SHARE / name), "-o", str(txt), "-f", "ocd2", "-t", "text"],
                           check=True, capture_output=True)
            for line in txt.read_text(encoding="utf-8").splitlines():
                key, values = line.split("\t")
                out.append((key, values.split(" ")))
    return out


def changed_alone() -> set[str]:
    """Every character (surrogates aside) that t2s changes when converted on its own."""
    cc = opencc.OpenCC("t2s")
    return {c for c in map(chr, range(0x110000)) if not 0xD800 <= ord(c) < 0xE000 and cc.convert(c) != c}


def derive() -> tuple[str, list[str]]:
    """The list: the characters t2s changes on its own, sorted by code point, and the phrases
    (key>value) whose value differs and whose characters t2s leaves alone on their own, sorted."""
    chars = changed_alone()
    phrases = sorted(f"{key}>{next(v for v in values if v != key)}" for key, values in dictionary_entries()
                     if len(key) > 1 and any(v != key for v in values) and chars.isdisjoint(key))
    return "".join(sorted(chars)), phrases


def text(chars: str, phrases: list[str]) -> str:
    """The list file's contents."""
    lines = [f"chars: {chars[i:i + 64]}" for i in range(0, len(chars), 64)]
    lines += [f"phrases: {' '.join(phrases[i:i + 16])}" for i in range(0, len(phrases), 16)]
    return ("# What OpenCC's t2s conversion can change, for the OpenCC version on the next line: the characters\n"
            "# it changes on their own and the phrases of its dictionaries (key>value) that it changes though\n"
            "# it leaves each of their characters alone. textnorm.t2s converts only the lines holding one.\n"
            "# Written by tests/opencc_changes.py from the installed OpenCC; under another version every line\n"
            "# is converted.\n"
            f"opencc {opencc.__version__}\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    LIST.write_text(text(*derive()), encoding="utf-8")
    print(f"{LIST}: written for opencc {opencc.__version__}", file=sys.stderr)
