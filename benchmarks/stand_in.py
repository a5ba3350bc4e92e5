"""The scale benchmark's stand-in for training: a fixed sleep and a history shaped like a run's.

Named in KERASNN_STAND_IN (studies/engine/runs.py) by benchmarks/scale.py only, it replaces
the network's training and nothing else: every other step of a study (settings, storage,
ask and tell, reaping, plans, heartbeats, the records on each trial, artifacts) is the real
code. It imports neither TensorFlow nor JAX itself and computes no network: the engine's
Keras runs on its JAX backend here only to build the networks whose weights the artifacts
and the winner's test evaluation read, so that many worker processes fit a small machine.

In each process it also times the engine's steps (`Steps`) and writes, when the process
ends, what it measured and a record of every run it trained, which the benchmark checks
the storage against (no run lost, duplicated or wrongly retried).
"""

from __future__ import annotations

import atexit
import functools
import gc
import json
import os
import resource
import threading
import time
import zlib
from pathlib import Path

import numpy as np

# Set by benchmarks/scale.py: the folder each process writes its measures into, and the
# seconds one full run sleeps (spread over its epochs, so a pruned run sleeps less).
LOG_VARIABLE = "KERASNN_STAND_IN_LOG"
SECONDS_VARIABLE = "KERASNN_STAND_IN_SECONDS"


class Steps:
    """Wall and CPU seconds per engine step in this process, each step's own: time spent in
    a step called from another (a user attribute written while telling) is the inner one's."""

    def __init__(self):
        self.totals: dict[str, list[float]] = {}
        self.local = threading.local()
        self.lock = threading.Lock()

    def wrap(self, owner, name: str, step: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            stack = self.local.__dict__.setdefault("stack", [])
            stack.append([0.0, 0.0])  # Wall and CPU of the steps called from this one.
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
                inner = stack.pop()
                if stack:
                    stack[-1][0] += wall
                    stack[-1][1] += cpu
                self.add(step, wall - inner[0], cpu - inner[1])

        setattr(owner, name, timed)

    def add(self, step: str, wall: float, cpu: float) -> None:
        with self.lock:
            calls, walls, cpus = self.totals.get(step, [0, 0.0, 0.0])
            self.totals[step] = [calls + 1, walls + wall, cpus + cpu]


STEPS = Steps()
_STATE = {"installed": False, "trained": [], "sleep": 0.0, "stand_in_cpu": 0.0}


def _install() -> None:
    """Times the engine's steps from now on, and writes the measures when the process ends."""
    import optuna
    from optuna.storages import RDBStorage

    from studies.engine import dead, planned, plans, runs, search, workers

    _STATE.update(installed=True, cpu_at_start=_cpu(), wall_at_start=time.time())
    for owner, name, step in [
        (optuna.Study, "ask", "ask"),
        (optuna.trial.Trial, "_suggest", "sampling"),
        (optuna.Study, "tell", "tell"),
        (dead, "fail_dead_trials", "reaping"),
        (search, "refuse_surplus", "trial checks"),
        (search, "refuse_duplicate", "trial checks"),
        (planned, "_refuse_repeat", "trial checks"),
        (workers, "count", "counting trials"),
        (search, "trial_states", "counting trials"),
        (planned, "standing", "plan reads"),
        (plans, "load_companion", "plan reads"),
        (plans, "recorded_plan", "plan reads"),
        (optuna.trial.Trial, "set_user_attr", "user attributes"),
        (optuna.trial.Trial, "report", "pruning reports"),
        (optuna.trial.Trial, "should_prune", "pruning reports"),
        (optuna.Study, "set_user_attr", "working_on and study attributes"),
        (RDBStorage, "record_heartbeat", "heartbeats"),
        (runs, "upload", "artifacts"),
        (gc, "collect", "garbage collection"),
    ]:
        STEPS.wrap(owner, name, step)
    atexit.register(_write)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train(trial, model_config, train_config, dataset, callbacks=(), test=False):
    """Sleeps for the run and returns a `TrainResult` with a seeded history, reporting each
    epoch to the callbacks as training does (so the pruner judges it as a real run)."""
    from kerasnn import build_model
    from kerasnn.training import TrainResult

    if not _STATE["installed"]:
        _install()
    cpu = time.thread_time()
    record = {"study": trial.study.study_name, "number": trial.number, "seed": train_config.seed}
    record["params"] = trial.params
    history = _history(trial.params, train_config.seed, train_config.epochs)
    seconds = float(os.environ.get(SECONDS_VARIABLE, "1")) / train_config.epochs
    for callback in callbacks:
        callback.set_params({"epochs": train_config.epochs})
    try:
        for epoch in range(train_config.epochs):
            _sleep(seconds)
            logs = {key: values[epoch] for key, values in history.items()}
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
    except BaseException:
        record["outcome"] = "pruned"
        _STATE["trained"].append(record)
        _STATE["stand_in_cpu"] += time.thread_time() - cpu
        raise
    record["outcome"] = "complete"
    _STATE["trained"].append(record)
    best = int(np.argmax(history["val_accuracy"]))
    result = TrainResult(
        history=history,
        best_epoch=best + 1,
        train_accuracy=history["train_accuracy"][best],
        train_loss=history["train_loss"][best],
        val_accuracy=history["val_accuracy"][best],
        val_loss=history["val_loss"][best],
        test_accuracy=float("nan"),
        test_loss=float("nan"),
        diverged=False,
        divergence_reason="",
        model=build_model(model_config),
    )
    _STATE["stand_in_cpu"] += time.thread_time() - cpu
    return result


def _sleep(seconds: float) -> None:
    started = time.perf_counter()
    time.sleep(seconds)
    _STATE["sleep"] += time.perf_counter() - started


def _history(params: dict, seed: int, epochs: int) -> dict[str, list[float]]:
    """Learning curves of `epochs` epochs from a distribution seeded by the configuration and
    seed: rising accuracies that level off, a training accuracy above the validation one."""
    key = zlib.crc32(json.dumps([sorted(params.items()), seed], default=str).encode())
    rng = np.random.default_rng(key)
    ceiling, speed = rng.uniform(0.84, 0.92), rng.uniform(0.2, 0.6)
    steps = 1 - np.exp(-speed * np.arange(1, epochs + 1))
    val_accuracy = ceiling * steps + rng.normal(0, 0.003, epochs)
    train_accuracy = val_accuracy + rng.uniform(0.0, 0.05) * steps
    curves = {
        "accuracy": train_accuracy - 0.01,
        "train_accuracy": train_accuracy,
        "val_accuracy": val_accuracy,
        "loss": 1.5 * (1 - train_accuracy),
        "train_loss": 1.4 * (1 - train_accuracy),
        "val_loss": 1.6 * (1 - val_accuracy),
    }
    history = {key: [float(v) for v in values] for key, values in curves.items()}
    seconds = float(os.environ.get(SECONDS_VARIABLE, "1")) / epochs
    history["seconds"] = [seconds] * epochs
    return history


def _write() -> None:
    folder = Path(os.environ[LOG_VARIABLE])
    folder.mkdir(parents=True, exist_ok=True)
    measures = {
        "pid": os.getpid(),
        "steps": STEPS.totals,
        "trained": _STATE["trained"],
        "sleep": _STATE["sleep"],
        "stand_in_cpu": _STATE["stand_in_cpu"],
        "cpu": _cpu() - _STATE["cpu_at_start"],
        "wall": time.time() - _STATE["wall_at_start"],
        "start_up_cpu": _STATE["cpu_at_start"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    (folder / f"process-{os.getpid()}.json").write_text(json.dumps(measures))
