"""Convert a model folder of format 1 (pickled predictor.joblib) to format 2 (npz + JSON + manifest).

Format 1 stored the fast predictor as a pickle; this script unpickles it once — run it only on a folder
whose origin you trust (its sha256 in card.json is checked first, which proves integrity, not origin) —
writes predictor.npz / predictor.json, keeps model.joblib (the estimator, for retraining), writes the
manifest and checks that the new predictor gives exactly the old probabilities on the texts given
(or on a few built-in sentences).

    python training/convert_model_v1.py models/default [--check-texts units.csv]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from aipolicy.models import (ARTIFACT, CARD, FORMAT_VERSION, HUMAN_CARD, load_predictor, sha256_file,
                             write_manifest, write_predictor)

OLD_PREDICTOR = "predictor.joblib"
SENTENCES = ["支持建设智算中心，发放算力券。", "推动公共数据开放，培育数据交易市场。", "引进领军人才。", "", "无关的一句话"]


def convert(folder: Path, texts: list[str]) -> dict:
    import joblib

    card = json.loads((folder / CARD).read_text(encoding="utf-8"))
    if card.get("format_version") != 1:
        raise SystemExit(f"{folder}: format {card.get('format_version')!r}, expected 1")
    for key, default in (("artifact", ARTIFACT), ("predictor", OLD_PREDICTOR)):
        entry = card.get(key) or {}
        f = folder / entry.get("file", default)
        if sha256_file(f) != entry.get("sha256"):
            raise SystemExit(f"{f}: sha256 does not match card.json; not converting")
    old = joblib.load(folder / OLD_PREDICTOR)
    tmp = folder.with_name(f".{folder.name}.convert")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    write_predictor(old, tmp)
    shutil.copy2(folder / ARTIFACT, tmp / ARTIFACT)
    shutil.copy2(folder / HUMAN_CARD, tmp / HUMAN_CARD)
    new_card = {k: v for k, v in card.items() if k not in ("artifact", "predictor")}
    new_card["format_version"] = FORMAT_VERSION
    (tmp / CARD).write_text(json.dumps(new_card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_manifest(tmp)
    new = load_predictor(tmp)
    a, b = old.predict_proba(texts), new.predict_proba(texts)
    la, lb = old.label_columns(texts), new.label_columns(texts)
    same = {"texts": len(texts), "max_abs_diff": float(np.abs(a - b).max()) if len(texts) else 0.0,
            "identical_proba": bool(np.array_equal(a, b)),
            "identical_labels": la["labels"] == lb["labels"] and la["evidence"] == lb["evidence"]}
    if not (same["identical_proba"] and same["identical_labels"]):
        shutil.rmtree(tmp)
        raise SystemExit(f"converted predictor differs from the old one: {same}; nothing changed")
    backup = folder.with_name(f".{folder.name}.v1")
    if backup.exists():
        shutil.rmtree(backup)
    folder.rename(backup)
    tmp.rename(folder)
    shutil.rmtree(backup)
    return same


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--check-texts", type=Path, help="a table with a 'text' column to compare predictions on")
    args = ap.parse_args(argv)
    texts = SENTENCES
    if args.check_texts:
        from aipolicy.tables import read_table

        texts = read_table(args.check_texts)["text"].astype(str).tolist()
    print(json.dumps(convert(args.folder, texts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
