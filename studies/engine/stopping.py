"""How a run stops on SIGINT or SIGTERM: at once where it can, else at the end of its epoch,
and between runs for sure."""

from __future__ import annotations

import contextlib
import signal

# The signal that asked this process to stop, once one has. A KeyboardInterrupt raised while
# Python runs a finaliser or a weakref callback (the garbage collection after a trial) is
# printed and dropped, and one raised inside a library's C code calling back into Python
# (TensorFlow tracing a graph) comes out as another error (SystemError, AttributeError), so
# a run's per-epoch callbacks and the loops between runs also look here, and the block turns
# any error after a stop into it.
_stopped: str | None = None


def _interrupt(signum, frame):
    global _stopped
    # A second signal (Ctrl-C reaches the workers of --workers and their parent forwards
    # SIGTERM) must not interrupt the clean-up of the first.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    _stopped = signal.Signals(signum).name
    raise KeyboardInterrupt(_stopped)


@contextlib.contextmanager
def stopping_on_signals():
    """SIGINT and SIGTERM raise KeyboardInterrupt inside the block.

    SIGINT too: a worker started in the background inherits SIGINT ignored.
    """
    global _stopped
    _stopped = None
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except Exception as error:
        if _stopped is None:
            raise
        raise KeyboardInterrupt(_stopped) from error
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_requested() -> bool:
    """Whether a stop signal arrived inside `stopping_on_signals`."""
    return _stopped is not None


def raise_if_stopped() -> None:
    """Raises the KeyboardInterrupt of a stop signal that arrived and was lost on the way."""
    if _stopped is not None:
        raise KeyboardInterrupt(_stopped)
