"""The progress bar a person watching sees: tqdm's, in a terminal or a notebook's cell.

Where nobody watches (output to a file or a CI log), `studies.engine.progress` writes lines
instead. tqdm comes with Optuna.
"""

from __future__ import annotations

import os
import sys
import warnings


def import_tqdm_quietly() -> None:
    """Imports `tqdm.auto` (Optuna imports it) without the warning it prints into a notebook
    that lacks ipywidgets ("IProgress not found"); it then uses its text bar, as `Bar` does.
    Imported once, it stays quiet for Optuna's import too."""
    if "tqdm.auto" in sys.modules:
        return
    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        import tqdm.auto  # noqa: F401


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (whose cells show its output)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and "ipykernel" in sys.modules else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def watched() -> bool:
    """Whether a person watches the output as it comes: a terminal or a notebook's cell.

    A terminal that says it is no column wide (a pseudo-terminal a program opened without
    a size) counts as none: tqdm would draw nothing there.
    """
    try:
        terminal = sys.stdout.isatty() and os.get_terminal_size(sys.stdout.fileno()).columns > 0
    except (AttributeError, ValueError, OSError):  # A replaced, closed or odd stdout.
        terminal = False
    return terminal or in_notebook()


def _bar_type():
    """tqdm's widget bar in a notebook with ipywidgets, its text bar anywhere else."""
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm

            return tqdm
        except ImportError:
            pass
    from tqdm import tqdm

    return tqdm


class Bar:
    """One bar at a time, for the stage running now: its runs done of its total, how long
    it took and how long is left (tqdm's estimate), and the last outcome."""

    def __init__(self, name: str):
        self.name = name
        self.stage = None
        self.bar = None

    def begin(self, stage: str, total: int, done: int) -> None:
        """Starts the bar of `stage` (closing the last one): `done` of `total` runs."""
        self.close()
        self.stage = stage
        self.bar = _bar_type()(
            total=total,
            initial=done,
            desc=f"[{self.name}] {stage}",
            unit="run",
            file=sys.stdout,
            dynamic_ncols=True,
        )

    def show(self, done: int, outcome: str) -> None:
        """Moves the bar to `done` runs, the last one's outcome beside it."""
        if self.bar is not None:
            self.bar.set_postfix_str(outcome, refresh=False)
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None


def write(line: str) -> None:
    """Prints `line` on stdout, above any bar there (tqdm redraws it below)."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is None:  # No bar can be open.
        print(line, flush=True)
        return
    tqdm.tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()
