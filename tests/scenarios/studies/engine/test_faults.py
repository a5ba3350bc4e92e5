"""Faults inside a study: diverging trials, a run of failures, a study where nothing completed."""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import time
import types

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from kerasnn import ModelConfig, TrainConfig
from studies import run
from studies.engine import runs, stopping
from studies.storage import open_storage

pytestmark = pytest.mark.slow

# SGD with these learning rates blows up on MNIST in its first epoch: 1e3 to a training
# cross-entropy in the hundreds (finite), 1e8 to NaN.
FINITE_BLOW_UP = 1e3
NAN_BLOW_UP = 1e8


def study_module(diverges):
    """A study whose trial number n uses SGD at a runaway learning rate when diverges(n)."""

    def suggest(trial, train_config):
        units = trial.suggest_int("hidden_units", 16, 64, log=True)
        learning_rate = diverges(trial.number)
        if learning_rate:
            return ModelConfig(hidden_units=units, optimizer="sgd", learning_rate=learning_rate), (
                train_config
            )
        return ModelConfig(hidden_units=units), train_config

    return types.SimpleNamespace(__doc__="test study", QUESTION="Does it diverge?", suggest=suggest)


def run_study(monkeypatch, tmp_path, module, *options):
    monkeypatch.setitem(run.STUDIES, "faulty", module)
    storage = f"sqlite:///{tmp_path / 'faults.db'}"
    code = run.main(
        ["faulty", "--dataset", "mnist", "--subset", "1000", "--epochs", "2", "--pruner", "none"]
        + ["--storage", storage, "--study-name", "faulty", "--reports", str(tmp_path)]
        + ["--confirm-top", "0", *options]
    )
    study = optuna.load_study(study_name="faulty", storage=open_storage(storage))
    return code, study


@pytest.mark.parametrize(
    ("learning_rate", "reason"),
    [(NAN_BLOW_UP, "non-finite loss"), (FINITE_BLOW_UP, "exceeds")],
    ids=["nan", "finite-blow-up"],
)
def test_a_diverging_trial_fails_with_its_reason_and_the_study_goes_on(
    learning_rate, reason, monkeypatch, tmp_path, data_dir, capsys
):
    module = study_module(lambda number: learning_rate if number == 0 else None)
    code, study = run_study(monkeypatch, tmp_path, module, "--trials", "2")

    assert code == 0
    states = [trial.state for trial in study.trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]
    assert reason in study.trials[0].user_attrs["fail_reason"]
    assert "diverged" in study.trials[0].user_attrs["fail_reason"]
    table = pd.read_csv(tmp_path / "faulty" / "trials.csv")
    failed = table[table["number"] == 0].iloc[0]
    assert failed["state"] == "FAIL" and pd.isna(failed["rank"])
    assert reason in failed["fail_reason"]
    assert list(table["rank"].dropna()) == [1, 2]
    assert "trial   0 FAIL" in capsys.readouterr().out


def test_consecutive_failures_stop_the_study_and_its_report_says_every_trial_failed(
    monkeypatch, tmp_path, data_dir, capsys
):
    module = study_module(lambda number: NAN_BLOW_UP)
    code, study = run_study(monkeypatch, tmp_path, module, "--trials", "5", "--max-failures", "2")

    assert code == 1
    assert "2 trials failed in a row" in capsys.readouterr().out
    assert [trial.state for trial in study.trials] == [TrialState.FAIL] * 2
    summary = (tmp_path / "faulty" / "summary.md").read_text()
    assert "Every trial failed (2 of 2)" in summary
    assert "non-finite loss" in summary
    assert "no best configuration" in summary
    table = pd.read_csv(tmp_path / "faulty" / "trials.csv")
    assert list(table["state"]) == ["FAIL", "FAIL"]
    assert table["rank"].isna().all()
    for plot in ("history.png", "curves.png", "weights.png"):
        assert (tmp_path / "faulty" / plot).stat().st_size > 0


def test_a_stop_signal_dropped_in_a_garbage_collection_stops_the_run_at_its_epochs_end(
    fashion, monkeypatch
):
    # Python drops an exception raised in a garbage collection's callback (JAX keeps one
    # there), so a SIGTERM handled there raises nothing: the run must still stop, at the end
    # of the epoch it is in, not after its thousand epochs.
    data = dataclasses.replace(
        fashion,
        **{f"x_{part}": getattr(fashion, f"x_{part}")[:500] for part in ("train", "validation")},
        **{f"y_{part}": getattr(fashion, f"y_{part}")[:500] for part in ("train", "validation")},
    )
    job = runs.Job(ModelConfig(hidden_units=8), TrainConfig(epochs=1000, batch_size=250))
    trial = optuna.create_study().ask()

    def signal_in_collection(phase, info):
        if phase == "start" and "train_config" in trial.user_attrs:
            gc.callbacks.remove(signal_in_collection)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # The handler runs here, and its KeyboardInterrupt is dropped.

    monkeypatch.setattr(stopping, "_stopped", None)
    threshold = gc.get_threshold()
    gc.set_threshold(50)  # A collection comes within the first epoch.
    gc.callbacks.append(signal_in_collection)
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            with stopping.stopping_on_signals():
                runs.train_job(trial, job, data)
        assert signal_in_collection not in gc.callbacks  # The signal came in a collection.
    finally:
        gc.set_threshold(*threshold)
        if signal_in_collection in gc.callbacks:
            gc.callbacks.remove(signal_in_collection)
        monkeypatch.setattr(stopping, "_stopped", None)
