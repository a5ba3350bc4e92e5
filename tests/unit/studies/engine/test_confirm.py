"""The confirmation's next step, read from its companion study in memory: a run that keeps
failing or diverged is given up, a queued retry is run."""

from __future__ import annotations

import optuna

from studies.engine import planned


def test_a_run_that_keeps_failing_is_given_up_rather_than_retried_forever():
    confirmation = optuna.create_study(direction="maximize")
    plan = [planned.PlannedRun(source=0, seed=1), planned.PlannedRun(source=0, seed=2)]
    for state in (optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED):
        confirmation.add_trial(
            optuna.trial.create_trial(
                state=state, user_attrs={"source_trial": 0, "seed": 1, "fail_reason": "diverged"}
            )
        )
    assert planned.next_step(confirmation, plan) == planned.PlannedRun(0, 2)
    confirmation.add_trial(
        optuna.trial.create_trial(value=0.9, user_attrs={"source_trial": 0, "seed": 2})
    )
    assert planned.next_step(confirmation, plan) is None


def test_a_queued_retry_of_a_planned_run_is_run_not_waited_for():
    # A dead worker's run queued again (by Optuna's heartbeat retry or the journal's clean-up)
    # is WAITING: the next worker runs it instead of waiting for someone else to.
    confirmation = optuna.create_study(direction="maximize")
    plan = [planned.PlannedRun(source=0, seed=1)]
    confirmation.enqueue_trial({}, user_attrs={"source_trial": 0, "seed": 1, "retry_of": 0})
    assert planned.next_step(confirmation, plan) == "queued"


def test_a_diverged_run_is_given_up_at_once_since_its_seed_would_diverge_again():
    confirmation = optuna.create_study(direction="maximize")
    plan = [planned.PlannedRun(source=0, seed=1)]
    confirmation.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL,
            user_attrs={"source_trial": 0, "seed": 1, "diverged": True},
        )
    )
    assert planned.next_step(confirmation, plan) is None
