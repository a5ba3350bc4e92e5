"""Loading MNIST and Fashion-MNIST into a seeded, stratified train/validation/test split."""

from __future__ import annotations

import dataclasses
import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

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


class DataError(ValueError):
    """A dataset file is missing, truncated or corrupted, or cannot be downloaded."""


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Images as float32 arrays of shape (n, 28, 28), labels as int32 arrays of shape (n,)."""

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
            f"{len(self.y_test)} test images ({self.source})"
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
        if (rows, columns) != (28, 28):
            raise DataError(f"{path} holds {rows}x{columns} images, expected 28x28")
        shape = (count, 28, 28)
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


def read_idx_folder(folder: str | os.PathLike) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Reads the four standard IDX files of `folder` as ((x_train, y_train), (x_test, y_test))."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} does not exist")
    arrays = {}
    for key, stem in IDX_FILES.items():
        path = _find(folder, stem)
        arrays[key] = _parse_idx(path, _IMAGE_MAGIC if key.endswith("images") else _LABEL_MAGIC)
        if key.endswith("labels") and arrays[key].size and arrays[key].max() > 9:
            raise DataError(f"{path} holds label {int(arrays[key].max())}; labels must lie in 0-9")
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{folder}: {split} set has {len(images)} images but {len(labels)} labels"
            )
    return (
        (arrays["train_images"], arrays["train_labels"]),
        (arrays["test_images"], arrays["test_labels"]),
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


def _stratified_split(labels: np.ndarray, validation_size: int, seed: int):
    """Indices (train, validation), validation holding each class in proportion."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    # Largest-remainder allocation, so the class quotas add up to validation_size exactly.
    exact = counts * validation_size / len(labels)
    quota = np.floor(exact).astype(int)
    shortfall = validation_size - quota.sum()
    quota[np.argsort(-(exact - quota), kind="stable")[:shortfall]] += 1
    validation = np.concatenate(
        [
            rng.permutation(np.flatnonzero(labels == label))[:take]
            for label, take in zip(classes, quota, strict=True)
        ]
    )
    mask = np.ones(len(labels), dtype=bool)
    mask[validation] = False
    # Shuffle both sides so that neither is ordered by class.
    return rng.permutation(np.flatnonzero(mask)), rng.permutation(validation)


def _scale(images: np.ndarray, scale: str) -> np.ndarray:
    images = images.astype(np.float32) / np.float32(255.0)
    return images * np.float32(2.0) - np.float32(1.0) if scale == "symmetric" else images


def _check_arguments(name, scale, validation_size) -> None:
    """Refuses a bad argument of `load_dataset`, naming it: a caller passes several of the
    same kind."""
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(
            f"load_dataset: name must be one of {', '.join(DATASETS)}, got {name!r:.80}"
        )
    if not isinstance(scale, str) or scale not in SCALES:
        raise ValueError(
            f"load_dataset: scale must be one of {', '.join(SCALES)}, got {scale!r:.80}"
        )
    if isinstance(validation_size, bool) or not isinstance(validation_size, int | np.integer):
        raise ValueError(
            f"load_dataset: validation_size must be a whole number, got {validation_size!r:.80}"
        )


def load_dataset(
    name: str,
    *,
    validation_size: int = 10_000,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    scale: str = "unit",
) -> Dataset:
    """Loads a dataset with a stratified validation split carved out of its training set.

    Args:
        name: "mnist" or "fashion_mnist".
        validation_size: images moved from the training set into the validation set.
        seed: seeds the validation split, so the same seed gives the same split.
        data_dir: a folder holding the four IDX files. Without it the loader looks in
            $KERASNN_DATA_DIR/<mnist|fashion-mnist>/, then downloads through Keras.
        scale: "unit" maps pixels to [0, 1], "symmetric" to [-1, 1].

    Returns:
        A frozen `Dataset`; the test set is the official one, untouched.
    """
    _check_arguments(name, scale, validation_size)
    if data_dir is None and os.environ.get("KERASNN_DATA_DIR"):
        data_dir = Path(os.environ["KERASNN_DATA_DIR"]) / DATASETS[name]
    if data_dir is not None:
        (x_train, y_train), (x_test, y_test) = read_idx_folder(data_dir)
        source = f"IDX files in {data_dir}"
    else:
        (x_train, y_train), (x_test, y_test) = _download(name)
        source = "keras.datasets download"
    check_contents(name, (x_train, y_train), (x_test, y_test), data_dir)
    if not 0 < validation_size < len(y_train):
        raise ValueError(
            f"load_dataset: validation_size must lie between 1 and {len(y_train) - 1}, "
            f"got {validation_size}"
        )
    train_index, validation_index = _stratified_split(y_train, validation_size, seed)
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
    )
