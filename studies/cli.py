"""Command-line plumbing for `studies.run`: option value types and errors as one line."""

from __future__ import annotations

import argparse
import re

from studies.settings import MAX_HEARTBEAT, UsageError


class RuntimeFault(RuntimeError):
    """Something failed while running (a storage, a file); one line, exit status 1."""


def _number(convert, minimum, maximum=float("inf"), *, what: str):
    """An argparse type: `convert(text)`, finite, at least `minimum` and at most `maximum`."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not minimum <= value <= maximum or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = _number(int, 1, what="a positive integer")
count = _number(int, 0, what="an integer >= 0")
positive_float = _number(float, 1e-9, what="a positive number")
non_negative_float = _number(float, 0.0, what="a number >= 0")
fraction = _number(float, 1e-9, 1 - 1e-9, what="a number between 0 and 1")
heartbeat = _number(int, 1, MAX_HEARTBEAT, what=f"whole seconds from 1 to {MAX_HEARTBEAT}")


# The password of a URL (user:password@), up to the last '@' of the word, as in storage.redact.
_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)\S*@")


def one_line(message: str) -> str:
    """`message` fit to print: on one line, with the password of any URL in it hidden.

    An error may quote what was typed (argparse lists unrecognised arguments as given),
    and what was typed may hold a newline or a storage URL with its password.
    """
    message = _CREDENTIALS.sub(r"\1***@", message)
    return message.replace("\r", "\\r").replace("\n", "\\n")


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (no usage block), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


class DeprecatedGapWeight(argparse.Action):
    """--penalty: noted, and warned about only once the command is known to be valid, so
    that a refused command still says one line."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.deprecated_penalty = True
        setattr(namespace, self.dest, values)


class faults_as_one_line:
    """Turns a storage or file-system failure met while running into RuntimeFault."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, (UsageError, RuntimeFault, KeyboardInterrupt)):
            return False
        from studies.storage import StorageError, describe_fault

        if isinstance(error, StorageError):
            raise RuntimeFault(str(error)) from None
        message = describe_fault(error)
        if message is None:
            return False
        raise RuntimeFault(message) from None
