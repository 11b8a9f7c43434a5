"""Every function of the package stays at cyclomatic complexity 15 or below (radon's measure)."""
from __future__ import annotations

from pathlib import Path

import pytest

radon_complexity = pytest.importorskip("radon.complexity", reason="radon is a test dependency ('.[test]')")

MAX_COMPLEXITY = 15
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "aipolicy"


def too_complex(source: str, limit: int = MAX_COMPLEXITY) -> list[tuple[str, int, int]]:
    """(name, line, complexity) of every function or method of ``source`` above ``limit``."""
    out = []
    todo = [b for b in radon_complexity.cc_visit(source) if not hasattr(b, "methods")]  # functions, methods
    while todo:
        b = todo.pop()
        todo.extend(getattr(b, "closures", []))
        if b.complexity > limit:
            out.append((b.fullname, b.lineno, b.complexity))
    out.sort(key=lambda r: r[1])
    return out


def test_the_check_finds_a_complex_function():
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(16))
    src = f"def f(x):\n{branches}\n    return -1\n\nclass C:\n    def m(self, x):\n" + branches.replace(
        "\n    ", "\n        ").replace("    if", "        if", 1) + "\n        return -1\n"
    found = too_complex(src)
    assert [(name, cc) for name, _, cc in found] == [("f", 17), ("C.m", 17)]
    assert too_complex("def g(x):\n    return x\n") == []


def test_no_function_above_complexity_15():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    bad = [f"{f.relative_to(PACKAGE)}:{line} {name} has complexity {cc}"
           for f in files for name, line, cc in too_complex(f.read_text(encoding="utf-8"))]
    assert not bad, "functions above cyclomatic complexity 15 (split them):\n" + "\n".join(bad)
