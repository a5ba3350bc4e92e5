"""Optuna storages: a URL parsed once, checked before anything is written, opened, and the
trials' files (artifacts) beside it.

One concern per module, imports pointing down: `errors` <- `files`, `url` <- `faults` <-
`journal`, `database` <- this module's `check`, `exists` and `open_storage`, the one way
every caller (a run, a report, the reproduction, the benchmarks) opens a storage.
"""

from __future__ import annotations

from studies.storage.errors import StorageError, StorageWarning
from studies.storage.faults import describe_fault, resolve_timeout
from studies.storage.heartbeat import HEARTBEAT_INTERVAL
from studies.storage.url import check_driver, is_journal, parse, redact, scrub

# Optuna and SQLAlchemy are imported by `database` and `journal` when a storage is checked
# or opened, not by importing this package: the command line's --help and usage errors
# (which hide passwords with `redact`) answer without them.

__all__ = [
    "HEARTBEAT_INTERVAL",
    "StorageError",
    "StorageWarning",
    "check",
    "describe_fault",
    "exists",
    "is_journal",
    "open_for_reading",
    "open_storage",
    "redact",
    "scrub",
]


def exists(url: str) -> bool:
    """Whether the storage exists already: True for a journal or SQLite file that is there
    (even an empty or damaged one, which `check` refuses) and for any server URL.

    Raises StorageError for a malformed URL.
    """
    storage = parse(url)
    if storage.kind == "server":
        return True
    return storage.path is not None and storage.path.exists()


def check(url: str, *, write: bool = True, lock_timeout: float | None = None) -> None:
    """Raises StorageError unless `url` can be opened as a study storage; changes nothing.

    It refuses malformed URLs, missing drivers and folders, files that are not a storage
    (or are another program's database), and, for writing, read-only files and folders.
    A journal whose last record was cut off passes: `open_storage` repairs it.

    Args:
        url: an SQLAlchemy URL or a journal file path ending in .log.
        write: True for a run, which writes trials (a missing file will be created);
            False for reading only, e.g. a report (the storage must exist and hold tables).
        lock_timeout: seconds to wait for another process's SQLite lock (faults.LOCK_TIMEOUT).
    """
    from studies.storage.database import check_schema, check_sqlite_file
    from studies.storage.journal import check_journal

    storage = parse(url)
    if storage.kind == "journal":
        check_journal(storage.path, write)
        return
    check_driver(storage)
    if storage.kind == "sqlite" and not check_sqlite_file(storage.path, write):
        return  # No database yet (or an empty file, for writing): no tables to look at.
    check_schema(storage, write, resolve_timeout(lock_timeout))


def open_storage(
    url: str,
    heartbeat_interval: int = HEARTBEAT_INTERVAL,
    *,
    write: bool = True,
    lock_timeout: float | None = None,
):
    """Opens the storage; RDB storages get heartbeats so a killed worker's trial is retried.

    Everything `check` refuses is refused first. A journal with a half-written last record
    is repaired for writing, or read without that record; either way a StorageWarning says so.

    Args:
        url: an SQLAlchemy URL or a journal file path ending in .log.
        heartbeat_interval: seconds between a running trial's heartbeats (RDB storages);
            a trial without one for four intervals counts as dead.
        write: False opens for reading (a report): the storage must exist and hold
            Optuna's tables, and opening creates, repairs and writes nothing. A write the
            caller makes later still goes through where the storage allows it (a journal
            first drops a half-written last record); a read-only journal or SQLite file
            refuses it, which `describe_fault` turns into one line.
        lock_timeout: seconds an SQLite connection waits for another process's lock.
    """
    from studies.storage.database import open_rdb
    from studies.storage.journal import open_journal

    storage = parse(url)
    if storage.kind == "journal":
        return open_journal(storage.path, write)
    check(url, write=write, lock_timeout=lock_timeout)
    return open_rdb(storage, heartbeat_interval, write, resolve_timeout(lock_timeout))


def open_for_reading(url: str):
    """Opens an existing storage for a report, the reproduction or a benchmark: the one
    read-only open. Nothing is created, repaired or written by opening it."""
    return open_storage(url, write=False)


def close(storage) -> None:
    """Closes the connections of a storage `open_storage` gave (a journal holds none open)."""
    # A database's RDBStorage sits behind Optuna's cache, its `_backend` (see open_rdb).
    engine = getattr(getattr(storage, "_backend", storage), "engine", None)
    if engine is not None:
        engine.dispose()
