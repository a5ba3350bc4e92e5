"""Opening an Optuna storage from a URL or a journal path, with errors a person can act on."""

from __future__ import annotations

import importlib.util
import os
import random
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage

# A worker that died mid-trial stops sending heartbeats; once GRACE_PERIOD seconds pass
# without one, any worker of the study that starts a trial or waits for the last ones
# marks it FAIL, and the retry callback queues its configuration again. So a dead
# worker's trial is failed and retried within about a minute while another worker runs.
HEARTBEAT_INTERVAL = 10
GRACE_PERIOD = 40
MAX_RETRY = 2
# Workers started together on a fresh database all try to create Optuna's tables; the
# losers of that race get an error from the database and simply try again.
OPEN_ATTEMPTS = 5

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


def scrub(text: str, url: str) -> str:
    """`text` with the password of `url` (and `url` itself) replaced, for error messages."""
    text = text.replace(url, redact(url))
    try:
        import sqlalchemy

        password = sqlalchemy.engine.make_url(url).password
    except Exception:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text


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
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg"):
        return  # psycopg 3 serves plain postgresql:// URLs as well as psycopg2 does.
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


def open_storage(
    url: str, heartbeat_interval: int = HEARTBEAT_INTERVAL
) -> optuna.storages.BaseStorage:
    """Opens the storage; RDB storages get heartbeats so a killed worker's trial is retried.

    Args:
        url: an SQLAlchemy URL or a journal file path ending in .log.
        heartbeat_interval: seconds between a running trial's heartbeats (RDB storages);
            a trial without one for four intervals counts as dead.
    """
    check(url)
    if is_journal(url):
        return JournalStorage(JournalFileBackend(url))
    url = _with_installed_driver(url)
    engine_kwargs = {}
    if url.startswith("sqlite"):
        # Parallel writers wait for SQLite's lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    grace_period = heartbeat_interval * GRACE_PERIOD // HEARTBEAT_INTERVAL
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                # Optuna calls heartbeats experimental; they are used on purpose.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=MAX_RETRY
                    ),
                )
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            if attempt < OPEN_ATTEMPTS and _may_be_creation_race(error):
                time.sleep(random.uniform(0.2, 1.0) * attempt)
                continue
            message = scrub(message, url)
            raise StorageError(f"cannot open storage {redact(url)}: {message}") from None
    raise AssertionError("unreachable")


def _with_installed_driver(url: str) -> str:
    """A plain postgresql:// URL pinned to psycopg2 when psycopg 3 is not installed.

    SQLAlchemy 2.1 serves postgresql:// with psycopg 3; the project's postgresql extra
    installs psycopg2, which then has to be named.
    """
    import sqlalchemy

    parsed = sqlalchemy.engine.make_url(url)
    if parsed.drivername == "postgresql" and not importlib.util.find_spec("psycopg"):
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def _may_be_creation_race(error: Exception) -> bool:
    """Whether `error` looks like losing the race to create Optuna's tables.

    Such errors are integrity or programming errors (a table or type that already exists,
    or not yet); failures to connect (refused, bad password, unknown database) are
    operational errors and are not retried.
    """
    import sqlalchemy.exc

    return isinstance(error, sqlalchemy.exc.DBAPIError) and not isinstance(
        error, sqlalchemy.exc.OperationalError
    )
