"""Reading a user's dataset files into arrays: `.npz` files and CIFAR-10's python folders.

Both are bounded before they are read (see `kerasnn.arrays.check_size`), and neither can
run code: `.npz` files are read without pickle, CIFAR-10's pickled batches with an
unpickler that builds nothing but plain containers and NumPy arrays.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from kerasnn.arrays import MAX_DATA_BYTES, DataError, check_size, gigabytes

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
CIFAR_FILES = (*CIFAR_TRAIN_BATCHES, "test_batch", "batches.meta")
CIFAR_SHAPE = (32, 32, 3)
# The globals a pickled NumPy array needs (its reconstructor, its type, its dtype), under
# NumPy 1's module name (CIFAR-10's files) and NumPy 2's: nothing else is ever looked up.
_ARRAY_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct",)
} | {("numpy", "ndarray"), ("numpy", "dtype")}


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays x_train, y_train and, when present, x_test and y_test of an .npz file.

    Each array's header is read first, so an absurd shape is refused before its data is.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            _check_npz_keys(members, path)
            present = [key for key in NPZ_KEYS if key in members]
            shapes = {key: _npy_shape(archive, members[key], path) for key in present}
            check_size(shapes, str(path))
            with np.load(path, allow_pickle=False) as arrays:
                return {key: arrays[key] for key in present}
    except (zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path} is not a valid .npz file ({error})") from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:  # NumPy refusing an object array or a broken header.
        if isinstance(error, DataError):
            raise
        raise DataError(f"{path}: {error}") from None


def _check_npz_keys(members: dict[str, str], path: Path) -> None:
    missing = [key for key in ("x_train", "y_train") if key not in members]
    if missing:
        raise DataError(
            f"{path} has no {' or '.join(missing)}; an .npz dataset holds x_train, y_train "
            f"and optionally x_test, y_test (it holds {', '.join(sorted(members)) or 'nothing'})"
        )
    if ("x_test" in members) != ("y_test" in members):
        raise DataError(f"{path} holds one of x_test and y_test; give both or neither")


def _npy_shape(archive: zipfile.ZipFile, member: str, path: Path) -> tuple[int, ...]:
    with archive.open(member) as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(file)
        elif version == (2, 0):
            shape, _, _ = np.lib.format.read_array_header_2_0(file)
        else:
            raise DataError(f"{path}: {member} has .npy format version {version}, not 1 or 2")
    return shape


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds plain containers and NumPy arrays, and refuses any other
    class or function a pickle names (which is how a pickle would run code)."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which is never loaded")


def unpickle(path: Path) -> object:
    """The object pickled in `path`, built by `_ArraysOnly`; the bytes are read whole
    first (a CIFAR-10 batch is 30 MB)."""
    try:
        if path.stat().st_size > MAX_DATA_BYTES:
            raise DataError(
                f"{path} takes {gigabytes(path.stat().st_size)}; at most "
                f"{gigabytes(MAX_DATA_BYTES)} are loaded"
            )
        data = path.read_bytes()
        return _ArraysOnly(io.BytesIO(data), encoding="bytes").load()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    except DataError:
        raise
    except Exception as error:  # Unpickling a broken file raises many types.
        raise DataError(f"{path} is not a plain pickled batch: {error}") from None


def _field(batch: object, key: str, path: Path):
    """`batch[key]` of an unpickled dict whose keys are bytes (CIFAR-10's) or text."""
    if not isinstance(batch, dict):
        raise DataError(f"{path} holds a {type(batch).__name__}, not a dict of a CIFAR-10 batch")
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise DataError(f"{path} has no {key!r} entry, which CIFAR-10's layout has")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch's images as (n, 32, 32, 3) uint8 and its labels."""
    batch = unpickle(path)
    data, labels = _field(batch, "data", path), _field(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{path}: 'data' is not a 2-D uint8 array of images")
    if data.shape[1] != np.prod(CIFAR_SHAPE):
        raise DataError(f"{path}: 'data' rows hold {data.shape[1]} values, not 32x32x3 = 3072")
    if not isinstance(labels, list | np.ndarray) or not all(
        isinstance(label, int | np.integer) for label in labels
    ):
        raise DataError(f"{path}: 'labels' is not a list of whole numbers")
    # Each row holds the red plane, then the green, then the blue, each row by row.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def is_cifar_folder(folder: Path) -> bool:
    return (folder / "data_batch_1").is_file() or (folder / "batches.meta").is_file()


def read_cifar_folder(folder: Path):
    """((x_train, y_train), (x_test, y_test), class names) of a CIFAR-10 python folder."""
    missing = [name for name in CIFAR_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"{folder}: missing {', '.join(missing)} of CIFAR-10's python layout "
            f"({', '.join(CIFAR_FILES)})"
        )
    train = [_cifar_batch(folder / name) for name in CIFAR_TRAIN_BATCHES]
    x_test, y_test = _cifar_batch(folder / "test_batch")
    names = _field(unpickle(folder / "batches.meta"), "label_names", folder / "batches.meta")
    if not isinstance(names, list) or not all(isinstance(n, bytes | str) for n in names):
        raise DataError(f"{folder / 'batches.meta'}: 'label_names' is not a list of names")
    class_names = tuple(n.decode() if isinstance(n, bytes) else n for n in names)
    x_train = np.concatenate([images for images, _ in train])
    y_train = np.concatenate([labels for _, labels in train])
    return (x_train, y_train), (x_test, y_test), class_names
