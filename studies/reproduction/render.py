"""Turns the seed sections (plain values) into REPRODUCTION.md and its figures."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

from studies.report import markdown
from studies.report.machine import backend, processor
from studies.reproduction import figures as drawing
from studies.reproduction.claims import MISSING, Figure, Heading, Section, Table, Text
from studies.reproduction.runs import LATE_EPOCHS, Provenance
from studies.reproduction.verdicts import (
    ACCURACY_TOLERANCE,
    FLAT,
    MIN_SEEDS,
)

FIGURES = "reproduction"  # The figures' folder, under the reports folder.

INTRO = (
    "Each section re-runs one seed report's experiments with the committed code and sets our "
    "number next to the seed's. Built by `python -m studies.run reproduce` (all seeds) or "
    "`python -m studies.run reproduce-00N` (one seed); `python -m studies.run reproduce "
    "--report-only` rebuilds this file and reports/reproduction/ from the storage without "
    "training. Every number of ours is read from the stored runs when this file is built."
)
DATA = (
    "- Data: 10,000 validation images are split off each training set (stratified, always "
    "with seed 0), leaving 50,000 for training; the test set is evaluated once per run, with "
    "the weights of its best validation epoch, and never used to choose. **Fashion-MNIST's "
    "train/test split here is re-made** (same 70,000 images, a different random 10,000 test "
    "images; see the data README), so Fashion-MNIST numbers are statistically comparable "
    "with published ones, not identical."
)
MEASURES = (
    "- Measures: 'best' figures are at the epoch of highest validation accuracy; training "
    "accuracy is measured in inference mode on the whole training set (no dropout), which is "
    "higher than the running average during an epoch that course code often reports. "
    "Overfitting is the training-minus-validation accuracy gap averaged over the last "
    "{late} epochs."
)
SEEDS = (
    "- Seeds: {seeds} (weights, dropout masks and shuffling). Configurations whose comparisons "
    "are closer than twice the run-to-run noise ran with {minimum} seeds and show mean ± "
    "standard deviation over seeds; the others ran once, with the first seed."
)
VERDICTS = (
    "- Verdicts: *reproduced* = within {tolerance} accuracy (or the tolerance a table names), "
    "or the claim holds in our runs; *same trend* = not within tolerance but moving "
    "the same way as the seed from the previous row of the sweep, or the claim holds in part; "
    "*differs* = neither; *tied* = two configurations run with {minimum} seeds each that "
    "Welch's t-test does not tell apart at 95% (the project's one rule for a tie, also used "
    "by the confirmation and the effects), so neither is ahead; between configurations run "
    "once, and along a single-seed sweep, differences under {flat:.1f} points count as tied "
    "(flat)."
)


def write(sections: list[Section], provenance: Provenance, reports: Path) -> Path:
    """Draws every section's figures and writes reports/REPRODUCTION.md."""
    folder = reports / FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    document = header(provenance) + overview(sections)
    for section in sections:
        document += render_section(section, folder)
    path = reports / "REPRODUCTION.md"
    path.write_text("\n".join(document).replace("\n\n\n", "\n\n"))
    return path


def header(provenance: Provenance) -> list[str]:
    return [
        "# Reproducing the seed reports with kerasnn",
        "",
        INTRO,
        "",
        _machine(provenance),
        _versions(),
        SEEDS.format(seeds=_listed(provenance.seeds), minimum=MIN_SEEDS),
        _runs_line(provenance),
        DATA,
        MEASURES.format(late=LATE_EPOCHS),
        VERDICTS.format(tolerance=ACCURACY_TOLERANCE, minimum=MIN_SEEDS, flat=100 * FLAT),
        "",
    ]


def _machine(provenance: Provenance) -> str:
    cpu = processor()
    return (
        f"- Machine: {platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores "
        f"visible; trials ran on host(s) {_listed(provenance.hosts)}."
    )


def _versions() -> str:
    import keras
    import numpy as np
    import optuna

    framework = backend()[1]
    return (
        f"- Versions: Python {sys.version.split()[0]}, {framework}, Keras "
        f"{keras.__version__}, Optuna {optuna.__version__}, NumPy {np.__version__}."
    )


def _runs_line(provenance: Provenance) -> str:
    window = MISSING
    if provenance.first:
        window = f"{provenance.first:%Y-%m-%d %H:%M} to {provenance.last:%Y-%m-%d %H:%M}"
    return (
        f"- Runs: {provenance.trials} trials, {provenance.seconds / 60:.0f} minutes of "
        f"training, finished {window}. Report built {datetime.datetime.now():%Y-%m-%d %H:%M}. "
        f"Code: commit(s) {_listed(f'`{v}`' for v in provenance.versions)}; commands: "
        f"{_listed(f'`{c}`' for c in provenance.commands)}."
    )


def _listed(items) -> str:
    return ", ".join(str(item) for item in items) or MISSING


def overview(sections: list[Section]) -> list[str]:
    rows = []
    for section in sections:
        verdicts = section.verdicts()
        counts = {name: verdicts.count(name) for name in dict.fromkeys(verdicts)}
        summary = ", ".join(f"{n} {name}" for name, n in counts.items()) or "not run"
        rows.append([section.seed, ", ".join(section.datasets), summary])
    return ["## Overview", "", table(Table(["seed", "dataset", "verdicts"], rows, [""] * 3)), ""]


def render_section(section: Section, folder: Path) -> list[str]:
    lines = [f"## Seed {section.seed}", "", section.did, ""]
    lines += ["**Settings we used.** " + settings_text(section.study), ""]
    if section.data:
        lines += ["**Data.** " + "; and ".join(section.data), ""]
    lines += [section.not_matched, ""]
    for block in section.blocks:
        lines += render_block(block, folder)
    regenerate = f"**Regenerate:** `python -m studies.run reproduce-{section.seed}`"
    if section.command:
        regenerate += f" (this section's runs: `{section.command}`)"
    lines += [regenerate, ""]
    if section.findings:
        findings = " ".join(text(finding) for finding in section.findings)
        lines += ["**What the evidence says.** " + findings, ""]
    return lines


def render_block(block, folder: Path) -> list[str]:
    if isinstance(block, Heading):
        return [f"### {block.text}", ""]
    if isinstance(block, Text):
        return [text(block), ""]
    if isinstance(block, Table):
        return [table(block), ""]
    if isinstance(block, Figure):
        if not drawing.draw(block, folder):
            return []
        return [f"![{block.caption}]({FIGURES}/{block.name})", ""]
    raise TypeError(f"unknown block {block!r}")


class _Missing:
    """Stands in for a missing number in a sentence, whatever its format."""

    def __format__(self, spec: str) -> str:
        return MISSING


def text(block: Text) -> str:
    values = {key: _Missing() if value is None else value for key, value in block.values.items()}
    return block.template.format(**values)


def table(block: Table) -> str:
    rows = [
        [cell_text(cell, spec) for cell, spec in zip(row, block.formats, strict=True)]
        for row in block.rows
    ]
    return markdown.table(block.header, rows)


def cell_text(cell, spec: str) -> str:
    if cell is None:
        return MISSING
    if isinstance(cell, Text):
        return text(cell)
    if isinstance(cell, str):
        return cell
    if isinstance(cell, float) and cell != cell:  # NaN
        return MISSING
    return format(cell, spec)


def settings_text(module) -> str:
    """The study module's docstring, less its first line: conversions and the three kinds of
    hyperparameters, as the module states them."""
    paragraphs = (module.__doc__ or "").strip().split("\n\n")[1:]
    text_ = [" ".join(paragraphs[0].split())] if paragraphs else []
    return "\n\n".join(text_ + paragraphs[1:])
