"""The local runner (-j N) when a worker process dies: the file it was on is retried alone, then listed as
skipped with the reason; nothing else is lost, the run neither hangs nor stops; workers die with their
parent and do not hold the output lock. The runs are subprocesses with a timeout, so that a regression
fails instead of hanging the suite."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import PARAS

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the hooks reach the workers by fork")

# Runs the CLI with a hook in the per-file function of the workers (forked: the patch made here reaches
# them): a file whose name holds DIES kills its worker every time, FLAKY the first time only (a flag file
# remembers), SLOW sleeps (writing its worker's pid to the flag file first).
DRIVER = """
import os, signal, sys, time
from pathlib import Path
import aipolicy.batch as batch
from aipolicy.cli import main

real, flag = batch._label_file, Path(sys.argv[1])

def hooked(task):
    name = os.path.basename(task[1])
    if "DIES" in name or ("FLAKY" in name and not flag.exists()):
        flag.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if "SLOW" in name:
        flag.write_text(str(os.getpid()))
        time.sleep(120)
    return real(task)

batch._label_file = hooked
if sys.argv[2] == "no-pdeathsig":
    batch._die_with_parent = lambda: False
sys.exit(main(sys.argv[3:]))
"""

TIMEOUT = 120  # a run of a dozen small files takes a few seconds; a hang fails here


def _folder(tmp_path: Path, *special: str) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for i in range(8):
        (d / f"doc{i}.txt").write_text("\n".join(PARAS[i % 7:] + PARAS[:i % 7]) + f"\n第{i}号文件。支持算力券发放。",
                                       encoding="utf-8")
    for j, name in enumerate(special):  # distinct texts: no file is a duplicate read once
        (d / name).write_text("\n".join(PARAS) + f"\n特别文件{j}。建设智能算力平台。", encoding="utf-8")
    return d


def _run(args: list[str], flag: Path, mode: str = "pdeathsig", wait: bool = True):
    cmd = [sys.executable, "-c", DRIVER, str(flag), mode, *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    if not wait:
        return p
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the run and its workers
        p.communicate()
        pytest.fail(f"aipolicy label {' '.join(args)} did not finish within {TIMEOUT} s")
    return p.returncode, out, err


def _label(inputs, out: Path, model: str, *extra: str, flag: Path | None = None):
    return _run(["label", str(inputs), "-o", str(out), "-m", model, "-q", *extra], flag or out.with_name("flag"))


def _plain(inputs, out: Path, model: str, *extra: str) -> subprocess.CompletedProcess:
    """The CLI without any hook."""
    cmd = [sys.executable, "-m", "aipolicy.cli", "label", str(inputs), "-o", str(out), "-m", model, "-q", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)


def _manifest(out: Path) -> pd.DataFrame:
    return pd.read_csv(f"{out}.manifest.csv", encoding="utf-8-sig", keep_default_na=False)


def _reference(tmp_path: Path, folder: Path, model: str, skip: tuple[str, ...] = ()) -> Path:
    """The output of an undisturbed run on the folder without the files named in ``skip``."""
    ref_in = tmp_path / "ref_in"
    ref_in.mkdir()
    for f in folder.iterdir():
        if f.name not in skip:
            (ref_in / f.name).write_bytes(f.read_bytes())
    ref = tmp_path / "ref" / "out.csv"
    res = _plain(ref_in, ref, model, "-j", "2")
    assert res.returncode == 0, res.stderr
    return ref


def test_a_file_that_kills_its_worker_is_skipped_and_the_rest_labelled(tmp_path, trained):
    model = str(trained[0])
    folder = _folder(tmp_path, "a_DIES.txt", "z_DIES.txt", "m_plain.txt")
    ref = _reference(tmp_path, folder, model, skip=("a_DIES.txt", "z_DIES.txt"))
    out = tmp_path / "run" / "out.csv"
    t0 = time.perf_counter()
    code, stdout, err = _label(folder, out, model, "-j", "2")
    assert code == 0, err
    assert "Traceback" not in err and time.perf_counter() - t0 < TIMEOUT
    assert "9 files labelled, 2 skipped" in stdout
    man = _manifest(out).set_index("file")
    for name in ("a_DIES.txt", "z_DIES.txt"):
        row = man.loc[str(folder / name)]
        assert row["status"] == "skipped" and row["units"] == 0
        assert row["reason"] == ("the worker process died while labelling this file (killed by signal 9, SIGKILL), "
                                 "and again when the file was retried alone (killed by signal 9, SIGKILL)")
    # every other file exactly as in a run without the two: the same rows, the same manifest lines
    assert out.read_bytes() == ref.read_bytes()
    ref_man = _manifest(ref)
    ref_man["file"] = ref_man["file"].str.replace(str(tmp_path / "ref_in"), str(folder), regex=False)
    assert man.drop(index=[str(folder / "a_DIES.txt"), str(folder / "z_DIES.txt")]).reset_index().equals(ref_man)
    assert not (tmp_path / "run" / "out.csv.parts").exists()


def test_a_worker_that_dies_once_loses_nothing(tmp_path, trained):
    model = str(trained[0])
    folder = _folder(tmp_path, "FLAKY.txt")
    ref = _reference(tmp_path, folder, model)
    flag = tmp_path / "flag"
    out = tmp_path / "run" / "out.csv"
    code, stdout, err = _label(folder, out, model, "-j", "2", flag=flag)
    assert code == 0 and flag.exists(), err  # the worker was killed on the file
    assert "9 files labelled, 0 skipped" in stdout
    assert out.read_bytes() == ref.read_bytes()
    for suffix in (".manifest.csv", ".documents.csv"):
        got = Path(f"{out}{suffix}").read_text(encoding="utf-8-sig")
        want = Path(f"{ref}{suffix}").read_text(encoding="utf-8-sig").replace(str(tmp_path / "ref_in"), str(folder))
        assert got == want


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("mode", ["pdeathsig", "no-pdeathsig"])
def test_workers_die_with_the_parent_and_do_not_hold_the_lock(tmp_path, trained, mode):
    """kill -9 of the run while a worker is inside a long file: the worker exits (at once with
    PR_SET_PDEATHSIG, within about a second by watching its parent's pid otherwise) and never held the output
    lock, so --resume runs at once and gives the output of an uninterrupted run."""
    model = str(trained[0])
    folder = _folder(tmp_path, "SLOW.txt")
    flag = tmp_path / "flag"
    out = tmp_path / "run" / "out.csv"
    p = _run(["label", str(folder), "-o", str(out), "-m", model, "-q", "-j", "2"], flag, mode, wait=False)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (flag.exists() and flag.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        worker = int(flag.read_text())
        fds = [os.readlink(f"/proc/{worker}/fd/{fd}") for fd in os.listdir(f"/proc/{worker}/fd")]
        assert not [f for f in fds if f.endswith(".lock")], fds
        os.kill(p.pid, signal.SIGKILL)
        p.communicate()
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # resumed without the hook's sleep (the flag is left as it is: SLOW sleeps only in the hooked driver)
    res = _plain(folder, out, model, "-j", "2", "--resume")
    assert res.returncode == 0, res.stderr
    ref = tmp_path / "ref" / "out.csv"
    assert _plain(folder, ref, model, "-j", "2").returncode == 0
    assert out.read_bytes() == ref.read_bytes()


def test_an_error_in_a_worker_outside_the_pipeline_stops_the_run_cleanly(tmp_path, trained, monkeypatch):
    """An exception outside the per-file boundary (here: writing a part) still stops the run as before, with
    that exception, and leaves no worker behind (in-process: the patch reaches the forked workers)."""
    import multiprocessing as mp

    import aipolicy.batch as batch
    from aipolicy import label_files

    folder = _folder(tmp_path)

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch, "_part_bytes", full)
    with pytest.raises(OSError, match="No space left"):
        label_files([folder], tmp_path / "out.csv", model=str(trained[0]), jobs=2)
    assert not [p for p in mp.active_children() if p.name == "aipolicy-label"]  # ours (joblib may keep its own)


def test_death_descriptions():
    from aipolicy.batch import _death

    assert _death(-9) == "killed by signal 9, SIGKILL"
    assert _death(-11) == "killed by signal 11, SIGSEGV"
    assert _death(3) == "exit status 3"
