"""aipolicy: turn Chinese regional AI policy texts into structured, per-city category evidence.

The Python API mirrors the CLI stages: ingest → units → cities → tokenize/features → classify
→ topics → report.

Names are imported on first use (PEP 562), so ``import aipolicy`` and ``aipolicy --help`` do not
pay for pandas, numpy or the readers (about 0.4 s) until a command needs them.
"""
from __future__ import annotations

import sys
import types
from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "AipolicyError": "errors", "ModelIntegrityError": "errors", "SkipFile": "errors",
    "IngestResult": "ingest", "ingest": "ingest", "ingest_files": "ingest",
    "load_model": "models",
    "label_files": "batch",
    "evaluate_file": "evaluation",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aipolicy' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``aipolicy.ingest`` is the function, as it was when it was imported eagerly: importing the
    submodule of the same name (which sets the package attribute) keeps the function there."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
