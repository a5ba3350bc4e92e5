"""The confirmation stage: the search's best configurations re-trained over fresh seeds.

One seed proves nothing about a winner: the top few configurations of a search are often
tied within seed noise. So after the search, the best `--confirm-top` configurations (by
the objective; in a Pareto study, front trials by the pick rule) are trained again with
`--confirm-seeds` seeds the search never used, in a companion study `<name>-confirm` of the same storage: each trial
there carries its source trial and seed, so an interrupted confirmation finishes only the
missing runs, workers share them, and the dashboard shows them. The candidates and seeds
are recorded as the stage's plan when it starts (see engine.plans), and the answer is
read from the runs of that plan alone. The winner is the best mean objective; the test set
is evaluated for the winner's runs only, once.
"""

from __future__ import annotations

import dataclasses
import sys

import optuna

from kerasnn import stats
from studies.engine import planned as planned_runs
from studies.engine import plans
from studies.engine.planned import PlannedRun
from studies.engine.plans import Plan
from studies.engine.ranking import best_trials
from studies.engine.runs import stored_model
from studies.engine.stage import Stage
from studies.engine.study import COMPANIONS

STAGE_NAME = "confirmation"
SUFFIX = COMPANIONS[STAGE_NAME]
MEASURES = ("objective", "val_accuracy", "gap")


def candidates(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The search's best `top` configurations, best first, by the report's rule."""
    return best_trials(study, top)


def runs_of(search: optuna.Study, plan: Plan) -> dict[PlannedRun, dict]:
    """Each run of the plan, with the parameters of the search trial it re-trains."""
    trials = search.get_trials(deepcopy=False)  # `search.trials` deep-copies every trial.
    return {
        PlannedRun(source, seed): trials[source].params
        for source in plan.sources
        for seed in plan.seeds
    }


def load_confirmation(storage, search_name: str) -> optuna.Study | None:
    """The stored confirmation of study `search_name`, or None when there is none yet."""
    return plans.load_companion(storage, search_name, STAGE_NAME)


def confirm(stage: Stage) -> Answer | None:
    """Runs this process's share of the confirmation; returns its answer (None when no
    configuration has a complete run). Past the stage's deadline (--timeout) no further
    run is started."""
    search = stage.search
    effects_plan = plans.recorded_plan(
        plans.load_companion(stage.storage, search.study_name, "effects")
    )
    asked = plans.asked_confirmation(search, stage.settings, effects_plan)
    confirmation, plan = planned_runs.start(stage, STAGE_NAME, asked)
    runs = runs_of(search, plan)
    stage.progress.note(
        f"confirming the best {len(plan.sources)} configurations over {len(plan.seeds)} "
        f"fresh seeds each: {len(runs)} runs"
    )
    planned_runs.train_plan(confirmation, stage, runs, STAGE_NAME, keep_weights=True)
    evaluate_winner(stage, confirmation)
    return answer(search, confirmation)


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
    search: optuna.Study, confirmation: optuna.Study
) -> dict[int, list[optuna.trial.FrozenTrial]]:
    """The complete runs of the recorded plan by source trial, one per seed; a run whose
    stored configuration is not its source's is left out (an edited storage). A
    confirmation stored before plans were recorded counts every complete run."""
    plan = plans.recorded_plan(confirmation)
    grouped: dict[int, list[optuna.trial.FrozenTrial]] = {}
    sources = search.get_trials(deepcopy=False)
    for run, trial in planned_runs.complete_runs(confirmation, MEASURES):
        planned = plan is None or (run.source in plan.sources and run.seed in plan.seeds)
        known = 0 <= run.source < len(sources)
        if run.variant is None and planned and known:
            if trial.params == sources[run.source].params:
                grouped.setdefault(run.source, []).append(trial)
    return grouped


def answer(search: optuna.Study, confirmation: optuna.Study | None) -> Answer | None:
    """The confirmed answer from the stored runs of the recorded plan, or None."""
    if confirmation is None:
        return None
    grouped = runs_by_source(search, confirmation)
    sources = list(grouped)
    if not sources:
        return None

    def values(source, key):
        return [trial.user_attrs[key] for trial in grouped[source]]

    sources.sort(key=lambda source: -stats.spread(values(source, "objective")).mean)
    best = values(sources[0], "objective")
    trials = search.get_trials(deepcopy=False)
    configurations = [
        Confirmed(
            source=source,
            params=trials[source].params,
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


def evaluate_winner(stage: Stage, confirmation: optuna.Study) -> None:
    """Evaluates the test set with the winner's confirmation runs, once; stores the result.

    Nothing else ever sees the test set, so it cannot have been used to choose.
    """
    search = stage.search
    result = answer(search, confirmation)
    if result is None:
        return
    search.set_user_attr("seed_noise", result.seed_noise)
    confirmation.set_user_attr("seed_noise", result.seed_noise)
    winner = result.winner.source
    tested = confirmation.user_attrs.get("winner_test", {})
    if tested.get("source_trial") == winner and tested.get("seeds") == result.winner.seeds:
        return  # Evaluated before (a resumed run, another worker).
    runs = sorted(
        runs_by_source(search, confirmation)[winner],
        key=lambda trial: int(trial.user_attrs["seed"]),
    )
    measured = []
    for trial in runs:
        try:
            measured.append((trial, _test_accuracy(trial, stage)))
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


def run_test_accuracy(confirmation: optuna.Study, source: int, seed: int) -> float | None:
    """The test accuracy of source trial `source`'s confirmation run with `seed`, as the
    winner's evaluation stored it; None for a run it did not evaluate (any runner-up's)."""
    tested = confirmation.user_attrs.get("winner_test", {})
    if tested.get("source_trial") != source:
        return None
    found = dict(zip(tested.get("seeds", []), tested.get("test_accuracy", []), strict=False))
    return found.get(seed)


def _test_accuracy(trial, stage: Stage) -> float:
    model = stored_model(trial, stage.storage, stage.settings.artifact_dir)
    scores = model.evaluate(
        stage.dataset.x_test, stage.dataset.y_test, batch_size=2048, verbose=0, return_dict=True
    )
    return float(scores["accuracy"])
