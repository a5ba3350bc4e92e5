"""Findings are computed from the trials: medians per group, small groups left out of words."""

from __future__ import annotations

import pandas as pd

from studies.report import findings


def trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "number": range(8),
            "dropout_rate": [0.0, 0.1, 0.1, 0.2, 0.3, 0.4, 0.4, 0.5],
            "activation": ["relu"] * 4 + ["sigmoid"] * 3 + ["tanh"],
            "val_accuracy": [0.80, 0.82, 0.84, 0.86, 0.85, 0.87, 0.88, 0.86],
            "gap": [0.08, 0.07, 0.06, 0.05, 0.02, 0.01, 0.02, 0.00],
        }
    )


def test_a_numeric_hyperparameter_is_split_at_its_median_with_each_halfs_medians():
    low, high = findings.effects(trials(), "dropout_rate")
    assert (low["group"], low["trials"]) == ("dropout_rate < 0.25", 4)
    assert low["gap"] == 0.065 and high["gap"] == 0.015
    sentence = findings.sentences(trials(), ["dropout_rate"])[0]
    assert "0.0150 for dropout_rate >= 0.25 (4 trials) against 0.0650" in sentence


def test_groups_of_fewer_than_three_trials_stay_out_of_the_sentences():
    groups = {group["group"] for group in findings.effects(trials(), "activation")}
    assert "activation = tanh" in groups  # One trial: in the figure's data ...
    [sentence] = findings.sentences(trials(), ["activation"])
    assert "tanh" not in sentence  # ... but not worded as a finding.
    assert "activation = sigmoid (3 trials)" in sentence
