"""Planned runs: a list of configurations and seeds trained once each in a companion study.

The confirmation and the effects stage are the same mechanism. A stage plans its runs
(each a source trial, a seed and, for the effects, a variant) with the parameters to train;
each run is queued as a trial of the companion study `<name><suffix>` carrying its identity
as user attributes, and trained through `runs.execute`. Whatever the storage holds decides
what is left: an interrupted stage trains only the missing runs, several workers share
them (a run being trained elsewhere is waited for, a queued retry is taken), and a run
that keeps failing is given up rather than retried forever.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from kerasnn import TrainConfig, scoring
from studies.cli.settings import Settings
from studies.engine import dead
from studies.engine.progress import outcome
from studies.engine.runs import Job, JobObjective, trials_together
from studies.engine.stopping import raise_if_stopped
from studies.engine.study import DuplicateTrial, one_trial, stored_study

# A planned run that failed this often is given up rather than retried; a diverged run is
# given up at once, since the same configuration and seed diverge again.
MAX_RUN_FAILURES = 2


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    source: int  # The search trial whose configuration the run starts from.
    seed: int
    variant: str | None = None  # What the run changes in it (the effects stage's runs).

    def attrs(self) -> dict:
        """The user attributes that name this run on its trial (see dead.RUN_KEYS)."""
        named = {"source_trial": self.source, "seed": self.seed}
        return named if self.variant is None else {**named, "variant": self.variant}


def run_of(trial) -> PlannedRun | None:
    """The planned run a stage's trial trains, or None for a trial that names none (or an
    edited one whose source or seed is not a whole number)."""
    attrs = trial.user_attrs
    try:
        variant = attrs.get("variant")
        return PlannedRun(
            int(attrs["source_trial"]),
            int(attrs["seed"]),
            None if variant is None else str(variant),
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def fresh_seeds(study: optuna.Study, settings: Settings, count: int, skip: int = 0) -> list[int]:
    """`count` seeds after the study seed that no search trial used, after the first `skip`
    such seeds (the ones an earlier stage takes)."""
    used = {
        trial.user_attrs.get("train_config", {}).get("seed", settings.seed)
        for trial in study.get_trials(deepcopy=False)
    } | {settings.seed}
    seeds, candidate = [], settings.seed + 1
    while len(seeds) < skip + count:
        if candidate not in used:
            seeds.append(candidate)
        candidate += 1
    return seeds[skip:]


def load_companion(storage, search_name: str, suffix: str) -> optuna.Study | None:
    """The stored companion study `<search_name><suffix>` of a stage, or None when the
    stage has not started."""
    if stored_study(storage, search_name + suffix) is None:
        return None
    return optuna.load_study(study_name=search_name + suffix, storage=storage)


def open_companion(storage, settings: Settings, suffix: str) -> optuna.Study:
    """The stage's companion study `<name><suffix>`, created on first use."""
    companion = optuna.create_study(
        storage=storage,
        study_name=settings.study_name + suffix,
        direction=scoring.DIRECTION,
        sampler=optuna.samplers.RandomSampler(seed=settings.seed),
        pruner=optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    if "search_study" not in companion.user_attrs:
        companion.set_user_attr("search_study", settings.study_name)
        companion.set_metric_names(["objective"])
    return companion


class PlannedObjective(JobObjective):
    """Trains the planned run a trial names: the parameters it was queued with and the run's
    seed, to the last epoch (its spread is what a stage measures), never pruned, never on
    the test set. `keep_weights` stores every weight, for a later test evaluation."""

    def __init__(self, module, settings: Settings, dataset, version: str, keep_weights: bool):
        self.module, self.settings, self.dataset = module, settings, dataset
        self.code_version, self.keep_weights = version, keep_weights

    def prepare(self, trial: optuna.Trial) -> Job:
        """The job of the planned run the trial names; a repeat of a run is refused."""
        trial.set_user_attr("code_version", self.code_version)
        run = run_of(trial)
        _refuse_repeat(trial, run)
        base = TrainConfig(
            epochs=self.settings.epochs, seed=run.seed, precision=self.settings.precision
        )
        # The trial was queued with the run's parameters, so the study's own suggest gives
        # back exactly that configuration (and the dashboard shows the parameters).
        model_config, train_config = self.module.suggest(trial, base)
        return Job(
            model_config,
            train_config,
            gap_weight=self.settings.gap_weight,
            prunable=False,
            keep_weights=self.keep_weights,
        )


def _refuse_repeat(trial: optuna.Trial, run: PlannedRun | None) -> None:
    if run is None:
        trial.set_user_attr("fail_reason", "duplicate: the trial names no planned run")
        raise DuplicateTrial(f"trial {trial.number} names no planned run")
    for other in trial.study.get_trials(deepcopy=False):
        busy = other.state in (TrialState.COMPLETE, TrialState.RUNNING)
        if other.number < trial.number and busy and run_of(other) == run:
            trial.set_user_attr("fail_reason", f"duplicate of trial {other.number}")
            raise DuplicateTrial(f"run {run} is trial {other.number}")


@dataclasses.dataclass
class _Standing:
    """Where each planned run stands in the companion study."""

    open_runs: list[PlannedRun]  # Neither done nor given up, in plan order.
    running: set[PlannedRun]  # Being trained by some worker now.
    queued: set[PlannedRun]  # WAITING: queued (a retry, say) for whichever worker asks next.


def standing(companion: optuna.Study, plan) -> _Standing:
    done, failures = set(), {}
    running, queued = set(), set()
    for trial in companion.get_trials(deepcopy=False):
        run = run_of(trial)
        if trial.state == TrialState.COMPLETE:
            done.add(run)
        elif trial.state == TrialState.RUNNING:
            running.add(run)
        elif trial.state == TrialState.WAITING:
            queued.add(run)
        elif trial.state == TrialState.PRUNED or not _stepped_aside(trial):
            # Never pruned on purpose; counted as a failure, so a run cannot repeat forever.
            failures[run] = failures.get(run, 0) + (MAX_RUN_FAILURES if _diverged(trial) else 1)
    open_runs = [r for r in plan if r not in done and failures.get(r, 0) < MAX_RUN_FAILURES]
    return _Standing(open_runs, running, queued)


def _stepped_aside(trial) -> bool:
    reason = trial.user_attrs.get("fail_reason", "")
    return reason.startswith(("duplicate", "interrupted", "environment")) or "died" in reason


def _diverged(trial) -> bool:
    return trial.user_attrs.get("diverged") is True or "diverged" in str(
        trial.user_attrs.get("fail_reason", "")
    )


def next_step(companion: optuna.Study, plan) -> str | PlannedRun | None:
    """What this worker does next: "queued" (run the oldest queued trial), a run to queue
    and train, "wait" (the open runs are training elsewhere), or None (every run is done
    or given up). `plan` holds the planned runs in order (a list, or a dict's keys)."""
    now = standing(companion, plan)
    if not now.open_runs:
        return None
    if now.queued & set(now.open_runs):
        return "queued"
    todo = [run for run in now.open_runs if run not in now.running]
    return todo[0] if todo else "wait"


def train_plan(
    companion: optuna.Study,
    storage,
    plan: dict[PlannedRun, dict],
    objective: PlannedObjective,
    say: Callable[[str], None],
    stage: str,
    deadline: float | None = None,
) -> None:
    """Trains this process's share of `plan` (each run with the parameters it maps to) until
    every run is done or given up, saying a line per run ("<stage> of trial 3, seed 1: ...").
    Past the `deadline` (time.monotonic(), from --timeout) no further run is started."""
    while (step := next_step(companion, plan)) is not None:
        raise_if_stopped()
        if deadline is not None and time.monotonic() >= deadline:
            say(f"timeout reached: no further {stage} run is started")
            break
        if step == "wait":
            time.sleep(2)
        else:
            for trial in _train_step(companion, storage, plan, objective, step):
                say(line(trial, stage))
        dead.reap(companion, storage, say)


def _train_step(companion, storage, plan, objective: PlannedObjective, step) -> list:
    """Trains the next run (`step` queued first when it is a run), or with --population K
    the next K open runs together (queued first); returns the finished trials."""
    size = objective.settings.population or 1
    if size <= 1:
        if isinstance(step, PlannedRun):
            companion.enqueue_trial(plan[step], user_attrs=step.attrs())
        return [one_trial(companion, objective)]
    now = standing(companion, plan)
    todo = [r for r in now.open_runs if r not in now.running and r not in now.queued]
    for run in todo[: max(0, size - len(now.queued))]:
        companion.enqueue_trial(plan[run], user_attrs=run.attrs())
    waiting = len(companion.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    return trials_together(
        companion,
        storage,
        objective.prepare,
        min(size, waiting),
        objective.dataset,
        objective.settings.artifact_dir,
    )


def line(trial, stage: str) -> str:
    """The progress line of a finished run of a stage: "<stage> of trial 3, seed 1: ..."."""
    run = run_of(trial)
    if run is None:
        return f"{stage} of run {trial.number}: {outcome(trial)}"
    variant = f", {run.variant}" if run.variant is not None else ""
    return f"{stage} of trial {run.source}{variant}, seed {run.seed}: {outcome(trial)}"


def complete_runs(companion: optuna.Study, measures) -> list[tuple[PlannedRun, object]]:
    """Each complete run that stored a finite number for every one of `measures` (an edited
    storage may not), with its trial; the first trial of a run where several completed."""
    found = {}
    for trial in companion.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        run = run_of(trial)
        values = [trial.user_attrs.get(key) for key in measures]
        finite = all(
            isinstance(v, int | float) and v == v and abs(v) != float("inf") for v in values
        )
        if run is not None and finite:
            found.setdefault(run, trial)
    return list(found.items())
