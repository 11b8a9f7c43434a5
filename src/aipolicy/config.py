"""Configuration files: categories (the package's ``data/categories.yaml``) and training
(training/config.yaml).

Relative paths inside a configuration file resolve against the folder of that file, so
`aipolicy train --config path/to/config.yaml` works from any folder; paths given as flags resolve
against the working directory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .errors import AipolicyError

DEFAULT_TRAINING_CONFIG = Path("training/config.yaml")
DEFAULT_CACHE_DIR = ".aipolicy-cache"  # beside the training configuration (ignored by git)
# the one definition of the categories (ids, Chinese names, colours, descriptions, cue terms)
DEFAULT_CATEGORIES = Path(str(resources.files("aipolicy") / "data" / "categories.yaml"))


@dataclass(frozen=True)
class Category:
    name: str
    zh: str = ""
    description: str = ""
    cues: tuple[str, ...] = ()
    colour: str = ""


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise AipolicyError(f"configuration file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise AipolicyError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise AipolicyError(f"{path}: expected a mapping at the top level")
    return data


def load_categories(path: str | Path | None = None) -> list[Category]:
    """Categories from a YAML file (default: the package's)."""
    path = Path(path) if path else DEFAULT_CATEGORIES
    data = _read_yaml(path)
    cats = []
    for i, c in enumerate(data.get("categories") or []):
        if not isinstance(c, dict) or not c.get("name"):
            raise AipolicyError(f"{path}: category #{i + 1} has no name")
        cats.append(Category(str(c["name"]), str(c.get("zh", "")), str(c.get("description", "")),
                             tuple(str(x) for x in c.get("cues") or ()), str(c.get("colour", ""))))
    if not cats:
        raise AipolicyError(f"{path}: no categories defined")
    names = [c.name for c in cats]
    if len(set(names)) != len(names):
        raise AipolicyError(f"{path}: duplicate category names")
    return cats


@lru_cache(maxsize=1)
def default_categories() -> tuple[Category, ...]:
    """The package's categories (read once, on first use — not at import)."""
    return tuple(load_categories(DEFAULT_CATEGORIES))


def category_names() -> tuple[str, ...]:
    return tuple(c.name for c in default_categories())


@lru_cache(maxsize=1)
def _none_entry() -> dict:
    return dict(_read_yaml(DEFAULT_CATEGORIES).get("none") or {})


def zh_names() -> dict[str, str]:
    """Chinese name of every category, and of 'none'."""
    return {**{c.name: c.zh for c in default_categories()}, "none": str(_none_entry().get("zh", "无"))}


def colours() -> dict[str, str]:
    """Chart colour of every category, and of 'none'."""
    return {**{c.name: c.colour for c in default_categories()},
            "none": str(_none_entry().get("colour", "#999999"))}


@dataclass
class TrainingConfig:
    corpora: dict[str, Path]
    labels: Path
    categories: Path
    models_dir: Path
    model: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    source: Path | None = None
    cache_dir: Path | None = None  # ingested corpus folders kept for training (None: ingest every time)


def load_training_config(path: str | Path = DEFAULT_TRAINING_CONFIG) -> TrainingConfig:
    path = Path(path)
    d = _read_yaml(path)
    base = path.parent

    def rel(v) -> Path:
        p = Path(str(v)).expanduser()
        return p if p.is_absolute() else Path(os.path.normpath(base / p))

    return TrainingConfig(
        corpora={str(k): rel(v) for k, v in (d.get("corpora") or {}).items()},
        labels=rel(d.get("labels", "../labels/gold.csv")),
        categories=rel(d["categories"]) if d.get("categories") else DEFAULT_CATEGORIES,
        models_dir=rel(d.get("models_dir", "../models")),
        model=dict(d.get("model") or {}),
        evaluation=dict(d.get("evaluation") or {}),
        source=path,
        cache_dir=rel(d.get("cache_dir", DEFAULT_CACHE_DIR)) if d.get("cache_dir", DEFAULT_CACHE_DIR) else None,
    )
