"""The planned-stages benchmark in its quick form: both ways store the same runs."""

from __future__ import annotations

import json

import pytest
from services import run_module

pytestmark = pytest.mark.slow


def test_the_quick_stages_benchmark_compares_both_ways_and_writes_its_section(tmp_path, data_dir):
    rows, written = tmp_path / "rows.json", tmp_path / "benchmarks.md"
    arguments = ["--quick", "--report", str(written), "--json", str(rows)]
    outcome = run_module(
        "benchmarks.stages", arguments, environment={"KERASNN_DATA_DIR": str(data_dir)}
    )
    assert outcome.code == 0, outcome
    assert "same runs stored (plan, configurations, seeds): yes" in outcome.out
    ways = json.loads(rows.read_text())[0]
    assert ways["one at a time"]["processes"] == 1
    assert ways["one at a time"]["runs"] == ways["one process per core"]["runs"] > 0
    assert "<!-- section: stage-processes -->" in written.read_text()
