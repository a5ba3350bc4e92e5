"""Tests of the report's details that a whole run would not show."""

from __future__ import annotations

import optuna

from studies.report.figures import weight_labels


def trial_with(model_config: dict) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(value=0.5, user_attrs={"model_config": model_config})


def test_softmax_regression_weights_are_labelled_with_the_datasets_class_names():
    regression = trial_with({"hidden_units": 0})
    assert weight_labels(regression, "fashion_mnist")[:2] == ["T-shirt/top", "Trouser"]
    assert weight_labels(regression, "mnist") == [str(digit) for digit in range(10)]


def test_hidden_units_are_not_labelled_as_classes_even_when_there_are_ten():
    assert weight_labels(trial_with({"hidden_units": 10}), "fashion_mnist") is None
