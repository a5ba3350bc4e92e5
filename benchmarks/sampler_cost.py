"""Optuna's own sampling cost as a study grows, measured in memory with kerasnn's search space.

A study of the `overfitting` search space is filled, in memory, with finished trials drawn at
random (their values from a seeded distribution); at each size a few trials are then asked
and suggested with each sampler as `studies.engine.study.make_sampler` builds it from the
study's default settings. What is timed is Optuna's ask and the study's `suggest`, nothing of
kerasnn's bookkeeping and no storage: the sampler's own time per trial at that size.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import statistics
import time
import warnings

SAMPLERS = ("tpe", "random", "qmc")
ASKS = 5  # Timed asks per sampler and size; their median is reported.
STUDY = "overfitting"


def measure(sizes: list[int], asks: int = ASKS) -> list[dict]:
    """Milliseconds per ask and suggest of each sampler, at each size (sizes ascending)."""
    import numpy as np
    import optuna

    from kerasnn import TrainConfig
    from studies.run import STUDIES
    from studies.settings import study_defaults

    optuna.logging.set_verbosity(logging.WARNING)
    # TPE's `group` and QMC are marked experimental; the studies build them so all the same.
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    module = STUDIES[STUDY]
    settings = dataclasses.replace(study_defaults(module), study=STUDY)
    base = TrainConfig(epochs=settings.epochs, seed=settings.seed)
    study = optuna.create_study(directions=settings.directions)
    values = np.random.default_rng(settings.seed)
    rows, finished = [], 0
    for size in sorted(set(sizes)):
        fill(study, module, base, size - finished, values)
        finished = size
        row = {"size": size}
        for name in SAMPLERS:
            sampler = sampler_for(dataclasses.replace(settings, sampler=name), module, size)
            row[name] = timed_asks(study, sampler, module, base, asks)
        rows.append(row)
    return rows


def sampler_for(settings, module, size: int):
    from studies.engine.study import make_sampler

    return make_sampler(settings, getattr(module, "SEARCH_SPACE", None), size)


def fill(study, module, base, count: int, values) -> None:
    """Adds `count` finished trials drawn at random, each with a value near a run's."""
    import optuna

    study.sampler = optuna.samplers.RandomSampler(seed=len(study.trials))
    for _ in range(count):
        trial = study.ask()
        module.suggest(trial, base)
        study.tell(trial, float(values.normal(0.85, 0.03)))


def timed_asks(study, sampler, module, base, asks: int) -> float:
    """The median milliseconds of `asks` ask-and-suggest calls, after one untimed call that
    warms the sampler's caches (a worker builds its sampler once and asks many times). Each
    asked trial is told FAIL, which no sampler learns from, so the study keeps its size."""
    from optuna.trial import TrialState

    study.sampler = sampler
    seconds = []
    for _ in range(asks + 1):
        started = time.perf_counter()
        trial = study.ask()
        module.suggest(trial, base)
        seconds.append(time.perf_counter() - started)
        study.tell(trial, state=TrialState.FAIL)
    return 1000 * statistics.median(seconds[1:])


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| finished trials | " + " | ".join(f"{name} ms per trial" for name in SAMPLERS) + " |",
        "|---|" + "---|" * len(SAMPLERS),
    ]
    for row in rows:
        cells = [f"{row[name]:.1f}" for name in SAMPLERS]
        lines.append(f"| {row['size']:,} | " + " | ".join(cells) + " |")
    return lines


def verdict(rows: list[dict], seconds: float, workers: int, cores: int | None = None) -> str:
    """What the figures mean for a study whose runs take `seconds` on `workers` workers: from
    which size TPE's sampling of one trial outlasts a run, and from which it needs more CPU
    than the cores have (each worker samples a trial per run)."""
    cores = cores or os.cpu_count() or 1
    last = rows[-1]
    longer = next((row["size"] for row in rows if row["tpe"] / 1000 > seconds), None)
    busy = next((r["size"] for r in rows if r["tpe"] / 1000 * workers / seconds > cores), None)
    words = [
        f"TPE's sampling of one trial outlasts a {seconds:g} s run from {longer:,} finished "
        "trials on"
        if longer
        else f"TPE's sampling of one trial stays shorter than a {seconds:g} s run at every "
        f"size measured (up to {last['size']:,} trials)",
        f"with {workers} workers each sampling a trial per run, it needs more CPU than the "
        f"{cores} cores have from {busy:,} trials on"
        if busy
        else f"with {workers} workers it stays within the {cores} cores at every size measured",
        f"at {last['size']:,} trials it takes {last['tpe']:.1f} ms a trial, random "
        f"{last['random']:.1f} ms and qmc {last['qmc']:.1f} ms",
    ]
    return "; ".join(words) + "."
