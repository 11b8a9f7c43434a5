from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from aipolicy.cli import main
from aipolicy.errors import AipolicyError, ModelIntegrityError
from aipolicy.models import list_models, load_model, load_predictor, resolve_model


MODEL_FILES = {"model.joblib", "predictor.npz", "predictor.json", "card.json", "MODEL_CARD.md", "manifest.json"}


def test_train_writes_model_folder_and_card(trained):
    folder, card = trained
    assert {p.name for p in folder.iterdir()} == MODEL_FILES
    on_disk = json.loads((folder / "card.json").read_text())
    for key in ("categories", "thresholds", "metrics", "training_data", "versions", "seed", "created"):
        assert key in on_disk, key
    assert on_disk["format_version"] == 2
    assert on_disk["training_data"]["units"] == 48
    assert on_disk["training_data"]["label_counts"]["data"] == 8
    assert set(on_disk["thresholds"]) == set(on_disk["categories"])
    assert "baseline" in (folder / "MODEL_CARD.md").read_text()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == MODEL_FILES - {"manifest.json"}
    assert all(len(h) == 64 for h in manifest["files"].values())


def test_inference_files_hold_no_pickle(trained):
    import numpy as np

    folder, _ = trained
    from aipolicy.models import read_npz

    with np.load(folder / "predictor.npz", allow_pickle=False) as z:  # would raise on an object array
        assert all(z[k].dtype != object for k in z.files)
    # the weights and idf of unused hash columns are stored packed (models.pack_array), read back whole
    assert {"coef", "intercept", "calib_a", "calib_b", "thresholds_", "word_idf", "char_idf"} <= set(
        read_npz(folder / "predictor.npz"))
    meta = json.loads((folder / "predictor.json").read_text(encoding="utf-8"))
    assert meta["categories"] == json.loads((folder / "card.json").read_text())["categories"]
    assert meta["word_names"] and meta["cue_terms"]


def test_same_seed_same_metrics(fixture_setup, trained):
    from aipolicy.config import load_training_config
    from aipolicy.train import train

    cfg = load_training_config(fixture_setup["config"])
    _, again = train(cfg, name="fixture-again", agreement=None, log=lambda *a: None)
    assert again["metrics"] == trained[1]["metrics"]
    assert again["thresholds"] == trained[1]["thresholds"]
    assert again["training_data"]["sha256"] == trained[1]["training_data"]["sha256"]
    # the model files themselves are byte-identical (the card differs by its creation time)
    first = json.loads((trained[0] / "manifest.json").read_text())["files"]
    second = json.loads((trained[0].parent / "fixture-again" / "manifest.json").read_text())["files"]
    for f in ("model.joblib", "predictor.npz", "predictor.json"):
        assert first[f] == second[f], f


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


class _Evil:
    """A pickle payload: unpickling it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _copy(folder, dest):
    shutil.copytree(folder, dest)
    return dest


def _reseal(folder):
    """What an attacker who can write the folder does: rewrite the manifest to match."""
    from aipolicy.models import write_manifest

    (folder / "manifest.json").unlink()
    write_manifest(folder)


def test_tampered_model_is_refused_without_running_it(trained, tmp_path):
    bad = _copy(trained[0], tmp_path / "bad")
    marker = tmp_path / "pwned"
    (bad / "model.joblib").write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(ModelIntegrityError, match="model.joblib.*does not match"):
        load_model(bad)
    with pytest.raises(ModelIntegrityError, match="model.joblib.*does not match"):
        load_predictor(bad)  # the whole folder is verified, not only the files it reads
    assert not marker.exists()  # the pickle was never opened


@pytest.mark.parametrize("victim", ["predictor.npz", "predictor.json", "card.json", "MODEL_CARD.md", "model.joblib"])
def test_one_flipped_byte_anywhere_is_refused_by_label(trained, tmp_path, capsys, policy_txt, victim):
    bad = _copy(trained[0], tmp_path / "bad")
    data = bytearray((bad / victim).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bad / victim).write_bytes(bytes(data))
    assert main(["label", str(policy_txt), "-o", str(tmp_path / "o.csv"), "--model", str(bad), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"refusing to load {bad / victim}" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_added_or_missing_file_is_refused(trained, tmp_path):
    bad = _copy(trained[0], tmp_path / "bad")
    (bad / "extra.py").write_text("print('hi')\n")
    with pytest.raises(ModelIntegrityError, match="extra.py is not listed"):
        load_predictor(bad)
    (bad / "extra.py").unlink()
    (bad / "predictor.json").unlink()
    with pytest.raises(ModelIntegrityError, match="predictor.json .*missing"):
        load_predictor(bad)


def test_resealed_payload_never_runs_when_labelling(trained, tmp_path, policy_txt):
    """A rewritten pickle with a rewritten manifest: labelling does not unpickle anything, so nothing runs;
    only an explicit load_model() would (the manifest proves integrity, not origin)."""
    from aipolicy.batch import label_files

    bad = _copy(trained[0], tmp_path / "bad")
    marker = tmp_path / "pwned"
    (bad / "model.joblib").write_bytes(pickle.dumps(_Evil(marker)))
    _reseal(bad)
    run = label_files([policy_txt], tmp_path / "o.csv", model=bad)
    assert run.units == 7 and not marker.exists()


def test_object_array_in_npz_is_refused(trained, tmp_path):
    import numpy as np

    bad = _copy(trained[0], tmp_path / "bad")
    with np.load(bad / "predictor.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["coef"] = np.array([_Evil(tmp_path / "pwned")], dtype=object)
    np.savez(bad / "predictor.npz", **arrays)  # needs pickle for the object array
    _reseal(bad)
    with pytest.raises(AipolicyError, match="not readable"):
        load_predictor(bad)
    assert not (tmp_path / "pwned").exists()


def test_old_pickle_format_is_refused_with_a_clear_message(trained, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "card.json").write_text(json.dumps({"format_version": 1, "predictor": {"file": "predictor.joblib"}}))
    (old / "predictor.joblib").write_bytes(pickle.dumps(_Evil(tmp_path / "pwned")))
    with pytest.raises(AipolicyError, match="old format"):
        load_predictor(old)
    assert not (tmp_path / "pwned").exists()


def test_sklearn_version_mismatch_warns_or_fails(trained, tmp_path):
    from aipolicy.models import VersionMismatchWarning

    other = _copy(trained[0], tmp_path / "other")
    card = json.loads((other / "card.json").read_text())
    card["versions"]["scikit-learn"] = "0.0.1"
    (other / "card.json").write_text(json.dumps(card))
    _reseal(other)
    with pytest.warns(VersionMismatchWarning, match="scikit-learn 0.0.1"):
        load_model(other)
    with pytest.raises(AipolicyError, match="scikit-learn 0.0.1"):
        load_model(other, strict_versions=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_predictor(other)  # the numpy predictor does not depend on scikit-learn


def test_bare_name_never_resolves_to_the_working_folder(trained, tmp_path, monkeypatch, capsys, policy_txt):
    from aipolicy.models import shipped_models_dir

    work = tmp_path / "work"
    planted = _copy(trained[0], work / "default")  # a valid-looking model called 'default' where the user runs
    marker = tmp_path / "pwned"
    (planted / "model.joblib").write_bytes(pickle.dumps(_Evil(marker)))
    _reseal(planted)
    monkeypatch.chdir(work)
    assert resolve_model("default") == shipped_models_dir() / "default"
    assert resolve_model("./default").resolve() == work / "default"  # a path is explicit
    assert main(["label", str(policy_txt), "-o", str(tmp_path / "o.csv"), "-q"]) == 0
    assert f"[model: {shipped_models_dir() / 'default'}]" in capsys.readouterr().out
    load_model()  # the shipped default, not ./default
    assert not marker.exists()
    with pytest.raises(AipolicyError, match="not found"):
        resolve_model("fixture")  # not in the package, no --models-dir: the working folder is not searched


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


def test_train_from_another_folder_writes_a_new_version(fixture_setup, tmp_path, monkeypatch, capsys):
    """`aipolicy train --config FILE` from any folder; without --name a new dated folder, never 'default'."""
    import re

    import yaml

    cfg = yaml.safe_load(fixture_setup["config"].read_text(encoding="utf-8"))
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    shutil.copy(fixture_setup["gold"], conf_dir / "gold.csv")
    cfg.update(labels="gold.csv", models_dir="out-models")  # relative: against the configuration's folder
    (conf_dir / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    (conf_dir / "out-models" / "default").mkdir(parents=True)
    (conf_dir / "out-models" / "default" / "keep.txt").write_text("not a model\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for n in (1, 2):
        assert main(["train", "--config", str(conf_dir / "config.yaml"), "-q"]) == 0
        out = capsys.readouterr().out
        m = re.search(r"model written to (\S+)", out)
        assert m and re.fullmatch(rf"\d{{4}}-\d{{2}}-\d{{2}}-{n}", Path(m.group(1)).name), out
        assert Path(m.group(1)).parent == conf_dir / "out-models"
    assert (conf_dir / "out-models" / "default" / "keep.txt").is_file()  # 'default' untouched
    # a flag is a path against the working folder
    assert main(["train", "--config", str(conf_dir / "config.yaml"), "--models-dir", "here", "--name", "x",
                 "-q"]) == 0
    assert (elsewhere / "here" / "x" / "manifest.json").is_file()


def test_a_copy_for_labelling_may_leave_out_the_estimator(trained, tmp_path):
    """A folder with only what labelling needs (no model.joblib, no MODEL_CARD.md) still verifies for the
    predictor; load_model says what is missing."""
    lean = _copy(trained[0], tmp_path / "lean")
    (lean / "model.joblib").unlink()
    (lean / "MODEL_CARD.md").unlink()
    assert load_predictor(lean).predict_proba(["建设智算中心"]).shape == (1, 6)
    with pytest.raises(ModelIntegrityError, match="(MODEL_CARD.md|model.joblib) listed in its manifest.json is missing"):
        load_model(lean)


def test_labels_and_train_without_a_configuration_file(fixture_setup, tmp_path, monkeypatch, capsys):
    """In a folder without training/config.yaml every path can come from a flag (against the working folder)."""
    work = tmp_path / "nowhere"
    work.mkdir()
    shutil.copy(fixture_setup["gold"], work / "gold.csv")
    monkeypatch.chdir(work)
    assert main(["labels", "check", "gold.csv", "--no-units", "-q"]) == 0
    assert "gold.csv: OK (48 labelled units" in capsys.readouterr().out
    assert main(["train", "--labels", "gold.csv", "--corpus", f"fixture={fixture_setup['corpus']}",
                 "--models-dir", "m", "--name", "flags", "--folds", "3", "-q"]) == 0
    assert (work / "m" / "flags" / "manifest.json").is_file()
