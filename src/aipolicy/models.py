"""Model folders: what a trained model is on disk, and how it is found, verified and loaded.

A model folder holds

* ``predictor.npz`` and ``predictor.json`` — the inference model: numeric arrays (loaded with
  ``allow_pickle=False``) and vocabulary, thresholds, cue terms and settings as JSON. Nothing in them
  can run code; this is what ``label``, ``report``, ``topics`` and ``suggest`` load.
* ``model.joblib`` — the fitted scikit-learn estimator, a pickle, kept for retraining and for the
  estimator API. It is unpickled only by :func:`load_model` (an explicit request), after the checks below.
* ``card.json`` and ``MODEL_CARD.md`` — what the model is, how it was trained and evaluated.
* ``manifest.json`` — the sha256 of every other file. It is verified before anything else in the folder
  is read: a changed, missing or unlisted file is refused, with the file named.

The manifest proves integrity (the files are those written together at training time), not origin:
whoever can rewrite a folder can rewrite its manifest. Origin comes from *where* a model is looked up —
a bare name only in the package's own models or a ``--models-dir`` the user names, never in the working
folder — and the damage a rewritten folder can do to ``label`` is bounded by the format: wrong numbers,
not code.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .errors import AipolicyError, ModelIntegrityError
from .settings import DEFAULT_MODEL
from .tables import atomic_path

ARTIFACT = "model.joblib"          # the pickled scikit-learn estimator (retraining, estimator API)
PREDICTOR_ARRAYS = "predictor.npz"
PREDICTOR_META = "predictor.json"
CARD = "card.json"
HUMAN_CARD = "MODEL_CARD.md"
MANIFEST = "manifest.json"
FORMAT_VERSION = 2


class VersionMismatchWarning(UserWarning):
    """The model was made with another scikit-learn than the one installed."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- finding a model

def shipped_models_dir() -> Path:
    """The models that ship inside the installed package."""
    from importlib import resources

    return Path(str(resources.files("aipolicy.shipped_models")))


def model_dirs(models_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where a bare model name is looked up, in order: the user's folder (if named), then the package's."""
    dirs = [Path(models_dir)] if models_dir else []
    return dirs + [shipped_models_dir()]


def _is_path(name: str) -> bool:
    """A model given as a path (``./default``, ``models/x``, ``/abs``), not as a bare name."""
    return os.sep in name or "/" in name or (os.altsep or "/") in name or name in (".", "..") \
        or name.startswith("~")


def resolve_model(name: str | os.PathLike | None = None,
                  models_dir: str | os.PathLike | None = None) -> Path:
    """The folder of model ``name``.

    A bare name (``default``, ``2026-11-25-1``) is looked up in ``models_dir`` and then in the package's
    shipped models — never in the working folder. A path (``./default``, ``models/default``, an absolute
    path, a ``Path`` object) names that folder explicitly.
    """
    name = name or DEFAULT_MODEL
    if isinstance(name, os.PathLike) or _is_path(str(name)):
        p = Path(name).expanduser()
        if (p / MANIFEST).is_file() or (p / CARD).is_file():
            return p
        raise AipolicyError(f"model folder {p} not found (it holds no {MANIFEST})")
    for d in model_dirs(models_dir):
        if (d / str(name) / MANIFEST).is_file() or (d / str(name) / CARD).is_file():
            return d / str(name)
    where = ", ".join(str(d) for d in model_dirs(models_dir))
    raise AipolicyError(f"model '{name}' not found (looked in: {where}); 'aipolicy models list' shows the "
                        "available models; give a folder as a path (./NAME) or use --models-dir")


# ----------------------------------------------------------------------------- verification

def verify_folder(folder: Path, *, optional: tuple[str, ...] = ()) -> dict:
    """Check every file of ``folder`` against its ``manifest.json``; return the manifest.

    Raises ModelIntegrityError naming the first file that is changed, missing or not listed.
    Nothing else in the folder is opened before this passes. Files named in ``optional`` may be absent
    (e.g. the estimator pickle, in a copy made only for labelling); when present they are checked too.
    """
    folder = Path(folder)
    mpath = folder / MANIFEST
    if not mpath.is_file():
        if (folder / CARD).is_file():
            raise AipolicyError(f"{folder}: model in an old format (pickled predictor, no {MANIFEST}); "
                                "retrain it with this aipolicy ('aipolicy train') or convert it with "
                                "'python training/convert_model_v1.py FOLDER' if you trust its origin")
        raise AipolicyError(f"{folder}: not a model folder (no {MANIFEST})")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelIntegrityError(f"{mpath} is not a readable model manifest ({type(e).__name__}); "
                                  "nothing was loaded") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise AipolicyError(f"{folder}: model format {manifest.get('format_version')!r} is not supported by "
                            f"this aipolicy (expects {FORMAT_VERSION})")
    present = {p.name for p in folder.iterdir() if p.name != MANIFEST and not p.name.startswith(".")}
    for extra in sorted(present - set(files)):
        raise ModelIntegrityError(f"refusing to load {folder}: {extra} is not listed in its {MANIFEST} "
                                  "(a file added after training). Nothing was loaded.")
    known = _remembered(folder)
    verified = {}
    for fname, expected in sorted(files.items()):
        entry = _check_file(folder, fname, expected, fname in optional, known.get(fname))
        if entry is not None:
            verified[fname] = entry
    manifest["sha256"] = sha256_file(mpath)
    if verified != known:
        _remember(folder, verified)
    return manifest


def _check_file(folder: Path, fname: str, expected: str, optional: bool, known: list | None) -> list | None:
    """Raise ModelIntegrityError unless ``fname`` is absent and optional or its sha256 is ``expected``;
    the entry to remember for it (``_file_sha256``)."""
    f = folder / fname
    if Path(fname).name != fname:
        raise ModelIntegrityError(f"refusing to load {folder}: {fname} in its {MANIFEST} is not a plain file name")
    if not f.is_file() and optional:
        return None
    if not f.is_file():
        raise ModelIntegrityError(f"refusing to load {folder}: {fname} listed in its {MANIFEST} is missing. "
                                  "Nothing was loaded.")
    actual, entry = _file_sha256(f, str(expected), known)
    if actual != expected:
        raise ModelIntegrityError(
            f"refusing to load {f}: its sha256 {actual[:16]}… does not match the {str(expected)[:16]}… "
            f"recorded in {MANIFEST} at training time. The file was changed after training; retrain "
            "or restore the original. Nothing was loaded.")
    return entry


# ----------------------------------------------------------------------------- remembered hashes
# Hashing the whole folder (25 MB with the estimator) took 20-25 ms of every `aipolicy label`. A file whose
# sha256 matched the manifest is remembered, in the user's cache folder, under its stat key — device, inode,
# size, modification and status-change times in nanoseconds — and is not hashed again while the key is the
# same and the manifest still expects that sha256. Writing to a file, replacing or copying it, even
# setting its times back with os.utime, gives it a new status-change time, which no program can set
# (only the system clock can): a changed file is hashed again and refused. A file changed less than
# RACY_NS before it was hashed is not remembered (on a filesystem with coarse timestamps a second change
# within the same tick would keep the key): a model just written — by training, by a copy, by the Dask
# plugin on a worker — is hashed in full. A cache that cannot be read or written only costs the hashing.
CACHE_ENV = "AIPOLICY_CACHE_DIR"
RACY_NS = 2_000_000_000


def cache_dir() -> Path:
    """``$AIPOLICY_CACHE_DIR``, else ``$XDG_CACHE_HOME/aipolicy``, else ``~/.cache/aipolicy``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aipolicy"


def _hashes_path(folder: Path) -> Path:
    real = os.path.realpath(folder).encode("utf-8", "surrogateescape")
    return cache_dir() / "verified" / f"{hashlib.sha256(real).hexdigest()[:32]}.json"


def _stat_key(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _file_sha256(f: Path, expected: str, known: list | None) -> tuple[str, list | None]:
    """(sha256 of ``f``, its entry to remember or None): ``known`` (a remembered entry: stat key + sha256)
    stands for the hash when ``f``'s stat key is the same and it recorded ``expected``."""
    key = _stat_key(f)
    if known == key + [expected]:
        return expected, known
    now = time.time_ns()
    actual = sha256_file(f)
    if _stat_key(f) != key or now - max(key[3], key[4]) < RACY_NS:
        return actual, None
    return actual, key + [actual]


def _remembered(folder: Path) -> dict[str, list]:
    try:
        files = json.loads(_hashes_path(folder).read_text(encoding="utf-8"))["files"]
        return {k: v for k, v in files.items() if isinstance(v, list) and len(v) == 6}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _remember(folder: Path, entries: dict[str, list]) -> None:
    path = _hashes_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"folder": os.path.realpath(folder), "files": entries}) + "\n",
                           encoding="utf-8")
    except OSError:
        pass


def read_card(folder: Path) -> dict:
    """The model card, after the whole folder has been verified."""
    verify_folder(folder)
    return _read_card(folder)


def _read_card(folder: Path) -> dict:
    try:
        return json.loads((folder / CARD).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise AipolicyError(f"{folder / CARD} is not readable: {e}") from None


# ----------------------------------------------------------------------------- loading

def load_predictor(name: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None):
    """The model's fast :class:`~aipolicy.predictor.Predictor` (no pickle, no scikit-learn import),
    after verifying the folder. ``.card_`` holds its card and ``.model_path_`` its folder."""
    from .predictor import Predictor

    folder = resolve_model(name, models_dir)
    manifest = verify_folder(folder, optional=(ARTIFACT, HUMAN_CARD))  # labelling needs neither
    card = _read_card(folder)
    try:
        meta = json.loads((folder / PREDICTOR_META).read_text(encoding="utf-8"))
        # the weights column-major: Predictor._weights_t is then a view, not a 13 MB copy in every worker
        pred = Predictor.from_parts(meta, read_npz(folder / PREDICTOR_ARRAYS, column_major=("coef",)))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AipolicyError(f"{folder}: the predictor files are not readable ({type(e).__name__}: {e})") from None
    card["manifest_sha256"] = manifest["sha256"]  # identifies the whole model folder (reports, resume)
    pred.card_ = card
    pred.model_path_ = str(folder)
    pred.manifest_sha256_ = manifest["sha256"]
    return pred


def check_sklearn_version(card: dict, *, strict: bool = False) -> None:
    """Warn (or, with ``strict``, raise) when the model was pickled by another scikit-learn."""
    import sklearn

    made = (card.get("versions") or {}).get("scikit-learn")
    if made and made != sklearn.__version__:
        msg = (f"model {card.get('name', '?')} was made with scikit-learn {made}, this is {sklearn.__version__}: "
               "the unpickled estimator may behave differently or fail; retrain it ('aipolicy train') or "
               "install scikit-learn=={made}. The predictor used by 'aipolicy label' is not affected.")
        if strict:
            raise AipolicyError(msg)
        warnings.warn(msg, VersionMismatchWarning, stacklevel=3)


def load_model(name: str | os.PathLike | None = None, models_dir: str | os.PathLike | None = None, *,
               strict_versions: bool = False):
    """The fitted PolicyClassifier (a scikit-learn estimator, for retraining or the estimator API).

    This unpickles ``model.joblib`` — only after the whole folder has passed its manifest check, and
    with a warning (an error with ``strict_versions``) when the scikit-learn version differs from the
    one the model was made with. For labelling use :func:`load_predictor`, which loads no pickle.
    """
    import joblib

    folder = resolve_model(name, models_dir)
    manifest = verify_folder(folder)
    card = _read_card(folder)
    card["manifest_sha256"] = manifest["sha256"]
    if not (folder / ARTIFACT).is_file():
        raise AipolicyError(f"{folder}: no {ARTIFACT} (this model ships only its predictor)")
    check_sklearn_version(card, strict=strict_versions)
    obj = joblib.load(folder / ARTIFACT)
    obj.card_ = card
    obj.model_path_ = str(folder)
    return obj


def parse_thresholds(items) -> dict[str, float]:
    """``["data=0.4", ...]`` → ``{"data": 0.4}``; a clear error for anything else."""
    out: dict[str, float] = {}
    for item in items or []:
        cat, sep, value = str(item).partition("=")
        try:
            v = float(value)
        except ValueError:
            v = float("nan")
        if not sep or not cat.strip() or not (0.0 <= v <= 1.0):
            raise AipolicyError(f"--threshold takes CATEGORY=VALUE with VALUE between 0 and 1, got {item!r}")
        out[cat.strip()] = v
    return out


def override_thresholds(model, overrides: dict | None):
    """Replace some of ``model.thresholds_`` ({category: value in [0, 1]}); unknown categories are an error.
    ``gate`` (when no category has that name) replaces the model's gate: a unit gets labels only when one of
    its probabilities reaches the value (0: no gate)."""
    if not overrides:
        return model
    cats = [str(c) for c in model.categories_]
    overrides = dict(overrides)
    if "gate" in overrides and "gate" not in cats:
        g = float(overrides.pop("gate"))
        if not 0.0 <= g <= 1.0:
            raise AipolicyError(f"--threshold gate={g}: the value must be between 0 and 1")
        model.gates_ = np.full(len(cats), g) if g > 0 else None
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


# ----------------------------------------------------------------------------- saving

# predictor.npz is stored uncompressed: inflating 16 MB of weights took 60-70 ms of every `aipolicy label`
# (a short file's whole run is 0.5 s), reading them is a copy. To keep the file small, an array whose last
# axis is mostly one value (the weights and idf of the character-hash columns no n-gram of the training
# data fell into: zero weights, one idf) is stored as NAME.shape, NAME.fill (that value), NAME.cols (the
# other columns) and NAME.vals (their values); read_npz rebuilds it bit for bit. Folders written before
# (deflated, unpacked arrays) read as they are.
_PACKED_PARTS = (".shape", ".fill", ".cols", ".vals")
_PACK_MIN = 4096  # arrays smaller than this are stored as they are
_PACK_MAX_SIZE = 1 << 28  # elements of a rebuilt array at most (a few bytes of parts cannot ask for more)


def pack_array(name: str, arr: np.ndarray) -> dict[str, np.ndarray]:
    """``{name: arr}``, or its packed parts when at least a quarter of its columns hold nothing but its most
    common value (compared bit for bit, so -0.0 and NaNs survive)."""
    arr = np.asarray(arr)
    if arr.ndim not in (1, 2) or arr.size < _PACK_MIN or arr.dtype.kind not in "fiu":
        return {name: arr}
    bits = np.ascontiguousarray(arr).view(f"u{arr.dtype.itemsize}").reshape(-1, arr.shape[-1])
    values, counts = np.unique(bits, return_counts=True)
    fill = values[counts.argmax()]
    cols = np.flatnonzero((bits != fill).any(axis=0))
    if len(cols) > arr.shape[-1] * 3 // 4:
        return {name: arr}
    return {f"{name}.shape": np.asarray(arr.shape, dtype=np.int64), f"{name}.fill": np.asarray(fill).view(arr.dtype),
            f"{name}.cols": cols.astype(np.int32 if arr.shape[-1] < 2**31 else np.int64),
            f"{name}.vals": np.ascontiguousarray(arr[..., cols])}


def unpack_arrays(stored: dict[str, np.ndarray], column_major: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_array` over a whole .npz; ValueError for parts that do not fit together.
    The packed arrays named in ``column_major`` are rebuilt in column-major (Fortran) order: the same
    values, laid out so that a column is contiguous (the predictor reads its weights a column at a time)."""
    out = {k: v for k, v in stored.items() if not k.endswith(_PACKED_PARTS)}
    for name in sorted({k.rsplit(".", 1)[0] for k in stored if k.endswith(_PACKED_PARTS)}):
        if name in out:
            raise ValueError(f"array {name} is stored both whole and packed")
        out[name] = _unpack(name, stored, name in column_major)
    return out


def _unpack(name: str, stored: dict[str, np.ndarray], column_major: bool = False) -> np.ndarray:
    try:
        shape, fill, cols, vals = (stored[name + part] for part in _PACKED_PARTS)
    except KeyError as e:
        raise ValueError(f"packed array {name} has no {e.args[0]}") from None
    shape = tuple(int(n) for n in shape)
    fits = (len(shape) in (1, 2) and min(shape) >= 0 and int(np.prod(shape)) <= _PACK_MAX_SIZE
            and fill.shape == () and vals.dtype == fill.dtype and cols.dtype.kind in "iu"
            and vals.shape == shape[:-1] + cols.shape)
    if not fits or (len(cols) and (cols.min() < 0 or cols.max() >= shape[-1])):
        raise ValueError(f"packed array {name} does not fit together")
    arr = np.full(shape[::-1], fill, dtype=vals.dtype).T if column_major else np.full(shape, fill, dtype=vals.dtype)
    arr[..., cols] = vals
    return arr


def read_npz(path: Path, column_major: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays of a predictor.npz (no pickle: an object array is refused), packed ones rebuilt (those
    named in ``column_major`` in column-major order, see ``unpack_arrays``)."""
    stored = _stored_arrays(Path(path))
    if stored is None:  # compressed members (a folder written before): numpy's reader
        with np.load(path, allow_pickle=False) as z:
            stored = {k: z[k] for k in z.files}
    return unpack_arrays(stored, column_major)


def _stored_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of an uncompressed .npz, each read with numpy's .npy reader straight from its place in
    the file (numpy.load goes through zipfile in 256 kB chunks with a CRC: twice the time, for a file whose
    sha256 is checked); None when a member is compressed. ValueError for a member that is not one array."""
    with open(path, "rb") as fh:
        try:
            with zipfile.ZipFile(fh) as zf:
                members = zf.infolist()
        except zipfile.BadZipFile as e:
            raise ValueError(f"not an .npz ({e})") from None
        if any(m.compress_type != zipfile.ZIP_STORED for m in members):
            return None
        out = {}
        for m in members:
            fh.seek(m.header_offset)
            local = fh.read(30)
            if local[:4] != b"PK\x03\x04" or not m.filename.endswith(".npy"):
                raise ValueError(f"{m.filename} is not an array of the .npz")
            begin = m.header_offset + 30 + sum(struct.unpack("<HH", local[26:30].ljust(4, b"\0")))
            fh.seek(begin)
            out[m.filename[:-len(".npy")]] = np.lib.format.read_array(fh, allow_pickle=False)
            if fh.tell() - begin != m.file_size:
                raise ValueError(f"{m.filename}: its array does not fill the member")
    return out


def write_npz(path: Path, arrays: dict[str, np.ndarray], *, pack: bool = True) -> None:
    """An .npz that is the same bytes for the same arrays (fixed zip timestamps; np.savez stamps the time),
    uncompressed, with mostly-constant arrays packed (``pack_array``)."""
    stored: dict[str, np.ndarray] = {}
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])  # row-major whatever the layout in memory: the same bytes
        if arr.dtype == object:
            raise ValueError(f"array {key} holds Python objects; it cannot be stored without pickle")
        if key.endswith(_PACKED_PARTS):
            raise ValueError(f"array name {key} ends like a packed array's part")
        stored.update(pack_array(key, arr) if pack else {key: arr})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(stored):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, stored[key], allow_pickle=False)


def write_predictor(pred, folder: Path) -> None:
    """``predictor.npz`` + ``predictor.json`` of a Predictor."""
    meta, arrays = pred.to_parts()
    write_npz(folder / PREDICTOR_ARRAYS, arrays)
    (folder / PREDICTOR_META).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def write_manifest(folder: Path) -> dict:
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir())
             if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}
    manifest = {"format_version": FORMAT_VERSION, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def save_model(clf, folder: str | os.PathLike, card: dict, human_card: str, *, estimator: bool = True) -> Path:
    """Write the predictor (npz + JSON), the estimator (``model.joblib``, unless ``estimator=False``),
    card.json, MODEL_CARD.md and the manifest; replaces the folder in one rename."""
    from .predictor import from_estimator

    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_predictor(from_estimator(clf), tmp)
    if estimator:
        import joblib

        joblib.dump(clf, tmp / ARTIFACT, compress=3)
    card = {k: v for k, v in card.items() if k not in ("artifact", "predictor")}
    card["format_version"] = FORMAT_VERSION
    (tmp / CARD).write_text(json.dumps(card, ensure_ascii=False, indent=2, sort_keys=False) + "\n",
                            encoding="utf-8")
    (tmp / HUMAN_CARD).write_text(human_card, encoding="utf-8")
    write_manifest(tmp)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def next_version_name(models_dir: str | os.PathLike, today: str | None = None) -> str:
    """A new model name ``YYYY-MM-DD-N`` (N one more than the highest of that day in ``models_dir``)."""
    from datetime import datetime, timezone

    today = today or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    d = Path(models_dir)
    taken = [p.name[len(today) + 1:] for p in d.glob(f"{today}-*")] if d.is_dir() else []
    n = max((int(t) for t in taken if t.isdigit()), default=0)
    return f"{today}-{n + 1}"


# ----------------------------------------------------------------------------- listing

def _list_row(sub: Path) -> dict:
    try:
        card = read_card(sub)
    except AipolicyError as e:
        return {"name": sub.name, "path": str(sub), "error": str(e)}
    m = card.get("metrics", {})
    return {"name": sub.name, "path": str(sub), "version": card.get("version", ""),
            "created": card.get("created", ""), "units": card.get("training_data", {}).get("units"),
            "macro_f1": m.get("macro_f1"), "baseline_macro_f1": m.get("baseline_macro_f1")}


def list_models(models_dir: str | os.PathLike | None = None) -> list[dict]:
    rows, seen = [], set()
    for d in model_dirs(models_dir):
        if not d.is_dir():
            continue
        for sub in sorted(d.iterdir()):
            if sub.name in seen or not ((sub / MANIFEST).is_file() or (sub / CARD).is_file()):
                continue
            seen.add(sub.name)
            rows.append(_list_row(sub))
    return rows


__all__ = ["load_model", "load_predictor", "override_thresholds", "save_model", "list_models", "resolve_model", "read_card",
           "verify_folder", "next_version_name", "atomic_path", "VersionMismatchWarning"]
