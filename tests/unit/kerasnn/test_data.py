"""kerasnn.data: shapes, ranges, split, determinism and every corrupted-file case."""

from __future__ import annotations

import pytest

from kerasnn import DataError, load_dataset


def test_missing_folder_from_environment_is_an_error_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASNN_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("fashion_mnist")


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
