"""A short run of the hostile-input fuzzer (bench/fuzz.py): every generated entry ends up in the
manifest as ok or skipped, no exception reaches the user, outputs match the manifests, nothing is
left behind. The full run (>= 2,000 inputs, in fresh processes, with hang and memory checks) is
``python bench/fuzz.py``."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import fuzz  # noqa: E402


def test_short_fuzz_run(tmp_path):
    t = fuzz.run_fuzz(300, seed=14, batch=150, work=tmp_path, in_process=True, file_timeout=60, log=lambda m: None)
    summary = fuzz.report(t)
    assert t.runs == 4, summary
    assert not t.exceptions and not t.hangs and not t.mismatches and not t.leftovers, summary
    assert t.unaccounted == 0, summary
    assert t.status["ok"] > 20 and t.status["skipped"] > 20, summary  # both kinds were exercised
