"""What a measurement ran on: the processor's name and bfloat16 support, read for every report."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def processor() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else what Python knows of it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bfloat16() -> str:
    """Whether the processor computes bfloat16 natively, as a machine line states it."""
    from kerasnn.precision import NATIVE_BFLOAT16_FLAGS, native_bfloat16

    if native_bfloat16():
        return "native (" + " or ".join(NATIVE_BFLOAT16_FLAGS) + " in the CPU flags)"
    return "not native (emulated in float32)"


def backend() -> tuple[list[str], str]:
    """The accelerators the Keras backend sees, and its framework's name and version.

    Only the backend in use is imported: a JAX machine need not have TensorFlow.
    """
    import keras

    if keras.backend.backend() == "jax":
        import jax

        devices = [device.device_kind for device in jax.devices() if device.platform != "cpu"]
        return devices, f"JAX {jax.__version__}"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return [gpu.name for gpu in gpus], f"TensorFlow {tf.__version__}"


# The libraries whose versions decide a study's digits, by their distribution names.
LIBRARIES = {
    "TensorFlow": "tensorflow",
    "Keras": "keras",
    "JAX": "jax",
    "Optuna": "optuna",
    "NumPy": "numpy",
}


def versions() -> dict[str, str]:
    """Python's version and each library's installed one ("not installed" when absent), read
    from the installed packages' metadata: nothing is imported."""
    from importlib import metadata

    found = {"Python": platform.python_version()}
    for name, distribution in LIBRARIES.items():
        try:
            found[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def description() -> dict:
    """This machine as a study records it: processor, bfloat16 support, cores and versions."""
    return {
        "processor": processor(),
        "bfloat16": bfloat16(),
        "cores": os.cpu_count(),
        "versions": versions(),
    }


def lines(machine: dict) -> list[str]:
    """The summary's lines naming a machine `description` recorded."""
    named = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    return [
        f"- machine: {machine['processor']} ({machine['cores']} cores; bfloat16 "
        f"{machine['bfloat16']})",
        f"- versions: {named}",
    ]
