"""Each way a search saves epochs: the pruners and the patience inside a trial."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from studies import run
from studies.engine import runs as trial_steps
from studies.engine.pruning import make_pruner
from studies.settings import Settings

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


class AlwaysPrune:
    """A stand-in trial whose pruner wants every trial pruned."""

    def __init__(self):
        self.reported = []

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self):
        return True


@pytest.mark.parametrize(
    "losses",
    [
        {"loss": float("nan"), "train_loss": float("nan"), "val_loss": float("nan")},
        {"loss": 400.0, "train_loss": 715.0, "val_loss": 700.0},
    ],
    ids=["nan", "finite-blow-up"],
)
def test_a_diverged_epoch_is_left_to_fail_with_its_reason_rather_than_pruned(losses):
    trial = AlwaysPrune()
    callback = trial_steps._Prune(trial, "objective")
    callback.on_epoch_end(3, {**losses, "objective": 0.1})  # No TrialPruned raised.
    assert trial.reported == []
    with pytest.raises(optuna.TrialPruned):
        callback.on_epoch_end(
            3, {"loss": 0.5, "train_loss": 0.4, "val_loss": 0.5, "objective": 0.1}
        )
