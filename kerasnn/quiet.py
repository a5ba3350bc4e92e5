"""Keras (and so TensorFlow) imported without TensorFlow's start-up lines on stderr."""

from __future__ import annotations

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
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401  (and with it the backend's framework)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
