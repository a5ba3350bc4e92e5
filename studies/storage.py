"""Opening an Optuna storage from a URL or a journal path, with errors a person can act on."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import sqlite3
import stat
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage

from studies.settings import HEARTBEAT_INTERVAL

# A worker that died mid-trial stops sending heartbeats; once GRACE_PERIOD seconds pass
# without one, any worker of the study that starts a trial or waits for the last ones
# marks it FAIL, and the retry callback queues its configuration again. So a dead
# worker's trial is failed and retried within about a minute while another worker runs.
GRACE_PERIOD = 40
MAX_RETRY = 2
# Workers started together on a fresh database all try to create Optuna's tables; the
# losers of that race get an error from the database and simply try again.
OPEN_ATTEMPTS = 5
# Seconds an SQLite connection waits for another process's lock before giving up; parallel
# writers take turns, so this is long, but a lock held longer is reported, not waited out.
LOCK_TIMEOUT = 60

# The package each SQLAlchemy dialect needs, for an error message that names it.
DRIVERS = {
    "postgresql": ("psycopg2", "psycopg2-binary"),
    "postgresql+psycopg2": ("psycopg2", "psycopg2-binary"),
    "postgresql+psycopg": ("psycopg", "psycopg"),
    "mysql": ("MySQLdb", "mysqlclient"),
    "mysql+pymysql": ("pymysql", "PyMySQL"),
    "sqlite": ("sqlite3", "the Python sqlite3 module"),
}

SQLITE_HEADER = b"SQLite format 3\x00"
# Optuna writes every journal record as compact JSON with op_code as its first key, so a
# journal, and a record cut off after its first bytes, starts with this.
JOURNAL_RECORD_START = b'{"op_code":'
# The table Optuna creates first (its tables are created in dependency order), so a worker
# that looks while another is creating them already sees it. alembic_version is no sign of
# Optuna: every program whose schema Alembic migrates has one.
OPTUNA_MARKER_TABLE = "studies"


def _lock_timeout(given: float | None) -> float:
    # Read when called, not when defined, so that LOCK_TIMEOUT can be set for a whole run.
    return LOCK_TIMEOUT if given is None else given


class StorageError(ValueError):
    """The storage URL or path cannot be used; the message never contains a password."""


class StorageWarning(UserWarning):
    """A storage was usable but not whole (a half-written journal record); one line."""


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe to print."""
    span = _password_span(url)
    if span is None:
        return url
    return url[: span[0]] + "***" + url[span[1] :]


def scrub(text: str, url: str) -> str:
    """`text` with the password of `url` (and `url` itself) replaced, for error messages."""
    text = text.replace(url, redact(url))
    passwords = set()
    span = _password_span(url)
    if span is not None:
        written = url[span[0] : span[1]]
        passwords |= {written, unquote(written)}
    with contextlib.suppress(Exception):
        import sqlalchemy

        # What SQLAlchemy takes for the password is what a driver may echo back.
        passwords.add(sqlalchemy.engine.make_url(url).password or "")
    for password in sorted(passwords, key=len, reverse=True):
        if password:
            text = text.replace(str(password), "***")
    return text


def _password_span(url: str) -> tuple[int, int] | None:
    """Where the password of `url` starts and ends, or None when it has none.

    The password is taken to end at the last '@': SQLAlchemy takes the first, so a password
    with an unencoded '@' would otherwise be printed in part. An '@' in the path or query
    then hides more than the password, never less.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return None
    username, colon, password = rest[: rest.rfind("@")].partition(":")
    if not colon or not password or "/" in username:
        return None  # No password, or the '@' is in a path or query, not in credentials.
    start = len(scheme) + len(separator) + len(username) + 1
    return start, start + len(password)


def is_journal(url: str) -> bool:
    """Whether `url` names an Optuna journal file (a path ending in .log) rather than a URL."""
    return url.rstrip("/" + os.sep).endswith(".log") and "://" not in url


def _journal_path(url: str) -> Path:
    if url.endswith(("/", os.sep)):
        raise StorageError(f"journal {url} names a folder, not a journal file")
    return Path(url)


def exists(url: str) -> bool:
    """Whether the storage exists already: True for a journal or SQLite file that is there
    (even an empty or damaged one, which `check` refuses) and for any server URL.

    Raises StorageError for a malformed URL.
    """
    if is_journal(url):
        return Path(url).exists()
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database or ""
    return database not in ("", ":memory:") and Path(database).exists()


def check(url: str, *, write: bool = True, lock_timeout: float | None = None) -> None:
    """Raises StorageError unless `url` can be opened as a study storage; changes nothing.

    It refuses malformed URLs, missing drivers and folders, files that are not a storage
    (or are another program's database), and, for writing, read-only files and folders.
    A journal whose last record was cut off passes: `open_storage` repairs it.

    Args:
        url: an SQLAlchemy URL or a journal file path ending in .log.
        write: True for a run, which writes trials (a missing file will be created);
            False for reading only, e.g. a report (the storage must exist and hold tables).
        lock_timeout: seconds to wait for another process's SQLite lock (LOCK_TIMEOUT).
    """
    lock_timeout = _lock_timeout(lock_timeout)
    if is_journal(url):
        _check_journal(_journal_path(url), write)
        return
    parsed = _parse(url)
    _check_driver(parsed, url)
    if parsed.get_backend_name() == "sqlite" and not _check_sqlite_file(
        parsed.database or "", write
    ):
        return  # No database yet (or an empty file, for writing): no tables to look at.
    _check_tables(url, write, lock_timeout)


def _parse(url: str):
    """The SQLAlchemy URL of `url`; StorageError when it is malformed."""
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        raise StorageError(
            f"malformed storage URL {redact(url)!r}: expected an SQLAlchemy URL such as "
            "sqlite:///reports/kerasnn.db or postgresql://user:password@host/db, "
            "or a journal file path ending in .log"
        ) from None
    span = _password_span(url)
    if span is not None and "@" in url[span[0] : span[1]]:
        # SQLAlchemy would split the password at its '@' and take the rest for the host.
        raise StorageError(
            f"storage URL {redact(url)} has more than one '@'; write an '@' in the password "
            "(or in the query) percent-encoded, as %40"
        )
    return parsed


def _check_driver(parsed, url: str) -> None:
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


def _check_sqlite_file(database: str, write: bool) -> bool:
    """Refuses an SQLite path that cannot serve; returns whether it holds a database."""
    if database in ("", ":memory:"):
        raise StorageError("an in-memory SQLite storage would lose every trial; give a file")
    path = Path(database)
    if not path.parent.is_dir():
        raise StorageError(f"SQLite folder {path.parent} does not exist")
    if path.is_dir():
        raise StorageError(f"SQLite database {path} is a folder, not a database file")
    if write:
        # SQLite writes a rollback journal beside the database, so the folder must be
        # writable too, not only the file.
        _require_writable(path, f"SQLite database {path}")
        _require_writable(path.parent, f"SQLite folder {path.parent}")
    if not path.exists():
        if not write:
            raise StorageError(f"SQLite database {path} does not exist")
        return False
    if not path.is_file():
        raise StorageError(f"SQLite database {path} is not a regular file")
    try:
        with open(path, "rb") as stream:
            header = stream.read(len(SQLITE_HEADER))
    except OSError as error:
        raise StorageError(f"SQLite database {path} cannot be read: {error.strerror}") from None
    if not header:
        if not write:
            # Opening it would turn it into an empty database; reading wants a study.
            raise StorageError(f"SQLite database {path} is empty, not a study storage")
        return False
    if header != SQLITE_HEADER:
        raise StorageError(f"{path} is not an SQLite database (it lacks SQLite's header)")
    return True


def _check_tables(url: str, write: bool, lock_timeout: float) -> None:
    """Refuses a database that is another program's, for SQLite and server databases alike.

    A database with tables but without Optuna's would otherwise get Optuna's tables created
    among them; for reading, the database must hold Optuna's tables already.
    """
    names = _table_names(url, lock_timeout)
    if OPTUNA_MARKER_TABLE in names:
        return
    foreign = sorted(names - _optuna_tables())
    if foreign:
        listed = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise StorageError(
            f"storage {redact(url)} belongs to another program: it holds tables ({listed}) "
            "but no Optuna study storage; give a new database or file"
        )
    if not write:
        raise StorageError(f"storage {redact(url)} holds no Optuna study storage")


def _table_names(url: str, lock_timeout: float) -> set[str]:
    """The tables of the database at `url`, read through a read-only connection."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(
            _with_installed_driver(url), **_engine_kwargs(url, True, lock_timeout)
        )
        try:
            return set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except Exception as error:
        raise _storage_error(error, url, lock_timeout) or _cannot_open(error, url) from None


def _optuna_tables() -> frozenset[str]:
    # Optuna has no public list of its tables; its models module is where they are declared
    # (watch optuna.storages._rdb on upgrades). Alembic's table comes from its version manager.
    from optuna.storages._rdb import models

    return frozenset(models.BaseModel.metadata.tables) | {"alembic_version"}


def _engine_kwargs(url: str, read_only: bool, lock_timeout: float) -> dict:
    """SQLAlchemy engine options; with `read_only`, connections that cannot write."""
    import sqlalchemy

    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not read_only:
            # Parallel writers wait for SQLite's lock instead of failing at once.
            return {"connect_args": {"timeout": lock_timeout}}
        # mode=ro makes SQLite itself refuse writes, and needs no journal beside the file.
        uri = Path(parsed.database).resolve().as_uri() + "?mode=ro"
        return {
            "creator": lambda: sqlite3.connect(
                uri, uri=True, timeout=lock_timeout, check_same_thread=False
            )
        }
    kwargs: dict = {"pool_pre_ping": True}
    if read_only and parsed.get_backend_name() == "postgresql":
        # The server then refuses every write of these sessions.
        given = parsed.query.get("options") or ""
        kwargs["connect_args"] = {"options": f"{given} -c default_transaction_read_only=on"}
    return kwargs


class JournalScan(NamedTuple):
    """What a journal holds: complete records, their bytes, and a cut-off record's bytes."""

    records: int
    complete_bytes: int
    torn_bytes: int


def _check_journal(path: Path, write: bool) -> JournalScan:
    """Refuses a journal path that cannot serve; returns what the journal holds."""
    _check_journal_place(path, write)
    if not path.exists():
        return JournalScan(0, 0, 0)
    scan = _scan_journal(path)
    if not write and scan.complete_bytes == 0 and scan.torn_bytes == 0:
        raise StorageError(f"journal {path} is empty, not a study storage")
    return scan


def _check_journal_place(path: Path, write: bool) -> None:
    if not path.parent.is_dir():
        raise StorageError(f"journal folder {path.parent} does not exist")
    if path.is_dir():
        raise StorageError(f"journal {path} is a folder, not a journal file")
    if path.exists() and not path.is_file():
        raise StorageError(f"journal {path} is not a regular file")
    if not write:
        # Optuna only reads the file and takes no lock to read, so a read-only file in a
        # read-only folder serves a report; it must exist, or Optuna would create it.
        if not path.exists():
            raise StorageError(f"journal {path} does not exist")
        if not os.access(path, os.R_OK):
            raise StorageError(f"journal {path} cannot be read")
        return
    _require_writable(path, f"journal {path}")
    # Optuna's writers lock the journal with a link created beside it.
    _require_writable(path.parent, f"journal folder {path.parent}", "is not writable")


def _scan_journal(path: Path) -> JournalScan:
    """Reads a journal, refusing anything but Optuna records and a cut-off last record."""
    shown = f"{path} is not an Optuna journal"
    try:
        with open(path, "rb") as stream:
            # A quick look first, so a large binary file is not read line by line.
            if not _starts_like_record(stream.read(len(JOURNAL_RECORD_START))):
                raise StorageError(f"{shown}: it does not start with a journal record")
            # Workers may be appending meanwhile: only what was there at the start counts,
            # as in Optuna's own reader, or a record written during the scan would look
            # like a cut-off one followed by more.
            size = os.fstat(stream.fileno()).st_size
            stream.seek(0)
            records = complete = offset = 0
            suspect = None  # A line that is not a complete record: allowed only last.
            for number, line in enumerate(stream, start=1):
                if suspect is not None:
                    raise StorageError(f"{shown}: line {suspect[0]} is not a journal record")
                line = line[: size - offset]
                offset += len(line)
                if line.endswith(b"\n") and _is_record(line):
                    records += 1
                    complete += len(line)
                else:
                    suspect = (number, line)
                if offset >= size:
                    break
    except OSError as error:
        raise StorageError(f"journal {path} cannot be read: {error.strerror}") from None
    if suspect is None:
        return JournalScan(records, complete, 0)
    number, line = suspect
    # A record cut off mid-write lacks its end: its newline, or the end of its JSON. A
    # complete JSON line that is not a record is someone else's data.
    if not _starts_like_record(line) or (line.endswith(b"\n") and _is_json(line)):
        raise StorageError(f"{shown}: line {number} is not a journal record")
    return JournalScan(records, complete, len(line))


def _starts_like_record(data: bytes) -> bool:
    length = min(len(data), len(JOURNAL_RECORD_START))
    return data[:length] == JOURNAL_RECORD_START[:length]


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike.
        return False
    return True


def _is_record(line: bytes) -> bool:
    """Whether `line` is a journal record: JSON with Optuna's op_code and worker_id fields."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return (
        isinstance(record, dict)
        and type(record.get("op_code")) is int
        and isinstance(record.get("worker_id"), str)
    )


def repair_journal(path: str | os.PathLike) -> str | None:
    """Drops a half-written last record from an Optuna journal so that it can be appended to.

    Appending after a cut-off record would glue the next record onto it, and Optuna could
    then read no record after it. Only the cut-off bytes go; anything that is not an Optuna
    journal is refused, unchanged.

    Returns:
        A one-line warning naming the bytes dropped, or None when the journal was whole.
    """
    path = Path(path)
    _check_journal_place(path, write=True)
    if not path.exists():
        return None
    # Optuna's writers append under this lock, so while it is held a cut-off record is one
    # whose writer died, not one still being written.
    lock = JournalFileSymlinkLock(str(path))
    try:
        lock.acquire()
    except OSError as error:
        raise StorageError(f"journal {path} cannot be locked: {error.strerror}") from None
    try:
        scan = _scan_journal(path)
        if scan.torn_bytes:
            with open(path, "r+b") as stream:
                stream.truncate(scan.complete_bytes)
                os.fsync(stream.fileno())
    finally:
        lock.release()
    if not scan.torn_bytes:
        return None
    return (
        f"journal {path}: dropped a half-written last record ({scan.torn_bytes} bytes) "
        f"left by an interrupted write; its {scan.records} complete records are kept"
    )


class _JournalForReading(JournalFileBackend):
    """A journal opened for reading, which a caller may still write to (a dead worker's trial
    marked FAIL, say): before the first write the file is checked writable and a
    half-written last record is dropped, so that the write cannot glue onto it."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self._path = path
        self._ready_to_write = False

    def append_logs(self, logs) -> None:
        if not self._ready_to_write:
            message = repair_journal(self._path)
            if message:
                warnings.warn(message, StorageWarning, stacklevel=2)
            self._ready_to_write = True
        super().append_logs(logs)


def open_storage(
    url: str,
    heartbeat_interval: int = HEARTBEAT_INTERVAL,
    *,
    write: bool = True,
    lock_timeout: float | None = None,
) -> optuna.storages.BaseStorage:
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
            refuses it with a StorageError or, via `storage_errors`, one line.
        lock_timeout: seconds an SQLite connection waits for another process's lock
            (LOCK_TIMEOUT).
    """
    lock_timeout = _lock_timeout(lock_timeout)
    if is_journal(url):
        return _open_journal(_journal_path(url), write)
    check(url, write=write, lock_timeout=lock_timeout)
    return _open_rdb(url, heartbeat_interval, write, lock_timeout)


def _open_journal(path: Path, write: bool) -> JournalStorage:
    scan = _check_journal(path, write)
    message = None
    if scan.torn_bytes and write:
        message = repair_journal(path)
    elif scan.torn_bytes:
        # Optuna's reader skips a cut-off last record, so a report can read the rest as is.
        message = (
            f"journal {path} ends with a half-written record ({scan.torn_bytes} bytes), "
            "left out of this read; it is dropped before anything is written"
        )
    if message:
        warnings.warn(message, StorageWarning, stacklevel=3)
    backend = JournalFileBackend(str(path)) if write else _JournalForReading(path)
    try:
        return JournalStorage(backend)
    except (OSError, ValueError) as error:
        raise StorageError(f"journal {path} cannot be read: {_first_line(error)}") from None


def _open_rdb(url: str, heartbeat_interval: int, write: bool, lock_timeout: float) -> RDBStorage:
    # A read-only SQLite file is opened so that SQLite itself refuses writes: as root,
    # nothing else would stop one. Any other storage opened for reading may still be
    # written by its caller (a dead worker's trial marked FAIL); opening it writes nothing.
    read_only = not write and not _sqlite_is_writable(url)
    engine_kwargs = _engine_kwargs(url, read_only, lock_timeout)
    grace_period = heartbeat_interval * GRACE_PERIOD // HEARTBEAT_INTERVAL
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                # Optuna calls heartbeats experimental; they are used on purpose.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    _with_installed_driver(url),
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                        max_retry=MAX_RETRY
                    ),
                    # Reading needs Optuna's tables to be there already (check saw them).
                    skip_table_creation=not write,
                )
        except Exception as error:
            if attempt < OPEN_ATTEMPTS and _may_be_creation_race(error):
                time.sleep(random.uniform(0.2, 1.0) * attempt)
                continue
            raise _storage_error(error, url, lock_timeout) or _cannot_open(error, url) from None
    raise AssertionError("unreachable")


@contextlib.contextmanager
def storage_errors(url: str, lock_timeout: float | None = None) -> Iterator[None]:
    """Turns a storage failure inside the block into a one-line StorageError.

    Optuna reports a lock held too long, a write to a read-only database or a full disk
    as a database error or OSError (often wrapped in its StorageInternalError) from
    whichever call met it; wrap calls on a storage opened from `url` in this. Other
    exceptions pass through unchanged.
    """
    try:
        yield
    except StorageError:
        raise
    except Exception as error:
        message = describe_fault(error, url, lock_timeout)
        if message is None:
            raise
        raise StorageError(message) from None


def describe_fault(
    error: BaseException, url: str | None = None, lock_timeout: float | None = None
) -> str | None:
    """One line for a storage or file-system failure met after opening, or None for others.

    Args:
        error: what a call on the storage (or on files) raised.
        url: the storage's URL, whose password is then kept out of the line; without it,
            an OSError about any file counts and is named by its file.
        lock_timeout: the lock timeout the storage was opened with, for the message.
    """
    import sqlalchemy.exc

    lock_timeout = _lock_timeout(lock_timeout)
    found = _storage_error(error, url, lock_timeout)
    if found is not None:
        return str(found)
    operational = _in_chain(error, sqlalchemy.exc.OperationalError)
    if operational is None:
        return None
    orig = getattr(operational, "orig", None)
    message = _first_line(orig if isinstance(orig, BaseException) else operational)
    if url is None:
        return f"the storage failed: {message}"
    return f"storage {redact(url)} failed: {scrub(message, url)}"


def _storage_error(
    error: BaseException, url: str | None, lock_timeout: float
) -> StorageError | None:
    """The StorageError for a lock, a read-only database or a file error, else None."""
    shown = f"storage {redact(url)}" if url else "the storage"
    for cause in _chain(error):
        if isinstance(cause, StorageError):
            return cause
        text = str(cause).lower()
        if "database is locked" in text:
            return StorageError(
                f"{shown}: database is locked by another process for more than "
                f"{lock_timeout:g} s; try again when it has finished"
            )
        if "readonly database" in text or "read-only transaction" in text:
            return StorageError(
                f"{shown} cannot be written: its file or folder is read-only, "
                "or it was opened read-only"
            )
        if isinstance(cause, OSError) and _is_about(cause, url):
            reason = cause.strerror or _first_line(cause)
            if url is None:  # Any file's failure: name the file, not the storage.
                named = f"{cause.filename}: " if cause.filename is not None else ""
                return StorageError(f"{named}{reason}")
            return StorageError(f"{shown}: {reason}")
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what caused it, and so on (SQLAlchemy keeps the driver's error as orig)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        orig = getattr(error, "orig", None)
        if isinstance(orig, BaseException):
            yield orig
        error = error.__cause__ or error.__context__


def _in_chain(error: BaseException, kind: type) -> BaseException | None:
    return next((cause for cause in _chain(error) if isinstance(cause, kind)), None)


def _is_about(error: OSError, url: str | None) -> bool:
    """Whether an OSError concerns the storage's own files (or names no file at all)."""
    if error.filename is None or url is None:
        return True
    path = url
    if not is_journal(url):
        import sqlalchemy

        try:
            path = sqlalchemy.engine.make_url(url).database or ""
        except Exception:
            return False
    # The journal's lock link and SQLite's journal sit beside the file, named after it.
    return bool(path) and str(error.filename).startswith(str(path))


def _cannot_open(error: BaseException, url: str) -> StorageError:
    orig = getattr(error, "orig", None)
    message = _first_line(orig if isinstance(orig, BaseException) else error)
    return StorageError(f"cannot open storage {redact(url)}: {scrub(message, url)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _require_writable(path: Path, shown: str, verdict: str = "is read-only") -> None:
    """Refuses an existing file or folder that cannot, or should not, be written."""
    if path.exists() and not _is_writable(path):
        raise StorageError(f"{shown} {verdict}; nothing was written")


def _is_writable(path: Path) -> bool:
    """Whether an existing file or folder may be written.

    os.access answers for this user and for read-only mounts, but to root it says yes to
    everything; so a file or folder whose mode lets nobody write (chmod a-w, a deliberate
    "do not touch") counts as read-only too.
    """
    writable_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & writable_bits)


def _sqlite_is_writable(url: str) -> bool:
    """Whether `url` is an SQLite database whose file and folder may be written; True for
    other storages, whose permissions are the server's business."""
    import sqlalchemy

    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    path = Path(parsed.database or "")
    # SQLite writes a rollback journal beside the database, so its folder counts too.
    return _is_writable(path) and _is_writable(path.parent)


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
