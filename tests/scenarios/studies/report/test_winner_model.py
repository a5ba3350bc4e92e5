"""winner.keras: the median confirmation run's network, loadable without kerasnn, on the
TensorFlow and JAX backends, taking images as the datasets ship them (uint8, 0-255) and
predicting what its run measured; written by --report-only."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import require
from services import cli

from kerasnn import stats
from kerasnn.export import RawInput, contract, model_name
from studies.engine import confirm
from studies.engine import winner_model as winner
from studies.engine.confirm import Answer, Confirmed
from studies.report import answer_file
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
assert x.dtype == np.uint8  # The images as the datasets ship them.
predicted = model.predict(x, batch_size=2048, verbose=0).argmax(axis=1)
try:
    import kerasnn  # noqa: F401
    importable = True
except ImportError:
    importable = False
print(json.dumps({"backend": keras.backend.backend(), "correct": int((predicted == y).sum()),
                  "kerasnn": importable, "name": model.name,
                  "first": type(model.layers[1]).__name__, "input": str(model.inputs[0].dtype)}))
"""


def raw(images: np.ndarray) -> np.ndarray:
    """The uint8 pixels the loaded images were scaled from (0-1 floats, each a pixel / 255)."""
    return np.rint(images * 255).astype(np.uint8)


def predicted(model, x, y, backend: str, tmp_path) -> dict:
    """What winner.keras, loaded by a process without kerasnn on `backend`, makes of x."""
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
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
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_winner_keras_loads_without_kerasnn_and_reproduces_its_runs_validation_accuracy(
    study, backend, mnist, tmp_path
):
    require(importlib.util.find_spec(backend) is not None, f"{backend} is not installed")
    place, run = study
    model = place / "reports" / NAME / "winner.keras"
    x, y = raw(mnist.x_validation), mnist.y_validation
    found = predicted(model, x, y, backend, tmp_path)
    assert found["backend"] == backend and not found["kerasnn"]
    assert found["correct"] == round(run.user_attrs["val_accuracy"] * len(y))
    # The file states its input itself.
    assert found["input"] == "uint8" and found["first"] == "Normalization"
    assert found["name"] == model_name(RawInput(), (28, 28))


@pytest.mark.slow
def test_winner_keras_fed_raw_test_images_scores_its_runs_stored_test_accuracy(
    study, mnist, tmp_path
):
    place, run = study
    folder = place / "reports" / NAME
    seed = run.user_attrs["seed"]
    confirmations = pd.read_csv(folder / "confirm.csv")
    [row] = confirmations[confirmations["number"] == run.number].to_dict("records")
    assert row["seed"] == seed and row["val_accuracy"] == pytest.approx(
        run.user_attrs["val_accuracy"]
    )
    x, y = raw(mnist.x_test), mnist.y_test
    found = predicted(folder / "winner.keras", x, y, "tensorflow", tmp_path)
    assert found["correct"] == round(row["test_accuracy"] * len(y))
    summary = (folder / "summary.md").read_text()
    assert f"test accuracy {row['test_accuracy']:.4f} (its own run's)" in summary
    assert contract(RawInput(), (28, 28), 10) in summary


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
def test_report_only_writes_winner_keras_and_answer_json_from_the_storage_without_training(
    study, monkeypatch, capsys
):
    place, _ = study
    path = place / "reports" / NAME / "winner.keras"
    path.unlink()

    def no_training(*args, **kwargs):
        raise AssertionError("--report-only trained a network")

    monkeypatch.setattr("kerasnn.training.train", no_training)
    monkeypatch.setattr("studies.engine.runs.train", no_training)
    (path.parent / "answer.json").unlink()
    assert cli(options(place, "--report-only"), capsys).code == 0
    assert path.stat().st_size > 0
    # The answer as data and the machine the study ran on, from the storage alone too.
    assert answer_file.read(path.parent)["winner_file"]["name"] == "winner.keras"
    summary = (path.parent / "summary.md").read_text()
    assert "- machine: " in summary and "- versions: Python " in summary


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
