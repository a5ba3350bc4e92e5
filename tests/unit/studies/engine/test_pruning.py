"""Each way a search saves epochs: the pruners and the patience inside a trial."""

from __future__ import annotations

import types

import optuna
import pytest
from optuna.trial import TrialState

from kerasnn import ModelConfig
from studies import run
from studies.cli.settings import Settings
from studies.engine.pruning import make_pruner
from studies.storage import open_storage

EPOCHS = 6


def _study(pruner: optuna.pruners.BasePruner, values=(0.87, 0.86, 0.85, 0.84, 0.80, 0.70)):
    """A study whose trials held `values` at every epoch and completed, judged as they went
    (successive halving records the rungs a trial passed only when it is asked)."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for value in values:
        trial = study.ask()
        for step in range(EPOCHS):
            trial.report(value, step)
            trial.should_prune()
        study.tell(trial, value)
    return study


def _pruned(study, curve: dict[int, float]) -> int | None:
    """The step at which a trial reporting `curve` is pruned, or None."""
    trial = study.ask()
    try:
        for step, value in sorted(curve.items()):
            trial.report(value, step)
            if trial.should_prune():
                return step
        return None
    finally:
        study.tell(trial, state=TrialState.FAIL)


def test_successive_halving_judges_at_its_rungs_and_keeps_the_top_third():
    study = _study(make_pruner(Settings(pruner="sha", epochs=EPOCHS)))
    assert _pruned(study, {0: 0.5, 1: 0.5, 2: 0.5}) == 2  # First rung: step 2.
    assert _pruned(study, {0: 0.99, 1: 0.99, 2: 0.99}) is None


def test_early_discarding_judges_once_and_keeps_the_given_fraction():
    study = _study(make_pruner(Settings(pruner="discard", warmup=1, keep=0.5, epochs=EPOCHS)))
    assert _pruned(study, {0: 0.1, 1: 0.84, 2: 0.1, 3: 0.1}) == 1  # Bottom half at step 1.
    # Judged at step 1 only: a trial that survives it is never pruned afterwards.
    assert _pruned(study, {0: 0.1, 1: 0.86, 2: 0.1, 3: 0.1, 4: 0.1, 5: 0.1}) is None


def test_a_later_warm_up_leaves_the_first_epochs_alone():
    study = _study(make_pruner(Settings(pruner="median", warmup=4, epochs=EPOCHS)))
    assert _pruned(study, {step: 0.1 for step in range(EPOCHS)}) == 4


def test_the_patient_pruner_waits_while_a_trial_still_improves():
    study = _study(make_pruner(Settings(pruner="median", pruner_patience=2, epochs=EPOCHS)))
    rising = {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.4, 4: 0.5, 5: 0.6}
    assert _pruned(study, rising) is None  # Below the median throughout, but improving.
    # Optuna's PatientPruner lets a flat trial be; it passes on one whose best of the last
    # patience + 1 epochs is below its best before them.
    assert _pruned(study, {0: 0.3, 1: 0.3, 2: 0.3, 3: 0.3, 4: 0.3}) is None
    assert _pruned(study, {0: 0.5, 1: 0.4, 2: 0.3, 3: 0.3, 4: 0.3}) == 3


def test_hyperband_brackets_start_at_the_warm_up():
    pruner = make_pruner(Settings(pruner="hyperband", warmup=3, epochs=EPOCHS))
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert pruner._min_resource == 3 and pruner._max_resource == EPOCHS


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--warmup", "20"], "--warmup 20 leaves nothing to prune"),
        (["--keep", "1"], "between 0 and 1"),
    ],
)
def test_pruning_options_out_of_range_are_usage_errors(options, message, capsys):
    try:
        code = run.main(["--epochs", "20", *options])
    except SystemExit as exit:  # argparse's own check of the value's type.
        code = exit.code
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


# A tiny study run through the command line, as a user runs it.

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
    study = run_tiny(monkeypatch, tmp_path, "--pruner", "sha", "--pruner-patience", "1")
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
