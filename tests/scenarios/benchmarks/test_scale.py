"""The scale benchmark in its quick form: the real engine with a stand-in for training."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from services import ROOT, worker_environment

pytestmark = pytest.mark.slow

SIZE = 20


def test_the_quick_scale_benchmark_loses_no_trial_and_writes_its_section(tmp_path, data_dir):
    rows, written = tmp_path / "rows.json", tmp_path / "benchmarks.md"
    # The quick form made smaller still (its defaults: 100 trials, 4 workers, SQLite and a
    # journal): every part of the benchmark runs, on the storage whose claims of queued
    # trials kerasnn locks itself, in one process. Several processes on one study are
    # tested in tests/scenarios/studies/engine/test_workers.py (journal, PostgreSQL) and
    # tests/unit/studies/storage/test_claims.py (SQLite's claims).
    arguments = ["--quick", "--seconds", "0.2", "--workers", "1", "--sizes", str(SIZE)]
    arguments += ["--storages", "sqlite"]
    arguments += ["--report", str(written), "--json", str(rows)]
    # Many processes, each starting its framework: longer than a usual benchmark's check.
    outcome = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", *arguments],
        cwd=ROOT,
        env=dict(worker_environment(), KERASNN_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert "no-loss rule: held in every study measured (1)" in outcome.stdout
    measured = json.loads(rows.read_text())
    cases = measured["cases"]
    assert [(case["storage"], case["workers"]) for case in cases] == [("sqlite", 1)]
    for case in cases:
        assert case["problems"] == []
        assert [(s["from"], s["size"]) for s in case["segments"]] == [(0, SIZE)]
        assert case["sampler"] == "tpe"
        # Every search trial and every confirmation run was trained by the stand-in once.
        assert case["trained"] >= SIZE + 9
        assert case["report_only"]["status"] == 0
        # optuna-dashboard served the grown study, whose page in Chromium names it.
        dashboard = case["dashboard"]
        assert dashboard["trials_served"] >= SIZE, dashboard
        assert dashboard["json_seconds"] > 0 and "importances_seconds" in dashboard
        if "study_page_seconds" in dashboard:
            assert dashboard["page_names_study"] and dashboard["list_page_seconds"] > 0
    [sampling] = measured["sampling"]
    assert sampling["size"] == SIZE
    assert all(sampling[name] > 0 for name in ("tpe", "random", "qmc"))
    section = written.read_text()
    assert "<!-- section: scale -->" in section
    assert "Training is replaced by a stand-in" in section
    assert "Optuna's own sampling time per trial" in section
    assert "`--sampler tpe` in the quick case" in section
    assert "dashboard study page s (list page)" in section
