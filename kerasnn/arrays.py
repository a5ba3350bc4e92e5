"""Checks and conversions of a dataset's arrays: sizes, labels, values, scaling, fingerprint.

Every check runs before anything trains on (or a study records) the data, and each
refusal is a `DataError` whose one line names where the array came from and what is wrong.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib

import numpy as np

from kerasnn.config import MAX_CLASSES

# The most memory the float32 arrays of one dataset may take: about twenty times
# Fashion-MNIST's (220 MB), so that a wrong file is refused before it fills the memory.
MAX_DATA_BYTES = 4 * 2**30
# Floating-point values beyond this magnitude look like raw pixels or unscaled features.
RAW_VALUES = 10.0


class DataError(ValueError):
    """A dataset file is missing, truncated or corrupted, or its arrays cannot be used."""


def gigabytes(size: float) -> str:
    return f"{size / 1e9:.2f} GB"


def check_size(shapes: dict[str, tuple[int, ...]], where: str) -> None:
    """Refuses arrays of these `shapes` (name -> shape) whose float32 copies would take more
    than MAX_DATA_BYTES; checked from the shapes alone, before anything is read."""
    total = sum(4 * int(np.prod(shape, dtype=np.float64)) for shape in shapes.values())
    if total > MAX_DATA_BYTES:
        listed = ", ".join(f"{name} {tuple(shape)}" for name, shape in shapes.items())
        raise DataError(
            f"{where}: the arrays ({listed}) would take {gigabytes(total)} of memory as "
            f"float32; at most {gigabytes(MAX_DATA_BYTES)} are loaded"
        )


def check_pair(images: np.ndarray, labels: np.ndarray, split: str, where: str) -> np.ndarray:
    """The labels of one split as a flat array, once images and labels agree in length."""
    if images.ndim < 2 or 0 in images.shape:
        raise DataError(
            f"{where}: x_{split} has shape {images.shape}; expected (examples, ...) with "
            "at least one example of at least one value"
        )
    if labels.ndim == 2 and labels.shape[1] == 1:  # Keras' own datasets store (n, 1).
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{where}: y_{split} has shape {labels.shape}; expected (examples,)")
    if len(images) != len(labels):
        raise DataError(
            f"{where}: {split} split has {len(images)} examples but {len(labels)} labels"
        )
    return labels


def whole_labels(labels: np.ndarray, split: str, where: str) -> np.ndarray:
    """`labels` as int32 once each is a whole number >= 0."""
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise DataError(f"{where}: y_{split} holds labels that are not whole numbers")
    elif labels.dtype.kind not in "iu":
        raise DataError(f"{where}: y_{split} holds {labels.dtype} values, not whole numbers")
    if labels.size and labels.min() < 0:
        raise DataError(f"{where}: y_{split} holds label {labels.min()}; labels start at 0")
    if labels.size and labels.max() >= 2**31:
        raise DataError(f"{where}: y_{split} holds label {labels.max()}, far too large")
    return labels.astype(np.int32)


def check_classes(y_train: np.ndarray, y_test: np.ndarray, where: str) -> int:
    """The number of classes (the largest training label plus one), once every class up
    to it occurs in the training split and no test label lies beyond it."""
    classes = int(y_train.max()) + 1
    if classes < 2:
        raise DataError(f"{where}: y_train holds one class only; at least two are needed")
    if classes > MAX_CLASSES:
        raise DataError(
            f"{where}: y_train holds label {classes - 1}; at most {MAX_CLASSES} classes "
            f"(labels 0-{MAX_CLASSES - 1}) are trained"
        )
    missing = np.flatnonzero(np.bincount(y_train, minlength=classes) == 0)
    if missing.size:
        raise DataError(
            f"{where}: y_train never holds class {missing[0]} of 0-{classes - 1}; every "
            "class must occur in the training split (labels are 0 to classes - 1)"
        )
    if y_test.size and y_test.max() >= classes:
        raise DataError(
            f"{where}: y_test holds label {y_test.max()}, out of the training labels' "
            f"range 0-{classes - 1}"
        )
    return classes


def check_split_room(labels: np.ndarray, validation_size: int, where: str) -> None:
    """Refuses a stratified split of `validation_size` that would leave some class with no
    example on one side (see `stratified_split`)."""
    if not 0 < validation_size < len(labels):
        raise DataError(
            f"{where}: a validation split of {validation_size} does not fit "
            f"{len(labels)} training examples"
        )
    counts = np.bincount(labels)
    quotas = class_quotas(counts, validation_size)
    short = np.flatnonzero((quotas == 0) | (quotas == counts))
    if short.size:
        needed = int(np.ceil(len(labels) / validation_size)) + 1
        raise DataError(
            f"{where}: class {short[0]} has {counts[short[0]]} training examples, too few "
            f"for a stratified validation split of {validation_size} (each class needs "
            f"about {needed})"
        )


def to_unit_floats(images: np.ndarray, split: str, where: str) -> tuple[np.ndarray, float]:
    """float32 images and the factor they were multiplied by: unsigned integers are scaled
    by their type's maximum (uint8 by 1/255), floating-point values are taken as given."""
    kind = images.dtype.kind
    if kind == "u":
        factor = 1.0 / np.iinfo(images.dtype).max
        return images.astype(np.float32) / np.float32(np.iinfo(images.dtype).max), factor
    if kind != "f":
        raise DataError(
            f"{where}: x_{split} holds {images.dtype} values; give unsigned integers "
            "(uint8 pixels 0-255, say) or floating-point values"
        )
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise DataError(f"{where}: x_{split} holds NaN or infinite values")
    return images, 1.0


def raw_values_warning(images: np.ndarray, where: str) -> str | None:
    """A warning when floating-point training values look unscaled (far outside [0, 1])."""
    low, high = float(images.min()), float(images.max())
    if max(abs(low), abs(high)) <= RAW_VALUES:
        return None
    return (
        f"{where}: x_train's values run from {low:g} to {high:g}, far outside [0, 1]; "
        "floating-point values are used as given, so scale them first (pixels to [0, 1], "
        "features to zero mean and unit variance) unless this is meant"
    )


def class_quotas(counts: np.ndarray, size: int) -> np.ndarray:
    """Each class's share of `size` examples by largest remainder, adding up exactly."""
    exact = counts * size / counts.sum()
    quota = np.floor(exact).astype(int)
    shortfall = size - quota.sum()
    quota[np.argsort(-(exact - quota), kind="stable")[:shortfall]] += 1
    return quota


def stratified_split(labels: np.ndarray, size: int, seed: int):
    """Indices (rest, taken): `size` examples taken out, each class in proportion."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    taken = np.concatenate(
        [
            rng.permutation(np.flatnonzero(labels == label))[:take]
            for label, take in zip(classes, class_quotas(counts, size), strict=True)
        ]
    )
    mask = np.ones(len(labels), dtype=bool)
    mask[taken] = False
    # Shuffle both sides so that neither is ordered by class.
    return rng.permutation(np.flatnonzero(mask)), rng.permutation(taken)


def fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """The sha256 of the arrays' names, dtypes, shapes and bytes, in the given order."""
    digest = hashlib.sha256()
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()
