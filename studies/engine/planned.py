"""Planned runs: a list of configurations and seeds trained once each in a companion study.

The confirmation and the effects stage are the same mechanism. A stage plans its runs
(each a source trial, a seed and, for the effects, a variant) with the parameters to train;
each run is queued as a trial of the companion study `<name><suffix>` carrying its identity
as user attributes, and trained through `runs.execute`. Whatever the storage holds decides
what is left: an interrupted stage trains only the missing runs, several workers share
them (a run being trained elsewhere is waited for, a queued retry is taken), and a run
that keeps failing is given up rather than retried forever.

What a stage decided is stored: when it starts, it records its `Plan` (the search trials it
trains again and the seeds) on its companion study, and everything after it (the answer,
the report, the dashboard note, `--workers`' count of work left) reads that record, never
the flags of a later command. A later command that asks for more extends the plan and says
so; one that asks for other seeds is refused before anything is written.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from kerasnn import TrainConfig, scoring
from studies.engine import dead, failures
from studies.engine.failures import DuplicateTrial, PlanMismatch
from studies.engine.lifecycle import train_trials
from studies.engine.progress import outcome
from studies.engine.runs import Job, program_shapes
from studies.engine.stopping import raise_if_stopped
from studies.engine.study import stored_study
from studies.errors import UsageError
from studies.settings import LIMITS, SEED_LIMIT, Settings
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


def fresh_seeds(study: optuna.Study, settings: Settings, count: int, taken=()) -> list[int]:
    """`count` seeds after the study seed that no search trial used and no other stage's
    plan (`taken`) holds."""
    used = (
        {
            trial.user_attrs.get("train_config", {}).get("seed", settings.seed)
            for trial in study.get_trials(deepcopy=False)
        }
        | {settings.seed}
        | set(taken)
    )
    seeds, candidate = [], settings.seed + 1
    while len(seeds) < count:
        if candidate not in used:
            seeds.append(candidate)
        candidate += 1
    return seeds


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a stage decided when it started: the search trials it trains again (a
    confirmation's candidates, the effects' winner) and the seeds of every run."""

    sources: tuple[int, ...]
    seeds: tuple[int, ...]

    def attr(self) -> dict:
        return {"source_trials": list(self.sources), "seeds": list(self.seeds)}

    def __str__(self) -> str:
        trials = ", ".join(map(str, self.sources))
        return f"trial(s) {trials} over seeds {', '.join(map(str, self.seeds))}"


# The most search trials and seeds a recorded plan may name: what one command may ask for
# (--confirm-top, --confirm-seeds, --effects-seeds), each stage's plan growing to at most
# that by later commands. A record beyond them was not written by a stage.
MAX_PLAN_SOURCES = LIMITS["confirm_top"]
MAX_PLAN_SEEDS = max(LIMITS["confirm_seeds"], LIMITS["effects_seeds"])


def plan_problem(raw, trials: int | None = None) -> str | None:
    """What makes a recorded plan (a companion's "plan" attribute) unusable, or None: it must
    name search trials that exist (fewer than `trials`, where known) and seeds a run can
    take, as lists of whole numbers within the sizes a command can ask for."""
    if not isinstance(raw, dict):
        return f"is a {type(raw).__name__}, not a plan"
    sources = raw.get("source_trials", [raw.get("source_trial")])
    seeds = raw.get("seeds")
    if not (isinstance(sources, list) and isinstance(seeds, list)):
        return "does not list its source trials and seeds"
    if not all(type(n) is int for n in [*sources, *seeds]):
        return "holds something other than whole numbers"
    if len(sources) > MAX_PLAN_SOURCES or len(seeds) > MAX_PLAN_SEEDS:
        return (
            f"names {len(sources)} trial(s) and {len(seeds)} seed(s) (at most "
            f"{MAX_PLAN_SOURCES} and {MAX_PLAN_SEEDS})"
        )
    if len(set(sources)) < len(sources) or len(set(seeds)) < len(seeds):
        return "names a trial or a seed twice"
    unknown = [n for n in sources if n < 0 or (trials is not None and n >= trials)]
    if unknown:
        return f"names trial {unknown[0]}, which the search does not hold"
    outside = [seed for seed in seeds if not 0 <= seed < SEED_LIMIT]
    if outside:
        return f"names seed {outside[0]}, outside [0, {SEED_LIMIT})"
    return None


def recorded_plan(companion) -> Plan | None:
    """The plan recorded on a stage's companion study (or its summary); None before one, and
    for a record that is not a plan (see `plan_problem`, which `check_recorded` says)."""
    raw = companion.user_attrs.get("plan") if companion is not None else None
    if raw is None or plan_problem(raw) is not None:
        return None
    sources = raw.get("source_trials", [raw.get("source_trial")])
    return Plan(tuple(sources), tuple(raw["seeds"]))


def check_recorded(companion, trials: int) -> None:
    """Refuses, in one line, a companion whose recorded plan is not one that a stage wrote
    for a search of `trials` trials: nothing is trained, nothing overwritten."""
    raw = companion.user_attrs.get("plan") if companion is not None else None
    problem = None if raw is None else plan_problem(raw, trials)
    if problem is not None:
        raise UsageError(
            f"study {companion.study_name!r}: its recorded plan {problem}; it was edited, "
            "so its answer cannot be trusted: use --fresh to start the study again"
        )


def settle(recorded: Plan | None, asked: Plan) -> tuple[Plan, str | None]:
    """The plan a stage trains: `asked` where none is recorded, else the recorded one with
    what `asked` adds (more candidates, more seeds), and a sentence saying so when it grew.

    Raises UsageError when `asked` names other seeds than the recorded plan (another --seed).
    """
    if recorded is None:
        return asked, None
    shorter, longer = sorted((recorded.seeds, asked.seeds), key=len)
    if longer[: len(shorter)] != shorter:
        raise UsageError(
            f"the recorded plan trains {recorded}, and this command asks for seeds "
            f"{', '.join(map(str, asked.seeds))}"
        )
    sources = recorded.sources + tuple(s for s in asked.sources if s not in recorded.sources)
    plan = Plan(sources, longer)
    return plan, None if plan == recorded else f"extending the recorded plan to {plan}"


def start(companion: optuna.Study, asked: Plan, stage) -> Plan:
    """Settles the stage's plan against the one recorded on `companion` (see `settle`),
    records it and says when it grew; returns it."""
    plan, said = settle(recorded_plan(companion), asked)
    if said:
        stage.progress.note(said)
    if recorded_plan(companion) != plan:
        companion.set_user_attr("plan", plan.attr())
    return plan


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


class PlannedObjective:
    """Trains the planned run a trial names: the parameters it was queued with and the run's
    seed, to the last epoch (its spread is what a stage measures), never pruned, never on
    the test set. `keep_weights` stores every weight, for a later test evaluation."""

    def __init__(
        self, module, settings: Settings, dataset, version: str, keep_weights: bool, plan: dict
    ):
        self.module, self.settings, self.dataset = module, settings, dataset
        self.code_version, self.keep_weights, self.plan = version, keep_weights, plan

    def prepare(self, trial: optuna.Trial) -> Job:
        """The job of the planned run the trial names; a repeat of a run, or a trial whose
        configuration is not the one its plan names (an edited or stale queue), is refused."""
        trial.set_user_attr("code_version", self.code_version)
        run = run_of(trial)
        _refuse_repeat(trial, run)
        base = TrainConfig(
            epochs=self.settings.epochs, seed=run.seed, precision=self.settings.precision
        )
        # The trial was queued with the run's parameters, so the study's own suggest gives
        # back exactly that configuration (and the dashboard shows the parameters).
        model_config, train_config = self.module.suggest(trial, base)
        if self.plan.get(run) != trial.params:
            raise PlanMismatch(f"mismatch: trial {trial.number} does not train the plan's {run}")
        return Job(
            model_config,
            train_config,
            gap_weight=self.settings.gap_weight,
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
    Past the `deadline` (time.monotonic(), from --timeout) no further run is started. A run
    training elsewhere is waited for, said once, until it ends or its worker is found dead
    (engine.dead, which finds an unnamed or gone worker's trial)."""
    waiting = False
    while (step := next_step(companion, plan)) is not None:
        raise_if_stopped()
        if deadline is not None and time.monotonic() >= deadline:
            say(f"timeout reached: no further {stage} run is started")
            break
        if step == "wait":
            if not waiting:
                running = len(standing(companion, plan).running)
                say(f"waiting for {running} {stage} run(s) training in another process")
            waiting = True
            time.sleep(2)
        else:
            waiting = False
            for trial in _train_step(companion, storage, plan, objective):
                say(line(trial, stage))
        dead.reap(companion, storage, say)


def _train_step(companion, storage, plan, objective: PlannedObjective) -> list:
    """Trains the next open run (a queued one first), or with --population K the next K
    together; returns the finished trials."""
    size = objective.settings.population or 1
    now = standing(companion, plan)
    todo = [r for r in now.open_runs if r not in now.running and r not in now.queued]
    for run in todo[: max(0, size - len(now.queued))]:
        companion.enqueue_trial(plan[run], user_attrs=run.attrs())
    # Queued trials only: another worker may take some of them first, and a fresh trial
    # would name no run.
    return train_trials(
        companion,
        storage,
        objective.prepare,
        size,
        objective.dataset,
        objective.settings.artifact_dir,
        program_shapes(objective.module, size),
        queued_only=True,
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
