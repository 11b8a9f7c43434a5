from __future__ import annotations

import json
import pickle
import shutil

import pytest

from aipolicy.cli import main
from aipolicy.errors import AipolicyError, ModelIntegrityError
from aipolicy.models import list_models, load_model, load_predictor, resolve_model


def test_train_writes_model_folder_and_card(trained):
    folder, card = trained
    assert {p.name for p in folder.iterdir()} == {"model.joblib", "predictor.joblib", "card.json", "MODEL_CARD.md"}
    on_disk = json.loads((folder / "card.json").read_text())
    for key in ("categories", "thresholds", "metrics", "training_data", "versions", "seed", "created", "artifact",
                "predictor"):
        assert key in on_disk, key
    assert on_disk["training_data"]["units"] == 48
    assert on_disk["training_data"]["label_counts"]["data"] == 8
    assert len(on_disk["artifact"]["sha256"]) == 64
    assert set(on_disk["thresholds"]) == set(on_disk["categories"])
    assert "baseline" in (folder / "MODEL_CARD.md").read_text()


def test_same_seed_same_metrics(fixture_setup, trained):
    from aipolicy.config import load_training_config
    from aipolicy.train import train

    cfg = load_training_config(fixture_setup["config"])
    _, again = train(cfg, name="fixture-again", agreement=None, log=lambda *a: None)
    assert again["metrics"] == trained[1]["metrics"]
    assert again["thresholds"] == trained[1]["thresholds"]
    assert again["training_data"]["sha256"] == trained[1]["training_data"]["sha256"]
    # the artifacts themselves are byte-identical
    first = json.loads((trained[0] / "card.json").read_text())
    second = json.loads((trained[0].parent / "fixture-again" / "card.json").read_text())
    assert first["artifact"]["sha256"] == second["artifact"]["sha256"]
    assert first["predictor"]["sha256"] == second["predictor"]["sha256"]


def test_load_and_predict(trained):
    folder, _ = trained
    clf = load_model(folder)
    p = clf.predict_proba(["建设智算中心，发放算力券。"])
    assert p.shape == (1, 6) and clf.card_["name"] == "fixture"


def test_predictor_matches_estimator(trained):
    import numpy as np
    import pandas as pd

    from fixture_corpus import DOCS

    folder, _ = trained
    clf, fast = load_model(folder), load_predictor(folder)
    texts = [t for units in DOCS.values() for t, _ in units] + ["完全无关的一句话。", "", "GPU服务器与大模型"]
    np.testing.assert_allclose(fast.predict_proba(texts), clf.predict_proba(texts), rtol=0, atol=1e-12)
    units = pd.DataFrame({"text": texts})
    a, b = clf.label(units), fast.label(units)
    assert a["labels"].tolist() == b["labels"].tolist() and a["evidence"].tolist() == b["evidence"].tolist()


def test_tampered_model_is_refused_without_running_it(trained, tmp_path):
    folder, _ = trained
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (bad / "model.joblib").write_bytes(pickle.dumps(Evil()))
    (bad / "predictor.joblib").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelIntegrityError, match="does not match"):
        load_model(bad)
    with pytest.raises(ModelIntegrityError, match="does not match"):
        load_predictor(bad)
    assert not marker.exists()  # the pickle was never opened


def test_cli_refuses_tampered_model_cleanly(trained, tmp_path, capsys, policy_txt):
    folder, _ = trained
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    with open(bad / "predictor.joblib", "ab") as fh:
        fh.write(b"\0")
    assert main(["label", str(policy_txt), "-o", str(tmp_path / "o.csv"), "--model", str(bad), "-q"]) == 2
    err = capsys.readouterr().err
    assert "refusing to load" in err and "Traceback" not in err


def test_missing_model_and_lookup(trained, tmp_path):
    folder, _ = trained
    with pytest.raises(AipolicyError, match="not found"):
        resolve_model("no-such-model", tmp_path)
    assert resolve_model("fixture", folder.parent) == folder
    names = [r["name"] for r in list_models(folder.parent)]
    assert "fixture" in names and "default" in names  # the user's folder, then the package's


def test_shipped_default_model_loads():
    clf = load_model()  # the package's own default
    assert list(clf.categories_) == ["compute", "data", "algorithm", "scenario", "talent", "governance"]
    assert clf.card_["metrics"]["macro_f1"] > clf.card_["metrics"]["baseline_macro_f1"]


def test_models_cli(trained, capsys):
    folder, _ = trained
    assert main(["models", "list", "--models-dir", str(folder.parent)]) == 0
    assert "fixture" in capsys.readouterr().out
    assert main(["models", "show", "fixture", "--models-dir", str(folder.parent)]) == 0
    assert "# Model card: fixture" in capsys.readouterr().out
