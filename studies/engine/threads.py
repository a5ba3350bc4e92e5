"""How many threads a training process computes with: set before its framework is imported.

Independent runs train faster as one single-threaded process per core than one after
another on every core, because a small network's products leave most threads waiting at
the batch sizes a study mostly trains. The thread count changes the order of
floating-point sums, so each run records the count it trained with (`threads`): a rerun
with the same count on the same machine gives every digit, one with another count agrees
within floating-point noise (docs/workers.md).
"""

from __future__ import annotations

import os

# Read by TensorFlow when it starts (its intra-op and inter-op pools) and by OpenMP.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
# XLA's CPU code (JAX, and TensorFlow's compiled path) runs its products on one thread with
# this; it has no flag for another fixed count, so with more threads it keeps its own pool.
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def cores() -> int:
    """The cores this process may run on (its affinity, which a container may narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not Linux.
        return os.cpu_count() or 1


def share(processes: int) -> int:
    """The threads of each of `processes` processes, so that together they use every core."""
    return max(1, cores() // max(1, processes))


def environment(threads: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (the process's environment by default) with every framework held to `threads`."""
    changed = dict(os.environ if base is None else base)
    for name in THREAD_VARIABLES:
        changed[name] = str(threads)
    if threads == 1:
        flags = changed.get("XLA_FLAGS", "")
        if XLA_ONE_THREAD not in flags:
            changed["XLA_FLAGS"] = f"{flags} {XLA_ONE_THREAD}".strip()
    return changed


def configured() -> int:
    """The threads this process trains with: what its environment set, else every core."""
    value = os.environ.get(THREAD_VARIABLES[0], "")
    return int(value) if value.isdigit() and int(value) > 0 else cores()
