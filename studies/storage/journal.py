"""Optuna journal files: checked, scanned record by record, repaired, opened."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import NamedTuple

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage
from optuna.storages.journal._storage import JournalOperation

from studies.storage.errors import StorageError, StorageWarning
from studies.storage.faults import first_line
from studies.storage.files import require_writable

# Optuna writes every journal record as compact JSON with op_code as its first key, so a
# journal, and a record cut off after its first bytes, starts with this.
JOURNAL_RECORD_START = b'{"op_code":'

# The op codes Optuna's journal reader applies; any other makes it fail an assertion. Only
# its private module lists them (watch optuna.storages.journal._storage on upgrades).
JOURNAL_OPERATIONS = frozenset(operation.value for operation in JournalOperation)

# No record a study writes comes near this (a trial's history is a few numbers an epoch); a
# longer line is refused rather than read into memory.
LONGEST_RECORD = 16 << 20


class JournalScan(NamedTuple):
    """What a journal holds: complete records, their bytes, and a cut-off record's bytes."""

    records: int
    complete_bytes: int
    torn_bytes: int


def check_journal(path: Path, write: bool) -> JournalScan:
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
    require_writable(path, f"journal {path}")
    # Optuna's writers lock the journal with a link created beside it.
    require_writable(path.parent, f"journal folder {path.parent}", "is not writable")


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
            number = 0
            while offset < size:
                number += 1
                # A bounded read: one endless line must not take the memory with it.
                line = stream.readline(LONGEST_RECORD + 1)[: size - offset]
                if not line:
                    break
                if suspect is not None:
                    raise StorageError(f"{shown}: line {suspect[0]} {suspect[2]}")
                if len(line) > LONGEST_RECORD:
                    raise StorageError(
                        f"{shown}: line {number} is longer than {LONGEST_RECORD >> 20} MiB, "
                        "more than any record a study writes"
                    )
                offset += len(line)
                json_line, problem = _read_line(line)
                if line.endswith(b"\n") and problem is None:
                    records += 1
                    complete += len(line)
                else:
                    suspect = (number, line, problem, json_line)
    except OSError as error:
        raise StorageError(f"journal {path} cannot be read: {error.strerror}") from None
    if suspect is None:
        return JournalScan(records, complete, 0)
    number, line, problem, json_line = suspect
    # A record cut off mid-write lacks its end: its newline, or the end of its JSON. A
    # complete JSON line that is not a record is someone else's data (or an edited one).
    if not _starts_like_record(line) or (line.endswith(b"\n") and json_line):
        raise StorageError(f"{shown}: line {number} {problem or 'is not a journal record'}")
    return JournalScan(records, complete, len(line))


def _starts_like_record(data: bytes) -> bool:
    length = min(len(data), len(JOURNAL_RECORD_START))
    return data[:length] == JOURNAL_RECORD_START[:length]


def _read_line(line: bytes) -> tuple[bool, str | None]:
    """Whether `line` is complete JSON, and why it is not a journal record (None if it is):
    JSON with an op code Optuna knows and a worker id."""
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike.
        return False, "is not a journal record"
    except RecursionError:
        # Complete JSON, perhaps, but nested deeper than Python's parser (and Optuna's
        # reader) can follow: no record Optuna writes is.
        return True, "is not a journal record: its JSON is nested too deeply to read"
    if not (
        isinstance(record, dict)
        and type(record.get("op_code")) is int
        and isinstance(record.get("worker_id"), str)
    ):
        return True, "is not a journal record"
    if record["op_code"] not in JOURNAL_OPERATIONS:
        return True, f"has an unknown journal op code {record['op_code']}"
    return True, None


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


def open_journal(path: Path, write: bool) -> JournalStorage:
    scan = check_journal(path, write)
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
        raise StorageError(f"journal {path} cannot be read: {first_line(error)}") from None
    except (KeyError, TypeError, IndexError, AttributeError, AssertionError) as error:
        # Records of the right shape whose fields Optuna cannot apply (a missing or mistyped
        # field, a trial that does not exist): an edited journal.
        raise StorageError(
            f"journal {path} holds a record Optuna cannot apply "
            f"({type(error).__name__}: {first_line(error)}); it was edited or damaged"
        ) from None
