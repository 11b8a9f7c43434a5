"""Model persistence: one folder per model with the artifact, ``card.json`` and ``MODEL_CARD.md``.

The artifact is a joblib pickle, i.e. executable code. Loading therefore checks the artifact's
sha256 against the one recorded in ``card.json`` at training time *before* unpickling, and refuses
a mismatch without running anything. Models are loaded only from a models folder the user names
or from the package's own shipped models.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from importlib import resources
from pathlib import Path

from .errors import AipolicyError, ModelIntegrityError
from .tables import atomic_path

ARTIFACT = "model.joblib"
PREDICTOR = "predictor.joblib"
CARD = "card.json"
HUMAN_CARD = "MODEL_CARD.md"
FORMAT_VERSION = 1
DEFAULT_MODEL = "default"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shipped_models_dir() -> Path:
    """The models that ship inside the installed package."""
    return Path(str(resources.files("aipolicy.shipped_models")))


def model_dirs(models_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where models are looked up, in order: the user's folder (if named), then the package's."""
    dirs = [Path(models_dir)] if models_dir else []
    return dirs + [shipped_models_dir()]


def resolve_model(name: str | os.PathLike | None = None,
                  models_dir: str | os.PathLike | None = None) -> Path:
    """The folder of model ``name``: a folder path holding card.json, or a name looked up in
    ``models_dir`` and then in the package's shipped models."""
    name = name or DEFAULT_MODEL
    p = Path(name)
    if (p / CARD).is_file():
        return p
    for d in model_dirs(models_dir):
        if (d / str(name) / CARD).is_file():
            return d / str(name)
    where = ", ".join(str(d) for d in model_dirs(models_dir))
    raise AipolicyError(f"model '{name}' not found (looked in: {where}); 'aipolicy models list' shows "
                        "the available models")


def read_card(folder: Path) -> dict:
    try:
        card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise AipolicyError(f"{folder / CARD} is not readable: {e}") from None
    if card.get("format_version") != FORMAT_VERSION:
        raise AipolicyError(f"{folder}: model format {card.get('format_version')!r} is not supported by "
                            f"this aipolicy (expects {FORMAT_VERSION})")
    return card


def _load_verified(folder: Path, card: dict, key: str, default: str):
    import joblib

    entry = card.get(key) or {}
    artifact = folder / entry.get("file", default)
    if not artifact.is_file():
        raise AipolicyError(f"{folder}: artifact {artifact.name} is missing")
    expected = entry.get("sha256")
    actual = sha256_file(artifact)
    if not expected or actual != expected:
        raise ModelIntegrityError(
            f"refusing to load {artifact}: its sha256 {actual[:16]}… does not match the "
            f"{(expected or 'missing')[:16]}… recorded in {CARD} at training time. The file was changed "
            "after training; retrain it or restore the original. Nothing was loaded.")
    obj = joblib.load(artifact)
    obj.card_ = card
    obj.model_path_ = str(folder)
    return obj


def load_model(name: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None):
    """Load a trained PolicyClassifier (a scikit-learn estimator) after verifying its checksum.
    ``.card_`` holds its card."""
    folder = resolve_model(name, models_dir)
    return _load_verified(folder, read_card(folder), "artifact", ARTIFACT)


def load_predictor(name: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None):
    """Load the model's fast Predictor (same probabilities, no scikit-learn import), verified."""
    folder = resolve_model(name, models_dir)
    return _load_verified(folder, read_card(folder), "predictor", PREDICTOR)


def override_thresholds(model, overrides: dict | None):
    """Replace some of ``model.thresholds_`` ({category: value in [0, 1]}); unknown categories are an error."""
    if not overrides:
        return model
    import numpy as np

    cats = [str(c) for c in model.categories_]
    unknown = [c for c in overrides if c not in cats]
    if unknown:
        raise AipolicyError(f"--threshold: unknown category {', '.join(unknown)} (the model's categories: "
                            f"{', '.join(cats)})")
    th = np.array(model.thresholds_, dtype=float)
    for c, v in overrides.items():
        if not 0.0 <= float(v) <= 1.0:
            raise AipolicyError(f"--threshold {c}={v}: the value must be between 0 and 1")
        th[cats.index(c)] = float(v)
    model.thresholds_ = th
    return model


def save_model(clf, folder: str | os.PathLike, card: dict, human_card: str) -> Path:
    """Write the estimator and its Predictor, card.json (with both sha256) and MODEL_CARD.md;
    replaces the folder."""
    import joblib

    from .predictor import from_estimator

    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    joblib.dump(clf, tmp / ARTIFACT, compress=3)
    joblib.dump(from_estimator(clf), tmp / PREDICTOR, compress=3)
    card = dict(card, format_version=FORMAT_VERSION,
                artifact={"file": ARTIFACT, "sha256": sha256_file(tmp / ARTIFACT)},
                predictor={"file": PREDICTOR, "sha256": sha256_file(tmp / PREDICTOR)})
    (tmp / CARD).write_text(json.dumps(card, ensure_ascii=False, indent=2, sort_keys=False) + "\n",
                            encoding="utf-8")
    (tmp / HUMAN_CARD).write_text(human_card, encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def list_models(models_dir: str | os.PathLike | None = None) -> list[dict]:
    rows = []
    seen = set()
    for d in model_dirs(models_dir):
        if not d.is_dir():
            continue
        for sub in sorted(d.iterdir()):
            if not (sub / CARD).is_file() or sub.name in seen:
                continue
            seen.add(sub.name)
            try:
                card = read_card(sub)
            except AipolicyError as e:
                rows.append({"name": sub.name, "path": str(sub), "error": str(e)})
                continue
            m = card.get("metrics", {})
            rows.append({"name": sub.name, "path": str(sub), "version": card.get("version", ""),
                         "created": card.get("created", ""), "units": card.get("training_data", {}).get("units"),
                         "macro_f1": m.get("macro_f1"), "baseline_macro_f1": m.get("baseline_macro_f1")})
    return rows


__all__ = ["load_model", "load_predictor", "override_thresholds", "save_model", "list_models", "resolve_model", "read_card", "atomic_path"]
