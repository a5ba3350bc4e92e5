"""The answer is a fact of the study: recorded plans, --fresh over every stage, a read-only
--report-only, a timeout that is no failure. Real studies on small subsets."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sqlite3

import optuna
import pandas as pd
import pytest
from services import cli, fill, start_worker, stop, tmpfs, wait_for

from studies.engine import confirm
from studies.run import main
from studies.storage import StorageError, open_for_reading

pytestmark = pytest.mark.slow

NAME = "trust"
BASE = ["--dataset", "mnist", "--subset", "1000", "--epochs", "1", "--trials", "3"]
BASE += ["--pruner", "none", "--confirm-top", "2", "--confirm-seeds", "2", "--study-name", NAME]


def options(tmp_path, storage: str = "j.log") -> list[str]:
    url = str(tmp_path / storage) if storage.endswith(".log") else f"sqlite:///{tmp_path}/{storage}"
    return [*BASE, "--storage", url, "--reports", str(tmp_path / "reports")]


def fingerprint(tmp_path, storage: str) -> str:
    """The storage's content: a journal's bytes, an SQLite database's rows."""
    path = tmp_path / storage
    if storage.endswith(".log"):
        return hashlib.sha256(path.read_bytes()).hexdigest()
    with sqlite3.connect(path) as connection:
        return "\n".join(connection.iterdump())


@pytest.fixture(scope="module")
def finished_once(tmp_path_factory, data_dir):
    """The study run to its end once per storage (a folder holding the storage and the
    reports); the tests that start from a finished study work on copies of it."""
    folders = {}

    def folder(storage: str):
        if storage not in folders:
            place = tmp_path_factory.mktemp(storage.replace(".", "-"))
            assert main(options(place, storage)) == 0
            folders[storage] = place
        return folders[storage]

    return folder


def finished(tmp_path, finished_once, storage: str = "j.log"):
    """Puts a copy of the finished study, its storage and its reports, into `tmp_path`."""
    shutil.copytree(finished_once(storage), tmp_path, dirs_exist_ok=True)


@pytest.mark.parametrize("storage", ["j.log", "s.db"])
def test_report_only_with_other_flags_states_the_same_answer_and_writes_nothing_stored(
    tmp_path, capsys, finished_once, storage
):
    finished(tmp_path, finished_once, storage)
    summary = tmp_path / "reports" / NAME / "summary.md"
    before, stored = summary.read_bytes(), fingerprint(tmp_path, storage)
    other = ["--confirm-seeds", "1", "--confirm-top", "1", "--seed", "5", "--effects-seeds", "2"]
    done = cli([*options(tmp_path, storage), "--report-only", *other], capsys)
    assert done.code == 0, done.err
    assert "dashboard notes were left as they are" in done.out
    assert summary.read_bytes() == before
    assert fingerprint(tmp_path, storage) == stored


def test_a_rerun_over_other_seeds_is_refused_and_more_seeds_extend_the_recorded_plan(
    tmp_path, capsys, finished_once
):
    finished(tmp_path, finished_once)
    stored = fingerprint(tmp_path, "j.log")
    refused = cli([*options(tmp_path), "--seed", "5"], capsys)
    assert refused.code == 2
    assert "the recorded plan trains trial(s)" in refused.err
    assert "over seeds 1, 2" in refused.err and "--fresh" in refused.err
    assert fingerprint(tmp_path, "j.log") == stored
    extended = cli([*options(tmp_path), "--confirm-seeds", "3"], capsys)
    assert extended.code == 0, extended.err
    assert "extending the recorded plan to" in extended.out
    storage = open_for_reading(str(tmp_path / "j.log"))
    search = optuna.load_study(study_name=NAME, storage=storage)
    answer = confirm.answer(search, confirm.load_confirmation(storage, NAME))
    assert [c.seeds for c in answer.configurations] == [[1, 2, 3]] * 2


def test_fresh_deletes_every_stage_so_no_run_of_the_old_study_is_in_the_answer(
    tmp_path, capsys, finished_once
):
    finished(tmp_path, finished_once)
    again = [*options(tmp_path), "--fresh", "--subset", "2000"]
    done = cli(again, capsys)
    assert done.code == 0, done.err
    assert f"--fresh: deleted study '{NAME}-confirm'" in done.out
    storage = open_for_reading(str(tmp_path / "j.log"))
    search = optuna.load_study(study_name=NAME, storage=storage)
    assert search.user_attrs["subset"] == 2000
    confirmation = confirm.load_confirmation(storage, NAME)
    runs = confirmation.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(runs) == 4
    for run in runs:
        assert run.params == search.trials[run.user_attrs["source_trial"]].params
        assert run.user_attrs["train_config"]["seed"] == run.user_attrs["seed"]
    table = pd.read_csv(tmp_path / "reports" / NAME / "confirm.csv")
    assert len(table) == 4


def test_fresh_is_refused_while_another_process_works_on_the_study(tmp_path, data_dir, capsys):
    # Three hundred epochs: the first trial still trains when --fresh looks at the journal.
    arguments = [*options(tmp_path), "--trials", "50", "--epochs", "300"]
    first = start_worker(arguments, tmp_path / "first.log")
    try:
        wait_for(lambda: training_search_trial(tmp_path / "j.log"), 240, "a trial")
        refused = cli([*arguments, "--fresh"], capsys)  # In this process, the other apart.
        assert refused.code == 2
        assert "has 1 trial(s) running in another process" in refused.err
        assert "before --fresh deletes the study and its stages" in refused.err
        assert first.poll() is None
    finally:
        stop(first)


def training_search_trial(journal):
    """A search trial that has started training, or None."""
    try:
        study = optuna.load_study(study_name=NAME, storage=open_for_reading(str(journal)))
    except (KeyError, StorageError):  # No journal or no study yet.
        return None
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return next((trial for trial in running if "model_config" in trial.user_attrs), None)


def test_a_timeout_mid_search_exits_0_and_says_how_to_go_on(tmp_path, capsys, data_dir):
    done = cli([*options(tmp_path), "--trials", "40", "--timeout", "1"], capsys)
    assert done.code == 0, done.err
    last = [line for line in done.out.splitlines() if "--timeout 1 s reached" in line]
    # However loaded the machine, the search stops long before its 40 trials.
    assert len(last) == 1 and re.search(r"reached with \d of 40 search trials finished", last[0])
    assert done.out.splitlines()[-1] == last[0]  # The last line, after the report's.
    again = last[0].split("goes on with: ")[1]
    assert again.startswith("python -m studies.run") and "--timeout" not in again
    summary = (tmp_path / "reports" / NAME / "summary.md").read_text()
    assert "stopped: timeout" in summary and "without a --timeout" in summary


def test_workers_rerun_on_a_finished_study_train_its_effects(tmp_path, finished_once, capsys):
    finished(tmp_path, finished_once)
    # The parent in this process, its two workers apart.
    done = cli([*options(tmp_path), "--workers", "2", "--effects-seeds", "1"], capsys)
    assert done.code == 0, done.err
    assert "only 0" not in done.out
    table = pd.read_csv(tmp_path / "reports" / NAME / "effects.csv")
    complete = table[table["state"] == "COMPLETE"]
    # A seed neither the search nor the confirmation (seeds 0 to 2) used, every variant.
    assert set(complete["seed"]) == {3}
    assert complete["variant"].nunique() > 1


def confirmation_runs(journal) -> list[optuna.trial.FrozenTrial]:
    """The confirmation's runs in `journal`, checked to have trained exactly their plan:
    every complete run's configuration is its source trial's, and all four planned runs
    (2 candidates x 2 seeds) are complete."""
    stored = open_for_reading(str(journal))
    search = optuna.load_study(study_name=NAME, storage=stored)
    runs = confirm.load_confirmation(stored, NAME).get_trials()
    complete = [run for run in runs if run.state == optuna.trial.TrialState.COMPLETE]
    for run in complete:
        assert run.params == search.trials[run.user_attrs["source_trial"]].params, run.number
    assert len({(run.user_attrs["source_trial"], run.user_attrs["seed"]) for run in complete}) == 4
    return runs


def training_confirmation_run(journal):
    """A confirmation run that has started training, or None."""
    try:
        confirmation = confirm.load_confirmation(open_for_reading(str(journal)), NAME)
    except (KeyError, StorageError):  # No journal yet.
        return None
    runs = confirmation.get_trials() if confirmation is not None else []
    running = (run for run in runs if run.state == optuna.trial.TrialState.RUNNING)
    return next((run for run in running if "model_config" in run.user_attrs), None)


def test_a_confirmation_stopped_by_a_full_disk_trains_its_planned_runs_on_the_next_run(
    tmp_path, data_dir, capsys
):
    disk = tmp_path / "disk"
    with tmpfs(disk, "16m"):
        journal = disk / "j.log"
        arguments = [*BASE, "--storage", str(journal), "--reports", str(tmp_path / "reports")]
        arguments += ["--epochs", "4"]
        first = start_worker(arguments, tmp_path / "first.log")
        try:
            wait_for(lambda: training_confirmation_run(journal), 300, "a confirmation run", 0.2)
            filler = fill(disk)
            code = first.wait(timeout=300)
        finally:
            stop(first)
        said = (tmp_path / "first.log").read_text()
        assert code == 1 and "No space left on device" in said, said
        assert "Traceback" not in said, said
        filler.unlink()
        again = cli(arguments, capsys)  # The next run, in this process.
        assert again.code == 0 and "Traceback" not in again.err, again
        confirmation_runs(journal)


def test_a_worker_killed_in_the_confirmation_is_retried_as_its_planned_run(
    tmp_path, data_dir, capsys
):
    journal = tmp_path / "j.log"
    arguments = [*options(tmp_path), "--epochs", "6", "--workers", "2"]
    parent = start_worker(arguments, tmp_path / "parent.log")
    try:
        run = wait_for(lambda: training_confirmation_run(journal), 300, "a confirmation run", 0.2)
        os.kill(int(run.user_attrs["worker"].rpartition(":")[2]), signal.SIGKILL)
        code = parent.wait(timeout=300)
    finally:
        stop(parent)
    assert code == 1, (tmp_path / "parent.log").read_text()
    again = cli(arguments, capsys)  # The rerun's parent in this process.
    assert again.code == 0 and "Traceback" not in again.err, again
    runs = confirmation_runs(journal)
    (killed,) = [other for other in runs if other.number == run.number]
    assert killed.state == optuna.trial.TrialState.FAIL
    assert killed.user_attrs["fail_kind"] == "died"
    (retried,) = [other for other in runs if other.user_attrs.get("retry_of") == run.number]
    assert retried.params == killed.params | retried.params
