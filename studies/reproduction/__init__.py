"""The seed reproduction: reports/REPRODUCTION.md and reports/reproduction/*.png from storage.

The data flows top to bottom: `runs` reads the stored reproduce studies back as plain
values; each `original_00N` module turns the runs of one original course report (a seed report) into a section of tables, sentences
and figures to draw, with verdicts from `verdicts`; `render` writes them out. Every number
of ours comes from the storage; the seeds' own numbers are constants of their modules.

The reproduce studies default to no pruning (`"pruner": "none"` in their DEFAULTS): a
reproduction measures every grid point to its last epoch, since the seeds' worst settings
are results too and a median pruner would cut exactly those short.
"""

from __future__ import annotations

import os
from pathlib import Path

from studies import overfitting
from studies.engine import effects
from studies.reproduction import (
    original_000,
    original_001,
    original_002,
    original_003,
    original_004,
    render,
)
from studies.reproduction.runs import load_runs, provenance
from studies.settings import default_study_name, study_defaults

ORIGINALS = (original_000, original_001, original_002, original_003, original_004)


def write_reproduction(storage_url: str, reports: str | os.PathLike = "reports") -> Path:
    """Builds reports/REPRODUCTION.md and reports/reproduction/*.png from the storage.

    Seeds without a stored study get a "not run yet" section, so the file can be built
    after any subset of the reproduce studies.
    """
    from studies.storage import open_for_reading

    reports = Path(reports)
    storage = open_for_reading(storage_url)
    artifact_dir = reports / "artifacts"

    def runs_of(module, dataset=None):
        default = module.study.DEFAULTS["dataset"]
        return load_runs(storage, f"reproduce-{module.NUMBER}", default, dataset, artifact_dir)

    runs = {module.NUMBER: runs_of(module) for module in ORIGINALS}
    tuned = tuned_effects(storage)
    # Seed 003 on MNIST too, when `reproduce-003 --dataset mnist` has been run.
    mnist_003 = runs_of(original_003, "mnist")
    sections = [
        original_000.section(runs["000"]),
        original_001.section(runs["001"]),
        original_002.section(runs["002"]),
        original_003.section(runs["003"], mnist=mnist_003, tuned=tuned),
        original_004.section(runs["004"]),
    ]
    return render.write(sections, provenance([*runs.values(), mnist_003]), reports)


def tuned_effects(storage):
    """The default study's effects around its tuned winner, or None where not run."""
    defaults = study_defaults(overfitting)
    return effects.stored(storage, default_study_name(defaults, defaults), overfitting)
