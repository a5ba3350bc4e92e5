"""Dead workers' trials on a journal file: found whatever their process managed to write."""

from __future__ import annotations

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from studies.engine import dead
from studies.engine import study as opening
from studies.errors import UsageError
from studies.settings import Settings


def journal(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "j.log")))
    return optuna.create_study(storage=storage, study_name="s"), storage


def test_a_running_trial_that_never_named_its_worker_is_found_dead(tmp_path, monkeypatch):
    study, storage = journal(tmp_path)
    study.ask()  # Its process's disk filled before it could write "worker".
    monkeypatch.setattr(dead, "UNCLAIMED_SECONDS", 0.0)
    assert dead.dead_trials(study, storage) == {0}
    said = []
    assert dead.reap(study, storage, said.append) == [0]
    assert study.trials[0].state == TrialState.FAIL
    assert "before naming itself" in study.trials[0].user_attrs["fail_reason"]


def test_a_trial_just_asked_is_not_taken_for_dead_before_its_worker_names_itself(tmp_path):
    study, storage = journal(tmp_path)
    study.ask()
    assert dead.dead_trials(study, storage) == set()


def test_fresh_is_not_refused_by_an_unnamed_trial_nobody_runs(tmp_path, monkeypatch):
    study, storage = journal(tmp_path)
    study.ask()
    monkeypatch.setattr(dead, "UNCLAIMED_SECONDS", 0.0)
    opening.check_continuation(Settings(study_name="s", fresh=True), storage)


def test_fresh_is_refused_while_a_named_live_worker_runs_a_trial(tmp_path):
    study, storage = journal(tmp_path)
    trial = study.ask()
    trial.set_user_attr("worker", f"{dead.os.uname().nodename}:{dead.os.getpid()}")
    with pytest.raises(UsageError, match="running in another process"):
        opening.check_continuation(Settings(study_name="s", fresh=True), storage)
