"""Each way a search saves epochs: the pruners and the patience inside a trial."""

from __future__ import annotations

import types

import optuna
import pytest
from optuna.trial import TrialState

from kerasnn import ModelConfig
from studies import run
from studies.storage import open_storage

EPOCHS = 6
DIVERGES = 7  # The trial that uses SGD at a runaway learning rate.


def study_module(slow_from: int = 5):
    """Trials 0..slow_from-1 learn; later ones alternate between hardly learning and learning;
    trial DIVERGES blows up in its first epoch."""

    def suggest(trial, train_config):
        units = trial.suggest_int("hidden_units", 16, 64, log=True)
        if trial.number == DIVERGES:
            # A parameter of its own, so it is never refused as a repeat of an earlier trial.
            rate = trial.suggest_float("runaway_learning_rate", 1e8, 1e8)
            model = ModelConfig(hidden_units=units, optimizer="sgd", learning_rate=rate)
            return model, train_config
        slow = trial.number >= slow_from and trial.number % 2 == 0
        model = ModelConfig(hidden_units=units, learning_rate=1e-6 if slow else 1e-2)
        return model, train_config

    return types.SimpleNamespace(__doc__="test study", QUESTION="Does it prune?", suggest=suggest)


def run_tiny(monkeypatch, tmp_path, *options, trials=12, epochs=EPOCHS, subset=1000):
    monkeypatch.setitem(run.STUDIES, "tiny", study_module())
    storage = f"sqlite:///{tmp_path / 'tiny.db'}"
    code = run.main(
        ["tiny", "--dataset", "mnist", "--subset", str(subset), "--epochs", str(epochs)]
        + ["--trials", str(trials), "--storage", storage, "--study-name", "tiny"]
        + ["--reports", str(tmp_path), "--confirm-top", "0", "--no-report", *options]
    )
    assert code == 0
    return optuna.load_study(study_name="tiny", storage=open_storage(storage))


def _diverged_trial_failed(study) -> bool:
    diverged = study.trials[DIVERGES]
    return diverged.state == TrialState.FAIL and "diverged" in diverged.user_attrs["fail_reason"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        ["--pruner", "sha"],
        ["--pruner", "discard", "--keep", "0.5"],
        ["--pruner", "hyperband", "--sampler", "random"],
    ],
    ids=["sha", "discard", "hyperband"],
)
def test_each_pruner_prunes_slow_trials_and_fails_a_diverged_one(monkeypatch, tmp_path, options):
    study = run_tiny(monkeypatch, tmp_path, *options)
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned, "no trial was pruned"
    assert sum(t.user_attrs["epochs"] for t in pruned) < len(pruned) * EPOCHS  # Epochs saved.
    assert _diverged_trial_failed(study)
    assert study.user_attrs["stopped"] == "target reached"


@pytest.mark.slow
def test_the_patient_pruner_leaves_a_diverged_trial_to_fail(monkeypatch, tmp_path):
    # Whether it prunes a slow trial hangs on the last digits of nearly flat curves (it
    # prunes only falling ones); when it does is tested above on exact curves.
    # Only the diverging trial is judged here, so the study ends with it.
    options = ["--pruner", "sha", "--pruner-patience", "1"]
    study = run_tiny(monkeypatch, tmp_path, *options, trials=DIVERGES + 1)
    assert _diverged_trial_failed(study)
    assert study.user_attrs["stopped"] == "target reached"


@pytest.mark.slow
def test_patience_ends_a_trial_once_validation_accuracy_stops_improving(monkeypatch, tmp_path):
    study = run_tiny(
        monkeypatch, tmp_path, "--pruner", "none", "--early-stopping-patience", "1", trials=9
    )
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    for trial in complete:
        assert trial.user_attrs["train_config"]["early_stopping_patience"] == 1
        epochs, best = trial.user_attrs["epochs"], trial.user_attrs["best_epoch"]
        # To the end, or exactly one epoch past its best: never a wasted epoch more.
        assert epochs == EPOCHS or epochs == best + 1
    # The slow trials (learning rate 1e-6) hardly move and stop early.
    assert any(t.user_attrs["epochs"] < EPOCHS for t in complete)
    assert _diverged_trial_failed(study)  # Not PRUNED, not COMPLETE.
