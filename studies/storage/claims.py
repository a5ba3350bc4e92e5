"""An SQLite storage whose claims of a queued trial are one at a time across processes.

Optuna claims a queued (WAITING) trial by reading it and writing it RUNNING in one session.
A server database locks the row it read (SELECT ... FOR UPDATE) until the write commits;
SQLite ignores that, so two workers can both read WAITING and both train the trial. Here
the claim holds an exclusive lock on the database's folder from its read to its commit:
flock, which SQLite's own (POSIX) locks of the database file neither see nor release.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from optuna.storages import RDBStorage
from optuna.trial import TrialState


class SQLiteStorage(RDBStorage):
    """Optuna's RDBStorage of the SQLite database in `folder`, its claims serialized."""

    def __init__(self, url: str, folder: Path, **kwargs):
        super().__init__(url, **kwargs)
        self.folder = folder

    def set_trial_state_values(self, trial_id, state, values=None) -> bool:
        if state != TrialState.RUNNING:
            return super().set_trial_state_values(trial_id, state, values)
        with folder_lock(self.folder):
            return super().set_trial_state_values(trial_id, state, values)


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Holds an exclusive lock on `folder`, shared by every process on this machine."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # Closing releases the lock.
