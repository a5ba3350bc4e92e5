"""Opening storages: damaged, foreign, read-only and locked ones are refused untouched."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import stat
from pathlib import Path

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from services import foreign_sqlite, refusal

from studies.storage import (
    StorageError,
    StorageWarning,
    check,
    close,
    describe_fault,
    exists,
    open_storage,
    redact,
    scrub,
)


@pytest.fixture(autouse=True)
def quiet_optuna():
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(verbosity)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_study(storage, trials: int = 3) -> list[optuna.trial.FrozenTrial]:
    """A real study of `trials` trials in `storage`, made by Optuna alone."""
    study = optuna.create_study(storage=storage, study_name="tiny")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=trials)
    return study.trials


def real_journal(path: Path) -> list[optuna.trial.FrozenTrial]:
    return tiny_study(JournalStorage(JournalFileBackend(str(path))))


def real_sqlite(path: Path) -> list[optuna.trial.FrozenTrial]:
    storage = RDBStorage(f"sqlite:///{path}")
    try:
        return tiny_study(storage, trials=2)
    finally:
        storage.engine.dispose()


def read_only(path: Path) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def writable(path: Path) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)


def tables(path: Path) -> set[str]:
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


# Journal files.


@pytest.mark.parametrize("ending", ["cut mid-line", "cut mid-line, then a newline"])
def test_a_torn_journal_is_cut_back_to_its_last_complete_record_and_then_extends(ending, tmp_path):
    path = tmp_path / "study.log"
    before = real_journal(path)
    whole = path.read_bytes()
    last_line_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    cut = last_line_start + (len(whole) - last_line_start) // 2
    torn = whole[:cut] + (b"\n" if "newline" in ending else b"")
    path.write_bytes(torn)

    check(str(path))  # Checking alone repairs nothing.
    assert path.read_bytes() == torn
    dropped = len(torn) - last_line_start
    with pytest.warns(StorageWarning, match=rf"dropped a half-written last record \({dropped} "):
        storage = open_storage(str(path))

    assert path.read_bytes() == whole[:last_line_start]
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert [trial.params for trial in study.trials] == [trial.params for trial in before]
    assert [trial.value for trial in study.trials[:-1]] == [trial.value for trial in before[:-1]]
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    # A fresh reader of the file sees every trial, the new one complete after the others.
    reread = optuna.load_study(
        study_name="tiny", storage=JournalStorage(JournalFileBackend(str(path)))
    )
    assert len(reread.trials) == len(before) + 1
    assert reread.trials[-1].state == TrialState.COMPLETE


def test_a_torn_journal_is_read_for_a_report_as_is_and_cut_back_before_a_write(tmp_path):
    path = tmp_path / "study.log"
    before = real_journal(path)
    whole = path.read_bytes()
    last_line_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(whole[:-20])
    fingerprint = digest(path)

    with pytest.warns(StorageWarning, match="ends with a half-written record"):
        storage = open_storage(str(path), write=False)
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert [trial.params for trial in study.trials] == [trial.params for trial in before]
    assert digest(path) == fingerprint
    # A report may still write (a dead worker's trial marked FAIL): the cut-off record goes
    # first, so the write does not glue onto it.
    with pytest.warns(StorageWarning, match="dropped a half-written last record"):
        study.set_user_attr("note", "written by a report")
    assert path.read_bytes().startswith(whole[:last_line_start])
    reread = optuna.load_study(
        study_name="tiny", storage=JournalStorage(JournalFileBackend(str(path)))
    )
    assert reread.user_attrs == {"note": "written by a report"}
    assert len(reread.trials) == len(before)


def journal_with_a_foreign_middle_line(path: Path) -> bytes:
    real_journal(path)
    lines = path.read_bytes().splitlines(keepends=True)
    return b"".join([*lines[:2], b"not json at all\n", *lines[2:]])


def journal_with_a_complete_foreign_last_line(path: Path) -> bytes:
    real_journal(path)
    return path.read_bytes() + b'{"op_code":1}\n'


NOT_JOURNALS = {
    "plain text": lambda path: b"first line\nsecond line\n",
    "binary": lambda path: random.Random(0).randbytes(4096),
    "JSON lines without op_code": lambda path: b'{"a": 1}\n{"b": 2}\n',
    "a middle line that is not JSON": journal_with_a_foreign_middle_line,
    "a complete last line that is no record": journal_with_a_complete_foreign_last_line,
}


@pytest.mark.parametrize("write", [True, False], ids=["run", "report"])
@pytest.mark.parametrize("content", NOT_JOURNALS.values(), ids=NOT_JOURNALS.keys())
def test_a_file_that_is_not_an_optuna_journal_is_refused_and_left_untouched(
    content, write, tmp_path
):
    path = tmp_path / "study.log"
    path.write_bytes(content(path))
    fingerprint = digest(path)

    assert "is not an Optuna journal" in refusal(check, str(path), write=write)
    assert "is not an Optuna journal" in refusal(open_storage, str(path), write=write)
    assert digest(path) == fingerprint
    assert sorted(tmp_path.iterdir()) == [path]  # Not even a lock file was made.


@pytest.mark.parametrize("spelling", ["study.log", "study.log/"])
def test_a_folder_named_like_a_journal_is_refused(spelling, tmp_path):
    (tmp_path / "study.log").mkdir()
    url = str(tmp_path) + "/" + spelling
    for write in (True, False):
        assert "not a journal file" in refusal(open_storage, url, write=write)
    assert list((tmp_path / "study.log").iterdir()) == []


# Tests run as root, for whom chmod does not stop writes; the storage module counts a file or
# folder that grants nobody write permission as read-only all the same, so these are real.
@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_journal_is_refused_for_a_run_but_read_for_a_report(what, tmp_path):
    folder = tmp_path / "journals"
    folder.mkdir()
    path = folder / "study.log"
    before = real_journal(path)
    fingerprint = digest(path)
    target = path if what == "file" else folder
    read_only(target)
    try:
        expected = "is read-only" if what == "file" else "is not writable"
        assert expected in refusal(check, str(path))
        assert expected in refusal(open_storage, str(path))
        storage = open_storage(str(path), write=False)
        study = optuna.load_study(study_name="tiny", storage=storage)
        assert [trial.value for trial in study.trials] == [trial.value for trial in before]
        assert expected in refusal(study.set_user_attr, "note", "not written")
        assert digest(path) == fingerprint
        assert sorted(folder.iterdir()) == [path]
    finally:
        writable(target)


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_journal_that_is_missing_or_empty_is_refused_for_reading_and_not_created(state, tmp_path):
    path = tmp_path / "study.log"
    if state == "empty":
        path.touch()
    expected = "does not exist" if state == "missing" else "is empty, not a study storage"
    assert expected in refusal(check, str(path), write=False)
    assert expected in refusal(open_storage, str(path), write=False)
    assert exists(str(path)) is (state == "empty")
    assert not path.exists() or path.stat().st_size == 0


# SQLite.


NOT_SQLITE = {
    "text": (b"name,email\nada,ada@example.org\n", "is not an SQLite database"),
    "random bytes": (random.Random(1).randbytes(8192), "is not an SQLite database"),
    "SQLite's header, then garbage": (
        b"SQLite format 3\x00" + bytes(range(256)) * 16,
        "file is not a database",
    ),
}


@pytest.mark.parametrize("write", [True, False], ids=["run", "report"])
@pytest.mark.parametrize(("content", "expected"), NOT_SQLITE.values(), ids=NOT_SQLITE.keys())
def test_a_file_that_is_not_an_sqlite_database_is_refused_untouched(
    content, expected, write, tmp_path
):
    path = tmp_path / "k.db"
    path.write_bytes(content)
    url = f"sqlite:///{path}"

    assert expected in refusal(check, url, write=write)
    assert expected in refusal(open_storage, url, write=write)
    assert path.read_bytes() == content
    assert sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("write", [True, False], ids=["run", "report"])
def test_another_programs_sqlite_database_is_refused_before_optuna_adds_tables(write, tmp_path):
    path = tmp_path / "shop.db"
    foreign_sqlite(path)
    fingerprint = digest(path)
    url = f"sqlite:///{path}"

    message = refusal(open_storage, url, write=write)
    assert "belongs to another program" in message and "customers" in message
    assert refusal(check, url, write=write) == message
    assert digest(path) == fingerprint
    assert tables(path) == {"customers"}


def test_an_empty_sqlite_file_is_refused_for_reading_and_not_made_a_database(tmp_path):
    path = tmp_path / "k.db"
    path.touch()
    url = f"sqlite:///{path}"

    assert "is empty, not a study storage" in refusal(check, url, write=False)
    assert "is empty, not a study storage" in refusal(open_storage, url, write=False)
    assert path.stat().st_size == 0
    assert sorted(tmp_path.iterdir()) == [path]
    # For a run the same empty file becomes a study storage.
    storage = open_storage(url)
    optuna.create_study(storage=storage, study_name="fresh")
    close(storage)
    assert "studies" in tables(path)


# Tests run as root: see the read-only journal test above.
@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_sqlite_database_is_refused_for_a_run_but_read_for_a_report(what, tmp_path):
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "k.db"
    before = real_sqlite(path)
    fingerprint = digest(path)
    target = path if what == "file" else folder
    read_only(target)
    url = f"sqlite:///{path}"
    try:
        assert "is read-only" in refusal(check, url)
        assert "is read-only" in refusal(open_storage, url)
        storage = open_storage(url, write=False)
        study = optuna.load_study(study_name="tiny", storage=storage)
        assert [trial.value for trial in study.trials] == [trial.value for trial in before]
        with pytest.raises(Exception) as raw:
            study.set_user_attr("note", "not written")
        assert "cannot be written: its file or folder is read-only" in describe_fault(
            raw.value, url
        )
        close(storage)
        assert digest(path) == fingerprint
        assert sorted(folder.iterdir()) == [path]  # No rollback journal was left beside it.
    finally:
        writable(target)


def test_a_locked_sqlite_database_is_one_line_when_opening_and_when_writing(tmp_path):
    path = tmp_path / "k.db"
    real_sqlite(path)
    fingerprint = digest(path)
    url = f"sqlite:///{path}"
    holder = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        for write in (True, False):
            message = refusal(open_storage, url, write=write, lock_timeout=0.2)
            assert "database is locked by another process for more than 0.2 s" in message
        holder.execute("ROLLBACK")
        assert digest(path) == fingerprint

        storage = open_storage(url, lock_timeout=0.2)
        study = optuna.load_study(study_name="tiny", storage=storage)
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(Exception) as raw:
            study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
        assert "database is locked by another process" in describe_fault(raw.value, url, 0.2)
        # Optuna's own exception, described without the URL, is one line too.
        with pytest.raises(Exception) as raw:
            study.set_user_attr("note", "not written")
        assert not isinstance(raw.value, StorageError)
        assert describe_fault(raw.value, lock_timeout=0.2) == (
            "the storage: database is locked by another process for more than 0.2 s; "
            "try again when it has finished"
        )
        holder.execute("ROLLBACK")
        close(storage)
    finally:
        holder.close()
    assert digest(path) == fingerprint


def test_an_sqlite_database_without_optunas_tables_is_refused_for_reading_and_kept(tmp_path):
    path = tmp_path / "k.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 7")  # A database with no tables at all.
    connection.close()
    fingerprint = digest(path)
    url = f"sqlite:///{path}"

    assert "holds no Optuna study storage" in refusal(check, url, write=False)
    assert "holds no Optuna study storage" in refusal(open_storage, url, write=False)
    assert digest(path) == fingerprint
    assert tables(path) == set()


# PostgreSQL.


# URLs.


ODD_PASSWORDS = ["p@ss", "p:ss", "p/ss", "p%ss", "p#ss", "p?ss", "p%40ss", "@@", "a:b@c/d#e%f"]


@pytest.mark.parametrize("password", ODD_PASSWORDS)
def test_redact_hides_the_whole_of_an_odd_password(password):
    url = f"postgresql://kerasnn:{password}@db.example:5432/studies"
    assert redact(url) == "postgresql://kerasnn:***@db.example:5432/studies"
    said = scrub(f"cannot log in to {url} with {password}", url)
    assert password not in said and said.endswith("with ***")


@pytest.mark.parametrize("password", [word for word in ODD_PASSWORDS if "@" in word])
def test_a_password_with_an_unencoded_at_sign_is_refused_without_showing_it(password):
    url = f"postgresql://kerasnn:{password}@db.example:5432/studies"
    message = refusal(check, url)
    # The URL is shown with the whole password hidden, and the rest is fixed text.
    assert message == (
        "storage URL postgresql://kerasnn:***@db.example:5432/studies has more than one '@'; "
        "write an '@' in the password (or in the query) percent-encoded, as %40"
    )


def test_urls_without_a_password_are_shown_as_given():
    for url in ["sqlite:///reports/kerasnn.db", "sqlite:////data/a@b.db", "postgresql://u@h/db"]:
        assert redact(url) == url


def test_exists_tells_file_storages_that_are_there_from_those_that_are_not(tmp_path):
    journal, database = tmp_path / "study.log", tmp_path / "k.db"
    assert not exists(str(journal)) and not exists(f"sqlite:///{database}")
    assert exists("postgresql://kerasnn:pw@db.example/studies")
    assert not exists("sqlite:///:memory:")
    journal.touch()
    database.touch()
    assert exists(str(journal)) and exists(f"sqlite:///{database}")


@pytest.mark.parametrize("write", [True, False], ids=["run", "report"])
def test_checking_a_storage_creates_nothing(write, tmp_path):
    for url in [str(tmp_path / "study.log"), f"sqlite:///{tmp_path / 'k.db'}"]:
        if write:
            check(url)
        else:
            assert "does not exist" in refusal(check, url, write=False)
    assert list(tmp_path.iterdir()) == []
