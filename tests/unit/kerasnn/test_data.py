"""kerasnn.data: shapes, ranges, split, determinism and every corrupted-file case."""

from __future__ import annotations

import pytest

from kerasnn import DataError, load_dataset
from kerasnn.data import check_found


def test_missing_folder_from_environment_is_an_error_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASNN_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("fashion_mnist")


def test_check_found_raises_what_load_dataset_raises_for_what_is_not_there(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASNN_DATA_DIR", str(tmp_path / "nowhere"))
    for name in ("fashion_mnist", tmp_path / "digits.npz", tmp_path / "folder"):
        with pytest.raises(DataError) as loading:
            load_dataset(name)
        with pytest.raises(DataError) as checking:
            check_found(name)
        assert str(checking.value) == str(loading.value)
    (tmp_path / "nowhere" / "mnist").mkdir(parents=True)
    check_found("mnist")  # There: what is in it is for the reading to judge.
    monkeypatch.delenv("KERASNN_DATA_DIR")
    check_found("mnist")  # Downloaded: nothing to look for.


def test_failed_download_says_the_network_is_unreachable(monkeypatch, tmp_path):
    monkeypatch.delenv("KERASNN_DATA_DIR", raising=False)
    # Keras caches downloads under KERAS_HOME; an empty one forces a download attempt,
    # which this machine's closed network refuses.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    import keras

    monkeypatch.setattr(
        keras.datasets.mnist,
        "load_data",
        lambda: (_ for _ in ()).throw(OSError("URL fetch failure: network unreachable")),
    )
    with pytest.raises(DataError, match="network may be unreachable.*KERASNN_DATA_DIR"):
        load_dataset("mnist")
