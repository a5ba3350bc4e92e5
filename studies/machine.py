"""The machine a study runs on, settled once while its settings are built: the Keras
backend, then K (`--population`, how many runs train together), then the precision.

Each is decided from the ones before it, so every check sees the values the run will use.
Nothing here imports TensorFlow; JAX is imported only to ask whether it sees an
accelerator, when K is left to the machine on the JAX backend.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from studies.errors import UsageError

# The backends Keras 3 knows; another name in KERAS_BACKEND fails Keras' import.
KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")

# The population size where it pays: on a GPU, where one network at a time leaves it idle.
# Not measured on a GPU by this project yet (see docs/studies.md, "Studies as populations").
DEFAULT_GPU_POPULATION = 8


def backend() -> str:
    """The Keras backend this process runs: Keras' own once imported, else KERAS_BACKEND's
    (Keras' default, TensorFlow, when unset); a name Keras does not know is a usage error."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return keras.backend.backend()
    named = os.environ.get("KERAS_BACKEND", "tensorflow")
    if named not in KERAS_BACKENDS:
        raise UsageError(
            f"KERAS_BACKEND={named!r} is not a Keras backend; kerasnn trains on 'tensorflow' "
            "(the default) or 'jax'"
        )
    return named


def population(asked: int | None) -> int:
    """K, settled before Keras is imported.

    A population trains on Keras' JAX backend: asked for (K > 1), it selects that backend
    unless KERAS_BACKEND (or Keras, already imported) names another, which is a usage
    error, as is JAX missing. Left to the machine (None), it is DEFAULT_GPU_POPULATION where
    the backend is JAX and JAX sees an accelerator, and 1 (one run at a time) elsewhere.
    """
    use_compilation_cache()
    backend()  # A backend Keras does not know is refused first, whatever K.
    if asked is None:
        on_accelerator = backend() == "jax" and _jax_sees_an_accelerator()
        return DEFAULT_GPU_POPULATION if on_accelerator else 1
    if asked > 1:
        running = backend() if "keras" in sys.modules else os.environ.get("KERAS_BACKEND", "jax")
        if running != "jax":
            raise UsageError(
                f"--population {asked} trains on Keras' JAX backend, but this process runs "
                f"{running!r}; set KERAS_BACKEND=jax (or use --population 1)"
            )
        if importlib.util.find_spec("jax") is None:
            raise UsageError("--population needs JAX: pip install -e '.[jax]'")
        shapes = os.environ.get("KERASNN_FIXED_SHAPES", "")
        if shapes not in ("", "0", "1"):
            raise UsageError(f"KERASNN_FIXED_SHAPES must be 1, 0 or unset, got {shapes!r}")
        os.environ["KERAS_BACKEND"] = "jax"
    return asked


def use_compilation_cache() -> None:
    """Points JAX's persistent compilation cache at kerasnn's folder of the user's cache
    ($XDG_CACHE_HOME, else ~/.cache), unless JAX_COMPILATION_CACHE_DIR names one already.

    A population's programs take seconds each to compile (the dominant cost of a study on a
    GPU); with the cache, a later study (or worker) of the same shapes loads them instead.
    Set before JAX is imported, which reads it then; JAX_ENABLE_COMPILATION_CACHE=false
    turns the cache off.
    """
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(base, "kerasnn", "jax")
    # JAX keeps only programs that took a second or more to compile; a study's smaller ones
    # (selecting the best weights, a test pass) would be compiled again by every run.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def _jax_sees_an_accelerator() -> bool:
    try:
        import jax

        return any(device.platform != "cpu" for device in jax.devices())
    except Exception:  # No JAX, or no usable device: one run at a time.
        return False
