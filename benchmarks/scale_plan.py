"""What the scale benchmark grows: each case a storage, a worker count, sizes, a run's seconds
and a sampler.

The full plan is a list of cases rather than a cross product: one target case (the study
the project sizes its bookkeeping for) and a sweep of worker counts at a small size on every
storage. Given any of --sizes, --workers, --storages, --seconds or --sampler, the run is the
cross product of what is given, the rest taken from the target case (or from the quick
form's, with --quick).
"""

from __future__ import annotations

import argparse
import dataclasses

STORAGES = ("sqlite", "journal", "postgresql")
SAMPLERS = ("tpe", "random")
OPTIONS = ("sizes", "workers", "storages", "seconds", "sampler", "measured")
# Why a case samples as it does, said in the section beside the figures.
WHY_SAMPLER = {
    "random": "random sampling costs the same at any size, so the figures are kerasnn's "
    "bookkeeping rather than Optuna's sampler, whose cost TPE's row of the sampling table "
    "below gives on its own (at thousands of trials it alone would outlast each run)",
    "tpe": "TPE, the sampler a study runs unless told otherwise; its own sampling, which "
    "grows with the study (the sampling table below), is in the figures",
}


@dataclasses.dataclass(frozen=True)
class Case:
    storage: str
    workers: int
    sizes: tuple[int, ...]  # The study grows through these, each a continuation of the last.
    seconds: float  # What the stand-in sleeps a run.
    sampler: str
    part: str  # Which part of the plan the case is: "target", "worker sweep", "quick", "custom".
    # Trials trained for real at the end of each size; the ones before them are inserted as
    # copies of trained ones (None: every trial is trained).
    measured: int | None = None


# A study of 10,000 trials on PostgreSQL with 32 workers, the size and shape the project
# promises to carry. Random sampling: TPE's own sampling at this size outlasts a run many
# times over (the section's sampler table), so it would measure Optuna, not kerasnn. The last
# 250 trials of each size are trained by the engine and measured; the study is brought up to
# them with copies of trained trials, since training 10,000 (each costing a fraction of a
# second of bookkeeping CPU, Optuna's pruning reports included) would take hours on 2 cores.
# 16 workers, not 32: each process holds its own cache of the whole study on top of its
# framework, and 32 such processes at 10,000 trials outgrow a 24 GiB machine (the kernel
# kills some); 32 workers are measured by the sweep below, at a size whose cache is small.
TARGET = Case("postgresql", 16, (1000, 3000, 10000), 1.0, "random", "target", measured=250)
# Where the cost per trial climbs with the workers, on each storage: one short segment each.
SWEEP_WORKERS = {"sqlite": (4, 16, 32), "journal": (4, 16, 32), "postgresql": (1, 4, 16, 32)}
SWEEP_SIZE, SWEEP_SECONDS = 200, 0.5
# A check that the benchmark works: one segment, so each process starts once. TPE, the
# studies' default, is cheap at this size and is the sampler a study runs unless told.
QUICK = Case("sqlite", 4, (100,), 1.0, "tpe", "quick")
QUICK_STORAGES = ("sqlite", "journal")


def full_plan() -> list[Case]:
    sweep = [
        Case(storage, workers, (SWEEP_SIZE,), SWEEP_SECONDS, "random", "worker sweep")
        for storage in STORAGES
        for workers in SWEEP_WORKERS[storage]
    ]
    return [TARGET, *sweep]


def plan(args: argparse.Namespace) -> list[Case]:
    """The cases a command line asks for: the full plan, or the cross product of the options
    given (with --quick, the quick form's defaults fill the others)."""
    given = {key: getattr(args, key) for key in OPTIONS if getattr(args, key) is not None}
    if not args.quick and not given:
        return full_plan()
    base, storages = (QUICK, QUICK_STORAGES) if args.quick else (TARGET, (TARGET.storage,))
    sizes = tuple(sorted(set(given.get("sizes", base.sizes))))
    return [
        Case(
            storage,
            workers,
            sizes,
            given.get("seconds", base.seconds),
            given.get("sampler", base.sampler),
            "quick" if args.quick else "custom",
            given.get("measured", base.measured),
        )
        for storage in given.get("storages", storages)
        for workers in given.get("workers", [base.workers])
    ]
