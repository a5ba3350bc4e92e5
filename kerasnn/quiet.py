"""Keras (and so TensorFlow) imported without TensorFlow's start-up lines on stderr."""

from __future__ import annotations

import contextlib
import os
import sys


def import_keras() -> None:
    """Imports Keras, and so its backend (TensorFlow or JAX), with the process's stderr
    pointed at /dev/null; TensorFlow's C++ log then shows errors that stop it only, unless
    TF_CPP_MIN_LOG_LEVEL already says otherwise.

    TensorFlow writes start-up lines (oneDNN, CUDA drivers) to file descriptor 2 before its
    logging is set up, whatever TF_CPP_MIN_LOG_LEVEL says, and XLA's lines while training;
    the library from Python is then as quiet as the command line. Python errors still reach
    stderr after it is restored. Once Keras is imported, this does nothing.
    """
    if "keras" in sys.modules:
        return
    # Read by TensorFlow when it loads, so set before; a value the user set is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_silenced():
        import keras  # noqa: F401  (and with it the backend's framework)


def set_random_seed(seed: int) -> None:
    """`keras.utils.set_random_seed`, quietly: it seeds TensorFlow too wherever TensorFlow is
    installed, and so imports it on every backend, JAX's included, whose runs would
    otherwise print TensorFlow's start-up lines in the middle of a study."""
    import keras

    if "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_silenced():
        keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def stderr_silenced():
    """File descriptor 2 pointed at /dev/null for the block (Python's own errors are raised,
    not printed, inside it, and reach stderr once it is restored)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
