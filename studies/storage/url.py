"""A storage URL parsed once: its kind, its file, its driver, and its password kept hidden."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
from pathlib import Path
from urllib.parse import unquote

from studies.storage.errors import StorageError

# The package each SQLAlchemy dialect needs, for an error message that names it.
DRIVERS = {
    "postgresql": ("psycopg2", "psycopg2-binary"),
    "postgresql+psycopg2": ("psycopg2", "psycopg2-binary"),
    "postgresql+psycopg": ("psycopg", "psycopg"),
    "mysql": ("MySQLdb", "mysqlclient"),
    "mysql+pymysql": ("pymysql", "PyMySQL"),
    "sqlite": ("sqlite3", "the Python sqlite3 module"),
}


@dataclasses.dataclass(frozen=True)
class StorageURL:
    """What a storage URL names.

    `kind` is "journal" (an Optuna journal file, a path ending in .log), "sqlite" (a
    database file) or "server" (PostgreSQL, MySQL); `path` is the file of the first two
    (None for an in-memory SQLite database), `driver` the SQLAlchemy dialect of the last
    two.
    """

    url: str
    kind: str
    path: Path | None = None
    driver: str = ""

    @property
    def shown(self) -> str:
        """The URL safe to print."""
        return redact(self.url)

    @property
    def sqlalchemy_url(self) -> str:
        """The URL for SQLAlchemy: a plain postgresql:// pinned to psycopg2 unless psycopg 3
        is installed (SQLAlchemy 2.1 would pick psycopg 3; the postgresql extra installs
        psycopg2)."""
        if self.driver == "postgresql" and not importlib.util.find_spec("psycopg"):
            return self.url.replace("postgresql://", "postgresql+psycopg2://", 1)
        return self.url


def parse(url: str) -> StorageURL:
    """`url` as a StorageURL; StorageError for a malformed URL or a journal path that names a
    folder. Checks no file and no driver."""
    if is_journal(url):
        if url.endswith(("/", os.sep)):
            raise StorageError(f"journal {url} names a folder, not a journal file")
        return StorageURL(url, "journal", Path(url))
    parsed = _sqlalchemy_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        path = None if database in ("", ":memory:") else Path(database)  # None: in memory.
        return StorageURL(url, "sqlite", path, parsed.drivername)
    return StorageURL(url, "server", None, parsed.drivername)


def is_journal(url: str) -> bool:
    """Whether `url` names an Optuna journal file (a path ending in .log) rather than a URL."""
    return url.rstrip("/" + os.sep).endswith(".log") and "://" not in url


def _sqlalchemy_url(url: str):
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


def check_driver(storage: StorageURL) -> None:
    """Refuses a dialect we do not know, or whose driver is not installed."""
    module, package = DRIVERS.get(storage.driver, (None, None))
    if module is None:
        raise StorageError(
            f"unsupported storage dialect {storage.driver!r} in {storage.shown}; "
            f"use one of {', '.join(sorted(DRIVERS))}"
        )
    if storage.driver == "postgresql" and importlib.util.find_spec("psycopg"):
        return  # psycopg 3 serves plain postgresql:// URLs as well as psycopg2 does.
    if importlib.util.find_spec(module) is None:
        raise StorageError(
            f"the {storage.driver} driver is not installed: pip install {package} "
            f"(needed for {storage.shown})"
        )


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
