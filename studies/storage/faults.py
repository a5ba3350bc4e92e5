"""Storage and file-system failures met while running, as one line a person can act on."""

from __future__ import annotations

from collections.abc import Iterator

from studies.storage.errors import StorageError
from studies.storage.url import is_journal, parse, redact, scrub

# Seconds an SQLite connection waits for another process's lock before giving up; parallel
# writers take turns, so this is long, but a lock held longer is reported, not waited out.
LOCK_TIMEOUT = 60


def resolve_timeout(given: float | None) -> float:
    # Read when called, not when defined, so that LOCK_TIMEOUT can be set for a whole run.
    return LOCK_TIMEOUT if given is None else given


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

    found = storage_error(error, url, resolve_timeout(lock_timeout))
    if found is not None:
        return str(found)
    operational = _in_chain(error, sqlalchemy.exc.OperationalError)
    if operational is None:
        return None
    orig = getattr(operational, "orig", None)
    message = first_line(orig if isinstance(orig, BaseException) else operational)
    if url is None:
        return f"the storage failed: {message}"
    return f"storage {redact(url)} failed: {scrub(message, url)}"


def storage_error(error: BaseException, url: str | None, timeout: float) -> StorageError | None:
    """The StorageError for a lock, a read-only database or a file error, else None."""
    shown = f"storage {redact(url)}" if url else "the storage"
    for cause in _chain(error):
        if isinstance(cause, StorageError):
            return cause
        text = str(cause).lower()
        if "database is locked" in text:
            return StorageError(
                f"{shown}: database is locked by another process for more than "
                f"{timeout:g} s; try again when it has finished"
            )
        if "readonly database" in text or "read-only transaction" in text:
            return StorageError(
                f"{shown} cannot be written: its file or folder is read-only, "
                "or it was opened read-only"
            )
        if isinstance(cause, OSError) and _is_about(cause, url):
            reason = cause.strerror or first_line(cause)
            if url is None:  # Any file's failure: name the file, not the storage.
                named = f"{cause.filename}: " if cause.filename is not None else ""
                return StorageError(f"{named}{reason}")
            return StorageError(f"{shown}: {reason}")
    return None


def cannot_open(error: BaseException, url: str) -> StorageError:
    orig = getattr(error, "orig", None)
    message = first_line(orig if isinstance(orig, BaseException) else error)
    return StorageError(f"cannot open storage {redact(url)}: {scrub(message, url)}")


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
    try:
        storage = parse(url)
    except StorageError:
        return False
    path = url if is_journal(url) else str(storage.path or "")
    # The journal's lock link and SQLite's journal sit beside the file, named after it.
    return bool(path) and str(error.filename).startswith(path)
