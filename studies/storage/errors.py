"""The storage's two error types, below every other storage module."""

from __future__ import annotations


class StorageError(ValueError):
    """The storage URL or path cannot be used; the message never contains a password."""


class StorageWarning(UserWarning):
    """A storage was usable but not whole (a half-written journal record); one line."""
