"""Opening an Optuna storage from a URL or a journal path, with errors a person can act on."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage

# A worker that died mid-trial stops sending heartbeats; once GRACE_PERIOD seconds pass
# without one, the next trial started by any worker of the study marks it FAIL and the
# retry callback queues its configuration again.
HEARTBEAT_INTERVAL = 10
GRACE_PERIOD = 40
MAX_RETRY = 2

# The package each SQLAlchemy dialect needs, for an error message that names it.
DRIVERS = {
    "postgresql": ("psycopg2", "psycopg2-binary"),
    "postgresql+psycopg2": ("psycopg2", "psycopg2-binary"),
    "postgresql+psycopg": ("psycopg", "psycopg"),
    "mysql": ("MySQLdb", "mysqlclient"),
    "mysql+pymysql": ("pymysql", "PyMySQL"),
    "sqlite": ("sqlite3", "the Python sqlite3 module"),
}


class StorageError(ValueError):
    """The storage URL or path cannot be used; the message never contains a password."""


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe to print."""
    try:
        import sqlalchemy

        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def is_journal(url: str) -> bool:
    return url.endswith(".log") and "://" not in url


def check(url: str) -> None:
    """Raises StorageError if `url` is malformed, lacks its driver or points at no folder."""
    if is_journal(url):
        folder = Path(url).parent
        if not folder.is_dir():
            raise StorageError(f"journal folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise StorageError(f"journal folder {folder} is not writable")
        return
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        raise StorageError(
            f"malformed storage URL {redact(url)!r}: expected an SQLAlchemy URL such as "
            "sqlite:///reports/kerasnn.db or postgresql://user:password@host/db, "
            "or a journal file path ending in .log"
        ) from None
    module, package = DRIVERS.get(parsed.drivername, (None, None))
    if module is None:
        raise StorageError(
            f"unsupported storage dialect {parsed.drivername!r} in {redact(url)}; "
            f"use one of {', '.join(sorted(DRIVERS))}"
        )
    if importlib.util.find_spec(module) is None:
        raise StorageError(
            f"the {parsed.drivername} driver is not installed: pip install {package} "
            f"(needed for {redact(url)})"
        )
    if parsed.drivername == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise StorageError("an in-memory SQLite storage would lose every trial; give a file")
        folder = Path(database).parent
        if not folder.is_dir():
            raise StorageError(f"SQLite folder {folder} does not exist")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Opens the storage; RDB storages get heartbeats so a killed worker's trial is retried."""
    check(url)
    if is_journal(url):
        return JournalStorage(JournalFileBackend(url))
    engine_kwargs = {}
    if url.startswith("sqlite"):
        # Parallel writers wait for SQLite's lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    try:
        return RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=HEARTBEAT_INTERVAL,
            grace_period=GRACE_PERIOD,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "@" in url:
            message = message.replace(url, redact(url))
        raise StorageError(f"cannot open storage {redact(url)}: {message}") from None
