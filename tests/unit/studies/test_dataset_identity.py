"""A study's data: recorded once, refused when continued with other arrays, named in one line;
and a user's data file given to the command line that is refused (one line, exit 2, nothing
written)."""

from __future__ import annotations

import pickle
import types

import numpy as np
import optuna
import pytest
from services import refuses

from kerasnn import Dataset
from studies import dataset_identity
from studies.errors import UsageError


def small(seed: int = 0, name: str = "mine") -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset.from_arrays(rng.random((60, 3)), np.arange(60) % 2, name=name, source="m.npz")


def settings(fresh: bool = False):
    return types.SimpleNamespace(study_name="s", fresh=fresh)


def test_the_identity_is_recorded_once_and_described_with_its_whole_fingerprint():
    study = optuna.create_study()
    data = small()
    dataset_identity.record(study, data)
    dataset_identity.record(study, small(seed=1))  # A later run does not overwrite it.
    recorded = dataset_identity.identity(study.user_attrs)
    assert recorded == data.identity() and recorded["shapes"]["train"] == [43, 3]
    line = dataset_identity.describe(recorded, "m.npz")
    assert line.startswith("mine (m.npz): 43 / 8 / 9 train / validation / test examples of 3")
    assert data.fingerprint in line and "test split carved" in line
    assert dataset_identity.describe(None, "fashion_mnist") == "fashion_mnist"


def test_continuing_a_study_with_other_data_is_refused_naming_both_fingerprints():
    study = optuna.create_study()
    dataset_identity.record(study, small())
    dataset_identity.check(study, settings(), small())  # The same arrays: continued.
    other = small(seed=1)
    with pytest.raises(UsageError, match="study 's' ran on mine") as error:
        dataset_identity.check(study, settings(), other)
    assert other.fingerprint[:12] in str(error.value) and "\n" not in str(error.value)
    dataset_identity.check(study, settings(fresh=True), other)  # --fresh starts anew.
    dataset_identity.check(optuna.create_study(), settings(), other)  # Nothing recorded.


def _npz(place, **arrays):
    np.savez(place / "mine.npz", **arrays)
    return ["--dataset", str(place / "mine.npz")]


def _labels(count=600, classes=10):
    return np.arange(count) % classes


def _images(count=600, shape=(6, 6)):
    return np.random.default_rng(0).integers(0, 256, (count, *shape), dtype=np.uint8)


def _cifar(place):
    folder = place / "cifar"
    folder.mkdir()
    for name in [*(f"data_batch_{index}" for index in range(1, 6)), "test_batch"]:
        (folder / name).write_bytes(pickle.dumps({b"data": "not an array", b"labels": [0]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a"]}))
    return ["--dataset", str(folder)]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _npz(p, images=_images(), y_train=_labels()), "has no x_train"),
        (lambda p: _npz(p, x_train=_images(), y_train=_labels(599)), "600 examples but 599"),
        (
            lambda p: _npz(p, x_train=_images(), y_train=_labels(), x_test=_images(10, (5, 5))),
            "holds one of x_test and y_test",
        ),
        (lambda p: _npz(p, x_train=_images(), y_train=_labels() * 2), "never holds class 1"),
        (
            lambda p: _npz(p, x_train=_images().astype(float) * np.nan, y_train=_labels()),
            "x_train holds NaN",
        ),
        (_cifar, "data_batch_1: 'data' is not a 2-D uint8 array"),
    ],
    ids=["wrong-keys", "ragged", "half-test", "missing-class", "nan", "cifar-not-a-batch"],
)
def test_a_bad_data_file_is_refused_in_one_line_and_nothing_is_written(
    place, make, message, capsys
):
    line = refuses(make(place), place, capsys)
    assert message in line and (str(place / "mine.npz") in line or "cifar" in line)


def test_data_too_large_for_memory_is_refused_before_anything_is_written(
    place, capsys, monkeypatch
):
    from kerasnn import arrays

    monkeypatch.setattr(arrays, "MAX_DATA_BYTES", 10_000)
    line = refuses(_npz(place, x_train=_images(), y_train=_labels()), place, capsys)
    assert "would take 0.00 GB of memory as float32; at most 0.00 GB are loaded" in line
