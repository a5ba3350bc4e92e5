"""The study's own facts: which code trained it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from studies.engine import study


def _git(folder, *arguments) -> None:
    subprocess.run(["git", *arguments], cwd=folder, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_code_version_says_changes_when_a_package_file_was_edited(tmp_path):
    (tmp_path / "kerasnn").mkdir()
    (tmp_path / "studies").mkdir()
    (tmp_path / "kerasnn" / "scoring.py").write_text("A = 1\n")
    (tmp_path / "studies" / "run.py").write_text("B = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    clean = study.code_version(tmp_path)
    assert clean and not clean.endswith("+changes")
    (tmp_path / "kerasnn" / "scoring.py").write_text("A = 2\n")
    assert study.code_version(tmp_path) == clean + "+changes"


def test_code_version_looks_at_the_checkout_that_holds_both_packages():
    assert (study.CODE_ROOT / "kerasnn" / "__init__.py").is_file()
    assert (study.CODE_ROOT / "studies" / "__init__.py").is_file()


def test_a_process_reads_each_finished_trial_of_a_database_once(tmp_path, monkeypatch):
    """Checking a stored study reads no trial, and every study opened on one storage shares
    Optuna's cache: a large study is not read again by each check and stage."""
    import optuna
    from optuna.storages import RDBStorage

    from studies.storage import close, open_storage

    storage = open_storage(f"sqlite:///{tmp_path}/s.db")
    made = optuna.create_study(storage=storage, study_name="s")
    for value in (0.1, 0.2, 0.3):
        made.add_trial(optuna.trial.create_trial(value=value))
    close(storage)
    storage = open_storage(f"sqlite:///{tmp_path}/s.db")
    read = []
    original = RDBStorage._get_trials

    def counted(self, *args, **kwargs):
        trials = original(self, *args, **kwargs)
        read.extend(trial.number for trial in trials)
        return trials

    monkeypatch.setattr(RDBStorage, "_get_trials", counted)
    stored = study.stored_study(storage, "s")
    assert (stored.study_name, stored.directions) == ("s", [optuna.study.StudyDirection.MINIMIZE])
    assert study.stored_study(storage, "absent") is None
    assert read == []
    for _ in range(3):
        loaded = optuna.load_study(study_name="s", storage=storage)
        assert [trial.value for trial in loaded.get_trials()] == [0.1, 0.2, 0.3]
    assert read == [0, 1, 2]
    close(storage)
