"""kerasnn.data: shapes, ranges, split, determinism and every corrupted-file case."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from kerasnn import DataError, load_dataset
from kerasnn.data import IDX_FILES, read_idx_folder


def test_fashion_mnist_has_the_official_sizes_shapes_and_dtypes(fashion):
    assert fashion.x_train.shape == (50_000, 28, 28)
    assert fashion.x_validation.shape == (10_000, 28, 28)
    assert fashion.x_test.shape == (10_000, 28, 28)
    for images in (fashion.x_train, fashion.x_validation, fashion.x_test):
        assert images.dtype == np.float32
        assert images.min() == 0.0 and images.max() == 1.0
    for labels in (fashion.y_train, fashion.y_validation, fashion.y_test):
        assert labels.dtype == np.int32
        assert set(np.unique(labels)) == set(range(10))
    assert fashion.class_names[9] == "Ankle boot"


def test_mnist_test_set_is_untouched_and_matches_its_published_class_counts(mnist):
    counts = np.bincount(mnist.y_test, minlength=10)
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # The published training pixel mean (0.1307) holds for train + validation together.
    everything = np.concatenate([mnist.x_train, mnist.x_validation])
    assert everything.mean() == pytest.approx(0.1307, abs=1e-4)


def test_validation_split_is_stratified_and_never_overlaps_training(mnist):
    train = {image.tobytes() for image in mnist.x_train[:5000]}
    assert not any(image.tobytes() in train for image in mnist.x_validation)
    train_share = np.bincount(mnist.y_train, minlength=10) / len(mnist.y_train)
    validation_share = np.bincount(mnist.y_validation, minlength=10) / len(mnist.y_validation)
    np.testing.assert_allclose(validation_share, train_share, atol=1e-3)
    total = np.bincount(np.concatenate([mnist.y_train, mnist.y_validation]), minlength=10)
    assert total.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_same_seed_gives_same_split_and_other_seed_another(data_dir):
    first = load_dataset("mnist", seed=3, validation_size=1000)
    again = load_dataset("mnist", seed=3, validation_size=1000)
    other = load_dataset("mnist", seed=4, validation_size=1000)
    np.testing.assert_array_equal(first.y_validation, again.y_validation)
    np.testing.assert_array_equal(first.x_validation, again.x_validation)
    assert not np.array_equal(first.x_validation, other.x_validation)
    assert len(first.y_validation) == 1000 and len(first.y_train) == 59_000


def test_symmetric_scale_maps_pixels_to_minus_one_one(data_dir):
    data = load_dataset("mnist", scale="symmetric")
    assert data.x_train.min() == -1.0 and data.x_train.max() == 1.0


def test_explicit_data_dir_and_uncompressed_files_are_read(tmp_path, data_dir):
    for stem in IDX_FILES.values():
        with gzip.open(data_dir / "mnist" / f"{stem}.gz") as source:
            (tmp_path / stem).write_bytes(source.read())
    data = load_dataset("mnist", data_dir=tmp_path)
    assert len(data.y_train) + len(data.y_validation) == 60_000


def test_subset_keeps_the_first_training_images(fashion):
    small = fashion.subset(100)
    assert small.x_train.shape == (100, 28, 28)
    np.testing.assert_array_equal(small.y_train, fashion.y_train[:100])
    assert len(small.y_validation) == len(fashion.y_validation)


@pytest.mark.parametrize(
    ("name", "scale", "validation_size"),
    [("cifar10", "unit", 10), ("mnist", "zscore", 10), ("mnist", "unit", 0)],
)
def test_bad_arguments_raise_value_error(data_dir, name, scale, validation_size):
    with pytest.raises(ValueError):
        load_dataset(name, scale=scale, validation_size=validation_size)


@pytest.fixture
def copy_of_mnist(tmp_path, data_dir):
    folder = tmp_path / "mnist"
    shutil.copytree(data_dir / "mnist", folder)
    return folder


def _rewrite(path, change):
    raw = bytearray(gzip.decompress(path.read_bytes()))
    path.write_bytes(gzip.compress(bytes(change(raw))))


def _set_label(raw, value):
    raw[8 + 5] = value  # The sixth label, past the 8-byte header.
    return raw


def _drop_label(raw):
    raw[4:8] = (int.from_bytes(raw[4:8], "big") - 1).to_bytes(4, "big")
    return raw[:-1]


@pytest.mark.parametrize(
    ("stem", "change", "message"),
    [
        ("train-images-idx3-ubyte", lambda raw: raw[:-100], "truncated"),
        ("train-images-idx3-ubyte", lambda raw: b"\x00\x00\x08\x01" + raw[4:], "magic number"),
        ("t10k-labels-idx1-ubyte", lambda raw: _set_label(raw, 12), "labels must lie in 0-9"),
        ("t10k-labels-idx1-ubyte", _drop_label, "10000 images but 9999 labels"),
        ("train-labels-idx1-ubyte", lambda raw: raw[:5], "shorter than an IDX header"),
    ],
)
def test_corrupted_files_raise_an_error_naming_the_file(copy_of_mnist, stem, change, message):
    _rewrite(copy_of_mnist / f"{stem}.gz", change)
    with pytest.raises(DataError, match=message) as error:
        read_idx_folder(copy_of_mnist)
    assert copy_of_mnist.name in str(error.value)


def test_missing_file_and_broken_gzip_raise_clear_errors(copy_of_mnist):
    (copy_of_mnist / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing file .*t10k-images-idx3-ubyte"):
        read_idx_folder(copy_of_mnist)
    (copy_of_mnist / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="not a valid gzip file"):
        read_idx_folder(copy_of_mnist)


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
