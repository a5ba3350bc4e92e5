""".npz files, IDX folders of any image size and CIFAR-10 python folders: read, checked,
and refused in one line naming the file and the problem."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
import pytest

from kerasnn import DataError, load_dataset
from kerasnn.data import IDX_FILES, dataset_name


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def balanced(count: int, classes: int = 3, shape=(4, 4), seed: int = 0):
    """`count` uint8 examples of `shape`, labels cycling through `classes`."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
    return images, np.arange(count) % classes


def test_an_npz_with_a_test_split_keeps_it_and_scales_uint8_by_1_255(tmp_path):
    x, y = balanced(120)
    x_test, y_test = balanced(30, seed=1)
    path = write_npz(tmp_path / "shapes.npz", x_train=x, y_train=y, x_test=x_test, y_test=y_test)
    data = load_dataset(path)
    assert data.name == "shapes" and data.example_shape == (4, 4) and data.classes == 3
    np.testing.assert_array_equal(data.x_test, x_test.astype(np.float32) / np.float32(255))
    assert len(data.y_train) + len(data.y_validation) == 120 and data.test_split == "given"
    assert (data.input_dtype, data.input_scale) == ("uint8", 1 / 255)


def test_an_npz_without_a_test_split_gets_a_stratified_seeded_one_recorded_as_carved(tmp_path):
    x, y = balanced(210)
    data = load_dataset(write_npz(tmp_path / "d.npz", x_train=x, y_train=y))
    assert len(data.y_test) == 30 and np.bincount(data.y_test).tolist() == [10, 10, 10]
    assert data.test_split.startswith("carved: 30 examples") and "seed 0" in data.test_split
    again = load_dataset(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.x_test, again.x_test)
    assert data.identity()["test_split"] == data.test_split


def write_idx(folder, images, labels, split):
    """One split of `images` (n, rows, columns) and labels as the two standard IDX files."""
    stem = "train" if split == "train" else "t10k"
    header = [2051, len(images), *images.shape[1:]]
    (folder / f"{stem}-images-idx3-ubyte").write_bytes(
        b"".join(value.to_bytes(4, "big") for value in header) + images.tobytes()
    )
    (folder / f"{stem}-labels-idx1-ubyte").write_bytes(
        (2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + bytes(labels.tolist())
    )


def test_an_idx_folder_of_12x9_images_with_twelve_classes_loads(tmp_path):
    x, y = balanced(240, classes=12, shape=(12, 9))
    write_idx(tmp_path, x, y, "train")
    write_idx(tmp_path, *balanced(24, classes=12, shape=(12, 9)), "test")
    data = load_dataset(tmp_path)
    assert data.example_shape == (12, 9) and data.classes == 12
    assert sorted(IDX_FILES.values()) == sorted(p.name for p in tmp_path.iterdir())


def cifar_folder(folder, per_batch: int = 20, seed: int = 0):
    """A CIFAR-10 python folder of random images: bytes keys and uint8 arrays, as the real
    files hold them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for name in [*(f"data_batch_{index}" for index in range(1, 6)), "test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [index % 10 for index in range(per_batch)],
            b"batch_label": name.encode(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    return folder


def test_a_cifar_folder_loads_as_32x32x3_images_with_its_class_names(tmp_path):
    folder = cifar_folder(tmp_path / "cifar-10-batches-py")
    data = load_dataset(folder)
    assert data.example_shape == (32, 32, 3) and data.class_names[9] == "truck"
    assert len(data.y_train) + len(data.y_validation) == 100 and len(data.y_test) == 20
    first = pickle.loads((folder / "test_batch").read_bytes())[b"data"][0]
    # Row layout: the red plane, then green, then blue; pixel (0, 0) takes each plane's first.
    expected = np.float32([first[0], first[1024], first[2048]]) / np.float32(255)
    np.testing.assert_array_equal(data.x_test[0, 0, 0], expected)
    assert dataset_name(folder) == "cifar-10-batches-py"


class _Runs:
    """Pickled, it asks the unpickler to call a function: what a hostile file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda marker: _Runs(marker), "names io.open, which is never loaded"),
        (lambda marker: [1, 2, 3], "holds a list, not a dict of a CIFAR-10 batch"),
        (lambda marker: {b"labels": [0]}, "has no 'data' entry"),
        (lambda marker: {b"data": [[0] * 3072], b"labels": [0]}, "'data' is not a 2-D uint8"),
    ],
    ids=["code", "list", "no-data", "not-array"],
)
def test_a_cifar_batch_holding_anything_but_the_batch_dict_is_refused(tmp_path, content, message):
    folder = cifar_folder(tmp_path / "c")
    marker = tmp_path / "ran"
    (folder / "data_batch_3").write_bytes(pickle.dumps(content(marker)))
    with pytest.raises(DataError, match=message) as error:
        load_dataset(folder)
    assert "data_batch_3" in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()  # Nothing the pickle named was ever called.


def test_a_cifar_folder_missing_a_batch_names_it(tmp_path):
    folder = cifar_folder(tmp_path / "c")
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="missing test_batch of CIFAR-10's python layout"):
        load_dataset(folder)


def npz_with_header(path, shape):
    """An .npz whose x_train header claims `shape` and holds no data at all."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    labels = io.BytesIO()
    np.save(labels, np.zeros(3, np.int64))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", header.getvalue())
        archive.writestr("y_train.npy", labels.getvalue())
    return path


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((3, 2)), "y_train": np.zeros(3)}, "has no x_train; an .npz dataset"),
        (
            {"x_train": np.zeros((3, 2)), "y_train": np.zeros(3), "x_test": np.zeros((1, 2))},
            "holds one of x_test and y_test",
        ),
        (
            {"x_train": np.array([None, 1], dtype=object), "y_train": np.zeros(2)},
            "Object arrays cannot be loaded",
        ),
    ],
    ids=["wrong-keys", "half-test", "object-array"],
)
def test_a_bad_npz_is_refused_naming_the_file(tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as error:
        load_dataset(path)
    assert str(path) in str(error.value)


def test_an_npz_too_large_for_memory_is_refused_from_its_header_alone(tmp_path):
    path = npz_with_header(tmp_path / "huge.npz", (10_000_000, 1000))
    with pytest.raises(DataError, match=r"would take 40\.00 GB of memory as float32") as error:
        load_dataset(path)
    assert str(path) in str(error.value) and "x_train (10000000, 1000)" in str(error.value)


def test_an_idx_header_promising_huge_images_is_refused_before_reading(tmp_path):
    write_idx(tmp_path, *balanced(30, shape=(4, 4)), "test")
    header = [2051, 60_000, 4000, 4000]
    (tmp_path / "train-images-idx3-ubyte").write_bytes(
        b"".join(value.to_bytes(4, "big") for value in header)
    )
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*would take .* of memory"):
        load_dataset(tmp_path)


def test_a_path_that_is_no_dataset_is_refused_in_one_line(tmp_path):
    with pytest.raises(DataError, match="got '.*nothing.txt' \\(no such file or folder\\)"):
        load_dataset(tmp_path / "nothing.txt")
