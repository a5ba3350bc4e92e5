"""Trials whose worker died: found, marked FAIL and queued again, on every kind of storage."""

from __future__ import annotations

import datetime
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from studies.storage.retry import MAX_RETRIES, retry

# A worker names itself on its trials ("worker") the moment it has them; a RUNNING trial
# still unnamed this long after it started has no owner to wait for: its process died, or
# its disk filled, before it could say who it is.
UNCLAIMED_SECONDS = 60.0


def reap(study: optuna.Study, storage, say: Callable[[str], None] | None = None) -> list[int]:
    """Fails and requeues the study's trials whose worker died, saying a line for each.

    The one place every loop (the search, the planned stages, `--workers`) clears dead
    workers' trials; see `fail_dead_trials` for how a dead worker is recognised.
    """
    failed = fail_dead_trials(study, storage)
    for number, queued in failed:
        if say is not None:
            again = "queued again" if queued else f"not queued again (retried {MAX_RETRIES} times)"
            say(f"trial {number}'s worker died; marked FAIL and {again}")
    return [number for number, _ in failed]


def fail_dead_trials(study: optuna.Study, storage) -> list[tuple[int, bool]]:
    """Marks FAIL the RUNNING trials whose worker died, and queues each again by the one
    retry rule (`storage.retry`).

    RDB storages (PostgreSQL, SQLite) decide by heartbeat: a trial whose worker sent none
    for the grace period is failed and retried by Optuna's retry callback (see
    studies.storage), from whichever machine notices first. A journal file has no heartbeat,
    so this checks the worker's process instead: a RUNNING trial whose worker ran on this
    host under a pid that no longer exists (or now belongs to a younger process) is failed,
    as is one that names no worker UNCLAIMED_SECONDS after it started, whatever else its
    process managed to write. Workers on other hosts cannot be checked that way; a journal
    file is for one host.

    Returns:
        The numbers of the trials this call failed, each with whether it was queued again
        (journal storage only; Optuna does not say which trials its heartbeat check failed).
    """
    if heartbeat_interval(storage) is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks fail_stale_trials experimental.
            optuna.storages.fail_stale_trials(study)
        return []
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _worker_died(trial):
            continue
        worker = trial.user_attrs.get("worker")
        said = f"worker {worker} died" if worker else "its worker died before naming itself"
        if _fail(storage, trial, f"{said} while running it"):
            # Only the worker whose FAIL won gets here, so the run is queued once.
            failed.append((trial.number, retry(study, trial)))
    return failed


def dead_trials(study: optuna.Study, storage) -> set[int]:
    """The numbers of the study's RUNNING trials whose worker died, found without changing
    anything: by heartbeat on a database (Optuna's own test of staleness, which it offers
    only privately: watch `_get_stale_trial_ids` on upgrades), by process on a journal."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if heartbeat_interval(storage) is not None:
        stale = set(storage._get_stale_trial_ids(study._study_id))
        return {trial.number for trial in running if trial._trial_id in stale}
    return {trial.number for trial in running if _worker_died(trial)}


def heartbeat_interval(storage) -> int | None:
    """The seconds between a database's heartbeats; None where there are none (a journal,
    or a database opened without them)."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return None if interval is None else interval()


def _worker_died(trial) -> bool:
    """Whether the worker of a journal's RUNNING trial ran on this host and is gone, or never
    named itself in UNCLAIMED_SECONDS."""
    worker = trial.user_attrs.get("worker")
    if worker is None:
        started = trial.datetime_start or datetime.datetime.now()
        return (datetime.datetime.now() - started).total_seconds() >= UNCLAIMED_SECONDS
    return gone(str(worker), trial.datetime_start)


def on_this_host(worker: str) -> bool:
    """Whether `worker` (host:pid) names a process of this host."""
    name, _, pid = worker.rpartition(":")
    return name == os.uname().nodename and pid.isdigit()


def gone(worker: str, since) -> bool:
    """Whether `worker` (host:pid) ran on this host and no longer runs (its pid is free, or
    taken by a process younger than `since`); False for another host's, which cannot tell."""
    if not on_this_host(worker):
        return False
    return not _alive(int(worker.rpartition(":")[2]), since)


def _fail(storage, trial, reason: str) -> bool:
    """Marks another process's RUNNING trial FAIL with `reason`; False if it finished first.

    Optuna's public API changes only the trials of this process, so this goes through the
    storage with the trial's storage id, `FrozenTrial._trial_id`, the one private attribute
    used here (watch it on Optuna upgrades).
    """
    try:
        storage.set_trial_user_attr(trial._trial_id, "fail_kind", "died")
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
