"""A user's own data through whole studies: scikit-learn's digits from the docs' commands end to
end, Fashion-MNIST saved as .npz giving its named trials to the digit, a CIFAR-10 layout
folder on the fast paths and the JAX population, and a study refused other data."""

from __future__ import annotations

import importlib.util
import pickle
import re
import subprocess
import sys

import keras
import numpy as np
import optuna
import pytest
from conftest import ROOT, require
from services import SMALL, cli, jax_environment, refuses

from kerasnn import compiled, load_dataset
from kerasnn.data import read_idx_folder
from studies import dataset_identity
from studies.engine import confirm
from studies.engine import winner_model as winner


def docs_code(page: str, starts: str) -> str:
    """The python block of docs/`page` whose first line starts with `starts`."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)
    return next(block for block in blocks if block.startswith(starts))


def where(place) -> list[str]:
    return ["--storage", f"sqlite:///{place}/s.db", "--reports", str(place / "reports")]


def test_the_docs_digits_study_searches_confirms_reports_and_exports_a_winner(
    tmp_path, monkeypatch, capsys
):
    require(importlib.util.find_spec("sklearn") is not None, "scikit-learn is not installed")
    monkeypatch.chdir(tmp_path)
    exec(docs_code("data.md", "import numpy as np\nfrom sklearn"), {})  # Writes digits.npz.
    command = "python -m studies.run --dataset digits.npz"
    assert command in (ROOT / "docs" / "data.md").read_text()
    small = ["--trials", "3", "--epochs", "5", "--confirm-top", "2", "--confirm-seeds", "2"]
    outcome = cli([*command.split()[3:], *small, *where(tmp_path)], capsys)
    assert outcome.code == 0, outcome.err
    name = "overfitting-digits-epochs5"
    data = load_dataset("digits.npz")
    summary = (tmp_path / "reports" / name / "summary.md").read_text()
    assert "- dataset: digits (digits.npz): 1,283 / 257 / 257 train" in summary
    assert data.fingerprint in summary and "## Answer" in summary
    storage = f"sqlite:///{tmp_path}/s.db"
    search = optuna.load_study(study_name=name, storage=storage)
    confirmation = optuna.load_study(study_name=name + confirm.SUFFIX, storage=storage)
    assert dataset_identity.identity(search.user_attrs) == data.identity()
    run = winner.median_run(search, confirmation, confirm.answer(search, confirmation))
    model = keras.saving.load_model(tmp_path / "reports" / name / "winner.keras")
    assert model.input_shape == (None, 8, 8) and model.output_shape == (None, 10)
    predicted = model.predict(data.x_validation, verbose=0).argmax(axis=1)
    accuracy = float((predicted == data.y_validation).mean())
    assert accuracy == pytest.approx(run.user_attrs["val_accuracy"], abs=1e-6)
    test = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    assert 0.0 < test["accuracy"] <= 1.0


def test_fashion_mnist_saved_as_npz_gives_the_named_datasets_trials_to_the_digit(
    tmp_path, data_dir, capsys
):
    (x_train, y_train), (x_test, y_test) = read_idx_folder(data_dir / "fashion-mnist")
    path = tmp_path / "fashion_mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    small = ["--subset", "1000", "--epochs", "1", "--trials", "2", "--confirm-top", "0"]
    studies = {}
    for index, dataset in enumerate(("fashion_mnist", str(path))):
        place = tmp_path / f"run{index}"
        place.mkdir()
        assert cli(["--dataset", dataset, *small, *where(place)], capsys).code == 0
        name = "overfitting-fashion_mnist-subset1000-epochs1"
        studies[dataset] = optuna.load_study(study_name=name, storage=f"sqlite:///{place}/s.db")
    named, saved = studies.values()
    assert (
        dataset_identity.identity(named.user_attrs)["fingerprint"]
        == (dataset_identity.identity(saved.user_attrs)["fingerprint"])
    )
    assert len(named.trials) == len(saved.trials) == 2
    for ours, theirs in zip(named.trials, saved.trials, strict=True):
        assert ours.params == theirs.params and ours.values == theirs.values
        measured = {key for key in ours.user_attrs["history"] if key != "seconds"}
        for key in measured:  # Every curve, epoch by epoch; only the clock differs.
            assert ours.user_attrs["history"][key] == theirs.user_attrs["history"][key], key


def cifar_layout(folder, per_batch: int = 30):
    """A tiny CIFAR-10 python folder of random 32x32x3 images, ten classes, as pickled
    dicts with bytes keys and uint8 arrays: the real files' layout."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for name in [*(f"data_batch_{index}" for index in range(1, 6)), "test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [index % 10 for index in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    names = [f"class {index}".encode() for index in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    return folder


def test_a_cifar_layout_folder_runs_a_study_on_the_compiled_tensorflow_path(tmp_path, capsys):
    folder = cifar_layout(tmp_path / "cifar-10-batches-py")
    small = ["--epochs", "2", "--trials", "2", "--confirm-top", "1", "--confirm-seeds", "2"]
    outcome = cli(["--dataset", str(folder), *small, *where(tmp_path)], capsys)
    assert outcome.code == 0, outcome.err
    assert "training with model.fit" not in outcome.err  # No fall back from the fast path.
    assert any(key[0][0] == (32, 32, 3) for key in compiled._COMPILED)
    name = "overfitting-cifar-10-batches-py-epochs2"
    model = keras.saving.load_model(tmp_path / "reports" / name / "winner.keras")
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)


@pytest.mark.slow
def test_a_cifar_layout_folder_trains_as_a_jax_population(tmp_path):
    require(importlib.util.find_spec("jax") is not None, "JAX is not installed: pip install jax")
    folder = cifar_layout(tmp_path / "cifar")
    script = (
        "import runpy, sys\n"
        "sys.modules['tensorflow'] = None\n"
        "sys.argv = ['studies.run', *sys.argv[1:]]\n"
        "runpy.run_module('studies.run', run_name='__main__')\n"
    )
    arguments = ["--dataset", str(folder), "--epochs", "2", "--trials", "2"]
    arguments += ["--population", "2", "--confirm-top", "1", "--confirm-seeds", "2"]
    arguments += ["--storage", str(tmp_path / "s.log"), "--reports", str(tmp_path / "r")]
    done = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=ROOT,
        env=jax_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.log"))
    )
    search = optuna.load_study(study_name="overfitting-cifar-epochs2", storage=storage)
    trials = [trial for trial in search.trials if trial.state.name == "COMPLETE"]
    assert len(trials) == 2 and all("programs_compiled" in t.user_attrs for t in trials)
    assert all(t.user_attrs["model_config"]["input_shape"] == [32, 32, 3] for t in trials)
    assert (tmp_path / "r" / "overfitting-cifar-epochs2" / "winner.keras").is_file()


def test_a_study_continued_with_other_data_is_refused_and_nothing_changes(place, capsys):
    rng = np.random.default_rng(0)
    path = place / "mine.npz"
    labels = np.arange(1800) % 3
    np.savez(path, x_train=rng.integers(0, 256, (1800, 6, 6), dtype=np.uint8), y_train=labels)
    storage = ["--storage", f"sqlite:///{place / 'store' / 'k.db'}"]
    reports = ["--reports", str(place / "reports")]
    first = cli([*SMALL, "--trials", "1", *storage, *reports, "--dataset", str(path)], capsys)
    assert first.code == 0, first.err
    images = rng.integers(0, 256, (1800, 6, 6), dtype=np.uint8)
    np.savez(path, x_train=images, y_train=labels)  # The same file, other arrays.
    line = refuses(["--dataset", str(path)], place, capsys)
    assert "study 'overfitting-mine-subset1000-epochs1-prunernone' ran on mine" in line
    assert "the data given now" in line and "differs" in line


def test_run_study_trains_on_arrays_given_in_memory_named_after_them(tmp_path):
    from kerasnn import Dataset
    from studies import run_study
    from studies.errors import UsageError

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (600, 6, 6), dtype=np.uint8)
    data = Dataset.from_arrays(images, np.arange(600) % 3, name="tiny")
    where = {"storage": f"sqlite:///{tmp_path}/s.db", "reports": str(tmp_path / "r")}
    with pytest.raises(UsageError, match="cannot share arrays given in memory"):
        run_study(dataset=data, workers=2, trials=2, **where)
    assert list(tmp_path.iterdir()) == []
    result = run_study(dataset=data, trials=1, epochs=1, confirm_top=0, **where)
    assert result.study_name == "overfitting-tiny-epochs1" and len(result.trials) == 1
    search = optuna.load_study(study_name=result.study_name, storage=where["storage"])
    assert dataset_identity.identity(search.user_attrs) == data.identity()
    assert search.trials[0].user_attrs["model_config"]["input_shape"] == [6, 6]
