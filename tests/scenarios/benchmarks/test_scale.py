"""The scale benchmark in its quick form: the real engine with a stand-in for training."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from services import ROOT, worker_environment

pytestmark = pytest.mark.slow


def test_the_quick_scale_benchmark_loses_no_trial_and_writes_its_section(tmp_path, data_dir):
    rows, written = tmp_path / "rows.json", tmp_path / "benchmarks.md"
    arguments = ["--quick", "--seconds", "0.2", "--report", str(written), "--json", str(rows)]
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
    assert "no-loss rule: held in all 2 studies" in outcome.stdout
    cases = json.loads(rows.read_text())
    assert {(case["storage"], case["workers"]) for case in cases} == {
        ("sqlite", 4),
        ("journal", 4),
    }
    for case in cases:
        assert case["problems"] == []
        assert case["segments"][-1]["size"] == 100
        # Every search trial and every confirmation run was trained by the stand-in once.
        assert case["trained"] >= 100 + 9
        assert case["report_only"]["status"] == 0
    section = written.read_text()
    assert "<!-- section: scale -->" in section
    assert "Training is replaced by a stand-in" in section
