"""studies.run end to end on small subsets: reports, continuation, report-only, Pareto, seeding."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pandas as pd
import pytest
from services import ROOT

from studies.run import main

REQUIRED_COLUMNS = ["rank", "number", "state", "objective", "val_accuracy", "train_accuracy"]
REQUIRED_COLUMNS += ["gap", "best_epoch", "epochs"]
REPORT_FILES = [
    "trials.csv",
    "trials.md",
    "summary.md",
    "history.png",
    "importances.png",
    "slices.png",
    "curves.png",
    "weights.png",
]


def _options(tmp_path, *extra):
    return [
        "--subset",
        "1500",
        "--epochs",
        "2",
        "--storage",
        f"sqlite:///{tmp_path}/studies.db",
        "--reports",
        str(tmp_path / "reports"),
        "--confirm-top",
        "0",
        *extra,
    ]


# The default name of these runs' study: every identity setting that differs is in it.
NAME = "overfitting-fashion_mnist-subset1500-epochs2"


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory, data_dir):
    tmp_path = tmp_path_factory.mktemp("study")
    assert main(_options(tmp_path, "--trials", "3")) == 0
    return tmp_path


def test_default_study_writes_a_complete_ranked_report(finished_study):
    folder = finished_study / "reports" / NAME
    for name in REPORT_FILES:
        assert (folder / name).stat().st_size > 0, name
    table = pd.read_csv(folder / "trials.csv")
    assert set(REQUIRED_COLUMNS) <= set(table.columns)
    assert {"batch_size", "dropout_rate", "activation", "penalty"} <= set(table.columns)
    complete = table[table["state"] == "COMPLETE"]
    assert complete["objective"].is_monotonic_decreasing
    assert complete["rank"].tolist() == list(range(1, len(complete) + 1))
    assert (
        complete["gap"] - (complete["train_accuracy"] - complete["val_accuracy"])
    ).abs().max() < 1e-6
    summary = (folder / "summary.md").read_text()
    assert "python -m studies.run overfitting --trials 3 --epochs 2 --subset 1500" in summary
    assert f"trial {int(complete.iloc[0]['number'])}" in summary
    assert "test_accuracy" not in table.columns  # The search never sees the test set.


def test_rerun_continues_the_study_and_extends_it(finished_study, capsys):
    assert main(_options(finished_study, "--trials", "3")) == 0
    assert "continuing: 3 of 3 trials" in capsys.readouterr().out
    assert main(_options(finished_study, "--trials", "4")) == 0
    study = optuna.load_study(study_name=NAME, storage=f"sqlite:///{finished_study}/studies.db")
    assert len(study.trials) == 4


def test_report_only_rebuilds_the_same_table_from_storage(finished_study):
    folder = finished_study / "reports" / NAME
    before = (folder / "trials.csv").read_text()
    for name in REPORT_FILES:
        (folder / name).unlink()
    assert main(_options(finished_study, "--trials", "4", "--report-only")) == 0
    assert (folder / "trials.csv").read_text() == before
    assert all((folder / name).exists() for name in REPORT_FILES)


def test_pareto_objective_draws_the_front_and_marks_it(tmp_path, data_dir):
    assert main(_options(tmp_path, "--trials", "3", "--objective", "pareto")) == 0
    folder = tmp_path / "reports" / "overfitting-fashion_mnist-pareto-subset1500-epochs2"
    assert (folder / "pareto.png").stat().st_size > 0
    table = pd.read_csv(folder / "trials.csv")
    assert table["pareto_front"].any()
    assert table.iloc[0]["pareto_front"]  # The recommended trial comes from the front.


def test_same_command_on_fresh_storage_gives_the_same_trials(tmp_path, data_dir):
    runs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        assert main(_options(folder, "--trials", "2", "--epochs", "1")) == 0
        study = optuna.load_study(
            study_name="overfitting-fashion_mnist-subset1500-epochs1",
            storage=f"sqlite:///{folder}/studies.db",
        )
        runs.append([(trial.params, trial.values) for trial in study.trials])
    assert runs[0] == runs[1]


def test_list_and_help_work_without_training():
    listing = subprocess.run(
        [sys.executable, "-m", "studies.run", "--list"], cwd=ROOT, capture_output=True, text=True
    )
    assert listing.returncode == 0
    assert listing.stdout.startswith("overfitting ")
    helped = subprocess.run(
        [sys.executable, "-m", "studies.run", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert helped.returncode == 0
    for option in ("--trials", "--storage", "--report-only", "--objective", "--sampler"):
        assert option in helped.stdout
