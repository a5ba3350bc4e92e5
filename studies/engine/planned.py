"""Planned runs: a list of configurations and seeds trained once each in a companion study.

The confirmation and the effects stage are the same mechanism. A stage plans its runs
(each a source trial, a seed and, for the effects, a variant) with the parameters to train;
each run is queued as a trial of the stage's companion study (`study.companion_name`)
carrying its identity as user attributes, and trained by the one trial lifecycle.
Whatever the storage holds decides what is left: an interrupted stage trains only the
missing runs, several workers share them (a run being trained elsewhere is waited for, a
queued retry is taken), and a run that keeps failing is given up rather than retried
forever.

What a stage decided is stored when it starts, as its recorded plan (engine.plans).
"""

from __future__ import annotations

import dataclasses
import time

import optuna
from optuna.trial import TrialState

from kerasnn import TrainConfig
from studies.engine import dead, failures
from studies.engine.failures import DuplicateTrial, PlanMismatch
from studies.engine.lifecycle import together, train_trials
from studies.engine.plans import Plan, open_companion, recorded_plan, settle
from studies.engine.progress import outcome
from studies.engine.runs import Job
from studies.engine.stage import Stage
from studies.engine.stopping import raise_if_stopped
from studies.engine.study import code_version
from studies.storage.retry import MAX_RETRIES

# A planned run that failed this often (its worker died, the machine failed, it raised) is
# given up rather than retried: the one cap of every retry. A diverged run is given up at
# once, since the same configuration and seed diverge again.
MAX_RUN_FAILURES = 1 + MAX_RETRIES


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    source: int  # The search trial whose configuration the run starts from.
    seed: int
    variant: str | None = None  # What the run changes in it (the effects stage's runs).

    def attrs(self) -> dict:
        """The user attributes that name this run on its trial (see storage.retry.RUN_KEYS)."""
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


def start(stage: Stage, stage_name: str, asked: Plan) -> tuple[optuna.Study, Plan]:
    """The shared start of a planned stage: its companion study opened (created on first
    use), its plan settled against the recorded one (see plans.settle), recorded, and said
    when it grew; returns both."""
    companion = open_companion(stage.storage, stage.settings, stage_name)
    plan, said = settle(recorded_plan(companion), asked)
    if said:
        stage.progress.note(said)
    if recorded_plan(companion) != plan:
        companion.set_user_attr("plan", plan.attr())
    return companion, plan


class PlannedObjective:
    """Trains the planned run a trial names: the parameters it was queued with and the run's
    seed, to the last epoch (its spread is what a stage measures), never pruned, never on
    the test set. `keep_weights` stores every weight, for a later test evaluation."""

    def __init__(self, stage: Stage, runs: dict, keep_weights: bool):
        self.stage, self.runs, self.keep_weights = stage, runs, keep_weights
        self.code_version = code_version()

    def prepare(self, trial: optuna.Trial) -> Job:
        """The job of the planned run the trial names; a repeat of a run, or a trial whose
        configuration is not the one its plan names (an edited or stale queue), is refused."""
        settings = self.stage.settings
        trial.set_user_attr("code_version", self.code_version)
        run = run_of(trial)
        _refuse_repeat(trial, run)
        base = TrainConfig(epochs=settings.epochs, seed=run.seed, precision=settings.precision)
        # The trial was queued with the run's parameters, so the study's own suggest gives
        # back exactly that configuration (and the dashboard shows the parameters).
        model_config, train_config = self.stage.module.suggest(trial, base)
        if self.runs.get(run) != trial.params:
            raise PlanMismatch(f"mismatch: trial {trial.number} does not train the plan's {run}")
        return Job(
            model_config.fitted_to(self.stage.dataset),  # The data's example shape and classes.
            train_config,
            gap_weight=settings.gap_weight,
            prunable=False,
            keep_weights=self.keep_weights,
        )


def _refuse_repeat(trial: optuna.Trial, run: PlannedRun | None) -> None:
    if run is None:
        raise DuplicateTrial("duplicate: the trial names no planned run")
    for other in trial.study.get_trials(deepcopy=False):
        busy = other.state in (TrialState.COMPLETE, TrialState.RUNNING)
        if other.number < trial.number and busy and run_of(other) == run:
            raise DuplicateTrial(f"duplicate of trial {other.number}")


@dataclasses.dataclass
class _Standing:
    """Where each planned run stands in the companion study."""

    open_runs: list[PlannedRun]  # Neither done nor given up, in plan order.
    running: set[PlannedRun]  # Being trained by some worker now.
    queued: set[PlannedRun]  # WAITING: queued (a retry, say) for whichever worker asks next.


def standing(companion: optuna.Study, plan) -> _Standing:
    done, failed = set(), {}
    running, queued = set(), set()
    for trial in companion.get_trials(deepcopy=False):
        run = run_of(trial)
        if trial.state == TrialState.COMPLETE:
            done.add(run)
        elif trial.state == TrialState.RUNNING:
            running.add(run)
        elif trial.state == TrialState.WAITING:
            queued.add(run)
        elif failures.kind_of(trial) not in failures.STEPPED_ASIDE:
            # Never pruned on purpose; counted as a failure, so a run cannot repeat forever.
            diverged = failures.kind_of(trial) == "diverged"
            failed[run] = failed.get(run, 0) + (MAX_RUN_FAILURES if diverged else 1)
    open_runs = [r for r in plan if r not in done and failed.get(r, 0) < MAX_RUN_FAILURES]
    return _Standing(open_runs, running, queued)


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
    companion: optuna.Study, stage: Stage, runs: dict, stage_name: str, keep_weights: bool
) -> None:
    """Trains this process's share of a stage's `runs` (each planned run with the parameters
    it maps to) in its companion study, until every run is done or given up, showing the
    stage's progress (a line per run where lines are shown, "<stage_name> of trial 3, seed
    1: ..."). Past the stage's deadline (--timeout) no further run is started. A run
    training elsewhere is waited for, said once, until it ends or its worker is found dead
    (engine.dead, which finds an unnamed or gone worker's trial)."""
    objective, progress = PlannedObjective(stage, runs, keep_weights), stage.progress
    progress.begin(stage_name, len(runs), len(runs) - len(standing(companion, runs).open_runs))
    waiting = False
    while (step := next_step(companion, runs)) is not None:
        raise_if_stopped()
        if stage.past_deadline():
            progress.note(f"timeout reached: no further {stage_name} run is started")
            break
        if step == "wait":
            if not waiting:
                running = len(standing(companion, runs).running)
                progress.note(f"waiting for {running} {stage_name} run(s) training elsewhere")
            waiting = True
            time.sleep(2)
        else:
            waiting = False
            for trial in _train_step(companion, stage, objective):
                progress.run(trial, line(trial, stage_name))
        dead.reap(companion, stage.storage, progress.note)


def _train_step(companion, stage: Stage, objective: PlannedObjective) -> list:
    """Trains the next open run (a queued one first), or with --population K the next K
    together; returns the finished trials."""
    size = together(stage)
    now = standing(companion, objective.runs)
    todo = [r for r in now.open_runs if r not in now.running and r not in now.queued]
    for run in todo[: max(0, size - len(now.queued))]:
        companion.enqueue_trial(objective.runs[run], user_attrs=run.attrs())
    # Queued trials only: another worker may take some of them first, and a fresh trial
    # would name no run.
    return train_trials(companion, stage, objective.prepare, size, queued_only=True)


def line(trial, stage_name: str) -> str:
    """The progress line of a finished run of a stage: "<stage_name> of trial 3, seed 1: ..."."""
    run = run_of(trial)
    if run is None:
        return f"{stage_name} of run {trial.number}: {outcome(trial)}"
    variant = f", {run.variant}" if run.variant is not None else ""
    return f"{stage_name} of trial {run.source}{variant}, seed {run.seed}: {outcome(trial)}"


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
