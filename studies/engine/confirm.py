"""The confirmation stage: the search's best configurations re-trained over fresh seeds.

One seed proves nothing about a winner: the top few configurations of a search are often
tied within seed noise. So after the search, the top K configurations (by the objective;
in a Pareto study, K front trials by the pick rule) are trained again with N seeds the
search never used, in a companion study `<name>-confirm` of the same storage: each trial
there carries its source trial and seed, so an interrupted confirmation finishes only the
missing runs, workers share them, and the dashboard shows them. The winner is the best
mean objective; the test set is evaluated for the winner's runs only, once.
"""

from __future__ import annotations

import dataclasses
import time

import optuna
from optuna.trial import TrialState

from kerasnn import ModelConfig, TrainConfig, build_model, scoring, stats
from studies.cli.settings import Settings
from studies.engine import dead
from studies.engine.progress import outcome
from studies.engine.ranking import best_trials
from studies.engine.runs import Job, execute, stopped_with_reason, worker_id
from studies.engine.study import DuplicateTrial, code_version, one_trial, stored_study
from studies.storage import artifacts

SUFFIX = "-confirm"
MEASURES = ("objective", "val_accuracy", "gap")
# A planned run that failed this often is given up rather than retried; a diverged run is
# given up at once, since the same configuration and seed diverge again.
MAX_RUN_FAILURES = 2


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    source: int  # The search trial whose configuration is re-trained.
    seed: int


def candidates(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The search's best `top` configurations, best first, by the report's rule."""
    return best_trials(study, top)


def fresh_seeds(study: optuna.Study, settings: Settings) -> list[int]:
    """`settings.confirm_seeds` seeds after the study seed that no search trial used."""
    used = {
        trial.user_attrs.get("train_config", {}).get("seed", settings.seed)
        for trial in study.get_trials(deepcopy=False)
    } | {settings.seed}
    seeds, candidate = [], settings.seed + 1
    while len(seeds) < settings.confirm_seeds:
        if candidate not in used:
            seeds.append(candidate)
        candidate += 1
    return seeds


def planned(study: optuna.Study, settings: Settings) -> list[PlannedRun]:
    seeds = fresh_seeds(study, settings)
    return [
        PlannedRun(t.number, seed)
        for t in candidates(study, settings.confirm_top)
        for seed in seeds
    ]


def run_of(trial) -> PlannedRun | None:
    """The planned run a confirmation trial trains, or None for a trial that names none
    (or an edited one whose source or seed is not a whole number)."""
    attrs = trial.user_attrs
    try:
        return PlannedRun(int(attrs["source_trial"]), int(attrs["seed"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def load_confirmation(storage, search_name: str) -> optuna.Study | None:
    """The stored confirmation of study `search_name`, or None when there is none yet."""
    if stored_study(storage, search_name + SUFFIX) is None:
        return None
    return optuna.load_study(study_name=search_name + SUFFIX, storage=storage)


def open_confirmation(storage, settings: Settings) -> optuna.Study:
    confirmation = optuna.create_study(
        storage=storage,
        study_name=settings.study_name + SUFFIX,
        direction=scoring.DIRECTION,
        sampler=optuna.samplers.RandomSampler(seed=settings.seed),
        pruner=optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    if "search_study" not in confirmation.user_attrs:
        confirmation.set_user_attr("search_study", settings.study_name)
        confirmation.set_metric_names(["objective"])
    return confirmation


class ConfirmObjective:
    """Trains the planned run a confirmation trial names: its source's configuration with a
    fresh seed, to the last epoch (its spread is what the stage measures), never pruned."""

    def __init__(self, search: optuna.Study, module, settings: Settings, dataset, version):
        self.search, self.module, self.settings = search, module, settings
        self.dataset, self.code_version = dataset, version

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker_id())
        with stopped_with_reason(trial):
            trial.set_user_attr("code_version", self.code_version)
            run = run_of(trial)
            _refuse_repeat(trial, run)
            base = TrainConfig(epochs=self.settings.epochs, seed=run.seed)
            # The trial was queued with the source's parameters, so the study's own suggest
            # gives back exactly its configuration (and the dashboard shows the parameters).
            model_config, train_config = self.module.suggest(trial, base)
            job = Job(
                model_config,
                train_config,
                gap_weight=self.settings.gap_weight,
                prunable=False,
                keep_weights=True,
            )
            return execute(trial, job, self.dataset, self.settings.artifact_dir)


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
    """Where each planned run stands in the confirmation study."""

    open_runs: list[PlannedRun]  # Neither done nor given up, in plan order.
    running: set[PlannedRun]  # Being trained by some worker now.
    queued: set[PlannedRun]  # WAITING: queued (a retry, say) for whichever worker asks next.


def standing(confirmation: optuna.Study, plan: list[PlannedRun]) -> _Standing:
    done, failures = set(), {}
    running, queued = set(), set()
    for trial in confirmation.get_trials(deepcopy=False):
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
    return reason.startswith(("duplicate", "interrupted")) or "died" in reason


def _diverged(trial) -> bool:
    return trial.user_attrs.get("diverged") is True or "diverged" in str(
        trial.user_attrs.get("fail_reason", "")
    )


def next_step(confirmation: optuna.Study, plan: list[PlannedRun]) -> str | PlannedRun | None:
    """What this worker does next: "queued" (run the oldest queued trial), a run to queue
    and train, "wait" (the open runs are training elsewhere), or None (every run is done
    or given up)."""
    now = standing(confirmation, plan)
    if not now.open_runs:
        return None
    if now.queued & set(now.open_runs):
        return "queued"
    todo = [run for run in now.open_runs if run not in now.running]
    return todo[0] if todo else "wait"


def confirm(
    search, storage, settings: Settings, module, dataset, progress, deadline=None
) -> Answer | None:
    """Runs this process's share of the confirmation; returns its answer (None when no
    configuration has a complete run). Past the `deadline` (time.monotonic(), from
    --timeout) no further run is started."""
    confirmation = open_confirmation(storage, settings)
    plan = planned(search, settings)
    objective = ConfirmObjective(search, module, settings, dataset, code_version())
    progress.note(
        f"confirming the best {len(plan) // max(1, settings.confirm_seeds)} configurations "
        f"over {settings.confirm_seeds} fresh seeds each: {len(plan)} runs"
    )
    while (step := next_step(confirmation, plan)) is not None:
        if deadline is not None and time.monotonic() >= deadline:
            progress.note("timeout reached: no further confirmation run is started")
            break
        if step == "wait":
            time.sleep(2)
        else:
            if isinstance(step, PlannedRun):
                _queue(confirmation, search, step)
            progress.note(line(one_trial(confirmation, objective)))
        dead.reap(confirmation, storage, progress.note)
    evaluate_winner(search, confirmation, storage, settings, dataset)
    return answer(search, confirmation, settings)


def line(trial) -> str:
    """The progress line of a finished confirmation run."""
    run = run_of(trial)
    named = f"trial {run.source}, seed {run.seed}" if run else f"run {trial.number}"
    return f"confirmation of {named}: {outcome(trial)}"


def _queue(confirmation: optuna.Study, search: optuna.Study, run: PlannedRun) -> None:
    source = search.trials[run.source]
    confirmation.enqueue_trial(
        source.params, user_attrs={"source_trial": run.source, "seed": run.seed}
    )


@dataclasses.dataclass(frozen=True)
class Confirmed:
    """One confirmed configuration: its runs' spreads and how it compares with the winner."""

    source: int
    params: dict
    seeds: list[int]
    spreads: dict[str, stats.Spread]  # objective, val_accuracy, gap
    versus_winner: stats.Comparison | None  # None for the winner itself


@dataclasses.dataclass(frozen=True)
class Answer:
    """What the confirmation says: every confirmed configuration, winner first."""

    configurations: list[Confirmed]
    seed_noise: float  # Pooled seed sd of the objective.
    test: stats.Spread | None  # The winner's test accuracy over its seeds.

    @property
    def winner(self) -> Confirmed:
        return self.configurations[0]

    @property
    def tied(self) -> list[Confirmed]:
        return [c for c in self.configurations[1:] if c.versus_winner.outcome == "tied"]

    @property
    def undecided(self) -> list[Confirmed]:
        """Runners-up with fewer than two runs a side: neither tied nor told apart."""
        return [c for c in self.configurations[1:] if c.versus_winner.outcome == "undecided"]


def runs_by_source(
    confirmation: optuna.Study, seeds: list[int] | None = None
) -> dict[int, list[optuna.trial.FrozenTrial]]:
    """The complete runs by source trial, one per seed; only the `seeds` planned now (a
    study re-run with another --seed plans other seeds, and never pools the two)."""
    grouped: dict[int, dict[int, optuna.trial.FrozenTrial]] = {}
    for trial in confirmation.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        run = run_of(trial)
        if run is None or not _has_measures(trial) or (seeds and run.seed not in seeds):
            continue
        grouped.setdefault(run.source, {}).setdefault(run.seed, trial)
    return {source: list(by_seed.values()) for source, by_seed in grouped.items()}


def _has_measures(trial) -> bool:
    """Whether the run stored a finite number for every measure (an edited storage may not)."""
    values = [trial.user_attrs.get(key) for key in MEASURES]
    return all(isinstance(v, int | float) and v == v and abs(v) != float("inf") for v in values)


def answer(search: optuna.Study, confirmation: optuna.Study, settings: Settings) -> Answer | None:
    """The confirmed answer from the stored runs of the current candidates, or None."""
    grouped = runs_by_source(confirmation, fresh_seeds(search, settings))
    sources = [t.number for t in candidates(search, settings.confirm_top) if t.number in grouped]
    if not sources:
        return None

    def values(source, key):
        return [trial.user_attrs[key] for trial in grouped[source]]

    sources.sort(key=lambda source: -stats.spread(values(source, "objective")).mean)
    best = values(sources[0], "objective")
    configurations = [
        Confirmed(
            source=source,
            params=search.trials[source].params,
            seeds=sorted(int(trial.user_attrs["seed"]) for trial in grouped[source]),
            spreads={key: stats.spread(values(source, key)) for key in MEASURES},
            versus_winner=None if rank == 0 else stats.compare(best, values(source, "objective")),
        )
        for rank, source in enumerate(sources)
    ]
    noise = stats.pooled_sd([values(source, "objective") for source in sources])
    tested = confirmation.user_attrs.get("winner_test", {})
    test = None
    if tested.get("source_trial") == sources[0] and tested.get("seeds") == configurations[0].seeds:
        test = stats.spread(tested["test_accuracy"])
    return Answer(configurations, noise, test)


def evaluate_winner(search, confirmation, storage, settings: Settings, dataset) -> None:
    """Evaluates the test set with the winner's confirmation runs, once; stores the result.

    Nothing else ever sees the test set, so it cannot have been used to choose.
    """
    result = answer(search, confirmation, settings)
    if result is None:
        return
    search.set_user_attr("seed_noise", result.seed_noise)
    confirmation.set_user_attr("seed_noise", result.seed_noise)
    winner = result.winner.source
    tested = confirmation.user_attrs.get("winner_test", {})
    if tested.get("source_trial") == winner and tested.get("seeds") == result.winner.seeds:
        return  # Evaluated before (a resumed run, another worker).
    seeds = fresh_seeds(search, settings)
    runs = sorted(
        runs_by_source(confirmation, seeds)[winner], key=lambda trial: int(trial.user_attrs["seed"])
    )
    accuracies = [_test_accuracy(trial, storage, settings, dataset) for trial in runs]
    confirmation.set_user_attr(
        "winner_test",
        {
            "source_trial": winner,
            "seeds": [int(trial.user_attrs["seed"]) for trial in runs],
            "test_accuracy": accuracies,
        },
    )


def _test_accuracy(trial, storage, settings: Settings, dataset) -> float:
    model = build_model(ModelConfig(**trial.user_attrs["model_config"]))
    model.set_weights(artifacts.load_weights(trial, storage, settings.artifact_dir))
    scores = model.evaluate(
        dataset.x_test, dataset.y_test, batch_size=2048, verbose=0, return_dict=True
    )
    return float(scores["accuracy"])
