"""Whether a storage's file or folder may be written, as root too."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from studies.storage.errors import StorageError


def require_writable(path: Path, shown: str, verdict: str = "is read-only") -> None:
    """Refuses an existing file or folder that cannot, or should not, be written."""
    if path.exists() and not is_writable(path):
        raise StorageError(f"{shown} {verdict}; nothing was written")


def is_writable(path: Path) -> bool:
    """Whether an existing file or folder may be written.

    os.access answers for this user and for read-only mounts, but to root it says yes to
    everything; so a file or folder whose mode lets nobody write (chmod a-w, a deliberate
    "do not touch") counts as read-only too.
    """
    writable_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & writable_bits)
