"""Markdown tables and figures: the one writer every report and benchmark uses."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import pandas as pd


def cell(value) -> str:
    """One cell's text: a pipe escaped, a line break as a space, so the table stays whole."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def inline(text: str) -> str:
    """Text from outside (a study name) fit for one line of markdown: its line breaks and
    control characters escaped, so it cannot start headings or blocks of its own."""
    from studies.engine.progress import escaped

    return escaped(str(text))


def code_block(lines: Sequence[str]) -> list[str]:
    """`lines` as a fenced code block, its fence longer than any run of backticks in them
    (CommonMark's rule), so no line of theirs can close it."""
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *lines, fence]


def table(header: Sequence[str], rows: Iterable[Sequence], align: Sequence[str] = ()) -> str:
    """A markdown table; `align` gives each column's rule ("---", "---:", ...)."""
    rules = list(align) or ["---"] * len(header)
    lines = [_row(header), "|" + "|".join(rules) + "|"]
    lines += [_row(row) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence) -> str:
    return "| " + " | ".join(cell(value) for value in cells) + " |"


def frame_table(frame: pd.DataFrame) -> str:
    """A data frame as a markdown table: floats to 4 significant digits, missing as blank."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(
                lambda value: "" if pd.isna(value) else f"{value:.4g}"
            )
    shown = shown.astype(object).where(shown.notna(), "")
    return table(list(shown.columns), shown.values.tolist())


def figure(name: str, caption: str) -> str:
    """A figure of the report's folder, shown where the markdown is read (a code host, an
    editor), with its caption as the text a reader without images gets."""
    return f"![{cell(caption)}]({name})"
