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
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from kerasnn import TrainConfig, build_model, stats
from kerasnn import objective as scoring
from studies import artifacts, engine
from studies import trial as trial_steps
from studies.progress import outcome
from studies.settings import Settings

SUFFIX = "-confirm"
MEASURES = ("objective", "val_accuracy", "gap")


@dataclasses.dataclass(frozen=True)
class Run:
    source: int  # The search trial whose configuration is re-trained.
    seed: int


def candidates(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The search's best `top` configurations, best first, by the report's rule."""
    from studies.report import best_trials

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


def planned(study: optuna.Study, settings: Settings) -> list[Run]:
    seeds = fresh_seeds(study, settings)
    return [Run(t.number, seed) for t in candidates(study, settings.confirm_top) for seed in seeds]


def run_of(trial) -> Run | None:
    attrs = trial.user_attrs
    if "source_trial" not in attrs:
        return None
    return Run(int(attrs["source_trial"]), int(attrs["seed"]))


def open_confirmation(study: optuna.Study, storage, settings: Settings) -> optuna.Study:
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
    """Trains one planned run: the source trial's configuration with a fresh seed."""

    def __init__(self, search: optuna.Study, module, settings: Settings, dataset, code_version):
        self.search, self.module, self.settings = search, module, settings
        self.dataset, self.code_version = dataset, code_version

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", trial_steps.worker_id())
        with trial_steps.stopped_with_reason(trial):
            trial.set_user_attr("code_version", self.code_version)
            run = run_of(trial)
            _refuse_repeat(trial, run)
            base = TrainConfig(epochs=self.settings.epochs, seed=run.seed)
            # The trial was queued with the source's parameters, so the study's own suggest
            # gives back exactly its configuration (and the dashboard shows the parameters).
            model_config, train_config = self.module.suggest(trial, base)
            settings = dataclasses.replace(self.settings, objective="penalized")
            # Every planned run trains to the end: its spread is what the stage measures.
            result = trial_steps.train_trial(
                trial, model_config, train_config, self.dataset, settings, prune=False
            )
            trial_steps.record(trial, result)
            value = trial_steps.score(trial, result, settings)
            _upload_weights(trial, result, self.settings.artifact_dir)
            return value


def _refuse_repeat(trial: optuna.Trial, run: Run) -> None:
    for other in trial.study.get_trials(deepcopy=False):
        busy = other.state in (TrialState.COMPLETE, TrialState.RUNNING)
        if other.number < trial.number and busy and run_of(other) == run:
            trial.set_user_attr("fail_reason", f"duplicate of trial {other.number}")
            raise trial_steps.DuplicateTrial(f"run {run} is trial {other.number}")


def _upload_weights(trial, result, artifact_dir: Path) -> None:
    """Keeps the best epoch's weights, so the winner's test accuracy needs no retraining."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model-weights-trial-{trial.number}.npz"
        np.savez(path, *result.model.get_weights())
        artifacts.upload(trial, artifact_dir, [(path, "application/octet-stream")])


# A planned run that failed this often (diverged, say) is given up rather than retried.
MAX_RUN_FAILURES = 2


def next_run(confirmation: optuna.Study, plan: list[Run]) -> Run | None | bool:
    """The next run to start; None when every run is done or given up; False to wait."""
    done, busy, failures = set(), set(), {}
    for trial in confirmation.get_trials(deepcopy=False):
        run = run_of(trial)
        if trial.state == TrialState.COMPLETE:
            done.add(run)
        elif trial.state in engine.PENDING:
            busy.add(run)
        elif trial.state == TrialState.PRUNED or (
            trial.state == TrialState.FAIL and not _stepped_aside(trial)
        ):
            # Never pruned on purpose; counted as a failure, so a run cannot repeat forever.
            failures[run] = failures.get(run, 0) + 1
    open_runs = [r for r in plan if r not in done and failures.get(r, 0) < MAX_RUN_FAILURES]
    if not open_runs:
        return None
    todo = [run for run in open_runs if run not in busy]
    return todo[0] if todo else False


def _stepped_aside(trial) -> bool:
    reason = trial.user_attrs.get("fail_reason", "")
    return reason.startswith(("duplicate", "interrupted")) or "died" in reason


def confirm(search, storage, settings: Settings, module, dataset, progress) -> optuna.Study:
    """Runs this process's share of the confirmation; returns the confirmation study."""
    confirmation = open_confirmation(search, storage, settings)
    plan = planned(search, settings)
    objective = ConfirmObjective(search, module, settings, dataset, engine.code_version())
    progress.note(
        f"confirming the best {settings.confirm_top} configurations over "
        f"{settings.confirm_seeds} fresh seeds each: {len(plan)} runs"
    )
    while True:
        for number in engine.fail_dead_trials(confirmation, storage):
            progress.note(f"confirmation run {number}'s worker died; it is run again")
        run = next_run(confirmation, plan)
        if run is None:
            break
        if run is False:
            time.sleep(2)
            continue
        source = search.trials[run.source]
        confirmation.enqueue_trial(
            source.params, user_attrs={"source_trial": run.source, "seed": run.seed}
        )
        trial = engine.one_trial(confirmation, objective)
        progress.note(f"confirmation of trial {run.source}, seed {run.seed}: {outcome(trial)}")
    evaluate_winner(search, confirmation, storage, settings, dataset)
    return confirmation


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
        return [c for c in self.configurations[1:] if not c.versus_winner.distinguishable]


def runs_by_source(confirmation: optuna.Study) -> dict[int, list[optuna.trial.FrozenTrial]]:
    grouped: dict[int, list] = {}
    for trial in confirmation.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        grouped.setdefault(run_of(trial).source, []).append(trial)
    return grouped


def answer(search: optuna.Study, confirmation: optuna.Study, settings: Settings) -> Answer | None:
    """The confirmed answer from the stored runs of the current candidates, or None."""
    grouped = runs_by_source(confirmation)
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
    if tested.get("source_trial") == sources[0]:
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
    if confirmation.user_attrs.get("winner_test", {}).get("source_trial") == winner:
        return  # Evaluated before (a resumed run, another worker).
    runs = sorted(runs_by_source(confirmation)[winner], key=lambda trial: trial.number)
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
    from kerasnn import ModelConfig

    model = build_model(ModelConfig(**trial.user_attrs["model_config"]))
    model.set_weights(artifacts.load_weights(trial, storage, settings.artifact_dir))
    scores = model.evaluate(
        dataset.x_test, dataset.y_test, batch_size=2048, verbose=0, return_dict=True
    )
    return float(scores["accuracy"])
