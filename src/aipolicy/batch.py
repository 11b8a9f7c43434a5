"""Batch labelling: stream input files through ingestion and the classifier, write as you go.

Each input file becomes one part file in ``OUT.parts/`` and one line in ``OUT.parts/state.jsonl``
(written after the part: a part without its line, cut short by an interruption, is written again on
resume). At the end the parts are streamed, in input order, into the output
(written to a temporary file and renamed: the output appears atomically), the manifest is written
and the parts folder is removed. ``resume=True`` keeps the finished files of an interrupted run and
does only the rest. Memory is bounded by the largest single file, not by the size of the input.
"""
from __future__ import annotations

import hashlib
import itertools
from functools import partial
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import AipolicyError
from .ingest import discover
from .documents import document_records, documents_path
from .pipeline import (DOCUMENT_COLUMNS, MANIFEST_COLUMNS, UNIT_COLUMNS, PipelineOptions, excluded_by, label_stage,
                       not_read_summary, one_line, process_file, read_stage)
from .settings import DEFAULT_EXCLUDE, DEFAULT_MAX_BYTES
from .tables import (append_xlsx, atomic_dir, atomic_path, check_output_path, csv_body, csv_header, manifest_path,
                     output_lock, remove_stale_temps, safe_frame, safe_str, save_workbook, write_rows_csv)

LABEL_FORMATS = (".csv", ".jsonl", ".parquet", ".xlsx")
DATASET = "parquet-dataset"  # --format parquet-dataset: OUT is a folder of Parquet part files
DATASET_PART_ROWS = 200_000  # rows per part file of a dataset
DATASET_GROUP_ROWS = 50_000  # rows per Parquet row group (bounds the rows held while writing)
_DATASET_PART = re.compile(r"part-\d+\.parquet")


def label_columns(categories) -> list[str]:
    return UNIT_COLUMNS + [f"p_{c}" for c in categories] + ["labels", "evidence"]


@dataclass
class LabelRun:
    output: Path
    manifest_rows: list  # MANIFEST_COLUMNS dicts, in input order (``manifest`` is the DataFrame view)
    units: int
    resumed_files: int
    categories: list
    model_card: dict
    document_rows: list | None = None  # DOCUMENT_COLUMNS dicts, one per document labelled

    @property
    def manifest(self) -> pd.DataFrame:
        """The manifest as a DataFrame (built on first use: the label command itself needs no pandas)."""
        import pandas as pd

        return pd.DataFrame(self.manifest_rows, columns=MANIFEST_COLUMNS)

    @property
    def documents(self) -> pd.DataFrame | None:
        """The documents table as a DataFrame (``documents.documents_table``'s columns and types)."""
        from .documents import documents_frame

        return None if self.document_rows is None else documents_frame(self.document_rows)

    def summary(self) -> str:
        statuses = [r["status"] for r in self.manifest_rows]
        ok, dup = statuses.count("ok"), statuses.count("duplicate")
        return (f"{ok} files labelled, {len(statuses) - ok - dup} skipped"
                + (f", {dup} duplicate files" if dup else "") + f", {self.units} units"
                + (f" ({self.resumed_files} files kept from the interrupted run)" if self.resumed_files else ""))


# ------------------------------------------------------------------ one file (runs in a worker)

# the model of a worker process of the pool, set there by _init_worker (never in the parent process)
_WORKER_MODEL = None


def _init_worker(model, model_dir, thresholds=None):
    """Pool initializer: a forked worker inherits the parent's loaded model, a spawned one loads it."""
    global _WORKER_MODEL
    if model is None:
        from .models import load_predictor, override_thresholds

        model = override_thresholds(load_predictor(model_dir), thresholds)
    _WORKER_MODEL = model


def _write_ipc(columns: dict, sink) -> None:
    """The units' columns as one uncompressed Arrow IPC (Feather v2) file: built straight from the
    columns, not through pandas, and not compressed — parts live for one run (10× faster to write)."""
    import pyarrow as pa

    table = pa.table(columns)
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _part_bytes(columns: dict, part: str, names: list[str]) -> bytes:
    """A file's part: for a CSV output its rows as the output's CSV lines (the output is then the parts
    joined, formatted in the workers), else Arrow IPC."""
    if part.endswith(".csv"):
        return csv_body(columns, names)
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    _write_ipc(columns, sink)
    return sink.getvalue().to_pybytes()


def _label(task, model):
    """One file through the pipeline with the classifier: (state record, its columns or None). A task
    with a seventh item, (read_stage result, seconds it took), was read already (``_read_ahead``)."""
    idx, path, source, part, options = task[:5]
    label = partial(model.label_columns, normalised=True)
    if len(task) > 6 and task[6] is not None:
        read, spent = task[6]
        res = label_stage(read, label, options, spent=spent)
    else:
        res = process_file(path, source, options, label=label)
    return _record(idx, res), res.columns


def _record(idx: int, res) -> dict:
    """A file's state record (before its part is written)."""
    return dict(idx=idx, **res.manifest_row, part="", documents=res.documents)


def _label_file(task) -> dict:
    """One file through the pipeline and the classifier; writes its part. Returns its state record."""
    model = task[5] if task[5] is not None else _WORKER_MODEL
    rec, columns = _label(task, model)
    if columns is not None:
        # written in place, not through a temporary file and a rename (a third of a part's writing time):
        # a part counts only once its record is in the state file, which the parent writes after this
        # returns; a part cut short by an interruption has no record and is written again on --resume
        with open(task[3], "wb") as fh:
            fh.write(_part_bytes(columns, task[3], label_columns(model.categories_)))
        rec["part"] = Path(task[3]).name
    return rec


def _label_file_remote(task, plugin_name: str):
    """A Dask task: one file with the worker's model; returns (record, part bytes or None)."""
    from .dask_runner import worker_model

    model = worker_model(plugin_name)
    rec, columns = _label(task, model)
    if columns is None:
        return rec, None
    return rec, _part_bytes(columns, task[3], label_columns(model.categories_))


def _warm_up_reading() -> None:
    """Build what reading a file needs (gazetteer, converter, boilerplate pattern), once, before forking."""
    from .cities import Gazetteer
    from .ingest import _boilerplate_re, _opencc

    Gazetteer.default()
    _opencc()
    _boilerplate_re()


# ------------------------------------------------------------------ the run

def _part_ext(kind: str) -> str:
    """Parts of a CSV output are CSV lines (joined as they are), else Arrow IPC."""
    return ".csv" if kind == ".csv" else ".arrow"


def _output_kind(output, output_format: str | None) -> tuple[Path, str]:
    """(output path, its format: one of LABEL_FORMATS or DATASET); a dataset folder must be new or one
    written before by this command (it is replaced as a whole)."""
    if output_format in (None, ""):
        return check_output_path(output, LABEL_FORMATS), Path(output).suffix.lower()
    if output_format != DATASET:
        fmt = "." + output_format.lstrip(".").lower()
        if fmt not in LABEL_FORMATS:
            raise AipolicyError(f"unknown output format {output_format!r} (one of: "
                                f"{', '.join(f[1:] for f in LABEL_FORMATS)}, {DATASET})")
        if Path(output).suffix.lower() != fmt:
            raise AipolicyError(f"output {output} must end in {fmt} for --format {output_format}")
        return Path(output), fmt
    out = Path(output)
    if out.exists() and not _is_dataset(out):
        raise AipolicyError(f"{out} exists and is not a Parquet dataset written by aipolicy label; give a new "
                            "folder name")
    return out, DATASET


def _is_dataset(path: Path) -> bool:
    """A folder holding only part files of an earlier dataset output (safe to replace)."""
    return path.is_dir() and not path.is_symlink() and all(_DATASET_PART.fullmatch(p.name) for p in path.iterdir())


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _task_key(path: Path, source: str) -> str:
    """Identifies a file and its version across an interruption (a link that cannot be followed is
    identified by the link itself; the pipeline then skips it with its reason)."""
    try:
        st = os.stat(path)
    except OSError:
        st = os.lstat(path)
    key = f"{os.path.realpath(path)}|{source}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _finished_records(parts: Path, state_file: Path, run_id: dict, resume: bool) -> dict[str, dict]:
    """The state records of an interrupted run's finished files, by task key (empty for a fresh run).
    Refuses a parts folder left by another run, or one found without ``resume``."""
    if not parts.exists():
        return {}
    if not resume:
        raise AipolicyError(f"{parts} holds an interrupted run: add --resume to continue it, or delete it")
    header, *lines = state_file.read_text(encoding="utf-8").splitlines() if state_file.exists() else [""]
    if header and json.loads(header) != run_id:
        raise AipolicyError(f"{parts} belongs to a run with another model or output; remove it or run "
                            "without --resume")
    done = {}
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the interruption
        if rec["status"] != "ok" or (parts / rec["part"]).is_file():
            done[rec["key"]] = rec
    return done


def _regular(path: Path) -> bool:
    from .errors import SkipFile
    from .safe_read import check_entry

    try:
        check_entry(path)
        return True
    except SkipFile:
        return False


def _schedule(files, parts: Path, done: dict, options: PipelineOptions, model, part_ext: str = ".arrow"):
    """(tasks, records already known by input index, number of files kept from the interrupted run)."""
    from .duplicates import FileDeduper

    tasks, records, resumed = [], {}, 0
    dedupe = FileDeduper()
    for i, (path, source) in enumerate(files):
        # only a regular file is opened to compare it (a FIFO would block); the others go to the
        # pipeline, which skips them with their reason
        repeat = None if excluded_by(path.name, options.exclude) or not _regular(path) else dedupe.check(path)
        if repeat:  # read once: decided here, in input order, not in the workers
            records[i] = {"file": safe_str(str(path)), "status": "duplicate", "units": 0, "part": "",
                          "reason": one_line(f"{repeat} (read once)")}
            continue
        try:
            key = _task_key(path, source)
        except OSError as e:
            records[i] = {"file": safe_str(str(path)), "status": "skipped", "units": 0, "part": "",
                          "reason": f"cannot read file ({e.strerror})"}
            continue
        if key in done:
            records[i] = done[key]
            resumed += 1
            continue
        tasks.append(((i, str(path), source, str(parts / f"{key}{part_ext}"), options, model), key))
    return tasks, records, resumed


def _remote_results(work: list, model_dir: Path, address: str, jobs: int, thresholds: dict | None):
    """Run the tasks on a Dask cluster; yield their records as they finish, their parts written here."""
    from . import dask_runner

    def finish(task, rec: dict, data: bytes | None) -> dict:
        if data is not None:
            with atomic_path(task[3]) as tmp:
                tmp.write_bytes(data)
            rec["part"] = Path(task[3]).name
        return rec

    def failed(task, error) -> dict:
        return {"idx": task[0], "file": task[1], "status": "skipped", "units": 0, "part": "", "documents": [],
                "reason": f"the Dask worker failed on this file ({type(error).__name__}: {error})"}

    files, sha = dask_runner.model_files(model_dir)
    with dask_runner.connect(address, jobs) as client:
        plugin = dask_runner.register_model(client, files, sha, thresholds)
        yield from dask_runner.run_tasks(client, [t[:5] for t in work], _label_file_remote, plugin, finish, failed)


def _results(work: list, clf, model_dir: Path, jobs: int, thresholds: dict | None = None, dask: str | None = None,
             lock_fd: int | None = None):
    """Run the tasks in this process (in order) or in ``jobs`` worker processes (largest file first, in the
    order they finish); yield their records. With ``dask`` (a scheduler address or 'local'), on a Dask
    cluster, in the order they finish. ``lock_fd``: the output lock's descriptor, closed in forked workers."""
    if dask:
        yield from _remote_results(work, model_dir, dask, jobs, thresholds)
        return
    if jobs <= 1 or len(work) <= 1:
        yield from map(_label_file, work)
        return
    import multiprocessing as mp

    from .tokens import _cutter

    # largest files first, so that no big file is left running alone at the end; the records are put
    # back in input order by the caller, so the output does not depend on the order they finish in
    tasks = sorted(work, key=_size, reverse=True)
    if not hasattr(os, "fork"):  # spawned workers inherit nothing: they load and build everything themselves
        ctx, initargs, close = mp.get_context(), (None, str(model_dir), thresholds), ()
    else:
        # workers inherit the model already loaded (and verified) here, and the gazetteer, converters and
        # tokenizer built here once: no reload per worker
        ctx, initargs = mp.get_context("fork"), (clf, None)
        close = () if lock_fd is None else (lock_fd,)
        _warm_up_reading()
        if _cutter.cache_info().currsize:  # built already, by an earlier run in this process
            read = {}
        else:
            read = _read_ahead(ctx, tasks[::-1], _cutter, (close, os.getpid()))  # smallest files first
        yield from (_record(idx, res) for idx, (res, _) in read.items() if res.status != "ok")
        ready = {idx: got for idx, got in read.items() if got[0].status == "ok"}
        # the files read ahead (the smallest) are only labelled, last
        tasks = [t for t in tasks if t[0] not in read] + [t[:6] + (ready[t[0]],) for t in tasks if t[0] in ready]
    yield from _WorkerPool(ctx, min(jobs, len(work)), (initargs, close, os.getpid())).run(tasks)


# ------------------------------------------------------------------ reading ahead while the tokenizer is built

READ_AHEAD_BYTES = 256 * 1024  # only files this small are read ahead (a few tens of ms each)
READ_AHEAD_GRACE = 0.25  # seconds the reader gets to finish its file once asked to stop


def _read_ahead(ctx, tasks: list, build, args: tuple) -> dict:
    """Call ``build()`` (the tokenizer: rjieba builds its dictionary in 0.1 s on one core, holding the GIL,
    and a process forked before it would have to build its own) while a process forked just before runs
    ``read_stage``, which needs no tokenizer, on the other core: on ``tasks`` in order (smallest first),
    up to the first over ``READ_AHEAD_BYTES``. Returns what that process read by the time ``build``
    returned: {input index: (read_stage result, seconds it took)}; the workers then only label those
    files. Best effort: a reader that dies, or has not finished its file ``READ_AHEAD_GRACE`` seconds
    after ``build`` returned, is stopped, and every file is left to the workers."""
    small = [t[:5] for t in itertools.takewhile(lambda t: _size(t) <= READ_AHEAD_BYTES, tasks)]
    if not small:
        build()
        return {}
    conn, child = ctx.Pipe()
    reader = ctx.Process(target=_reader_main, args=(child, small, *args), daemon=True, name="aipolicy-read")
    reader.start()
    child.close()
    read, done = {}, False
    try:
        build()
        conn.send(None)  # stop after the file you are on
        if conn.poll(READ_AHEAD_GRACE):
            while (item := conn.recv()) is not None:
                read[item[0]] = item[1:]
            done = True
    except (EOFError, OSError):  # the reader died
        pass
    finally:
        if not done:
            reader.terminate()
            read = {}
        _reap(reader)
        conn.close()
    return read


def _reader_main(conn, tasks: list, close: tuple, parent: int) -> None:
    """The read-ahead process: ``read_stage`` on each task until the parent asks it to stop, then the
    results, sent only then (the parent, building the tokenizer, reads nothing before: a full pipe would
    block this process), and None."""
    import time

    _detach(close, parent)
    read = []
    for idx, path, source, _, options in tasks:
        if conn.poll():
            break
        start = time.monotonic()
        res = read_stage(path, source, options)
        read.append((idx, res, time.monotonic() - start))
    else:
        conn.poll(None)  # every file read: wait for the parent to ask
    try:
        for item in read:
            conn.send(item)
        conn.send(None)
    except (OSError, EOFError):
        pass


# ------------------------------------------------------------------ the local worker processes

PREFETCH = 2  # tasks in flight per worker: the file it is on and the next, waiting in its pipe


def _worker_main(conn, initargs: tuple, close: tuple, parent: int) -> None:
    """A worker process: labels the tasks read from ``conn`` one at a time and sends back (True, record)
    or (False, exception) for each, until it reads None or the pipe closes."""
    _detach(close, parent)
    try:
        _init_worker(*initargs)
    except Exception as e:
        _send_result(conn, (False, e))
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            res = (True, _label_file(task))
        except Exception as e:  # outside the per-file pipeline's boundary (e.g. writing the part): stops the run
            res = (False, e)
        if not _send_result(conn, res):
            return


def _send_result(conn, res) -> bool:
    """Send a result to the parent; False when the parent is gone."""
    try:
        conn.send(res)  # pickled whole before anything is written
    except (OSError, EOFError):
        return False
    except Exception as e:  # an exception that cannot be pickled
        return _send_result(conn, (False, RuntimeError(f"{type(res[1]).__name__}: {res[1]} (in a worker; {e})")))
    return True


def _detach(close: tuple, parent: int) -> None:
    """In a new worker: die with the parent (so that a worker never outlives a killed run, holding the
    CPU or writing a part of the next run's files), let the parent alone handle Ctrl-C, and close the
    forked copy of the output lock's descriptor (the lock is the parent's: a resumed run must get it
    as soon as the parent dies)."""
    import signal

    for fd in close:
        try:
            os.close(fd)
        except OSError:
            pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not _die_with_parent() and os.getppid() == parent:
        import threading
        import time

        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before this process could ask to die with it
        os._exit(1)


def _die_with_parent() -> bool:
    """Linux: ask the kernel to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG); False
    where that cannot be done (the caller then watches the parent's pid)."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _death(exitcode) -> str:
    """How a worker process ended: 'killed by signal 9, SIGKILL' or 'exit status 3'."""
    import signal

    if exitcode is None or exitcode >= 0:
        return f"exit status {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        return f"killed by signal {-exitcode}"
    return f"killed by signal {-exitcode}, {name}"


class _Worker:
    def __init__(self, process, conn):
        self.process, self.conn = process, conn
        self.tasks = []  # sent, in the order the worker reads them: the first is the one it is on


class _WorkerPool:
    """Worker processes fed through a pipe each, so that the parent always knows which file each worker
    is on. A worker that dies (kill -9, the OOM killer, a crash in a C extension) is replaced; the file
    it was on becomes a suspect and the files sent ahead to it go back to the queue. Suspects run again
    at the end, one at a time with nothing else running (a worker killed for memory another file took
    does not condemn its own file); a suspect that kills its worker again is a skipped file with the
    reason. So every file ends up labelled or skipped, and the run neither hangs nor stops."""

    def __init__(self, ctx, n: int, args: tuple):
        self.ctx, self.n, self.args = ctx, n, args
        self.workers: list[_Worker] = []
        self.todo: list = []  # reversed: the next task is the last
        self.suspects: list = []
        self.deaths: dict[int, list[str]] = {}  # input index -> how its workers died

    def run(self, tasks: list):
        from multiprocessing.connection import wait

        self.todo = tasks[::-1]
        done = False
        try:
            for _ in range(self.n):
                self._start()
            self._feed()
            while self.todo or self.suspects or any(w.tasks for w in self.workers):
                ready = set(wait([w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]))
                for w in [w for w in self.workers if w.conn in ready or w.process.sentinel in ready]:
                    yield from self._drain(w, w.process.sentinel in ready)
                self._feed()
            done = True
        finally:
            self._stop(done)

    def _start(self) -> _Worker:
        conn, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker_main, args=(child, *self.args), daemon=True, name="aipolicy-label")
        p.start()
        child.close()
        w = _Worker(p, conn)
        self.workers.append(w)
        return w

    def _feed(self) -> None:
        """Send tasks to the workers; suspects only when nothing else is left or running, one at a time."""
        if not self.todo:
            if self.suspects and not any(w.tasks for w in self.workers):
                self._send(self.workers[0] if self.workers else self._start(), self.suspects.pop(0))
            return
        while len(self.workers) < self.n:  # replaces a worker that died
            self._start()
        for depth in range(1, PREFETCH + 1):
            for w in self.workers:
                if self.todo and len(w.tasks) < depth:
                    self._send(w, self.todo.pop())

    def _send(self, w: _Worker, task) -> None:
        w.tasks.append(task)  # also when the send fails: the worker is dead, and its death accounts for it
        try:
            w.conn.send(task[:5] + (None,) + task[6:])  # the model is the worker's own
        except OSError:
            pass

    def _drain(self, w: _Worker, exited: bool):
        """Yield the records ``w`` has sent; if it has died, account for the files it held."""
        alive = True
        while w.conn.poll():
            try:
                ok, res = w.conn.recv()
            except (EOFError, OSError):  # closed: the worker died (a result cut short is not one)
                alive = False
                break
            if not ok:
                raise res
            w.tasks.pop(0)
            yield res
        if exited or not alive:
            yield from self._died(w)

    def _died(self, w: _Worker):
        self.workers.remove(w)
        w.conn.close()
        _reap(w.process)
        if not w.tasks:
            return
        culprit, *unread = w.tasks
        self.todo.extend(reversed(unread))  # sent ahead, never started: back to the front of the queue
        how = self.deaths.setdefault(culprit[0], [])
        how.append(_death(w.process.exitcode))
        if len(how) == 1:
            self.suspects.append(culprit)
            return
        yield {"idx": culprit[0], "file": safe_str(culprit[1]), "status": "skipped", "units": 0, "part": "",
               "documents": [], "reason": one_line(
                   f"the worker process died while labelling this file ({how[0]}), and again when the file "
                   f"was retried alone ({how[1]})")}

    def _stop(self, done: bool) -> None:
        """Finished: each worker reads None and exits. Otherwise (an error, Ctrl-C): terminate them."""
        for w in self.workers:
            try:
                if done:
                    w.conn.send(None)
                else:
                    w.process.terminate()
            except OSError:
                pass
        for w in self.workers:
            _reap(w.process)
            w.conn.close()
        self.workers = []


def _reap(process, timeout: float = 5) -> None:
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()


def _size(task) -> int:
    try:
        return os.stat(task[1]).st_size
    except OSError:
        return 0


def label_files(paths, output, *, model=None, models_dir=None, jobs: int = 1, resume: bool = False,
                max_bytes: int = DEFAULT_MAX_BYTES, exclude=DEFAULT_EXCLUDE, progress: bool = False,
                thresholds: dict | None = None, dask: str | None = None,
                options: PipelineOptions | None = None, limits=None, output_format: str | None = None) -> LabelRun:
    """Label files and folders into ``output`` (.csv, .jsonl, .parquet or .xlsx), its manifest and its
    documents table (``OUT.documents.csv``). ``output_format="parquet-dataset"`` makes ``output`` a folder
    of Parquet part files (a dataset for ``pandas.read_parquet(output)`` or ``pyarrow.dataset``, for runs too
    large for one file; see ``_write_dataset``); by default the format is the output's extension.
    ``thresholds`` ({category: value}) overrides the model's;
    ``options`` overrides ``max_bytes``, ``exclude`` and ``limits``. ``dask`` runs the files on a Dask cluster
    (a scheduler address, or 'local' for a LocalCluster of ``jobs`` workers) instead of local processes;
    the output is the same. When no file can be labelled nothing is written and AipolicyError is raised.

    The runner only schedules files and writes results: each file goes through
    :func:`aipolicy.pipeline.process_file` with the classifier as its labelling step.
    """
    from .models import load_predictor, override_thresholds, resolve_model

    out, kind = _output_kind(output, output_format)
    made_folder = not out.parent.exists()
    out.parent.mkdir(parents=True, exist_ok=True)  # for the lock; removed again if nothing is written
    options = options or PipelineOptions(max_bytes=max_bytes, exclude=tuple(exclude), limits=limits)
    try:
        with output_lock(out) as lock_fd:  # a second run on the same output is refused while this one lives
            remove_stale_temps(out)  # left by a run killed while writing
            model_dir = resolve_model(model, models_dir)
            clf = override_thresholds(load_predictor(model_dir), thresholds)  # verified once, up front
            return _label_locked(paths, out, clf, model_dir, options, jobs=jobs, resume=resume,
                                 progress=progress, thresholds=thresholds, dask=dask, kind=kind, lock_fd=lock_fd)
    finally:
        if made_folder:
            try:
                out.parent.rmdir()  # only when empty: a failed run leaves nothing
            except OSError:
                pass


def _label_locked(paths, out: Path, clf, model_dir: Path, options: PipelineOptions, *, jobs: int, resume: bool,
                  progress: bool, thresholds: dict | None, dask: str | None, kind: str,
                  lock_fd: int | None = None) -> LabelRun:
    cats = list(clf.categories_)
    files = discover(paths)

    parts = _parts_dir(out)
    state_file = parts / "state.jsonl"
    run_id = {"model": clf.manifest_sha256_, "output": out.name, "format": kind}
    if thresholds:
        run_id["thresholds"] = [float(t) for t in clf.thresholds_]
    done = _finished_records(parts, state_file, run_id, resume)
    parts.mkdir(parents=True, exist_ok=True)
    for stale in parts.glob(".*.tmp"):  # a part being written when the run was killed
        stale.unlink(missing_ok=True)
    if not state_file.exists() or not done:
        state_file.write_text(json.dumps(run_id) + "\n", encoding="utf-8")

    tasks, records, resumed = _schedule(files, parts, done, options, clf, _part_ext(kind))
    keys = {t[0]: key for t, key in tasks}
    bar = _progress_bar(len(tasks), progress)
    with state_file.open("a", encoding="utf-8") as state:
        for rec in _results([t for t, _ in tasks], clf, model_dir, jobs, thresholds, dask, lock_fd):
            idx = rec.pop("idx")
            records[idx] = rec = dict(rec, key=keys[idx])
            state.write(json.dumps(rec) + "\n")  # ASCII: a file name that is not UTF-8 stays escaped
            state.flush()
            bar.update(1)
    bar.close()

    manifest, n_units, documents = _write_outputs(out, parts, records, label_columns(cats), False, kind)
    return LabelRun(out, manifest, n_units, resumed, cats, clf.card_, documents)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, progress: bool):
    """A tqdm bar, or a stand-in without importing tqdm (and asyncio: 50 ms) when there is none."""
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="label", unit="file", dynamic_ncols=True)


def _write_outputs(out: Path, parts: Path, records: dict, columns: list[str], made_folder: bool, kind: str):
    """Output, manifest and documents table from the finished records, in input order; (manifest,
    units written, documents). Nothing is written when no file was labelled (AipolicyError)."""
    ordered = [records[i] for i in sorted(records)]
    manifest = [{c: r[c] for c in MANIFEST_COLUMNS} for r in ordered]
    ok = [r for r in ordered if r["status"] == "ok"]
    if not ok:  # exit 2 writes nothing
        _discard(parts, out.parent if made_folder else None)
        raise AipolicyError(f"no input file could be labelled ({not_read_summary(manifest)})")
    n_units = _assemble(out, [parts / r["part"] for r in ok], columns, sum(int(r["units"]) for r in ok), kind)
    write_rows_csv(manifest, MANIFEST_COLUMNS, manifest_path(out))
    documents = document_records([d for r in ordered for d in r.get("documents") or ()])
    write_rows_csv(documents, DOCUMENT_COLUMNS, documents_path(out))
    shutil.rmtree(parts, ignore_errors=True)
    return manifest, n_units, documents


def _discard(parts: Path, made_folder: Path | None) -> None:
    shutil.rmtree(parts, ignore_errors=True)
    if made_folder is not None:
        try:
            made_folder.rmdir()  # only when empty
        except OSError:
            pass


def _assemble(out: Path, parts: list[Path], columns: list[str], units: int, kind: str) -> int:
    """Stream the parts, in order, into the output format; one part in memory at a time. Returns the
    number of rows written (a CSV output is its header and the parts' bytes joined: ``units`` rows)."""
    if kind == DATASET:
        return _write_dataset(out, parts, columns)
    with atomic_path(out) as tmp:
        if kind == ".csv":
            with open(tmp, "wb") as fh:
                fh.write(csv_header(columns))
                for p in parts:
                    with open(p, "rb") as part:
                        shutil.copyfileobj(part, fh)
            return units
        return {".parquet": _write_parquet, ".xlsx": _write_xlsx, ".jsonl": _write_jsonl}[kind](tmp, parts, columns)


def _write_parquet(tmp: Path, parts: list[Path], columns: list[str]) -> int:
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    writer, n = None, 0
    for p in parts:
        table = feather.read_table(p).select(columns)
        if writer is None:
            # the schema pandas gives the first part (string types and pandas metadata), as when
            # parts were written through pandas: the same Parquet bytes as before
            writer = pq.ParquetWriter(tmp, pa.Schema.from_pandas(table.to_pandas()))
        writer.write_table(table.cast(writer.schema))
        n += table.num_rows
    if writer is None:
        pq.write_table(pa.table({c: pa.array([], pa.string()) for c in columns}), tmp)
    else:
        writer.close()
    return n


def _write_xlsx(tmp: Path, parts: list[Path], columns: list[str]) -> int:
    import pandas as pd
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("labels")
    ws.append(columns)
    n = 0
    for p in parts:
        df = pd.read_feather(p)[columns]
        append_xlsx(ws, df)  # text cells are never formulas; control characters escaped
        n += len(df)
    save_workbook(wb, tmp)  # byte-identical for the same content
    return n


def _write_jsonl(tmp: Path, parts: list[Path], columns: list[str]) -> int:
    import pandas as pd

    n = 0
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        for p in parts:
            df = pd.read_feather(p)[columns]
            safe_frame(df).to_json(fh, orient="records", lines=True, force_ascii=False)
            n += len(df)
    return n


def _dataset_schema(columns: list[str]):
    import pyarrow as pa

    return pa.schema([(c, pa.int64() if c == "position" else pa.float64() if c.startswith("p_") else pa.string())
                      for c in columns])


def _write_dataset(out: Path, parts: list[Path], columns: list[str]) -> int:
    """The parts, in input order, as a Parquet dataset: files ``part-00000.parquet``, … of at most
    ``DATASET_PART_ROWS`` rows each (row groups of ``DATASET_GROUP_ROWS``), one schema (text columns
    string, position int64, probabilities double), written by ``pyarrow.dataset.write_dataset`` into a
    temporary folder beside ``out`` that then replaces it: readers see the old dataset or the new one."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.feather as feather

    schema = _dataset_schema(columns)
    n = 0

    def batches():
        nonlocal n
        for p in parts:  # one part in memory at a time
            table = feather.read_table(p).select(columns).cast(schema)
            n += table.num_rows
            yield from table.to_batches()

    with atomic_dir(out) as tmp:
        ds.write_dataset(pa.RecordBatchReader.from_batches(schema, batches()), tmp, format="parquet",
                         basename_template="part-{i}.parquet", preserve_order=True, use_threads=False,
                         max_rows_per_file=DATASET_PART_ROWS, min_rows_per_group=DATASET_GROUP_ROWS,
                         max_rows_per_group=DATASET_GROUP_ROWS, existing_data_behavior="overwrite_or_ignore")
        written = sorted(tmp.glob("part-*.parquet"), key=lambda f: int(f.stem[5:]))
        width = max(5, len(str(len(written) - 1)))
        for i, f in enumerate(written):  # zero-padded: name order is row order for every reader
            f.rename(tmp / f"part-{i:0{width}d}.parquet")
    return n
