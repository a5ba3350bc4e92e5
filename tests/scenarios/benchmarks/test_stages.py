"""The planned-stages benchmark in its quick form: both ways store the same runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from services import ROOT, worker_environment

pytestmark = pytest.mark.slow


def test_the_quick_stages_benchmark_compares_both_ways_and_writes_its_section(tmp_path, data_dir):
    rows, written = tmp_path / "rows.json", tmp_path / "benchmarks.md"
    arguments = ["--quick", "--report", str(written), "--json", str(rows)]
    # Many processes, each starting its framework: longer than a usual benchmark's check.
    outcome = subprocess.run(
        [sys.executable, "-m", "benchmarks.stages", *arguments],
        cwd=ROOT,
        env=dict(worker_environment(), KERASNN_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert "same runs stored (plan, configurations, seeds): yes" in outcome.stdout
    ways = json.loads(rows.read_text())[0]
    assert ways["one at a time"]["processes"] == 1
    assert ways["one at a time"]["runs"] == ways["one process per core"]["runs"] > 0
    assert "<!-- section: stage-processes -->" in written.read_text()
