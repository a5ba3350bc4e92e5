"""Datasets in a seeded, stratified train/validation/test split: MNIST and Fashion-MNIST by
name, or a user's own (an .npz file, a folder of IDX files or of CIFAR-10's python batches,
or arrays), each checked before anything trains on it.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from kerasnn import arrays, readers
from kerasnn.arrays import DataError

DATASETS = {
    # Name used by the API -> folder name under $KERASNN_DATA_DIR.
    "mnist": "mnist",
    "fashion_mnist": "fashion-mnist",
}

CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

SCALES = ("unit", "symmetric")

# The four standard IDX files, without their optional ".gz" ending.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_IMAGE_MAGIC = 2051
_LABEL_MAGIC = 2049
# The most images (or labels) one IDX file may claim: 157 MB of pixels, 2.6 times the
# largest standard file, so that a header's count is refused before anything is read.
MAX_IDX_ITEMS = 200_000

# Each class must hold at least this share of the training labels. A balanced set holds
# 10% each; MNIST's rarest class (5) holds 9%. A class far below is a broken label file.
MIN_CLASS_SHARE = 0.02

# What each dataset's images look like: mean pixel intensity (0-255) and fraction of zero
# pixels, as ranges. Measured on the official files: MNIST 33.3 and 81% (training), 33.8
# and 81% (test); Fashion-MNIST 73.1 and 50%, 72.3 and 50%. Every range leaves a wide margin
# around its own dataset and stays far from the other's, so only the wrong files fail it.
PIXEL_PROFILES = {
    "mnist": {"mean": (20.0, 50.0), "zero_fraction": (0.70, 0.90)},
    "fashion_mnist": {"mean": (55.0, 95.0), "zero_fraction": (0.40, 0.60)},
}


# A user's data without a test split gives up this share of its examples as one; without a
# validation size, this share of the training split is the validation split (MNIST's).
TEST_SHARE = 1 / 7
VALIDATION_SHARE = 1 / 6
# The named datasets' validation split, as it has always been.
NAMED_VALIDATION_SIZE = 10_000


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Examples as float32 arrays of shape (n, *example_shape), labels as int32 arrays (n,).

    `input_dtype`, `input_scale` and `input_offset` say how the stored examples were turned
    into these arrays (uint8 pixels: times 1/255, plus 0), so that a model exported for the
    raw data can apply the same map. `warnings` holds lines a caller should show (values
    that look unscaled, say); `test_split` says where the test split came from.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    scale: str = "unit"
    source: str = ""
    input_dtype: str = "uint8"
    input_scale: float = 1 / 255
    input_offset: float = 0.0
    test_split: str = "given"
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_arrays(
        cls,
        x_train,
        y_train,
        x_test=None,
        y_test=None,
        *,
        name: str = "arrays",
        validation_size: int | None = None,
        seed: int = 0,
        scale: str = "unit",
        class_names: tuple[str, ...] | None = None,
        source: str | None = None,
    ) -> Dataset:
        """A dataset from arrays, checked, scaled and split as `load_dataset` does a file's.

        Args:
            x_train, y_train: examples (n, ...) and whole-number labels 0..classes-1, every
                class present. Unsigned integers are scaled by their type's maximum
                (uint8 by 1/255); floating-point values are used as given.
            x_test, y_test: the test split; without them a stratified, seeded share of
                `TEST_SHARE` is carved out of the training arrays (and recorded as such).
            name: the dataset's name in study names and reports.
            validation_size: examples moved from the training split into the validation
                split (stratified, seeded); None: `VALIDATION_SHARE` of them.
            seed: seeds both splits.
            scale: "unit", or "symmetric" to map scaled integers to [-1, 1].

        Raises:
            DataError naming `source` (or `name`) and the problem: shapes that disagree,
            labels out of range or a class missing, NaN or infinity, too much memory.
        """
        where = source or name
        x_train, y_train = np.asarray(x_train), np.asarray(y_train)
        if (x_test is None) != (y_test is None):
            raise DataError(f"{where}: give both x_test and y_test, or neither")
        given = x_test is not None
        x_test = np.asarray(x_test) if given else x_train[:0]
        y_test = np.asarray(y_test) if given else y_train[:0]
        parts = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        arrays.check_size({key: value.shape for key, value in parts.items()}, where)
        checked = _checked_arrays(parts, where)
        return _assemble(checked, name, where, given, validation_size, seed, scale, class_names)

    @property
    def example_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return len(self.class_names)

    @functools.cached_property
    def fingerprint(self) -> str:
        """The sha256 of every split's examples and labels, as trained on."""
        return arrays.fingerprint(
            {
                f"{kind}_{split}": getattr(self, f"{kind}_{split}")
                for split in ("train", "validation", "test")
                for kind in ("x", "y")
            }
        )

    def identity(self) -> dict:
        """What a study records of its data: name, source, shapes, classes, where the test
        split came from, how stored examples were scaled, and the fingerprint."""
        return {
            "name": self.name,
            "source": self.source,
            "shapes": {
                split: list(getattr(self, f"x_{split}").shape)
                for split in ("train", "validation", "test")
            },
            "classes": self.classes,
            "test_split": self.test_split,
            # How stored examples become the network's input: x * scale + offset.
            "input": {
                "dtype": self.input_dtype,
                "scale": self.input_scale,
                "offset": self.input_offset,
            },
            "fingerprint": self.fingerprint,
        }

    def subset(self, train_size: int) -> Dataset:
        """The same dataset with only the first `train_size` training images."""
        if not 0 < train_size:
            raise ValueError(f"train_size must be a positive integer, got {train_size}")
        return dataclasses.replace(
            self, x_train=self.x_train[:train_size], y_train=self.y_train[:train_size]
        )

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.y_train)} train, {len(self.y_validation)} validation, "
            f"{len(self.y_test)} test examples of shape {self.example_shape}, "
            f"{self.classes} classes ({self.source})"
        )


def _checked_arrays(parts: dict[str, np.ndarray], where: str) -> dict:
    """The arrays with flat int32 labels and float32 examples in [0, 1] for integer input,
    once every check passed; also the number of classes and how examples were scaled."""
    x_train, x_test = parts["x_train"], parts["x_test"]
    y_train = arrays.whole_labels(
        arrays.check_pair(x_train, parts["y_train"], "train", where), "train", where
    )
    y_test = parts["y_test"]
    if len(y_test) or len(x_test):
        y_test = arrays.check_pair(x_test, y_test, "test", where)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DataError(
                f"{where}: x_test's examples have shape {x_test.shape[1:]}, "
                f"x_train's {x_train.shape[1:]}"
            )
        if x_test.dtype != x_train.dtype:
            raise DataError(f"{where}: x_test is {x_test.dtype} but x_train {x_train.dtype}")
    y_test = arrays.whole_labels(y_test.reshape(-1), "test", where)
    classes = arrays.check_classes(y_train, y_test, where)
    x_train_scaled, factor = arrays.to_unit_floats(x_train, "train", where)
    x_test_scaled, _ = arrays.to_unit_floats(x_test, "test", where)
    return {
        "x_train": x_train_scaled,
        "y_train": y_train,
        "x_test": x_test_scaled,
        "y_test": y_test,
        "classes": classes,
        "dtype": str(x_train.dtype),
        "factor": factor,
    }


def _carve_test(checked: dict, seed: int, where: str) -> dict:
    """`checked` with a stratified, seeded TEST_SHARE of its training arrays as the test
    split, said in `test_split`."""
    x, y = checked["x_train"], checked["y_train"]
    size = max(1, round(len(y) * TEST_SHARE))
    arrays.check_split_room(y, size, where)
    rest, test = arrays.stratified_split(y, size, seed)
    return {
        **checked,
        **{"x_train": x[rest], "y_train": y[rest], "x_test": x[test], "y_test": y[test]},
        "test_split": f"carved: {size} examples of the training arrays, stratified, seed {seed}",
    }


def _assemble(checked, name, where, given, validation_size, seed, scale, class_names) -> Dataset:
    """The checked arrays split (test carved out where none was given) into a `Dataset`."""
    checked = {"test_split": "given", **checked} if given else _carve_test(checked, seed, where)
    x_train, y_train = checked["x_train"], checked["y_train"]
    if validation_size is None:
        validation_size = round(len(y_train) * VALIDATION_SHARE)
    arrays.check_split_room(y_train, validation_size, where)
    train_index, validation_index = arrays.stratified_split(y_train, validation_size, seed)
    integers = np.dtype(checked["dtype"]).kind == "u"
    symmetric = scale == "symmetric" and integers
    names = tuple(class_names or (str(label) for label in range(checked["classes"])))
    if len(names) != checked["classes"]:
        raise DataError(f"{where}: {len(names)} class names for {checked['classes']} classes")
    warning = None if integers else arrays.raw_values_warning(x_train, where)

    def scaled(images):
        return images * np.float32(2.0) - np.float32(1.0) if symmetric else images

    return Dataset(
        name=name,
        x_train=scaled(x_train[train_index]),
        y_train=y_train[train_index],
        x_validation=scaled(x_train[validation_index]),
        y_validation=y_train[validation_index],
        x_test=scaled(checked["x_test"]),
        y_test=checked["y_test"],
        class_names=names,
        scale=scale if integers else "as given",
        source=where,
        input_dtype=checked["dtype"],
        input_scale=checked["factor"] * (2.0 if symmetric else 1.0),
        input_offset=-1.0 if symmetric else 0.0,
        test_split=checked["test_split"],
        warnings=(warning,) if warning else (),
    )


def _parse_idx(path: Path, magic: int) -> np.ndarray:
    """Parses one IDX file (gzipped or not), reading no more than its header says it holds."""
    try:
        with path.open("rb") as file:
            gzipped = file.read(2) == b"\x1f\x8b"
            file.seek(0)
            stream = gzip.GzipFile(fileobj=file) if gzipped else file
            return _read_idx(stream, path, magic)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path} is not a valid gzip file ({error})") from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None


def _read_idx(stream: BinaryIO, path: Path, magic: int) -> np.ndarray:
    """Checks the header from the stream's first bytes, then reads exactly the size it implies.

    A gzip stream is decompressed only as far as it is read, so a file whose header
    promises too much, or whose body runs on past its header, costs no more than the header.
    """
    kind = "images" if magic == _IMAGE_MAGIC else "labels"
    header_size = 16 if magic == _IMAGE_MAGIC else 8
    header = stream.read(header_size)
    if len(header) < header_size:
        raise DataError(f"{path} is truncated: {len(header)} bytes, shorter than an IDX header")
    found = int.from_bytes(header[:4], "big")
    if found != magic:
        raise DataError(f"{path} has magic number {found}, expected {magic} for an IDX {kind} file")
    count = int.from_bytes(header[4:8], "big")
    if count > MAX_IDX_ITEMS:
        raise DataError(
            f"{path} claims {count:,} {kind}; at most {MAX_IDX_ITEMS:,} are read "
            "(the standard files hold 60,000 and 10,000)"
        )
    shape = (count,)
    if magic == _IMAGE_MAGIC:
        rows, columns = int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")
        shape = (count, rows, columns)
        arrays.check_size({"images": shape}, str(path))
    body = stream.read(int(np.prod(shape)))
    expected = header_size + int(np.prod(shape))
    if header_size + len(body) < expected:
        raise DataError(
            f"{path} is truncated: {header_size + len(body)} bytes, header promises "
            f"{expected} ({count} {kind})"
        )
    if stream.read(1):
        raise DataError(
            f"{path} is longer than its header says: more than the {expected} bytes "
            f"of {count} {kind}"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise DataError(f"missing file {folder / stem}.gz (or without .gz) in the dataset folder")


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} does not exist")


def read_idx_folder(
    folder: str | os.PathLike, classes: int | None = 10
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Reads the four standard IDX files of `folder` as ((x_train, y_train), (x_test, y_test)).

    Images may have any size; with `classes` (MNIST's 10) a label beyond them is refused
    here, naming its file; without it the labels are checked with the rest of the arrays.
    """
    folder = Path(folder)
    _check_folder(folder)
    found = {}
    for key, stem in IDX_FILES.items():
        path = _find(folder, stem)
        found[key] = _parse_idx(path, _IMAGE_MAGIC if key.endswith("images") else _LABEL_MAGIC)
        checked = key.endswith("labels") and classes and found[key].size
        if checked and found[key].max() >= classes:
            raise DataError(
                f"{path} holds label {int(found[key].max())}; labels must lie in 0-{classes - 1}"
            )
    for split in ("train", "test"):
        images, labels = found[f"{split}_images"], found[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{folder}: {split} set has {len(images)} images but {len(labels)} labels"
            )
    return (
        (found["train_images"], found["train_labels"]),
        (found["test_images"], found["test_labels"]),
    )


def pixel_profile(images: np.ndarray) -> dict[str, float]:
    """The mean pixel intensity (0-255) and the fraction of zero pixels of uint8 `images`."""
    return {
        "mean": float(images.mean(dtype=np.float64)),
        "zero_fraction": 1.0 - np.count_nonzero(images) / max(images.size, 1),
    }


def _matches(profile: dict[str, float], name: str) -> bool:
    return all(low <= profile[key] <= high for key, (low, high) in PIXEL_PROFILES[name].items())


def _check_images(name: str, images: np.ndarray, where: str) -> None:
    """A DataError unless `images` look like dataset `name` (see PIXEL_PROFILES)."""
    profile = pixel_profile(images)
    if _matches(profile, name):
        return
    looks = next((other for other in PIXEL_PROFILES if _matches(profile, other)), None)
    expected = PIXEL_PROFILES[name]
    raise DataError(
        f"{where} does not look like {name}: mean pixel {profile['mean']:.1f}, "
        f"{profile['zero_fraction']:.0%} zero pixels, expected a mean of "
        f"{expected['mean'][0]:g}-{expected['mean'][1]:g} and "
        f"{expected['zero_fraction'][0]:.0%}-{expected['zero_fraction'][1]:.0%} zeros"
        + (f"; these look like {looks}" if looks else "")
    )


def _check_classes(labels: np.ndarray, where: str) -> None:
    """A DataError unless every class holds at least MIN_CLASS_SHARE of `labels`."""
    counts = np.bincount(labels, minlength=10)
    rarest = int(np.argmin(counts))
    if counts[rarest] < MIN_CLASS_SHARE * len(labels):
        raise DataError(
            f"{where} holds class {rarest} {counts[rarest]} times in {len(labels)} labels; "
            f"each of the 10 classes must hold at least {MIN_CLASS_SHARE:.0%} of them"
        )


def check_contents(name: str, train, test, folder: str | os.PathLike | None) -> None:
    """Checks cheaply that the arrays hold dataset `name`, before anything trains on them.

    Args:
        name: the dataset the arrays should hold, a key of DATASETS.
        train, test: the (images, labels) pairs `read_idx_folder` returns.
        folder: where they were read from, for the messages; None for Keras' download.

    Raises:
        DataError naming the file and what was expected: a class missing or absurdly rare
        among the training labels, or images whose statistics are those of another dataset.
    """

    def where(key: str) -> str:
        if folder is None:
            return f"the {key.replace('_', ' ')} of keras.datasets.{name}"
        return str(_find(Path(folder), IDX_FILES[key]))

    _check_classes(train[1], where("train_labels"))
    _check_images(name, train[0], where("train_images"))
    _check_images(name, test[0], where("test_images"))


def _download(name: str):
    import keras

    loader = getattr(keras.datasets, name)
    try:
        return loader.load_data()
    except Exception as error:  # Keras raises several types for network failures.
        raise DataError(
            f"could not download {name} through Keras ({type(error).__name__}: {error}); "
            "the network may be unreachable. Point KERASNN_DATA_DIR at a folder holding "
            f"{DATASETS[name]}/ with the four IDX files, or pass data_dir=."
        ) from None


def _scale(images: np.ndarray, scale: str) -> np.ndarray:
    images = images.astype(np.float32) / np.float32(255.0)
    return images * np.float32(2.0) - np.float32(1.0) if scale == "symmetric" else images


def dataset_name(spec: str | os.PathLike) -> str:
    """The short name of a dataset given by name or path: "mnist", or "digits" for
    "data/digits.npz" and "cifar-10-batches-py" for a folder."""
    spec = str(spec)
    if spec in DATASETS:
        return spec
    path = Path(spec)
    return path.stem if path.suffix == ".npz" else path.resolve().name


def _check_arguments(name, scale, validation_size, seed) -> None:
    """Refuses a bad argument of `load_dataset`, naming it: a caller passes several of the
    same kind."""
    if not isinstance(name, str | os.PathLike) or not str(name):
        raise ValueError(
            f"load_dataset: name must be one of {', '.join(DATASETS)}, an .npz file or a "
            f"dataset folder, got {name!r:.80}"
        )
    if not isinstance(scale, str) or scale not in SCALES:
        raise ValueError(
            f"load_dataset: scale must be one of {', '.join(SCALES)}, got {scale!r:.80}"
        )
    if validation_size is not None and (
        isinstance(validation_size, bool) or not isinstance(validation_size, int | np.integer)
    ):
        raise ValueError(
            f"load_dataset: validation_size must be a whole number, got {validation_size!r:.80}"
        )
    # NumPy's generators take seeds of 0 and up; anything else would fail deep inside it.
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(
            f"load_dataset: seed must be a whole number of 0 or more, got {seed!r:.80}"
        )


def load_dataset(
    name: str | os.PathLike,
    *,
    validation_size: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    scale: str = "unit",
) -> Dataset:
    """Loads a dataset with a stratified validation split carved out of its training set.

    Args:
        name: "mnist" or "fashion_mnist"; or the path of an .npz file (x_train, y_train,
            and optionally x_test, y_test), or of a folder holding the four standard IDX
            files (of any image size) or CIFAR-10's python batches (data_batch_1 ...
            data_batch_5, test_batch, batches.meta). A user's data is checked and scaled
            as `Dataset.from_arrays` does arrays.
        validation_size: examples moved from the training set into the validation set;
            None: 10,000 for the named datasets, `VALIDATION_SHARE` for others.
        seed: seeds the validation split, so the same seed gives the same split.
        data_dir: a folder holding the four IDX files of a named dataset. Without it the
            loader looks in $KERASNN_DATA_DIR/<mnist|fashion-mnist>/, then downloads
            through Keras.
        scale: "unit" maps pixels to [0, 1], "symmetric" to [-1, 1].

    Returns:
        A frozen `Dataset`; a test set that came with the data is untouched.
    """
    _check_arguments(name, scale, validation_size, seed)
    if str(name) not in DATASETS:
        return _load_file(Path(name), validation_size, seed, scale)
    validation_size = NAMED_VALIDATION_SIZE if validation_size is None else validation_size
    return _load_named(str(name), validation_size, seed, data_dir, scale)


def _load_file(path: Path, validation_size, seed, scale) -> Dataset:
    """A user's dataset file or folder, read, checked and split."""
    options = {"name": dataset_name(path), "validation_size": validation_size, "seed": seed}
    options.update(scale=scale, source=str(path))
    if path.suffix == ".npz" and path.is_file():
        return Dataset.from_arrays(**readers.read_npz(path), **options)
    if path.is_dir() and readers.is_cifar_folder(path):
        (x_train, y_train), (x_test, y_test), names = readers.read_cifar_folder(path)
        return Dataset.from_arrays(x_train, y_train, x_test, y_test, class_names=names, **options)
    if path.is_dir():
        (x_train, y_train), (x_test, y_test) = read_idx_folder(path, classes=None)
        return Dataset.from_arrays(x_train, y_train, x_test, y_test, **options)
    raise _not_found(path)


def _not_found(path: Path) -> DataError:
    return DataError(
        f"load_dataset: name must be one of {', '.join(DATASETS)}, an .npz file or a dataset "
        f"folder (IDX files or CIFAR-10 batches), got {str(path)!r:.200} (no such file or folder)"
    )


def check_found(name: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> None:
    """Raises the DataError `load_dataset(name, data_dir=data_dir)` raises for a file or
    folder that is not there, from a few file-system checks and before reading anything: a
    caller about to import a framework (seconds) refuses a missing dataset at once."""
    if str(name) not in DATASETS:
        if not Path(name).exists():
            raise _not_found(Path(name))
        return
    folder = _named_folder(str(name), data_dir)
    if folder is not None:
        _check_folder(Path(folder))


def _named_folder(name: str, data_dir):
    """The folder a named dataset is read from (`data_dir`, else KERASNN_DATA_DIR's), or
    None where it is downloaded."""
    if data_dir is None and os.environ.get("KERASNN_DATA_DIR"):
        return Path(os.environ["KERASNN_DATA_DIR"]) / DATASETS[name]
    return data_dir


def raw_arrays(name: str, data_dir: str | os.PathLike | None = None):
    """MNIST's or Fashion-MNIST's arrays as stored, ((x_train, y_train), (x_test, y_test)) with
    uint8 pixels 0-255, from where `load_dataset` reads them (`data_dir`, KERASNN_DATA_DIR's
    folder, or Keras' download): the examples an exported winner.keras takes."""
    return _read_named(name, data_dir)[0]


def _read_named(name: str, data_dir):
    """The named dataset's stored arrays, checked against its name, and where they came
    from."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    data_dir = _named_folder(name, data_dir)
    if data_dir is not None:
        arrays_read = read_idx_folder(data_dir)
        source = f"IDX files in {data_dir}"
    else:
        arrays_read = _download(name)
        source = "keras.datasets download"
    check_contents(name, *arrays_read, data_dir)
    return arrays_read, source


def _load_named(name: str, validation_size: int, seed: int, data_dir, scale: str) -> Dataset:
    """MNIST or Fashion-MNIST from its IDX files (or Keras' download), checked against its
    name."""
    ((x_train, y_train), (x_test, y_test)), source = _read_named(name, data_dir)
    if not 0 < validation_size < len(y_train):
        raise ValueError(
            f"load_dataset: validation_size must lie between 1 and {len(y_train) - 1}, "
            f"got {validation_size}"
        )
    train_index, validation_index = arrays.stratified_split(y_train, validation_size, seed)
    return Dataset(
        name=name,
        x_train=_scale(x_train[train_index], scale),
        y_train=y_train[train_index].astype(np.int32),
        x_validation=_scale(x_train[validation_index], scale),
        y_validation=y_train[validation_index].astype(np.int32),
        x_test=_scale(x_test, scale),
        y_test=y_test.astype(np.int32),
        class_names=CLASS_NAMES[name],
        scale=scale,
        source=source,
        input_scale=(2 if scale == "symmetric" else 1) / 255,
        input_offset=-1.0 if scale == "symmetric" else 0.0,
    )
