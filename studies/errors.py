"""The command line's errors: usage (exit status 2) and faults while running (1), as one line."""

from __future__ import annotations

import re

from studies.storage import StorageError, describe_fault, redact


class UsageError(ValueError):
    """The command asks for something that cannot be done; one line, exit status 2."""


class RuntimeFault(RuntimeError):
    """Something failed while running (a storage, a file); one line, exit status 1."""


# A URL with a scheme, up to the next white space: its password is hidden by storage.redact.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def one_line(message: str) -> str:
    """`message` fit to print: on one line, with the password of any URL in it hidden.

    An error may quote what was typed (argparse lists unrecognised arguments as given),
    and what was typed may hold a newline or a storage URL with its password.
    """
    message = _URL.sub(lambda found: redact(found.group()), message)
    return message.replace("\r", "\\r").replace("\n", "\\n")


class faults_as_one_line:
    """Turns a storage or file-system failure met while running into RuntimeFault."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, (UsageError, RuntimeFault, KeyboardInterrupt)):
            return False
        if isinstance(error, StorageError):
            raise RuntimeFault(str(error)) from None
        message = describe_fault(error)
        if message is None:
            return False
        raise RuntimeFault(message) from None
