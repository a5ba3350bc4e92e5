"""Hostile runs of `python -m studies.run`: torn, foreign, read-only and locked storages,
--fresh after a failed check, paths as study names, unwritable folders. Each ends with one
line on stderr and leaves the stored trials as they were (or trains on, where it should)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import sqlite3
import stat
import types
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from services import SMALL, Outcome, cli, foreign_sqlite, immutable, process

from studies import overfitting, run
from studies.settings import SEED_LIMIT, folder_name
from studies.storage import close, open_storage
from studies.storage import faults as storage_faults

ERROR = "python -m studies.run: error: "


def refused(outcome: Outcome, code: int = 2) -> str:
    """Checks a refusal: `code`, one line on stderr, no traceback; returns the line."""
    assert outcome.code == code, outcome
    assert outcome.err.count("\n") == 1 and outcome.err.startswith(ERROR), outcome
    assert "Traceback" not in outcome.out + outcome.err
    return outcome.err.strip()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_trials(url: str, name: str = "kept") -> list[tuple]:
    """The study's trials as plain values, read without writing anything."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # A torn journal is said; here it is only read.
        storage = open_storage(url, write=False)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        return [(t.number, t.state, t.params, t.values, t.user_attrs) for t in study.trials]
    finally:
        close(storage)


@pytest.fixture(scope="module")
def origin(tmp_path_factory, data_dir):
    """A real study "kept" of two trials, in a journal and in an SQLite database."""
    folder = tmp_path_factory.mktemp("origin")
    for url in (str(folder / "kept.log"), f"sqlite:///{folder / 'kept.db'}"):
        argv = [*SMALL, "--storage", url, "--study-name", "kept", "--trials", "2"]
        assert run.main([*argv, "--reports", str(folder / "reports")]) == 0
    return folder


@pytest.fixture(params=["journal", "sqlite"])
def kept(request, origin, tmp_path) -> tuple[str, Path]:
    """A copy of the stored study for one test: its URL and its file."""
    name = "kept.log" if request.param == "journal" else "kept.db"
    (tmp_path / "store").mkdir()
    path = tmp_path / "store" / name
    shutil.copy(origin / name, path)
    return (str(path) if name.endswith(".log") else f"sqlite:///{path}"), path


def options(url: str, tmp_path: Path, *extra: str) -> list[str]:
    reports = ["--reports", str(tmp_path / "r")]
    return [*SMALL, "--storage", url, "--study-name", "kept", *reports, *extra]


def read_only(path: Path) -> None:
    """A mode that lets nobody write: storage.py counts it read-only, also for root."""
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


# 1. Prefixes of options.


@pytest.mark.parametrize("typed", [["--work", "2"], ["--workers", "2", "--fres"]])
def test_a_prefix_of_an_option_is_refused_by_a_real_process_and_the_study_is_kept(
    typed, kept, tmp_path
):
    url, path = kept
    before, fingerprint = stored_trials(url), digest(path)
    line = refused(process([*options(url, tmp_path, "--trials", "4"), *typed]))
    assert f"unrecognized arguments: {typed[-1] if typed[-1] != '2' else typed[0]}" in line
    assert digest(path) == fingerprint and stored_trials(url) == before
    assert not (tmp_path / "r").exists()


# 2. Torn and foreign journals.


def test_a_torn_journal_is_repaired_by_the_next_run_and_keeps_every_earlier_trial(
    origin, tmp_path, capsys
):
    path = tmp_path / "kept.log"
    whole = (origin / "kept.log").read_bytes()
    last = whole.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(whole[: last + (len(whole) - last) // 2])  # The last record cut in two.
    torn = len(path.read_bytes()) - last
    records = whole[:last].count(b"\n")
    before = stored_trials(str(path))

    outcome = cli(options(str(path), tmp_path, "--trials", "3"), capsys)
    assert outcome.code == 0, outcome
    assert outcome.err == (
        f"warning: journal {path}: dropped a half-written last record ({torn} bytes) left by "
        f"an interrupted write; its {records} complete records are kept\n"
    )
    after = stored_trials(str(path))
    assert after[: len(before)] == before
    assert [trial[1] for trial in after] == [TrialState.COMPLETE] * 3


@pytest.mark.parametrize("mode", [[], ["--report-only"]], ids=["run", "report"])
def test_a_plain_text_file_given_as_a_journal_is_refused_and_left_byte_identical(
    mode, tmp_path, capsys, data_dir
):
    path = tmp_path / "notes.log"
    path.write_text("Monday: buy milk\nTuesday: call Ada\n")
    fingerprint = digest(path)
    line = refused(cli([*options(str(path), tmp_path, *mode)], capsys))
    assert f"{path} is not an Optuna journal" in line
    assert digest(path) == fingerprint
    assert sorted(tmp_path.iterdir()) == [path]  # No lock file, no reports.


# 3. --fresh deletes only once every check has passed.


def reports_under_a_file(tmp_path: Path) -> list[str]:
    (tmp_path / "a-file").write_text("not a folder")
    return ["--reports", str(tmp_path / "a-file" / "reports")]


def study_folder_is_a_file(tmp_path: Path) -> list[str]:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "kept").write_text("not a folder")
    return []


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda tmp_path: ["--seed", str(SEED_LIMIT)], "must lie in [0, "),
        (lambda tmp_path: ["--seed", "1", "--rank", "-2"], "--seed plus --rank must lie"),
        (reports_under_a_file, "cannot be created: "),
        (study_folder_is_a_file, "report folder "),
    ],
    ids=["seed", "seed-plus-rank", "reports-under-a-file", "study-folder-is-a-file"],
)
def test_fresh_deletes_nothing_when_a_check_fails(damage, expected, kept, tmp_path, capsys):
    url, path = kept
    before, fingerprint = stored_trials(url), digest(path)
    argv = [*options(url, tmp_path, "--trials", "2", "--fresh"), *damage(tmp_path)]
    assert expected in refused(cli(argv, capsys))
    assert digest(path) == fingerprint and stored_trials(url) == before


def test_fresh_deletes_nothing_when_the_reports_folder_cannot_be_written(kept, tmp_path, capsys):
    url, path = kept
    before, fingerprint = stored_trials(url), digest(path)
    (tmp_path / "r").mkdir()
    with immutable(tmp_path / "r"):
        line = refused(cli(options(url, tmp_path, "--fresh"), capsys))
    assert "cannot be written" in line
    assert digest(path) == fingerprint and stored_trials(url) == before


# 5. A continued or extended study draws new configurations.


def test_continuing_and_extending_a_study_never_repeats_a_configuration(tmp_path, capsys, data_dir):
    url = str(tmp_path / "study.log")
    assert cli(options(url, tmp_path, "--trials", "1"), capsys).code == 0
    assert cli(options(url, tmp_path, "--trials", "3"), capsys).code == 0
    trials = stored_trials(url)
    complete = [params for _, state, params, _, _ in trials if state == TrialState.COMPLETE]
    assert len(complete) == 3
    assert len({tuple(sorted(params.items())) for params in complete}) == 3, complete


# 6. Study names that are paths.


@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_a_study_name_that_is_a_path_writes_only_inside_the_reports_folder(
    kind, tmp_path, monkeypatch, capsys, data_dir
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    name = "../escaped" if kind == "relative" else str(tmp_path / "outside" / "escaped")
    argv = [*SMALL, "--storage", "study.log", "--study-name", name, "--reports", "reports"]
    outcome = cli([*argv, "--trials", "1"], capsys)
    assert outcome.code == 0, outcome
    folder = Path("reports") / folder_name(name)
    assert f"[{name}] report folder: {folder} (the study name made into a safe" in outcome.out
    assert (work / folder / "summary.md").is_file()
    written = {path.relative_to(tmp_path).parts[:2] for path in tmp_path.rglob("*")}
    assert written <= {("work",), ("work", "reports"), ("work", "study.log")}, written


# 7. Another program's database, and empty files, for a run and for a report.


@pytest.mark.parametrize("table", ["customers", "trials", "studies"])
@pytest.mark.parametrize("mode", [[], ["--report-only"]], ids=["run", "report"])
def test_a_foreign_sqlite_database_is_refused_and_left_byte_identical(
    mode, table, tmp_path, capsys, data_dir
):
    # Recognised by Optuna's schema, not by table names: a table called as one of Optuna's
    # but with other columns is another program's too.
    path = tmp_path / "shop.db"
    foreign_sqlite(path, table)
    fingerprint = digest(path)
    line = refused(cli(options(f"sqlite:///{path}", tmp_path, *mode), capsys))
    assert "belongs to another program" in line and table in line
    assert digest(path) == fingerprint
    assert sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("name", ["empty.db", "empty.log"])
def test_an_empty_file_given_to_report_only_stays_empty(name, tmp_path, capsys, data_dir):
    path = tmp_path / name
    path.touch()
    url = f"sqlite:///{path}" if name.endswith(".db") else str(path)
    line = refused(cli(options(url, tmp_path, "--report-only"), capsys))
    assert "is empty, not a study storage" in line
    assert path.stat().st_size == 0 and sorted(tmp_path.iterdir()) == [path]


# 8 and 10. One line, no traceback: refusals of a real process.

SECRET = "p@ss-w0rd"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--seed", str(SEED_LIMIT - 1), "--rank", "1"], "--seed plus --rank must lie in"),
        (["--seed", "-1", "--rank", "1"], "--seed must lie in"),
        (["--heartbeat", str(10**12)], "argument --heartbeat: expected whole seconds"),
        (["--subset", "50001"], "--subset 50001 is more than the 50000 training images"),
        (["--reports", ""], "--reports must name a folder"),
        (
            ["--storage", f"postgresql://kerasnn:{SECRET}@127.0.0.1:9/studies"],
            "storage URL postgresql://kerasnn:***@127.0.0.1:9/studies has more than one '@'",
        ),
        (
            ["overfitting", "--stor", f"postgresql://kerasnn:{SECRET}@127.0.0.1:9/studies"],
            "unrecognized arguments: --stor postgresql://kerasnn:***@127.0.0.1:9/studies",
        ),
    ],
    ids=["seed-plus-rank", "seed", "heartbeat", "subset", "reports", "at-sign", "at-sign-typo"],
)
def test_a_refused_command_is_one_line_from_a_real_process(argv, expected, tmp_path, data_dir):
    storage = ["--storage", str(tmp_path / "study.log")]
    outcome = process([*SMALL, *storage, "--reports", str(tmp_path / "r"), *argv])
    assert expected in refused(outcome)
    assert SECRET not in outcome.err and "p@" not in outcome.err
    assert sorted(tmp_path.iterdir()) == []


def test_a_read_only_storage_is_refused_for_a_run_and_left_as_it_was(kept, tmp_path, capsys):
    url, path = kept
    before, fingerprint = stored_trials(url), digest(path)
    read_only(path)
    line = refused(cli(options(url, tmp_path, "--trials", "3"), capsys))
    assert f"{path} is read-only; nothing was written" in line
    assert digest(path) == fingerprint and stored_trials(url) == before
    assert sorted(path.parent.iterdir()) == [path]


def test_a_folder_named_like_a_journal_is_refused(tmp_path, capsys, data_dir):
    (tmp_path / "study.log").mkdir()
    line = refused(cli(options(str(tmp_path / "study.log"), tmp_path), capsys))
    assert "is a folder, not a journal file" in line
    assert list((tmp_path / "study.log").iterdir()) == []


def test_a_study_name_too_long_for_a_folder_runs_in_a_shortened_one(tmp_path, capsys, data_dir):
    name = "a-very-long-study-name-" * 20  # 460 characters; file systems allow 255.
    argv = [*SMALL, "--storage", str(tmp_path / "study.log"), "--reports", str(tmp_path / "r")]
    outcome = cli([*argv, "--study-name", name, "--trials", "1"], capsys)
    assert outcome.code == 0, outcome
    folder = tmp_path / "r" / folder_name(name)
    assert len(folder.name) <= 100 and (folder / "summary.md").is_file()
    assert f"report folder: {folder}" in outcome.out
    assert stored_trials(str(tmp_path / "study.log"), name)[0][1] == TrialState.COMPLETE


def test_a_study_folder_that_cannot_be_written_is_refused_before_training(kept, tmp_path, capsys):
    url, path = kept
    before, fingerprint = stored_trials(url), digest(path)
    (tmp_path / "r" / "kept").mkdir(parents=True)
    with immutable(tmp_path / "r" / "kept"):
        line = refused(cli(options(url, tmp_path, "--trials", "3"), capsys))
    assert f"report folder {tmp_path / 'r' / 'kept'} cannot be written" in line
    assert digest(path) == fingerprint and stored_trials(url) == before


def hooked(monkeypatch, hook):
    """The overfitting study under the name "hooked", calling `hook(trial)` as a trial starts.

    The hook changes the real world (a folder, a lock) at a moment the test chooses.
    """

    def suggest(trial, train_config):
        hook(trial)
        return overfitting.suggest(trial, train_config)

    module = types.SimpleNamespace(
        __doc__=overfitting.__doc__, QUESTION=overfitting.QUESTION, suggest=suggest
    )
    monkeypatch.setitem(run.STUDIES, "hooked", module)


def test_a_study_folder_made_unwritable_mid_run_keeps_the_trained_trial(
    tmp_path, monkeypatch, capsys, data_dir
):
    folder = tmp_path / "r" / "kept"
    with contextlib.ExitStack() as stack:
        hooked(monkeypatch, lambda trial: stack.enter_context(immutable(folder)))
        url = str(tmp_path / "study.log")
        outcome = cli(["hooked", *options(url, tmp_path, "--trials", "1")], capsys)
    line = refused(outcome, code=1)
    assert str(folder) in line and "Operation not permitted" in line
    ((_, state, _, values, attrs),) = stored_trials(url)
    assert state == TrialState.COMPLETE and values and "val_accuracy" in attrs


def test_an_unwritable_artifacts_folder_leaves_the_trial_complete_and_says_so(
    tmp_path, capsys, data_dir
):
    artifacts = tmp_path / "r" / "artifacts"
    artifacts.mkdir(parents=True)
    url = str(tmp_path / "study.log")
    with immutable(artifacts):
        outcome = cli(options(url, tmp_path, "--trials", "1"), capsys)
    assert outcome.code == 0, outcome
    assert "Traceback" not in outcome.out + outcome.err
    assert f"warning: trial 0: artifacts not written to {artifacts}" in outcome.err
    ((_, state, _, values, attrs),) = stored_trials(url)
    assert state == TrialState.COMPLETE and values and "val_accuracy" in attrs
    assert "Operation not permitted" in attrs["artifact_error"]
    assert (tmp_path / "r" / "kept" / "summary.md").is_file()
    assert list(artifacts.iterdir()) == []


@pytest.mark.parametrize("mode", [[], ["--report-only"]], ids=["run", "report"])
def test_a_database_locked_longer_than_the_timeout_is_one_line(
    mode, origin, tmp_path, monkeypatch, capsys
):
    path = tmp_path / "kept.db"
    shutil.copy(origin / "kept.db", path)
    url = f"sqlite:///{path}"
    before, fingerprint = stored_trials(url), digest(path)
    monkeypatch.setattr(storage_faults, "LOCK_TIMEOUT", 0.5)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        line = refused(cli(options(url, tmp_path, "--trials", "3", *mode), capsys))
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert "database is locked by another process for more than 0.5 s" in line
    assert digest(path) == fingerprint and stored_trials(url) == before


def test_a_report_that_cannot_be_written_is_one_line_from_a_real_process(origin, tmp_path):
    shutil.copy(origin / "kept.log", tmp_path / "kept.log")
    url = str(tmp_path / "kept.log")
    before = stored_trials(url)
    # An earlier report in a reports folder nothing may be written into (the report is staged
    # beside its folder and renamed into place, so a file in the way no longer stops it): it
    # is refused before anything is written, and the earlier report stays.
    (tmp_path / "r" / "kept").mkdir(parents=True)
    (tmp_path / "r" / "kept" / "summary.md").write_text("earlier")
    with immutable(tmp_path / "r"):
        line = refused(process(options(url, tmp_path, "--trials", "2", "--report-only")))
    assert "cannot be written" in line
    assert (tmp_path / "r" / "kept" / "summary.md").read_text() == "earlier"
    assert stored_trials(url) == before


def test_a_database_locked_mid_run_is_one_line_and_keeps_the_finished_trials(
    tmp_path, monkeypatch, capsys, data_dir
):
    path = tmp_path / "k.db"
    url = f"sqlite:///{path}"
    monkeypatch.setattr(storage_faults, "LOCK_TIMEOUT", 0.5)
    holder = sqlite3.connect(path, isolation_level=None)

    def lock_at_the_second_trial(trial):
        # Another program takes the database as the run's second trial starts.
        if trial.number == 1:
            holder.execute("BEGIN EXCLUSIVE")

    try:
        hooked(monkeypatch, lock_at_the_second_trial)
        outcome = cli(["hooked", *options(url, tmp_path, "--trials", "3")], capsys)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    line = refused(outcome, code=1)
    assert "database is locked by another process for more than 0.5 s" in line
    first, second = stored_trials(url)
    assert first[1] == TrialState.COMPLETE and "val_accuracy" in first[4]
    # The interrupted trial is left RUNNING; its missing heartbeats fail it later.
    assert second[1] == TrialState.RUNNING


def test_a_stop_signal_before_training_starts_still_fails_the_trial_with_its_reason(
    tmp_path, monkeypatch, capsys, data_dir
):
    # A real SIGTERM to this process while the trial's configuration is being drawn.
    hooked(monkeypatch, lambda trial: os.kill(os.getpid(), signal.SIGTERM))
    url = str(tmp_path / "study.log")
    outcome = cli(["hooked", *options(url, tmp_path, "--trials", "2")], capsys)
    assert outcome.code == 130, outcome
    assert "Traceback" not in outcome.out + outcome.err
    ((_, state, _, _, attrs),) = stored_trials(url)
    assert state == TrialState.FAIL
    assert attrs["fail_reason"] == "interrupted (SIGINT or SIGTERM)"
    assert (tmp_path / "r" / "kept" / "summary.md").is_file()


def test_fresh_is_refused_while_a_live_run_writes_its_report(tmp_path, monkeypatch, capsys):
    from studies import pipeline
    from studies.engine import study as opening
    from studies.errors import UsageError
    from studies.settings import Settings

    storage = str(tmp_path / "j.log")
    refusals = []

    def report_and_try_fresh(study, storage_, settings, module, read_only=False):
        try:
            opening.check_continuation(
                Settings(study_name="live", storage=storage, fresh=True), storage_
            )
        except UsageError as error:
            refusals.append(str(error))

    monkeypatch.setattr(pipeline, "write_report", report_and_try_fresh)
    argv = [*SMALL, "--trials", "1", "--storage", storage, "--study-name", "live"]
    outcome = cli([*argv, "--reports", str(tmp_path / "reports")], capsys)
    assert outcome.code == 0, outcome
    assert len(refusals) == 1 and "is being run by process" in refusals[0]
