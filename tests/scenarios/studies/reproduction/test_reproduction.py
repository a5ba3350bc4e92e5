"""Tests of the seed reproduction: the grid, the verdicts, the seed modules' claims as data,
the renderer, and one tiny end-to-end run."""

from __future__ import annotations

import pytest

from studies.run import STUDIES, main


@pytest.mark.slow
def test_tiny_reproduce_run_builds_its_section(tmp_path, data_dir):
    storage = f"sqlite:///{tmp_path / 'tiny.db'}"
    argv = ["reproduce-001", "--subset", "500", "--epochs", "1"]
    argv += ["--storage", storage, "--reports", str(tmp_path)]
    assert main(argv) == 0
    text = (tmp_path / "REPRODUCTION.md").read_text()
    section = text.split("## Seed 001")[1].split("## Seed 002")[0]
    assert "Chosen on validation (highest mean over seeds): decay=" in section
    # Each decay ran with three seeds, so every row shows a mean and its spread.
    assert section.count("| 3 |") == len(STUDIES["reproduce-001"].VARIANTS)
    assert (tmp_path / "reproduction" / "001-curves.png").stat().st_size > 1000
    # Rebuilding from the storage alone gives the same section.
    assert main([*argv, "--report-only"]) == 0
    rebuilt = (tmp_path / "REPRODUCTION.md").read_text()
    assert rebuilt.split("## Seed 001")[1].split("## Seed 002")[0] == section
