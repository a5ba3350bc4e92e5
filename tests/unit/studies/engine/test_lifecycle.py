"""The one trial lifecycle, with training stood in for: which trials it asks, how each ends."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from studies.engine import lifecycle
from studies.engine.failures import DuplicateTrial
from studies.engine.runs import Outcome
from studies.engine.stage import Stage
from studies.settings import Settings


@pytest.fixture
def trained(monkeypatch):
    """Every job trains to an objective of 0.5, without Keras."""
    monkeypatch.setattr(
        lifecycle,
        "_train",
        lambda jobs, *rest: [Outcome(TrialState.COMPLETE, 0.5) for _ in jobs],
    )


def stage_of(study, tmp_path) -> Stage:
    """A stage one run at a time, its reports (and artifacts) under `tmp_path`."""
    return Stage(study, None, Settings(reports=str(tmp_path), population=1), None, None, None)


def quiet_study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(direction="maximize")


def test_queued_only_trains_the_queued_trials_and_makes_no_fresh_one(trained, tmp_path):
    study = quiet_study()
    study.enqueue_trial({}, user_attrs={"source_trial": 0, "seed": 1})
    finished = lifecycle.train_trials(
        study, stage_of(study, tmp_path), lambda trial: object(), 3, queued_only=True
    )
    assert [trial.state for trial in finished] == [TrialState.COMPLETE]
    assert len(study.trials) == 1


def test_queued_only_with_an_empty_queue_asks_nothing(trained, tmp_path):
    study = quiet_study()
    finished = lifecycle.train_trials(
        study, stage_of(study, tmp_path), lambda trial: object(), 2, queued_only=True
    )
    assert finished == [] and study.trials == []


def test_a_trial_that_steps_aside_ends_fail_with_its_kind(trained, tmp_path):
    def prepare(trial):
        raise DuplicateTrial("duplicate of trial 0")

    study = quiet_study()
    [trial] = lifecycle.train_trials(study, stage_of(study, tmp_path), prepare, 1)
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_kind"] == "duplicate"


def test_an_unexpected_error_in_a_trial_fails_that_trial_alone(trained, tmp_path):
    def prepare(trial):
        raise ValueError("a study module's bad suggestion")

    study = quiet_study()
    [trial] = lifecycle.train_trials(study, stage_of(study, tmp_path), prepare, 1)
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_kind"] == "error"
    assert "bad suggestion" in trial.user_attrs["fail_reason"]


def test_a_failure_of_the_machine_fails_the_trial_and_is_raised(trained, tmp_path):
    def prepare(trial):
        raise OSError(28, "No space left on device", "j.log")

    study = quiet_study()
    with pytest.raises(OSError):
        lifecycle.train_trials(study, stage_of(study, tmp_path), prepare, 1)
    [trial] = study.trials
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_kind"] == "environment"
