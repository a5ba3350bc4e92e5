"""A trial's files (curves, weights) in Optuna's artifact store, written and read back."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

# What np.load raises for a file cut short, emptied or garbled.
UNREADABLE = (ValueError, EOFError, OSError, KeyError, zipfile.BadZipFile)

# A trial's weights are a few megabytes; a file far larger in the store is not one of ours
# and is not read into memory.
LARGEST_ARTIFACT = 512 << 20


class AtomicFileStore(FileSystemArtifactStore):
    """Optuna's file-system store, except that a stored file is whole or absent.

    Optuna records an artifact on its trial before writing the file, so a write cut short
    (a full disk) would leave a truncated file that every later read trips over. Here the
    file is written under a temporary name beside its own, synced, then renamed into
    place; a failed write removes what it wrote. Reading is Optuna's own.
    """

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.folder = Path(folder)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        if Path(artifact_id).name != artifact_id:
            raise ValueError(f"invalid artifact id {artifact_id!r}")
        target = self.folder / artifact_id
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{artifact_id}.")
            with os.fdopen(handle, "wb") as file:
                shutil.copyfileobj(content_body, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except OSError as error:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            # The message itself names the file: callers print strerror alone.
            reason = error.strerror or str(error)
            raise OSError(error.errno, f"cannot write {target}: {reason}") from None


def upload(trial, artifact_dir: Path, files: list[tuple[Path, str]]) -> None:
    """Uploads (path, mimetype) pairs for `trial`; OSError naming the file if one cannot be
    written (the artifact then stays recorded on the trial, but reads as missing)."""
    artifact_dir.mkdir(parents=True, exist_ok=True)
    store = AtomicFileStore(artifact_dir)
    for path, mimetype in files:
        upload_artifact(
            artifact_store=store, file_path=str(path), study_or_trial=trial, mimetype=mimetype
        )


def fetch(trial, storage, artifact_dir: Path, prefix: str, suffix: str) -> tuple[bytes | None, str]:
    """The contents of the trial's first artifact named PREFIX...SUFFIX.

    Returns:
        (contents, "") when it was read, else (None, why not): none stored, or missing
        from the store or unreadable there.
    """
    try:
        stored = optuna.artifacts.get_all_artifact_meta(trial, storage=storage)
    except (ValueError, KeyError, TypeError) as error:  # An edited record: JSON, keys, types.
        return None, f"trial {trial.number}'s artifact records are damaged ({type(error).__name__})"
    metas = [
        meta
        for meta in stored
        if str(meta.filename).startswith(prefix) and str(meta.filename).endswith(suffix)
    ]
    if not metas:
        return None, f"trial {trial.number} has no stored {prefix}*{suffix}"
    meta = metas[0]
    if not _inside(artifact_dir, meta.artifact_id):
        # An edited storage could name any file on the machine (../../etc/passwd): only
        # the store's own files are read.
        return None, (
            f"{meta.filename} of trial {trial.number} has the artifact id "
            f"{str(meta.artifact_id)[:80]!r}, which is not a file of {artifact_dir}; not read"
        )
    try:
        with FileSystemArtifactStore(str(artifact_dir)).open_reader(meta.artifact_id) as reader:
            contents = reader.read(LARGEST_ARTIFACT + 1)
    except ArtifactNotFound:
        reason = "missing from"
    except OSError as error:
        reason = f"unreadable ({error.strerror or error}) in"
    else:
        if len(contents) <= LARGEST_ARTIFACT:
            return contents, ""
        reason = f"larger than {LARGEST_ARTIFACT >> 20} MiB, more than a study stores, in"
    return None, f"{meta.filename} of trial {trial.number} is {reason} {artifact_dir}"


def _inside(folder: Path, artifact_id) -> bool:
    """Whether the artifact id names a file directly in `folder`, links followed."""
    if not isinstance(artifact_id, str) or artifact_id in ("", ".", ".."):
        return False
    if Path(artifact_id).name != artifact_id or "\x00" in artifact_id:
        return False
    return (folder / artifact_id).resolve().parent == folder.resolve()


def _load(trial, storage, artifact_dir: Path, prefix: str, suffix: str, read):
    """`read(np.load(contents))` for the trial's artifact, or None and a one-line reason;
    a truncated or corrupted file counts as missing."""
    contents, problem = fetch(trial, storage, artifact_dir, prefix, suffix)
    if contents is None:
        return None, problem
    try:
        return read(np.load(io.BytesIO(contents), allow_pickle=False)), ""
    except UNREADABLE as error:
        where = f"the stored {prefix}*{suffix} of trial {trial.number} in {artifact_dir}"
        detail = f"{len(contents)} bytes, {type(error).__name__}"
        return None, f"{where} is truncated or corrupted ({detail})"


def load_kernel(trial, storage, artifact_dir: Path) -> tuple[np.ndarray | None, str]:
    """The trial's first-layer kernel (best-epoch weights) as float32, or None and why not."""

    def read(array):
        if array.ndim != 2 or array.shape[0] != 28 * 28:
            raise ValueError(f"shape {array.shape}")
        return array.astype(np.float32)

    return _load(trial, storage, artifact_dir, "weights", ".npy", read)


def load_weights(trial, storage, artifact_dir: Path) -> list[np.ndarray]:
    """All of a confirmation run's best-epoch weights, in the model's order.

    Raises:
        FileNotFoundError with a one-line reason when they are missing or unreadable.
    """

    def read(stored):
        return [stored[f"arr_{index}"] for index in range(len(stored.files))]

    weights, problem = _load(trial, storage, artifact_dir, "model-weights", ".npz", read)
    if weights is None:
        raise FileNotFoundError(problem)
    return weights
