"""What a measurement ran on: the processor's name and bfloat16 support, read for every report."""

from __future__ import annotations

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
