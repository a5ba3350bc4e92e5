"""The artifact store on a real full file system: a file is stored whole or not at all, a
failed write names its file, and anything unreadable reads back as missing with its reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import optuna
import pytest
from services import SMALL, cli, full_tmpfs

from studies.storage import artifacts

KERNEL = np.arange(784 * 16, dtype=np.float16).reshape(784, 16)


@pytest.fixture
def storage():
    return optuna.storages.InMemoryStorage()


@pytest.fixture
def study(storage):
    return optuna.create_study(storage=storage)


def weights_file(tmp_path: Path) -> Path:
    path = tmp_path / "weights-trial-0.npy"
    np.save(path, KERNEL)
    return path


def stored_file(folder: Path) -> Path:
    (path,) = [path for path in folder.iterdir() if path.name != "filler"]
    return path


def test_a_write_to_a_full_disk_names_its_file_and_leaves_nothing_behind(tmp_path, study, storage):
    folder = tmp_path / "artifacts"
    first = study.ask()
    with full_tmpfs(folder) as filler:
        with pytest.raises(OSError) as error:
            artifacts.upload(first, folder, [(weights_file(tmp_path), "application/octet-stream")])
        assert str(error.value.strerror).startswith(f"cannot write {folder}/")
        assert str(error.value.strerror).endswith(": No space left on device")
        assert [path.name for path in folder.iterdir()] == ["filler"]  # No partial, no 0 bytes.

        filler.unlink()  # Space freed: the failed artifact reads as absent, with its reason
        # (recorded but missing, or never recorded: Optuna 5 records it only once written),
        absent = (
            f"weights-trial-0.npy of trial 0 is missing from {folder}",
            "trial 0 has no stored weights*.npy",
        )
        kernel, problem = artifacts.load_kernel(first, storage, folder)
        assert kernel is None and problem in absent
        # and the next trial's file is written whole and reads back.
        second = study.ask()
        artifacts.upload(second, folder, [(weights_file(tmp_path), "application/octet-stream")])
        kernel, problem = artifacts.load_kernel(second, storage, folder)
        assert problem == "" and np.array_equal(kernel, KERNEL.astype(np.float32))
        assert [path.name for path in folder.iterdir()] == [stored_file(folder).name]


@pytest.mark.parametrize("size", [0, 1000], ids=["empty", "truncated"])
def test_a_truncated_artifact_reads_as_missing_with_its_reason(tmp_path, study, storage, size):
    trial = study.ask()
    folder = tmp_path / "artifacts"
    artifacts.upload(trial, folder, [(weights_file(tmp_path), "application/octet-stream")])
    os.truncate(stored_file(folder), size)
    kernel, problem = artifacts.load_kernel(trial, storage, folder)
    assert kernel is None
    assert problem == (
        f"the stored weights*.npy of trial 0 in {folder} is truncated or corrupted "
        f"({size} bytes, {'EOFError' if size == 0 else 'ValueError'})"
    )


def test_truncated_model_weights_are_a_one_line_file_not_found_error(tmp_path, study, storage):
    trial = study.ask()
    folder = tmp_path / "artifacts"
    path = tmp_path / "model-weights-trial-0.npz"
    np.savez(path, KERNEL, np.zeros(16))
    artifacts.upload(trial, folder, [(path, "application/octet-stream")])
    assert len(artifacts.load_weights(trial, storage, folder)) == 2
    os.truncate(stored_file(folder), 500)
    with pytest.raises(FileNotFoundError) as error:
        artifacts.load_weights(trial, storage, folder)
    assert str(error.value).startswith(f"the stored model-weights*.npz of trial 0 in {folder}")
    assert "\n" not in str(error.value)


def study_options(tmp_path: Path, *extra: str) -> list[str]:
    storage = ["--storage", str(tmp_path / "study.log"), "--study-name", "kept"]
    return [*SMALL, *storage, "--reports", str(tmp_path / "r"), *extra]


def test_a_run_on_a_full_disk_warns_naming_the_file_and_its_report_rebuilds_later(
    tmp_path, capsys, data_dir
):
    folder = tmp_path / "r" / "artifacts"
    with full_tmpfs(folder) as filler:
        outcome = cli(study_options(tmp_path, "--trials", "1"), capsys)
        assert outcome.code == 0, outcome
        (warning,) = [line for line in outcome.err.splitlines() if "warning" in line]
        assert warning.startswith(f"warning: trial 0: artifacts not written to {folder}: ")
        assert f"cannot write {folder}/" in warning and "No space left on device" in warning
        assert [path.name for path in folder.iterdir()] == ["filler"]

        filler.unlink()
        rebuilt = cli(study_options(tmp_path, "--report-only"), capsys)
    assert rebuilt.code == 0 and "Traceback" not in rebuilt.err, rebuilt
    summary = (tmp_path / "r" / "kept" / "summary.md").read_text()
    assert "weights.png not drawn: trial 0 has no stored weights*.npy" in summary


def test_a_truncated_weights_file_left_by_an_earlier_run_is_drawn_as_missing(
    tmp_path, capsys, data_dir
):
    assert cli(study_options(tmp_path, "--trials", "1"), capsys).code == 0
    (stored,) = [
        path
        for path in (tmp_path / "r" / "artifacts").iterdir()
        if path.read_bytes()[:6] == b"\x93NUMPY"
    ]
    os.truncate(stored, stored.stat().st_size // 2)
    rebuilt = cli(study_options(tmp_path, "--report-only"), capsys)
    assert rebuilt.code == 0 and "Traceback" not in rebuilt.err, rebuilt
    summary = (tmp_path / "r" / "kept" / "summary.md").read_text()
    assert "weights.png not drawn: the stored weights*.npy of trial 0" in summary
    assert "is truncated or corrupted" in summary
