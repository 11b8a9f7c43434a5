"""How a model folder is stored and read fast: packed, uncompressed predictor arrays, remembered hashes,
and what the console script does around a command (issue 13: one short file in ≤ 0.5 s)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aipolicy import models
from aipolicy.batch import label_files
from aipolicy.errors import AipolicyError, ModelIntegrityError
from aipolicy.models import (load_predictor, pack_array, read_npz, unpack_arrays, verify_folder, write_manifest,
                             write_npz)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _write_old_npz(path: Path, arrays: dict) -> None:
    """predictor.npz as aipolicy wrote it before: every array whole, deflated."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(arrays[key]), allow_pickle=False)


def _copy(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest)
    return dest


def _reseal(folder: Path) -> None:
    (folder / "manifest.json").unlink()
    write_manifest(folder)


# ------------------------------------------------------------------ packed arrays

def test_packed_arrays_come_back_bit_for_bit():
    rng = np.random.default_rng(0)
    coef = np.zeros((3, 20_000))
    used = rng.choice(20_000, 6_000, replace=False)
    coef[:, used] = rng.normal(size=(3, 6_000))
    coef[1, used[0]] = -0.0  # a negative zero is not the fill value's bits: kept
    coef[2, used[1]] = np.nan
    idf = np.full(30_000, 7.25)
    idf[rng.choice(30_000, 5_000, replace=False)] = rng.uniform(1, 7, 5_000)
    dense = rng.normal(size=10_000)  # nothing repeats: stored whole
    arrays = {"coef": coef, "idf": idf, "dense": dense, "small": np.arange(5), "keep": np.arange(0, 50_000, 2)}
    stored = {}
    for k, v in arrays.items():
        stored.update(pack_array(k, v))
    assert {"coef.cols", "coef.vals", "idf.fill", "dense", "small", "keep"} <= set(stored)
    assert stored["coef.vals"].shape == (3, 6_000) and float(stored["idf.fill"]) == 7.25
    back = unpack_arrays(stored)
    assert set(back) == set(arrays) and all(_same(back[k], arrays[k]) for k in arrays)
    # rebuilt column-major (as load_predictor reads the weights): the same values, each column contiguous
    cm = unpack_arrays(stored, column_major=("coef", "idf"))
    assert all(_same(cm[k], arrays[k]) for k in arrays)
    assert cm["coef"].flags["F_CONTIGUOUS"] and not cm["coef"].flags["C_CONTIGUOUS"]


def test_npz_bytes_do_not_depend_on_the_memory_layout(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {"coef": rng.normal(size=(3, 5_000)), "small": np.arange(6).reshape(2, 3)}
    for pack in (True, False):
        write_npz(tmp_path / "c.npz", arrays, pack=pack)
        write_npz(tmp_path / "f.npz", {k: np.asfortranarray(v) for k, v in arrays.items()}, pack=pack)
        assert (tmp_path / "c.npz").read_bytes() == (tmp_path / "f.npz").read_bytes()


def test_predictor_npz_is_uncompressed_smaller_and_reads_as_before(trained, tmp_path):
    with np.load(trained[0] / "predictor.npz", allow_pickle=False) as z:
        assert {i.compress_type for i in zipfile.ZipFile(trained[0] / "predictor.npz").infolist()} == {zipfile.ZIP_STORED}
        assert "coef.vals" in z.files  # the unused hash columns' zero weights are not stored
    arrays = read_npz(trained[0] / "predictor.npz")
    whole = tmp_path / "whole.npz"
    write_npz(whole, arrays, pack=False)
    assert (trained[0] / "predictor.npz").stat().st_size < 0.75 * whole.stat().st_size
    again = tmp_path / "again.npz"
    write_npz(again, arrays)
    assert again.read_bytes() == (trained[0] / "predictor.npz").read_bytes()  # deterministic
    assert all(_same(read_npz(whole)[k], arrays[k]) for k in arrays)


def test_a_model_in_the_old_layout_loads_and_labels_byte_identically(trained, tmp_path, policy_txt):
    old = _copy(trained[0], tmp_path / "old")
    arrays = read_npz(old / "predictor.npz")
    _write_old_npz(old / "predictor.npz", arrays)
    _reseal(old)
    with np.load(old / "predictor.npz") as z:
        assert "coef" in z.files and "coef.vals" not in z.files
    a, b = load_predictor(old), load_predictor(trained[0])
    for k in ("coef", "char_idf", "word_idf", "char_keep", "intercept", "calib_a", "calib_b", "thresholds_"):
        assert _same(getattr(a, k), getattr(b, k)), k
    outs = []
    for model in (old, trained[0]):
        out = tmp_path / f"{model.name}.csv"
        label_files([policy_txt], out, model=model)
        outs.append([Path(str(out) + ext).read_bytes() for ext in ("", ".manifest.csv", ".documents.csv")])
    assert outs[0] == outs[1]


@pytest.mark.parametrize("damage", ["cols out of range", "values of another shape", "part missing", "twice",
                                    "not a zip"])
def test_packed_parts_that_do_not_fit_are_refused(trained, tmp_path, damage):
    bad = _copy(trained[0], tmp_path / "bad")
    with np.load(bad / "predictor.npz") as z:
        stored = {k: z[k] for k in z.files}
    if damage == "cols out of range":
        stored["coef.cols"] = stored["coef.cols"] + 10**6
    elif damage == "values of another shape":
        stored["coef.vals"] = stored["coef.vals"][:, :-1]
    elif damage == "part missing":
        del stored["coef.fill"]
    elif damage == "twice":
        stored["coef"] = unpack_arrays(stored)["coef"]
    with zipfile.ZipFile(bad / "predictor.npz", "w") as zf:
        for k, v in stored.items():
            with zf.open(f"{k}.npy", "w") as fh:
                np.lib.format.write_array(fh, v, allow_pickle=False)
    if damage == "not a zip":
        (bad / "predictor.npz").write_bytes(b"PK\x03\x04" + bytes(100))
    _reseal(bad)
    with pytest.raises(AipolicyError, match="predictor files are not readable"):
        load_predictor(bad)


def test_uncompressed_members_are_read_as_numpy_reads_them(tmp_path):
    arrays = {"f": np.asfortranarray(np.arange(12.0).reshape(3, 4)), "i": np.arange(7, dtype=np.int32),
              "s": np.float64(2.5), "b": np.array([True, False]), "e": np.zeros((0, 3))}
    np.savez(tmp_path / "plain.npz", **arrays)  # stored, not deflated: read straight from the bytes
    got = read_npz(tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz") as z:
        for k in arrays:
            assert _same(got[k], z[k]) and got[k].flags.f_contiguous == z[k].flags.f_contiguous, k
            assert got[k].flags.writeable and got[k].flags.aligned
    data = bytearray((tmp_path / "plain.npz").read_bytes())
    head = data.index(b"'shape': (7,)")
    data[head:head + 13] = b"'shape': (9,)"  # more elements than the member holds
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not fill the member"):
        read_npz(tmp_path / "bad.npz")


def test_array_names_that_look_like_packed_parts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="packed"):
        write_npz(tmp_path / "x.npz", {"coef.vals": np.zeros(3)})


# ------------------------------------------------------------------ remembered hashes

@pytest.fixture
def remembering(monkeypatch, tmp_path):
    """Files count as settled at once (no 2 s wait), in a private cache folder; counts the hashing."""
    monkeypatch.setattr(models, "RACY_NS", 0)
    monkeypatch.setenv("AIPOLICY_CACHE_DIR", str(tmp_path / "cache"))
    hashed = []
    real = models.sha256_file

    def counting(path):
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(models, "sha256_file", counting)
    return hashed


def test_a_verified_folder_is_not_hashed_again_until_a_file_changes(trained, tmp_path, remembering):
    folder = _copy(trained[0], tmp_path / "m")
    verify_folder(folder)
    assert "model.joblib" in remembering and "predictor.npz" in remembering
    remembering.clear()
    verify_folder(folder)
    load_predictor(folder)
    assert remembering == ["manifest.json", "manifest.json"]  # only the small manifest, for its sha256
    entries = json.loads(next((tmp_path / "cache" / "verified").glob("*.json")).read_text())["files"]
    assert set(entries) == set(json.loads((folder / "manifest.json").read_text())["files"])


@pytest.mark.parametrize("victim", ["predictor.npz", "model.joblib", "card.json"])
def test_a_remembered_file_changed_in_place_is_refused(trained, tmp_path, remembering, victim):
    folder = _copy(trained[0], tmp_path / "m")
    verify_folder(folder)
    f = folder / victim
    st = os.stat(f)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    with open(f, "r+b") as fh:  # same inode, same size
        fh.write(bytes(data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # modification time set back: the change time is not
    assert os.stat(f).st_mtime_ns == st.st_mtime_ns and os.stat(f).st_ino == st.st_ino
    with pytest.raises(ModelIntegrityError, match=f"refusing to load .*{victim}"):
        verify_folder(folder)


def test_a_file_replaced_by_another_with_the_same_times_is_refused(trained, tmp_path, remembering):
    folder = _copy(trained[0], tmp_path / "m")
    verify_folder(folder)
    f = folder / "predictor.json"
    st = os.stat(f)
    other = tmp_path / "other.json"
    other.write_text(f.read_text(encoding="utf-8").replace('"format"', '"format" ', 1)[:st.st_size], encoding="utf-8")
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, f)
    with pytest.raises(ModelIntegrityError, match="predictor.json"):
        load_predictor(folder)


def test_fresh_files_are_not_remembered(trained, tmp_path, monkeypatch):
    """A file changed within RACY_NS before hashing (a model just written, e.g. by the Dask plugin) is hashed
    every time: a coarse filesystem clock could give its next version the same times."""
    monkeypatch.setenv("AIPOLICY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "RACY_NS", 3600 * 10**9)
    folder = _copy(trained[0], tmp_path / "m")
    verify_folder(folder)
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_a_broken_or_unwritable_cache_only_costs_the_hashing(trained, tmp_path, remembering, monkeypatch):
    folder = _copy(trained[0], tmp_path / "m")
    verify_folder(folder)
    (cache_file,) = (tmp_path / "cache" / "verified").glob("*.json")
    cache_file.write_text("{not json")
    remembering.clear()
    verify_folder(folder)
    assert "predictor.npz" in remembering  # hashed again, and remembered again
    json.loads(cache_file.read_text())
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("AIPOLICY_CACHE_DIR", str(blocked))
    assert verify_folder(folder)["sha256"]


def test_a_remembered_hash_stands_only_for_the_sha256_the_manifest_expects(trained, tmp_path, remembering):
    folder = _copy(trained[0], tmp_path / "m")
    verify_folder(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["card.json"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="card.json"):
        verify_folder(folder)


# ------------------------------------------------------------------ the console script

def test_label_runs_with_one_blas_thread_unless_the_user_chose(tmp_path, policy_txt, trained):
    code = ("import os, sys; from aipolicy.cli import main; "
            f"rc = main(['label', {str(policy_txt)!r}, '-o', {str(tmp_path / 'o.csv')!r}, '-q', '-m', {str(trained[0])!r}]); "
            "import numpy; print(os.environ.get('OPENBLAS_NUM_THREADS')); sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "1"
    out = subprocess.run([sys.executable, "-c", code], env=dict(env, OPENBLAS_NUM_THREADS="2"), capture_output=True,
                         text=True, check=True).stdout
    assert out.split()[-1] == "2"


def test_the_console_script_exits_with_the_command_status_and_frozen_objects(monkeypatch):
    import gc

    from aipolicy import cli

    monkeypatch.setattr(cli, "main", lambda: 3)
    try:
        with pytest.raises(SystemExit) as e:
            cli.run()
        assert e.value.code == 3 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_parser_built_for_one_command_parses_and_helps_as_the_whole_one():
    import argparse

    from aipolicy import cli

    def commands(parser):
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    full = commands(cli.build_parser())
    assert {"ingest", "label", "evaluate", "topics", "report", "train", "suggest", "models", "labels"} <= set(full)
    for name in full:
        one = commands(cli.build_parser(only=name))
        assert list(one) == [name]
        assert one[name].format_help() == full[name].format_help()
    for argv in (["label", "a.txt", "-o", "o.csv", "-j", "2", "-q", "--threshold", "data=0.3"],
                 ["models", "show", "x"], ["labels", "check", "--no-units"], ["report", "d", "-o", "r", "--no-topics"]):
        assert vars(cli.build_parser(only=argv[0]).parse_args(argv)) == vars(cli.build_parser().parse_args(argv))
    assert set(commands(cli.build_parser(only="nosuch"))) == set(full)  # an unknown command: all are listed
