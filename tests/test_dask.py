"""Batch labelling on a Dask LocalCluster of 2 worker processes: same output as the local runner,
resume, a killed worker, the model's integrity check on the workers."""
from __future__ import annotations

import hashlib
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

from aipolicy import batch  # noqa: E402
from aipolicy.batch import label_files  # noqa: E402
from aipolicy.cli import main  # noqa: E402
from aipolicy.errors import AipolicyError  # noqa: E402

PHRASES = ["建设智能算力中心", "发放算力券", "开放公共数据", "培育数据交易市场", "研发行业大模型", "建设开源社区",
           "开展示范应用", "发布应用场景清单", "引进领军人才", "设立人工智能学院", "完善伦理审查", "探索包容审慎监管",
           "推进智慧交通", "建设城市大脑", "支持芯片研发", "建设高质量语料库", "加强数据安全", "培养卓越工程师"]


def _cluster():
    import logging

    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                    silence_logs=logging.ERROR)


@pytest.fixture(scope="module")
def cluster():
    with _cluster() as c:
        yield c


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _same_outputs(a: Path, b: Path) -> None:
    assert _digest(a) == _digest(b)
    ma, mb = Path(f"{a}.manifest.csv").read_text("utf-8-sig"), Path(f"{b}.manifest.csv").read_text("utf-8-sig")
    assert ma == mb


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_dask_output_identical_to_local(inputs, trained, cluster, tmp_path, ext):
    local, remote = tmp_path / f"local{ext}", tmp_path / f"dask{ext}"
    label_files([inputs], local, model=str(trained[0]), jobs=1)
    run = label_files([inputs], remote, model=str(trained[0]), dask=cluster.scheduler_address)
    assert run.units == 48 and (run.manifest["status"] == "skipped").sum() == 2
    _same_outputs(local, remote)
    assert not Path(f"{remote}.parts").exists()


def test_dask_resume_continues_an_interrupted_run(inputs, trained, cluster, tmp_path, monkeypatch):
    out = tmp_path / "r.csv"
    real, calls = batch._label_file, []

    def flaky(task):
        calls.append(task)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(batch, "_label_file", flaky)
    with pytest.raises(KeyboardInterrupt):
        label_files([inputs], out, model=str(trained[0]), jobs=1)
    monkeypatch.undo()
    run = label_files([inputs], out, model=str(trained[0]), dask=cluster.scheduler_address, resume=True)
    assert run.resumed_files == 3
    full = tmp_path / "full.csv"
    label_files([inputs], full, model=str(trained[0]), jobs=1)
    _same_outputs(out, full)


def test_cli_label_dask(inputs, trained, cluster, tmp_path, capsys):
    out = tmp_path / "o.jsonl"
    assert main(["label", str(inputs), "-o", str(out), "-m", str(trained[0]), "-q",
                 "--dask", cluster.scheduler_address]) == 0
    assert "6 files labelled, 2 skipped, 48 units" in capsys.readouterr().out


def test_unreachable_scheduler_is_a_clear_error():
    from aipolicy.dask_runner import connect

    with pytest.raises(AipolicyError, match="cannot connect to the Dask scheduler at tcp://127.0.0.1:9"):
        with connect("tcp://127.0.0.1:9", 1, timeout="2s"):
            pass


def test_tampered_model_is_refused_by_the_workers(trained, cluster):
    from aipolicy.dask_runner import model_files, register_model

    files, sha = model_files(Path(trained[0]))
    name = max(files, key=lambda n: len(files[n]))  # the biggest file: the arrays
    files[name] = files[name][:-1] + bytes([files[name][-1] ^ 1])
    with distributed.Client(cluster) as client, pytest.raises(AipolicyError, match="could not load the model.*refusing"):
        register_model(client, files, "tampered" + sha, None)


def _write_slow_inputs(folder: Path, n_files: int = 8, lines: int = 500) -> Path:
    """Files big enough (our own generated sentences) that a worker is busy when it is killed."""
    rng = random.Random(5)
    folder.mkdir()
    for k in range(n_files):
        rows = ["第%d号文件第%d条：%s。" % (k, i, "，".join(rng.sample(PHRASES, 5))) for i in range(lines)]
        (folder / f"市{k:02d}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _kill_a_busy_worker_mid_run(inputs: Path, out: Path, model: str, allowed_failures: int = 3):
    """Label ``inputs`` on a fresh 2-worker LocalCluster and SIGKILL a busy worker process once the
    first file is done; returns the run."""
    import dask

    state = Path(f"{out}.parts") / "state.jsonl"
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), _cluster() as cluster, \
            distributed.Client(cluster) as client:
        result: dict = {}
        runner = threading.Thread(target=lambda: result.update(
            run=label_files([inputs], out, model=model, dask=cluster.scheduler_address)))
        runner.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not state.exists() or len(state.read_text().splitlines()) < 2):
            time.sleep(0.05)  # the header and the first finished file
        pids = client.run(os.getpid)
        busy = [a for a, ts in client.processing().items() if ts]
        assert busy, "no worker was busy when the kill came"
        os.kill(pids[busy[0]], signal.SIGKILL)
        finished_at_kill = len(state.read_text().splitlines()) - 1
        runner.join(timeout=300)
        assert not runner.is_alive()
        assert finished_at_kill < 8  # the kill came mid-run
        assert pids[busy[0]] not in client.run(os.getpid).values()  # that worker process is gone
    return result["run"]


def test_killed_worker_loses_nothing(trained, tmp_path):
    inputs = _write_slow_inputs(tmp_path / "slow")
    local = tmp_path / "local.csv"
    label_files([inputs], local, model=str(trained[0]), jobs=1)
    out = tmp_path / "dask.csv"
    run = _kill_a_busy_worker_mid_run(inputs, out, str(trained[0]))
    assert run.units > 0 and (run.manifest["status"] == "ok").all()
    _same_outputs(local, out)


def test_file_that_kills_its_worker_is_listed_and_the_batch_goes_on(trained, tmp_path):
    inputs = _write_slow_inputs(tmp_path / "slow")
    out = tmp_path / "dask.csv"
    # no retry allowed: the task on the killed worker counts as a file that kills workers
    run = _kill_a_busy_worker_mid_run(inputs, out, str(trained[0]), allowed_failures=0)
    bad = run.manifest[run.manifest["status"] != "ok"]
    assert len(bad) >= 1 and bad["reason"].str.contains("KilledWorker").all()
    assert (run.manifest["status"] == "ok").sum() == 8 - len(bad) and out.is_file()


def test_threshold_override_reaches_the_workers(inputs, trained, cluster, tmp_path):
    local, remote = tmp_path / "local.csv", tmp_path / "dask.csv"
    over = {"compute": 0.0, "gate": 0.0}  # the model's gate off, so every unit gets compute
    label_files([inputs], local, model=str(trained[0]), jobs=1, thresholds=over)
    label_files([inputs], remote, model=str(trained[0]), dask=cluster.scheduler_address, thresholds=over)
    _same_outputs(local, remote)
    assert "compute" in remote.read_text(encoding="utf-8-sig").splitlines()[1]


def test_dask_parquet_dataset_identical_to_local(inputs, trained, cluster, tmp_path):
    import pandas as pd

    from aipolicy.tables import read_table

    local, remote, csv = tmp_path / "local_ds", tmp_path / "dask_ds", tmp_path / "l.csv"
    label_files([inputs], local, model=str(trained[0]), jobs=1, output_format="parquet-dataset")
    label_files([inputs], remote, model=str(trained[0]), dask=cluster.scheduler_address,
                output_format="parquet-dataset")
    label_files([inputs], csv, model=str(trained[0]), jobs=1)
    names = sorted(p.name for p in local.iterdir())
    assert names == sorted(p.name for p in remote.iterdir()) == ["part-00000.parquet"]
    assert all(_digest(local / n) == _digest(remote / n) for n in names)
    got, want = pd.read_parquet(remote), read_table(csv)
    pd.testing.assert_frame_equal(got.fillna("").astype(str), want.fillna("").astype(str), check_dtype=False)
