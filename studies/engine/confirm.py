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
import sys

import optuna

from kerasnn import stats
from studies.cli.settings import Settings
from studies.engine import planned as planned_runs
from studies.engine.planned import PlannedRun, next_step, run_of  # noqa: F401 (kept as confirm.*)
from studies.engine.ranking import best_trials
from studies.engine.runs import stored_model
from studies.engine.study import code_version

SUFFIX = "-confirm"
MEASURES = ("objective", "val_accuracy", "gap")


def candidates(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The search's best `top` configurations, best first, by the report's rule."""
    return best_trials(study, top)


def fresh_seeds(study: optuna.Study, settings: Settings) -> list[int]:
    """`settings.confirm_seeds` seeds after the study seed that no search trial used."""
    return planned_runs.fresh_seeds(study, settings, settings.confirm_seeds)


def planned(study: optuna.Study, settings: Settings) -> dict[PlannedRun, dict]:
    """Each confirmation run, with the parameters of the search trial it re-trains."""
    seeds = fresh_seeds(study, settings)
    return {
        PlannedRun(trial.number, seed): trial.params
        for trial in candidates(study, settings.confirm_top)
        for seed in seeds
    }


def load_confirmation(storage, search_name: str) -> optuna.Study | None:
    """The stored confirmation of study `search_name`, or None when there is none yet."""
    return planned_runs.load_companion(storage, search_name, SUFFIX)


def open_confirmation(storage, settings: Settings) -> optuna.Study:
    return planned_runs.open_companion(storage, settings, SUFFIX)


def confirm(
    search, storage, settings: Settings, module, dataset, progress, deadline=None
) -> Answer | None:
    """Runs this process's share of the confirmation; returns its answer (None when no
    configuration has a complete run). Past the `deadline` (time.monotonic(), from
    --timeout) no further run is started."""
    confirmation = open_confirmation(storage, settings)
    plan = planned(search, settings)
    objective = planned_runs.PlannedObjective(
        module, settings, dataset, code_version(), keep_weights=True
    )
    progress.note(
        f"confirming the best {len(plan) // max(1, settings.confirm_seeds)} configurations "
        f"over {settings.confirm_seeds} fresh seeds each: {len(plan)} runs"
    )
    planned_runs.train_plan(
        confirmation, storage, plan, objective, progress.note, "confirmation", deadline
    )
    evaluate_winner(search, confirmation, storage, settings, dataset)
    return answer(search, confirmation, settings)


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
    grouped: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for run, trial in planned_runs.complete_runs(confirmation, MEASURES):
        if run.variant is None and (not seeds or run.seed in seeds):
            grouped.setdefault(run.source, []).append(trial)
    return grouped


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
    measured = []
    for trial in runs:
        try:
            measured.append((trial, _test_accuracy(trial, storage, settings, dataset)))
        except FileNotFoundError as error:  # Its weights were never written whole.
            print(f"warning: no test accuracy of run {trial.number}: {error}", file=sys.stderr)
    if measured:
        confirmation.set_user_attr(
            "winner_test",
            {
                "source_trial": winner,
                "seeds": [int(trial.user_attrs["seed"]) for trial, _ in measured],
                "test_accuracy": [accuracy for _, accuracy in measured],
            },
        )


def _test_accuracy(trial, storage, settings: Settings, dataset) -> float:
    model = stored_model(trial, storage, settings.artifact_dir)
    scores = model.evaluate(
        dataset.x_test, dataset.y_test, batch_size=2048, verbose=0, return_dict=True
    )
    return float(scores["accuracy"])
