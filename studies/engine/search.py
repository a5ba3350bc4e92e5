"""The search: trials drawn by the sampler, trained one after another until a stop."""

from __future__ import annotations

import time
from collections import Counter

import optuna
from optuna.trial import TrialState

from kerasnn import TrainConfig
from studies.engine import dead, failures
from studies.engine.failures import DuplicateTrial, SurplusTrial
from studies.engine.lifecycle import together, train_trials
from studies.engine.runs import Job
from studies.engine.stage import Stage
from studies.engine.stopping import raise_if_stopped
from studies.engine.study import FINISHED, PENDING, StudyFailing, code_version


class SearchObjective:
    """Turns a search trial into its job: suggest, refuse a surplus or a repeat."""

    def __init__(self, stage: Stage):
        settings = self.settings = stage.settings
        self.module, self.dataset = stage.module, stage.dataset
        self.code_version = code_version()
        # --early-stopping-patience stops a trial once its validation accuracy, which picks
        # the epoch the objective is scored at, has not improved for that many epochs: a
        # later epoch could change the trial's score only by beating it.
        self.base = TrainConfig(
            epochs=settings.epochs,
            seed=settings.seed,
            early_stopping_patience=settings.early_stopping_patience,
            precision=settings.precision,
        )
        # A search chooses among its trials, so they never see the test set (only the
        # confirmed winner does). A grid is a planned comparison whose every point is
        # reported, test accuracy included, as the seed reports it reproduces did.
        self.test = getattr(stage.module, "SEARCH_SPACE", None) is not None

    def prepare(self, trial: optuna.Trial) -> Job:
        """The trial's job: its configuration suggested, a surplus or repeat refused."""
        trial.set_user_attr("code_version", self.code_version)
        refuse_surplus(trial, self.settings.trials)
        model_config, train_config = self.module.suggest(trial, self.base)
        refuse_duplicate(trial)
        return Job(
            model_config.fitted_to(self.dataset),  # The data's example shape and classes.
            train_config,
            gap_weight=self.settings.gap_weight,
            objective=self.settings.objective,
            test=self.test,
        )


def refuse_surplus(trial: optuna.Trial, target: int) -> None:
    """Steps aside when other workers' trials already make up the target.

    Workers check the count before asking for a trial, but two of them may ask at the same
    moment; the later-numbered trial then steps aside so the target is exact. Only trials
    numbered below this one can be ahead of it, so below the target there is nothing to
    read (a pass over the study per trial is what a study of thousands cannot afford).
    """
    if trial.number < target:
        return
    ahead = [
        other
        for other in trial.study.get_trials(deepcopy=False, states=FINISHED + PENDING)
        if other.number < trial.number
    ]
    if len(ahead) >= target:
        raise SurplusTrial(f"surplus: trial {trial.number} is beyond the target of {target}")


def refuse_duplicate(trial: optuna.Trial) -> None:
    """Refuses a configuration the study has trained or is training already.

    A continued study, or two workers started with the same seed, can be handed the same
    proposal twice; training it again would add nothing but a repeated row.
    """
    # Read once: a live trial's `params` is a fresh deep copy at every reading.
    params = trial.params
    if not params:
        return
    busy = FINISHED + (TrialState.RUNNING,)
    for other in trial.study.get_trials(deepcopy=False):
        if other.params == params and other.number != trial.number and other.state in busy:
            raise DuplicateTrial(f"duplicate of trial {other.number}")


def run_trials(stage: Stage) -> str:
    """Trains trials until the search has `--trials` finished ones (by any worker).

    Whichever comes first stops it: the target or the stage's deadline (--timeout; checked
    before each trial: a running trial is finished, not cut). Returns why it stopped
    ("target reached" or "timeout"); raises StudyFailing after `--max-failures` failed
    trials in a row.
    """
    study, settings, progress = stage.search, stage.settings, stage.progress
    objective = SearchObjective(stage)
    in_a_row = 0
    while True:
        raise_if_stopped()
        dead.reap(study, stage.storage, progress.note)
        states = trial_states(study)
        finished = sum(states[state] for state in FINISHED)
        if finished >= settings.trials:
            return "target reached"
        if stage.past_deadline():
            progress.note(f"timeout reached with {finished} of {settings.trials} trials finished")
            return "timeout"
        if _wait_for_others(states, settings.trials, progress):
            continue
        for trial in _next_trials(stage, objective, finished, states[TrialState.RUNNING]):
            # The count read this round, with this process's own finished trials since:
            # others' are shown from the next round on, without a read per trial.
            finished += trial.state in FINISHED
            progress.trial(trial, finished)
            in_a_row = _count_failure(study, trial, in_a_row, settings.max_failures)


def trial_states(study: optuna.Study) -> Counter:
    """The study's trials counted by state. Read once a round: each read is a pass over them
    all (and a query on a database), which a study of thousands pays for every trial."""
    return Counter(trial.state for trial in study.get_trials(deepcopy=False))


def _next_trials(stage: Stage, objective: SearchObjective, finished: int, running: int) -> list:
    """The next trial, or with --population K the next K (at most those still to run
    besides the `running` ones), trained together; returned finished."""
    size = together(stage, left=stage.settings.trials - finished - running)
    return train_trials(stage.search, stage, objective.prepare, size)


def _count_failure(study, trial, in_a_row: int, limit: int) -> int:
    """The failures in a row after `trial`; StudyFailing once they reach `limit`.

    A repeated configuration (drawn again elsewhere) or a surplus trial is no failure."""
    kind = failures.kind_of(trial)
    if kind == "duplicate":
        study.sampler.reseed_rng()  # Draw elsewhere next time.
    if kind in failures.STEPPED_ASIDE:
        return in_a_row
    in_a_row = in_a_row + 1 if kind is not None else 0
    if in_a_row >= limit:
        reason = trial.user_attrs.get("fail_reason", "?")
        raise StudyFailing(
            f"{in_a_row} trials failed in a row (last: {reason}); "
            "stopping the study. Raise --max-failures to go on regardless."
        )
    return in_a_row


def _wait_for_others(states: Counter, target: int, progress) -> bool:
    """Sleeps a little when the last trials run elsewhere (`states`: the study's trials by
    state); True if it did.

    It waits in case one of them fails or its worker dies (the caller's next check then
    fails and requeues it).
    """
    running = states[TrialState.RUNNING]
    finished = sum(states[state] for state in FINISHED)
    if finished + running < target or states[TrialState.WAITING]:
        progress.waiting = False
        return False
    if not progress.waiting:
        progress.note(f"waiting for {running} trial(s) running in other workers")
        progress.waiting = True
    time.sleep(2)
    return True
