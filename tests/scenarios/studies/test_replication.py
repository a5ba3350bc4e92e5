"""replicate on a small study's report: its answer trained again over fresh seeds, compared
with the report's runs; tied against itself, told apart from a report whose runs were moved."""

from __future__ import annotations

import json
import shutil

import pytest

from studies import open_study, replicate
from studies.report import answer_file
from studies.run import main

pytestmark = pytest.mark.slow

NAME = "overfitting-mnist-subset1000-epochs2-prunernone"


def options(place) -> list[str]:
    return [
        *("--dataset", "mnist", "--subset", "1000", "--epochs", "2", "--trials", "2"),
        *("--pruner", "none", "--confirm-top", "2", "--confirm-seeds", "3"),
        *("--storage", f"sqlite:///{place}/s.db", "--reports", str(place / "reports")),
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory, data_dir):
    """The report folder of a small confirmed study."""
    place = tmp_path_factory.mktemp("replication")
    assert main(options(place)) == 0
    return place / "reports" / NAME


def test_answer_json_holds_the_confirmed_answer_and_open_study_reads_it(report, tmp_path):
    stored = answer_file.read(report)
    result = open_study(
        dataset="mnist",
        subset=1000,
        epochs=2,
        pruner="none",
        storage=f"sqlite:///{report.parent.parent}/s.db",
        reports=str(report.parent),
    )
    assert result.answer_json() == stored
    assert stored["winner"] == result.answer.trial
    assert stored["tied"] == result.answer.tied
    winner = stored["configurations"][0]
    assert [run["seed"] for run in winner["runs"]] == result.answer.seeds
    assert winner["objective"]["mean"] == pytest.approx(result.answer.objective.mean)
    assert stored["winner_file"]["name"] == "winner.keras"
    assert stored["machine"]["versions"]["Keras"]
    assert stored["command"].startswith("python -m studies.run")


def test_replicate_trains_the_planned_runs_and_finds_the_answer_tied_with_itself(
    report, tmp_path, capsys
):
    stored = answer_file.read(report)
    assert main(["replicate", str(report), "--out", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    [data] = tmp_path.glob("replication-*.json")
    found = json.loads(data.read_text())
    assert found["verdict"] == "tied"
    assert [c["trial"] for c in found["configurations"]] == [stored["winner"], *stored["tied"]]
    for configuration in found["configurations"]:
        assert len(configuration["objectives"]) == 3
        assert not set(configuration["seeds"]) & set(stored["seeds"]["taken"])
    assert "The answer replicates here" in said
    assert "The report's machine:" in said and "This machine:" in said
    assert list(tmp_path.glob("replication-*.md"))


def test_replicate_tells_a_report_whose_runs_were_moved_apart(report, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(report, moved)
    content = answer_file.read(moved)
    for configuration in content["configurations"]:
        highest = max(run["objective"] for run in configuration["runs"])
        for run in configuration["runs"]:
            run["objective"] += 0.98 - highest  # Far above what these runs reach.
    answer_file.write(moved, content)
    result = replicate(moved, say=lambda line: None)
    assert result.verdict == "differs"
    assert all(c.comparison.outcome == "better" for c in result.configurations)
    assert all(path.parent == moved for path in result.written)
