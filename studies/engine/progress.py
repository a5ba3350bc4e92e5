"""Progress lines: one per finished trial, with elapsed time, ETA and the outcome.

Every line goes to the logger "studies". It prints to stdout by itself (the command
line's lines, and a notebook cell's output; Optuna's own logger writes to stderr) and does
not pass its lines on; a program that routes them elsewhere replaces its handler (and may set
`propagate`).
"""

from __future__ import annotations

import logging
import time

LOGGER = logging.getLogger("studies")


class _Print(logging.Handler):
    """Prints each line to whatever sys.stdout is when it is said: a notebook's cell, or
    a test's capture, may have replaced it since the handler was made."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), flush=True)
        except Exception:  # What logging's own handlers do with a failed write.
            self.handleError(record)


if not LOGGER.handlers:
    LOGGER.addHandler(_Print())
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


class Progress:
    """One line per trial: number, state and value, elapsed time, ETA and the best so far."""

    def __init__(self, study_name: str, target: int, already: int):
        self.name = shown_name(study_name)
        self.target = target
        self.already = already
        self.started = time.monotonic()
        self.waiting = False  # Whether "waiting for other workers" has been said.

    def note(self, message: str) -> None:
        # One message, one line, whatever a stored failure reason holds.
        LOGGER.info(f"[{self.name}] {escaped(message)}")

    def trial(self, trial, finished: int) -> None:
        elapsed = time.monotonic() - self.started
        done_here = max(1, finished - self.already)
        eta = elapsed / done_here * max(0, self.target - finished)
        self.note(
            f"trial {trial.number:>3} {trial.state.name:<8} {outcome(trial)} | "
            f"{finished}/{self.target} done, elapsed {clock(elapsed)}, ETA {clock(eta)}"
        )


# A study's name is shown whole up to this many characters; a longer one is shortened, so
# that a 5,000-character name does not flood every line.
LONGEST_SHOWN_NAME = 60


def shown_name(name: str) -> str:
    """A study's name as progress lines show it: on one line (a line break, a carriage
    return or a terminal escape in it is shown escaped, so it cannot forge lines of its
    own) and at most LONGEST_SHOWN_NAME characters, shortened with an ellipsis."""
    name = escaped(name)
    if len(name) > LONGEST_SHOWN_NAME:
        return name[: LONGEST_SHOWN_NAME - 3] + "..."
    return name


def escaped(text: str) -> str:
    """`text` with every character that is not printable (line breaks of any kind, control
    characters) written as its escape, e.g. \\n."""
    if text.isprintable():
        return text
    return "".join(
        character if character.isprintable() else repr(character)[1:-1] for character in text
    )


def outcome(trial) -> str:
    user = trial.user_attrs
    if trial.state.name == "COMPLETE":
        return (
            f"objective {user['objective']:.4f} (val {user['val_accuracy']:.4f}, "
            f"gap {user['gap']:+.4f}, {user['epochs']} epochs)"
        )
    if trial.state.name == "PRUNED":
        return f"pruned after {user.get('epochs', '?')} epochs"
    return f"failed: {user.get('fail_reason', 'see log')}"


# An estimate beyond this many hours says nothing a person can plan with.
LONGEST_ESTIMATE_HOURS = 99


def clock(seconds: float) -> str:
    """Seconds as 4m05s or 2h03m; past LONGEST_ESTIMATE_HOURS, "over 99h"."""
    if not seconds < LONGEST_ESTIMATE_HOURS * 3600:  # NaN and infinity too.
        return f"over {LONGEST_ESTIMATE_HOURS}h"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    return f"{minutes}m{seconds:02d}s"
