"""The overfitting-aware objective: validation accuracy, penalised for a train-validation gap."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kerasnn.training import TrainResult

# Direction of `penalized`: higher is better.
DIRECTION = "maximize"
# Directions of `pareto`: (validation accuracy, gap).
PARETO_DIRECTIONS = ("maximize", "minimize")
# How many points of validation accuracy one point of overfitting costs.
DEFAULT_GAP_WEIGHT = 1.0


class DivergedError(ValueError):
    """The run diverged, so it has no score."""


def penalized(result: TrainResult, gap_weight: float = DEFAULT_GAP_WEIGHT) -> float:
    """score = val_accuracy - gap_weight * max(0, train_accuracy - val_accuracy), at the best epoch.

    Validation accuracy stays in the score on purpose: a gap-only objective is minimised
    by a network that learns nothing (train and validation both at chance, gap 0). Only
    overfitting is penalised; a model better on validation than on training data (common
    with heavy dropout) is not rewarded for it. Training accuracy is measured in inference
    mode on the whole training set. Direction: `DIRECTION` (maximize).

    Raises:
        DivergedError: the run diverged or finished no epoch; it is reported, not scored.
    """
    val_accuracy, _ = pareto(result)
    return score(val_accuracy, result.train_accuracy, gap_weight)


def score(
    val_accuracy: float, train_accuracy: float, gap_weight: float = DEFAULT_GAP_WEIGHT
) -> float:
    """The penalized formula on plain numbers, e.g. to report it after every epoch."""
    if not (math.isfinite(gap_weight) and gap_weight >= 0):
        raise ValueError(f"gap_weight must be a finite number >= 0, got {gap_weight!r}")
    return val_accuracy - gap_weight * max(0.0, train_accuracy - val_accuracy)


def pareto(result: TrainResult) -> tuple[float, float]:
    """(validation accuracy, train-validation gap) at the best epoch.

    Directions: `PARETO_DIRECTIONS` (maximize accuracy, minimize gap).
    """
    if result.diverged:
        raise DivergedError(f"run diverged: {result.divergence_reason}")
    if not result.best_epoch:
        raise DivergedError("run finished no epoch")
    values = (result.val_accuracy, result.gap)
    if not all(math.isfinite(value) for value in values):
        raise DivergedError(f"non-finite accuracy: {values}")
    return float(values[0]), float(values[1])
