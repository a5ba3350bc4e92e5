"""Which completed trials are best: the recommendation rule, shared by confirmation and report."""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState


def best_trials(study: optuna.Study, top: int) -> list[optuna.trial.FrozenTrial]:
    """The study's best `top` completed trials, best first: the recommendation rule.

    By the objective; in a Pareto study, among the Pareto-optimal trials (no other trial has
    both a higher validation accuracy and a smaller gap), by the penalized score
    val_accuracy - gap_weight * max(0, gap), the single-objective study's trade-off.
    """
    pool = (
        study.best_trials
        if len(study.directions) > 1
        else study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    )
    # A trial whose stored objective is not a finite number (an edited storage) is not ranked.
    pool = [trial for trial in pool if _finite(trial.user_attrs.get("objective"))]
    return sorted(pool, key=lambda trial: (-trial.user_attrs["objective"], trial.number))[:top]


def recommended(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best search trial by the rule of `best_trials`, or None."""
    best = best_trials(study, 1)
    return best[0] if best else None


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
