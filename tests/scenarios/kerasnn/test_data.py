"""kerasnn.data: shapes, ranges, split, determinism and every corrupted-file case."""

from __future__ import annotations

import gzip
import shutil
import tracemalloc

import numpy as np
import pytest

from kerasnn import DataError, load_dataset
from kerasnn.data import DATASETS, IDX_FILES, PIXEL_PROFILES, pixel_profile, read_idx_folder


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
    # The fastest compression: the reader does not care, and the training images take half a
    # minute at gzip's default level.
    path.write_bytes(gzip.compress(bytes(change(raw)), compresslevel=1))


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


def _idx_header(magic, count, *dims):
    return b"".join(value.to_bytes(4, "big") for value in (magic, count, *dims))


def _refusal(folder) -> tuple[str, int]:
    """The DataError reading `folder` raises, and the most memory Python held meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as error:
            read_idx_folder(folder)
        return str(error.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# The first file read; a body of 64 MB of zeros stands in for a bomb's gigabytes.
FIRST = "train-images-idx3-ubyte.gz"
BODY = bytes(64 * 2**20)


def test_a_header_promising_gigabytes_is_refused_before_the_rest_is_decompressed(copy_of_mnist):
    path = copy_of_mnist / FIRST
    # 3,000,000 images would be 2.35 GB once decompressed.
    path.write_bytes(gzip.compress(_idx_header(2051, 3_000_000, 28, 28) + BODY, compresslevel=1))
    message, peak = _refusal(copy_of_mnist)
    assert message.startswith(f"{path} claims 3,000,000 images; at most 200,000 are read")
    assert peak < 2**20


def test_a_body_running_past_its_header_is_refused_after_reading_what_it_promised(
    copy_of_mnist,
):
    path = copy_of_mnist / FIRST
    path.write_bytes(gzip.compress(_idx_header(2051, 10, 28, 28) + BODY, compresslevel=1))
    message, peak = _refusal(copy_of_mnist)
    assert message.startswith(f"{path} is longer than its header says")
    assert peak < 2**20


def test_an_uncompressed_file_is_checked_the_same_way(copy_of_mnist):
    (copy_of_mnist / "train-labels-idx1-ubyte.gz").unlink()
    path = copy_of_mnist / "train-labels-idx1-ubyte"
    path.write_bytes(_idx_header(2049, 10**9) + bytes(1000))
    with pytest.raises(DataError, match=f"{path} claims 1,000,000,000 labels"):
        read_idx_folder(copy_of_mnist)


def test_mnist_files_in_the_fashion_mnist_folder_are_refused_as_mnist(
    tmp_path, data_dir, monkeypatch
):
    shutil.copytree(data_dir / "mnist", tmp_path / "fashion-mnist")
    monkeypatch.setenv("KERASNN_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="does not look like fashion_mnist") as error:
        load_dataset("fashion_mnist")
    message = str(error.value)
    assert str(tmp_path / "fashion-mnist" / "train-images-idx3-ubyte.gz") in message
    assert "mean pixel 33.3, 81% zero pixels" in message and "these look like mnist" in message


def test_fashion_mnist_files_given_as_mnist_are_refused(data_dir):
    with pytest.raises(DataError, match="does not look like mnist.*look like fashion_mnist"):
        load_dataset("mnist", data_dir=data_dir / "fashion-mnist")


def test_the_real_files_match_their_own_profiles_with_a_wide_margin(data_dir):
    for name, folder in DATASETS.items():
        (x_train, _), (x_test, _) = read_idx_folder(data_dir / folder)
        for images in (x_train, x_test):
            profile = pixel_profile(images)
            for key, (low, high) in PIXEL_PROFILES[name].items():
                margin = 0.25 * (high - low)
                assert low + margin <= profile[key] <= high - margin, (name, key, profile)


def _one_class(raw):
    raw[8:] = bytes([3]) * (len(raw) - 8)
    return raw


def _rare_sevens(raw):
    labels = np.frombuffer(bytes(raw[8:]), dtype=np.uint8).copy()
    sevens = np.flatnonzero(labels == 7)
    labels[sevens[50:]] = 1  # 50 sevens left among 60,000 labels.
    raw[8:] = labels.tobytes()
    return raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_one_class, "holds class 0 0 times in 60000 labels"),
        (_rare_sevens, "holds class 7 50 times in 60000 labels"),
    ],
    ids=["one class", "a rare class"],
)
def test_a_training_label_file_missing_a_class_is_refused(copy_of_mnist, change, message):
    path = copy_of_mnist / "train-labels-idx1-ubyte.gz"
    _rewrite(path, change)
    with pytest.raises(DataError, match=message) as error:
        load_dataset("mnist", data_dir=copy_of_mnist)
    assert str(path) in str(error.value) and "at least 2%" in str(error.value)
