"""A trial's files (curves, weights) in Optuna's artifact store, written and read back."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact


def upload(trial, artifact_dir: Path, files: list[tuple[Path, str]]) -> None:
    """Uploads (path, mimetype) pairs for `trial`; OSError if the store cannot be written."""
    artifact_dir.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(str(artifact_dir))
    for path, mimetype in files:
        upload_artifact(
            artifact_store=store, file_path=str(path), study_or_trial=trial, mimetype=mimetype
        )


def fetch(trial, storage, artifact_dir: Path, prefix: str, suffix: str, local: Path) -> str:
    """Downloads the trial's first artifact named PREFIX...SUFFIX to `local`.

    Returns:
        "" when it was fetched, else why not (none stored, or missing from the store).
    """
    metas = [
        meta
        for meta in optuna.artifacts.get_all_artifact_meta(trial, storage=storage)
        if meta.filename.startswith(prefix) and meta.filename.endswith(suffix)
    ]
    if not metas:
        return f"trial {trial.number} has no stored {prefix}*{suffix}"
    try:
        download_artifact(
            artifact_store=FileSystemArtifactStore(str(artifact_dir)),
            file_path=str(local),
            artifact_id=metas[0].artifact_id,
        )
    except Exception as error:  # The store raises several types for a missing file.
        return f"artifact missing from {artifact_dir} ({error})"
    return ""


def load_kernel(trial, storage, artifact_dir: Path) -> tuple[np.ndarray | None, str]:
    """The trial's first-layer kernel (best-epoch weights) as float32, or None and why not."""
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "weights.npy"
        problem = fetch(trial, storage, artifact_dir, "weights", ".npy", local)
        if problem:
            return None, problem
        return np.load(local, allow_pickle=False).astype(np.float32), ""


def load_weights(trial, storage, artifact_dir: Path) -> list[np.ndarray]:
    """All of a confirmation run's best-epoch weights, in the model's order."""
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "weights.npz"
        problem = fetch(trial, storage, artifact_dir, "model-weights", ".npz", local)
        if problem:
            raise FileNotFoundError(problem)
        with np.load(local, allow_pickle=False) as stored:
            return [stored[f"arr_{index}"] for index in range(len(stored.files))]
