"""Batch labelling: stream input files through ingestion and the classifier, write as you go.

Each input file becomes one part file in ``OUT.parts/`` (written atomically) and one line in
``OUT.parts/state.jsonl``. At the end the parts are streamed, in input order, into the output
(written to a temporary file and renamed: the output appears atomically), the manifest is written
and the parts folder is removed. ``resume=True`` keeps the finished files of an interrupted run and
does only the rest. Memory is bounded by the largest single file, not by the size of the input.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import AipolicyError, SkipFile
from .ingest import DEFAULT_EXCLUDE, DEFAULT_MAX_BYTES, MANIFEST_COLUMNS, UNIT_COLUMNS, discover, excluded_by
from .tables import atomic_path, check_output_path, manifest_path, write_table

LABEL_FORMATS = (".csv", ".jsonl", ".parquet", ".xlsx")


def label_columns(categories) -> list[str]:
    return UNIT_COLUMNS + [f"p_{c}" for c in categories] + ["labels", "evidence"]


@dataclass
class LabelRun:
    output: Path
    manifest: pd.DataFrame
    units: int
    resumed_files: int
    categories: list
    model_card: dict

    def summary(self) -> str:
        ok = int((self.manifest["status"] == "ok").sum())
        return (f"{ok} files labelled, {len(self.manifest) - ok} skipped, {self.units} units"
                + (f" ({self.resumed_files} files kept from the interrupted run)" if self.resumed_files else ""))


# ------------------------------------------------------------------ one file (runs in a worker)

_MODEL = None


def _init_worker(model_name, models_dir, thresholds=None):
    global _MODEL
    from .models import load_predictor, override_thresholds

    _MODEL = override_thresholds(load_predictor(model_name, models_dir), thresholds)


def _label_file(task) -> dict:
    """Ingest and label one file; write its part. Returns its manifest row."""
    idx, path, source, part, max_bytes = task
    from .cities import attribute_cities
    from .ingest import read_documents
    from .units import document_units

    try:
        rows: list[dict] = []
        for doc in read_documents(Path(path), source, max_bytes=max_bytes):
            rows.extend(attribute_cities(doc, document_units(doc)))
        if not rows:
            raise SkipFile("no units (only short fragments or boilerplate)")
        cols = {c: [r[c] for r in rows] for c in UNIT_COLUMNS}
        cols.update(_MODEL.label_columns(cols["text"]))
        labelled = pd.DataFrame(cols)  # built once, not copied column by column
        with atomic_path(part) as tmp:
            labelled.to_feather(tmp)  # Arrow IPC: the fastest to write and read back
        return {"idx": idx, "file": str(path), "status": "ok", "reason": "", "units": len(labelled),
                "part": Path(part).name}
    except SkipFile as e:
        return {"idx": idx, "file": str(path), "status": "skipped", "reason": str(e), "units": 0, "part": ""}
    except (OSError, MemoryError, RecursionError, ValueError) as e:
        return {"idx": idx, "file": str(path), "status": "skipped", "reason": f"{type(e).__name__}: {e}",
                "units": 0, "part": ""}


def _warm_up() -> None:
    from .cities import Gazetteer
    from .ingest import _boilerplate_re, _opencc
    from .tokens import _cutter

    _cutter()
    Gazetteer.default()
    _opencc()
    _boilerplate_re()


# ------------------------------------------------------------------ the run

def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _task_key(path: Path, source: str) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{source}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def label_files(paths, output, *, model=None, models_dir=None, jobs: int = 1, resume: bool = False,
                max_bytes: int = DEFAULT_MAX_BYTES, exclude=DEFAULT_EXCLUDE, progress: bool = False,
                thresholds: dict | None = None) -> LabelRun:
    """Label ``paths`` into ``output``; ``thresholds`` ({category: value}) overrides the model's."""
    from tqdm.auto import tqdm

    global _MODEL
    from .models import load_predictor, override_thresholds, resolve_model

    out = check_output_path(output, LABEL_FORMATS)
    model_dir = resolve_model(model, models_dir)
    clf = override_thresholds(load_predictor(model_dir), thresholds)  # verified once, up front
    cats = list(clf.categories_)
    files = discover(paths)

    parts = _parts_dir(out)
    state_file = parts / "state.jsonl"
    done: dict[str, dict] = {}
    run_id = {"model": clf.card_.get("artifact", {}).get("sha256"), "output": out.name}
    if thresholds:
        run_id["thresholds"] = [float(t) for t in clf.thresholds_]
    if parts.exists() and resume:
        header, *lines = state_file.read_text(encoding="utf-8").splitlines() if state_file.exists() else [""]
        if header and json.loads(header) != run_id:
            raise AipolicyError(f"{parts} belongs to a run with another model or output; remove it or run "
                                "without --resume")
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the interruption
            if rec["status"] != "ok" or (parts / rec["part"]).is_file():
                done[rec["key"]] = rec
    elif parts.exists():
        raise AipolicyError(f"{parts} holds an interrupted run: add --resume to continue it, or delete it")
    parts.mkdir(parents=True, exist_ok=True)
    if not state_file.exists() or not done:
        state_file.write_text(json.dumps(run_id) + "\n", encoding="utf-8")

    tasks, records, resumed = [], {}, 0
    for i, (path, source) in enumerate(files):
        pat = excluded_by(path.name, exclude)
        if pat:
            records[i] = {"file": str(path), "status": "skipped", "units": 0, "part": "",
                          "reason": f"excluded by pattern '{pat}' (see --exclude)"}
            continue
        try:
            key = _task_key(path, source)
        except OSError as e:
            records[i] = {"file": str(path), "status": "skipped", "units": 0, "part": "",
                          "reason": f"cannot read file ({e.strerror})"}
            continue
        if key in done:
            records[i] = done[key]
            resumed += 1
            continue
        tasks.append((i, str(path), source, str(parts / f"{key}.arrow"), max_bytes, key))

    bar = tqdm(total=len(tasks), desc="label", unit="file", disable=not progress, dynamic_ncols=True)
    with state_file.open("a", encoding="utf-8") as state:
        def record(res, key):
            res = dict(res, key=key)
            records[res.pop("idx")] = res
            state.write(json.dumps(res, ensure_ascii=False) + "\n")
            state.flush()
            bar.update(1)

        keys = {t[0]: t[5] for t in tasks}
        work = [t[:5] for t in tasks]
        if jobs > 1 and len(work) > 1:
            import multiprocessing as mp

            _warm_up()  # build the tokenizer, gazetteer and converters once, before the workers fork

            if hasattr(os, "fork"):
                # workers inherit the model already loaded (and verified) here: no reload per worker
                _MODEL = clf
                ctx, init, initargs = mp.get_context("fork"), None, ()
            else:
                ctx, init, initargs = mp.get_context(), _init_worker, (str(model_dir), None, thresholds)
            with ctx.Pool(min(jobs, len(work)), initializer=init, initargs=initargs) as pool:
                for res in pool.imap(_label_file, work, chunksize=1):
                    record(res, keys[res["idx"]])
        else:
            _MODEL = clf
            for t in work:
                res = _label_file(t)
                record(res, keys[res["idx"]])
    bar.close()

    manifest = pd.DataFrame([records[i] for i in sorted(records)])
    n_units = _assemble(out, [parts / r["part"] for i, r in sorted(records.items()) if r["status"] == "ok"],
                        label_columns(cats))
    write_table(manifest[MANIFEST_COLUMNS], manifest_path(out))
    shutil.rmtree(parts, ignore_errors=True)
    if not (manifest["status"] == "ok").any():
        raise AipolicyError(f"no input file could be labelled ({len(manifest)} skipped; see {manifest_path(out)})")
    return LabelRun(out, manifest[MANIFEST_COLUMNS], n_units, resumed, cats, clf.card_)


def _assemble(out: Path, parts: list[Path], columns: list[str]) -> int:
    """Stream the parts, in order, into the output format; one part in memory at a time."""
    ext = out.suffix.lower()
    n = 0
    with atomic_path(out) as tmp:
        if ext == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            import pyarrow.feather as feather

            for p in parts:
                table = feather.read_table(p).select(columns)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
                n += table.num_rows
            if writer is None:
                pq.write_table(pa.table({c: pa.array([], pa.string()) for c in columns}), tmp)
            else:
                writer.close()
        elif ext == ".xlsx":
            from openpyxl import Workbook

            wb = Workbook(write_only=True)
            ws = wb.create_sheet("labels")
            ws.append(columns)
            for p in parts:
                df = pd.read_feather(p)[columns]
                for row in df.itertuples(index=False):
                    ws.append(list(row))
                n += len(df)
            wb.save(tmp)
        else:
            with open(tmp, "w", encoding="utf-8-sig" if ext == ".csv" else "utf-8", newline="") as fh:
                if ext == ".csv":
                    fh.write(",".join(columns) + "\n")
                for p in parts:
                    df = pd.read_feather(p)[columns]
                    if ext == ".csv":
                        df.to_csv(fh, index=False, header=False, lineterminator="\n")
                    else:
                        df.to_json(fh, orient="records", lines=True, force_ascii=False)
                    n += len(df)
    return n
