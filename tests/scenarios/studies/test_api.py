"""run_study and open_study: the command line's options, checks and answer from Python, a
finished study read without changing it, and the docs' example as written."""

from __future__ import annotations

import re

import keras
import pytest
from conftest import ROOT
from services import cli, immutable

from studies import StudyResult, open_study, run_study
from studies.errors import UsageError

NAME = "overfitting-mnist-subset1000-epochs2"
# One small study, as keyword arguments and as the command line says it.
OPTIONS = dict(dataset="mnist", subset=1000, epochs=2, trials=3, confirm_top=2, confirm_seeds=2)
ARGV = ["--dataset", "mnist", "--subset", "1000", "--epochs", "2", "--trials", "3"]
ARGV += ["--confirm-top", "2", "--confirm-seeds", "2"]


def where(place) -> dict[str, str]:
    return {"storage": f"sqlite:///{place}/s.db", "reports": str(place / "reports")}


def where_argv(place) -> list[str]:
    return ["--storage", f"sqlite:///{place}/s.db", "--reports", str(place / "reports")]


@pytest.mark.parametrize(
    ("name", "options", "argv"),
    [
        ("overfitting", {"trials": 0}, ["--trials", "0"]),
        ("overfitting", {"trails": 3}, ["--trails", "3"]),
        ("overfitting", {"dataset": "cifar10"}, ["--dataset", "cifar10"]),
        ("overfitting", {"pruner": "none", "keep": 0.5}, ["--pruner", "none", "--keep", "0.5"]),
        ("overfitting", {"storage": "nowhere/s.db"}, ["--storage", "nowhere/s.db"]),
        ("no-such-study", {}, []),
    ],
    ids=["bad-count", "unknown-option", "bad-choice", "ineffective", "bad-storage", "bad-study"],
)
def test_a_bad_option_raises_the_command_lines_message_and_writes_nothing(
    name, options, argv, tmp_path, capsys
):
    place = {**where(tmp_path), **options}
    with pytest.raises(UsageError) as raised:
        run_study(name, **place)
    assert isinstance(raised.value, ValueError)
    assert list(tmp_path.iterdir()) == []  # No storage file, no reports folder.
    outcome = cli([name, *where_argv(tmp_path), *argv], capsys)
    assert outcome.code == 2
    assert outcome.err == f"python -m studies.run: error: {raised.value}\n"


def test_a_group_of_studies_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(UsageError, match="group of studies"):
        run_study("reproduce", **where(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir) -> tuple:
    place = tmp_path_factory.mktemp("api")
    return place, run_study(**OPTIONS, **where(place))


@pytest.mark.slow
def test_run_study_returns_the_answer_its_tables_and_the_winner(finished):
    place, result = finished
    assert isinstance(result, StudyResult) and result.study_name == NAME
    assert result.report_dir == place / "reports" / NAME
    answer = result.answer
    assert answer.trial in set(result.confirmation["source_trial"])
    assert answer.objective.n == 2 and answer.test_accuracy.n == 2
    assert answer.objective.low <= answer.objective.mean <= answer.objective.high
    searched = result.trials.set_index("number").loc[answer.trial]
    assert all(searched[name] == value for name, value in answer.params.items())
    assert len(result.trials) == 3 and list(result.trials["rank"][:1]) == [1]
    assert len(result.confirmation) == 4 and result.effects.empty
    assert f"trial {answer.trial}'s configuration" in str(answer)
    model = result.load_winner()
    assert isinstance(model, keras.Model) and model.output_shape == (None, 10)


@pytest.mark.slow
def test_the_python_call_and_the_command_line_give_the_same_answer(finished, tmp_path, capsys):
    _, result = finished
    outcome = cli([*ARGV, *where_argv(tmp_path)], capsys)  # The command line, in this process.
    assert outcome.code == 0
    from_cli = open_study(**where(tmp_path), study_name=NAME).answer
    assert from_cli.trial == result.answer.trial
    assert from_cli.objective == result.answer.objective
    assert from_cli.val_accuracy == result.answer.val_accuracy
    assert from_cli.tied == result.answer.tied
    # The run ends with the answer as summary.md opens, then where the summary and model are.
    last = outcome.out.rstrip("\n").splitlines()
    folder = tmp_path / "reports" / NAME
    assert last[-2:] == [f"summary: {folder / 'summary.md'}", f"model:   {folder / 'winner.keras'}"]
    answer = str(from_cli).splitlines()
    assert last[-3 - len(answer) : -3] == answer and answer[0].startswith("Answer: trial ")
    assert "- tied with it" in str(from_cli) and "- test accuracy " in str(from_cli)


def snapshot(place) -> dict:
    return {
        str(path.relative_to(place)): path.read_bytes()
        for path in sorted(place.rglob("*"))
        if path.is_file()
    }


@pytest.mark.slow
def test_opening_a_finished_study_trains_nothing_and_changes_nothing(finished, monkeypatch):
    place, result = finished
    before = snapshot(place)  # The SQLite file, the artifacts and the report, byte for byte.

    def no_training(*args, **kwargs):
        raise AssertionError("open_study trained a network")

    monkeypatch.setattr("kerasnn.training.train", no_training)
    monkeypatch.setattr("studies.engine.runs.train", no_training)
    # Only where it is and what it is called: the confirmation's sizes come from the study.
    opened = open_study(storage=f"sqlite:///{place}/s.db", study_name=NAME)
    assert snapshot(place) == before
    assert opened.answer == result.answer
    assert opened.trials.equals(result.trials)
    assert opened.confirmation.equals(result.confirmation)


@pytest.mark.slow
def test_opening_a_study_whose_report_folder_is_read_only_reads_it_all_the_same(finished):
    place, result = finished
    # A run would refuse this folder before training; reading it needs no write.
    with immutable(place / "reports" / NAME):
        opened = open_study(**where(place), study_name=NAME)
    assert opened.answer == result.answer
    assert opened.report_dir == result.report_dir


def test_opening_a_study_that_is_not_there_says_so(tmp_path):
    with pytest.raises(UsageError, match="no storage at"):
        open_study(**where(tmp_path), study_name="absent")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_python_example_in_the_docs_runs_as_written(tmp_path, monkeypatch, capsys, data_dir):
    text = (ROOT / "docs" / "python.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", text, re.S)
    monkeypatch.chdir(tmp_path)  # Its storage and reports land in a folder of the test's.
    exec(compile(example, "docs/python.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "Confirmed over 2 fresh seeds" in printed and "predicted:" in printed
    assert printed.rstrip().endswith("True")  # open_study read the same answer.
    assert list((tmp_path / "reports").glob("*/winner.keras"))
    assert (tmp_path / "curves.svg").read_text().startswith("<?xml")  # result.figure's.
