"""What a measurement ran on: the processor's name, read once for every report."""

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
