"""The effects stage: each scientific hyperparameter varied alone around the confirmed winner.

What a search's trials say about a hyperparameter is confounded: every other one moved too.
So after the confirmation, each hyperparameter the study names in `SCIENTIFIC` is swept
with every other one held at the winner's values, and each variant is trained with fresh
seeds that neither the search nor the confirmation used, in a companion study
`<name>-effects` (planned runs: resumable, shared by workers, shown on the dashboard).
The test set is never evaluated here. The design (the variants with their parameters, the
sweeps and what they skipped) is recorded in the stage's plan when it starts
(`to_record`), and the runs, the workers' count and the report read it from there
(`design_of`), so a later change of this code does not change what a stored study says.

How the variants are chosen, from the study's own `suggest` (its search space is never
written twice): the winner's parameters are replayed through `suggest` by a `Probe`, which
records the distribution of each hyperparameter it asks for. A numeric hyperparameter is
run at POINTS values evenly spread over its range (on a log scale where its distribution
is log), the one nearest the winner's value replaced by it; a categorical one at every
choice. A conditional hyperparameter (the penalty's strength and placement) is swept only
where the winner's configuration asks for it. Where a variant needs one the winner lacks
(the winner has no penalty, the variant has L2), it takes its reference value: the middle
of its range on its scale (a strength of 1e-3 for 1e-5 to 1e-1), or its first choice (the
hidden layer).
"""

from __future__ import annotations

import dataclasses
import math

import optuna
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)

from kerasnn import TrainConfig, stats
from kerasnn.training import clamp_batch_size
from studies.engine import planned as planned_runs
from studies.engine import plans
from studies.engine.planned import PlannedRun
from studies.engine.plans import Plan
from studies.engine.stage import Stage
from studies.engine.study import COMPANIONS, trial_numbered

STAGE_NAME = "effects"
SUFFIX = COMPANIONS[STAGE_NAME]
MEASURES = ("gap", "val_accuracy")
WINNER = "winner"  # The variant that changes nothing: the baseline of every comparison.
# Values per numeric sweep, the winner's among them. Four span a range at its ends and
# twice between; see docs/effects.md for what the stage costs.
POINTS = 4


class Probe:
    """Stands in for a trial in a study's `suggest`: answers each hyperparameter with its
    given value, or else its reference value, and records what was asked."""

    def __init__(self, given: dict):
        self.given = given
        self.params: dict = {}
        self.distributions: dict = {}

    def suggest_float(self, name, low, high, *, step=None, log=False):
        return self._answer(name, FloatDistribution(low, high, step=step, log=log))

    def suggest_int(self, name, low, high, *, step=1, log=False):
        return self._answer(name, IntDistribution(low, high, step=step, log=log))

    def suggest_categorical(self, name, choices):
        return self._answer(name, CategoricalDistribution(choices))

    def _answer(self, name, distribution):
        value = self.given[name] if name in self.given else reference(distribution)
        self.params[name] = value
        self.distributions[name] = distribution
        return value


def probe(module, given: dict) -> Probe:
    """What the study's `suggest` asks for, and answers, given `given`."""
    asked = Probe(given)
    module.suggest(asked, TrainConfig())
    return asked


def reference(distribution):
    """The value of a hyperparameter the winner lacks: the middle of its range on its
    scale, or its first choice."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    return on_scale(distribution, 0.5)


def on_scale(distribution, fraction: float):
    """The value `fraction` of the way along the distribution's range, on its scale."""
    low, high = distribution.low, distribution.high
    if distribution.log:
        value = math.exp(math.log(low) + fraction * (math.log(high) - math.log(low)))
    else:
        value = low + fraction * (high - low)
    if distribution.step:
        value = low + round((value - low) / distribution.step) * distribution.step
    value = min(high, max(low, value))
    if isinstance(distribution, IntDistribution):
        return int(round(value))
    return min(high, max(low, float(f"{value:.4g}")))


def _fraction(distribution, value) -> float:
    low, high = distribution.low, distribution.high
    if distribution.log:
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (value - low) / (high - low) if high > low else 0.0


def sweep_values(distribution, winner_value) -> list:
    """The values a hyperparameter is run at, the winner's among them, in order."""
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    values = [on_scale(distribution, i / (POINTS - 1)) for i in range(POINTS)]
    target = _fraction(distribution, winner_value)
    nearest = min(range(POINTS), key=lambda i: abs(i / (POINTS - 1) - target))
    values[nearest] = winner_value
    return sorted(dict.fromkeys(values))


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str  # "winner", or "dropout_rate=0.125"
    hyperparameter: str | None  # What it changes (None for the winner).
    value: object
    params: dict  # Every parameter the study's suggest asks for, with its value.


def shown(value) -> str:
    """A hyperparameter's value in a name or a sentence: floats to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def label(name: str, value) -> str:
    return f"{name}={shown(value)}"


@dataclasses.dataclass(frozen=True)
class Design:
    """The variants around a winner, and what the sweeps could not or did not vary."""

    variants: list[Variant]  # The winner first, then each sweep's other values.
    sweeps: dict[str, list]  # Hyperparameter -> its values in order, the winner's among them.
    skipped: list[str]  # Scientific hyperparameters the winner's configuration does not use.
    references: dict  # Values the winner lacks that some variant took (see the docstring).
    distributions: dict  # Each swept hyperparameter's distribution (its scale, its choices).
    # A value's variant -> the variant that trains the same configuration (a clamped batch).
    merged: dict[str, str] = dataclasses.field(default_factory=dict)
    train_size: int | None = None  # The training images that clamp a batch (None: all).


def design(winner_params: dict, module, train_size: int | None = None) -> Design:
    """The variants around the winner's parameters, for the study module's SCIENTIFIC.

    kerasnn trains a batch larger than the training set as the whole set, so with
    `train_size` (the study's --subset) two values that clamp to the same batch are the same
    configuration: it is one variant, the first, and `merged` says which values it stands for.
    """
    base = probe(module, winner_params)
    variants = [Variant(WINNER, None, None, base.params)]
    trained = {_trained_as(module, base.params, train_size): WINNER}
    sweeps, skipped, references, merged = {}, [], {}, {}
    for name in getattr(module, "SCIENTIFIC", ()):
        if name not in base.distributions:
            skipped.append(name)
            continue
        sweeps[name] = []
        for value in sweep_values(base.distributions[name], base.params[name]):
            if value == base.params[name]:
                sweeps[name].append(value)
                continue
            asked = probe(module, {**base.params, name: value})
            same = trained.setdefault(
                _trained_as(module, asked.params, train_size), label(name, value)
            )
            if same != label(name, value):
                merged[label(name, value)] = same
                continue
            sweeps[name].append(value)
            references |= {k: v for k, v in asked.params.items() if k not in base.params}
            variants.append(Variant(label(name, value), name, value, asked.params))
    distributions = {name: base.distributions[name] for name in sweeps}
    return Design(variants, sweeps, skipped, references, distributions, merged, train_size)


def to_record(found: Design) -> dict:
    """The design as its plan records it (plain JSON): what the effects stage trains and
    the report reads, so a later change of `design`'s code changes neither."""
    return {
        "variants": [dataclasses.asdict(variant) for variant in found.variants],
        "sweeps": found.sweeps,
        "skipped": found.skipped,
        "references": found.references,
        "distributions": {
            name: distribution_to_json(distribution)
            for name, distribution in found.distributions.items()
        },
        "merged": found.merged,
        "train_size": found.train_size,
    }


def from_record(record: dict) -> Design:
    """The design a plan recorded (see `to_record`); KeyError, TypeError or ValueError for a
    record that is not one."""
    return Design(
        variants=[Variant(**variant) for variant in record["variants"]],
        sweeps={name: list(values) for name, values in record["sweeps"].items()},
        skipped=list(record["skipped"]),
        references=dict(record["references"]),
        distributions={
            name: json_to_distribution(text) for name, text in record["distributions"].items()
        },
        merged=dict(record["merged"]),
        train_size=record["train_size"],
    )


def design_of(recorded: Plan, search: optuna.Study, module) -> Design | None:
    """The design of an effects plan: the one it recorded; for a plan recorded before designs
    were (an older study), the one today's code makes around its winner, here alone. None
    for a recorded design that is not one (an edited storage)."""
    if recorded.design is None:
        winner = trial_numbered(search, recorded.sources[0])
        return design(winner.params, module, training_images(search))
    try:
        return from_record(recorded.design)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _trained_as(module, params: dict, train_size: int | None) -> str:
    """What a run of `params` trains, as text to compare: the study's configurations with
    the batch clamped to the training set as kerasnn clamps it."""
    model_config, train_config = module.suggest(Probe(params), TrainConfig())
    if train_size is not None:
        train_config = clamp_batch_size(train_config, train_size)
    return repr((model_config, train_config))


def training_images(search: optuna.Study) -> int | None:
    """The number of training images the study trains on when it stored one (--subset),
    which bounds its batches; None for the whole training set."""
    subset = search.user_attrs.get("subset")
    return subset if type(subset) is int and subset > 0 else None


def plan(source: int, variants: list[Variant], run_seeds: list[int]) -> dict[PlannedRun, dict]:
    """Every variant at every seed, seed by seed: an interrupted stage has seen them all."""
    return {
        PlannedRun(source, seed, variant.name): variant.params
        for seed in run_seeds
        for variant in variants
    }


def measure(answer, stage: Stage) -> None:
    """Runs this process's share of the effects stage around the confirmed winner of
    `answer`. Past the stage's deadline (--timeout) no run is started."""
    search = stage.search
    source = answer.winner.source
    _forget_an_old_winner(stage, source)
    confirmed = plans.recorded_plan(
        plans.load_companion(stage.storage, search.study_name, "confirmation")
    )
    around = design(trial_numbered(search, source).params, stage.module, training_images(search))
    asked = plans.asked_effects(source, search, stage.settings, confirmed)
    asked = dataclasses.replace(asked, design=to_record(around))
    effects, plan_now = planned_runs.start(stage, STAGE_NAME, asked)
    variants = from_record(plan_now.design).variants  # The recorded design binds.
    runs = plan(source, variants, list(plan_now.seeds))
    stage.progress.note(
        f"effects around trial {source}: {len(variants)} variants over {len(plan_now.seeds)} "
        f"fresh seeds each: {len(runs)} runs"
    )
    planned_runs.train_plan(effects, stage, runs, STAGE_NAME, keep_weights=False)


def _forget_an_old_winner(stage: Stage, source: int) -> None:
    """Drops the recorded plan of the effects around another winner than trial `source`
    (the confirmation was extended and crowned another), saying so: they start anew."""
    effects = plans.load_companion(stage.storage, stage.search.study_name, STAGE_NAME)
    recorded = plans.recorded_plan(effects)
    if recorded is not None and recorded.sources != (source,):
        stage.progress.note(
            f"the confirmed winner is now trial {source}, no longer trial "
            f"{recorded.sources[0]}; the effects stage plans around it"
        )
        effects.set_user_attr("plan", None)


# Outcomes that do not tell two values apart.
TIES = ("tied", "undecided")


@dataclasses.dataclass(frozen=True)
class Difference:
    """A variant's mean minus the winner's over seeds, judged by the one rule for "tied"."""

    comparison: stats.Comparison
    outcome: str  # "higher", "lower", "tied" or "undecided"


def judged(first: list[float], second: list[float]) -> Difference:
    """mean(first) - mean(second) by the one rule, `stats.compare` (Welch's t-test at 95%):
    "higher" or "lower" outside the seed noise, "tied" inside it, and "undecided" with fewer
    than two runs a side, where there is no noise to judge by."""
    comparison = stats.compare(first, second)
    outcome = {"better": "higher", "worse": "lower"}.get(comparison.outcome, comparison.outcome)
    return Difference(comparison, outcome)


@dataclasses.dataclass(frozen=True)
class Point:
    """One variant's runs: each measure once per seed, their spread and the step from the
    winner (None for the winner itself, and for a variant without runs)."""

    variant: Variant
    values: dict[str, list[float]]
    spreads: dict[str, stats.Spread] | None
    versus_winner: dict[str, Difference] | None


@dataclasses.dataclass(frozen=True)
class Effects:
    """The measured effects around one winner (a search trial), over the planned seeds."""

    source: int
    seeds: list[int]
    design: Design
    points: dict[str, Point]  # By variant name, the winner's first.

    @property
    def winner(self) -> Point:
        return self.points[WINNER]

    def sweep(self, name: str) -> list[tuple[object, Point]]:
        """The hyperparameter's values in order, each with its point (the winner's at its own)."""
        return [
            (
                value,
                self.points[
                    WINNER if value == self.winner.variant.params[name] else label(name, value)
                ],
            )
            for value in self.design.sweeps[name]
        ]


def results(effects: optuna.Study, search: optuna.Study, module) -> Effects | None:
    """The effects from the stored runs of the recorded plan, or None before any plan."""
    recorded = plans.recorded_plan(effects)
    if recorded is None or len(recorded.sources) != 1:
        return None
    if not 0 <= recorded.sources[0] < len(search.get_trials(deepcopy=False)):
        return None
    source, run_seeds = recorded.sources[0], list(recorded.seeds)
    shape = design_of(recorded, search, module)
    if shape is None:
        return None
    values: dict[str, dict[str, list[float]]] = {}
    for run, trial in planned_runs.complete_runs(effects, MEASURES):
        if run.source == source and run.seed in run_seeds and run.variant is not None:
            for key in MEASURES:
                values.setdefault(run.variant, {}).setdefault(key, []).append(trial.user_attrs[key])
    winner = values.get(WINNER)
    points = {}
    for variant in shape.variants:
        measured = values.get(variant.name)
        spreads = measured and {key: stats.spread(measured[key]) for key in MEASURES}
        versus = None
        if measured and winner and variant.name != WINNER:
            versus = {key: judged(measured[key], winner[key]) for key in MEASURES}
        points[variant.name] = Point(variant, measured or {}, spreads or None, versus)
    return Effects(source, run_seeds, shape, points)


def stored(storage, study_name: str, module) -> Effects | None:
    """The effects stored for study `study_name` in `storage`, or None."""
    effects = plans.load_companion(storage, study_name, STAGE_NAME)
    if effects is None:
        return None
    search = optuna.load_study(study_name=study_name, storage=storage)
    return results(effects, search, module)


def extreme(found: Effects, name: str, key: str, lowest: bool) -> tuple[object, list] | None:
    """The value of hyperparameter `name` with the lowest (or highest) mean `key`, and the
    values it cannot be told apart from by the one rule (itself included); None where the
    sweep is missing or a value has no runs."""
    if name not in found.design.sweeps:
        return None
    sweep = found.sweep(name)
    if any(point.spreads is None for _, point in sweep):
        return None
    sign = 1 if lowest else -1
    best_value, best = min(sweep, key=lambda item: sign * item[1].spreads[key].mean)
    tied = [
        value
        for value, point in sweep
        if point is best or judged(point.values[key], best.values[key]).outcome in TIES
    ]
    return best_value, tied
