"""kerasnn.scoring on hand-made results."""

from __future__ import annotations

import math

import pytest

from kerasnn import DivergedError, TrainResult, pareto, penalized, score
from kerasnn.scoring import DIRECTION, PARETO_DIRECTIONS


def _result(train_accuracy, val_accuracy, diverged=False, best_epoch=3):
    history = {"val_accuracy": [val_accuracy] * 3, "seconds": [1.0] * 3}
    return TrainResult(
        history=history,
        best_epoch=best_epoch,
        train_accuracy=train_accuracy,
        train_loss=0.3,
        val_accuracy=val_accuracy,
        val_loss=0.4,
        test_accuracy=0.5,
        test_loss=0.5,
        diverged=diverged,
        divergence_reason="non-finite loss at epoch 2" if diverged else "",
    )


def test_penalized_subtracts_the_weighted_gap():
    result = _result(train_accuracy=0.95, val_accuracy=0.88)
    assert penalized(result) == pytest.approx(0.88 - 0.07)
    assert penalized(result, gap_weight=0.5) == pytest.approx(0.88 - 0.035)
    assert penalized(result, gap_weight=0.0) == pytest.approx(0.88)
    assert DIRECTION == "maximize"


def test_validation_above_training_is_not_rewarded():
    assert penalized(_result(train_accuracy=0.80, val_accuracy=0.82)) == pytest.approx(0.82)


def test_a_model_that_learns_nothing_scores_worse_than_a_slightly_overfit_one():
    chance = _result(train_accuracy=0.10, val_accuracy=0.10)  # gap 0
    overfit = _result(train_accuracy=0.95, val_accuracy=0.88)
    assert penalized(overfit) > penalized(chance)


def test_pareto_pair_is_accuracy_and_gap():
    assert pareto(_result(0.95, 0.88)) == pytest.approx((0.88, 0.07))
    assert PARETO_DIRECTIONS == ("maximize", "minimize")


def test_diverged_or_empty_runs_are_not_scored():
    with pytest.raises(DivergedError, match="non-finite loss"):
        penalized(_result(0.1, 0.1, diverged=True))
    with pytest.raises(DivergedError, match="no epoch"):
        pareto(_result(math.nan, math.nan, best_epoch=0))


@pytest.mark.parametrize("gap_weight", [-1.0, math.inf, math.nan])
def test_bad_gap_weight_is_rejected(gap_weight):
    with pytest.raises(ValueError, match="gap_weight"):
        score(0.9, 0.95, gap_weight)
