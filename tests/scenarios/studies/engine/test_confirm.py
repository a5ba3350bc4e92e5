"""The confirmation stage: the best configurations re-trained over fresh seeds, resumably."""

from __future__ import annotations

import signal
import subprocess
import sys

import optuna
import pandas as pd
import pytest
from services import ROOT, cli, worker_environment

from studies.engine import confirm, planned
from studies.engine import runs as trial_steps
from studies.run import main
from studies.storage import open_storage

pytestmark = pytest.mark.slow

NAME = "overfitting-mnist-subset1000-epochs1"


def options(tmp_path, *extra):
    return [
        *("--dataset", "mnist", "--subset", "1000", "--epochs", "1", "--trials", "4"),
        *("--storage", f"sqlite:///{tmp_path}/s.db", "--reports", str(tmp_path / "reports")),
        *extra,
    ]


def load(tmp_path, name=NAME):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/s.db")


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory, data_dir):
    tmp_path = tmp_path_factory.mktemp("confirmed")
    assert main(options(tmp_path, "--confirm-top", "2", "--confirm-seeds", "2")) == 0
    return tmp_path


def test_the_top_two_are_each_run_with_two_fresh_seeds(confirmed):
    table = pd.read_csv(confirmed / "reports" / NAME / "confirm.csv")
    assert len(table) == 4 and (table["state"] == "COMPLETE").all()
    search = load(confirmed)
    best_two = [trial.number for trial in confirm.candidates(search, 2)]
    assert sorted(table["source_trial"].unique()) == sorted(best_two)
    for _, runs in table.groupby("source_trial"):
        assert runs["seed"].nunique() == 2
    search_seeds = {t.user_attrs["train_config"]["seed"] for t in search.trials}
    assert not set(table["seed"]) & search_seeds  # Seeds the search never used.
    # The same configuration as the source: the parameters are the source trial's.
    confirmation = load(confirmed, NAME + confirm.SUFFIX)
    for trial in confirmation.trials:
        assert trial.params == search.trials[trial.user_attrs["source_trial"]].params


def test_the_test_set_is_evaluated_only_for_the_winners_runs(confirmed):
    search, confirmation = load(confirmed), load(confirmed, NAME + confirm.SUFFIX)
    for trial in search.trials + confirmation.trials:
        assert "test_accuracy" not in trial.user_attrs
    tested = confirmation.user_attrs["winner_test"]
    winner = max(
        confirm.runs_by_source(search, confirmation).items(),
        key=lambda item: sum(t.value for t in item[1]) / len(item[1]),
    )[0]
    assert tested["source_trial"] == winner
    assert len(tested["test_accuracy"]) == 2 and all(0.1 < a < 1 for a in tested["test_accuracy"])
    summary = (confirmed / "reports" / NAME / "summary.md").read_text()
    assert summary.index(f"## Answer: trial {winner}'s configuration") < summary.index("## Best")
    assert "never used to choose" in summary
    trials = pd.read_csv(confirmed / "reports" / NAME / "trials.csv")
    assert "test_accuracy" not in trials.columns


def test_report_only_rebuilds_the_answer_from_storage_without_evaluating_again(
    confirmed, monkeypatch
):
    folder = confirmed / "reports" / NAME
    before = (folder / "summary.md").read_text()
    (folder / "summary.md").unlink()
    monkeypatch.setattr(confirm, "_test_accuracy", lambda *a: pytest.fail("evaluated again"))
    assert (
        main(options(confirmed, "--confirm-top", "2", "--confirm-seeds", "2", "--report-only")) == 0
    )
    assert (folder / "summary.md").read_text() == before


def test_an_interrupted_confirmation_finishes_only_the_missing_runs(
    tmp_path, data_dir, monkeypatch
):
    calls = {"count": 0}
    original = trial_steps.train

    def stopped_in_the_third_confirmation_run(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 2 + 3:  # Two search trials, then the confirmation runs.
            raise KeyboardInterrupt("SIGINT")  # What the SIGINT handler raises mid-training.
        return original(*args, **kwargs)

    arguments = options(tmp_path, "--trials", "2", "--confirm-top", "2", "--confirm-seeds", "2")
    arguments += ["--no-report"]  # The stored runs are what this test reads.
    monkeypatch.setattr(trial_steps, "train", stopped_in_the_third_confirmation_run)
    assert main(arguments) == 130
    first = {t.number: t.value for t in load(tmp_path, NAME + confirm.SUFFIX).trials if t.value}
    assert len(first) == 2

    monkeypatch.setattr(trial_steps, "train", original)
    assert main(arguments) == 0
    confirmation = load(tmp_path, NAME + confirm.SUFFIX)
    complete = [t for t in confirmation.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4
    assert len({planned.run_of(t) for t in complete}) == 4
    assert {t.number: t.value for t in complete if t.number in first} == first  # Untouched.
    failed = [t for t in confirmation.trials if t.state.name == "FAIL"]
    assert [t.user_attrs["fail_reason"] for t in failed] == ["interrupted (SIGINT or SIGTERM)"]


def test_confirm_top_zero_skips_the_stage(tmp_path, data_dir):
    assert main(options(tmp_path, "--trials", "1", "--confirm-top", "0")) == 0
    names = optuna.get_all_study_names(f"sqlite:///{tmp_path}/s.db")
    assert names == [NAME]
    assert not (tmp_path / "reports" / NAME / "confirm.csv").exists()
    assert "## Answer" not in (tmp_path / "reports" / NAME / "summary.md").read_text()


def test_every_planned_run_trains_to_the_end_even_where_a_pruner_would_stop_it(tmp_path, data_dir):
    # Nine runs of two epochs: Optuna's default pruner would judge the sixth on.
    arguments = options(tmp_path, "--trials", "3", "--confirm-top", "3", "--confirm-seeds", "3")
    arguments += ["--epochs", "2", "--no-report"]
    assert main(arguments) == 0
    name = "overfitting-mnist-subset1000-epochs2" + confirm.SUFFIX
    states = [trial.state.name for trial in load(tmp_path, name).trials]
    assert states == ["COMPLETE"] * 9


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_confirmation_killed_hard_finishes_on_the_next_run(tmp_path, kind, data_dir, capsys):
    # SIGKILL just after the first confirmation run: the run in flight is left RUNNING (or
    # queued), and the same command again must finish every planned run and exit 0.
    storage = str(tmp_path / "j.log") if kind == "journal" else f"sqlite:///{tmp_path}/s.db"
    command = [sys.executable, "-m", "studies.run", *options(tmp_path, "--trials", "2")]
    command += ["--confirm-top", "2"]
    command = [c if not c.startswith("sqlite:///") else storage for c in command]
    command += ["--confirm-seeds", "2", "--epochs", "2", "--heartbeat", "2"]
    first = subprocess.Popen(
        command, cwd=ROOT, env=worker_environment(), stdout=subprocess.PIPE, text=True
    )
    for line in first.stdout:
        if "confirmation of trial" in line:
            first.kill()
            break
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    again = cli(command[3:], capsys)  # The same command, in this process.
    assert again.code == 0, again.err[-2000:]
    table = pd.read_csv(
        tmp_path / "reports" / "overfitting-mnist-subset1000-epochs2" / "confirm.csv"
    )
    complete = table[table["state"] == "COMPLETE"]
    assert len(complete[["source_trial", "seed"]].drop_duplicates()) == 4
    assert "Traceback" not in again.err
    # Every retried run trained exactly its planned configuration: its source's parameters.
    stored = open_storage(storage)
    search = optuna.load_study(study_name="overfitting-mnist-subset1000-epochs2", storage=stored)
    for run in confirm.load_confirmation(stored, search.study_name).get_trials():
        if run.state == optuna.trial.TrialState.COMPLETE:
            assert run.params == search.trials[run.user_attrs["source_trial"]].params
