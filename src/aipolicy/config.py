"""Configuration files: categories (labels/categories.yaml) and training (training/config.yaml).

Relative paths inside a configuration file resolve against the folder of that file, so
`aipolicy train --config path/to/config.yaml` works from any folder; paths given as flags resolve
against the working directory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import AipolicyError

DEFAULT_TRAINING_CONFIG = Path("training/config.yaml")
DEFAULT_CATEGORIES = Path("labels/categories.yaml")


@dataclass(frozen=True)
class Category:
    name: str
    zh: str = ""
    description: str = ""
    cues: tuple[str, ...] = ()


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


def load_categories(path: str | Path = DEFAULT_CATEGORIES) -> list[Category]:
    data = _read_yaml(Path(path))
    cats = []
    for i, c in enumerate(data.get("categories") or []):
        if not isinstance(c, dict) or not c.get("name"):
            raise AipolicyError(f"{path}: category #{i + 1} has no name")
        cats.append(Category(str(c["name"]), str(c.get("zh", "")), str(c.get("description", "")),
                             tuple(str(x) for x in c.get("cues") or ())))
    if not cats:
        raise AipolicyError(f"{path}: no categories defined")
    names = [c.name for c in cats]
    if len(set(names)) != len(names):
        raise AipolicyError(f"{path}: duplicate category names")
    return cats


@dataclass
class TrainingConfig:
    corpora: dict[str, Path]
    labels: Path
    categories: Path
    models_dir: Path
    model: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    source: Path | None = None


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
        categories=rel(d.get("categories", "../labels/categories.yaml")),
        models_dir=rel(d.get("models_dir", "../models")),
        model=dict(d.get("model") or {}),
        evaluation=dict(d.get("evaluation") or {}),
        source=path,
    )
