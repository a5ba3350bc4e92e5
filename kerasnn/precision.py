"""The arithmetic a network trains in: float32, or bfloat16 products with float32 weights.

Importable without TensorFlow: it names the precisions, their Keras dtype policies, and
whether this CPU computes bfloat16 natively.
"""

from __future__ import annotations

import platform
from pathlib import Path

PRECISIONS = ("float32", "bfloat16")

# Keras' own policy for each precision. "mixed_bfloat16" computes the hidden layers' products
# and activations in bfloat16 while their weights, the optimizer's state and updates stay
# float32; `kerasnn.models.build_model` keeps the output layer (10 units, the softmax and the
# loss after it) in float32, as Keras' mixed-precision guide advises.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}

# The flags Linux lists for a CPU with bfloat16 instructions: AVX-512 BF16 (AMD Zen 4 and
# later, Intel Cooper Lake and later) and AMX (Intel Sapphire Rapids and later).
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bfloat16 products natively (Linux's CPU flags; False elsewhere).

    Without these instructions bfloat16 is emulated: every product converts to float32 and
    back, and trains slower than float32.
    """
    if platform.system() != "Linux":
        return False
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return any(flag in flags for flag in NATIVE_BFLOAT16_FLAGS)
    return False


def check_precision(precision) -> None:
    """Raises ValueError unless `precision` is one of `PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
