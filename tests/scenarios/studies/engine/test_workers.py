"""Many workers on one study: real processes on PostgreSQL and on a journal file, killed and stopped."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState
from services import (
    POSTGRES_PASSWORD,
    SMALL,
    cli,
    create_database,
    finish,
    start_worker,
    stop,
    wait_for,
)

from studies.storage import open_storage

pytestmark = pytest.mark.slow

# The confirmation stage is left out: these tests are about the search's workers.

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture
def data(data_dir):
    return data_dir


def load(storage_url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage_url))


def finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def running_trial_of(storage_url: str, name: str, pid: int):
    """The RUNNING trial that worker `pid` is training, once it has one."""
    try:
        study = load(storage_url, name)
    except KeyError:
        return None  # The study does not exist yet.
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker", "").endswith(f":{pid}") and trial.params:
            return trial
    return None


def read(path) -> str:
    return path.read_text(errors="replace")


def test_three_workers_on_postgresql_share_one_study_and_run_exactly_the_target(
    postgres, data, tmp_path
):
    url = create_database(postgres, "three_workers")
    name = "shared"
    workers = [
        start_worker(
            [*SMALL, "--storage", url, "--study-name", name, "--trials", "4"]
            + ["--reports", str(tmp_path / f"machine-{index}"), "--rank", str(index)],
            tmp_path / f"worker-{index}.log",
        )
        for index in range(3)
    ]
    try:
        codes = [worker.wait(timeout=400) for worker in workers]
    finally:
        for worker in workers:
            stop(worker)
    logs = [read(tmp_path / f"worker-{index}.log") for index in range(3)]
    assert codes == [0, 0, 0], logs
    for log in logs:
        assert "Traceback" not in log
        assert POSTGRES_PASSWORD not in log

    study = load(url, name)
    assert finished(study) == 4
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    failed = study.get_trials(states=(TrialState.FAIL,))
    # The only failures allowed are trials that stepped aside because the target was met.
    assert all(t.user_attrs["fail_reason"].startswith("surplus") for t in failed), failed
    assert len({trial.user_attrs["worker"] for trial in study.trials}) >= 2

    for index in range(3):
        table = pd.read_csv(tmp_path / f"machine-{index}" / name / "trials.csv")
        assert sorted(table["number"]) == [trial.number for trial in study.trials]
        assert table["rank"].notna().sum() == 4
        for path in (tmp_path / f"machine-{index}").rglob("*"):
            if path.is_file() and path.suffix in (".md", ".csv"):
                assert POSTGRES_PASSWORD not in read(path)
    assert "***" in study.user_attrs["command"]


def test_workers_option_runs_local_processes_on_a_journal_file_and_reports_the_study(
    data, tmp_path, capsys
):
    journal = tmp_path / "study.log"
    reports = tmp_path / "reports"
    arguments = [*SMALL, "--storage", str(journal), "--study-name", "local", "--trials", "4"]
    # The parent in this process (as `run_study(..., workers=3)` runs it), its workers apart.
    done = cli([*arguments, "--reports", str(reports), "--workers", "3"], capsys)
    output = done.out + done.err
    assert done.code == 0, output
    assert "with 3 workers" in output
    assert "4/4 done" in output  # Progress counts the whole study, not one worker's share.

    study = load(str(journal), "local")
    assert finished(study) == 4
    assert len({trial.user_attrs["worker"] for trial in study.trials}) >= 2
    worker_logs = sorted((reports / "local" / "workers").glob("worker-*.log"))
    assert len(worker_logs) == 3
    assert not any("Traceback" in read(log) for log in worker_logs)
    table = pd.read_csv(reports / "local" / "trials.csv")
    assert sorted(table["number"]) == [trial.number for trial in study.trials]
    assert (reports / "local" / "summary.md").is_file()


def test_a_worker_killed_mid_trial_on_a_journal_file_is_failed_and_retried_by_the_next(
    data, tmp_path, capsys
):
    journal = str(tmp_path / "study.log")
    arguments = [*SMALL, "--storage", journal, "--study-name", "killed", "--trials", "2"]
    arguments += ["--reports", str(tmp_path / "reports"), "--epochs", "20"]
    victim = start_worker(arguments, tmp_path / "victim.log")
    try:
        doomed = wait_for(
            lambda: running_trial_of(journal, "killed", victim.pid), 180, "a running trial"
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    finally:
        stop(victim)
    assert load(journal, "killed").trials[doomed.number].state == TrialState.RUNNING

    # Rebuilding the report only reads: the trial stays RUNNING. The next worker notices the
    # process is gone, fails the trial, queues its whole configuration and runs it. Both
    # run in this process (the victim's death is all that matters of the other's).
    rebuild = cli([*arguments, "--report-only"], capsys)
    assert rebuild.code == 0, rebuild
    assert load(journal, "killed").trials[doomed.number].state == TrialState.RUNNING
    survivor = cli(arguments, capsys)
    assert survivor.code == 0, survivor
    assert f"trial {doomed.number}'s worker died" in survivor.out + survivor.err

    study = load(journal, "killed")
    dead = study.trials[doomed.number]
    assert dead.state == TrialState.FAIL
    assert "died" in dead.user_attrs["fail_reason"]
    retries = [trial for trial in study.trials if trial.user_attrs.get("retry_of") == dead.number]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE
    assert dead.params.items() <= retries[0].params.items()  # What it had, and the rest.
    assert finished(study) == 2
    table = pd.read_csv(tmp_path / "reports" / "killed" / "trials.csv")
    assert table.loc[table["number"] == dead.number, "rank"].isna().all()
    assert table["rank"].notna().sum() == 2


def test_a_worker_killed_mid_trial_on_postgresql_is_failed_by_heartbeat_and_retried(
    postgres, data, tmp_path
):
    url = create_database(postgres, "killed_worker")
    arguments = [*SMALL, "--storage", url, "--study-name", "killed", "--trials", "2"]
    arguments += ["--reports", str(tmp_path / "reports"), "--heartbeat", "1"]
    victim = start_worker([*arguments, "--epochs", "10"], tmp_path / "victim.log")
    survivor = None
    try:
        doomed = wait_for(lambda: running_trial_of(url, "killed", victim.pid), 180, "a trial")
        survivor = start_worker([*arguments, "--epochs", "10", "--rank", "1"], tmp_path / "b.log")
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait()
        # With a 1 s heartbeat the grace period is 4 s; the survivor fails the trial when it
        # next starts a trial or waits for the last ones.
        wait_for(
            lambda: load(url, "killed").trials[doomed.number].state == TrialState.FAIL,
            240,
            "the dead worker's trial to be failed",
        )
        seconds_to_fail = time.monotonic() - killed_at
        code = survivor.wait(timeout=300)
    finally:
        stop(victim)
        if survivor is not None:
            stop(survivor)
    output = read(tmp_path / "b.log")
    assert code == 0, output
    print(f"killed worker's trial failed {seconds_to_fail:.0f} s after SIGKILL")

    study = load(url, "killed")
    retries = [t for t in study.trials if t.user_attrs.get("retry_of") == doomed.number]
    assert len(retries) == 1
    assert retries[0].state == TrialState.COMPLETE
    assert doomed.params.items() <= retries[0].params.items()  # What it had, and the rest.
    assert finished(study) == 2
    table = pd.read_csv(tmp_path / "reports" / "killed" / "trials.csv")
    row = table[table["number"] == doomed.number].iloc[0]
    assert row["state"] == "FAIL" and pd.isna(row["rank"])
    assert "heartbeats" in row["fail_reason"]


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_a_stopped_worker_fails_its_trial_and_still_writes_the_report(signal_name, data, tmp_path):
    journal = str(tmp_path / "study.log")
    reports = tmp_path / "reports"
    arguments = [*SMALL, "--storage", journal, "--study-name", "stopped", "--trials", "3"]
    # A thousand epochs (the most a run may have): a trial lasts minutes, so the signal
    # always meets it running.
    worker = start_worker(
        [*arguments, "--reports", str(reports), "--epochs", "1000"], tmp_path / "worker.log"
    )
    try:
        trial = wait_for(lambda: running_trial_of(journal, "stopped", worker.pid), 180, "a trial")
        worker.send_signal(getattr(signal, signal_name))
        code = worker.wait(timeout=120)
    finally:
        stop(worker)
    output = read(tmp_path / "worker.log")
    assert code == 130, output
    assert "Traceback" not in output
    stopped = load(journal, "stopped").trials[trial.number]
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs["fail_reason"].startswith("interrupted")
    table = pd.read_csv(reports / "stopped" / "trials.csv")
    assert table.loc[table["number"] == trial.number, "state"].item() == "FAIL"
    assert (reports / "stopped" / "summary.md").is_file()


def test_stopping_the_workers_option_stops_every_worker_and_fails_their_trials(data, tmp_path):
    journal = str(tmp_path / "study.log")
    reports = tmp_path / "reports"
    parent = start_worker(
        [*SMALL, "--storage", journal, "--study-name", "many", "--trials", "6"]
        + ["--epochs", "1000", "--reports", str(reports), "--workers", "2"],
        tmp_path / "parent.log",
    )

    def two_training():
        # A thousand epochs: once both workers train, they still do when the signal comes.
        try:
            study = load(journal, "many")
        except KeyError:
            return False
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return len([trial for trial in running if "model_config" in trial.user_attrs]) == 2

    try:
        wait_for(two_training, 240, "both workers to train a trial")
        parent.send_signal(signal.SIGTERM)
        code = parent.wait(timeout=180)
    finally:
        stop(parent)
    assert code == 130, read(tmp_path / "parent.log")
    study = load(journal, "many")
    assert not study.get_trials(states=(TrialState.RUNNING,))
    reasons = [t.user_attrs["fail_reason"] for t in study.get_trials(states=(TrialState.FAIL,))]
    # A worker whose framework crashes natively as it stops (a heap abort in its log, seen
    # rarely) cannot mark its trial; the parent then finds the trial dead and fails it.
    crashed = [log for log in (reports / "many" / "workers").glob("*.log") if crashed_in(log)]
    died = [reason for reason in reasons if not reason.startswith("interrupted")]
    assert all(reason.endswith("died while running it") for reason in died), reasons
    assert len(died) <= len(crashed) and len(died) < len(reasons), reasons
    assert (reports / "many" / "summary.md").is_file()


def crashed_in(log: Path) -> bool:
    """Whether a worker's log ends without its interruption line (it died abruptly)."""
    return "interrupted (SIGTERM)" not in log.read_text()


def trial_running_for(storage_url: str, name: str, pid: int, seconds: float):
    """Worker `pid`'s RUNNING trial once it has been running for `seconds`."""
    trial = running_trial_of(storage_url, name, pid)
    if trial is None:
        return None
    started = trial.datetime_start.timestamp()
    return trial if time.time() - started >= seconds else None


def test_workers_on_postgresql_follow_every_stage_and_keep_passwords_out_of_all_they_write(
    postgres, data, tmp_path, capsys
):
    url = create_database(postgres, "secret_study")
    reports = tmp_path / "reports"
    arguments = [*SMALL, "--storage", url, "--study-name", "secret", "--trials", "2"]
    arguments += ["--confirm-top", "1", "--confirm-seeds", "2", "--effects-seeds", "1"]
    # The parent in this process, its workers apart; what it printed is judged as a log.
    done = cli([*arguments, "--reports", str(reports), "--workers", "2"], capsys)
    output = done.out + done.err
    (tmp_path / "parent.log").write_text(output)
    assert done.code == 0, output
    # The parent follows the confirmation and the effects stage its workers train.
    assert output.count("confirmation of trial") == 2
    stage = load(url, "secret-effects")
    assert len(stage.trials) > 2 and output.count("effects of trial") == len(stage.trials)
    # The parent's report attached the winner's network once, not each worker a copy.
    study = load(url, "secret")
    names = [meta.filename for meta in optuna.artifacts.get_all_artifact_meta(study)]
    assert [name for name in names if name.startswith("winner-")] == [
        f"winner-confirmation-run-{study.user_attrs['winner_model']['confirmation_run']}.keras"
    ]

    assert "postgresql://postgres:***@" in study.user_attrs["command"]
    stages = [study, load(url, "secret-confirm"), stage]
    stored = repr([s.user_attrs for s in stages]) + repr([t.user_attrs for t in study.trials])
    assert POSTGRES_PASSWORD not in stored
    written = [tmp_path / "parent.log", *reports.rglob("*")]
    assert len(list((reports / "secret" / "workers").glob("worker-*.log"))) == 2
    assert (reports / "secret" / "summary.md").is_file()
    for path in written:
        if path.is_file() and path.suffix in (".log", ".md", ".csv", ".json", ".txt"):
            assert POSTGRES_PASSWORD not in read(path), path


def test_a_report_and_fresh_leave_a_live_workers_trial_alone_whatever_their_heartbeat(
    data, tmp_path, capsys
):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    reports = tmp_path / "reports"
    arguments = [*SMALL, "--storage", url, "--study-name", "beating", "--trials", "1"]
    arguments += ["--reports", str(reports), "--epochs", "1000"]
    # 30 s between heartbeats: the trial counts as dead only after 120 s without one. Its
    # thousand epochs last far longer than the 4 s a 1 s heartbeat would allow.
    worker = start_worker([*arguments, "--heartbeat", "30"], tmp_path / "worker.log")
    try:
        trial = wait_for(
            lambda: trial_running_for(url, "beating", worker.pid, 6), 180, "a trial running 6 s"
        )
        # The report and --fresh run in this process, another than the worker's.
        report = cli([*arguments, "--report-only", "--heartbeat", "1"], capsys)
        assert report.code == 0, report
        # Still running when the report is done: the report did look at a live trial.
        assert load(url, "beating").trials[trial.number].state == TrialState.RUNNING
        fresh = cli([*arguments, "--fresh"], capsys)
        assert fresh.code == 2, fresh
        # Neither touched the trial nor its worker, which trains on until it is stopped.
        assert load(url, "beating").trials[trial.number].state == TrialState.RUNNING
        assert worker.poll() is None
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=120)
    finally:
        stop(worker)
    said = fresh.out + fresh.err
    assert said.count("\n") == 1 and "has 1 trial(s) running in another process" in said, said
    assert code == 130, read(tmp_path / "worker.log")
    study = load(url, "beating")
    assert [t.number for t in study.trials] == [trial.number]
    # Failed by its own worker's stop, not as a dead worker's trial by the others.
    assert study.trials[trial.number].user_attrs["fail_reason"].startswith("interrupted")
    assert study.user_attrs["heartbeat"] == 30
    assert "died" not in report.out + report.err
    assert (reports / "beating" / "summary.md").is_file()


def test_two_workers_started_with_the_same_command_never_train_one_configuration_twice(
    data, tmp_path
):
    journal = str(tmp_path / "study.log")
    arguments = [*SMALL, "--storage", journal, "--study-name", "twins", "--trials", "6"]
    arguments += ["--reports", str(tmp_path / "reports")]
    twins = [start_worker(arguments, tmp_path / f"twin-{index}.log") for index in range(2)]
    try:
        codes = [twin.wait(timeout=400) for twin in twins]
    finally:
        for twin in twins:
            stop(twin)
    assert codes == [0, 0], [read(tmp_path / f"twin-{index}.log") for index in range(2)]
    study = load(journal, "twins")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(complete) == 6
    configurations = [tuple(sorted(trial.params.items())) for trial in complete]
    assert len(set(configurations)) == len(configurations), configurations
    assert len({trial.user_attrs["worker"] for trial in study.trials}) == 2


def test_workers_are_capped_by_the_trials_still_to_run(data, tmp_path):
    journal = str(tmp_path / "study.log")
    reports = tmp_path / "reports"
    code = finish(
        [*SMALL, "--storage", journal, "--study-name", "capped", "--trials", "2"]
        + ["--reports", str(reports), "--workers", "6"],
        tmp_path / "parent.log",
        timeout=400,
    )
    output = read(tmp_path / "parent.log")
    assert code == 0, output
    # Two at most, fewer only if memory is short; either way the output says why.
    said = re.search(
        r"starting (\d) of the 6 workers asked: (only 2 run\(s\) remain|.* free)", output
    )
    assert said and int(said[1]) <= 2, output
    assert len(list((reports / "capped" / "workers").glob("worker-*.log"))) == int(said[1])
    workers = {trial.user_attrs["worker"] for trial in load(journal, "capped").trials}
    assert 1 <= len(workers) <= 2


def test_a_worker_killed_hard_is_status_1_and_the_others_finish_the_confirmation(data, tmp_path):
    journal = str(tmp_path / "study.log")
    reports = tmp_path / "reports"
    arguments = [*SMALL, "--storage", journal, "--study-name", "hard", "--trials", "3"]
    arguments += ["--epochs", "2", "--reports", str(reports), "--workers", "2"]
    arguments += ["--confirm-top", "1", "--confirm-seeds", "2"]
    parent = start_worker(arguments, tmp_path / "parent.log")

    def a_worker_training():
        try:
            running = load(journal, "hard").get_trials(states=(TrialState.RUNNING,))
        except KeyError:
            return None
        return next((t for t in running if "model_config" in t.user_attrs), None)

    try:
        trial = wait_for(a_worker_training, 240, "a worker to train a trial")
        pid = int(trial.user_attrs["worker"].rpartition(":")[2])
        os.kill(pid, signal.SIGKILL)
        code = parent.wait(timeout=400)
    finally:
        stop(parent)
    output = read(tmp_path / "parent.log")
    assert code == 1, output  # Not 247: a worker killed by a signal is a failure, said so.
    assert "was killed by SIGKILL" in output
    assert output.count("confirmation of trial") == 2  # The parent follows the confirmation.
    confirmation = pd.read_csv(reports / "hard" / "confirm.csv")
    assert (confirmation["state"] == "COMPLETE").sum() == 2
