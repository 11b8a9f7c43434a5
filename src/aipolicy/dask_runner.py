"""Batch labelling on a Dask cluster (``aipolicy label ... --dask ADDRESS|local``).

The batch runner (:mod:`aipolicy.batch`) schedules the files and writes the results exactly as it
does for its local workers; this module only runs the tasks elsewhere:

* the model is sent to every worker once, as its files, by a worker plugin; each worker writes them
  to a private folder and loads them with the same loader as the local runner, which checks every
  file's sha256 against the model's manifest before reading it (a worker that joins later, or a worker
  restarted after a crash, gets the plugin too);
* each input file is one task running the per-file pipeline with that model; the worker returns the
  manifest record and the labelled units as Arrow IPC bytes, and the client writes the part file
  and the state line as results stream back (so workers need to see the *input* paths, e.g. on a
  shared filesystem, but not the output folder);
* a task whose worker dies is recomputed on another worker by the scheduler (the client keeps its
  future), so a killed worker loses nothing; a file that kills workers repeatedly (Dask's
  ``allowed-failures``, default 3) is listed as skipped with that reason and the batch goes on;
* at most a few tasks per worker thread are in flight, so memory stays bounded on both sides.

Needs the ``dask`` extra: ``pip install "aipolicy[dask]"``.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import AipolicyError

try:  # the base class Dask's register_plugin dispatches on; the module imports without the extra
    from distributed.diagnostics.plugin import WorkerPlugin as _PluginBase
except ImportError:  # pragma: no cover - checked with a clear message when --dask is used
    _PluginBase = object

PLUGIN_PREFIX = "aipolicy-model-"
IN_FLIGHT_PER_THREAD = 3


def _distributed():
    try:
        import distributed
    except ImportError:
        raise AipolicyError("--dask needs the dask extra: pip install \"aipolicy[dask]\"") from None
    return distributed


class ModelPlugin(_PluginBase):
    """Worker plugin: the model's files travel with it; ``setup`` writes them to a private folder and
    loads them once per worker with the usual loader, which verifies each file's sha256 first."""

    idempotent = True

    def __init__(self, files: dict[str, bytes], sha: str, thresholds: dict | None = None):
        self.files = files
        self.thresholds = thresholds or None
        # the name says which model and thresholds: an idempotent plugin of the same name is not replaced
        overrides = json.dumps(sorted((thresholds or {}).items()))
        self.name = f"{PLUGIN_PREFIX}{sha[:16]}-{hashlib.sha256(overrides.encode()).hexdigest()[:8]}"
        self.model = None
        self._dir = None

    def setup(self, worker=None) -> None:
        from .models import load_predictor, override_thresholds

        self._dir = tempfile.mkdtemp(prefix="aipolicy-model-")
        for name, data in self.files.items():
            (Path(self._dir) / name).write_bytes(data)
        self.model = override_thresholds(load_predictor(self._dir), self.thresholds)

    def teardown(self, worker=None) -> None:
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __getstate__(self):
        return {"files": self.files, "thresholds": self.thresholds, "name": self.name}

    def __setstate__(self, state):
        self.__dict__.update(state, model=None, _dir=None)


def model_files(folder: Path) -> tuple[dict[str, bytes], str]:
    """The files a worker needs to load the model's predictor (manifest included: the worker verifies
    them again), and the manifest's sha256 (names the plugin). The scikit-learn estimator and the
    human-readable card are not needed for labelling (the manifest allows them to be absent)."""
    from .models import ARTIFACT, HUMAN_CARD, verify_folder

    folder = Path(folder)
    manifest = verify_folder(folder)
    skip = {HUMAN_CARD, ARTIFACT}
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())
             if p.is_file() and p.name not in skip and not p.name.startswith(".")}
    return files, manifest["sha256"]


def worker_model(plugin_name: str):
    """The model the plugin loaded on the worker running the current task."""
    worker = _distributed().get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None or plugin.model is None:
        raise RuntimeError(f"worker {worker.address} has no model plugin {plugin_name}")
    return plugin.model


@contextmanager
def connect(address: str, workers: int, timeout: str = "20s") -> Iterator:
    """A client of the cluster at ``address``, or of a new LocalCluster of ``workers`` single-threaded
    worker processes when ``address`` is ``local``."""
    import logging

    distributed = _distributed()
    cluster = None
    try:
        if address == "local":
            cluster = distributed.LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as e:
        raise AipolicyError(f"cannot connect to the Dask scheduler at {address}: {e}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def register_model(client, files: dict[str, bytes], sha: str, thresholds: dict | None) -> str:
    plugin = ModelPlugin(files, sha, thresholds)
    try:
        client.register_plugin(plugin, name=plugin.name)
    except Exception as e:  # the workers could not load or verify the model: nothing was labelled
        raise AipolicyError(f"the Dask workers could not load the model: {type(e).__name__}: {e}") from None
    return plugin.name


def run_tasks(client, tasks: list[tuple], func: Callable, plugin_name: str,
              finish: Callable[[tuple, dict, bytes | None], dict],
              failed: Callable[[tuple, BaseException], dict]) -> Iterator[dict]:
    """Submit ``func(task, plugin_name)`` for every task (a few per worker thread at a time) and yield
    ``finish(task, record, data)`` for each result as it arrives.

    ``func`` returns ``(record, bytes or None)``; a task whose workers died too often (``KilledWorker``)
    yields ``failed(task, error)`` instead; any other failure stops the run (``--resume`` continues it).
    """
    distributed = _distributed()
    queue = list(reversed(tasks))
    threads = max(1, sum(client.nthreads().values()))
    pending: dict = {}
    done = distributed.as_completed()
    token = uuid.uuid4().hex[:8]

    def submit_next() -> None:
        if queue:
            task = queue.pop()
            fut = client.submit(func, task, plugin_name, key=f"aipolicy-label-{token}-{task[0]}", pure=False)
            pending[fut.key] = task
            done.add(fut)

    for _ in range(threads * IN_FLIGHT_PER_THREAD):
        submit_next()
    for fut in done:
        task = pending.pop(fut.key)
        try:
            rec, data = fut.result()
        except distributed.KilledWorker as e:  # this file kept killing workers: listed, the batch goes on
            rec, data = failed(task, e), None
        except Exception as e:  # the cluster itself failed (scheduler gone...): stop, keep what is done
            raise AipolicyError(f"the Dask run stopped ({type(e).__name__}: {e}); the finished files are kept: "
                                "run the same command with --resume") from None
        else:
            rec = finish(task, rec, data)
        fut.release()
        submit_next()
        yield rec
