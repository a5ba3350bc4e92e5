"""The search loop's rules on synthetic studies: surplus and repeated trials step aside, and
failures in a row stop it."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from studies.engine import search
from studies.engine.failures import DuplicateTrial, SurplusTrial
from studies.engine.study import StudyFailing


def study_with(*states) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    for number, state in enumerate(states):
        study.add_trial(
            create_trial(
                state=state,
                value=0.5 if state == TrialState.COMPLETE else None,
                params={"x": number / 10},
                distributions={"x": FloatDistribution(0, 1)},
            )
        )
    return study


def test_a_trial_beyond_the_target_that_others_make_up_steps_aside_as_surplus():
    study = study_with(TrialState.COMPLETE, TrialState.COMPLETE)
    with pytest.raises(SurplusTrial, match="beyond the target of 2"):
        search.refuse_surplus(study.ask(), 2)
    search.refuse_surplus(study.ask(), 5)  # Below the target: it runs.


def test_a_trial_numbered_below_the_target_is_let_through_without_reading_the_study(monkeypatch):
    # Only lower-numbered trials can be ahead of it: a study of thousands pays no pass over
    # its trials for the check.
    study = study_with(TrialState.COMPLETE, TrialState.COMPLETE)
    trial = study.ask()
    reads = []
    monkeypatch.setattr(study, "get_trials", lambda *a, **k: reads.append(1) or [])
    search.refuse_surplus(trial, 3)
    assert reads == []


def test_a_configuration_the_study_already_trained_is_refused_as_a_duplicate():
    study = study_with(TrialState.COMPLETE)
    study.enqueue_trial({"x": 0.0})
    queued = study.ask()
    queued.suggest_float("x", 0, 1)
    with pytest.raises(DuplicateTrial, match="duplicate of trial 0"):
        search.refuse_duplicate(queued)
    fresh = study.ask()
    fresh.suggest_float("x", 0.5, 1)
    search.refuse_duplicate(fresh)  # A configuration of its own: it runs.


def test_failures_in_a_row_stop_the_search_at_the_limit_and_steps_aside_do_not_count():
    study = study_with()
    failed = create_trial(state=TrialState.FAIL, user_attrs={"fail_kind": "error"})
    aside = create_trial(state=TrialState.FAIL, user_attrs={"fail_kind": "surplus"})
    assert search._count_failure(study, failed, 0, 3) == 1
    assert search._count_failure(study, aside, 1, 3) == 1
    with pytest.raises(StudyFailing, match="3 trials failed in a row"):
        search._count_failure(study, failed, 2, 3)
