"""Tests of the report's details that a whole run would not show."""

from __future__ import annotations

import re

import optuna

from studies.report import summary
from studies.report.figures import weight_labels


def trial_with(model_config: dict) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(value=0.5, user_attrs={"model_config": model_config})


def test_softmax_regression_weights_are_labelled_with_the_datasets_class_names():
    regression = trial_with({"hidden_units": 0})
    assert weight_labels(regression, "fashion_mnist")[:2] == ["T-shirt/top", "Trouser"]
    assert weight_labels(regression, "mnist") == [str(digit) for digit in range(10)]


def test_hidden_units_are_not_labelled_as_classes_even_when_there_are_ten():
    assert weight_labels(trial_with({"hidden_units": 10}), "fashion_mnist") is None


def edited_storage(path) -> str:
    """A study and its confirmation as a user's edits (or another tool) may leave them: a
    run without its source, a seed "NaN", an objective that is text."""
    url = f"sqlite:///{path}"
    search = optuna.create_study(study_name="edited", storage=url, direction="maximize")
    search.set_user_attr("study", "overfitting")
    attrs = {"val_accuracy": 0.8, "train_accuracy": 0.81, "gap": 0.01, "epochs": 2}
    distribution = {"dropout_rate": optuna.distributions.FloatDistribution(0, 0.5)}
    for number, objective in enumerate([0.79, "high"]):
        search.add_trial(
            optuna.trial.create_trial(
                value=0.79,
                params={"dropout_rate": 0.1 * (number + 1)},
                distributions=distribution,
                user_attrs={**attrs, "objective": objective},
            )
        )
    confirmation = optuna.create_study(study_name="edited-confirm", storage=url)
    for extra in [{"seed": 1}, {"source_trial": 0, "seed": "NaN"}, {"source_trial": 0, "seed": 2}]:
        run = {**attrs, "objective": 0.79, **extra}
        confirmation.add_trial(
            optuna.trial.create_trial(
                value=0.79,
                params={"dropout_rate": 0.1},  # Trial 0's: a run trains its source's.
                distributions=distribution,
                user_attrs=run,
            )
        )
    return url


def test_a_report_of_an_edited_storage_is_written_without_a_traceback(tmp_path, capsys):
    from studies.run import main

    url = edited_storage(tmp_path / "e.db")
    arguments = ["--study-name", "edited", "--storage", url, "--reports", str(tmp_path)]
    assert main([*arguments, "--report-only"]) == 0
    confirm_csv = (tmp_path / "edited" / "confirm.csv").read_text()
    assert "NaN" in confirm_csv and len(confirm_csv.splitlines()) == 4
    summary = (tmp_path / "edited" / "summary.md").read_text()
    assert "## Answer: trial 0's configuration" in summary
    assert "(1 run)" in summary  # One usable run: its mean, and no spread pretended.
    # The figures are shown, findings.png in the section it belongs to, the rest together.
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", summary)
    assert {"findings.png", "history.png", "weights.png"} <= set(shown)
    assert all((tmp_path / "edited" / name).is_file() for name in shown)
    observational = summary.index("## What the search happened to try")
    assert observational < summary.index("](findings.png)") < summary.index("## Figures")


def test_the_summary_shows_only_the_figures_its_folder_holds(tmp_path):
    for name in ("curves.png", "history.png"):
        (tmp_path / name).write_bytes(b"\x89PNG")
    assert summary.figures_lines(tmp_path) == [
        "## Figures",
        "",
        "![optimisation history of the search](history.png)",
        "",
        "![training and validation loss and accuracy per epoch of the best trials](curves.png)",
        "",
    ]
    assert summary.figures_lines(tmp_path / "nothing drawn") == []
