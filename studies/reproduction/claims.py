"""What a seed module returns and the renderer reads: plain values, no markdown.

A seed's section is a list of blocks in reading order: headings, sentences (whose numbers
are values, filled into the text by the renderer), tables of numbers and verdicts, and the
figures to draw with their data.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType

MISSING = "—"  # Stands for a number that is not there: not run, diverged or undefined.
NOT_RUN = "The experiments have not been run yet."


@dataclasses.dataclass(frozen=True)
class Heading:
    text: str


@dataclasses.dataclass(frozen=True)
class Text:
    """Prose; `{name}` or `{name:.4f}` placeholders are filled from `values`."""

    template: str
    values: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Series:
    """Several numbers in one sentence: "{norms:.2f}" of Series((6.664, 5.833), " > ") reads
    "6.66 > 5.83"."""

    values: tuple
    separator: str = ", "

    def __format__(self, spec: str) -> str:
        return self.separator.join(MISSING if v is None else format(v, spec) for v in self.values)


@dataclasses.dataclass(frozen=True)
class Table:
    """Rows of cells: numbers, Samples (mean ± sd over seeds), text, Text or None.

    `formats` holds one format spec per column (".4f", "+.4f", ".2f"; "" for text), applied
    to the numbers and Samples of that column. Where `counted`, the last column holds
    verdicts that count in the document's overview.
    """

    header: list[str]
    rows: list[list]
    formats: list[str]
    counted: bool = False


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure to draw into reports/reproduction/<name>: `kind` names the drawing
    ("overlaid", "curves", "trends", "weights", "strength"), `data` its input."""

    kind: str
    name: str
    data: dict
    title: str = ""
    caption: str = ""


@dataclasses.dataclass
class Section:
    """One seed report re-run: its prose, blocks and findings."""

    seed: str
    study: ModuleType  # The reproduce_00N study module; its docstring states the settings.
    datasets: list[str]
    did: str  # What the seed did.
    not_matched: str  # What could not be matched, and why.
    blocks: list = dataclasses.field(default_factory=list)
    findings: list[Text] = dataclasses.field(default_factory=list)
    command: str | None = None  # The stored command that ran this section's runs.
    data: list[str] = dataclasses.field(default_factory=list)  # What its runs trained on.

    def verdicts(self) -> list[str]:
        return [
            str(row[-1])
            for block in self.blocks
            if isinstance(block, Table) and block.counted
            for row in block.rows
        ]


def begin(seed: str, study: ModuleType, did: str, not_matched: str, runs) -> Section:
    """A seed's section with the command of its runs; it says NOT_RUN when there are none."""
    result = Section(seed, study, [study.DEFAULTS["dataset"]], did, not_matched)
    result.command = runs.command
    result.data = [runs.data] if runs.data else []
    if not runs.ran:
        result.blocks = [Text(NOT_RUN)]
    return result
