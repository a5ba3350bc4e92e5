"""Recorded plans: what a stage after the search decided when it started, read, checked
like input and extended, by the confirmation and the effects stage alike.

A stage records its `Plan` (the search trials it trains again, the seeds and, for the
effects, the design) on its companion study when it starts, and everything after it (the answer, the report, the
dashboard note, `--workers`' count of work left) reads that record, never the flags of a
later command. A later command that asks for more extends the plan and says so; one that
asks for other seeds, or a record that is not a plan a stage wrote, is refused in one line
before anything is written (`check_plans`).
"""

from __future__ import annotations

import dataclasses

import optuna

from kerasnn import scoring
from studies.engine.ranking import best_trials
from studies.engine.study import companion_name, stored_study
from studies.errors import UsageError
from studies.settings import LIMITS, SEED_LIMIT, Settings


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
    confirmation's candidates, the effects' winner), the seeds of every run and, for the
    effects, its design (the variants with their parameters: engine.effects.to_record)."""

    sources: tuple[int, ...]
    seeds: tuple[int, ...]
    design: dict | None = None

    def attr(self) -> dict:
        named = {"source_trials": list(self.sources), "seeds": list(self.seeds)}
        return named if self.design is None else {**named, "design": self.design}

    def __str__(self) -> str:
        trials = ", ".join(map(str, self.sources))
        return f"trial(s) {trials} over seeds {', '.join(map(str, self.seeds))}"


# The most search trials and seeds a recorded plan may name: what one command may ask for
# (--confirm-top, --confirm-seeds, --effects-seeds), each stage's plan growing to at most
# that by later commands. A record beyond them was not written by a stage.
MAX_PLAN_SOURCES = LIMITS["confirm_top"]
MAX_PLAN_SEEDS = max(LIMITS["confirm_seeds"], LIMITS["effects_seeds"])
# Far more variants than any study's sweeps make (a few values per scientific hyperparameter).
MAX_PLAN_VARIANTS = 1000


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
    return _design_problem(raw.get("design"))


def _design_problem(design) -> str | None:
    """What makes a recorded design unusable, or None (also for no design: an old plan)."""
    if design is None:
        return None
    variants = design.get("variants") if isinstance(design, dict) else None
    named = isinstance(variants, list) and 0 < len(variants) <= MAX_PLAN_VARIANTS
    if not named or not all(
        isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("params"), dict)
        for v in variants
    ):
        return "holds a design that does not list its variants with their parameters"
    return None


def recorded_plan(companion) -> Plan | None:
    """The plan recorded on a stage's companion study (or its summary); None before one, and
    for a record that is not a plan (see `plan_problem`, which `check_recorded` says)."""
    raw = companion.user_attrs.get("plan") if companion is not None else None
    if raw is None or plan_problem(raw) is not None:
        return None
    sources = raw.get("source_trials", [raw.get("source_trial")])
    return Plan(tuple(sources), tuple(raw["seeds"]), raw.get("design"))


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
    A recorded design binds; a plan recorded before designs were takes the asked one.

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
    plan = Plan(sources, longer, recorded.design or asked.design)
    grew = (plan.sources, plan.seeds) != (recorded.sources, recorded.seeds)
    return plan, f"extending the recorded plan to {plan}" if grew else None


def load_companion(storage, search_name: str, stage_name: str) -> optuna.Study | None:
    """The stored companion study of stage `stage_name` ("confirmation", "effects") of
    study `search_name`, or None when the stage has not started."""
    name = companion_name(search_name, stage_name)
    if stored_study(storage, name) is None:
        return None
    return optuna.load_study(study_name=name, storage=storage)


def open_companion(storage, settings: Settings, stage_name: str) -> optuna.Study:
    """The companion study of stage `stage_name`, created on first use."""
    companion = optuna.create_study(
        storage=storage,
        study_name=companion_name(settings.study_name, stage_name),
        direction=scoring.DIRECTION,
        sampler=optuna.samplers.RandomSampler(seed=settings.seed),
        pruner=optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    if "search_study" not in companion.user_attrs:
        companion.set_user_attr("search_study", settings.study_name)
        companion.set_metric_names(["objective"])
    return companion


def asked_confirmation(search: optuna.Study, settings: Settings, effects_plan: Plan | None) -> Plan:
    """What this command asks the confirmation for: the search's best `--confirm-top`
    configurations over `--confirm-seeds` seeds that neither the search nor the effects use."""
    taken = effects_plan.seeds if effects_plan else ()
    seeds = fresh_seeds(search, settings, settings.confirm_seeds, taken)
    sources = [trial.number for trial in best_trials(search, settings.confirm_top)]
    return Plan(tuple(sources), tuple(seeds))


def asked_effects(source: int, search: optuna.Study, settings: Settings, confirmed: Plan | None):
    """What this command asks the effects stage for: the variants around trial `source`
    over `--effects-seeds` seeds that neither the search nor the confirmation used."""
    taken = confirmed.seeds if confirmed else ()
    return Plan((source,), tuple(fresh_seeds(search, settings, settings.effects_seeds, taken)))


def check_plans(storage, settings: Settings) -> None:
    """Refuses, before anything is written, a stored study whose recorded plans are not ones
    a stage wrote (`check_recorded`), and a command that would plan its stages over other
    seeds than they recorded (another --seed, say): its answer would not be the study's.
    Asking for more (seeds, candidates) passes, and extends them."""
    search_name = settings.study_name
    if settings.fresh or stored_study(storage, search_name) is None:
        return
    search = optuna.load_study(study_name=search_name, storage=storage)
    confirmation = load_companion(storage, search_name, "confirmation")
    varied = load_companion(storage, search_name, "effects")
    for companion in (confirmation, varied):
        check_recorded(companion, len(search.get_trials(deepcopy=False)))
    confirmed, measured = recorded_plan(confirmation), recorded_plan(varied)
    try:
        if settings.confirm_top and confirmed is not None:
            settle(confirmed, asked_confirmation(search, settings, measured))
        if settings.effects_seeds and measured is not None and measured.sources:
            settle(measured, asked_effects(measured.sources[0], search, settings, confirmed))
    except UsageError as error:
        raise UsageError(
            f"study {search_name!r}: {error}; use another --study-name for a new study, or "
            "--fresh to start this one again"
        ) from None
