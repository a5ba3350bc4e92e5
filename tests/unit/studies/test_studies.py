"""The pruners a study is made with, judged on hand-made trials: when each first prunes, and
against what (the end-to-end runs are in tests/scenarios/studies/test_studies.py)."""

from __future__ import annotations

import optuna

from studies.engine.pruning import make_pruner
from studies.settings import Settings


def _pruned_at(study, step, value) -> bool:
    trial = study.ask()
    trial.report(value, step)
    pruned = trial.should_prune()
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return pruned


def _study_with_six_completed_trials(pruner: str) -> optuna.Study:
    study = optuna.create_study(direction="maximize", pruner=make_pruner(Settings(pruner=pruner)))
    for value in (0.70, 0.80, 0.84, 0.85, 0.86, 0.87):
        study.add_trial(
            optuna.trial.create_trial(
                value=value, intermediate_values={0: value, 1: value, 2: value}
            )
        )
    return study


def test_the_median_pruner_judges_from_the_third_epoch_against_the_median():
    study = _study_with_six_completed_trials("median")
    assert not _pruned_at(study, 1, 0.50)  # The first two epochs are never judged.
    assert _pruned_at(study, 2, 0.84)  # Below the median (0.845).
    assert not _pruned_at(study, 2, 0.85)


def test_percentile_pruner_keeps_only_trials_near_the_best_from_the_second_epoch():
    study = _study_with_six_completed_trials("percentile")
    assert not _pruned_at(study, 0, 0.50)  # The first epoch is never judged.
    assert _pruned_at(study, 1, 0.85)  # Above the median, but not in the top tenth.
    assert not _pruned_at(study, 1, 0.869)
