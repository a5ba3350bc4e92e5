"""Progress: a bar where a person watches (a terminal, a notebook), else one line per
finished trial or run with elapsed time, ETA and the outcome; neither with --no-progress.

Every line goes to the logger "studies". It prints to stdout by itself (the command
line's lines, and a notebook cell's output, above any bar; Optuna's own logger writes to
stderr) and does not pass its lines on; a program that routes them elsewhere replaces its
handler (and may set `propagate`). What goes wrong (a failed trial, a stop) is said
whatever the view.
"""

from __future__ import annotations

import logging
import time

from studies.engine import progress_bar

LOGGER = logging.getLogger("studies")


class _Print(logging.Handler):
    """Prints each line to whatever sys.stdout is when it is said: a notebook's cell, or
    a test's capture, may have replaced it since the handler was made."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            progress_bar.write(self.format(record))
        except Exception:  # What logging's own handlers do with a failed write.
            self.handleError(record)


if not LOGGER.handlers:
    LOGGER.addHandler(_Print())
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False


class Progress:
    """The progress of a study's stages: per trial or run, its number, state and value,
    elapsed time and ETA, as a bar or as lines (`view`: "bar", "lines" or "off"; None
    chooses a bar where a person watches, lines elsewhere)."""

    def __init__(self, study_name: str, target: int, already: int, view: str | None = None):
        self.name = shown_name(study_name)
        self.target = target
        self.already = already
        self.started = time.monotonic()
        self.waiting = False  # Whether "waiting for other workers" has been said.
        self.view = view or ("bar" if progress_bar.watched() else "lines")
        self.bar = progress_bar.Bar(self.name)
        if self.view == "bar" and already < target:
            self.bar.begin("search", target, already)

    @classmethod
    def of(cls, settings, finished: int) -> Progress:
        """The progress of a run of `settings` with `finished` search trials done: none
        shown with --no-progress, else as the output allows."""
        view = "off" if settings.no_progress else None
        return cls(settings.study_name, settings.trials, finished, view)

    def note(self, message: str) -> None:
        # One message, one line, whatever a stored failure reason holds.
        LOGGER.info(f"[{self.name}] {escaped(message)}")

    def trial(self, trial, finished: int) -> None:
        elapsed = time.monotonic() - self.started
        done_here = max(1, finished - self.already)
        eta = elapsed / done_here * max(0, self.target - finished)
        line = (
            f"trial {trial.number:>3} {trial.state.name:<8} {outcome(trial)} | "
            f"{finished}/{self.target} done, elapsed {clock(elapsed)}, ETA {clock(eta)}"
        )
        self._finished(trial, finished if self.bar.stage == "search" else None, line)

    def begin(self, stage: str, total: int, done: int) -> None:
        """A stage after the search starts: `done` of its `total` runs are done already."""
        if self.view == "bar":
            self.bar.begin(stage, total, done)

    def run(self, trial, line: str) -> None:
        """A run of the stage begun last finished; `line` says how."""
        self._finished(trial, self.bar.bar.n + 1 if self.bar.bar is not None else None, line)

    def _finished(self, trial, done: int | None, line: str) -> None:
        """Says `line` where lines are shown (a failure's everywhere), and moves the bar to
        `done` (None: the bar shown is another stage's)."""
        if self.view == "lines" or trial.state.name == "FAIL":
            self.note(line)
        if done is not None:
            self.bar.show(done, short_outcome(trial))

    def close(self) -> None:
        """Ends the bar, if one is shown."""
        self.bar.close()


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


def short_outcome(trial) -> str:
    """The outcome of a trial or run beside a bar: its number, state and objective."""
    value = trial.user_attrs.get("objective")
    shown = f" {value:.4f}" if isinstance(value, int | float) else ""
    return f"last: #{trial.number} {trial.state.name.lower()}{shown}"


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
