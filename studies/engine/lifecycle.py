"""The one trial lifecycle: ask (queued trials first), prepare, train, tell.

Every trial of every stage (a search trial, a confirmation or effects run) goes through
`train_trials`, whether it trains alone (K = 1, the ordinary case) or as one of a
population of K (`--population K`, the JAX backend). This is the one place that writes a
trial's worker, keeps its heartbeat, stores why it failed and tells Optuna how it ended.
"""

from __future__ import annotations

import contextlib
import gc
import os
import warnings
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from studies.engine import failures, threads
from studies.engine.runs import Job, Outcome, alone, execute_together, program_shapes
from studies.engine.stage import Stage


def worker_id() -> str:
    """host:pid, stored on each trial so that a dead worker's trials can be found."""
    return f"{os.uname().nodename}:{os.getpid()}"


def together(stage: Stage, left: int | None = None) -> int:
    """How many trials train together: K (`--population`), at most the `left` still to
    run where that is known, and at least one."""
    size = stage.settings.population or 1
    return max(1, size if left is None else min(size, left))


def train_trials(
    study: optuna.Study,
    stage: Stage,
    prepare: Callable[[optuna.Trial], Job],
    size: int,
    queued_only: bool = False,
) -> list[optuna.trial.FrozenTrial]:
    """Asks `size` trials of `study` (the stage's search, or its companion) (queued ones
    first; with `queued_only` queued ones alone, so fewer or none when other workers took
    them), turns each into a Job with `prepare(trial)`, trains the jobs (alone at K = 1,
    else as one population, of the study's program shapes: see runs.program_shapes) and
    tells Optuna how each ended; returns the trials, finished.

    A trial that steps aside in `prepare` (a surplus, a repeat, a planned run whose stored
    configuration is not its plan's) ends FAIL with its kind, untrained, as does a diverged
    run or one that raised an unexpected error (counted as a failure of its own); a failure
    of the machine (an OSError) or a stop signal fails every trial not yet told and is raised.
    """
    asked = (_ask(study, queued_only) for _ in range(size))
    trials = [trial for trial in asked if trial is not None]
    finished: dict[int, optuna.trial.FrozenTrial] = {}
    try:
        with _heartbeats(trials, stage.storage):
            for trial in trials:
                # First of all, so that a worker killed at any later moment can be recognised
                # (a trial unnamed for long is taken for a dead worker's: see engine.dead).
                trial.set_user_attr("worker", worker_id())
                trial.set_user_attr("population", len(trials))
                trial.set_user_attr("threads", threads.configured())  # Its last digits.
            jobs = _prepare(study, trials, prepare, finished)
            ready = [trial for trial in trials if trial.number in jobs]
            outcomes = _train([jobs[trial.number] for trial in ready], ready, stage)
            for trial, outcome in zip(ready, outcomes, strict=True):
                finished[trial.number] = _tell(study, trial, outcome.values, outcome.state)
    except BaseException as error:
        kind, reason = failures.of_error(error)
        for trial in trials:
            if trial.number not in finished:
                if "fail_kind" not in trial.user_attrs:
                    failures.mark(trial, kind, reason)
                _tell(study, trial, None, TrialState.FAIL)
        raise
    collect_garbage()
    return [finished[trial.number] for trial in trials]


def collect_garbage() -> None:
    """What study.optimize(gc_after_trial=True) does, a trial's graphs freed now; then what
    survived (the storage's cache of finished trials grows with the study) kept out of the
    next collections' sight, as `pipeline.startup_objects_frozen` keeps the frameworks', so
    that a collection walks one trial's objects, not the whole study's."""
    gc.collect()
    if gc.get_freeze_count():  # Inside pipeline.startup_objects_frozen, which undoes it.
        gc.freeze()


def _prepare(study, trials: list, prepare, finished: dict) -> dict[int, Job]:
    """Each trial's job by number; a trial that steps aside, or whose preparing raised an
    error of its own (see failures.of_the_run), is told FAIL into `finished` instead."""
    jobs = {}
    for trial in trials:
        try:
            jobs[trial.number] = prepare(trial)
        except Exception as error:
            if not failures.of_the_run(error):
                raise
            failures.mark(trial, *failures.of_error(error))
            finished[trial.number] = _tell(study, trial, None, TrialState.FAIL)
    return jobs


def _ask(study: optuna.Study, queued_only: bool = False) -> optuna.Trial | None:
    """`study.ask`, without Optuna's warning that heartbeats are meant for `study.optimize`:
    this lifecycle keeps each trial's heartbeat itself (`_heartbeats`).

    `queued_only`: a queued trial, or None when none is left. `study.ask` would make a fresh
    trial when another worker took the last queued one first; a planned stage's fresh
    trial names no run and could only step aside, a spurious FAIL row. Only Optuna's private
    `Study._pop_waiting_trial_id` claims a queued trial alone (watch it on upgrades).
    """
    if queued_only:
        trial_id = study._pop_waiting_trial_id()
        return None if trial_id is None else optuna.Trial(study, trial_id)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        return study.ask()


def _tell(study: optuna.Study, trial, values, state) -> optuna.trial.FrozenTrial:
    """`study.tell`, which stores the trial before its sampler's `after_trial`: a grid that
    has run out of points then calls `study.stop()`, which outside `study.optimize` raises.
    The grid's end is the search's end anyway (its target is the grid's size)."""
    try:
        return study.tell(trial, values, state=state)
    except RuntimeError as error:
        if "Study.stop" not in str(error):
            raise
        return study.get_trials(deepcopy=False)[trial.number]


def _train(jobs: list[Job], trials: list, stage: Stage) -> list[Outcome]:
    artifact_dir = stage.settings.artifact_dir
    shapes = program_shapes(stage.module, together(stage))
    if len(jobs) == 1 and shapes is None:
        return [alone(trials[0], jobs[0], stage.dataset, artifact_dir)]
    if not jobs:
        return []
    return execute_together(trials, jobs, stage.dataset, artifact_dir, shapes)


@contextlib.contextmanager
def _heartbeats(trials, storage):
    """Each trial's heartbeat while it trains, as `study.optimize` sends one, so a killed
    worker's trials are found dead. Optuna offers this only through its private heartbeat
    module (watch optuna.storages._heartbeat on upgrades)."""
    from optuna.storages._heartbeat import get_heartbeat_thread, is_heartbeat_enabled

    with contextlib.ExitStack() as stack:
        if is_heartbeat_enabled(storage):
            for trial in trials:
                stack.enter_context(get_heartbeat_thread(trial._trial_id, storage))
        yield
