"""Planned runs: what is left of a stage is read from its companion study alone.

Each test builds the companion study in memory, trial by trial, in the states a stage leaves
behind (complete, running elsewhere, queued, failed, diverged), and asks what comes next.
"""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from studies.engine.planned import (
    MAX_RUN_FAILURES,
    PlannedRun,
    complete_runs,
    next_step,
    run_of,
    standing,
)
from studies.engine.plans import fresh_seeds
from studies.settings import Settings

PLAN = [PlannedRun(source=3, seed=1), PlannedRun(source=3, seed=2), PlannedRun(source=5, seed=1)]


@pytest.fixture
def companion():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction="maximize")


def add(study, run: PlannedRun | None, state=TrialState.COMPLETE, **attrs) -> None:
    """A trial of `run` in `state`, with `attrs` as further user attributes."""
    named = {} if run is None else run.attrs()
    value = 0.85 if state == TrialState.COMPLETE else None
    study.add_trial(create_trial(state=state, value=value, user_attrs={**named, **attrs}))


def test_the_plan_is_trained_in_order_until_every_run_is_done(companion):
    assert next_step(companion, PLAN) == PLAN[0]
    add(companion, PLAN[0])
    assert next_step(companion, PLAN) == PLAN[1]
    add(companion, PLAN[1])
    add(companion, PLAN[2])
    assert next_step(companion, PLAN) is None


def test_a_run_training_elsewhere_is_skipped_and_waited_for_once_nothing_else_is_open(companion):
    add(companion, PLAN[0], TrialState.RUNNING)
    assert next_step(companion, PLAN) == PLAN[1]
    add(companion, PLAN[1], TrialState.RUNNING)
    add(companion, PLAN[2])
    assert next_step(companion, PLAN) == "wait"
    assert standing(companion, PLAN).running == {PLAN[0], PLAN[1]}


def test_a_queued_retry_of_an_open_run_is_taken_before_a_new_run_is_queued(companion):
    add(companion, PLAN[0])
    add(companion, PLAN[2], TrialState.WAITING)
    assert next_step(companion, PLAN) == "queued"
    assert standing(companion, PLAN).queued == {PLAN[2]}


def test_a_run_is_given_up_after_the_cap_of_failures_and_a_diverged_one_at_once(companion):
    for _ in range(MAX_RUN_FAILURES - 1):
        add(companion, PLAN[0], TrialState.FAIL, fail_reason="out of memory")
    assert standing(companion, PLAN).open_runs == PLAN  # Under the cap: retried.
    add(companion, PLAN[0], TrialState.FAIL, fail_reason="out of memory")
    add(companion, PLAN[1], TrialState.FAIL, fail_reason="diverged: loss is nan")
    add(companion, PLAN[2], TrialState.PRUNED)
    assert standing(companion, PLAN).open_runs == [PLAN[2]]  # Pruned once: retried.
    add(companion, PLAN[2], TrialState.FAIL, diverged=True)
    assert next_step(companion, PLAN) is None


@pytest.mark.parametrize(
    "reason",
    [
        "duplicate of trial 0",
        "interrupted (SIGINT or SIGTERM)",
        "mismatch: trial 4 does not train the plan's run",
    ],
)
def test_a_run_that_stepped_aside_is_never_counted_as_a_failure(companion, reason):
    for _ in range(3):
        add(companion, PLAN[0], TrialState.FAIL, fail_reason=reason)
    assert standing(companion, PLAN).open_runs == PLAN


def test_fresh_seeds_skip_the_study_seed_every_searched_seed_and_an_earlier_stages(companion):
    for seed in (1, 3):
        add(companion, None, train_config={"seed": seed})
    settings = Settings(seed=0)
    assert fresh_seeds(companion, settings, 3) == [2, 4, 5]
    # A later stage skips the seeds an earlier one took: none is ever shared.
    assert fresh_seeds(companion, settings, 2, taken=(2, 4, 5)) == [6, 7]


def test_complete_runs_keep_one_trial_per_run_with_every_measure_finite(companion):
    add(companion, PLAN[0], objective=0.8, gap=0.01)
    add(companion, PLAN[0], objective=0.7, gap=0.02)  # A second completion of the same run.
    add(companion, PLAN[1], objective=math.nan, gap=0.01)  # An edited storage.
    add(companion, PLAN[2], objective=0.9)  # The gap is missing.
    add(companion, None, objective=0.9, gap=0.0)  # A trial that names no run.
    add(companion, PLAN[2], TrialState.FAIL, objective=0.9, gap=0.0)
    found = complete_runs(companion, ["objective", "gap"])
    assert [(run, trial.user_attrs["objective"]) for run, trial in found] == [(PLAN[0], 0.8)]


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"source_trial": 3, "seed": 2}, PlannedRun(3, 2)),
        (
            {"source_trial": 3, "seed": 2, "variant": "dropout_rate=0"},
            PlannedRun(3, 2, "dropout_rate=0"),
        ),
        ({"source_trial": "three", "seed": 2}, None),
        ({"seed": 2}, None),
    ],
    ids=["confirmation", "effects", "edited", "missing"],
)
def test_a_trial_names_its_run_or_none_when_its_attributes_are_not_a_run(attrs, expected):
    trial = create_trial(state=TrialState.COMPLETE, value=0.8, user_attrs=attrs)
    assert run_of(trial) == expected
