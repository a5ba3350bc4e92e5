"""The one run path: how a run trained alone ends when its training raises."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from kerasnn import ModelConfig, TrainConfig
from studies.engine import runs, stopping


def test_an_unexpected_error_while_training_fails_the_run_with_its_reason(monkeypatch, tmp_path):
    def broken(trial, job, dataset):
        raise RuntimeError("an op the backend lacks")

    monkeypatch.setattr(runs, "train_job", broken)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    trial = optuna.create_study().ask()
    outcome = runs.alone(trial, runs.Job(ModelConfig(), TrainConfig()), None, tmp_path)
    assert outcome.state == TrialState.FAIL
    assert trial.user_attrs["fail_kind"] == "error"
    assert "an op the backend lacks" in trial.user_attrs["fail_reason"]


def test_a_full_disk_while_training_is_raised_not_counted_as_the_runs(monkeypatch, tmp_path):
    def full(trial, job, dataset):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "train_job", full)
    trial = optuna.create_study().ask()
    with pytest.raises(OSError):
        runs.alone(trial, runs.Job(ModelConfig(), TrainConfig()), None, tmp_path)


def test_a_population_stops_at_its_next_epoch_after_a_dropped_stop_signal(monkeypatch):
    # The signal's own KeyboardInterrupt was dropped (it landed in a garbage collection's
    # callback); what it recorded still stops the population when a member ends an epoch.
    monkeypatch.setattr(stopping, "_stopped", "SIGTERM")
    trial = optuna.create_study().ask()
    judge = runs._Judge([trial], [runs.Job(ModelConfig(), TrainConfig())])
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        judge(0, 0, {"val_accuracy": 0.5, "train_accuracy": 0.5, "loss": 1.0})
    assert "epochs" not in trial.user_attrs  # Nothing of the stopped epoch was recorded.
