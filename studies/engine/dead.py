"""Trials whose worker died: found, marked FAIL and queued again, on every kind of storage."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import TrialState

# The user attributes that say which planned run a trial is (a confirmation's source and
# seed, an effects variant and seed); a retry carries them, as Optuna's own retry of a
# trial without heartbeats carries every user attribute.
RUN_KEYS = ("source_trial", "seed", "variant")


def retry_attrs(trial) -> dict:
    """What a queued retry of `trial` carries: the run it is, and which trial it retries."""
    kept = {key: trial.user_attrs[key] for key in RUN_KEYS if key in trial.user_attrs}
    return {**kept, "retry_of": trial.number}


def reap(study: optuna.Study, storage, say: Callable[[str], None] | None = None) -> list[int]:
    """Fails and requeues the study's trials whose worker died, saying a line for each.

    The one place every loop (the search, the confirmation, `--workers`, a report) clears
    dead workers' trials; see `fail_dead_trials` for how a dead worker is recognised.
    """
    failed = fail_dead_trials(study, storage)
    for number in failed:
        if say is not None:
            say(f"trial {number}'s worker died; marked FAIL and queued again")
    return failed


def fail_dead_trials(study: optuna.Study, storage) -> list[int]:
    """Marks FAIL the RUNNING trials whose worker died, and queues their configurations again.

    RDB storages (PostgreSQL, SQLite) decide by heartbeat: a trial whose worker sent none
    for the grace period is failed and retried by Optuna's retry callback (see
    studies.storage), from whichever machine notices first. A journal file has no heartbeat,
    so this checks the worker's process instead: a RUNNING trial whose worker ran on this
    host under a pid that no longer exists (or now belongs to a younger process) is failed.
    Workers on other hosts cannot be checked that way; a journal file is for one host.

    Returns:
        The numbers of the trials this call failed (journal storage only; Optuna does not
        say which trials its heartbeat check failed).
    """
    if isinstance(storage, RDBStorage) and storage.get_heartbeat_interval() is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks fail_stale_trials experimental.
            optuna.storages.fail_stale_trials(study)
        return []
    host = os.uname().nodename
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get("worker", ""))
        name, _, pid = worker.rpartition(":")
        if name != host or not pid.isdigit() or _alive(int(pid), trial.datetime_start):
            continue
        if _fail(storage, trial, f"worker {worker} died while running it"):
            # Only the worker whose FAIL won gets here, so the configuration is queued once.
            study.enqueue_trial(trial.params, user_attrs=retry_attrs(trial))
            failed.append(trial.number)
    return failed


def _fail(storage, trial, reason: str) -> bool:
    """Marks another process's RUNNING trial FAIL with `reason`; False if it finished first.

    Optuna's public API changes only the trials of this process, so this goes through the
    storage with the trial's storage id, `FrozenTrial._trial_id`, the one private attribute
    used here (watch it on Optuna upgrades).
    """
    try:
        storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
        return storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except (UpdateFinishedTrialError, KeyError):
        return False  # Another worker failed it first (or it finished); it retries it.


def _alive(pid: int, since) -> bool:
    """Whether process `pid` runs and started before `since` (so the pid was not reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
    except (OSError, StopIteration, ValueError):
        return True  # No /proc: trust the pid.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False  # Killed, not yet reaped by its parent.
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return since is None or started <= since.timestamp() + 1
