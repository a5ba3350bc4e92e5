"""winner.keras: the median confirmation run's network, loadable without kerasnn, on the
TensorFlow and JAX backends, predicting what its run measured; written by --report-only."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import optuna
import pytest
from conftest import require
from services import cli

from kerasnn import stats
from studies.engine import confirm
from studies.engine import winner_model as winner
from studies.engine.confirm import Answer, Confirmed
from studies.run import main

NAME = "overfitting-mnist-subset1000-epochs2"


def options(place, *extra) -> list[str]:
    return [
        *("--dataset", "mnist", "--subset", "1000", "--epochs", "2", "--trials", "3"),
        *("--confirm-top", "2", "--confirm-seeds", "3"),
        *("--storage", f"sqlite:///{place}/s.db", "--reports", str(place / "reports")),
        *extra,
    ]


def stored(place):
    storage = f"sqlite:///{place}/s.db"
    search = optuna.load_study(study_name=NAME, storage=storage)
    confirmation = optuna.load_study(study_name=NAME + confirm.SUFFIX, storage=storage)
    return search, confirmation


@pytest.fixture(scope="module")
def study(tmp_path_factory, data_dir):
    """A small confirmed study: its folder, and the median run of its winner."""
    place = tmp_path_factory.mktemp("winner")
    assert main(options(place)) == 0
    search, confirmation = stored(place)
    answer = confirm.answer(search, confirmation)
    return place, winner.median_run(search, confirmation, answer)


# The check run in a process of its own: kerasnn and studies made unimportable first.
LOAD = """
import json, sys
sys.modules["kerasnn"] = sys.modules["studies"] = None  # Any import of them now fails.
import keras
import numpy as np
model = keras.saving.load_model(sys.argv[1])
x, y = np.load(sys.argv[2]), np.load(sys.argv[3])
predicted = model.predict(x, batch_size=2048, verbose=0).argmax(axis=1)
try:
    import kerasnn  # noqa: F401
    importable = True
except ImportError:
    importable = False
print(json.dumps({"backend": keras.backend.backend(), "accuracy": float((predicted == y).mean()),
                  "kerasnn": importable}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_winner_keras_loads_without_kerasnn_and_reproduces_its_runs_validation_accuracy(
    study, backend, mnist, tmp_path
):
    require(importlib.util.find_spec(backend) is not None, f"{backend} is not installed")
    place, run = study
    np.save(tmp_path / "x.npy", mnist.x_validation)
    np.save(tmp_path / "y.npy", mnist.y_validation)
    model = place / "reports" / NAME / "winner.keras"
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            LOAD,
            str(model),
            *(str(tmp_path / f) for f in ("x.npy", "y.npy")),
        ],
        cwd=tmp_path,  # Outside the repository, and -I keeps it and PYTHONPATH off sys.path.
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["backend"] == backend and not found["kerasnn"]
    assert found["accuracy"] == pytest.approx(run.user_attrs["val_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_summary_names_the_median_run_and_the_study_carries_its_network(study):
    place, run = study
    search, confirmation = stored(place)
    objectives = sorted(
        trial.user_attrs["objective"]
        for trial in confirmation.trials
        if trial.user_attrs["source_trial"] == run.user_attrs["source_trial"]
    )
    assert run.user_attrs["objective"] == objectives[1]  # The middle one of three.
    summary = (place / "reports" / NAME / "summary.md").read_text()
    assert (
        f"confirmation run {run.number} (seed {run.user_attrs['seed']}), the median of the "
        "winner's 3 runs" in summary
    )
    assert f"validation accuracy {run.user_attrs['val_accuracy']:.4f}" in summary
    assert search.user_attrs[winner.ATTACHED]["confirmation_run"] == run.number
    names = [meta.filename for meta in optuna.artifacts.get_all_artifact_meta(search)]
    assert names == [winner.attached_name(run)]


@pytest.mark.slow
def test_report_only_writes_winner_keras_from_the_stored_weights_without_training(
    study, monkeypatch, capsys
):
    place, _ = study
    path = place / "reports" / NAME / "winner.keras"
    path.unlink()

    def no_training(*args, **kwargs):
        raise AssertionError("--report-only trained a network")

    monkeypatch.setattr("kerasnn.training.train", no_training)
    monkeypatch.setattr("studies.engine.runs.train", no_training)
    assert cli(options(place, "--report-only"), capsys).code == 0
    assert path.stat().st_size > 0


@pytest.mark.slow
def test_missing_weights_are_one_warning_line_and_a_note(study, capsys, tmp_path):
    place, run = study
    copy = tmp_path / "copy"
    # A copy of the study whose artifacts folder lost every file: the weights are missing.
    (copy / "reports" / "artifacts").mkdir(parents=True)
    (copy / "s.db").write_bytes((place / "s.db").read_bytes())
    outcome = cli(options(copy, "--report-only"), capsys)
    assert outcome.code == 0 and "Traceback" not in outcome.err
    said = [line for line in outcome.err.splitlines() if "winner.keras" in line]
    assert len(said) == 1 and said[0].startswith("warning: winner.keras not written: ")
    assert not (copy / "reports" / NAME / "winner.keras").exists()
    assert said[0].removeprefix("warning: ") in (copy / "reports" / NAME / "summary.md").read_text()


def _run(seed: int, objective: float) -> optuna.trial.FrozenTrial:
    attrs = {"source_trial": 4, "seed": seed, "objective": objective}
    return optuna.trial.create_trial(
        value=objective, user_attrs={**attrs, "val_accuracy": objective, "gap": 0.0}
    )


@pytest.mark.parametrize(
    ("objectives", "median"),
    [([0.5, 0.7, 0.6], 0.6), ([0.7, 0.5], 0.5), ([0.6, 0.6, 0.6], 0.6)],
    ids=["odd", "even-takes-the-lower", "ties"],
)
def test_the_median_run_is_the_middle_objective_of_the_winners_runs(objectives, median):
    confirmation = optuna.create_study(direction="maximize")
    for seed, objective in enumerate(objectives, start=1):
        confirmation.add_trial(_run(seed, objective))
    seeds = list(range(1, len(objectives) + 1))
    spread = stats.spread(objectives)
    answer = Answer([Confirmed(4, {}, seeds, {"objective": spread}, None)], 0.0, None)
    search = optuna.create_study(direction="maximize")
    for _ in range(5):
        search.add_trial(optuna.trial.create_trial(value=0.5))
    chosen = winner.median_run(search, confirmation, answer)
    assert chosen.user_attrs["objective"] == median
    if len(set(objectives)) == 1:
        assert chosen.user_attrs["seed"] == 2  # Ties broken by seed: the middle one.
