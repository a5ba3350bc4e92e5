"""Which processes a study counts as working on it, on this host and on others."""

import os
import time

import optuna

from studies.engine import study as opening

HERE = os.uname().nodename


def test_a_process_of_this_host_counts_while_its_pid_runs():
    now = time.time()
    attrs = {f"process {HERE}:{os.getpid()}": now, f"process {HERE}:999999999": now}
    assert opening.live_processes(attrs, now) == [f"{HERE}:{os.getpid()}"]


def test_a_process_of_another_host_counts_until_it_has_been_silent_too_long():
    now = time.time()
    silent = opening.PROCESS_SILENT_SECONDS
    attrs = {"process far:12": now - silent / 2, "process away:34": now - silent - 1}
    assert opening.live_processes(attrs, now) == ["far:12"]


def test_a_process_that_said_it_is_done_or_wrote_nonsense_does_not_count():
    attrs = {f"process {HERE}:{os.getpid()}": 0, "process far:12": "yes", "seed": 3}
    assert opening.live_processes(attrs) == []


def test_working_on_says_so_again_while_it_works_and_unsays_it_at_the_end(monkeypatch):
    monkeypatch.setattr(opening, "PROCESS_REFRESH_SECONDS", 0.05)
    study = optuna.create_study()
    key = f"process {HERE}:{os.getpid()}"
    with opening.working_on(study):
        first = study.user_attrs[key]
        time.sleep(0.3)
        assert study.user_attrs[key] > first
        assert opening.live_processes(study.user_attrs) == [f"{HERE}:{os.getpid()}"]
    assert study.user_attrs[key] == 0
