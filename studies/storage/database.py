"""SQLite and server databases: the file, Optuna's schema, and opening with heartbeats."""

from __future__ import annotations

import random
import sqlite3
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage

from studies.storage.claims import SQLiteStorage
from studies.storage.errors import StorageError
from studies.storage.faults import cannot_open, storage_error
from studies.storage.files import is_writable, require_writable
from studies.storage.heartbeat import GRACE_INTERVALS
from studies.storage.retry import retry
from studies.storage.url import StorageURL

# Workers started together on a fresh database all try to create Optuna's tables; the
# losers of that race get an error from the database and simply try again.
OPEN_ATTEMPTS = 5

SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(path: Path | None, write: bool) -> bool:
    """Refuses an SQLite path that cannot serve; returns whether it holds a database."""
    if path is None:
        raise StorageError("an in-memory SQLite storage would lose every trial; give a file")
    if not path.parent.is_dir():
        raise StorageError(f"SQLite folder {path.parent} does not exist")
    if path.is_dir():
        raise StorageError(f"SQLite database {path} is a folder, not a database file")
    if write:
        # SQLite writes a rollback journal beside the database, so the folder must be
        # writable too, not only the file.
        require_writable(path, f"SQLite database {path}")
        require_writable(path.parent, f"SQLite folder {path.parent}")
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


def check_schema(storage: StorageURL, write: bool, timeout: float) -> None:
    """Refuses a database that is not (or not yet) an Optuna storage: another program's.

    Recognised by Optuna's schema, not by table names: every table must be one of Optuna's
    with at least Optuna's columns. An empty database may be written (Optuna creates its
    tables); reading needs Optuna's tables there already.
    """
    tables = _table_columns(storage, timeout)
    if not tables:
        if not write:
            raise StorageError(f"storage {storage.shown} holds no Optuna study storage")
        return
    expected = _optuna_schema()
    foreign = sorted(
        name
        for name, columns in tables.items()
        if name not in expected or not expected[name] <= columns
    )
    if foreign and _is_optuna_layout(tables):
        raise StorageError(_other_schema(storage, timeout))
    if foreign or "studies" not in tables:
        listed = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise StorageError(
            f"storage {storage.shown} belongs to another program: its tables "
            f"({listed or ', '.join(sorted(tables)[:3])}) are not Optuna's study storage; "
            "give a new database or file"
        )


def _is_optuna_layout(tables: dict[str, set[str]]) -> bool:
    """Whether the tables are Optuna's own, of some schema version: its version tables and
    its studies and trials, with their names."""
    needed = {"alembic_version", "version_info", "studies", "trials"}
    return needed <= tables.keys() and {"study_id", "study_name"} <= tables["studies"]


def _other_schema(storage: StorageURL, timeout: float) -> str:
    """The refusal of an Optuna storage of another schema version, named by its versions."""
    revision, made_by = _stored_versions(storage, timeout)
    return (
        f"storage {storage.shown} is an Optuna storage of another schema version (revision "
        f"{revision}, made by Optuna {made_by}), which Optuna {optuna.__version__} cannot "
        "read; back it up and run `optuna storage upgrade --storage URL`, or use the "
        "Optuna that made it"
    )


def _stored_versions(storage: StorageURL, timeout: float) -> tuple[str, str]:
    """The database's alembic revision and the Optuna version that made it, as stored
    (shortened, for a line), or "unknown"."""
    import sqlalchemy

    found = []
    queries = (
        "SELECT version_num FROM alembic_version",
        "SELECT library_version FROM version_info",
    )
    try:
        engine = sqlalchemy.create_engine(
            storage.sqlalchemy_url, **engine_kwargs(storage, True, timeout)
        )
        try:
            with engine.connect() as connection:
                for query in queries:
                    value = connection.execute(sqlalchemy.text(query)).scalar()
                    found.append("unknown" if value is None else " ".join(str(value).split())[:40])
        finally:
            engine.dispose()
    except Exception:  # The versions only name the refusal; without them it still stands.
        pass
    found += ["unknown"] * (2 - len(found))
    return found[0], found[1]


def _table_columns(storage: StorageURL, timeout: float) -> dict[str, set[str]]:
    """Each table of the database with its column names, read through a read-only connection."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(
            storage.sqlalchemy_url, **engine_kwargs(storage, True, timeout)
        )
        try:
            inspector = sqlalchemy.inspect(engine)
            return {
                name: {column["name"] for column in inspector.get_columns(name)}
                for name in inspector.get_table_names()
            }
        finally:
            engine.dispose()
    except Exception as error:
        raise storage_error(error, storage.url, timeout) or cannot_open(
            error, storage.url
        ) from None


def _optuna_schema() -> dict[str, set[str]]:
    # Optuna has no public description of its schema; its models module is where the tables
    # are declared (watch optuna.storages._rdb on upgrades). Alembic's table comes from the
    # version manager Optuna uses for its migrations.
    from optuna.storages._rdb import models

    schema = {
        name: {column.name for column in table.columns}
        for name, table in models.BaseModel.metadata.tables.items()
    }
    return schema | {"alembic_version": {"version_num"}}


def engine_kwargs(storage: StorageURL, read_only: bool, timeout: float) -> dict:
    """SQLAlchemy engine options; with `read_only`, connections that cannot write."""
    if storage.kind == "sqlite":
        if not read_only:
            # Parallel writers wait for SQLite's lock instead of failing at once.
            return {"connect_args": {"timeout": timeout}}
        # mode=ro makes SQLite itself refuse writes, and needs no journal beside the file.
        uri = storage.path.resolve().as_uri() + "?mode=ro"
        return {
            "creator": lambda: sqlite3.connect(
                uri, uri=True, timeout=timeout, check_same_thread=False
            )
        }
    kwargs: dict = {"pool_pre_ping": True}
    if read_only and storage.driver.startswith("postgresql"):
        import sqlalchemy

        # The server then refuses every write of these sessions.
        given = sqlalchemy.engine.make_url(storage.url).query.get("options") or ""
        kwargs["connect_args"] = {"options": f"{given} -c default_transaction_read_only=on"}
    return kwargs


def open_rdb(storage: StorageURL, heartbeat_interval: int, write: bool, timeout: float):
    """An RDBStorage with heartbeats and Optuna's retry of a dead worker's trial, behind
    Optuna's own cache of finished trials (what `optuna.load_study` puts in front of a URL):
    one cache for the process, so that each study, search or stage, reads a finished trial
    once, not on every check (handing the bare RDBStorage to Optuna would give every
    `load_study` a cache of its own, each reading the whole study again)."""
    # A read-only SQLite file is opened so that SQLite itself refuses writes: as root,
    # nothing else would stop one. Any other storage opened for reading may still be
    # written by its caller (a dead worker's trial marked FAIL); opening it writes nothing.
    read_only = not write and not sqlite_is_writable(storage)
    options = engine_kwargs(storage, read_only, timeout)
    grace_period = heartbeat_interval * GRACE_INTERVALS
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                # Optuna calls heartbeats experimental; they are used on purpose.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                rdb = _rdb_storage(
                    storage,
                    engine_kwargs=options,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    # The one retry rule of every storage (see storage.retry).
                    heartbeat_stale_trial_callback=retry,
                    # Reading needs Optuna's tables to be there already (check saw them).
                    skip_table_creation=not write,
                )
            return optuna.storages.get_storage(rdb)
        except Exception as error:
            if attempt < OPEN_ATTEMPTS and _may_be_creation_race(error):
                time.sleep(random.uniform(0.2, 1.0) * attempt)
                continue
            raise storage_error(error, storage.url, timeout) or cannot_open(
                error, storage.url
            ) from None
    raise AssertionError("unreachable")


def _rdb_storage(storage: StorageURL, **kwargs) -> RDBStorage:
    """Optuna's RDBStorage of `storage`; an SQLite one claims queued trials one at a time
    (studies.storage.claims: SQLite cannot lock the row a claim reads)."""
    if storage.kind == "sqlite":
        return SQLiteStorage(storage.sqlalchemy_url, storage.path.parent, **kwargs)
    return RDBStorage(storage.sqlalchemy_url, **kwargs)


def sqlite_is_writable(storage: StorageURL) -> bool:
    """Whether an SQLite database's file and folder may be written; True for server
    storages, whose permissions are the server's business."""
    if storage.kind != "sqlite":
        return True
    # SQLite writes a rollback journal beside the database, so its folder counts too.
    return is_writable(storage.path) and is_writable(storage.path.parent)


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
