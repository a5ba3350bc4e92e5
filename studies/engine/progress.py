"""Progress lines: one per finished trial, with elapsed time, ETA and the outcome."""

from __future__ import annotations

import time


class Progress:
    """One line per trial: number, state and value, elapsed time, ETA and the best so far."""

    def __init__(self, study_name: str, target: int, already: int):
        self.name = study_name
        self.target = target
        self.already = already
        self.started = time.monotonic()
        self.waiting = False  # Whether "waiting for other workers" has been said.

    def note(self, message: str) -> None:
        print(f"[{self.name}] {message}", flush=True)

    def trial(self, trial, finished: int) -> None:
        elapsed = time.monotonic() - self.started
        done_here = max(1, finished - self.already)
        eta = elapsed / done_here * max(0, self.target - finished)
        self.note(
            f"trial {trial.number:>3} {trial.state.name:<8} {outcome(trial)} | "
            f"{finished}/{self.target} done, elapsed {clock(elapsed)}, ETA {clock(eta)}"
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


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"
